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
//   - Within a graph: priority (higher first), then rank (the work on the
//     longest path below the step: critical path first, job.h), then the
//     order steps became ready (FIFO). A step runs only on a worker with
//     enough free slots, all its `requires` labels and every resource amount
//     it asks for free (worker_pool.h); among those, on the one with most
//     idle slots. What a step took when it succeeded is learned per command
//     shape, and may reorder the ready steps (Job::Rerank).
//   - Between graphs: fair share. Each dispatch goes to the graph currently
//     holding the fewest slots (oldest graph on ties), so a small graph
//     submitted behind a huge one starts at once.
//   - max_parallel caps a graph's running steps.
//   - An attempt that fails is retried (new attempt number) while the step
//     has retries left, after retry_delay doubled for each retry before it,
//     unless it exited with a code in retry_unless_exit; then the step is
//     kFailed and its dependents settle. An exit code in the job's
//     abort_on_exit fails the step and cancels the rest of the job.
//   - Leases: a worker silent for worker_timeout_ms is disconnected; its
//     attempts stay theirs for the job's lease (counted from when it was last
//     heard), because it may be cut off but still running them. A worker
//     heard again keeps them; a worker that says hello again (same instance)
//     is reconciled against what it says it holds. An attempt whose lease
//     runs out, or whose worker leaves or is replaced by a restart, is lost:
//     it goes back to the queue without using a retry, up to max_losses
//     times; then the step fails with that reason.
//   - Ready steps that no connected worker could ever run (labels, slots or
//     resources that none has) wait, and after kReportWaitingMs the job is
//     told why (a StepWaiting event per class of such steps, again if the
//     reason changes): a worker that has it may join yet.
//   - Cancelling (on request, or by abort_on_exit) settles waiting/ready
//     steps as kCancelled at once and kills running ones, except cleanup
//     steps (`when: always`): one running goes on, and one not started runs
//     once its after-steps are final (those being killed: once their
//     results are in), as it would have had the job not been cancelled; its
//     retries, leases and losses work as ever. The graph ends when the
//     killed steps' results (or losses) are in and the cleanup has ended.
//     Cancelling "now" (or again so, during cleanup) stops the cleanup
//     steps too: the running ones are killed, the others cancelled.
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
//   - Streams: a step with a streamed stdin_from starts once its producer
//     has started; both run only in idle slots; a producer attempt that
//     fails withdraws its readers, and readers that are done close its
//     stdout (scheduler_streams.cc).
//   - Nothing queued stays stranded: when a worker has idle slots and no
//     ready step fits it, steps that another worker holds beyond its slots
//     (queued there, not started) are asked back (Outbox::Retract), newest
//     first, as many slot units as the idle worker has. The worker gives
//     back those it has not started (a kRetracted result: the step is ready
//     again, without using a retry, and its next dispatch gets a new attempt
//     number, so the old one can never run) and declines the others
//     (OnRetractDeclined). Each attempt is asked back at most once.
//
// Cost: each entry point costs O(what it touches), never O(steps in the
// graph), except OnSubmit (builds the graph) and OnCancel (settles it).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/job.h"
#include "broker/core/worker_pool.h"
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
  // Attempt `key` was given up as lost: a decision the journal must record,
  // since it depends on time and connections that recovery cannot replay.
  virtual void AttemptLost(const TaskKey& key, const std::string& reason) = 0;
  // Ask `worker` to give attempt `key` back if it has not started it.
  virtual void Retract(WorkerId worker, const TaskKey& key) = 0;
  // Close the reading end of attempt `key`'s stdout on `worker`: every
  // reader of its stream is done (scheduler_streams.cc).
  virtual void CloseOutput(WorkerId worker, const TaskKey& key) = 0;
};

// How long ready steps that no connected worker could run wait before the
// job is told why: long enough that workers reconnecting after a broker
// restart (1 s backoff, jittered) or starting beside it are not reported
// missing, short enough that a user sees it while still looking.
inline constexpr Time kReportWaitingMs = 2000;

struct SchedulerOptions {
  // A worker silent for longer than this is disconnected.
  int64_t worker_timeout_ms = int64_t{kHeartbeatMs} * kHeartbeatLiveness;
  // How long a disconnected worker's attempts stay its own, unless the job
  // sets its own lease.
  int64_t lease_ms = 30'000;
  // Lost attempts a step may have before it is failed.
  uint32_t max_losses = 3;
};

class Scheduler {
 public:
  Scheduler(Outbox* outbox, SchedulerOptions options = {});

