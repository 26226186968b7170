// ResolveEachLines (shared/job_load.h): `{"lines": "FILE"}` in a step's
// `each` becomes the list of FILE's lines. Only `submit` calls it, on the
// user's machine, so the broker never reads the user's files; a job file
// that reaches LoadJob with `lines` in it is rejected there.

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <span>

#include "shared/job_draft.h"
#include "shared/job_load.h"

namespace drover {
namespace {

Result<std::string> ReadWholeFile(const std::string& path) {
  FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return ErrnoStatus(path, errno);
  std::string bytes;
  char buffer[64 << 10];
  size_t got;
  while ((got = std::fread(buffer, 1, sizeof buffer, file)) > 0) bytes.append(buffer, got);
  const bool failed = std::ferror(file);
  const int error = errno;
  std::fclose(file);
  if (failed) return ErrnoStatus(path, error);
  return bytes;
}

const msgpack::object* MapField(const msgpack::object& map, std::string_view name) {
  if (map.type != msgpack::type::MAP) return nullptr;
  for (const msgpack::object_kv& kv : std::span(map.via.map.ptr, map.via.map.size)) {
    if (kv.key.type == msgpack::type::STR && StrView(kv.key) == name) return &kv.val;
  }
  return nullptr;
}

// The lines of `text`: without their "\n" or "\r\n", blank ones left out.
std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t end = std::min(text.find('\n'), text.size());
    std::string_view line = text.substr(0, end);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (!line.empty()) lines.push_back(line);
    text.remove_prefix(std::min(end + 1, text.size()));
  }
  return lines;
}

}  // namespace

Result<std::string> ResolveEachLines(std::string msgpack_bytes, const std::string& base_dir) {
  msgpack::object_handle handle;
  // A file that does not decode is LoadJob's to report.
  if (!DecodeJobBytes(msgpack_bytes, &handle).ok()) return msgpack_bytes;
  const msgpack::object* steps = MapField(handle.get(), "steps");
  if (steps == nullptr || steps->type != msgpack::type::ARRAY) return msgpack_bytes;
  msgpack::zone& zone = *handle.zone();
  bool changed = false;
  for (size_t i = 0; i < steps->via.array.size; ++i) {
    const msgpack::object* each = MapField(steps->via.array.ptr[i], "each");
    if (each == nullptr || each->type != msgpack::type::MAP) continue;
    for (msgpack::object_kv& kv : std::span(each->via.map.ptr, each->via.map.size)) {
      const msgpack::object* file = MapField(kv.val, "lines");
      if (file == nullptr || kv.val.via.map.size != 1) continue;
      std::string path = "steps[" + std::to_string(i) + "].each";
      if (kv.key.type == msgpack::type::STR) AppendPathKey(StrView(kv.key), &path);
      path += ".lines";
      if (file->type != msgpack::type::STR || file->via.str.size == 0) {
        return Status::Error(path + ": expected a file name, got " + DescribeValue(*file));
      }
      const std::string name(StrView(*file));
      std::string full = name;
      if (!name.starts_with('/') && !base_dir.empty()) {
        full = base_dir + (base_dir.ends_with('/') ? "" : "/") + name;
      }
      Result<std::string> text = ReadWholeFile(full);
      if (!text.ok()) return Status::Error(path + ": " + text.status().message());
      const std::vector<std::string_view> lines = Lines(*text);
      // The tree lives in the handle's zone; the new list joins it there.
      auto* values = static_cast<msgpack::object*>(
          zone.allocate_align(sizeof(msgpack::object) * std::max<size_t>(lines.size(), 1)));
      for (size_t k = 0; k < lines.size(); ++k) {
        char* copy =
            static_cast<char*>(zone.allocate_no_align(std::max<size_t>(lines[k].size(), 1)));
        std::memcpy(copy, lines[k].data(), lines[k].size());
        values[k].type = msgpack::type::STR;
        values[k].via.str.ptr = copy;
        values[k].via.str.size = static_cast<uint32_t>(lines[k].size());
      }
      kv.val.type = msgpack::type::ARRAY;
      kv.val.via.array.ptr = values;
      kv.val.via.array.size = static_cast<uint32_t>(lines.size());
      changed = true;
    }
  }
  if (!changed) return msgpack_bytes;
  msgpack::sbuffer buffer;
  msgpack::pack(buffer, handle.get());
  return std::string(buffer.data(), buffer.size());
}

}  // namespace drover
