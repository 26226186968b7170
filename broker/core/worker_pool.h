// WorkerPool: the broker's view of its connected workers, for the scheduler:
// who they are, how many slots each has free, which labels they carry, what
// resources they have and hold, and which attempts each is running. Plain
// data; no sockets, no clock.
//
// Placement picks, among the workers that fit a step (enough idle slots, all
// its labels, every resource amount it asks for free), the one with the most
// idle slots (lowest id on ties), which spreads a graph's parallel steps
// across machines. Only when no worker has idle slots for it does a step go
// to a worker's prefetch queue (below).
//
// Resources (shared/resources.h) are never promised twice: an attempt holds
// what it asks for from the moment it is assigned, queued or not, until it
// ends, so a worker's queue never waits for memory or a device; only slots
// are stretched by prefetch. Resource names are interned, like labels.
//
// A worker may announce `prefetch`: slot units of tasks it is willing to hold
// in a local queue beyond its slots, so that it can start the next task the
// moment one ends instead of waiting a round trip for the broker. The pool
// uses it only while the worker's recent attempts are short (a moving average
// under kPrefetchBelowMs): there a round trip is a real share of each step,
// while a long step queued behind another could wait for nothing when some
// other worker is idle. And it uses only as much of it as holds about
// kPrefetchWorkMs of those steps per slot: enough for the worker to send its
// results in batches without running dry, while what waits on one worker
// at the end of a graph, with others idle, is a matter of milliseconds. A
// step never goes to a worker whose slots are fewer than the step needs.
//
// A step queued on a worker is still the broker's to move: when another
// worker has idle slots and nothing ready fits it, the scheduler asks for
// queued steps back (Scheduler::RetractForIdle). The pool keeps what that
// needs: the order attempts were assigned in (a worker starts them in about
// that order), which attempts were asked back and for whom, and for each
// worker the slot units asked back for it (`incoming`), so that one idle
// slot does not call back a whole queue.
//
// A worker is known by its instance: an id its process makes up when it
// starts, kept across reconnections. A worker that goes silent is
// disconnected: it keeps its attempts (the scheduler decides when they are
// lost) but gets nothing new until it is heard again. A draining worker
// gets nothing new either, for good: it finishes what it runs and leaves.
//
// Its name is for people (`submit status`, `worker drain NAME`), so no two
// workers in touch share one: JudgeHello says which hello would take a
// name a connected worker has (docs/reliability.md, "Worker names").
//
// A worker with a time limit says in its hello how long it has left; the
// pool keeps when that is (`ends_at`, on the shell's clock) and gives a
// step with a `time_request` only to a worker that lasts that long.
//
// Invariants (CheckInvariants):
//   1. For each worker, used == sum(slots of its assigned attempts) and
//      free == max(0, capacity() - used).
//   2. by_free_ and by_idle_ hold exactly one entry per worker, keyed by its
//      free() and idle() slots.
//   3. free_total_ is the sum of free over all workers.
//   4. Each worker's incoming == the slots of the attempts (on any worker)
//      asked back for it; queueing_ holds exactly the workers whose used
//      exceeds their slots.
//   5. For each worker and resource, used == the sum of what its assigned
//      attempts need of it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "shared/ids.h"
#include "shared/resources.h"

namespace drover::broker {

using Time = int64_t;     // milliseconds on the shell's monotonic clock
using LabelId = uint32_t;
using LabelSet = std::vector<LabelId>;  // sorted, unique
using ResourceId = uint32_t;

// An amount of an interned resource.
struct ResourceNeed {
  ResourceId id = 0;
  uint64_t amount = 0;
  auto operator<=>(const ResourceNeed&) const = default;
};
using ResourceNeeds = std::vector<ResourceNeed>;  // sorted by id, amounts > 0

// A worker's amount of one resource, and how much of it is assigned.
struct ResourceHeld {
  ResourceId id = 0;
  uint64_t total = 0;
  uint64_t used = 0;
};

struct WorkerInfo {
  std::string name = {};
  std::string host = {};
  uint32_t slots = 1;
  std::vector<std::string> labels = {};
  uint32_t prefetch = 0;     // slot units it queues locally beyond `slots`
  std::string instance = {};  // stable for the life of the worker process
  ResourceList resources = {};  // what it has besides slots
  uint64_t time_left_ms = 0;    // until its time limit, as of the hello; 0: none
  bool draining = false;        // takes nothing new (it said so in its hello)
  uint64_t slurm_job_id = 0;    // the Slurm job it runs in; 0: none
};

inline constexpr int64_t kPrefetchBelowMs = 250;
// Run time per slot that a worker's prefetch queue may hold. Above the time
// a worker holds results back to batch them (worker/agent.h, 20 ms) plus a
// round trip, so its queue is refilled before it runs low.
inline constexpr int64_t kPrefetchWorkMs = 50;

// An attempt assigned to a worker.
struct Assignment {
  uint32_t slots = 1;
  // Bytes of its stdout and stderr received so far: output that a worker
  // sends again after a broken connection is dropped up to here.
  uint64_t output[2] = {0, 0};
  ResourceNeeds needs;    // what it holds besides slots
  uint64_t order = 0;     // when it was assigned: pool-wide, increasing
  bool retract_asked = false;  // asked back once; never again
  WorkerId retract_for;   // asked back for this idle worker, answer pending (0: none)
};

struct Worker {
  WorkerId id;
  WorkerInfo info;
  LabelSet labels;
  std::vector<ResourceHeld> resources;  // sorted by id
  bool connected = true;  // heard from within the liveness interval
  // When it last said hello or came back in touch (`submit workers`; the
  // oldest connection holds a name, JudgeHello).
  Time connected_since = 0;
  bool draining = false;  // takes nothing new, ever; leaves when done
  Time ends_at = 0;       // when its time limit comes; 0: none
  uint32_t used = 0;  // slots of its assigned attempts
  uint32_t free = 0;  // what it can still be assigned: capacity() - used, or 0
  Time last_heard = 0;
  std::map<TaskKey, Assignment> running;
  // Slot units asked back from other workers for this one, not yet answered.
  uint32_t incoming = 0;
  // Moving average of its attempts' run times, in microseconds (finer than
  // the milliseconds they are reported in, so that the average of short
  // steps does not stick a few units off); -1: none yet.
  int64_t avg_run_us = -1;

