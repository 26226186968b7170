// What a worker started inside a Slurm job learns from Slurm: how long the
// job has left before Slurm ends it, so that the worker can leave first
// (AgentOptions::time_limit_ms) without being told `--time-limit`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace drover::worker {

// The Slurm job this process runs in ($SLURM_JOB_ID), or "" outside one.
std::string SlurmJobId();

// The time job `job_id` has left, as `squeue -h -o %L -j JOB` prints it;
// nullopt when it has no limit, or squeue cannot say (then `*why` says why,
// for the log). Runs squeue, so call it once, at start.
std::optional<int64_t> SlurmTimeLeftMs(const std::string& job_id, std::string* why);

}  // namespace drover::worker