  // Accepts a validated graph under a new id (REQUIRES: LoadJob produced
  // `spec`; `id` is unused). Steps with nothing to wait for become ready.
  // `succeeded`, when given, marks steps that succeeded in the job this one
  // resumes (`resumed_from`): they start out succeeded.
  void OnSubmit(JobId id, JobSpec spec, Time now, const std::vector<bool>* succeeded = nullptr,
                JobId resumed_from = JobId());
  // Cancels the job; with `cleanup` its cleanup steps still run (policy
  // above), without it they stop too, also when the job was cancelled
  // before with cleanup. Returns false if there is no such unfinished job.
  bool OnCancel(JobId job, Time now, bool cleanup = true);

  // A worker says hello. If its instance is known (it reconnected, or the
  // broker restarted), it gets its old id back and is reconciled: attempts
  // the broker gave it that are not in `held` (what it still has: running,
  // queued, or finished and not yet acknowledged) are lost; attempts in
  // `held` that are no longer its own are killed.
  WorkerId OnWorkerHello(WorkerInfo info, const std::vector<TaskKey>& held, Time now);
  WorkerId OnWorkerJoined(WorkerInfo info, Time now) { return OnWorkerHello(std::move(info), {}, now); }
  // Any message from a worker proves it alive (and reconnects it).
  void OnWorkerHeard(WorkerId worker, Time now);
  // The worker left, or was replaced by a restart: its attempts are lost now.
  void OnWorkerLost(WorkerId worker, std::string_view reason, Time now);
  // The worker takes no new steps from now on (it drains: it was asked to,
  // or it was idle long enough); it leaves when done.
  void OnWorkerDraining(WorkerId worker);
  // The broker stopped listening to the worker (its key was taken off the
  // allow-list): it is out of touch from now on and gets no new work; its
  // attempts run out their leases as if it had gone silent.
  void OnWorkerShutOut(WorkerId worker);

  // Output and results from a worker. Anything for an attempt that is not
  // the step's current one on that worker is dropped.
  void OnStepOutput(WorkerId from, TaskOutput output);
  void OnStepExited(WorkerId from, const TaskResult& result, Time now);
  // The worker could not give these attempts back: they had started.
  void OnRetractDeclined(WorkerId from, const std::vector<TaskKey>& keys);

  // Disconnects silent workers, and loses attempts whose lease has run out.
  void OnTick(Time now);
  // One placement pass: releases retries that are due, dispatches ready
  // steps while workers have room, then asks back queued steps for workers
  // left idle.
  void Schedule(Time now);
  // When the next delayed retry is due (-1: none); leases are tick-checked.
  Time NextWakeup() const;

  // Recovery (broker/recovery.h) re-applies journaled decisions without
  // taking new ones: while replaying, nothing is placed or followed.
  void SetReplaying(bool replaying);
  // Attempt `key` was dispatched to the worker of that instance (created as
  // disconnected if it is not known yet).
  void ReplayDispatch(const TaskKey& key, const std::string& instance,
                      const std::string& worker_name, std::optional<TaskKey> after, Time now);
  void ReplayResult(const std::string& instance, const TaskResult& result, Time now);
  void ReplayLost(const TaskKey& key, const std::string& reason, Time now);
  // Ends replaying: ready queues are rebuilt from the steps' states.
  void FinishReplay(Time now);

  // A step of a running job as a snapshot holds it (broker/recovery.h).
  struct StepSnapshot {
    StepState state = StepState::kWaiting;
    uint32_t attempt = 0;
    uint32_t failures = 0;
    uint32_t losses = 0;
    uint32_t worker = 0;  // when running: index into RestoreJob's `workers`
    bool conditional = false;
  };
  // A running job from a snapshot, each step as recorded; what follows from
  // the steps' states (dependency counts, queues) is worked out again.
  // `workers` are (instance, name) pairs; `cleanup`: a cancelled job's
  // cleanup steps still run. REQUIRES: replaying.
  void RestoreJob(JobId id, JobSpec spec, const std::vector<StepSnapshot>& steps,
                  const std::vector<std::pair<std::string, std::string>>& workers,
                  const std::string* cancel_reason, bool aborted, bool cleanup, Time now);

  // Throws std::logic_error naming the first broken invariant.
  void CheckInvariants() const;

  const Job* FindJob(JobId job) const;
  const Worker* FindWorker(WorkerId worker) const { return pool_.Find(worker); }
  const Worker* FindWorkerByInstance(const std::string& instance) {
    return pool_.FindInstance(instance);
  }
  // Forgets a job that has ended (REQUIRES: finished); the broker keeps a
  // summary of it instead.
  void ReleaseJob(JobId job);
  const WorkerPool& pool() const { return pool_; }
  // How long a worker out of touch keeps an attempt of `job`: the job's own
  // lease, else the broker's. The one place that rule is written.
  int64_t LeaseOf(const Job* job) const;
  const std::map<JobId, std::unique_ptr<Job>>& jobs() const { return jobs_; }
  // Workers and running jobs as `submit status` shows them. `wall_now` is
  // the wall clock (ms since the Unix epoch) at `now`, for the times shown
  // to people (a worker's connected_ms and heard_ms); 0 leaves those 0.
  StatusReply Status(Time now, int64_t wall_now = 0) const;
  // The two halves of Status, for questions that need only one.
  std::vector<WorkerStatus> WorkerStatuses(Time now, int64_t wall_now = 0) const;
  std::vector<JobStatus> JobStatuses() const;

