// `submit alloc add`: its flags as typed, turned into the parameters of a
// new allocation queue (shared/alloc_params.h; docs/submit.md, "Allocation
// queues"). Pure: no sockets and no CLI11, so that every mistake a user can
// make is tested here; submitter/alloc_cli.h puts the flags on the command
// line, main.cc sends the request.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shared/alloc_params.h"
#include "shared/status.h"

namespace drover::submit {

// The flags as typed. A flag not given is nullopt (or empty), and the
// queue keeps AllocQueueParams' default: the defaults live there alone.
// Numbers arrive as numbers (CLI11 reads them); durations and resources as
// text, read here so that an error can name the flag and its value.
struct AllocAddFlags {
  std::string manager = {};                        // the positional: "slurm"
  std::optional<std::string> time_limit = {};      // --time-limit (required)
  std::optional<std::string> idle_timeout = {};    // --idle-timeout
  std::optional<uint32_t> max_workers = {};        // --max-workers (0: no limit)
  std::optional<uint32_t> workers_per_alloc = {};  // --workers-per-alloc
  std::optional<uint32_t> backlog = {};            // --backlog
  std::string name = {};                           // --name
  std::optional<uint32_t> slots = {};              // --slots
  std::vector<std::string> labels = {};            // --label, repeated
  std::vector<std::string> resources = {};         // --resource NAME=AMOUNT, repeated
  std::vector<std::string> worker_args = {};       // --worker-arg, repeated
  std::vector<std::string> sbatch_args = {};       // everything after `--`
};

// The queue's parameters, checked as the broker will check them
// (CheckAllocQueueParams), or an error that names the flag and its value:
//   - durations as shared/durations.h reads them ("90m", "1-00:00:00"),
//     above 0;
//   - resources in `worker --resource`'s grammar (ParseResourceFlag), each
//     name once, each amount above 0, and no device lists: a node's devices
//     are not known before it is allocated;
//   - no --worker-arg for what has a flag of its own (--slots, --label,
//     --resource, --idle-timeout): the broker hands those to the workers;
//   - sbatch arguments start with an option ("--partition"): a stray word
//     before `--` lands among them, and sbatch would take it for a script.
Result<AllocQueueParams> AllocParamsFromFlags(const AllocAddFlags& flags);

}  // namespace drover::submit
