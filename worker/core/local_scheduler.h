// LocalScheduler: the worker's pure core. It keeps the tasks the broker sent
// this worker (queued, following another, running) and decides when each
// starts, when one must be stopped or given up, and when results go to the
// broker. It spawns nothing itself: processes start and stop through a
// ProcessRunner, and their exits come back as OnExit(). It reads no clock and
// opens no socket; the agent (worker/agent.h) feeds it events with `now`,
// and sends what TakeResults() hands out.
//
// Not thread-safe; one loop owns it.
//
// Policy:
//   - Queued tasks start in the order they came while their slots and
//     resources fit (resource_book.h): a wide task at the head waits for its
//     slots rather than be overtaken for ever by narrow ones. A task wider
//     than the worker (the broker never sends one) runs alone; one asking
//     for more of a resource than the worker has fails at once (spawn
//     failed, saying what it asked and what there is).
//   - Nothing starts while out of touch: the broker may be about to give the
//     task to another worker.
//   - A task that follows another (Task::follows) waits apart until that one
//     ends: if it exited 0 the follower goes to the front of the queue, into
//     the slot it freed; if not, the follower is reported kNotRun unstarted.
//   - Kill: a running task is stopped (its exit reports kKilled); a waiting
//     one is reported kKilled at once.
//   - Retract: a waiting task is given back (a kRetracted result, sent at
//     once: another worker waits to run it) and what follows it is not run;
//     a running one is not stopped, and is declined.
//   - Out of touch, a task must not outlive its lease, since by the end of
//     the lease the broker may run its step elsewhere: a running one is
//     stopped at CutOff() (its result says lost), a waiting one is given up
//     at CutOff() as lost.
//   - Drain: every waiting task is given back as by Retract, and every task
//     dispatched from then on too; running ones run to their end. Drained()
//     says when nothing is left, not even a result to acknowledge: the
//     worker may then leave without the broker losing anything.
//   - Every task accepted gets exactly one result, unless the worker shuts
//     down first (the broker then re-queues what it held).
//
// Invariants (CheckInvariants, after every event in the tests):
//   1. A task is in exactly one of running_, queued_ and followers_, and
//      where_ says which; a task with a result is in none.
//   2. busy_slots_ is the sum of the running tasks' slots, and what the
//      resource book has in use the sum of their resources.
//   3. Every followers_ entry's predecessor is running, queued or itself
//      following: when it ends, its followers are decided.
//   4. The result log's own (result_log.h).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "shared/protocol.h"
#include "worker/core/process_runner.h"
#include "worker/core/resource_book.h"
#include "worker/core/result_log.h"

namespace drover::worker {

struct LocalSchedulerOptions {
  uint32_t slots = 1;
  int64_t kill_grace_ms = 5000;  // SIGTERM to SIGKILL when a task is stopped
  std::vector<WorkerResource> resources = {};  // besides slots (worker --resource)
};

// A task whose process runs.
struct RunningTask {
  TaskKey key;
  uint32_t slots = 1;
  uint32_t lease_ms = 0;
  ResourceList resources;  // what it holds besides slots
  Grant grant;             // the devices among them
  uint64_t offset[2] = {0, 0};  // output bytes read so far: stdout, stderr
  bool cut_off = false;         // stopped because its lease was running out
  // A streamed stdin (Task::stdin_stream), as the agent feeds it.
  struct Input {
    bool streamed = false;
    bool gap = false;       // a piece came past `received`: asked to send again
    bool eof = false;       // the last piece came
    bool ended = false;     // all of it written after the last piece, or the child
                            // closed its stdin: the broker was told `closed`
    uint64_t received = 0;  // bytes held, from the start
    uint64_t written = 0;   // ... given to the child
    uint64_t credited = 0;  // `written` as last told to the broker
  } input;
};

class LocalScheduler {
 public:
  using Id = ProcessRunner::Id;
  // Attempts whose outcome (exit 0 or not) is remembered for a follower that
  // arrives after its predecessor ended; the oldest are forgotten.
  static constexpr size_t kRememberedEnds = 4096;

  // `runner` must outlive the scheduler.
  LocalScheduler(LocalSchedulerOptions options, ProcessRunner* runner);

  // The link to the broker. Welcome: in touch on a new connection (heartbeats
  // of `heartbeat_ms`); Heard: any message from it; Disconnected: out of
  // touch until the next welcome.
  void OnWelcome(Time now, uint32_t heartbeat_ms);
  void OnHeard(Time now) { last_heard_ = now; }
  void OnDisconnected();
  bool in_touch() const { return in_touch_; }

