#include "broker/core/worker_pool.h"

#include <algorithm>
#include <cassert>
#include <stdexcept>

namespace drover::broker {

LabelId WorkerPool::Intern(std::string_view label) {
  auto [it, inserted] =
      label_ids_.try_emplace(std::string(label), static_cast<LabelId>(label_ids_.size()));
  return it->second;
}

LabelSet WorkerPool::InternAll(const std::vector<std::string>& labels) {
  LabelSet set;
  set.reserve(labels.size());
  for (const std::string& label : labels) set.push_back(Intern(label));
  std::sort(set.begin(), set.end());
  set.erase(std::unique(set.begin(), set.end()), set.end());
  return set;
}

WorkerId WorkerPool::Add(WorkerInfo info, Time now) {
  const WorkerId id(next_worker_++);
  ++generation_;
  Worker& w = workers_[id];
  w.id = id;
  w.labels = InternAll(info.labels);
  w.info = std::move(info);
  w.free = w.capacity();
  w.last_heard = now;
  if (!w.info.instance.empty()) by_instance_[w.info.instance] = id;
  by_free_.emplace(w.free, id);
  by_idle_.emplace(w.idle(), id);
  free_total_ += w.free;
  return id;
}

void WorkerPool::Remove(WorkerId id) {
  auto it = workers_.find(id);
  if (it == workers_.end()) return;
  assert(it->second.running.empty());
  ++generation_;
  // Attempts elsewhere asked back for it stay asked (they are not asked
  // twice), but nobody waits for them here any more.
  if (it->second.incoming > 0) {
    for (auto& [wid, w] : workers_) {
      for (auto& [key, a] : w.running) {
        if (a.retract_for == id) a.retract_for = WorkerId();
      }
    }
  }
  queueing_.erase(id);
  by_free_.erase({it->second.free, id});
  by_idle_.erase({it->second.idle(), id});
  free_total_ -= it->second.free;
  if (auto inst = by_instance_.find(it->second.info.instance);
      inst != by_instance_.end() && inst->second == id) {
    by_instance_.erase(inst);
  }
  workers_.erase(it);
}

Worker* WorkerPool::Find(WorkerId id) {
  auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : &it->second;
}

const Worker* WorkerPool::Find(WorkerId id) const {
  auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : &it->second;
}

bool WorkerPool::Fits(const Worker& w, uint32_t slots, const LabelSet& labels) {
  return w.info.slots >= slots &&
         std::includes(w.labels.begin(), w.labels.end(), labels.begin(), labels.end());
}

Worker* WorkerPool::FindInstance(std::string_view instance) {
  auto it = by_instance_.find(std::string(instance));
  return it == by_instance_.end() ? nullptr : Find(it->second);
}

void WorkerPool::SetConnected(Worker* worker, bool connected) {
  if (worker->connected == connected) return;
  const uint32_t old_idle = worker->idle();
  worker->connected = connected;
  UpdateFree(worker, old_idle);
}

void WorkerPool::UpdateInfo(Worker* worker, WorkerInfo info) {
  const uint32_t old_idle = worker->idle();
  worker->labels = InternAll(info.labels);
  worker->info = std::move(info);
  UpdateFree(worker, old_idle);
}

Worker* WorkerPool::Pick(uint32_t slots, const LabelSet& labels) {
  auto fits = [&](const Worker& w) { return Fits(w, slots, labels); };
  // Both indexes are ordered most-first, so the first fit is the best one:
  // a worker that starts the step at once, else one that queues it.
  for (const auto& [idle, id] : by_idle_) {
    if (idle < slots) break;
    if (Worker& w = workers_.at(id); fits(w)) return &w;
  }
  for (const auto& [free, id] : by_free_) {
    if (free < slots) break;
    if (Worker& w = workers_.at(id); fits(w)) return &w;
  }
  return nullptr;
}

namespace {

// Re-keys the entry (from, id) as (to, id), moving its node rather than
// freeing one and allocating another: this runs twice for every step.
template <typename Index>
void Rekey(Index* index, uint32_t from, uint32_t to, WorkerId id) {
  auto node = index->extract({from, id});
  node.value().first = to;
  index->insert(std::move(node));
}

}  // namespace

void WorkerPool::UpdateFree(Worker* worker, uint32_t old_idle) {
  ++generation_;
  if (worker->used > worker->info.slots) {
    queueing_.insert(worker->id);
  } else {
    queueing_.erase(worker->id);
  }
  if (worker->idle() != old_idle) Rekey(&by_idle_, old_idle, worker->idle(), worker->id);
  const uint32_t capacity = worker->capacity();
  const uint32_t free = capacity > worker->used ? capacity - worker->used : 0;
  if (free == worker->free) return;
  Rekey(&by_free_, worker->free, free, worker->id);
  free_total_ = free_total_ - worker->free + free;
  worker->free = free;
}

void WorkerPool::Assign(Worker* worker, const TaskKey& key, uint32_t slots) {
  assert(worker->free >= slots);
  Hold(worker, key, slots);
}

void WorkerPool::Hold(Worker* worker, const TaskKey& key, uint32_t slots) {
  Assignment a;
  a.slots = slots;
  a.order = next_order_++;
  worker->running.emplace(key, a);
  const uint32_t old_idle = worker->idle();
  worker->used += slots;
  UpdateFree(worker, old_idle);
}

bool WorkerPool::Release(Worker* worker, const TaskKey& key, std::optional<int64_t> run_ms) {
  auto it = worker->running.find(key);
  if (it == worker->running.end()) return false;
  const uint32_t old_idle = worker->idle();
  if (it->second.retract_for.value != 0) {
    if (Worker* taker = Find(it->second.retract_for)) taker->incoming -= it->second.slots;
  }
  worker->used -= it->second.slots;
  worker->running.erase(it);
  if (run_ms) {
    // Clamped: the times come from the worker, and anything this long is
    // simply long.
    const int64_t sample = std::clamp<int64_t>(*run_ms, 0, kPrefetchBelowMs * 1000) * 1000;
    // An exponential moving average (weight 1/8): a few long steps switch
    // prefetch off, a few short ones back on.
    worker->avg_run_us =
        worker->avg_run_us < 0 ? sample : worker->avg_run_us + (sample - worker->avg_run_us) / 8;
  }
  UpdateFree(worker, old_idle);
  return true;
}

void WorkerPool::MarkRetracting(Worker* holder, const TaskKey& key, Worker* taker) {
  Assignment& a = holder->running.at(key);
  assert(!a.retract_asked);
  ++generation_;
  a.retract_asked = true;
  a.retract_for = taker->id;
  taker->incoming += a.slots;
}

void WorkerPool::RetractDeclined(Worker* holder, const TaskKey& key) {
  auto it = holder->running.find(key);
  if (it == holder->running.end() || it->second.retract_for.value == 0) return;
  ++generation_;
  if (Worker* taker = Find(it->second.retract_for)) taker->incoming -= it->second.slots;
  it->second.retract_for = WorkerId();
}

void WorkerPool::CheckInvariants() const {
  uint32_t total = 0;
  std::unordered_map<WorkerId, uint32_t> incoming;
  for (const auto& [id, w] : workers_) {
    for (const auto& [key, a] : w.running) {
      if (a.retract_for.value != 0) incoming[a.retract_for] += a.slots;
      if (a.retract_for.value != 0 && !a.retract_asked) throw std::logic_error("retract_for unasked");
    }
  }
  for (const auto& [id, w] : workers_) {
    if (w.incoming != incoming[id]) throw std::logic_error("worker incoming slots");
    if ((w.used > w.info.slots) != (queueing_.count(id) == 1)) throw std::logic_error("queueing_");
  }
  if (by_free_.size() != workers_.size() || by_idle_.size() != workers_.size()) {
    throw std::logic_error("worker index size");
  }
  for (const auto& [id, w] : workers_) {
    uint32_t used = 0;
    for (const auto& [key, assigned] : w.running) used += assigned.slots;
    if (used != w.used) throw std::logic_error("worker used slots");
    if (w.free != (w.capacity() > used ? w.capacity() - used : 0)) {
      throw std::logic_error("worker free slots");
    }
    if (!by_free_.count({w.free, id})) throw std::logic_error("by_free_ entry");
    if (!by_idle_.count({w.idle(), id})) throw std::logic_error("by_idle_ entry");
    total += w.free;
  }
  if (total != free_total_) throw std::logic_error("free_total_");
}

}  // namespace drover::broker
