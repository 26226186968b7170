// Scheduler: the broker's pure core. It owns every accepted graph and the
// worker pool, advances chains as results arrive, and decides which ready
// step runs where. It opens no socket, reads no clock and writes no file:
// time comes in as `now`, and every effect leaves through the Outbox. The
// ZeroMQ shell (broker/server.h) decodes a message, calls one entry point,
// then runs Schedule() once per loop turn and flushes the outbox.
//
// Not thread-safe; one loop owns it.
//
// Policy:
//   - Within a graph: priority (higher first), then the order steps became
//     ready (FIFO). A step runs only on a worker with enough free slots and
//     all its `requires` labels; among those, on the one with most free slots.
//   - Between graphs: fair share. Each dispatch goes to the graph currently
//     holding the fewest slots (oldest graph on ties), so a small graph
//     submitted behind a huge one starts at once.
//   - max_parallel caps a graph's running steps.
//   - An attempt that fails is retried (new attempt number) while the step
//     has retries left; then the step is kFailed and its dependents settle.
//   - An attempt lost with its worker goes back to the queue without using a
//     retry, up to kMaxLosses times; then the step fails with that reason.
//   - Cancelling settles waiting/ready steps as kCancelled at once and kills
//     running ones; the graph ends when their results (or losses) are in.
//   - Following: when a step is dispatched, a dependent whose only after-step
//     it is (when: success, no stdin_from, no wider than it) is sent along to
//     the same worker, to start in the freed slot the moment the first exits
//     0, so a chain advances without a round trip through the broker. At most
//     one follower per step, but followers can follow followers as far as
//     the worker's room goes; only while the worker's prefetch is open (its
//     steps are short), never in an idle slot a ready step could use, and
//     not while another graph waits for slots (fair share decides). It is
//     kRunning and `conditional` until its predecessor's success arrives
//     (then StepStarted is published); if the predecessor fails, is retried
//     or is lost, the follower goes back to kWaiting (the worker drops it and
//     reports kNotRun, a result that is then stale).
//
// Cost: each entry point costs O(what it touches), never O(steps in the
// graph), except OnSubmit (builds the graph) and OnCancel (settles it).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "broker/job.h"
#include "broker/worker_pool.h"
#include "shared/job_spec.h"
#include "shared/protocol.h"

namespace drover::broker {

// Every effect the scheduler has on the world.
class Outbox {
 public:
  virtual ~Outbox() = default;
  // Run attempt `key` on `worker`; the task's details are in the job's spec.
  // With `after`, the worker starts it only once that attempt (of the same
  // job, on the same worker) has exited 0.
  virtual void Dispatch(WorkerId worker, const TaskKey& key, std::optional<TaskKey> after) = 0;
  // Stop attempt `key` on `worker`. Its result will still arrive.
  virtual void Kill(WorkerId worker, const TaskKey& key) = 0;
  // An event of job `job`, for its event log and its followers.
  virtual void Publish(JobId job, const Event& event) = 0;
};

struct SchedulerOptions {
  // A worker silent for longer than this is lost.
  int64_t worker_timeout_ms = int64_t{kHeartbeatMs} * kHeartbeatLiveness;
  // Lost attempts a step may have before it is failed.
  uint32_t max_losses = 3;
};

class Scheduler {
 public:
  Scheduler(Outbox* outbox, SchedulerOptions options = {});

  // Accepts a validated graph under a new id (REQUIRES: LoadJob produced
  // `spec`; `id` is unused). Steps with nothing to wait for become ready.
  void OnSubmit(JobId id, JobSpec spec, Time now);
  // Returns false if there is no such unfinished job.
  bool OnCancel(JobId job, Time now);

  WorkerId OnWorkerJoined(WorkerInfo info, Time now);
  // Any message from a worker proves it alive.
  void OnWorkerHeard(WorkerId worker, Time now);
  // The worker left or went silent: its running attempts are lost.
  void OnWorkerLost(WorkerId worker, std::string_view reason, Time now);

  // Output and results from a worker. Anything for an attempt that is not
  // the step's current one on that worker is dropped.
  void OnStepOutput(WorkerId from, TaskOutput output);
  void OnStepExited(WorkerId from, const TaskResult& result, Time now);

  // Declares silent workers lost.
  void OnTick(Time now);
  // One placement pass: dispatches ready steps while workers have room.
  void Schedule(Time now);

  // Throws std::logic_error naming the first broken invariant.
  void CheckInvariants() const;

  const Job* FindJob(JobId job) const;
  const Worker* FindWorker(WorkerId worker) const { return pool_.Find(worker); }
  const WorkerPool& pool() const { return pool_; }
  const std::map<JobId, std::unique_ptr<Job>>& jobs() const { return jobs_; }
  StatusReply Status() const;

 private:
  Job* MutableJob(JobId job);
  // Runs `s` (just popped from its queue) on `worker`.
  void Start(Job* job, StepIndex s, Worker* worker);
  // The attempt of `s` that was running has ended (result or loss).
  void EndAttempt(Job* job, StepIndex s, const RunResult& run, const std::string& worker_name);
  void MakeReady(Job* job, StepIndex s);
  // Puts `s` in final state `state`, then decides every dependent that this
  // settles, and ends the job if nothing is left.
  void Settle(Job* job, StepIndex s, StepState state, std::string reason,
              const std::string& worker, std::optional<RunResult> run, Attempt attempt);
  // Puts `s` in final state `state` and appends to `decide` the dependents
  // whose after-steps are now all final.
  void Finish(Job* job, StepIndex s, StepState state, std::string reason,
              const std::string& worker, std::optional<RunResult> run, Attempt attempt,
              std::vector<StepIndex>* decide);
  // Applies each listed step's `when` rule: it becomes ready, or is settled
  // without running (which may list more steps). The one place `when` is read.
  void DecideAll(Job* job, std::vector<StepIndex>* decide);
  void MaybeFinish(Job* job);
  // Sends a dependent of `s` along to follow it on `worker`, if one
  // qualifies, and then one to follow that, and so on while there is room.
  void TryFollow(Job* job, StepIndex s, Worker* worker);
  // The step following `s`, if any.
  std::optional<StepIndex> FollowerOf(const Job* job, StepIndex s) const;
  // A follower goes back to kWaiting, and so do the steps following it;
  // `release` frees its worker slot too (false when the caller already did).
  void Unfollow(Job* job, StepIndex d, bool release);
  // Unfollows the follower of `s`, whose attempt ended without success.
  void UnfollowDependents(Job* job, StepIndex s);

  Outbox* outbox_;
  SchedulerOptions options_;
  WorkerPool pool_;
  std::map<JobId, std::unique_ptr<Job>> jobs_;
  std::set<JobId> jobs_with_ready_;  // unfinished jobs with queued steps
  uint64_t pass_ = 0;
  std::vector<StepIndex> promoted_;  // followers whose predecessor just succeeded
};

}  // namespace drover::broker
