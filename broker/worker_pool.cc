#include "broker/worker_pool.h"

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
  Worker& w = workers_[id];
  w.id = id;
  w.labels = InternAll(info.labels);
  w.info = std::move(info);
  w.free = w.info.slots;
  w.last_heard = now;
  by_free_.emplace(w.free, id);
  free_total_ += w.free;
  return id;
}

void WorkerPool::Remove(WorkerId id) {
  auto it = workers_.find(id);
  if (it == workers_.end()) return;
  assert(it->second.running.empty());
  by_free_.erase({it->second.free, id});
  free_total_ -= it->second.free;
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

Worker* WorkerPool::Pick(uint32_t slots, const LabelSet& labels) {
  // by_free_ is ordered most-free first, so the first fit is the best one.
  for (const auto& [free, id] : by_free_) {
    if (free < slots) break;
    Worker& w = workers_.at(id);
    if (std::includes(w.labels.begin(), w.labels.end(), labels.begin(), labels.end())) return &w;
  }
  return nullptr;
}

void WorkerPool::SetFree(Worker* worker, uint32_t free) {
  by_free_.erase({worker->free, worker->id});
  free_total_ = free_total_ - worker->free + free;
  worker->free = free;
  by_free_.emplace(free, worker->id);
}

void WorkerPool::Assign(Worker* worker, const TaskKey& key, uint32_t slots) {
  assert(worker->free >= slots);
  worker->running.emplace(key, slots);
  SetFree(worker, worker->free - slots);
}

bool WorkerPool::Release(Worker* worker, const TaskKey& key) {
  auto it = worker->running.find(key);
  if (it == worker->running.end()) return false;
  const uint32_t slots = it->second;
  worker->running.erase(it);
  SetFree(worker, worker->free + slots);
  return true;
}

void WorkerPool::CheckInvariants() const {
  uint32_t total = 0;
  if (by_free_.size() != workers_.size()) throw std::logic_error("by_free_ size");
  for (const auto& [id, w] : workers_) {
    uint32_t used = 0;
    for (const auto& [key, slots] : w.running) used += slots;
    if (w.free + used != w.info.slots) throw std::logic_error("worker slot accounting");
    if (!by_free_.count({w.free, id})) throw std::logic_error("by_free_ entry");
    total += w.free;
  }
  if (total != free_total_) throw std::logic_error("free_total_");
}

}  // namespace drover::broker
