#include "broker/core/alloc_queue.h"

#include <algorithm>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "broker/core/job.h"
#include "shared/codec_typed.h"
#include "shared/durations.h"

namespace drover::broker {

namespace {

// Ended allocations a queue keeps for `submit alloc info`; older ones are
// forgotten, so a queue that runs for months stays small.
constexpr size_t kKeptEnded = 50;

void Fail(const char* what) { throw std::logic_error(std::string("alloc queues: ") + what); }

std::string Ago(Time at, Time now) {
  if (at <= 0) return "-";
  return ShortDuration(std::max<Time>(now - at, 0)) + " ago";
}

const char* QueueStateName(AllocQueueState s) {
  switch (s) {
    case AllocQueueState::kActive: return "active";
    case AllocQueueState::kPaused: return "paused";
    case AllocQueueState::kRemoving: return "removing";
  }
  return "?";
}

std::string Join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const std::string& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

std::string QueueName(const AllocQueue& q) {
  return q.params.name.empty() ? "queue " + std::to_string(q.id) : q.params.name;
}

}  // namespace

int64_t FailureBackoffMs(uint32_t failures_in_row, int64_t first) {
  if (failures_in_row == 0) return 0;
  const int64_t most = first * (kFailureBackoffMaxMs / kFailureBackoffFirstMs);
  int64_t delay = first;
  for (uint32_t i = 1; i < failures_in_row && delay < most; ++i) delay *= 2;
  return std::min(delay, most);
}

const char* AllocStateName(AllocState state) {
  switch (state) {
    case AllocState::kSubmitting: return "submitting";
    case AllocState::kQueued: return "queued";
    case AllocState::kRunning: return "running";
    case AllocState::kFinished: return "finished";
    case AllocState::kFailed: return "failed";
  }
  return "?";
}

bool AllocEnded(AllocState state) {
  return state == AllocState::kFinished || state == AllocState::kFailed;
}

uint32_t Allocation::Coming(uint32_t workers_per_alloc, Time now) const {
  switch (state) {
    case AllocState::kSubmitting:
    case AllocState::kQueued:
      return workers_per_alloc;
    case AllocState::kRunning: {
      // Nodes that boot slowly still bring their workers; past the connect
      // timeout the ones missing are not coming.
      if (now - started_at >= kConnectTimeoutMs) return 0;
      const auto seen_n = static_cast<uint32_t>(seen.size());
      return seen_n >= workers_per_alloc ? 0 : workers_per_alloc - seen_n;
    }
    case AllocState::kFinished:
    case AllocState::kFailed:
      return 0;
  }
  return 0;
}

const Allocation* AllocQueue::Find(uint32_t seq) const {
  for (const Allocation& a : allocations) {
    if (a.seq == seq) return &a;
  }
  return nullptr;
}

Allocation* AllocQueue::Find(uint32_t seq) {
  return const_cast<Allocation*>(std::as_const(*this).Find(seq));
}

uint64_t AllocQueue::ComingSlots(Time now) const {
  uint64_t workers = 0;
  for (const Allocation& a : allocations) workers += a.Coming(params.workers_per_alloc, now);
  return workers * params.slots;
}

uint32_t AllocQueue::Waiting() const {
  uint32_t n = 0;
  for (const Allocation& a : allocations) {
    n += a.state == AllocState::kSubmitting || a.state == AllocState::kQueued;
  }
  return n;
}

uint32_t AllocQueue::Nodes() const {
  uint32_t n = 0;
  for (const Allocation& a : allocations) n += AllocEnded(a.state) ? 0 : params.workers_per_alloc;
  return n;
}

Time AllocQueue::BackoffUntil(int64_t first_backoff) const {
  if (failures_in_row == 0) return 0;
  return last_failure_at + FailureBackoffMs(failures_in_row, first_backoff);
}

// ---- Records ----

void EncodeAllocRecord(const AllocRecord& record, std::string* out) {
  std::visit([out](const auto& r) { PackTyped(r, out); }, record);
}

Result<AllocRecord> DecodeAllocRecord(std::string_view bytes) {
  return DecodeTyped<AllocRecord>(bytes, DecodeLimits{});
}

bool IsAllocRecord(std::string_view bytes) {
  // [type, [fields]]: a fixarray header, then the type as a positive fixint.
  return bytes.size() >= 2 && static_cast<uint8_t>(bytes[1]) >= 32 &&
         static_cast<uint8_t>(bytes[1]) < 0x80;
}

// ---- Entry points ----

Result<AllocQueueId> AllocQueues::Add(AllocQueueParams params) {
  if (std::string why = CheckAllocQueueParams(params); !why.empty()) return Status::Error(why);
  const AllocQueueId id = next_queue_;
  Record(QueueAddedRecord{.queue = id, .params = std::move(params)});
  return id;
}

bool AllocQueues::Remove(AllocQueueId queue, bool now) {
  const AllocQueue* q = Find(queue);
  if (q == nullptr || q->state == AllocQueueState::kRemoving) return false;
  Record(QueueRemovedRecord{.queue = queue, .now = now});
  return true;
}

bool AllocQueues::Resume(AllocQueueId queue) {
  const AllocQueue* q = Find(queue);
  if (q == nullptr || q->state != AllocQueueState::kPaused) return false;
  Record(QueueResumedRecord{.queue = queue});
  return true;
}

std::vector<AllocAction> AllocQueues::Tick(Time now, const AllocDemand& demand) {
  std::vector<AllocAction> actions;
  // Ids first: ending an allocation may drop its (removing) queue.
  std::vector<AllocQueueId> ids;
  for (const auto& [id, q] : queues_) ids.push_back(id);
  for (AllocQueueId id : ids) {
    AllocQueue* q = FindMut(id);
    if (q == nullptr) continue;
    if (q->state == AllocQueueState::kRemoving) {
      for (Allocation& a : q->allocations) {
        if (AllocEnded(a.state) || a.slurm_job_id == 0 || a.cancel_sent) continue;
        if (a.state == AllocState::kRunning && !q->cancel_running) continue;
        a.cancel_sent = true;
        actions.push_back(AllocCancel{.slurm_job_id = a.slurm_job_id});
      }
      continue;
    }
    // Running with no worker for too long: its workers cannot reach us.
    std::vector<uint32_t> stuck;
    for (const Allocation& a : q->allocations) {
      if (a.state == AllocState::kRunning && !a.worker_joined &&
          now - a.started_at >= kConnectTimeoutMs) {
        stuck.push_back(a.seq);
      }
    }
    for (uint32_t seq : stuck) {
      Allocation* a = q->Find(seq);
      actions.push_back(AllocCancel{.slurm_job_id = a->slurm_job_id});
      End(*q, *a, AllocState::kFailed, true,
          "no worker connected within " + ShortDuration(kConnectTimeoutMs) +
              " of its start (can the nodes reach the broker? see the job's output)",
          now);
      q = FindMut(id);  // End does not drop an active queue, but stay safe
      if (q == nullptr) break;
    }
    if (q == nullptr || q->state != AllocQueueState::kActive) continue;
    if (now < q->BackoffUntil(backoff_first_ms_)) continue;
    const auto it = demand.find(id);
    const uint64_t wanted = it == demand.end() ? 0 : it->second;
    if (wanted <= q->ComingSlots(now)) continue;
    if (q->Waiting() >= q->params.backlog) continue;
    if (q->params.max_workers != 0 &&
        q->Nodes() + q->params.workers_per_alloc > q->params.max_workers) {
      continue;
    }
    const uint32_t seq = q->next_seq;
    Record(AllocAskedRecord{.queue = id, .seq = seq, .at = now});
    actions.push_back(AllocSubmit{.queue = id, .seq = seq});
  }
  return actions;
}

void AllocQueues::OnSubmitted(AllocQueueId queue, uint32_t seq, SlurmJobId slurm_job_id,
                              Time now) {
  const AllocQueue* q = Find(queue);
  const Allocation* a = q == nullptr ? nullptr : q->Find(seq);
  if (a == nullptr || a->state != AllocState::kSubmitting) return;
  if (slurm_job_id == 0 || by_job_.count(slurm_job_id) != 0) {
    // Not an answer it can follow: left in kSubmitting, it would hold a
    // place in the backlog until a restart.
    End(*q, *a, AllocState::kFailed, false,
        "sbatch answered job id " + std::to_string(slurm_job_id) +
            ", which is no new job (already followed, or 0)",
        now);
    return;
  }
  Record(AllocSubmittedRecord{.queue = queue, .seq = seq, .slurm_job_id = slurm_job_id, .at = now});
}

void AllocQueues::OnSubmitFailed(AllocQueueId queue, uint32_t seq, const std::string& message,
                                 Time now) {
  const AllocQueue* q = Find(queue);
  const Allocation* a = q == nullptr ? nullptr : q->Find(seq);
  if (a == nullptr || a->state != AllocState::kSubmitting) return;
  // A removing queue counts nothing: its failures no longer matter.
  End(*q, *a, AllocState::kFailed, q->state != AllocQueueState::kRemoving, "sbatch: " + message,
      now);
}

void AllocQueues::OnSlurmState(SlurmJobId slurm_job_id, SlurmJobState state,
                               const std::string& reason, Time now) {
  const auto it = by_job_.find(slurm_job_id);
  if (it == by_job_.end()) return;
  const Ref ref = it->second;
  AllocQueue* q = FindMut(ref.queue);
  Allocation* a = q->Find(ref.seq);
  switch (state) {
    case SlurmJobState::kPending:
      return;
    case SlurmJobState::kRunning:
      if (a->state == AllocState::kQueued) {
        Record(AllocRunningRecord{.queue = ref.queue, .seq = ref.seq, .at = now});
      }
      return;
    case SlurmJobState::kEnded:
      if (a->worker_joined) {
        End(*q, *a, AllocState::kFinished, false, reason, now);
      } else if (q->state == AllocQueueState::kRemoving || a->cancel_sent) {
        End(*q, *a, AllocState::kFinished, false, "cancelled: queue removed (" + reason + ")",
            now);
      } else {
        End(*q, *a, AllocState::kFailed, true,
            "ended before any of its workers connected: " + reason, now);
      }
      return;
  }
}

void AllocQueues::OnWorkerJoined(SlurmJobId slurm_job_id, const std::string& worker, Time now) {
  const auto it = by_job_.find(slurm_job_id);
  if (it == by_job_.end()) return;
  const Ref ref = it->second;
  const Allocation* a = FindMut(ref.queue)->Find(ref.seq);
  if (!a->worker_joined) {
    Record(AllocRunningRecord{.queue = ref.queue, .seq = ref.seq, .at = now, .worker_joined = true});
  }
  Allocation* m = FindMut(ref.queue)->Find(ref.seq);
  m->workers.insert(worker);
  m->seen.insert(worker);
}

void AllocQueues::OnWorkerLeft(SlurmJobId slurm_job_id, const std::string& worker, Time) {
  const auto it = by_job_.find(slurm_job_id);
  if (it == by_job_.end()) return;
  FindMut(it->second.queue)->Find(it->second.seq)->workers.erase(worker);
}

void AllocQueues::AfterReplay(Time now) {
  std::vector<Ref> unanswered;
  for (auto& [id, q] : queues_) {
    q.last_failure_at = std::min(q.last_failure_at, now);
    for (Allocation& a : q.allocations) {
      a.asked_at = std::min(a.asked_at, now);
      a.submitted_at = std::min(a.submitted_at, now);
      a.started_at = std::min(a.started_at, now);
      a.ended_at = std::min(a.ended_at, now);
      if (a.state == AllocState::kSubmitting) unanswered.push_back({id, a.seq});
    }
  }
  for (const Ref& ref : unanswered) {
    const AllocQueue* q = Find(ref.queue);
    End(*q, *q->Find(ref.seq), AllocState::kFailed, false,
        "the broker restarted before sbatch answered; a Slurm job may be left (squeue --name "
        "drover-q" + std::to_string(ref.queue) + "-" + std::to_string(ref.seq) + ")",
        now);
  }
}

std::vector<SlurmJobId> AllocQueues::Following() const {
  std::vector<SlurmJobId> ids;
  for (const auto& [job, ref] : by_job_) ids.push_back(job);
  return ids;
}

const AllocQueue* AllocQueues::Find(AllocQueueId queue) const {
  const auto it = queues_.find(queue);
  return it == queues_.end() ? nullptr : &it->second;
}

AllocQueue* AllocQueues::FindMut(AllocQueueId queue) {
  const auto it = queues_.find(queue);
  return it == queues_.end() ? nullptr : &it->second;
}

void AllocQueues::Record(AllocRecord record) {
  Apply(record);
  records_.push_back(std::move(record));
}

void AllocQueues::End(const AllocQueue& q, const Allocation& a, AllocState state, bool counted,
                      std::string reason, Time now) {
  Record(AllocEndedRecord{.queue = q.id,
                          .seq = a.seq,
                          .state = state,
                          .counted = counted,
                          .reason = std::move(reason),
                          .at = now});
}

// ---- Apply: the one place durable state changes ----

void AllocQueues::Apply(const AllocRecord& record) {
  std::visit([this](const auto& r) { ApplyOne(r); }, record);
}

AllocSnapshotRecord AllocQueues::Snapshot() const {
  AllocSnapshotRecord snapshot{.next_queue = next_queue_};
  for (const auto& [id, q] : queues_) snapshot.queues.push_back(q);
  return snapshot;
}

void AllocQueues::ApplyOne(const AllocSnapshotRecord& r) {
  queues_.clear();
  by_job_.clear();
  next_queue_ = std::max<AllocQueueId>(r.next_queue, 1);
  for (const AllocQueue& q : r.queues) {
    if (q.id == 0 || q.id >= next_queue_ || queues_.count(q.id) != 0) continue;
    AllocQueue& mine = queues_[q.id] = q;
    for (Allocation& a : mine.allocations) {
      a.workers.clear();
      a.seen.clear();
      a.cancel_sent = false;
      if (!AllocEnded(a.state) && a.slurm_job_id != 0) by_job_[a.slurm_job_id] = {q.id, a.seq};
    }
  }
}

void AllocQueues::ApplyOne(const QueueAddedRecord& r) {
  if (r.queue == 0 || queues_.count(r.queue) != 0) return;
  queues_[r.queue] = AllocQueue{.id = r.queue, .params = r.params};
  next_queue_ = std::max(next_queue_, r.queue + 1);
}

void AllocQueues::ApplyOne(const QueueRemovedRecord& r) {
  AllocQueue* q = FindMut(r.queue);
  if (q == nullptr) return;
  q->state = AllocQueueState::kRemoving;
  q->paused_reason.clear();
  q->cancel_running = r.now;
  MaybeDrop(r.queue);
}

void AllocQueues::ApplyOne(const QueueResumedRecord& r) {
  AllocQueue* q = FindMut(r.queue);
  if (q == nullptr || q->state != AllocQueueState::kPaused) return;
  q->state = AllocQueueState::kActive;
  q->paused_reason.clear();
  q->failures_in_row = 0;
}

void AllocQueues::ApplyOne(const AllocAskedRecord& r) {
  AllocQueue* q = FindMut(r.queue);
  if (q == nullptr || r.seq < q->next_seq) return;
  q->allocations.push_back(Allocation{.seq = r.seq, .asked_at = r.at});
  q->next_seq = r.seq + 1;
}

void AllocQueues::ApplyOne(const AllocSubmittedRecord& r) {
  AllocQueue* q = FindMut(r.queue);
  Allocation* a = q == nullptr ? nullptr : q->Find(r.seq);
  if (a == nullptr || a->state != AllocState::kSubmitting || r.slurm_job_id == 0) return;
  a->state = AllocState::kQueued;
  a->slurm_job_id = r.slurm_job_id;
  a->submitted_at = r.at;
  by_job_[r.slurm_job_id] = Ref{.queue = r.queue, .seq = r.seq};
}

void AllocQueues::ApplyOne(const AllocRunningRecord& r) {
  AllocQueue* q = FindMut(r.queue);
  Allocation* a = q == nullptr ? nullptr : q->Find(r.seq);
  if (a == nullptr || (a->state != AllocState::kQueued && a->state != AllocState::kRunning)) return;
  a->state = AllocState::kRunning;
  if (a->started_at == 0) a->started_at = r.at;
  if (r.worker_joined) {
    a->worker_joined = true;
    q->failures_in_row = 0;
  }
}

void AllocQueues::ApplyOne(const AllocEndedRecord& r) {
  AllocQueue* q = FindMut(r.queue);
  Allocation* a = q == nullptr ? nullptr : q->Find(r.seq);
  if (a == nullptr || AllocEnded(a->state) || !AllocEnded(r.state)) return;
  if (a->slurm_job_id != 0) by_job_.erase(a->slurm_job_id);
  a->state = r.state;
  a->counted = r.counted && r.state == AllocState::kFailed;
  a->reason = r.reason;
  a->ended_at = r.at;
  a->workers.clear();
  if (a->counted) {
    ++q->failures_in_row;
    q->last_failure_at = r.at;
    q->last_failure = r.reason;
    if (q->failures_in_row >= kPauseAfterFailures && q->state == AllocQueueState::kActive) {
      q->state = AllocQueueState::kPaused;
      q->paused_reason = std::to_string(q->failures_in_row) +
                         " allocations in a row failed; the last: " + r.reason;
    }
  }
  // Forget the oldest ended allocations beyond kKeptEnded.
  size_t ended = 0;
  for (const Allocation& x : q->allocations) ended += AllocEnded(x.state);
  for (auto it = q->allocations.begin(); ended > kKeptEnded && it != q->allocations.end();) {
    if (AllocEnded(it->state)) {
      it = q->allocations.erase(it);
      --ended;
    } else {
      ++it;
    }
  }
  MaybeDrop(r.queue);
}

void AllocQueues::MaybeDrop(AllocQueueId queue) {
  const AllocQueue* q = Find(queue);
  if (q == nullptr || q->state != AllocQueueState::kRemoving) return;
  for (const Allocation& a : q->allocations) {
    if (!AllocEnded(a.state)) return;
  }
  queues_.erase(queue);
}

// ---- For people ----

std::string AllocQueues::DescribeAll(Time now) const {
  if (queues_.empty()) return "no allocation queues\n";
  std::string out;
  for (const auto& [id, q] : queues_) {
    uint32_t running = 0;
    uint32_t workers = 0;
    for (const Allocation& a : q.allocations) {
      running += a.state == AllocState::kRunning;
      workers += static_cast<uint32_t>(a.workers.size());
    }
    out += std::to_string(id) + "  " + QueueName(q) + "  " + q.params.manager + "  " +
           QueueStateName(q.state) + "  " + std::to_string(running) + " running, " +
           std::to_string(q.Waiting()) + " waiting, " + std::to_string(workers) + " workers";
    if (q.state == AllocQueueState::kPaused) {
      out += "  (" + q.paused_reason + "; `submit alloc resume " + std::to_string(id) + "`)";
    } else if (q.failures_in_row > 0) {
      out += "  (" + std::to_string(q.failures_in_row) + " failed in a row";
      const Time until = q.BackoffUntil(backoff_first_ms_);
      if (now < until) out += ", next try in " + ShortDuration(until - now);
      out += ")";
    }
    out += "\n";
  }
  return out;
}

std::string AllocQueues::Describe(AllocQueueId queue, Time now) const {
  const AllocQueue* q = Find(queue);
  if (q == nullptr) return "no allocation queue " + std::to_string(queue) + "\n";
  const AllocQueueParams& p = q->params;
  std::string out = "queue " + std::to_string(q->id) + " (" + QueueName(*q) + "), " + p.manager +
                    ", " + QueueStateName(q->state) + "\n";
  if (q->state == AllocQueueState::kPaused) out += "  paused: " + q->paused_reason + "\n";
  if (q->failures_in_row > 0 && q->state != AllocQueueState::kPaused) {
    out += "  failures in a row: " + std::to_string(q->failures_in_row) + ", the last " +
           Ago(q->last_failure_at, now) + ": " + q->last_failure + "\n";
  }
  out += "  each allocation: " + std::to_string(p.workers_per_alloc) + " node(s) for " +
         ShortDuration(p.time_limit_ms) + "; at most " + std::to_string(p.backlog) +
         " waiting in Slurm, " +
         (p.max_workers == 0 ? std::string("no limit of nodes")
                             : std::to_string(p.max_workers) + " nodes in all") +
         "\n";
  out += "  workers: " + std::to_string(p.slots) + " slot(s)";
  if (!p.labels.empty()) out += ", labels " + Join(p.labels, ",");
  if (!p.resources.empty()) out += ", " + FormatResources(p.resources);
  out += ", leave when idle " + ShortDuration(p.idle_timeout_ms) + "\n";
  if (!p.worker_args.empty()) out += "  worker options: " + Join(p.worker_args, " ") + "\n";
  if (!p.sbatch_args.empty()) out += "  sbatch options: " + Join(p.sbatch_args, " ") + "\n";
  if (q->allocations.empty()) out += "  no allocations yet\n";
  // Two lines each (three with workers), so that a line fits 80 columns
  // whatever the times say; the reason, in Slurm's words, may run longer.
  for (const Allocation& a : q->allocations) {
    out += "  #" + std::to_string(a.seq) + "  " +
           (a.slurm_job_id == 0 ? std::string("no Slurm job")
                                : "Slurm job " + std::to_string(a.slurm_job_id)) +
           "  " + AllocStateName(a.state);
    if (!a.reason.empty()) out += ": " + a.reason;
    out += "\n     asked " + Ago(a.asked_at, now);
    if (a.submitted_at > 0) out += ", submitted " + Ago(a.submitted_at, now);
    if (a.started_at > 0) out += ", started " + Ago(a.started_at, now);
    if (a.ended_at > 0) out += ", ended " + Ago(a.ended_at, now);
    out += "\n";
    if (!a.workers.empty()) {
      out += "     workers " +
             Join(std::vector<std::string>(a.workers.begin(), a.workers.end()), ", ") + "\n";
    }
  }
  return out;
}

// ---- Checks ----

bool AllocQueues::DurablyEqual(const AllocQueues& other) const {
  auto durable = [](const Allocation& a) {
    return std::tie(a.seq, a.slurm_job_id, a.state, a.asked_at, a.submitted_at, a.started_at,
                    a.ended_at, a.worker_joined, a.counted, a.reason);
  };
  auto queue = [](const AllocQueue& q) {
    return std::tie(q.id, q.params, q.state, q.paused_reason, q.cancel_running, q.next_seq,
                    q.failures_in_row, q.last_failure_at, q.last_failure);
  };
  if (next_queue_ != other.next_queue_ || by_job_ != other.by_job_ ||
      queues_.size() != other.queues_.size()) {
    return false;
  }
  for (auto a = queues_.begin(), b = other.queues_.begin(); a != queues_.end(); ++a, ++b) {
    if (a->first != b->first || queue(a->second) != queue(b->second)) return false;
    const auto& xs = a->second.allocations;
    const auto& ys = b->second.allocations;
    if (xs.size() != ys.size()) return false;
    for (size_t i = 0; i < xs.size(); ++i) {
      if (durable(xs[i]) != durable(ys[i])) return false;
    }
  }
  return true;
}

void AllocQueues::CheckInvariants() const {
  std::map<SlurmJobId, Ref> expect;
  for (const auto& [id, q] : queues_) {
    // 1.
    if (id != q.id || id == 0 || id >= next_queue_) Fail("queue id");
    uint32_t last = 0;
    for (const Allocation& a : q.allocations) {
      if (a.seq <= last || a.seq >= q.next_seq) Fail("allocation seqs");
      last = a.seq;
      // 2.
      const bool has_id = a.slurm_job_id != 0;
      if (a.state == AllocState::kSubmitting && has_id) Fail("submitting with a job id");
      if ((a.state == AllocState::kQueued || a.state == AllocState::kRunning) && !has_id) {
        Fail("queued or running without a job id");
      }
      if (has_id && !AllocEnded(a.state)) expect[a.slurm_job_id] = Ref{.queue = id, .seq = a.seq};
      // 3.
      if (!a.workers.empty() && a.state != AllocState::kRunning) Fail("workers while not running");
      if (a.counted && a.state != AllocState::kFailed) Fail("counted but not failed");
    }
    // 4.
    if (q.failures_in_row >= kPauseAfterFailures && q.state == AllocQueueState::kActive) {
      Fail("too many failures for an active queue");
    }
    if ((q.state == AllocQueueState::kPaused) == q.paused_reason.empty()) Fail("paused reason");
    // 5.
    if (q.state == AllocQueueState::kRemoving &&
        std::all_of(q.allocations.begin(), q.allocations.end(),
                    [](const Allocation& a) { return AllocEnded(a.state); })) {
      Fail("removing queue with nothing left");
    }
  }
  if (expect != by_job_) Fail("by_job_ does not match the allocations");
}

// ---- Demand ----

AllocDemand ComputeDemand(const AllocQueues& queues,
                          const std::map<JobId, std::unique_ptr<Job>>& jobs,
                          const WorkerPool& pool) {
  AllocDemand demand;
  for (const auto& [id, q] : queues.queues()) {
    if (q.state != AllocQueueState::kActive) continue;
    const AllocQueueParams& p = q.params;
    uint64_t units = 0;
    for (const auto& [job_id, job] : jobs) {
      // (A cancelled job queues only cleanup steps, which must run too.)
      if (job->finished() || job->queued() == 0) continue;
      // max_parallel: more workers cannot start more than it allows.
      uint64_t allowed = UINT64_MAX;
      if (job->spec().max_parallel != 0) {
        allowed = job->spec().max_parallel > job->running_steps()
                      ? job->spec().max_parallel - job->running_steps()
                      : 0;
      }
      for (const ReadyClass& c : job->classes()) {
        if (allowed == 0) break;
        if (c.empty() || c.slots > p.slots) continue;
        if (c.time_request_ms != 0 && int64_t{c.time_request_ms} > p.time_limit_ms) continue;
        const bool labels = std::all_of(c.labels.begin(), c.labels.end(), [&](LabelId l) {
          return std::find(p.labels.begin(), p.labels.end(), pool.LabelName(l)) != p.labels.end();
        });
        const bool resources = std::all_of(c.needs.begin(), c.needs.end(), [&](const ResourceNeed& n) {
          return AmountOf(p.resources, pool.ResourceName(n.id)) >= n.amount;
        });
        if (!labels || !resources) continue;
        const uint64_t steps = std::min<uint64_t>(c.size(), allowed);
        allowed -= steps;
        units += steps * c.slots;
      }
    }
    if (units > 0) demand[id] = units;
  }
  return demand;
}

}  // namespace drover::broker
