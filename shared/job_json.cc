// Job files as JSON: reading them from disk and converting between JSON and
// the MessagePack that LoadJob and the wire take. JSON is only ever converted,
// never validated on its own, so both formats go through the one loader.

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <unordered_set>

#include "shared/job_draft.h"
#include "shared/job_format.h"
#include "shared/job_load.h"

namespace drover {
namespace {

// ordered_json keeps keys in file order, so problems come out in file order
// and `env` keeps the order it was written in.
using Json = nlohmann::ordered_json;

// Builds the document like nlohmann's own parser, and also rejects what it
// would silently accept: nesting past kMaxJobDepth (the MessagePack encoder
// recurses) and a key given twice in one object (it would keep only one).
class JobJsonSax : public nlohmann::detail::json_sax_dom_parser<Json> {
  using Base = nlohmann::detail::json_sax_dom_parser<Json>;

 public:
  explicit JobJsonSax(Json* root) : Base(*root, /*allow_exceptions_=*/true) {}

  const std::string& error() const { return error_; }

  bool null() { return Value() && Base::null(); }
  bool boolean(bool v) { return Value() && Base::boolean(v); }
  bool number_integer(number_integer_t v) { return Value() && Base::number_integer(v); }
  bool number_unsigned(number_unsigned_t v) { return Value() && Base::number_unsigned(v); }
  bool number_float(number_float_t v, const string_t& s) {
    return Value() && Base::number_float(v, s);
  }
  bool string(string_t& v) { return Value() && Base::string(v); }
  bool binary(binary_t& v) { return Value() && Base::binary(v); }
  bool start_object(std::size_t n) { return Value() && Enter(true) && Base::start_object(n); }
  bool end_object() { return Leave() && Base::end_object(); }
  bool start_array(std::size_t n) { return Value() && Enter(false) && Base::start_array(n); }
  bool end_array() { return Leave() && Base::end_array(); }
  bool key(string_t& k) {
    Frame& frame = frames_.back();
    if (!frame.AddKey(k)) {
      std::string path = Path();
      AppendPathKey(k, &path);
      error_ = path + ": key given twice";
      return false;
    }
    frame.key = k;
    return Base::key(k);
  }

 private:
  struct Frame {
    bool is_object = false;
    size_t next_index = 0;  // in an array: one past the current element
    std::string key;        // in an object: the current key

    // False if the object already has `k`. Most objects have a handful of
    // keys, where a linear search beats hashing; big ones get a set.
    bool AddKey(const std::string& k) {
      if (many_keys.empty() && few_keys.size() < 16) {
        if (std::find(few_keys.begin(), few_keys.end(), k) != few_keys.end()) return false;
        few_keys.push_back(k);
        return true;
      }
      if (many_keys.empty()) many_keys.insert(few_keys.begin(), few_keys.end());
      return many_keys.insert(k).second;
    }
    std::vector<std::string> few_keys;
    std::unordered_set<std::string> many_keys;
  };

  // Called before every value: counts array elements for the path.
  bool Value() {
    if (!frames_.empty() && !frames_.back().is_object) ++frames_.back().next_index;
    return true;
  }
  bool Enter(bool is_object) {
    if (frames_.size() >= kMaxJobDepth) {
      error_ = "nested more than " + std::to_string(kMaxJobDepth) + " levels deep";
      return false;
    }
    frames_.emplace_back().is_object = is_object;
    return true;
  }
  bool Leave() {
    frames_.pop_back();
    return true;
  }
  std::string Path() const {
    std::string path;
    for (size_t i = 1; i < frames_.size(); ++i) {
      const Frame& parent = frames_[i - 1];
      if (parent.is_object) {
        AppendPathKey(parent.key, &path);
      } else {
        path += "[" + std::to_string(parent.next_index - 1) + "]";
      }
    }
    return path;
  }

