// LoadJob and the helpers its passes share (shared/job_draft.h).

#include "shared/job_load.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <exception>

#include "shared/job_draft.h"
#include "shared/msgpack_scan.h"

namespace drover {
namespace {

// MoreProblemsLine's words around its count.
constexpr std::string_view kMoreBefore = "... and ";
constexpr std::string_view kMoreAfter = " more problem";

bool IsPlainKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// The length of the valid UTF-8 sequence at text[i], or 0 if there is none.
size_t Utf8SequenceLength(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t length;
  uint32_t min;
  uint32_t code;
  if ((c & 0xE0) == 0xC0) {
    length = 2, min = 0x80, code = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    length = 3, min = 0x800, code = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    length = 4, min = 0x10000, code = c & 0x07;
  } else {
    return 0;
  }
  if (text.size() - i < length) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    code = code << 6 | (byte(i + k) & 0x3F);
  }
  // Overlong forms, UTF-16 surrogates and values past Unicode are not UTF-8.
  if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
  return length;
}

// "steps[3].retries" becomes "steps[3] (id "train").retries" when the step
// at that position has a valid id: people know their steps by id, and a file
// with hundreds of them is not read by counting. A problem with the id
// itself (a duplicate) keeps its path, since its message shows the id.
// ("steps[" can only start the steps' paths: a key that is not a plain word,
// such as "steps[0]", is written in brackets.)
void NameStepsInPaths(const JobDraft& draft, std::vector<Problem>* problems) {
  constexpr std::string_view kSteps = "steps[";
  // The steps as written, when arrays were expanded.
  const bool expanded = !draft.file_steps.empty();
  const std::vector<StepDraft>& steps = expanded ? draft.file_steps : draft.steps;
  const auto id_of = [&](size_t i) -> const std::string& {
    return expanded ? draft.file_ids[i] : draft.job.steps[i].id;
  };
  for (Problem& p : *problems) {
    if (!p.path.starts_with(kSteps)) continue;
    const size_t close = p.path.find(']', kSteps.size());
    if (close == std::string::npos) continue;
    size_t index = 0;
    const char* digits = p.path.data() + kSteps.size();
    if (std::from_chars(digits, p.path.data() + close, index).ptr != p.path.data() + close ||
        index >= steps.size() || !steps[index].id_valid ||
        std::string_view(p.path).substr(close + 1) == ".id") {
      continue;
    }
    p.path.insert(close + 1, " (id " + Quote(id_of(index), kMaxIdLength) + ")");
  }
}

}  // namespace

const char* WhenName(When when) {
  switch (when) {
    case When::kSuccess:
      return "success";
    case When::kAlways:
      return "always";
    case When::kFailure:
      return "failure";
  }
  return "unknown";
}

std::string FormatProblem(const Problem& p) {
  if (p.path.empty()) return p.message;
  return p.path + ": " + p.message;
}

std::string MoreProblemsLine(size_t more) {
  return std::string(kMoreBefore) + std::to_string(more) + std::string(kMoreAfter) +
         (more == 1 ? "" : "s");
}

std::optional<size_t> ParseMoreProblemsLine(std::string_view line) {
  if (!line.starts_with(kMoreBefore)) return std::nullopt;
  line.remove_prefix(kMoreBefore.size());
  size_t more = 0;
  const auto [end, error] = std::from_chars(line.data(), line.data() + line.size(), more);
  if (error != std::errc() || !line.substr(end - line.data()).starts_with(kMoreAfter)) {
    return std::nullopt;
  }
  return more;
}

void AppendPathKey(std::string_view key, std::string* path) {
  if (!key.empty() && std::all_of(key.begin(), key.end(), IsPlainKeyChar)) {
    if (!path->empty()) path->push_back('.');
    path->append(key);
  } else {
    path->push_back('[');
    path->append(Quote(key));
    path->push_back(']');
  }
}

std::string PathString(const PathNode* node) {
  std::vector<const PathNode*> chain;
  for (; node != nullptr; node = node->parent) chain.push_back(node);
  std::string path;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    if ((*it)->is_index) {
      path += '[';
      path += std::to_string((*it)->index);
      path += ']';
    } else {
      AppendPathKey((*it)->key, &path);
    }
  }
  return path;
}

void ProblemList::Add(uint64_t order, std::string path, std::string message) {
  problems_.push_back({order, Problem{std::move(path), std::move(message)}});
}

