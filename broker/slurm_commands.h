// What the broker says to Slurm for automatic allocation, and how it reads
// the answers (docs/design/autoalloc.md): the batch script of an
// allocation, the command lines of sbatch, squeue, sacct and scancel, and
// parsers of what they print. Pure: no processes, no files; the broker runs
// these command lines with its CommandRunner (command_runner.h).
//
// The formats are those of Slurm 22.05 as run by tests/integration/slurm.h
// (and, for sacct, with slurmdbd); tests/broker/slurm_commands_test.cc
// quotes what it printed. In short:
//   - `sbatch --parsable` prints "ID\n", or "ID;CLUSTER\n" on a multi-cluster
//     setup; a refusal is exit 1 and "sbatch: error: ..." lines on stderr.
//   - `squeue --jobs=ID` fails (exit 1, "slurm_load_jobs error: Invalid job
//     id specified") when asked about one id it no longer knows, as after
//     MinJobAge (300 s by default) it no longer knows an ended job; with two
//     or more ids it lists those it knows. A failure that looks like a
//     controller that is down is no use to a poller, so SqueueArgv lists the
//     user's own jobs instead (`--me`), every state, ended ones included
//     while Slurm keeps them.
//   - sacct knows how jobs ended long ago, but only where Slurm keeps
//     accounting (slurmdbd); elsewhere it fails with exit 1 and "Slurm
//     accounting storage is disabled".
//   - A job's reason is stale once it has been cancelled: a job cancelled
//     while it waited keeps "Resources" or "Priority"; the reports below
//     leave it out.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/alloc_queue.h"
#include "shared/alloc_params.h"
#include "shared/status.h"

namespace drover::broker {

// "drover-q3-7": the Slurm job name of allocation `seq` of queue `queue`,
// how a restarted broker recognises its jobs.
std::string AllocJobName(AllocQueueId queue, uint32_t seq);

struct AllocScriptContext {
  std::string worker_path = {};     // the worker program, as the nodes see it
  std::string broker_address = {};  // what its workers connect to, tcp://host:port
  // With keys (docs/security.md): the workers' secret key and the broker's
  // broker.pub, as the nodes see them (a shared filesystem); "" for none.
  std::string key_file = {};
  std::string broker_key_file = {};
};

// The batch script of allocation `seq` of queue `queue`: srun starts one
// worker per node (--ntasks-per-node=1), each named after its node's short
// host name, with --broker, --slots, a --label per label, a --resource per
// resource (NAME=AMOUNT as the worker's --resource reads it), --idle-timeout
// (the queue's, in whole seconds rounded up, "300s"), --key and
// --broker-key with keys, then the queue's worker_args verbatim. Each
// worker keeps its state in ${TMPDIR:-/tmp}/drover-worker-$SLURM_JOB_ID-HOST
// on its node, removed when it stops. Every value is shell-quoted. The
// worker reads its time limit from its Slurm job itself.
std::string AllocScript(const AllocQueueParams& params, AllocQueueId queue, uint32_t seq,
                        const AllocScriptContext& ctx);

// Slurm's D-HH:MM:SS for `ms`, rounded up to the second ("0-00:00:59").
// Slurm itself rounds a time limit up to the minute.
std::string SlurmDuration(int64_t ms);

// sbatch --parsable --job-name=AllocJobName --nodes=K --time=D-HH:MM:SS
// --output=OUTPUT_PATH --ntasks-per-node=1 --cpus-per-task=SLOTS
// [--mem=MEM's MiB, if the queue declares mem] <params.sbatch_args
// verbatim, which win over ours> SCRIPT_PATH
std::vector<std::string> SbatchArgv(const AllocQueueParams& params, AllocQueueId queue,
                                    uint32_t seq, const std::string& script_path,
                                    const std::string& output_path);
// The job id in sbatch --parsable's stdout; the error quotes what it got.
Result<SlurmJobId> ParseSbatch(std::string_view out);

// What squeue or sacct said of one job.
struct SlurmJobReport {
  SlurmJobId id = 0;
  SlurmJobState state = SlurmJobState::kPending;
  // For people, in Slurm's words: "PENDING (Priority)", "RUNNING",
  // "FAILED (NonZeroExitCode)", "CANCELLED", "TIMEOUT"; from sacct
  // "FAILED (ExitCode 3:0)", "CANCELLED by 1000".
  std::string reason = {};
  bool operator==(const SlurmJobReport&) const = default;
};

// Asks about the jobs followed, one command for all: every job of the
// broker's user that Slurm still keeps, whatever its state (see above for
// why not --jobs). `ids` is not needed: the caller keeps the reports of
// the jobs it follows (AllocQueues ignores the others).
std::vector<std::string> SqueueArgv(const std::vector<SlurmJobId>& ids);
// Its output, a line per job. Skipped: lines that are not a plain job's
// (array and heterogeneous jobs: "123_4", "123+0"), and a last line with no
// newline, cut short at CommandRunner's kMaxOut; then jobs are missing too
// (CommandResult::truncated), so absence from a truncated answer means
// nothing.
std::vector<SlurmJobReport> ParseSqueue(std::string_view out);

// For ids that squeue no longer lists (or when squeue failed): how they
// ended, from accounting. Exit 1 where there is none (above).
// REQUIRES: !ids.empty()
std::vector<std::string> EndedArgv(const std::vector<SlurmJobId>& ids);
// Its output, as ParseSqueue's.
std::vector<SlurmJobReport> ParseEnded(std::string_view out);
// For an id that squeue no longer lists and sacct cannot tell about: it
// has ended, how is not known.
SlurmJobReport UnknownEnd(SlurmJobId id);

std::vector<std::string> ScancelArgv(SlurmJobId id);

// PENDING, CONFIGURING, REQUEUED... -> kPending; RUNNING, COMPLETING,
// SUSPENDED... (it holds its nodes) -> kRunning; everything else -> kEnded.
// `state` is a state's long name, as squeue's %T and sacct print it.
SlurmJobState SlurmStateOf(std::string_view state);

}  // namespace drover::broker