  // Whether it takes new steps: connected and not draining.
  bool open() const { return connected && !draining; }
  // Slots plus the prefetch in use; 0 while not open().
  uint32_t capacity() const { return open() ? info.slots + prefetch_used() : 0; }
  // Of its prefetch, what holds about kPrefetchWorkMs of its steps per slot
  // (at least one), while its steps are short; else none.
  uint32_t prefetch_used() const {
    if (avg_run_us < 0 || avg_run_us >= kPrefetchBelowMs * 1000 || info.prefetch == 0) return 0;
    const uint64_t fit = uint64_t{info.slots} * kPrefetchWorkMs * 1000 /
                         static_cast<uint64_t>(std::max<int64_t>(avg_run_us, 1));
    return static_cast<uint32_t>(std::clamp<uint64_t>(fit, 1, info.prefetch));
  }
  // Slots in use as far as the broker can tell.
  uint32_t busy() const { return std::min(info.slots, used); }
  // Slots with nothing assigned: a step sent here starts at once.
  uint32_t idle() const { return open() ? info.slots - busy() : 0; }
};

class WorkerPool {
 public:
  // Interns a label; the same string always gives the same id.
  LabelId Intern(std::string_view label);
  LabelSet InternAll(const std::vector<std::string>& labels);
  // Interns the names of a resource list.
  ResourceNeeds InternNeeds(const ResourceList& list);
  const std::string& ResourceName(ResourceId id) const { return resource_names_[id]; }
  const std::string& LabelName(LabelId id) const { return label_names_[id]; }

  WorkerId Add(WorkerInfo info, Time now);
  // REQUIRES: the worker runs nothing (the scheduler settles its attempts first).
  void Remove(WorkerId id);

  Worker* Find(WorkerId id);
  const Worker* Find(WorkerId id) const;
  Worker* FindInstance(std::string_view instance);
  const Worker* FindInstance(std::string_view instance) const;
  const std::unordered_map<WorkerId, Worker>& all() const { return workers_; }

  // The best worker for a step needing `slots`, `labels` and `needs`, that
  // lasts until `until` (0: no need), or nullptr. `idle_only`: one where it
  // starts at once, never one that would queue it.
  Worker* Pick(uint32_t slots, const LabelSet& labels, const ResourceNeeds& needs, Time until = 0,
               bool idle_only = false);
  // Whether `worker` could ever run such a step (its slots, labels and
  // resource totals), and whether the resources are free now.
  static bool Fits(const Worker& worker, uint32_t slots, const LabelSet& labels,
                   const ResourceNeeds& needs);
  static bool HasRoom(const Worker& worker, const ResourceNeeds& needs);
  // Whether `worker` is there until `until` (0: any worker is).
  static bool LastsUntil(const Worker& worker, Time until) {
    return until == 0 || worker.ends_at == 0 || until <= worker.ends_at;
  }
  // Why no open worker could run such a step, now or later ("no worker has
  // mem 8G; the largest has 4G"; "no worker has 2h left; the most is 40m"),
  // or "" when one could. `time_request_ms`: 0 for none.
  std::string WhyNoneFits(uint32_t slots, const LabelSet& labels, const ResourceNeeds& needs,
                          uint32_t time_request_ms = 0, Time now = 0) const;

