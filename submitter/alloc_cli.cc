#include "submitter/alloc_cli.h"

#include <CLI/CLI.hpp>
#include <limits>
#include <string>

#include "shared/durations.h"
#include "shared/help_format.h"

namespace drover::submit {

CLI::App* AllocCli::AddTo(CLI::App* app) {
  // The defaults in the help come from AllocQueueParams, where they live.
  const AllocQueueParams defaults;
  CLI::App* alloc = app->add_subcommand(
      "alloc", "Manage the broker's allocation queues: Slurm workers while work waits");
  alloc->require_subcommand(1);
  alloc->footer(
      "The commands: docs/submit.md, \"Allocation queues\".\n"
      "The whole story: docs/clusters.md, \"Automatic allocation\".");
  alloc->formatter(WrappingFormatter());  // before its commands: they inherit it

  AllocAddFlags& f = add_flags_;
  add_ = alloc->add_subcommand("add", "Create an allocation queue; sbatch arguments go after --");
  add_->footer(
      "submit alloc add slurm --time-limit DURATION [OPTIONS] [-- SBATCH ARGS...]\n"
      "DURATION: seconds (3600), 90m, 12h, 2d, or as Slurm writes it (1-00:00:00).\n"
      "The broker writes each allocation's batch script (a worker on each node); what "
      "follows -- goes to sbatch as given, e.g. -- --partition debug -A proj");
  add_->add_option("manager", f.manager, "The batch system: slurm (the only one so far)")
      ->type_name("")
      ->required();
  add_->add_option("--time-limit", f.time_limit, "Each allocation's Slurm time limit (--time)")
      ->type_name("DURATION")
      ->required();
  add_->add_option("--max-workers", f.max_workers,
                   "Nodes of all its allocations together, at most; default: no limit")
      ->type_name("N");
  add_->add_option("--workers-per-alloc", f.workers_per_alloc,
                   "Nodes per allocation, with a worker on each; default: " +
                       std::to_string(defaults.workers_per_alloc))
      ->type_name("K");
  add_->add_option("--backlog", f.backlog,
                   "Allocations waiting in Slurm's queue, at most; default: " +
                       std::to_string(defaults.backlog))
      ->type_name("B");
  add_->add_option("--idle-timeout", f.idle_timeout,
                   "Workers with nothing to do for this long leave and give their node back; "
                   "default: " +
                       ShortDuration(defaults.idle_timeout_ms))
      ->type_name("DURATION");
  add_->add_option("--name", f.name, "A name for people; default: queue ID");
  // The workers' shape: what the broker matches waiting steps against.
  // --slots has the range `worker --slots` takes, or every worker would
  // refuse it.
  add_->add_option("--slots", f.slots,
                   "Slots of each worker; default: " + std::to_string(defaults.slots))
      ->type_name("N")
      ->check(CLI::Range(1u, 1u << 20).description(""));
  // One value per repeat: a list option of CLI11's otherwise takes the
  // words after it too, and swallows a `--` that ends them, so that
  // sbatch's options would be read as submit's.
  add_->add_option("--label", f.labels, "A label of each worker; repeat")
      ->type_name("L")
      ->allow_extra_args(false);
  add_->add_option("--resource", f.resources,
                   "What each worker has besides slots, as for `worker --resource` (mem=64G, "
                   "gpus=4); repeat")
      ->type_name("NAME=AMOUNT")
      ->allow_extra_args(false);
  add_->add_option("--worker-arg", f.worker_args,
                   "One more argument for each worker, as given; repeat: --worker-arg --key "
                   "--worker-arg FILE")
      ->type_name("ARG")
      ->allow_extra_args(false);
  // After `--`, every word is positional: sbatch's, in order.
  add_->add_option("sbatch", f.sbatch_args, "Arguments for sbatch, after --")
      ->type_name("SBATCH ARGS");

  list_ = alloc->add_subcommand("list", "A line per allocation queue");
  info_ = alloc->add_subcommand(
      "info", "A queue's parameters and allocations (Slurm job, state, times, workers)");
  remove_ = alloc->add_subcommand(
      "remove", "Stop a queue: it asks for no more; its running allocations finish their steps");
  resume_ = alloc->add_subcommand("resume", "Let a queue paused after failures ask again");
  for (CLI::App* sub : {info_, remove_, resume_}) {
    sub->add_option("id", queue_, "The queue's ID (as `submit alloc list` shows it)")
        ->type_name("ID")
        ->required()
        ->check(CLI::Range(1u, std::numeric_limits<uint32_t>::max()).description(""));
  }
  remove_->add_flag("--now", now_, "Cancel its running allocations too");
  return alloc;
}

bool AllocCli::parsed() const {
  for (const CLI::App* sub : commands()) {
    if (sub->parsed()) return true;
  }
  return false;
}

std::string AllocCli::command_name() const {
  for (const CLI::App* sub : commands()) {
    if (sub->parsed()) return "alloc " + sub->get_name();
  }
  return "alloc";
}

Result<AllocRequest> AllocCli::Request() const {
  AllocRequest request;
  request.queue = queue_;
  if (add_->parsed()) {
    Result<AllocQueueParams> params = AllocParamsFromFlags(add_flags_);
    if (!params.ok()) return params.status();
    request.op = AllocOp::kAdd;
    request.params = std::move(params).value();
  } else if (list_->parsed()) {
    request.op = AllocOp::kList;
  } else if (info_->parsed()) {
    request.op = AllocOp::kInfo;
  } else if (remove_->parsed()) {
    request.op = AllocOp::kRemove;
    request.now = now_;
  } else {
    request.op = AllocOp::kResume;
  }
  return request;
}

}  // namespace drover::submit
