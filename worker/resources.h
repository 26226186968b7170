// What a worker declares it has besides slots (`worker --resource`), and
// the memory it finds on its own. A resource given as a list of device ids
// (`gpus=0,1`) hands each step the ids it was given; `gpus` given as a count
// stands for devices 0 to count - 1. shared/resources.h has the grammar of
// names, amounts and `--resource` values (ParseResourceFlag); docs/jobs.md,
// "resources", what steps see.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shared/resources.h"
#include "shared/status.h"
#include "worker/core/resource_book.h"

namespace drover::worker {

// The memory this machine gives its processes: MemTotal from /proc/meminfo,
// or the cgroup's memory.max when that is lower (containers, Slurm jobs).
// 0 if neither can be read.
uint64_t DetectMemoryBytes();

// The worker's resources from its --resource flags (each name at most once),
// sorted by name; `mem` is detected when not given (and left out if 0).
Result<std::vector<WorkerResource>> DeclaredResources(const std::vector<std::string>& flags);

// The amounts alone, as the worker announces them in its hello.
ResourceList Amounts(const std::vector<WorkerResource>& resources);

// The variables that tell a step what it was given ("NAME=value", appended
// to `env`): DROVER_RESOURCE_<NAME> for each resource it asked for (the
// amount, or the device ids, comma-separated); for gpus also DROVER_GPUS
// and CUDA_VISIBLE_DEVICES. On a worker with gpus, a step that asked for
// none gets CUDA_VISIBLE_DEVICES empty: it sees no device another step holds.
void ResourceEnv(const std::vector<WorkerResource>& declared, const ResourceList& asked,
                 const Grant& grant, std::vector<std::string>* env);

}  // namespace drover::worker
