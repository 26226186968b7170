// AllocQueues: the broker's allocation queues, the pure core of automatic
// allocation (issue 16; docs/design/autoalloc.md). A queue asks a batch
// system (Slurm) for allocations that start workers for this broker while
// work waits that those workers could run. Plain data: no sockets, no
// processes, no clock. Time comes in as `now` (milliseconds on the broker's
// monotonic clock, as in worker_pool.h); every effect goes out as an
// AllocAction returned by Tick(), and every change that must survive a
// restart as an AllocRecord that the caller journals (TakeRecords()).
//
// Not thread-safe; one loop owns it.
//
// Contract with the shell:
//   - Every few seconds it computes the demand (ComputeDemand) and calls
//     Tick(now, demand); for each Submit it writes the batch script and runs
//     sbatch without blocking, then calls OnSubmitted or OnSubmitFailed with
//     the same (queue, seq). For each Cancel it runs scancel.
//   - It reports what squeue/sacct say of each allocation it follows
//     (Following()) with OnSlurmState, and workers that say hello or leave
//     with their Slurm job id (OnWorkerJoined/OnWorkerLeft).
//   - It journals what TakeRecords() returns, and after a restart feeds the
//     records back through Apply() in order, then calls AfterReplay(now).
//
// Policy:
//   - A queue submits a new allocation only when it is active, not backing
//     off after failures, its demand (slot units of ready steps its workers
//     could run and no connected worker has room for) exceeds the slots its
//     allocations will still bring (coming_slots), fewer than `backlog` of
//     its allocations wait in the batch queue (submitting or queued), and
//     every allocation not ended, plus the new one, stays within
//     max_workers nodes. At most one Submit per queue per Tick.
//   - A failure is an sbatch refusal, an allocation that ended before any of
//     its workers connected, or one that ran kConnectTimeoutMs without a
//     worker connecting (then it is cancelled). After k failures in a row
//     the queue waits FailureBackoffMs(k) from the last one before it
//     submits again; after kPauseAfterFailures in a row it pauses, with the
//     reason (Slurm's own words), until Resume(). A worker connecting
//     resets the count.
//   - Removing a queue stops its submits and cancels its allocations that
//     have not started; with `now`, its running ones too; otherwise these
//     finish (their workers leave by their idle timeout). The queue is
//     dropped once none of its allocations is left.
//
// Durability: every durable change is made by building its record and
// applying it (Apply), so replaying the journaled records rebuilds exactly
// the same durable state. Not durable: which workers are connected (they
// say hello again after a restart) and which cancels were sent (scancel
// again is harmless).
//
// Invariants (CheckInvariants):
//   1. Queue ids are unique and below next_queue_; a queue's allocations
//      have unique seqs below its next_seq, in increasing order.
//   2. by_job_ maps exactly the Slurm job ids of allocations that have not
//      ended to their queue and seq; an allocation in kSubmitting has no
//      Slurm job id, one in kQueued or kRunning has one.
//   3. Only running allocations have connected workers; only failed ones
//      are counted as failures.
//   4. failures_in_row < kPauseAfterFailures unless the queue is paused or
//      removing; a paused queue has a reason.
//   5. A removing queue has at least one allocation that has not ended.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "broker/core/worker_pool.h"
#include "shared/alloc_params.h"
#include "shared/msgpack_adaptors.h"
#include "shared/resources.h"
#include "shared/status.h"

namespace drover::broker {

class Job;
using AllocQueueId = uint32_t;  // 1 and up, never reused
using SlurmJobId = uint64_t;    // 0: none (yet)

// Backoff after failures in a row: 10 s, doubling, at most 10 min. Slurm
// refusing a script refuses it again at once; waiting gives an admin (or a
// drained partition) time, without flooding the controller.
inline constexpr int64_t kFailureBackoffFirstMs = 10'000;
inline constexpr int64_t kFailureBackoffMaxMs = 10 * 60'000;
// Failures in a row after which a queue pauses until Resume(): about 2.5
// minutes of backoff in all, enough to ride out a hiccup, not a wrong
// partition.
inline constexpr uint32_t kPauseAfterFailures = 5;
// An allocation running this long with no worker connected has workers that
// cannot reach the broker (or cannot start): it is cancelled as a failure.
// Workers connect within seconds of starting; nodes that boot or mount
// slowly can take a minute or two.
inline constexpr int64_t kConnectTimeoutMs = 5 * 60'000;

// How long the queue waits after the k-th failure in a row (k >= 1): `first`
// doubling, at most 60 times `first` (10 min for the default).
int64_t FailureBackoffMs(uint32_t failures_in_row, int64_t first = kFailureBackoffFirstMs);

enum class AllocQueueState : uint8_t {
  kActive = 0,    // submits while work waits
  kPaused = 1,    // too many failures in a row; waits for Resume()
  kRemoving = 2,  // submits nothing; dropped when its allocations end
};

enum class AllocState : uint8_t {
  kSubmitting = 0,  // Tick decided it; sbatch has not answered
  kQueued = 1,      // sbatch gave it a job id; not running yet
  kRunning = 2,     // Slurm says it runs, or one of its workers connected
  kFinished = 3,    // ended after a worker connected, or cancelled by removal
  kFailed = 4,      // sbatch refused it, or it ended with no worker connected
};
const char* AllocStateName(AllocState state);
bool AllocEnded(AllocState state);

}  // namespace drover::broker

