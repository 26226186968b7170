// Retraction (scheduler.h, "Nothing queued stays stranded"): asking workers
// to give back steps queued on them when another worker has idle slots and
// no ready step fits it. Apart from scheduler.cc because it reasons about
// what a worker has probably started, which nothing else does.
//
// Why it is needed: a worker's prefetch queue holds steps beyond its slots
// while its steps are short (worker_pool.h), and a chain's next step may be
// sent along with it (following). Neither can know that the next steps are
// long; when they are, one worker works through its queue while another
// sits idle. Asking back is cheap (one message each way) and safe: the
// worker gives back only what it has not started, and the step's next
// attempt has a new number, so the old one can never run.

#include <algorithm>
#include <vector>

#include "broker/core/scheduler.h"

namespace drover::broker {

void Scheduler::RetractForIdle(Time now) {
  if (replaying_ || pool_.queueing().empty() || pool_.generation() == retract_idle_at_) return;
  // Nobody idle beyond what is being asked back already: the common case
  // while steps flow, and it must cost what it touches, not the queues.
  bool wanting = false;
  pool_.ForEachIdle([&](Worker* w) { wanting |= w->idle() > w->incoming; });
  if (!wanting) {
    retract_idle_at_ = pool_.generation();
    return;
  }

  // Steps that could be asked back: on connected workers holding more than
  // their slots, beyond what they have probably started. A worker starts its
  // queue in the order it was sent, so those assigned first, up to its
  // slots, have probably started. Followers wait for the step they follow,
  // and are never asked back; nor is a step that was asked once.
  struct Candidate {
    Worker* holder;
    TaskKey key;
    uint64_t order;
    uint32_t slots;
    const ReadyClass* cls;
  };
  std::vector<Candidate> candidates;
  std::vector<std::pair<uint64_t, const TaskKey*>> by_order;
  for (WorkerId id : pool_.queueing()) {
    Worker* holder = pool_.Find(id);
    if (!holder->connected) continue;  // it would not hear; its lease decides
    by_order.clear();
    for (const auto& [key, a] : holder->running) by_order.emplace_back(a.order, &key);
    std::sort(by_order.begin(), by_order.end());
    uint32_t started = 0;
    for (const auto& [order, key] : by_order) {
      const Job* job = FindJob(key->job);
      if (job == nullptr || job->run(key->step).conditional) continue;
      const Assignment& a = holder->running.at(*key);
      if (started < holder->info.slots) {
        started += a.slots;
        continue;
      }
      if (a.retract_asked || (job->cancelled() && !job->Cleans(key->step))) continue;
      candidates.push_back(Candidate{holder, *key, order, a.slots, &job->class_of(key->step)});
    }
  }
  // The newest first: those would start last where they are.
  std::sort(candidates.begin(), candidates.end(),
            [](const Candidate& a, const Candidate& b) { return a.order > b.order; });

  bool asked = false;
  pool_.ForEachIdle([&](Worker* taker) {
    uint32_t want = taker->idle() > taker->incoming ? taker->idle() - taker->incoming : 0;
    for (Candidate& c : candidates) {
      if (want == 0) break;
      if (c.holder == nullptr || c.holder == taker || c.slots > want ||
          !WorkerPool::Fits(*taker, c.cls->slots, c.cls->labels, c.cls->needs) ||
          !WorkerPool::HasRoom(*taker, c.cls->needs) ||
          !WorkerPool::LastsUntil(*taker, c.cls->time_request_ms > 0
                                              ? now + c.cls->time_request_ms
                                              : 0)) {
        continue;
      }
      pool_.MarkRetracting(c.holder, c.key, taker);
      outbox_->Retract(c.holder->id, c.key);
      want -= c.slots;
      c.holder = nullptr;  // taken
      asked = true;
    }
  });
  if (!asked) retract_idle_at_ = pool_.generation();
}

void Scheduler::OnRetractDeclined(WorkerId from, const std::vector<TaskKey>& keys) {
  Worker* w = pool_.Find(from);
  if (w == nullptr) return;
  for (const TaskKey& key : keys) pool_.RetractDeclined(w, key);
}

}  // namespace drover::broker
