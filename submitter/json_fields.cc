#include "submitter/json_fields.h"

namespace drover::submit {

using nlohmann::json;

json RunFields(const RunResult& run) {
  json j;
  j["outcome"] = OutcomeName(run.outcome);
  j["exit_code"] = run.outcome == Outcome::kExited ? json(run.exit_code) : json(nullptr);
  j["signal"] = run.signal != 0 ? json(run.signal) : json(nullptr);
  if (!run.error.empty()) j["error"] = run.error;
  j["started_ms"] = run.started_ms;
  j["ended_ms"] = run.ended_ms;
  j["duration_ms"] = run.duration_ms();
  j["user_cpu_us"] = run.user_cpu_us;
  j["sys_cpu_us"] = run.sys_cpu_us;
  j["max_rss_kb"] = run.max_rss_kb;
  return j;
}

json CountsJson(const std::vector<uint32_t>& counts) {
  json j = json::object();
  for (size_t i = 0; i < counts.size() && i < kStepStateCount; ++i) {
    j[StepStateName(static_cast<StepState>(i))] = counts[i];
  }
  return j;
}

json JobJson(const JobStatus& job) {
  return {{"id", job.id.value},
          {"name", job.name},
          {"owner", job.owner.empty() ? json(nullptr) : json(job.owner)},
          {"owner_verified", job.owner_verified},
          {"state", JobStateName(job.state)},
          {"counts", CountsJson(job.counts)},
          {"submitted_ms", job.submitted_ms > 0 ? json(job.submitted_ms) : json(nullptr)},
          {"ended_ms", job.ended_ms > 0 ? json(job.ended_ms) : json(nullptr)},
          {"reason", job.reason},
          {"waiting", job.waiting}};
}

json WorkerJson(const WorkerStatus& w) {
  auto amounts = [](const ResourceList& list) {
    json j = json::object();
    for (const ResourceAmount& r : list) j[r.name] = r.amount;
    return j;
  };
  return {{"name", w.name},
          {"id", w.id.value},
          {"host", w.host},
          {"slots", w.slots},
          {"busy", w.used},
          {"resources", amounts(w.resources)},
          {"resources_used", amounts(w.resources_used)},
          {"labels", w.labels},
          {"connected_ms", w.connected_ms > 0 ? json(w.connected_ms) : json(nullptr)},
          {"heard_ms", w.heard_ms > 0 ? json(w.heard_ms) : json(nullptr)},
          {"out_of_touch_ms", w.silent_ms},
          {"time_left_ms", w.time_left_ms > 0 ? json(w.time_left_ms) : json(nullptr)},
          {"draining", w.draining},
          {"slurm_job_id", w.slurm_job_id > 0 ? json(w.slurm_job_id) : json(nullptr)}};
}

void WriteJsonLine(FILE* out, const json& j) {
  const std::string line = j.dump(-1, ' ', false, json::error_handler_t::replace);
  fwrite(line.data(), 1, line.size(), out);
  fputc('\n', out);
}

}  // namespace drover::submit
