// The dashboard's JSON API (api_json.h).

#include "broker/http/api_json.h"

#include <charconv>

#include "broker/core/job_query.h"

namespace drover::broker::http {
namespace {

using nlohmann::json;

// A job's answer stays a size a page can take every second: past these,
// only the steps that did not succeed are listed (failed and running
// first; the counts cover all), the timeline has the latest attempts, and
// the output the first failed steps'. `submit info`, `logs` and `trace`
// have the rest. Each step carries its index, as a list may skip some.
constexpr size_t kMaxStepsListed = 5000;
constexpr size_t kMaxAttemptsListed = 5000;
constexpr size_t kMaxOutputsListed = 100;

json CountsJson(const std::vector<uint32_t>& counts) {
  json out = json::object();
  for (int i = 0; i < kStepStateCount; ++i) {
    const size_t at = static_cast<size_t>(i);
    out[StepStateName(static_cast<StepState>(i))] = at < counts.size() ? counts[at] : 0;
  }
  return out;
}

uint64_t StepsOf(const std::vector<uint32_t>& counts) {
  uint64_t total = 0;
  for (uint32_t c : counts) total += c;
  return total;
}

json ResourcesJson(const WorkerStatus& w) {
  json out = json::array();
  for (const ResourceAmount& r : w.resources) {
    uint64_t used = 0;
    for (const ResourceAmount& u : w.resources_used) {
      if (u.name == r.name) used = u.amount;
    }
    out.push_back({{"name", r.name}, {"total", r.amount}, {"used", used}});
  }
  return out;
}

json JobSummaryJson(const JobStatus& j) {
  return {{"id", j.id.value},
          {"name", j.name},
          {"state", JobStateName(j.state)},
          {"owner", j.owner},
          {"submitted_ms", j.submitted_ms},
          {"ended_ms", j.ended_ms},
          {"steps", StepsOf(j.counts)},
          {"counts", CountsJson(j.counts)},
          {"waiting", j.waiting},
          {"reason", j.reason}};
}

// How the run ended, as the step table and timeline show it.
void PutRun(const std::optional<RunResult>& run, json* out) {
  if (!run) {
    (*out)["outcome"] = nullptr;
    return;
  }
  (*out)["outcome"] = OutcomeName(run->outcome);
  (*out)["exit_code"] = run->exit_code;
  (*out)["signal"] = run->signal;
}

}  // namespace

Result<ListJobs> ParseJobsQuery(std::string_view state, std::string_view name,
                                std::string_view owner, std::string_view limit) {
  ListJobs query;
  query.limit = 100;
  if (!state.empty()) {
    bool known = false;
    for (int i = 0; i <= static_cast<int>(kJobStateMax); ++i) {
      if (state == JobStateName(static_cast<JobState>(i))) {
        query.states.push_back(static_cast<JobState>(i));
        known = true;
      }
    }
    if (!known) {
      std::string names;
      for (int i = 0; i <= static_cast<int>(kJobStateMax); ++i) {
        names += std::string(names.empty() ? "" : ", ") + JobStateName(static_cast<JobState>(i));
      }
      return Status::Error("state=" + std::string(state) + ": not a job state (" + names + ")");
    }
  }
  query.name_glob = name;
  query.owner = owner;
  if (!limit.empty()) {
    uint32_t n = 0;
    const auto [end, ec] = std::from_chars(limit.data(), limit.data() + limit.size(), n);
    if (ec != std::errc() || end != limit.data() + limit.size()) {
      return Status::Error("limit=" + std::string(limit) + ": not a count of jobs");
    }
    query.limit = n;  // 0: all
  }
  return query;
}

json OverviewJson(const Snapshot& snapshot, const ListJobs& query, std::string_view http_address) {
  json workers = json::array();
  for (const WorkerStatus& w : snapshot.workers) {
    workers.push_back({{"name", w.name},
                       {"host", w.host},
                       {"state", WorkerStateName(w)},
                       {"slots", w.slots},
                       {"slots_used", w.used},
                       {"resources", ResourcesJson(w)},
                       {"labels", w.labels},
                       {"heard_ms", w.heard_ms},
                       {"connected_ms", w.connected_ms},
                       {"silent_ms", w.silent_ms},
                       {"time_left_ms", w.time_left_ms},
                       {"slurm_job_id", w.slurm_job_id}});
  }
  const JobList chosen = SelectJobs(snapshot.jobs, query);
  json jobs = json::array();
  for (const JobStatus& j : chosen.jobs) jobs.push_back(JobSummaryJson(j));
  return {{"now_ms", snapshot.now_ms},
          {"broker", {{"started_ms", snapshot.started_ms}, {"http", http_address}}},
          {"workers", std::move(workers)},
          {"jobs", std::move(jobs)},
          {"jobs_matched", chosen.matched}};
}

json JobJson(const JobStatus& status, const JobSpec& spec, const JobHistory& history,
             const std::vector<WorkerLanes>& lanes, int64_t now_ms) {
  json out = JobSummaryJson(status);
  out["now_ms"] = now_ms;
  json steps = json::array();
  json output = json::object();
  json output_ids = json::object();
  const auto step_json = [&](uint32_t i) {
    const StepSpec& s = spec.steps[i];
    const StepHistory* h = i < history.size() ? &history.step(StepIndex(i)) : nullptr;
    json after = json::array();
    for (StepIndex a : s.after) after.push_back(a.value);
    json step = {{"index", i},
                 {"id", s.id},
                 {"after", std::move(after)},
                 {"cleanup", s.when == When::kAlways},
                 {"state", StepStateName(h ? h->state : StepState::kWaiting)},
                 {"attempts", h ? h->attempts : 0},
                 {"worker", h ? h->worker : ""},
                 {"reason", h ? h->reason : ""}};
    PutRun(h ? h->run : std::nullopt, &step);
    const RunResult* run = h && h->run ? &*h->run : nullptr;
    step["duration_ms"] = run ? run->duration_ms() : 0;
    step["cpu_ms"] = run ? (run->user_cpu_us + run->sys_cpu_us) / 1000 : 0;
    step["max_rss_kb"] = run ? run->max_rss_kb : 0;
    return step;
  };
  const auto state_of = [&](uint32_t i) {
    return i < history.size() ? history.step(StepIndex(i)).state : StepState::kWaiting;
  };
  const uint32_t n = static_cast<uint32_t>(spec.steps.size());
  if (n <= kMaxStepsListed) {
    for (uint32_t i = 0; i < n; ++i) steps.push_back(step_json(i));
  } else {
    // Too many to list: those that failed or run, then the rest that did
    // not succeed, as many as fit (what people look for in a big job).
    for (const bool urgent : {true, false}) {
      for (uint32_t i = 0; i < n && steps.size() < kMaxStepsListed; ++i) {
        const StepState st = state_of(i);
        const bool is_urgent = st == StepState::kFailed || st == StepState::kRunning;
        const bool done = st == StepState::kSucceeded || st == StepState::kNotNeeded;
        if (is_urgent == urgent && !done) steps.push_back(step_json(i));
      }
    }
  }
  for (uint32_t i = 0; i < n && output.size() < kMaxOutputsListed; ++i) {
    if (state_of(i) != StepState::kFailed) continue;
    std::vector<std::string> tail = history.Tail(StepIndex(i));
    if (tail.empty()) continue;
    output[std::to_string(i)] = std::move(tail);
    output_ids[std::to_string(i)] = spec.steps[i].id;
  }
  json attempts = json::array();
  const std::vector<AttemptRecord>& all = history.attempts();
  const size_t first = all.size() > kMaxAttemptsListed ? all.size() - kMaxAttemptsListed : 0;
  for (size_t k = first; k < all.size(); ++k) {
    const AttemptRecord& a = all[k];
    const std::string& step_id =
        a.step.value < spec.steps.size() ? spec.steps[a.step.value].id : std::string();
    json attempt = {{"step", a.step.value},
                    {"step_id", step_id},
                    {"attempt", a.attempt.value},
                    {"worker", a.worker},
                    {"lane", a.lane},
                    {"start_ms", a.start_ms},
                    {"end_ms", a.ended ? a.end_ms : 0},
                    {"state", StepStateName(a.state_after)},
                    {"reason", a.reason}};
    PutRun(a.run, &attempt);
    attempts.push_back(std::move(attempt));
  }
  json lanes_json = json::array();
  for (const WorkerLanes& w : lanes)
    lanes_json.push_back({{"worker", w.worker}, {"lanes", w.lanes}});
  out["steps_total"] = spec.steps.size();
  out["steps"] = std::move(steps);
  out["attempts_total"] = all.size();
  out["attempts"] = std::move(attempts);
  out["lanes"] = std::move(lanes_json);
  out["output"] = std::move(output);
  out["output_ids"] = std::move(output_ids);
  return out;
}

bool ShowsDetail(const JobStatus& status) { return StepsOf(status.counts) <= kMaxStepsShown; }

json JobSummaryOnlyJson(const JobStatus& status, int64_t now_ms) {
  json out = JobSummaryJson(status);
  const uint64_t steps = StepsOf(status.counts);
  out["now_ms"] = now_ms;
  out["steps_total"] = steps;
  out["steps"] = json::array();
  out["attempts_total"] = 0;
  out["attempts"] = json::array();
  out["lanes"] = json::array();
  out["output"] = json::object();
  out["output_ids"] = json::object();
  out["omitted"] = "this job has " + std::to_string(steps) +
                   " steps: the dashboard shows steps, attempts and output of jobs of up to " +
                   std::to_string(kMaxStepsShown) + " (submit info, logs and trace show all)";
  return out;
}

}  // namespace drover::broker::http
