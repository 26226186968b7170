// The JSON shapes `submit` prints for scripts (--json): a run's result, a
// job's step counts, a job and a worker as the broker reports them, one
// object per line. One place, so that the event stream and the queries
// spell the same thing the same way; docs/submit.md lists the fields.
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

#include "shared/protocol.h"

namespace drover::submit {

// outcome, exit_code, signal, error, started_ms, ended_ms, duration_ms,
// user_cpu_us, sys_cpu_us, max_rss_kb.
nlohmann::json RunFields(const RunResult& run);
// {"succeeded": 3, "failed": 1, ...}: every StepState by name.
nlohmann::json CountsJson(const std::vector<uint32_t>& counts);
// id, name, owner, owner_verified, state, counts, submitted_ms, ended_ms,
// reason, waiting.
nlohmann::json JobJson(const JobStatus& job);
// name, id, host, slots, busy, resources, resources_used, labels,
// connected_ms, heard_ms, out_of_touch_ms, time_left_ms, draining,
// slurm_job_id.
nlohmann::json WorkerJson(const WorkerStatus& worker);

// Writes `j` and a newline; output that is not valid UTF-8 is written with
// U+FFFD replacements.
void WriteJsonLine(FILE* out, const nlohmann::json& j);

}  // namespace drover::submit