DROVER_WIRE_ENUM(drover::broker::AllocState, drover::broker::AllocState::kFailed);
DROVER_WIRE_ENUM(drover::broker::AllocQueueState, drover::broker::AllocQueueState::kRemoving);

namespace drover::broker {

// What squeue or sacct said of a job, as far as the queue cares.
enum class SlurmJobState : uint8_t {
  kPending,    // PENDING, CONFIGURING, REQUEUED...
  kRunning,    // RUNNING, COMPLETING
  kEnded,      // COMPLETED, FAILED, CANCELLED, TIMEOUT, NODE_FAIL...; or gone
};

struct Allocation {
  uint32_t seq = 0;  // the queue's own number, from 1
  SlurmJobId slurm_job_id = 0;
  AllocState state = AllocState::kSubmitting;
  Time asked_at = 0;      // when Tick decided it
  Time submitted_at = 0;  // when sbatch answered (0: not yet)
  Time started_at = 0;    // when it was seen running (0: not yet)
  Time ended_at = 0;      // 0: not yet
  bool worker_joined = false;  // one of its workers connected, ever
  bool counted = false;        // kFailed, and counted as a failure in a row
  std::string reason = {};     // why it ended (Slurm's own words), or failed
  // Not durable:
  std::set<std::string> workers = {};  // connected now, by name
  std::set<std::string> seen = {};     // connected since the broker started
  bool cancel_sent = false;
  // The durable fields, for snapshots (AllocSnapshotRecord).
  MSGPACK_DEFINE(seq, slurm_job_id, state, asked_at, submitted_at, started_at, ended_at,
                 worker_joined, counted, reason)

  // Workers it may still bring (for the demand): all of them while it waits
  // in Slurm, those not seen yet while it is young; none after.
  uint32_t Coming(uint32_t workers_per_alloc, Time now) const;
};

struct AllocQueue {
  AllocQueueId id = 0;
  AllocQueueParams params = {};
  AllocQueueState state = AllocQueueState::kActive;
  std::string paused_reason = {};
  bool cancel_running = false;  // removing with --now
  uint32_t next_seq = 1;
  uint32_t failures_in_row = 0;
  Time last_failure_at = 0;
  std::string last_failure = {};
  std::vector<Allocation> allocations = {};  // by seq; ended ones kept for `info`
  MSGPACK_DEFINE(id, params, state, paused_reason, cancel_running, next_seq, failures_in_row,
                 last_failure_at, last_failure, allocations)

