// AllocQueueParams: what `submit alloc add` asks of the broker, the
// parameters of one allocation queue (automatic allocation, issue 16;
// docs/clusters.md, "Automatic allocation"). Shared because it travels in
// AllocRequest (protocol.h) and is journaled by the broker
// (broker/core/alloc_queue.h); checked on both sides by
// CheckAllocQueueParams, so `submit` reports a mistake before it connects and
// the broker refuses one from any other client.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shared/msgpack_adaptors.h"
#include "shared/resources.h"

namespace drover {

// Workers' default --idle-timeout: long enough to bridge the gap between two
// waves of a pipeline, short enough that idle nodes go back to the cluster.
inline constexpr int64_t kDefaultAllocIdleTimeoutMs = 5 * 60'000;

struct AllocQueueParams {
  std::string name = {};           // for people; "" is shown as "queue <id>"
  std::string manager = "slurm";   // the only one so far
  int64_t time_limit_ms = 0;       // each allocation's --time; > 0
  uint32_t max_workers = 0;        // nodes of all its unended allocations; 0: no limit
  uint32_t workers_per_alloc = 1;  // nodes per allocation, a worker on each
  uint32_t backlog = 1;            // allocations waiting in Slurm's queue, at most
  int64_t idle_timeout_ms = kDefaultAllocIdleTimeoutMs;  // its workers' --idle-timeout
  // The shape its workers will have (given to them as --slots, --label and
  // --resource): what the demand is matched against.
  uint32_t slots = 1;
  std::vector<std::string> labels = {};
  ResourceList resources = {};
  std::vector<std::string> worker_args = {};  // more worker options, verbatim
  std::vector<std::string> sbatch_args = {};  // sbatch options, verbatim
  bool operator==(const AllocQueueParams&) const = default;
  MSGPACK_DEFINE(name, manager, time_limit_ms, max_workers, workers_per_alloc, backlog,
                 idle_timeout_ms, slots, labels, resources, worker_args, sbatch_args)
};

// What is wrong with `params`, in the words of `submit alloc add`'s options,
// or "" if nothing.
std::string CheckAllocQueueParams(const AllocQueueParams& params);

}  // namespace drover
