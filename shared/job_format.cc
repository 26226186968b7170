#include "shared/job_format.h"

#include <string>

#include "shared/job_draft.h"

namespace drover {
namespace {

constexpr std::string_view kFormatsRead =
    "Drover reads JSON or MessagePack job files (docs/jobs.md)";

// How much of the first line is looked at to tell text from binary; a line
// of text this long without a control character is text.
constexpr size_t kTextSample = 256;

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool IsKeyStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

bool IsKeyChar(char c) { return IsKeyStart(c) || (c >= '0' && c <= '9') || c == '-' || c == '.'; }

// The YAML a job file would be written in starts with a comment, a document
// marker or directive, a list item, or a `key:` line. (A double-quoted key
// is the inside of a JSON object as much as YAML, and is left to the
// plain-text answer, which says that JSON starts with "{".)
bool LooksLikeYaml(std::string_view line) {
  if (line.starts_with('#') || line.starts_with("---") || line.starts_with("%YAML")) return true;
  if (line == "-" || line.starts_with("- ")) return true;
  size_t i = 0;
  if (line.starts_with('\'')) {
    i = line.find('\'', 1);
    if (i == std::string_view::npos) return false;
    ++i;
  } else if (!line.empty() && IsKeyStart(line[0])) {
    while (i < line.size() && IsKeyChar(line[i])) ++i;
  } else {
    return false;
  }
  while (i < line.size() && line[i] == ' ') ++i;
  return i < line.size() && line[i] == ':' &&
         (i + 1 == line.size() || line[i + 1] == ' ' || line[i + 1] == '\t');
}

// Text has no control characters but tab and carriage return in its lines.
// Bytes from 0x80 up are allowed: they are UTF-8 as often as not.
bool LooksLikeText(std::string_view line) {
  for (char c : line.substr(0, kTextSample)) {
    const auto b = static_cast<unsigned char>(c);
    if ((b < 0x20 && c != '\t' && c != '\r') || b == 0x7f) return false;
  }
  return true;
}

}  // namespace

Result<JobFormat> GuessJobFormat(std::string_view bytes) {
  if (bytes.starts_with("\xFF\xFE") || bytes.starts_with("\xFE\xFF")) {
    return Status::Error("looks like UTF-16 text; save it as UTF-8 (" + std::string(kFormatsRead) +
                         ")");
  }
  if (bytes.starts_with("\xEF\xBB\xBF")) bytes.remove_prefix(3);  // a UTF-8 byte order mark
  size_t first = 0;
  while (first < bytes.size() && IsBlank(bytes[first])) ++first;
  if (first == bytes.size()) return Status::Error("the job file is empty");
  const char c = bytes[first];
  if (c == '{' || c == '[') return JobFormat::kJson;
  // Every answer below is for a first byte under 0x7f, which no MessagePack
  // job file starts with: blank space before it is no exception, since in
  // MessagePack those bytes are small integers.
  if (static_cast<unsigned char>(c) >= 0x7f || c < 0x20) return JobFormat::kMsgpack;
  const std::string_view rest = bytes.substr(first);
  std::string_view line = rest.substr(0, rest.find('\n'));
  if (line.ends_with('\r')) line.remove_suffix(1);
  if (rest.starts_with("//") || rest.starts_with("/*")) {
    return Status::Error("JSON does not allow comments (line " +
                         std::to_string(JsonCommentLine(bytes, first + 1)) + ")");
  }
  if (!LooksLikeText(line)) return JobFormat::kMsgpack;
  if (line.starts_with("#!")) {
    return Status::Error("looks like a script (it starts with \"#!\"), not a job file; " +
                         std::string(kFormatsRead));
  }
  if (LooksLikeYaml(line)) return Status::Error("looks like YAML; " + std::string(kFormatsRead));
  return Status::Error("starts with " + Quote(line) +
                       " (text, but not JSON, which starts with \"{\"); " +
                       std::string(kFormatsRead));
}

size_t JsonCommentLine(std::string_view text, size_t end) {
  size_t line = 1;
  bool in_string = false;
  for (size_t i = 0; i < text.size() && i < end; ++i) {
    const char c = text[i];
    if (c == '\n') ++line;
    if (in_string) {
      if (c == '"') {
        in_string = false;
      } else if (c == '\\' && i + 1 < text.size()) {
        ++i;  // the escaped character, which may be a quote
        if (text[i] == '\n') ++line;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '/' && i + 1 < text.size() && (text[i + 1] == '/' || text[i + 1] == '*')) {
      return line;
    }
  }
  return 0;
}

}  // namespace drover
