// A job's attempts as a Chrome trace: the JSON Object Format of the Trace
// Event Format, which Perfetto (ui.perfetto.dev) and chrome://tracing open.
// Pure: it turns a JobHistory into JSON; `submit trace` (trace_command.cc)
// reads the log and writes the file.
//
// The picture: a process per worker (pid 1, 2, ... in the order of their
// first attempt; named by a process_name event), a thread per lane of that
// worker (tid = lane + 1, named "slot N" with N = tid), and one complete
// ("X") event per attempt, named by its step id, from its start to its end
// (one still running: to `now_ms`). ts and dur are microseconds; ts is Unix
// time, from the clocks JobHistory says (the workers', mostly). Lanes are
// JobHistory::AssignLanes's: attempts that overlapped in time on a worker,
// not the worker's own numbering of its slots.
//
// Each slice's args: step, attempt, worker, outcome ("running" while it
// runs), exit_code or signal, state_after (the step's state once it
// ended), reason, error, user_cpu_ms, sys_cpu_ms, max_rss_kb (those of the
// run, once it ended). Its category ("cat") is the outcome. An attempt
// whose start is not known (a log from before brokers kept it) has no
// slice; otherData.attempts_not_drawn counts them.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "shared/job_history.h"

namespace drover::submit {

struct TraceSubject {
  uint64_t job = 0;
  std::string name;                   // the job's; may be empty
  std::vector<std::string> step_ids;  // by step index
};

// The trace of `history`'s attempts (assigning their lanes: AssignLanes).
// REQUIRES: job.step_ids.size() == history.size()
nlohmann::json TraceJson(JobHistory& history, const TraceSubject& job, int64_t now_ms);

// `trace` as text: compact, one trace event per line, ending in a newline.
// Strings that are not valid UTF-8 get U+FFFD in place of bad bytes.
std::string TraceText(const nlohmann::json& trace);

}  // namespace drover::submit