 private:
  Job* MutableJob(JobId job);
  // Runs `s` (just popped from its queue) on `worker`.
  void Start(Job* job, StepIndex s, Worker* worker);
  // Gives up an attempt of `key` held by `worker` (released here).
  void Lose(Worker* worker, const TaskKey& key, const std::string& reason, Time now);
  // Settles every step not started as cancelled and kills the running
  // ones, cleanup steps apart while they still run (Job::Cleans). With
  // `stopping_cleanup` the job was cancelled before, with cleanup: only
  // its cleanup steps are left to stop (the others had their kill then).
  // REQUIRES: the job is marked cancelled.
  void CancelRest(Job* job, bool stopping_cleanup = false);
  // The attempt of `s` that was running has ended (result or loss).
  void EndAttempt(Job* job, StepIndex s, const RunResult& run, const std::string& worker_name,
                  Time now);
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
  // Notes in `dr` that its after-step `s` ended in `state` (for `when` and
  // the reasons given for skips).
  static void NoteAfterStepEnded(StepRun* dr, StepIndex s, StepState state);
  // The worker of that instance, or a new disconnected one standing for it.
  Worker* WorkerOfInstance(const std::string& instance, const std::string& name, Time now);
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
  // Dispatches ready steps while workers have room (fair share first).
  void Place(Time now);
  // Tells jobs about ready steps no connected worker could ever run, once
  // they have waited kReportWaitingMs; sets waiting_due_.
  void WatchWaiting(Time now);
  // Asks other workers for queued steps that workers left idle could run
  // now (scheduler_retract.cc).
  void RetractForIdle(Time now);

  // Streams (scheduler_streams.cc). Producer `p`'s attempt has started:
  // its readers' edges go live.
  void OpenStreams(Job* job, StepIndex p);
  // Producer `p`'s attempt ended other than in success: its readers wait
  // for the next one (running ones are killed, and marked withdrawn).
  void WithdrawStreams(Job* job, StepIndex p);
  // Settles the end of a withdrawn reader's attempt, which counts as
  // neither failure nor loss; false if `s` is not withdrawn.
  bool EndWithdrawn(Job* job, StepIndex s, const RunResult& run, const std::string& worker_name);
  // Closes running `producer`'s stdout if every reader of it is done.
  void MaybeCloseOutput(Job* job, StepIndex producer);
  // Whether every step reading `p`'s stdout is final, one of them streamed.
  static bool ReadersDone(const Job& job, StepIndex p);
  // Whether `run` is a producer dying of the pipe its readers closed.
  static bool ClosedPipe(const StepRun& r, const RunResult& run);
  // Sends again the closes and kills a worker may have missed (it is back).
  void ResendStreamEffects(const Worker& w);
  // Works out the stream flags of a job restored from a snapshot.
  void RestoreStreams(Job* job);

  Outbox* outbox_;
  SchedulerOptions options_;
  WorkerPool pool_;
  std::map<JobId, std::unique_ptr<Job>> jobs_;
  std::set<JobId> jobs_with_ready_;  // unfinished jobs with queued steps
  uint64_t pass_ = 0;
  // The pool's generation when RetractForIdle last found nothing to ask:
  // until something changes, it would find nothing again.
  uint64_t retract_idle_at_ = UINT64_MAX;
  // WatchWaiting's memory: the workers' capacity generation it last saw,
  // the classes (job, index) whose report is not yet due, and when the
  // first of them is (-1: none).
  uint64_t watched_capacity_ = 0;
  std::vector<std::pair<JobId, uint32_t>> waiting_pending_;
  Time waiting_due_ = -1;
  std::vector<StepIndex> promoted_;  // followers whose predecessor just succeeded
  bool replaying_ = false;
  // Retries waiting for their delay: (due, job, step, attempt that failed).
  struct Delayed {
    Time due;
    JobId job;
    StepIndex step;
    uint32_t attempt;
    bool operator>(const Delayed& o) const { return due > o.due; }
  };
  std::priority_queue<Delayed, std::vector<Delayed>, std::greater<>> delayed_;
};

}  // namespace drover::broker
