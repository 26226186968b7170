#include "shared/alloc_params.h"

#include <string_view>

#include "shared/labels.h"

namespace drover {
namespace {

// What the broker's batch script gives every worker itself
// (broker/slurm_commands.h, AllocScript): a second copy among worker_args
// stops the worker ("At Most 1 required but received 2") on every node.
constexpr const char* kScriptFlags[] = {"--broker", "--name", "--state-dir", "--slots",
                                        "--label", "--resource", "--idle-timeout"};

std::string ScriptFlagIn(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    for (std::string_view flag : kScriptFlags) {
      if (arg == flag || (arg.starts_with(flag) && arg.size() > flag.size() &&
                          arg[flag.size()] == '=')) {
        return std::string(flag);
      }
    }
  }
  return "";
}

}  // namespace

std::string CheckAllocQueueParams(const AllocQueueParams& p) {
  if (p.manager != "slurm") return "unknown manager \"" + p.manager + "\" (only slurm)";
  if (p.time_limit_ms <= 0) return "a time limit is needed (--time-limit)";
  if (p.workers_per_alloc == 0) return "--workers-per-alloc must be at least 1";
  if (p.backlog == 0) return "--backlog must be at least 1";
  if (p.max_workers != 0 && p.max_workers < p.workers_per_alloc) {
    return "--max-workers " + std::to_string(p.max_workers) + " is below --workers-per-alloc " +
           std::to_string(p.workers_per_alloc) + ": no allocation could ever be submitted";
  }
  if (p.slots == 0) return "--slots must be at least 1";
  if (p.idle_timeout_ms <= 0) return "--idle-timeout must be above 0";
  // A label a worker refuses would fail every allocation, at the far end.
  for (const std::string& label : p.labels) {
    if (!IsLabel(label)) return "--label \"" + label + "\": use only " + kLabelRule;
  }
  if (std::string why = CheckResourceList(p.resources); !why.empty()) return "--resource: " + why;
  // squeue and sacct are asked about this cluster's jobs only.
  for (const std::string& arg : p.sbatch_args) {
    if (arg == "-M" || arg.starts_with("-M") || arg == "--clusters" ||
        arg.starts_with("--clusters=") || arg == "--cluster" || arg.starts_with("--cluster=")) {
      return "sbatch option " + arg +
             ": allocations on another cluster cannot be followed; run a broker there";
    }
  }
  if (std::string flag = ScriptFlagIn(p.worker_args); !flag.empty()) {
    return "--worker-arg " + flag + ": the broker gives each worker its own " + flag +
           " (from the queue's options, or its own address and the node's name)";
  }
  return "";
}

}  // namespace drover
