// The dashboard's JSON API (docs/dashboard.md, "The JSON API"): what
// /api/overview and /api/jobs/ID answer, made from a Snapshot and, for one
// job, its spec and history. Pure: no I/O, no clock (times come in).
//
// Times are Unix milliseconds; states and outcomes are named as the CLI
// prints them (shared/states.h). Counts name every step state, zeros too,
// so the page need not know the list.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "broker/http/snapshot.h"
#include "shared/job_history.h"
#include "shared/job_spec.h"

namespace drover::broker::http {

// What /api/overview's query string asks for: state, name (a glob), owner,
// limit. An error names the parameter and value: "state=bogus: not a job
// state (running, succeeded, failed, cancelled)".
Result<ListJobs> ParseJobsQuery(std::string_view state, std::string_view name,
                                std::string_view owner, std::string_view limit);

// Workers, and the jobs `query` picks (newest first), with how many matched.
nlohmann::json OverviewJson(const Snapshot& snapshot, const ListJobs& query,
                            std::string_view http_address);

// One job: its summary, its steps with their dependencies and latest
// attempts, every attempt with its lane, the lanes by worker, and the last
// lines of each failed step's output. `history` has lanes assigned. A big
// job's answer is cut to a size a page can poll (steps_total and
// attempts_total say what was left out; api_json.cc has the limits).
nlohmann::json JobJson(const JobStatus& status, const JobSpec& spec, const JobHistory& history,
                       const std::vector<WorkerLanes>& lanes, int64_t now_ms);

// The most steps a job may have for its answer to have them (and its
// attempts and output): reading a bigger job's log and file on every poll
// would cost the broker's machine more than a page is worth.
inline constexpr uint64_t kMaxStepsShown = 100'000;

// Whether JobJson is worth its cost for `status` (kMaxStepsShown).
bool ShowsDetail(const JobStatus& status);

// A job past kMaxStepsShown: its summary, the same fields as JobJson's
// with nothing in them, and `omitted` saying why and where to look.
nlohmann::json JobSummaryOnlyJson(const JobStatus& status, int64_t now_ms);

}  // namespace drover::broker::http
