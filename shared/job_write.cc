// JobSpecToJson (shared/job_load.h): the job file a loaded JobSpec amounts
// to, for `submit validate --expand`. Only what differs from a field's
// default is written, so the file reads like one a person would write.

#include <algorithm>
#include <nlohmann/json.hpp>
#include <span>

#include "shared/job_draft.h"
#include "shared/job_load.h"

namespace drover {
namespace {

using Json = nlohmann::ordered_json;

// Whole seconds as an integer, others as a fraction: reads back as `ms`.
Json Seconds(uint32_t ms) {
  if (ms % 1000 == 0) return ms / 1000;
  return ms / 1000.0;
}

Json ExitCodes(const std::vector<uint8_t>& codes) {
  Json list = Json::array();
  for (uint8_t code : codes) list.push_back(code);
  return list;
}

Result<Json> StepJson(const JobSpec& job, const StepSpec& s) {
  Json step = Json::object();
  step["id"] = s.id;
  if (s.shell) {
    step["cmd"] = s.argv.empty() ? "" : s.argv[0];
  } else {
    step["argv"] = s.argv;
  }
  Json after = Json::array();
  // `stdin_from` adds its steps to `after` by itself: they lead it.
  for (StepIndex a : std::span(s.after).subspan(s.stdin_from_count)) {
    after.push_back(job.steps[a.value].id);
  }
  if (!after.empty()) step["after"] = std::move(after);
  if (s.when != When::kSuccess) step["when"] = WhenName(s.when);
  if (s.stdin_data) {
    if (!IsValidUtf8(*s.stdin_data)) {
      return Status::Error("step " + Quote(s.id) +
                           ": a stdin that is not UTF-8 text cannot be written as JSON");
    }
    step["stdin"] = *s.stdin_data;
  }
  if (s.stdin_stream) {
    step["stdin_from"] = Json{{"step", job.steps[s.StdinFrom()[0].value].id}, {"stream", true}};
  } else if (s.StdinFrom().size() == 1) {
    step["stdin_from"] = job.steps[s.StdinFrom()[0].value].id;
  } else if (!s.StdinFrom().empty()) {
    Json from = Json::array();
    for (StepIndex p : s.StdinFrom()) from.push_back(job.steps[p.value].id);
    step["stdin_from"] = std::move(from);
  }
  if (!s.env.empty()) {
    Json env = Json::object();
    for (const auto& [name, value] : s.env) env[name] = value;
    step["env"] = std::move(env);
  }
  if (!s.cwd.empty()) step["cwd"] = s.cwd;
  if (s.timeout_ms != 0) step["timeout"] = Seconds(s.timeout_ms);
  if (s.retries != 0) step["retries"] = s.retries;
  if (s.retry_delay_ms != 0) step["retry_delay"] = Seconds(s.retry_delay_ms);
  if (!s.retry_unless_exit.empty()) step["retry_unless_exit"] = ExitCodes(s.retry_unless_exit);
  if (s.slots != 1) step["slots"] = s.slots;
  if (!s.requires_labels.empty()) step["requires"] = s.requires_labels;
  if (s.priority != 0) step["priority"] = s.priority;
  if (const ResourceList& wants = job.ResourcesOf(s); !wants.empty()) {
    Json resources = Json::object();
    for (const ResourceAmount& r : wants) resources[r.name] = r.amount;
    step["resources"] = std::move(resources);
  }
  if (s.duration_ms != 0) step["duration"] = Seconds(s.duration_ms);
  if (s.time_request_ms != 0) step["time_request"] = Seconds(s.time_request_ms);
  return step;
}

}  // namespace

Result<std::string> JobSpecToJson(const JobSpec& job) {
  Json head = Json::object();
  if (!job.name.empty()) head["name"] = job.name;
  if (job.max_parallel != 0) head["max_parallel"] = job.max_parallel;
  if (job.lease_ms != 0) head["lease"] = Seconds(job.lease_ms);
  if (!job.abort_on_exit.empty()) head["abort_on_exit"] = ExitCodes(job.abort_on_exit);
  // The job's fields indented, then one step a line: a million-step
  // expansion stays one line per step.
  std::string out = "{\n";
  for (const auto& [key, value] : head.items()) {
    try {
      out += "  " + Json(key).dump() + ": " + value.dump() + ",\n";
    } catch (const std::exception&) {
      // A name may hold any bytes in MessagePack.
      return Status::Error("the job's " + key + " is not UTF-8 text, which JSON cannot hold");
    }
  }
  out += "  \"steps\": [\n";
  for (size_t i = 0; i < job.steps.size(); ++i) {
    Result<Json> step = StepJson(job, job.steps[i]);
    if (!step.ok()) return step.status();
    try {
      out += "    " + step->dump() + (i + 1 < job.steps.size() ? ",\n" : "\n");
    } catch (const std::exception&) {
      return Status::Error("step " + Quote(job.steps[i].id) +
                           ": a string that is not UTF-8 text cannot be written as JSON");
    }
  }
  out += "  ]\n}\n";
  return out;
}

}  // namespace drover