  // REQUIRES: `worker` has at least `slots` free and room for `needs`.
  void Assign(Worker* worker, const TaskKey& key, uint32_t slots, const ResourceNeeds& needs);
  // The same for an attempt the worker is known to hold already (replayed
  // from the journal, or restored from a snapshot), whatever its free slots:
  // one known only from the journal has none until it says hello again.
  void Hold(Worker* worker, const TaskKey& key, uint32_t slots, const ResourceNeeds& needs);
  // Returns false (and changes nothing) if `worker` is not running `key`.
  // `run_ms` is how long the attempt ran, when it did run.
  bool Release(Worker* worker, const TaskKey& key, std::optional<int64_t> run_ms = std::nullopt);

  // Connects or disconnects a worker (see above); connecting it at `now`
  // makes that its connected_since. REQUIRES: `now` when `connected`.
  void SetConnected(Worker* worker, bool connected, std::optional<Time> now = std::nullopt);
  // Replaces what a reconnecting worker says about itself (its slots or
  // labels may have changed); its assignments stay.
  void UpdateInfo(Worker* worker, WorkerInfo info, Time now);
  // The worker takes nothing new from now on (it cannot be undone: a
  // worker that drains leaves).
  void SetDraining(Worker* worker);

  uint32_t free_total() const { return free_total_; }

  // What a worker's hello is, given the pool as it stands (the shell acts
  // on it before the scheduler hears the hello):
  struct HelloVerdict {
    // Its instance is listed: the same process, reconnected (or the broker
    // restarted). Always let in, even when its name was taken meanwhile by
    // a worker that joined while it was out of touch: it holds attempts.
    bool back = false;
    // The listed instance of its previous run on its host (the hello's
    // previous_instance: same name and state directory, worker_state.h),
    // or nullptr. That run is gone, children and all: this one replaces it.
    const Worker* previous = nullptr;
    // A connected worker of the same name, of another instance and not the
    // previous run, or nullptr. A new hello under that name is refused: it
    // is another worker given the same name (or a restart that lost its
    // state directory, which gets in once this one has fallen silent). A
    // worker of that name out of touch takes nothing from the newcomer: it
    // may be dead; if it comes back still listed (holding attempts) it is
    // `back`. Unset when `back`.
    const Worker* holder = nullptr;
  };
  // `name` is the one the hello gives (its host's when it gives none).
  HelloVerdict JudgeHello(std::string_view name, std::string_view instance,
                          std::string_view previous_instance) const;

  // Attempt `key` of `holder` is asked back for idle worker `taker`.
  // REQUIRES: `holder` runs `key`, which was not asked back before.
  void MarkRetracting(Worker* holder, const TaskKey& key, Worker* taker);
  // `holder` could not give `key` back (it had started): `taker` stops
  // waiting for it. Nothing if it was not being asked back.
  void RetractDeclined(Worker* holder, const TaskKey& key);
  // Forgets every question asked of `holder` (it reconnected: a Retract
  // may have been lost with the connection); its attempts may be asked
  // back again.
  void ForgetRetracts(Worker* holder);
  // Workers holding more than their slots: some of what they hold waits in
  // their local queue.
  const std::set<WorkerId>& queueing() const { return queueing_; }
  // Calls f(worker) for each worker with idle slots, most idle first.
  template <typename F>
  void ForEachIdle(F&& f) {
    for (const auto& [idle, id] : by_idle_) {
      if (idle == 0) break;
      f(&workers_.at(id));
    }
  }
  // Changes whenever an assignment, a connection or a worker's slots do.
  uint64_t generation() const { return generation_; }
  // Changes whenever what the connected workers could ever run may have:
  // a worker joins, leaves, connects, disconnects or changes its info.
  uint64_t capacity_generation() const { return capacity_generation_; }

  void CheckInvariants() const;

 private:
  struct MostFirst {
    bool operator()(const std::pair<uint32_t, WorkerId>& a,
                    const std::pair<uint32_t, WorkerId>& b) const {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    }
  };
  // Recomputes worker->free from used and capacity, keeping the indexes.
  // `old_idle` is its idle() before `used` changed.
  void UpdateFree(Worker* worker, uint32_t old_idle);
  // Sets worker->resources from its info, with what its assignments use.
  void SetResources(Worker* worker);

  std::unordered_map<WorkerId, Worker> workers_;
  std::set<std::pair<uint32_t, WorkerId>, MostFirst> by_free_;  // (free, id)
  std::set<std::pair<uint32_t, WorkerId>, MostFirst> by_idle_;  // (idle, id)
  std::unordered_map<std::string, LabelId> label_ids_;
  std::vector<std::string> label_names_;  // by LabelId
  std::unordered_map<std::string, ResourceId> resource_ids_;
  std::vector<std::string> resource_names_;  // by ResourceId
  std::unordered_map<std::string, WorkerId> by_instance_;
  std::set<WorkerId> queueing_;
  uint32_t next_worker_ = 1;
  uint32_t free_total_ = 0;
  uint64_t next_order_ = 1;
  uint64_t generation_ = 0;
  uint64_t capacity_generation_ = 1;  // 0 is "never checked" (ReadyClass)
};

}  // namespace drover::broker
