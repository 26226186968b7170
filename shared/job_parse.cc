// Pass 1 and 2 of LoadJob (shared/job_draft.h): from the decoded MessagePack
// value to a JobDraft, checking every field's type, range and limits, and
// then applying `defaults` to every step.

#include <algorithm>
#include <map>
#include <span>
#include <unordered_map>

#include "shared/job_draft.h"
#include "shared/job_synonyms.h"
#include "shared/job_values.h"

namespace drover {
namespace {

constexpr int64_t kMaxParallel = 1'000'000;
constexpr int64_t kMaxRetries = 100;
constexpr int64_t kMaxSlots = 65536;

enum class Field {
  kId,
  kArgv,
  kCmd,
  kAfter,
  kWhen,
  kStdin,
  kStdinFrom,
  kEnv,
  kCwd,
  kTimeout,
  kRetries,
  kRetryDelay,
  kRetryUnlessExit,
  kSlots,
  kRequires,
  kPriority,
  kDuration,
  kResources,
  kTimeRequest,
  kEach,
};

struct FieldInfo {
  std::string_view name;
  Field field;
  const char* not_in_defaults;  // why `defaults` may not hold it; null when it may
};

constexpr FieldInfo kStepFields[] = {
    {"id", Field::kId, "each step has its own id"},
    {"argv", Field::kArgv, "each step says what it runs"},
    {"cmd", Field::kCmd, "each step says what it runs"},
    {"after", Field::kAfter, "each step lists its own"},
    {"when", Field::kWhen, nullptr},
    {"stdin", Field::kStdin, nullptr},
    {"stdin_from", Field::kStdinFrom, "each step names its own"},
    {"env", Field::kEnv, nullptr},
    {"cwd", Field::kCwd, nullptr},
    {"timeout", Field::kTimeout, nullptr},
    {"retries", Field::kRetries, nullptr},
    {"retry_delay", Field::kRetryDelay, nullptr},
    {"retry_unless_exit", Field::kRetryUnlessExit, nullptr},
    {"slots", Field::kSlots, nullptr},
    {"requires", Field::kRequires, nullptr},
    {"priority", Field::kPriority, nullptr},
    {"duration", Field::kDuration, nullptr},
    {"resources", Field::kResources, nullptr},
    {"time_request", Field::kTimeRequest, nullptr},
    {"each", Field::kEach, "each array step lists its own parameters"},
};

constexpr std::string_view kJobFields[] = {"name",  "max_parallel",  "lease",
                                           "abort_on_exit", "defaults", "steps"};
constexpr int64_t kMaxDelaySeconds = 24 * 3600;
constexpr int64_t kMaxDurationSeconds = 30 * 24 * 3600;

const FieldInfo* FindStepField(std::string_view name) {
  for (const FieldInfo& info : kStepFields) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

uint32_t Bit(Field field) { return 1u << static_cast<int>(field); }

// The hint for an unknown field: a synonym first (shared/job_synonyms.h),
// then the closest spelling.
std::string UnknownStepField(std::string_view name, bool in_defaults) {
  std::vector<std::string_view> words;
  for (const FieldInfo& info : kStepFields) {
    if (!in_defaults || info.not_in_defaults == nullptr) words.push_back(info.name);
  }
  if (const auto meant = FieldSynonym(name, words)) return "unknown field" + DidYouMeanWord(*meant);
  return "unknown field" + DidYouMean(name, words);
}

std::string UnknownJobField(std::string_view name) {
  const auto where = [](const FieldInfo& info) {
    return info.not_in_defaults ? "set it in each step" : "set it in each step, or in \"defaults\"";
  };
  if (const FieldInfo* info = FindStepField(name)) {
    return "unknown field (" + Quote(name) + " is a step field: " + where(*info) + ")";
  }
  const std::vector<std::string_view> job_words(std::begin(kJobFields), std::end(kJobFields));
  if (const auto meant = FieldSynonym(name, job_words)) {
    return "unknown field" + DidYouMeanWord(*meant);
  }
  std::vector<std::string_view> step_words;
  for (const FieldInfo& info : kStepFields) step_words.push_back(info.name);
  if (const auto meant = FieldSynonym(name, step_words)) {
    return "unknown field (did you mean " + Quote(*meant) +
           "? It is a step field: " + where(*FindStepField(*meant)) + ")";
  }
  return "unknown field" + DidYouMean(name, job_words);
}

class Parser {
 public:
  // `after` entries go to `refs` (JobDraft::refs); each distinct
  // `resources` list to `requests` (JobSpec::resource_requests); each
  // array's `each` to `arrays` (JobSpec::arrays).
  Parser(const JobLimits& limits, ProblemList* problems, std::vector<StepRef>* refs,
         std::vector<ResourceList>* requests, std::vector<ArraySpec>* arrays)
      : reader_(limits, problems), refs_(refs), requests_(requests), arrays_(arrays) {}

  void ParseRoot(const msgpack::object& root, JobDraft* draft);

 private:
  uint64_t Tick() { return reader_.Tick(); }
  void Report(uint64_t order, const PathNode* path, std::string message) {
    reader_.Report(order, path, std::move(message));
  }

  void ParseSteps(const msgpack::object& o, uint64_t order, const PathNode* path, JobDraft* draft);
  // One step's map, or with `in_defaults` the `defaults` map.
  void ParseStepMap(const msgpack::object& o, uint64_t order, const PathNode* path,
                    bool in_defaults, StepSpec* spec, StepDraft* step);
  void ParseField(Field field, const msgpack::object& o, uint64_t order, const PathNode* path,
                  bool is_array, StepSpec* spec, StepDraft* step);

  ValueReader reader_;
  std::vector<StepRef>* refs_;
  std::vector<ResourceList>* requests_;
  std::vector<ArraySpec>* arrays_;
  std::map<ResourceList, uint16_t> request_index_;  // into requests_, + 1
};

void Parser::ParseRoot(const msgpack::object& root, JobDraft* draft) {
  const uint64_t root_order = Tick();
  if (root.type != msgpack::type::MAP) {
    Report(root_order, nullptr,
           "expected a map of job fields (a JSON object), got " + DescribeValue(root));
    return;
  }
  std::vector<std::string_view> seen;
  for (const msgpack::object_kv& kv : std::span(root.via.map.ptr, root.via.map.size)) {
    const uint64_t order = Tick();
    if (kv.key.type != msgpack::type::STR) {
      Report(order, nullptr, std::string("field names must be strings, got ") + KindName(kv.key));
      continue;
    }
    const std::string_view name = StrView(kv.key);
    const PathNode path{nullptr, false, 0, name};
    const bool known =
        std::find(std::begin(kJobFields), std::end(kJobFields), name) != std::end(kJobFields);
    if (!known) {
      Report(order, &path, UnknownJobField(name));
      continue;
    }
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      Report(order, &path, "field given twice");
      continue;
    }
    seen.push_back(name);
    if (name == "name") {
      std::string_view text;
      if (!reader_.ReadString(kv.val, order, &path, &text)) continue;
      if (text.size() > kMaxNameBytes) {
        Report(order, &path, OverLength(text.size(), kMaxNameBytes));
      } else {
        draft->job.name = text;
      }
    } else if (name == "max_parallel") {
      int64_t n;
      if (reader_.ReadInteger(kv.val, order, &path, 1, kMaxParallel, &n)) {
        draft->job.max_parallel = static_cast<uint32_t>(n);
      }
    } else if (name == "lease") {
      reader_.ReadSeconds(kv.val, order, &path, kMaxDelaySeconds, "1 day", &draft->job.lease_ms);
    } else if (name == "abort_on_exit") {
      reader_.ReadExitCodes(kv.val, order, &path, &draft->job.abort_on_exit);
    } else if (name == "defaults") {
      ParseStepMap(kv.val, order, &path, /*in_defaults=*/true, &draft->defaults,
                   &draft->defaults_draft);
    } else {
      ParseSteps(kv.val, order, &path, draft);
    }
  }
  if (std::find(seen.begin(), seen.end(), "steps") == seen.end()) {
    Report(root_order, nullptr, "missing \"steps\" (the list of steps to run)");
  }
}

void Parser::ParseSteps(const msgpack::object& o, uint64_t order, const PathNode* path,
                        JobDraft* draft) {
  if (o.type != msgpack::type::ARRAY) {
    Report(order, path, "expected an array of steps, got " + DescribeValue(o));
    return;
  }
  const size_t count = o.via.array.size;
  if (count == 0) {
    Report(order, path, "needs at least one step");
    return;
  }
  if (count > reader_.limits().max_steps) {
    // Not worth examining one by one: the file is rejected whatever they hold.
    Report(order, path,
           "has " + std::to_string(count) + " steps, more than the limit of " +
               std::to_string(reader_.limits().max_steps));
    return;
  }
  draft->job.steps.resize(count);
  draft->steps.resize(count);
  for (size_t i = 0; i < count; ++i) {
    draft->steps[i].file_index = static_cast<uint32_t>(i);
    const PathNode step_path{path, true, i, {}};
    ParseStepMap(o.via.array.ptr[i], Tick(), &step_path, /*in_defaults=*/false,
                 &draft->job.steps[i], &draft->steps[i]);
  }
}

void Parser::ParseStepMap(const msgpack::object& o, uint64_t order, const PathNode* path,
                          bool in_defaults, StepSpec* spec, StepDraft* step) {
  step->order = order;
  if (o.type != msgpack::type::MAP) {
    Report(order, path,
           std::string(in_defaults ? "expected a map of step fields to default, got "
                                   : "expected a map of step fields, got ") +
               DescribeValue(o));
    return;
  }
  uint32_t seen = 0;
  // An array step's id may hold placeholders; `each` may come after it.
  bool is_array = false;
  for (const msgpack::object_kv& kv : std::span(o.via.map.ptr, o.via.map.size)) {
    if (kv.key.type == msgpack::type::STR && StrView(kv.key) == "each") is_array = !in_defaults;
  }
  for (const msgpack::object_kv& kv : std::span(o.via.map.ptr, o.via.map.size)) {
    const uint64_t field_order = Tick();
    if (kv.key.type != msgpack::type::STR) {
      Report(field_order, path,
             std::string("field names must be strings, got ") + KindName(kv.key));
      continue;
    }
    const std::string_view name = StrView(kv.key);
    const PathNode field_path{path, false, 0, name};
    const FieldInfo* info = FindStepField(name);
    if (info == nullptr) {
      Report(field_order, &field_path, UnknownStepField(name, in_defaults));
      continue;
    }
    if (in_defaults && info->not_in_defaults != nullptr) {
      Report(field_order, &field_path,
             std::string("not allowed in defaults (") + info->not_in_defaults + ")");
      continue;
    }
    if (seen & Bit(info->field)) {
      Report(field_order, &field_path, "field given twice");
      continue;
    }
    seen |= Bit(info->field);
    ParseField(info->field, kv.val, field_order, &field_path, is_array, spec, step);
  }
  if (in_defaults) return;
  step->names_stdin_from = seen & Bit(Field::kStdinFrom);
  if (!(seen & Bit(Field::kId))) Report(order, path, "missing \"id\"");
  const bool argv = seen & Bit(Field::kArgv);
  const bool cmd = seen & Bit(Field::kCmd);
  if (argv == cmd) {
    Report(order, path,
           std::string("needs exactly one of \"argv\" or \"cmd\", found ") +
               (argv ? "both" : "neither"));
  }
  if ((seen & Bit(Field::kStdin)) && step->names_stdin_from) {
    Report(order, path, "needs at most one of \"stdin\" or \"stdin_from\", found both");
  }
}

void Parser::ParseField(Field field, const msgpack::object& o, uint64_t order, const PathNode* path,
                        bool is_array, StepSpec* spec, StepDraft* step) {
  ValueReader& r = reader_;
  std::string_view text;
  int64_t n;
  switch (field) {
    case Field::kId:
      if (r.ReadId(o, order, path, &text, &step->id_valid, is_array)) {
        spec->id = text;
        step->has_id = true;
        step->id_order = order;
      }
      break;
    case Field::kArgv:
      step->argv_order = order;
      r.ReadArgv(o, order, path, &spec->argv);
      break;
    case Field::kCmd:
      step->argv_order = order;
      if (std::string cmd; r.ReadCommand(o, order, path, &cmd)) {
        spec->argv = {std::move(cmd)};
        spec->shell = true;
      }
      break;
    case Field::kAfter:
      step->after_begin = refs_->size();
      r.ReadStepRefs(o, order, path, refs_);
      step->after_end = refs_->size();
      break;
    case Field::kWhen:
      if (r.ReadWhen(o, order, path, &spec->when)) step->set |= kSetWhen;
      break;
    case Field::kStdin:
      step->stdin_order = order;
      if (r.ReadStdin(o, order, path, &spec->stdin_data)) step->set |= kSetStdin;
      break;
    case Field::kStdinFrom: {
      step->stdin_from_begin = refs_->size();
      bool stream = false;
      r.ReadStdinFrom(o, order, path, refs_, &stream);
      spec->stdin_stream = stream;
      step->stdin_from_end = refs_->size();
      break;
    }
    case Field::kEach: {
      step->each_order = order;
      ArraySpec each;
      r.ReadEach(o, order, path, &each);
      if (!each.empty()) {
        arrays_->push_back(std::move(each));
        spec->each = static_cast<uint32_t>(arrays_->size());
      }
      break;
    }
    case Field::kEnv:
      step->env_order = order;
      if (r.ReadEnv(o, order, path, &spec->env)) step->set |= kSetEnv;
      break;
    case Field::kCwd:
      step->cwd_order = order;
      if (r.ReadCString(o, order, path, &text, "a directory name")) {
        if (text.size() > kMaxCwdBytes) {
          r.Report(order, path, OverLength(text.size(), kMaxCwdBytes));
          break;
        }
        spec->cwd = text;
        step->set |= kSetCwd;
      }
      break;
    case Field::kTimeout:
      if (r.ReadTimeout(o, order, path, &spec->timeout_ms)) step->set |= kSetTimeout;
      break;
    case Field::kRetries:
      if (r.ReadInteger(o, order, path, 0, kMaxRetries, &n)) {
        spec->retries = static_cast<uint32_t>(n);
        step->set |= kSetRetries;
      }
      break;
    case Field::kRetryDelay:
      // 0 is allowed: a step may turn off the delay its defaults give it.
      if (r.ReadSeconds(o, order, path, kMaxDelaySeconds, "1 day", &spec->retry_delay_ms,
                        /*zero_ok=*/true)) {
        step->set |= kSetRetryDelay;
      }
      break;
    case Field::kRetryUnlessExit:
      if (r.ReadExitCodes(o, order, path, &spec->retry_unless_exit)) step->set |= kSetRetryUnlessExit;
      break;
    case Field::kSlots:
      if (r.ReadInteger(o, order, path, 1, kMaxSlots, &n)) {
        spec->slots = static_cast<uint32_t>(n);
        step->set |= kSetSlots;
      }
      break;
    case Field::kRequires:
      if (r.ReadRequires(o, order, path, &spec->requires_labels)) step->set |= kSetRequires;
      break;
    case Field::kPriority:
      if (r.ReadInteger(o, order, path, INT32_MIN, INT32_MAX, &n)) {
        spec->priority = static_cast<int32_t>(n);
        step->set |= kSetPriority;
      }
      break;
    case Field::kResources: {
      ResourceList list;
      if (!r.ReadResources(o, order, path, &list)) break;
      step->set |= kSetResources;
      if (list.empty()) break;  // asks for nothing (and overrides defaults)
      // Steps asking for the same share one entry.
      if (auto it = request_index_.find(list); it != request_index_.end()) {
        spec->resources = it->second;
      } else if (requests_->size() >= UINT16_MAX) {
        r.Report(order, path, "more different resource lists in one job than 65535");
      } else {
        requests_->push_back(list);
        spec->resources = static_cast<uint16_t>(requests_->size());
        request_index_.emplace(std::move(list), spec->resources);
      }
      break;
    }
    case Field::kDuration:
      if (r.ReadSeconds(o, order, path, kMaxDurationSeconds, "30 days", &spec->duration_ms)) {
        step->set |= kSetDuration;
      }
      break;
    case Field::kTimeRequest:
      if (r.ReadSeconds(o, order, path, kMaxDurationSeconds, "30 days", &spec->time_request_ms)) {
        step->set |= kSetTimeRequest;
      }
      break;
  }
}

}  // namespace

void ParseJob(const msgpack::object& root, const JobLimits& limits, JobDraft* draft,
              ProblemList* problems) {
  Parser(limits, problems, &draft->refs, &draft->job.resource_requests, &draft->job.arrays)
      .ParseRoot(root, draft);
}

void ApplyDefaults(const JobLimits& limits, JobDraft* draft, ProblemList* problems) {
  const StepDraft& defaults = draft->defaults_draft;
  if (defaults.set == 0) return;
  const StepSpec& d = draft->defaults;
  // Where each default variable sits in d.env, to merge in O(step's env).
  std::unordered_map<std::string_view, size_t> default_env;
  for (size_t i = 0; i < d.env.size(); ++i) default_env.emplace(d.env[i].first, i);

  for (size_t i = 0; i < draft->steps.size(); ++i) {
    const StepDraft& step = draft->steps[i];
    StepSpec& s = draft->job.steps[i];
    const uint32_t missing = defaults.set & ~step.set;
    if (missing & kSetWhen) s.when = d.when;
    // A step that reads another's output takes no default stdin.
    if ((missing & kSetStdin) && !step.names_stdin_from) s.stdin_data = d.stdin_data;
    if (missing & kSetCwd) s.cwd = d.cwd;
    if (missing & kSetTimeout) s.timeout_ms = d.timeout_ms;
    if (missing & kSetRetries) s.retries = d.retries;
    if (missing & kSetRetryDelay) s.retry_delay_ms = d.retry_delay_ms;
    if (missing & kSetRetryUnlessExit) s.retry_unless_exit = d.retry_unless_exit;
    if (missing & kSetSlots) s.slots = d.slots;
    if (missing & kSetRequires) s.requires_labels = d.requires_labels;
    if (missing & kSetPriority) s.priority = d.priority;
    if (missing & kSetDuration) s.duration_ms = d.duration_ms;
    if (missing & kSetResources) s.resources = d.resources;
    if (missing & kSetTimeRequest) s.time_request_ms = d.time_request_ms;
    if (missing & kSetEnv) {
      s.env = d.env;
    } else if ((defaults.set & kSetEnv) && (step.set & kSetEnv)) {
      // The defaults' variables in their order, each overridden by the step's
      // own value; then the step's other variables in its order.
      EnvList merged = d.env;
      for (auto& [name, value] : s.env) {
        auto it = default_env.find(name);
        if (it != default_env.end()) {
          merged[it->second].second = std::move(value);
        } else {
          merged.emplace_back(std::move(name), std::move(value));
        }
      }
      s.env = std::move(merged);
      const PathNode steps_path{nullptr, false, 0, "steps"};
      const PathNode step_path{&steps_path, true, i, {}};
      const PathNode env_path{&step_path, false, 0, "env"};
      const size_t bytes = EnvBytes(s.env);
      if (bytes > limits.max_env_bytes) {
        problems->Add(step.env_order, &env_path,
                      OverLimit(bytes, limits.max_env_bytes,
                                "a step's environment (with the variables from defaults.env)"));
      } else if (s.env.size() > limits.max_env_vars) {
        problems->Add(step.env_order, &env_path,
                      OverCount(s.env.size(), limits.max_env_vars,
                                "variables (with those from defaults.env)"));
      }
    }
  }
}

}  // namespace drover