  std::vector<Frame> frames_;
  std::string error_;
};

// nlohmann says "[json.exception.parse_error.101] parse error at line 3,
// column 5: syntax error while parsing ..."; keep what a person needs.
std::string ReadableParseError(const char* what) {
  std::string message = what;
  const size_t bracket = message.find("] ");
  if (message.rfind("[json.exception.", 0) == 0 && bracket != std::string::npos) {
    message.erase(0, bracket + 2);
  }
  for (const char* prefix : {"parse error at ", "parse error: "}) {
    if (message.rfind(prefix, 0) == 0) message.erase(0, std::strlen(prefix));
  }
  return message;
}

// The JSON form of a decoded MessagePack value; `path` names it in errors.
Status ToJson(const msgpack::object& o, std::string* path, Json* out) {
  const auto fail = [&](const char* what) {
    return Status::Error((path->empty() ? "" : *path + ": ") + what + " cannot be written as JSON");
  };
  switch (o.type) {
    case msgpack::type::NIL:
      *out = nullptr;
      break;
    case msgpack::type::BOOLEAN:
      *out = o.via.boolean;
      break;
    case msgpack::type::POSITIVE_INTEGER:
      *out = o.via.u64;
      break;
    case msgpack::type::NEGATIVE_INTEGER:
      *out = o.via.i64;
      break;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      if (!std::isfinite(o.via.f64)) return fail("a number that is not finite");
      *out = o.via.f64;
      break;
    case msgpack::type::STR: {
      const std::string_view text(o.via.str.ptr, o.via.str.size);
      if (!IsValidUtf8(text)) return fail("a string that is not valid UTF-8");
      *out = std::string(text);
      break;
    }
    case msgpack::type::BIN: {
      const std::string_view bytes(o.via.bin.ptr, o.via.bin.size);
      if (!IsValidUtf8(bytes)) return fail("binary data that is not UTF-8 text");
      *out = std::string(bytes);
      break;
    }
    case msgpack::type::ARRAY: {
      *out = Json::array();
      const size_t length = path->size();
      for (size_t i = 0; i < o.via.array.size; ++i) {
        *path += "[" + std::to_string(i) + "]";
        Json element;
        if (Status s = ToJson(o.via.array.ptr[i], path, &element); !s.ok()) return s;
        out->push_back(std::move(element));
        path->resize(length);
      }
      break;
    }
    case msgpack::type::MAP: {
      *out = Json::object();
      const size_t length = path->size();
      for (const msgpack::object_kv& kv : std::span(o.via.map.ptr, o.via.map.size)) {
        if (kv.key.type != msgpack::type::STR) return fail("a key that is not a string");
        const std::string key(kv.key.via.str.ptr, kv.key.via.str.size);
        AppendPathKey(key, path);
        if (!IsValidUtf8(key)) return fail("a key that is not valid UTF-8");
        if (out->contains(key)) return fail("a key given twice");
        if (Status s = ToJson(kv.val, path, &(*out)[key]); !s.ok()) return s;
        path->resize(length);
      }
      break;
    }
    case msgpack::type::EXT:
      return fail("a MessagePack extension value");
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> JsonToMsgpack(std::string_view json_text) {
  Json document;
  JobJsonSax sax(&document);
  try {
    if (!Json::sax_parse(json_text, &sax)) return Status::Error(sax.error());
  } catch (const Json::parse_error& e) {
    // nlohmann stops at a comment with "invalid literal", which does not
    // say that the comment is the trouble.
    if (const size_t line = JsonCommentLine(json_text, e.byte); line != 0) {
      return Status::Error("JSON does not allow comments (line " + std::to_string(line) + ")");
    }
    return Status::Error(ReadableParseError(e.what()));
  } catch (const std::exception& e) {
    return Status::Error(std::string("cannot read JSON: ") + e.what());
  }
  std::string bytes;
  Json::to_msgpack(document, nlohmann::detail::output_adapter<char>(bytes));
  return bytes;
}

Result<std::string> MsgpackToJson(std::string_view msgpack_bytes) {
  msgpack::object_handle handle;
  if (Status s = DecodeJobBytes(msgpack_bytes, &handle); !s.ok()) {
    return Status::Error("not a MessagePack job file: " + s.message());
  }
  Json document;
  std::string path;
  if (Status s = ToJson(handle.get(), &path, &document); !s.ok()) return s;
  return document.dump(2) + "\n";
}

Result<std::string> ReadJobFile(const std::string& path) {
  const bool from_stdin = path == "-";
  const std::string name = from_stdin ? "stdin" : path;
  // stdin is not ours to close.
  std::unique_ptr<FILE, int (*)(FILE*)> file(from_stdin ? stdin : std::fopen(path.c_str(), "rb"),
                                              from_stdin ? [](FILE*) { return 0; } : &std::fclose);
  if (file == nullptr) return ErrnoStatus(name, errno);
  std::string bytes;
  char buffer[64 << 10];
  size_t got;
  while ((got = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) bytes.append(buffer, got);
  if (std::ferror(file.get())) return ErrnoStatus(name, errno);
  const Result<JobFormat> format = GuessJobFormat(bytes);
  if (!format.ok()) return Status::Error(name + ": " + format.status().message());
  if (format.value() == JobFormat::kJson) {
    Result<std::string> converted = JsonToMsgpack(bytes);
    if (!converted.ok()) return Status::Error(name + ": " + converted.status().message());
    bytes = std::move(converted).value();
  }
  const size_t slash = path.rfind('/');
  const std::string dir = from_stdin || slash == std::string::npos ? "" : path.substr(0, slash + 1);
  Result<std::string> resolved = ResolveEachLines(std::move(bytes), dir);
  if (!resolved.ok()) return Status::Error(name + ": " + resolved.status().message());
  return resolved;
}

}  // namespace drover