std::vector<Problem> ProblemList::TakeInFileOrder() {
  std::stable_sort(problems_.begin(), problems_.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Problem> sorted;
  sorted.reserve(problems_.size());
  for (auto& [order, problem] : problems_) sorted.push_back(std::move(problem));
  problems_.clear();
  return sorted;
}

bool IsValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t length = Utf8SequenceLength(text, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::string Quote(std::string_view text, size_t max_bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  size_t i = 0;
  while (i < text.size()) {
    if (i >= max_bytes) {
      out += "...";
      break;
    }
    const char c = text[i];
    const size_t length = Utf8SequenceLength(text, i);
    if (length > 1) {
      out.append(text.substr(i, length));
      i += length;
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (length == 1 && c >= 0x20 && c != 0x7f) {
          out += c;
        } else {
          const auto b = static_cast<unsigned char>(c);
          out += "\\x";
          out += kHex[b >> 4];
          out += kHex[b & 0xf];
        }
    }
    ++i;
  }
  out += '"';
  return out;
}

const char* KindName(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL:
      return "null";
    case msgpack::type::BOOLEAN:
      return "a boolean";
    case msgpack::type::POSITIVE_INTEGER:
    case msgpack::type::NEGATIVE_INTEGER:
      return "an integer";
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return "a number";
    case msgpack::type::STR:
      return "a string";
    case msgpack::type::BIN:
      return "binary data";
    case msgpack::type::ARRAY:
      return "an array";
    case msgpack::type::MAP:
      return "a map";
    case msgpack::type::EXT:
      return "a MessagePack extension value";
  }
  return "an unknown value";
}

std::string DescribeValue(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::BOOLEAN:
      return o.via.boolean ? "boolean true" : "boolean false";
    case msgpack::type::POSITIVE_INTEGER:
      return "integer " + std::to_string(o.via.u64);
    case msgpack::type::NEGATIVE_INTEGER:
      return "integer " + std::to_string(o.via.i64);
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: {
      char buf[32];
      const auto result = std::to_chars(buf, buf + sizeof buf, o.via.f64);
      return "number " + std::string(buf, result.ptr);
    }
    case msgpack::type::STR:
      return "string " + Quote({o.via.str.ptr, o.via.str.size});
    case msgpack::type::BIN:
      return "binary data (" + std::to_string(o.via.bin.size) + " bytes)";
    default:
      return KindName(o);
  }
}

Status DecodeJobBytes(std::string_view bytes, msgpack::object_handle* handle) {
  if (bytes.empty()) return Status::Error("the file is empty");
  // A job file may be as big as its bytes allow (JobLimits bound what it
  // asks for); only the nesting has a limit of its own.
  DecodeLimits shape;
  shape.max_depth = kMaxJobDepth;
  shape.max_array = shape.max_map = shape.max_str = shape.max_bin = SIZE_MAX;
  size_t end = 0;
  if (Status scanned = ScanMsgpackValue(bytes, shape, &end); !scanned.ok()) return scanned;
  if (end != bytes.size()) {
    return Status::Error(std::to_string(bytes.size() - end) +
                         " stray bytes after the end of the job map");
  }
  // The scan proved every count and length fits in the input, so these
  // limits only restate it; strings are referenced in place, not copied.
  const size_t n = bytes.size();
  const msgpack::unpack_limit limit(n, n, n, n, n, kMaxJobDepth);
  const auto reference = [](msgpack::type::object_type, size_t, void*) { return true; };
  try {
    *handle = msgpack::unpack(bytes.data(), bytes.size(), reference, nullptr, limit);
  } catch (const std::exception& e) {
    return Status::Error(std::string("cannot decode (") + e.what() + ")");
  }
  return Status::Ok();
}

LoadedJob LoadJob(std::string_view msgpack_bytes, const JobLimits& limits,
                  const LoadOptions& options) {
  LoadedJob loaded;
  if (msgpack_bytes.size() > limits.max_job_bytes) {
    loaded.problems.push_back({"", "the job file is " + std::to_string(msgpack_bytes.size()) +
                                       " bytes (as MessagePack), more than the limit of " +
                                       std::to_string(limits.max_job_bytes)});
    return loaded;
  }
  msgpack::object_handle handle;
  if (Status decoded = DecodeJobBytes(msgpack_bytes, &handle); !decoded.ok()) {
    loaded.problems.push_back({"", "not a MessagePack job file: " + decoded.message()});
    return loaded;
  }
  ProblemList problems;
  JobDraft draft;
  try {
    ParseJob(handle.get(), limits, &draft, &problems);
    ApplyDefaults(limits, &draft, &problems);
    if (options.keep_arrays && problems.empty() && !draft.job.arrays.empty()) {
      ProblemList kept;
      const bool templated = KeepArrays(limits, &draft, &kept);
      if (templated) ValidateKinds(draft, &kept);
      if (templated && kept.empty()) {
        loaded.spec = std::move(draft.job);
        return loaded;
      }
      // Something is wrong, or in doubt: the expanding loader says what,
      // in the words it always uses (or accepts it, written out).
      return LoadJob(msgpack_bytes, limits);
    }
    if (ExpandArrays(limits, &draft, &problems)) {
      ValidateGraph(&draft, &problems);
      ValidateKinds(draft, &problems);
    }
  } catch (const std::exception& e) {
    // Only running out of memory gets here; the job is as good as too big.
    problems.Add(0, "", std::string("cannot load the job file: ") + e.what());
  }
  if (problems.empty()) {
    loaded.spec = std::move(draft.job);
    return loaded;
  }
  loaded.problems = problems.TakeInFileOrder();
  NameStepsInPaths(draft, &loaded.problems);
  return loaded;
}

}  // namespace drover
