#include "shared/job_values.h"

#include <algorithm>
#include <cmath>
#include <span>
#include <unordered_set>

#include "shared/labels.h"
#include "shared/spellcheck.h"

namespace drover {
namespace {

// Long enough for any batch step; the timeout in milliseconds still fits in
// uint32_t (30 days is 2.6e9 ms).
constexpr int64_t kMaxTimeoutSeconds = 30 * 24 * 3600;

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

}  // namespace

bool IsElementId(std::string_view id) {
  const size_t open = id.find('[');
  if (open == 0 || open == std::string_view::npos || !id.ends_with(']')) return false;
  const std::string_view name = id.substr(0, open);
  const std::string_view digits = id.substr(open + 1, id.size() - open - 2);
  return std::all_of(name.begin(), name.end(), IsIdChar) && !digits.empty() &&
         (digits.size() == 1 || digits[0] != '0') &&
         std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
}

namespace {

// The number itself, for "got 0".
std::string NumberText(const msgpack::object& o) {
  if (o.type == msgpack::type::POSITIVE_INTEGER) return std::to_string(o.via.u64);
  if (o.type == msgpack::type::NEGATIVE_INTEGER) return std::to_string(o.via.i64);
  std::string text = DescribeValue(o);  // "number 1.5"
  return text.substr(text.find(' ') + 1);
}

}  // namespace

std::string DidYouMean(std::string_view text, const std::vector<std::string_view>& words) {
  std::optional<std::string_view> match = SpellcheckString(text, words);
  return match ? DidYouMeanWord(*match) : "";
}

std::string DidYouMeanWord(std::string_view word) { return " (did you mean " + Quote(word) + "?)"; }

std::string OverCount(size_t count, size_t limit, const char* what) {
  return "has " + std::to_string(count) + " " + what + ", more than the limit of " +
         std::to_string(limit);
}

std::string OverLength(size_t length, size_t limit) {
  return "is " + std::to_string(length) + " bytes long, more than the limit of " +
         std::to_string(limit);
}

std::string OverLimit(size_t size, size_t limit, const char* what) {
  return "is " + std::to_string(size) + " bytes, more than the limit of " + std::to_string(limit) +
         " bytes for " + what;
}

size_t EnvBytes(const EnvList& env) {
  size_t bytes = 0;
  for (const auto& [name, value] : env) bytes += name.size() + value.size() + 2;
  return bytes;
}

bool ValueReader::ReadString(const msgpack::object& o, uint64_t order, const PathNode* path,
                             std::string_view* out, const char* expected) {
  if (o.type != msgpack::type::STR) {
    Report(order, path, std::string("expected ") + expected + ", got " + DescribeValue(o));
    return false;
  }
  *out = StrView(o);
  return true;
}

bool ValueReader::ReadInteger(const msgpack::object& o, uint64_t order, const PathNode* path,
                              int64_t min, int64_t max, int64_t* out) {
  bool in_range = false;
  if (o.type == msgpack::type::POSITIVE_INTEGER) {
    in_range = max >= 0 && o.via.u64 <= static_cast<uint64_t>(max) &&
               static_cast<int64_t>(o.via.u64) >= min;
    *out = static_cast<int64_t>(o.via.u64);
  } else if (o.type == msgpack::type::NEGATIVE_INTEGER) {
    in_range = o.via.i64 >= min && o.via.i64 <= max;
    *out = o.via.i64;
  } else {
    Report(order, path, "expected an integer, got " + DescribeValue(o));
    return false;
  }
  if (!in_range) {
    Report(order, path,
           "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
               NumberText(o));
  }
  return in_range;
}

bool ValueReader::ReadCString(const msgpack::object& o, uint64_t order, const PathNode* path,
                              std::string_view* out, const char* what) {
  if (!ReadString(o, order, path, out)) return false;
  if (out->empty()) {
    Report(order, path, "must not be empty");
    return false;
  }
  if (out->find('\0') != std::string_view::npos) {
    Report(order, path, std::string("contains a NUL byte, which ") + what + " cannot carry");
    return false;
  }
  return true;
}

bool ValueReader::ReadId(const msgpack::object& o, uint64_t order, const PathNode* path,
                         std::string_view* id, bool* valid, bool pattern) {
  *valid = false;
  if (!ReadString(o, order, path, id)) return false;
  if (id->empty()) {
    Report(order, path, "must not be empty");
  } else if (id->size() > kMaxIdLength) {
    Report(order, path,
           "is " + std::to_string(id->size()) + " characters long, more than the limit of " +
               std::to_string(kMaxIdLength));
  } else if (!IsElementId(*id) && !std::all_of(id->begin(), id->end(), [&](char c) {
               return IsIdChar(c) || (pattern && (c == '{' || c == '}'));
             })) {
    Report(order, path,
           "invalid id " + Quote(*id) + " (use only letters, digits, \"_\", \".\" and \"-\"" +
               (pattern ? ", and placeholders such as {index})" : ")"));
  } else {
    *valid = true;
  }
  return true;
}

bool ValueReader::ReadCommand(const msgpack::object& o, uint64_t order, const PathNode* path,
                              std::string* cmd) {
  std::string_view text;
  if (!ReadCString(o, order, path, &text)) return false;
  if (text.size() > limits_.max_argv_bytes) {
    Report(order, path, OverLimit(text.size(), limits_.max_argv_bytes, "a command line"));
    return false;
  }
  *cmd = text;
  return true;
}

bool ValueReader::ReadArgv(const msgpack::object& o, uint64_t order, const PathNode* path,
                           std::vector<std::string>* argv) {
  if (o.type != msgpack::type::ARRAY) {
    Report(order, path, "expected an array of strings, got " + DescribeValue(o));
    return false;
  }
  if (o.via.array.size == 0) {
    Report(order, path, "must not be empty (it starts with the program to run)");
    return false;
  }
  bool ok = true;
  size_t bytes = 0;
  argv->reserve(o.via.array.size);
  for (size_t i = 0; i < o.via.array.size; ++i) {
    const uint64_t arg_order = Tick();
    const PathNode arg_path{path, true, i, {}};
    std::string_view text;
    if (!ReadString(o.via.array.ptr[i], arg_order, &arg_path, &text)) {
      ok = false;
      continue;
    }
    if (text.find('\0') != std::string_view::npos) {
      Report(arg_order, &arg_path, "contains a NUL byte, which a command line cannot carry");
      ok = false;
    } else if (i == 0 && text.empty()) {
      Report(arg_order, &arg_path, "the program to run must not be empty");
      ok = false;
    }
    bytes += text.size() + 1;  // exec counts each argument's terminating NUL
    argv->emplace_back(text);
  }
  if (bytes > limits_.max_argv_bytes) {
    Report(order, path, OverLimit(bytes, limits_.max_argv_bytes, "a command line"));
    ok = false;
  }
  return ok;
}

bool ValueReader::ReadStdinFrom(const msgpack::object& o, uint64_t order, const PathNode* path,
                                std::vector<StepRef>* refs, bool* stream) {
  if (o.type == msgpack::type::MAP) return ReadStreamedStdinFrom(o, order, path, refs, stream);
  if (o.type == msgpack::type::STR) {
    refs->push_back(StepRef{StrView(o), order, kWholeField, true});
    return true;
  }
  if (o.type != msgpack::type::ARRAY) {
    Report(order, path,
           "expected a step id, an array of them, or {\"step\": ID, \"stream\": true}, got " +
               DescribeValue(o));
    return false;
  }
  if (o.via.array.size == 0) {
    Report(order, path, "must name at least one step (leave it out for no input)");
    return false;
  }
  return ReadStepRefs(o, order, path, refs, /*in_stdin_from=*/true);
}

bool ValueReader::ReadStreamedStdinFrom(const msgpack::object& o, uint64_t order,
                                        const PathNode* path, std::vector<StepRef>* refs,
                                        bool* stream) {
  bool ok = true;
  bool has_step = false;
  for (uint32_t i = 0; i < o.via.map.size; ++i) {
    const msgpack::object_kv& kv = o.via.map.ptr[i];
    if (kv.key.type != msgpack::type::STR) {
      Report(order, path, "expects the keys \"step\" and \"stream\", got " + DescribeValue(kv.key));
      ok = false;
      continue;
    }
    const std::string_view key = StrView(kv.key);
    const PathNode key_path{path, false, 0, key};
    if (key == "step") {
      std::string_view id;
      if (ReadString(kv.val, order, &key_path, &id, "a step id (a string)")) {
        refs->push_back(StepRef{id, order, kWholeField, true});
        has_step = true;
      } else {
        ok = false;
      }
    } else if (key == "stream") {
      if (kv.val.type != msgpack::type::BOOLEAN) {
        Report(order, &key_path, "expected true or false, got " + DescribeValue(kv.val));
        ok = false;
      } else {
        *stream = kv.val.via.boolean;
      }
    } else {
      Report(order, &key_path, "unknown key (a streamed stdin_from has \"step\" and \"stream\")");
      ok = false;
    }
  }
  if (!has_step && ok) {
    Report(order, path, "needs \"step\": the id of the step whose stdout it reads");
    ok = false;
  }
  return ok;
}

bool ValueReader::ReadStepRefs(const msgpack::object& o, uint64_t order, const PathNode* path,
                               std::vector<StepRef>* refs, bool in_stdin_from) {
  if (o.type != msgpack::type::ARRAY) {
    Report(order, path, "expected an array of step ids, got " + DescribeValue(o));
    return false;
  }
  if (o.via.array.size > limits_.max_after) {
    Report(order, path, OverCount(o.via.array.size, limits_.max_after, "entries"));
    return false;
  }
  bool ok = true;
  for (uint32_t i = 0; i < o.via.array.size; ++i) {
    const uint64_t ref_order = Tick();
    const PathNode ref_path{path, true, i, {}};
    std::string_view id;
    if (ReadString(o.via.array.ptr[i], ref_order, &ref_path, &id, "a step id (a string)")) {
      refs->push_back(StepRef{id, ref_order, i, in_stdin_from});
    } else {
      ok = false;
    }
  }
  return ok;
}

bool ValueReader::ReadWhen(const msgpack::object& o, uint64_t order, const PathNode* path,
                           When* out) {
  if (o.type == msgpack::type::STR) {
    const std::string_view text = StrView(o);
    for (When when : {When::kSuccess, When::kAlways, When::kFailure}) {
      if (text == WhenName(when)) {
        *out = when;
        return true;
      }
    }
  }
  std::string message = "must be \"success\", \"always\" or \"failure\", got " + DescribeValue(o);
  if (o.type == msgpack::type::STR)
    message += DidYouMean(StrView(o), {"success", "always", "failure"});
  Report(order, path, std::move(message));
  return false;
}

bool ValueReader::ReadStdin(const msgpack::object& o, uint64_t order, const PathNode* path,
                            std::optional<std::string>* out) {
  std::string_view bytes;
  if (o.type == msgpack::type::STR) {
    bytes = {o.via.str.ptr, o.via.str.size};
  } else if (o.type == msgpack::type::BIN) {
    bytes = {o.via.bin.ptr, o.via.bin.size};
  } else {
    Report(order, path, "expected a string or binary data, got " + DescribeValue(o));
    return false;
  }
  if (bytes.size() > limits_.max_stdin_bytes) {
    Report(order, path, OverLimit(bytes.size(), limits_.max_stdin_bytes, "inline stdin"));
    return false;
  }
  out->emplace(bytes);
  return true;
}

bool ValueReader::ReadEnv(const msgpack::object& o, uint64_t order, const PathNode* path,
                          EnvList* out) {
  if (o.type != msgpack::type::MAP) {
    Report(order, path, "expected a map of variable names to values, got " + DescribeValue(o));
    return false;
  }
  if (o.via.map.size > limits_.max_env_vars) {
    Report(order, path, OverCount(o.via.map.size, limits_.max_env_vars, "variables"));
    return false;
  }
  bool ok = true;
  out->reserve(o.via.map.size);
  // Most environments are small enough that a linear search for repeated
  // names beats hashing; a big one gets a set, to stay linear.
  const bool hashed = o.via.map.size > 16;
  std::unordered_set<std::string_view> names;
  const auto repeated = [&](std::string_view name) {
    if (hashed) return !names.insert(name).second;
    return std::any_of(out->begin(), out->end(), [&](const auto& v) { return v.first == name; });
  };
  for (const msgpack::object_kv& kv : std::span(o.via.map.ptr, o.via.map.size)) {
    const uint64_t var_order = Tick();
    if (kv.key.type != msgpack::type::STR) {
      Report(var_order, path,
             std::string("variable names must be strings, got ") + KindName(kv.key));
      ok = false;
      continue;
    }
    const std::string_view name = StrView(kv.key);
    const PathNode var_path{path, false, 0, name};
    const char* bad_name = nullptr;
    if (name.empty()) {
      bad_name = "variable names must not be empty";
    } else if (name.find('=') != std::string_view::npos) {
      bad_name = "variable names cannot contain \"=\"";
    } else if (name.find('\0') != std::string_view::npos) {
      bad_name = "variable names cannot contain a NUL byte";
    } else if (repeated(name)) {
      bad_name = "variable given twice";
    }
    if (bad_name != nullptr) {
      Report(var_order, &var_path, bad_name);
      ok = false;
      continue;
    }
    std::string_view value;
    if (!ReadString(kv.val, var_order, &var_path, &value)) {
      ok = false;
    } else if (value.find('\0') != std::string_view::npos) {
      Report(var_order, &var_path, "contains a NUL byte, which an environment cannot carry");
      ok = false;
    } else {
      out->emplace_back(name, value);
    }
  }
  const size_t bytes = EnvBytes(*out);
  if (bytes > limits_.max_env_bytes) {
    Report(order, path, OverLimit(bytes, limits_.max_env_bytes, "a step's environment"));
    ok = false;
  }
  return ok;
}

bool ValueReader::ReadTimeout(const msgpack::object& o, uint64_t order, const PathNode* path,
                              uint32_t* out_ms) {
  return ReadSeconds(o, order, path, kMaxTimeoutSeconds, "30 days", out_ms);
}

bool ValueReader::ReadExitCodes(const msgpack::object& o, uint64_t order, const PathNode* path,
                                std::vector<uint8_t>* out) {
  auto read_one = [&](const msgpack::object& code, uint64_t code_order, const PathNode* code_path) {
    int64_t n;
    if (!ReadInteger(code, code_order, code_path, 1, 255, &n)) return false;
    out->push_back(static_cast<uint8_t>(n));
    return true;
  };
  bool ok = true;
  if (o.type == msgpack::type::ARRAY) {
    if (o.via.array.size > kMaxExitCodeList) {
      Report(order, path, OverCount(o.via.array.size, kMaxExitCodeList, "exit codes"));
      return false;
    }
    for (size_t i = 0; i < o.via.array.size; ++i) {
      const PathNode code_path{path, true, i, {}};
      ok &= read_one(o.via.array.ptr[i], Tick(), &code_path);
    }
  } else if (o.type == msgpack::type::POSITIVE_INTEGER || o.type == msgpack::type::NEGATIVE_INTEGER) {
    ok = read_one(o, order, path);
  } else {
    Report(order, path, "expected an exit code or an array of them, got " + DescribeValue(o));
    return false;
  }
  std::sort(out->begin(), out->end());
  out->erase(std::unique(out->begin(), out->end()), out->end());
  return ok;
}

bool ValueReader::ReadSeconds(const msgpack::object& o, uint64_t order, const PathNode* path,
                              int64_t max_seconds, const char* max_text, uint32_t* out_ms,
                              bool zero_ok) {
  double seconds;
  switch (o.type) {
    case msgpack::type::POSITIVE_INTEGER:
      seconds = static_cast<double>(o.via.u64);
      break;
    case msgpack::type::NEGATIVE_INTEGER:
      seconds = static_cast<double>(o.via.i64);
      break;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      seconds = o.via.f64;
      break;
    default:
      Report(order, path, "expected a number of seconds, got " + DescribeValue(o));
      return false;
  }
  // Written so that NaN fails too.
  if (!((seconds > 0 || (zero_ok && seconds == 0)) &&
        seconds <= static_cast<double>(max_seconds))) {
    Report(order, path,
           std::string(zero_ok ? "must be at least 0" : "must be more than 0") + " and at most " + std::to_string(max_seconds) + " seconds (" +
               max_text + "), got " + NumberText(o));
    return false;
  }
  *out_ms = static_cast<uint32_t>(std::ceil(seconds * 1000));
  return true;
}

bool ValueReader::ReadRequires(const msgpack::object& o, uint64_t order, const PathNode* path,
                               std::vector<std::string>* out) {
  if (o.type != msgpack::type::ARRAY) {
    Report(order, path, "expected an array of labels, got " + DescribeValue(o));
    return false;
  }
  if (o.via.array.size > kMaxLabels) {
    Report(order, path, OverCount(o.via.array.size, kMaxLabels, "labels"));
    return false;
  }
  bool ok = true;
  for (size_t i = 0; i < o.via.array.size; ++i) {
    const uint64_t label_order = Tick();
    const PathNode label_path{path, true, i, {}};
    std::string_view label;
    if (!ReadString(o.via.array.ptr[i], label_order, &label_path, &label, "a label (a string)")) {
      ok = false;
    } else if (label.size() > kMaxLabelLength) {
      Report(label_order, &label_path, OverLength(label.size(), kMaxLabelLength));
      ok = false;
    } else if (!IsLabel(label)) {
      Report(label_order, &label_path,
             "invalid label " + Quote(label) + " (use only letters, digits and \"_.:=+-\")");
      ok = false;
    } else {
      out->emplace_back(label);
    }
  }
  std::sort(out->begin(), out->end());
  out->erase(std::unique(out->begin(), out->end()), out->end());
  return ok;
}

bool ValueReader::ReadResources(const msgpack::object& o, uint64_t order, const PathNode* path,
                                ResourceList* out) {
  if (o.type != msgpack::type::MAP) {
    Report(order, path,
           "expected a map of resource names to amounts (e.g. {\"mem\": \"4G\", \"gpus\": 1}), "
           "got " + DescribeValue(o));
    return false;
  }
  if (o.via.map.size > kMaxResources) {
    Report(order, path, OverCount(o.via.map.size, kMaxResources, "resources"));
    return false;
  }
  bool ok = true;
  for (const msgpack::object_kv& kv : std::span(o.via.map.ptr, o.via.map.size)) {
    const uint64_t item_order = Tick();
    if (kv.key.type != msgpack::type::STR) {
      Report(item_order, path,
             std::string("resource names must be strings, got ") + KindName(kv.key));
      ok = false;
      continue;
    }
    const std::string_view name = StrView(kv.key);
    const PathNode item_path{path, false, 0, name};
    if (!IsResourceName(name)) {
      Report(item_order, &item_path,
             Quote(name) + " is not a resource name (" + kResourceNameRule + ")");
      ok = false;
      continue;
    }
    if (std::any_of(out->begin(), out->end(), [&](const auto& r) { return r.name == name; })) {
      Report(item_order, &item_path, "given twice");
      ok = false;
      continue;
    }
    uint64_t amount = 0;
    if (kv.val.type == msgpack::type::POSITIVE_INTEGER) {
      amount = kv.val.via.u64;
      if (amount > kMaxResourceAmount) {
        Report(item_order, &item_path, "is too large: " + std::to_string(amount));
        ok = false;
        continue;
      }
    } else if (kv.val.type == msgpack::type::STR) {
      Result<uint64_t> parsed = ParseAmount(StrView(kv.val));
      if (!parsed.ok()) {
        Report(item_order, &item_path, parsed.status().message());
        ok = false;
        continue;
      }
      amount = parsed.value();
    } else {
      Report(item_order, &item_path,
             "expected an amount: a whole number, or a size such as \"4G\", got " +
                 DescribeValue(kv.val));
      ok = false;
      continue;
    }
    if (amount > 0) out->push_back(ResourceAmount{std::string(name), amount});
  }
  std::sort(out->begin(), out->end());
  return ok;
}

}  // namespace drover