  const Allocation* Find(uint32_t seq) const;
  Allocation* Find(uint32_t seq);
  // Slot units its allocations will still bring.
  uint64_t ComingSlots(Time now) const;
  // Allocations submitting or queued in Slurm.
  uint32_t Waiting() const;
  // Nodes of its allocations that have not ended.
  uint32_t Nodes() const;
  // When it may submit next after its failures (0: now).
  Time BackoffUntil(int64_t first_backoff = kFailureBackoffFirstMs) const;
};

// ---- Records: every durable change, for the journal (not wired yet) ----

// Numbers continue broker/recovery.h's RecordType, so that both can share
// the journal.
enum class AllocRecordType : uint8_t {
  kQueueAdded = 32,
  kQueueRemoved = 33,
  kQueueResumed = 34,
  kAllocAsked = 35,
  kAllocSubmitted = 36,
  kAllocRunning = 37,
  kAllocEnded = 38,
  kAllocSnapshot = 39,
};

struct QueueAddedRecord {
  static constexpr AllocRecordType kType = AllocRecordType::kQueueAdded;
  AllocQueueId queue = 0;
  AllocQueueParams params = {};
  MSGPACK_DEFINE(queue, params)
};
struct QueueRemovedRecord {
  static constexpr AllocRecordType kType = AllocRecordType::kQueueRemoved;
  AllocQueueId queue = 0;
  bool now = false;  // cancel running allocations too
  MSGPACK_DEFINE(queue, now)
};
struct QueueResumedRecord {
  static constexpr AllocRecordType kType = AllocRecordType::kQueueResumed;
  AllocQueueId queue = 0;
  MSGPACK_DEFINE(queue)
};
// Tick decided to submit: journaled before sbatch runs, so that a seq is
// never used twice and a restart knows sbatch may have run.
struct AllocAskedRecord {
  static constexpr AllocRecordType kType = AllocRecordType::kAllocAsked;
  AllocQueueId queue = 0;
  uint32_t seq = 0;
  Time at = 0;
  MSGPACK_DEFINE(queue, seq, at)
};
struct AllocSubmittedRecord {
  static constexpr AllocRecordType kType = AllocRecordType::kAllocSubmitted;
  AllocQueueId queue = 0;
  uint32_t seq = 0;
  SlurmJobId slurm_job_id = 0;
  Time at = 0;
  MSGPACK_DEFINE(queue, seq, slurm_job_id, at)
};
// Seen running (worker_joined false), or its first worker connected (true):
// at most one of each per allocation.
struct AllocRunningRecord {
  static constexpr AllocRecordType kType = AllocRecordType::kAllocRunning;
  AllocQueueId queue = 0;
  uint32_t seq = 0;
  Time at = 0;
  bool worker_joined = false;
  MSGPACK_DEFINE(queue, seq, at, worker_joined)
};
struct AllocEndedRecord {
  static constexpr AllocRecordType kType = AllocRecordType::kAllocEnded;
  AllocQueueId queue = 0;
  uint32_t seq = 0;
  AllocState state = AllocState::kFinished;  // kFinished or kFailed
  bool counted = false;  // a failure in a row (backoff, pause)
  std::string reason = {};
  Time at = 0;
  MSGPACK_DEFINE(queue, seq, state, counted, reason, at)
};

// The whole durable state, for the broker's snapshots: it replaces what
// was there. The next queue id is kept because removed queues are dropped.
struct AllocSnapshotRecord {
  static constexpr AllocRecordType kType = AllocRecordType::kAllocSnapshot;
  AllocQueueId next_queue = 1;
  std::vector<AllocQueue> queues = {};
  MSGPACK_DEFINE(next_queue, queues)
};

using AllocRecord = std::variant<QueueAddedRecord, QueueRemovedRecord, QueueResumedRecord,
                                 AllocAskedRecord, AllocSubmittedRecord, AllocRunningRecord,
                                 AllocEndedRecord, AllocSnapshotRecord>;
// Whether journal record `bytes` (as broker/recovery.h frames them) is one
// of these rather than one of the scheduler's: by its type number.
bool IsAllocRecord(std::string_view bytes);
void EncodeAllocRecord(const AllocRecord& record, std::string* out);
Result<AllocRecord> DecodeAllocRecord(std::string_view bytes);

// ---- Decisions ----

struct AllocSubmit {
  AllocQueueId queue = 0;
  uint32_t seq = 0;
};
struct AllocCancel {
  SlurmJobId slurm_job_id = 0;
};
using AllocAction = std::variant<AllocSubmit, AllocCancel>;

// Per queue, slot units of ready steps that a worker of its shape could run
// and no connected worker has room for. A queue not listed has none.
using AllocDemand = std::map<AllocQueueId, uint64_t>;

class AllocQueues {
 public:
  // A new queue; the error says what is wrong with `params`.
  Result<AllocQueueId> Add(AllocQueueParams params);
  // Stops the queue's submits and cancels what has not started (and, with
  // `now`, what runs). False if there is no such queue or it is already
  // being removed.
  bool Remove(AllocQueueId queue, bool now);
  // Unpauses a paused queue, forgetting its failures. False if it is not paused.
  bool Resume(AllocQueueId queue);
  // The first backoff after a failure (FailureBackoffMs): tests shorten it
  // to see a queue pause in seconds rather than minutes.
  void set_backoff_first_ms(int64_t ms) { backoff_first_ms_ = ms; }

