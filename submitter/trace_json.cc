#include "submitter/trace_json.h"

#include <algorithm>
#include <string_view>
#include <unordered_map>

namespace drover::submit {

using nlohmann::json;

namespace {

constexpr int64_t kUsPerMs = 1000;

json SliceArgs(const AttemptRecord& a, const std::string& step_id) {
  json args = {{"step", step_id}, {"attempt", a.attempt.value}, {"worker", a.worker}};
  if (!a.ended) {
    args["outcome"] = "running";
    return args;
  }
  args["state_after"] = StepStateName(a.state_after);
  args["reason"] = a.reason;
  if (!a.run) return args;
  const RunResult& run = *a.run;
  args["outcome"] = OutcomeName(run.outcome);
  if (run.outcome == Outcome::kExited) args["exit_code"] = run.exit_code;
  if (run.signal != 0) args["signal"] = run.signal;
  if (!run.error.empty()) args["error"] = run.error;
  args["user_cpu_ms"] = static_cast<double>(run.user_cpu_us) / kUsPerMs;
  args["sys_cpu_ms"] = static_cast<double>(run.sys_cpu_us) / kUsPerMs;
  args["max_rss_kb"] = run.max_rss_kb;
  return args;
}

// Chrome's reserved colour names ("cname"), so that a failure stands out
// in chrome://tracing (Perfetto colours by name): one to be retried
// "bad", the last "terrible". Attempts that never ran or were killed on
// request keep the colour of their name.
const char* SliceColour(const AttemptRecord& a) {
  if (!a.ended || !a.run) return nullptr;
  switch (a.run->outcome) {
    case Outcome::kRetracted:
    case Outcome::kNotRun:
    case Outcome::kKilled:
      return nullptr;
    default:
      break;
  }
  if (a.run->succeeded()) return "good";
  return a.state_after == StepState::kReady ? "bad" : "terrible";
}

}  // namespace

json TraceJson(JobHistory& history, const TraceSubject& job, int64_t now_ms) {
  const std::vector<WorkerLanes> workers = history.AssignLanes(now_ms);
  json events = json::array();
  for (size_t w = 0; w < workers.size(); ++w) {
    const int pid = static_cast<int>(w) + 1;
    events.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", pid}, {"tid", 0},
                      {"args", {{"name", workers[w].worker}}}});
    events.push_back({{"name", "process_sort_index"}, {"ph", "M"}, {"pid", pid}, {"tid", 0},
                      {"args", {{"sort_index", pid}}}});
    for (uint32_t lane = 0; lane < workers[w].lanes; ++lane) {
      const int tid = static_cast<int>(lane) + 1;
      events.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", pid}, {"tid", tid},
                        {"args", {{"name", "slot " + std::to_string(tid)}}}});
      events.push_back({{"name", "thread_sort_index"}, {"ph", "M"}, {"pid", pid}, {"tid", tid},
                        {"args", {{"sort_index", tid}}}});
    }
  }
  std::unordered_map<std::string_view, int> pids;  // AssignLanes listed every worker
  for (size_t w = 0; w < workers.size(); ++w) pids.emplace(workers[w].worker, static_cast<int>(w) + 1);
  size_t not_drawn = 0;
  for (const AttemptRecord& a : history.attempts()) {
    if (a.start_ms <= 0) {
      ++not_drawn;
      continue;
    }
    const int64_t end = a.ended ? a.end_ms : std::max(now_ms, a.start_ms);
    const std::string& id = a.step.value < job.step_ids.size()
                                ? job.step_ids[a.step.value]
                                : "#" + std::to_string(a.step.value);
    json slice = {{"name", id},
                  {"cat", a.ended && a.run ? OutcomeName(a.run->outcome) : "running"},
                  {"ph", "X"},
                  {"ts", a.start_ms * kUsPerMs},
                  {"dur", (end - a.start_ms) * kUsPerMs},
                  {"pid", pids.at(a.worker)},
                  {"tid", static_cast<int>(a.lane) + 1},
                  {"args", SliceArgs(a, id)}};
    if (const char* colour = SliceColour(a)) slice["cname"] = colour;
    events.push_back(std::move(slice));
  }
  json other = {{"job", job.job},
                {"name", job.name},
                {"state", history.ended() ? JobStateName(history.ended()->state) : "running"},
                {"clock", "Unix time; an attempt's times are its worker's clock, a running or "
                          "lost one's start the broker's"}};
  if (not_drawn > 0) other["attempts_not_drawn"] = not_drawn;
  return {{"traceEvents", std::move(events)},
          {"displayTimeUnit", "ms"},
          {"otherData", std::move(other)}};
}

std::string TraceText(const json& trace) {
  auto dump = [](const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); };
  std::string text = "{\"traceEvents\":[";
  const json& events = trace.at("traceEvents");
  for (size_t i = 0; i < events.size(); ++i) {
    text += i == 0 ? "\n" : ",\n";
    text += dump(events[i]);
  }
  text += "\n]";
  for (const auto& [key, value] : trace.items()) {
    if (key == "traceEvents") continue;
    text += ",\n" + dump(json(key)) + ":" + dump(value);
  }
  text += "}\n";
  return text;
}

}  // namespace drover::submit