  // A dispatched task: queued, or set aside to follow another. A task held
  // already (sent again) is ignored.
  void Accept(Task task, Time now);
  // The broker asks to stop attempt `key` (its job was cancelled, or the
  // attempt is not this worker's any more). False if it holds no such task.
  bool Kill(const TaskKey& key, Time now);
  // The broker asks for these attempts back, to run them elsewhere. Returns
  // those it cannot have: running, or not held here.
  std::vector<TaskKey> Retract(const std::vector<TaskKey>& keys, Time now);
  // Takes no new tasks from now on (above). Cannot be undone.
  void Drain(Time now);
  bool draining() const { return draining_; }
  // Draining, and nothing held: no task, no result unacknowledged.
  bool Drained() const { return draining_ && where_.empty() && results_.kept() == 0; }
  // Process `id` is finished (worker/subprocess.h says when).
  void OnExit(Id id, const RunResult& run, Time now);

  // Starts queued tasks, in order, while their slots fit (never out of touch).
  void StartQueued(Time now);
  // Out of touch: stops or gives up what would outlive its lease. Returns
  // when it next has something to do (-1: nothing while in touch).
  Time EnforceLeases(Time now);
  // When a task that last heard from the broker at `heard` must be stopped
  // (`running`) or given up (waiting): the one lease rule on this side.
  Time CutOff(uint32_t lease_ms, Time heard, bool running) const;

  // Results to send now (ResultLog::Take); `force` sends all that are unsent.
  std::vector<TaskResults> TakeResults(Time now, bool force) {
    return results_.Take(now, force, RunningLow());
  }
  void Acknowledged(uint64_t through) { results_.Acknowledged(through); }
  const ResultLog& results() const { return results_; }

  // Stops everything for good: waiting tasks are dropped, running ones
  // stopped; from now on exits give no results.
  void ShutDown(Time now);
  bool stopping() const { return stopping_; }

  // Every attempt this worker holds: running, waiting, or ended with its
  // result not yet acknowledged (for the hello after a reconnection).
  std::vector<TaskKey> Held() const;
  // The running task of process `id`, or null.
  RunningTask* FindRunning(Id id);
  // The process running attempt `key`; 0 if none runs it here.
  Id ProcessOf(const TaskKey& key) const {
    auto it = process_of_.find(key);
    return it == process_of_.end() ? 0 : it->second;
  }
  // Calls f(id, task) for each running task.
  template <typename F>
  void ForEachRunning(F f) {
    for (auto& [id, task] : running_) f(id, task);
  }
  size_t running() const { return running_.size(); }
  size_t waiting() const;

  void CheckInvariants() const;

 private:
  enum class Place : uint8_t { kQueued, kFollowing, kRunning };

  // Whether so little waits to start here that results should go at once:
  // at most a slot's worth per slot, which may run out within a round trip.
  bool RunningLow() const;
  void Start(Task task, Time now);
  // Attempt `key` has ended here: its followers go ahead or not.
  void Ended(const TaskKey& key, bool succeeded, Time now);
  void ReportUnstarted(const TaskKey& key, Outcome outcome, Time now, std::string error = "",
                       bool urgent = false);
  // Removes a waiting task (queued or following); false if `key` is not one.
  bool RemoveWaiting(const TaskKey& key);

  LocalSchedulerOptions options_;
  ProcessRunner* runner_;
  ResultLog results_;
  ResourceBook resources_;

  std::unordered_map<Id, RunningTask> running_;
  std::deque<Task> queued_;                          // dispatched, waiting for slots
  std::map<TaskKey, std::vector<Task>> followers_;  // by the attempt they follow
  std::unordered_map<TaskKey, Place> where_;         // every task held, running or waiting
  std::unordered_map<TaskKey, Id> process_of_;       // running tasks
  uint32_t busy_slots_ = 0;
  std::unordered_map<TaskKey, bool> ended_;  // recent attempts: exited 0?
  std::deque<TaskKey> ended_order_;

  bool in_touch_ = false;
  bool stopping_ = false;
  bool draining_ = false;
  Time last_heard_ = 0;  // from the broker, on any connection
  uint32_t heartbeat_ms_ = kHeartbeatMs;
};

}  // namespace drover::worker
