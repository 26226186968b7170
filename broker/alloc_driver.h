// AllocDriver: the broker's shell around its allocation queues
// (broker/core/alloc_queue.h; docs/clusters.md, "Automatic allocation").
// It carries out what the core decides (writes a batch script and runs
// sbatch for a Submit, scancel for a Cancel), follows the allocations in
// Slurm at a modest rate (squeue for all of them in one call, then how the
// ones squeue no longer lists ended), and gives what it learns back to the
// core. Every Slurm command runs on a CommandRunner's thread
// (broker/command_runner.h): the broker's loop only polls fd() and never
// waits for Slurm.
//
// No sockets and no journal of its own: after each call the Server journals
// what TakeRecords() returns, and replays those records into queues()
// before the first Turn().
//
// Contract with the Server:
//   - Turn(now, demand) each loop turn; it calls `demand` only when a tick
//     is due (every kTickMs), so computing the demand costs nothing between.
//   - StartCommands() once the turn's journal records are written: a
//     command's decision (AllocAsked before its sbatch) is on disk before
//     the command runs, so that a restart never uses a number twice.
//   - TakeResults(now) when fd() is readable.
//   - NextDue() is folded into the loop's poll timeout.
//   - Workers' hellos and departures go straight to queues()
//     (OnWorkerJoined/OnWorkerLeft) with the Slurm job id they said.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "broker/core/alloc_queue.h"
#include "broker/slurm_commands.h"

namespace drover::broker {

class CommandRunner;

class AllocDriver {
 public:
  // Weighing the demand is cheap (queues × ready classes), but each tick
  // may run sbatch: every few seconds is prompt enough for work that waits
  // minutes in Slurm's queue anyway.
  static constexpr int64_t kTickMs = 5'000;
  // How often Slurm is asked about the allocations: a site's controller
  // serves thousands of users, and an allocation's changes (it started, it
  // ended) matter on the scale of minutes. Workers connecting are seen at
  // once, without asking.
  static constexpr int64_t kPollMs = 15'000;
  // A Slurm command that has not answered by then is killed and counted as
  // failed (sbatch) or asked again at the next poll (squeue).
  static constexpr int64_t kCommandTimeoutMs = 60'000;

  struct Options {
    std::string script_dir;       // where batch scripts and their output go
    AllocScriptContext script;    // the worker program and the broker's address
    int64_t tick_ms = kTickMs;    // tests shorten these
    int64_t poll_ms = kPollMs;
    int64_t backoff_ms = kFailureBackoffFirstMs;
  };

  explicit AllocDriver(Options options);
  ~AllocDriver();
  AllocDriver(const AllocDriver&) = delete;
  AllocDriver& operator=(const AllocDriver&) = delete;

  AllocQueues& queues() { return queues_; }
  const AllocQueues& queues() const { return queues_; }
  const Options& options() const { return options_; }

  // The command runner's fd, readable while results wait; -1 before the
  // first command (a broker with no queue starts no thread).
  int fd() const;
  void Turn(Time now, const std::function<AllocDemand()>& demand);
  void TakeResults(Time now);
  void StartCommands();
  // When Turn next has something to do; -1: nothing until something changes.
  Time NextDue() const;
  // Weighs the demand at the next Turn (a queue was added or resumed).
  void TickSoon(Time now) { next_tick_ = now; }
  // Asks Slurm soon (a queue was just added or removed, or a restart).
  void PollSoon(Time now) { next_poll_ = now; }
  // Logs what changed since the last call: allocations that started or
  // ended, queues that paused. Turn and TakeResults call it; the Server
  // after it told queues() of workers.
  void LogChanges();

 private:
  enum class Kind { kSbatch, kScancel, kSqueue, kEnded };
  struct Pending {
    Kind kind = Kind::kSqueue;
    AllocQueueId queue = 0;
    uint32_t seq = 0;
    std::vector<SlurmJobId> ids = {};  // kSqueue, kEnded: asked about; kScancel: the one
  };

  void Act(const AllocAction& action, Time now);
  void Submit(const AllocSubmit& submit, Time now);
  void Poll(Time now);
  void Run(Pending pending, std::vector<std::string> argv);
  void OnSqueue(const Pending& p, int exit_code, const std::string& out, const std::string& err,
                Time now);
  void OnEnded(const Pending& p, int exit_code, const std::string& out, Time now);

  Options options_;
  AllocQueues queues_;
  std::unique_ptr<CommandRunner> runner_;
  std::map<uint64_t, Pending> pending_;  // by tag: queued or running
  std::vector<std::pair<uint64_t, std::vector<std::string>>> queued_;  // until StartCommands
  uint64_t next_tag_ = 1;
  bool polling_ = false;  // a squeue (or its follow-up) is out
  // What LogChanges saw last.
  std::map<std::pair<AllocQueueId, uint32_t>, AllocState> last_states_;
  std::set<AllocQueueId> paused_logged_;
  Time next_tick_ = 0;
  Time next_poll_ = 0;
};

}  // namespace drover::broker