  std::vector<AllocAction> Tick(Time now, const AllocDemand& demand);

  // sbatch answered for allocation `seq` of `queue` (from a Submit).
  void OnSubmitted(AllocQueueId queue, uint32_t seq, SlurmJobId slurm_job_id, Time now);
  // sbatch failed; `message` is what it said.
  void OnSubmitFailed(AllocQueueId queue, uint32_t seq, const std::string& message, Time now);
  // What squeue/sacct said of a job this core follows; `reason` is Slurm's
  // state and reason in its own words ("FAILED", "CANCELLED by 1000",
  // "PENDING (Priority)"). Unknown job ids are ignored.
  void OnSlurmState(SlurmJobId slurm_job_id, SlurmJobState state, const std::string& reason,
                    Time now);
  // A worker from job `slurm_job_id` said hello / left. Unknown ids ignored.
  void OnWorkerJoined(SlurmJobId slurm_job_id, const std::string& worker, Time now);
  void OnWorkerLeft(SlurmJobId slurm_job_id, const std::string& worker, Time now);

  // Rebuilds state from one journaled record. Records that do not fit the
  // state (an unknown queue) are ignored: replay never fails on them.
  void Apply(const AllocRecord& record);
  // After replay: allocations whose sbatch never answered fail (not counted:
  // the broker, not Slurm, was at fault), and times journaled in a previous
  // boot's clock that lie ahead of `now` are brought back to `now`.
  void AfterReplay(Time now);
  // The records of durable changes since the last call, in order.
  std::vector<AllocRecord> TakeRecords() { return std::exchange(records_, {}); }
  // The durable state in one record, for a snapshot (nothing is taken).
  AllocSnapshotRecord Snapshot() const;

  // Slurm job ids to ask squeue/sacct about.
  std::vector<SlurmJobId> Following() const;
  const std::map<AllocQueueId, AllocQueue>& queues() const { return queues_; }
  const AllocQueue* Find(AllocQueueId queue) const;

  // For `submit alloc list`: a line per queue. For `submit alloc info`: the
  // queue, its parameters and each allocation.
  std::string DescribeAll(Time now) const;
  std::string Describe(AllocQueueId queue, Time now) const;

  // Whether the durable state (everything but connected workers and sent
  // cancels) is the same: what replay must give back.
  bool DurablyEqual(const AllocQueues& other) const;
  void CheckInvariants() const;

 private:
  AllocQueue* FindMut(AllocQueueId queue);
  // Builds the record, applies it and keeps it for TakeRecords().
  void Record(AllocRecord record);
  // Ends an allocation with a record.
  void End(const AllocQueue& q, const Allocation& a, AllocState state, bool counted,
           std::string reason, Time now);
  void ApplyOne(const QueueAddedRecord& r);
  void ApplyOne(const QueueRemovedRecord& r);
  void ApplyOne(const QueueResumedRecord& r);
  void ApplyOne(const AllocAskedRecord& r);
  void ApplyOne(const AllocSubmittedRecord& r);
  void ApplyOne(const AllocRunningRecord& r);
  void ApplyOne(const AllocEndedRecord& r);
  void ApplyOne(const AllocSnapshotRecord& r);
  // Drops a removing queue none of whose allocations is left.
  void MaybeDrop(AllocQueueId queue);

  std::map<AllocQueueId, AllocQueue> queues_;
  AllocQueueId next_queue_ = 1;
  int64_t backoff_first_ms_ = kFailureBackoffFirstMs;
  struct Ref {
    AllocQueueId queue = 0;
    uint32_t seq = 0;
    bool operator==(const Ref&) const = default;
  };
  std::map<SlurmJobId, Ref> by_job_;
  std::vector<AllocRecord> records_;
};

// The demand of each queue (AllocDemand above), from the scheduler's jobs
// and its pool, after a scheduling pass: a step still in a ready queue then
// found no connected worker with room. Counts each ready class whose steps
// a worker of the queue's shape could run (slots, labels, resources, and
// its time limit against their time_request), at most as many steps as
// the job's max_parallel still allows. Slot units: a class of 3-slot steps
// counts 3 per step, even on 4-slot workers that can hold one.
AllocDemand ComputeDemand(const AllocQueues& queues,
                          const std::map<JobId, std::unique_ptr<Job>>& jobs,
                          const WorkerPool& pool);

}  // namespace drover::broker
