#include "submitter/alloc_command.h"

#include <algorithm>
#include <string_view>

#include "shared/durations.h"
#include "shared/resources.h"

namespace drover::submit {
namespace {

std::string Quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

// `text` as a duration above 0, into `*ms`; the error names `flag`.
Status ReadDuration(const char* flag, const std::string& text, int64_t* ms) {
  std::optional<int64_t> parsed = ParseDurationMs(text);
  if (!parsed || *parsed <= 0) {
    return Status::Error(std::string(flag) +
                         ": expected a duration above 0 such as 3600, 90m, 12h or 1-00:00:00, "
                         "got " +
                         Quote(text));
  }
  *ms = *parsed;
  return Status::Ok();
}

// The --resource values as one ResourceList: sorted by name, each once.
Result<ResourceList> ReadResources(const std::vector<std::string>& flags) {
  ResourceList list;
  for (const std::string& flag : flags) {
    Result<WorkerResource> r = ParseResourceFlag(flag);
    if (!r.ok()) return Status::Error("--resource " + r.status().message());
    // The grammar's device lists ("gpus=0,1", "gpus=[3]") name devices of
    // one machine; the broker passes its workers amounts only, and "gpus=2"
    // there means devices 0 and 1 of whichever node they get.
    const std::string_view value = std::string_view(flag).substr(flag.find('=') + 1);
    if (value.find_first_of(",[") != std::string_view::npos) {
      return Status::Error("--resource " + Quote(flag) + ": give an amount (" + r->name + "=" +
                           std::to_string(r->amount) +
                           "), not device ids: which devices a node has is not known before "
                           "it is allocated");
    }
    if (r->amount == 0) {
      return Status::Error("--resource " + Quote(flag) + ": the amount must be above 0");
    }
    if (AmountOf(list, r->name) != 0) {
      return Status::Error("--resource " + r->name + " is given twice");
    }
    list.push_back(ResourceAmount{r->name, r->amount});
  }
  std::sort(list.begin(), list.end());
  return list;
}

// Worker options that have a flag of their own: the broker writes them into
// each worker's command line from the queue's parameters, and matches steps
// against them, so a second copy would contradict it (or stop the worker).
constexpr const char* kOwnFlags[] = {"--slots", "--label", "--resource", "--idle-timeout"};

Status CheckWorkerArgs(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    for (const char* own : kOwnFlags) {
      const std::string_view name(own);
      if (arg == name || (arg.starts_with(name) && arg.size() > name.size() &&
                          arg[name.size()] == '=')) {
        return Status::Error("--worker-arg " + Quote(arg) + ": give it as `submit alloc add " +
                             std::string(name) + "`, which the broker passes to the workers");
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Result<AllocQueueParams> AllocParamsFromFlags(const AllocAddFlags& flags) {
  AllocQueueParams p;
  p.manager = flags.manager;
  p.name = flags.name;
  if (flags.time_limit) {
    if (Status s = ReadDuration("--time-limit", *flags.time_limit, &p.time_limit_ms); !s.ok()) {
      return s;
    }
  }
  if (flags.idle_timeout) {
    if (Status s = ReadDuration("--idle-timeout", *flags.idle_timeout, &p.idle_timeout_ms);
        !s.ok()) {
      return s;
    }
  }
  if (flags.max_workers) p.max_workers = *flags.max_workers;
  if (flags.workers_per_alloc) p.workers_per_alloc = *flags.workers_per_alloc;
  if (flags.backlog) p.backlog = *flags.backlog;
  if (flags.slots) p.slots = *flags.slots;
  p.labels = flags.labels;
  Result<ResourceList> resources = ReadResources(flags.resources);
  if (!resources.ok()) return resources.status();
  p.resources = std::move(resources).value();
  if (Status s = CheckWorkerArgs(flags.worker_args); !s.ok()) return s;
  p.worker_args = flags.worker_args;
  if (!flags.sbatch_args.empty() && !flags.sbatch_args.front().starts_with('-')) {
    return Status::Error("sbatch arguments: " + Quote(flags.sbatch_args.front()) +
                         " is not an option; they go after -- and start with one "
                         "(-- --partition debug)");
  }
  p.sbatch_args = flags.sbatch_args;
  if (std::string why = CheckAllocQueueParams(p); !why.empty()) return Status::Error(why);
  return p;
}

}  // namespace drover::submit
