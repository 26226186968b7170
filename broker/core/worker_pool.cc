#include "broker/core/worker_pool.h"

#include <algorithm>
#include <cassert>
#include <stdexcept>

#include "shared/durations.h"

namespace drover::broker {

LabelId WorkerPool::Intern(std::string_view label) {
  auto [it, inserted] =
      label_ids_.try_emplace(std::string(label), static_cast<LabelId>(label_ids_.size()));
  if (inserted) label_names_.emplace_back(label);
  return it->second;
}

ResourceNeeds WorkerPool::InternNeeds(const ResourceList& list) {
  ResourceNeeds needs;
  needs.reserve(list.size());
  for (const ResourceAmount& r : list) {
    if (r.amount == 0) continue;
    auto [it, inserted] =
        resource_ids_.try_emplace(r.name, static_cast<ResourceId>(resource_ids_.size()));
    if (inserted) resource_names_.push_back(r.name);
    needs.push_back(ResourceNeed{it->second, r.amount});
  }
  std::sort(needs.begin(), needs.end());
  return needs;
}

namespace {

// When a worker with `info` that said hello at `now` must stop; 0: never.
// What it says is bounded (30 days) so the sum cannot overflow.
Time EndsAt(const WorkerInfo& info, Time now) {
  constexpr uint64_t kMaxLeftMs = 30ull * 24 * 3600 * 1000;
  if (info.time_left_ms == 0) return 0;
  return now + static_cast<Time>(std::min(info.time_left_ms, kMaxLeftMs));
}

ResourceHeld* FindHeld(std::vector<ResourceHeld>& held, ResourceId id) {
  for (ResourceHeld& h : held) {
    if (h.id == id) return &h;
  }
  return nullptr;
}

const ResourceHeld* FindHeld(const std::vector<ResourceHeld>& held, ResourceId id) {
  for (const ResourceHeld& h : held) {
    if (h.id == id) return &h;
  }
  return nullptr;
}

}  // namespace

void WorkerPool::SetResources(Worker* worker) {
  worker->resources.clear();
  for (const ResourceNeed& n : InternNeeds(worker->info.resources)) {
    worker->resources.push_back(ResourceHeld{n.id, n.amount, 0});
  }
  for (const auto& [key, a] : worker->running) {
    for (const ResourceNeed& n : a.needs) {
      ResourceHeld* h = FindHeld(worker->resources, n.id);
      if (h == nullptr) h = &worker->resources.emplace_back(ResourceHeld{n.id, 0, 0});
      h->used += n.amount;
    }
  }
  std::sort(worker->resources.begin(), worker->resources.end(),
            [](const ResourceHeld& a, const ResourceHeld& b) { return a.id < b.id; });
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
  ++capacity_generation_;
  Worker& w = workers_[id];
  w.id = id;
  w.labels = InternAll(info.labels);
  w.info = std::move(info);
  w.draining = w.info.draining;
  w.ends_at = EndsAt(w.info, now);
  SetResources(&w);
  w.free = w.capacity();
  w.last_heard = now;
  w.connected_since = now;
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
  ++capacity_generation_;
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

bool WorkerPool::Fits(const Worker& w, uint32_t slots, const LabelSet& labels,
                      const ResourceNeeds& needs) {
  if (w.info.slots < slots ||
      !std::includes(w.labels.begin(), w.labels.end(), labels.begin(), labels.end())) {
    return false;
  }
  for (const ResourceNeed& n : needs) {
    const ResourceHeld* h = FindHeld(w.resources, n.id);
    if (h == nullptr || h->total < n.amount) return false;
  }
  return true;
}

bool WorkerPool::HasRoom(const Worker& w, const ResourceNeeds& needs) {
  for (const ResourceNeed& n : needs) {
    const ResourceHeld* h = FindHeld(w.resources, n.id);
    if (h == nullptr || h->used > h->total || h->total - h->used < n.amount) return false;
  }
  return true;
}

std::string WorkerPool::WhyNoneFits(uint32_t slots, const LabelSet& labels,
                                    const ResourceNeeds& needs, uint32_t time_request_ms,
                                    Time now) const {
  auto join = [](const std::vector<std::string>& words) {
    std::string out;
    for (const std::string& w : words) out += (out.empty() ? "" : ", ") + w;
    return out;
  };
  const Time until = time_request_ms > 0 ? now + time_request_ms : 0;
  size_t connected = 0, open = 0;
  std::vector<const Worker*> with_labels;
  Time latest_end = 0;  // of the workers that fit but for their time
  for (const auto& [id, w] : workers_) {
    if (!w.connected) continue;
    ++connected;
    if (w.draining) continue;
    ++open;
    if (Fits(w, slots, labels, needs)) {
      if (LastsUntil(w, until)) return "";
      latest_end = std::max(latest_end, w.ends_at);
      continue;
    }
    if (std::includes(w.labels.begin(), w.labels.end(), labels.begin(), labels.end())) {
      with_labels.push_back(&w);
    }
  }
  if (connected == 0) return "no worker is connected";
  if (open == 0) return "every worker is draining";
  if (latest_end > 0) {
    return "no worker has " + ShortDuration(time_request_ms) + " left before its time limit; " +
           "the most is " + ShortDuration(latest_end - now);
  }
  std::vector<std::string> wanted;
  for (LabelId l : labels) wanted.push_back(label_names_[l]);
  std::sort(wanted.begin(), wanted.end());
  if (with_labels.empty()) {
    std::vector<std::string> missing;
    for (LabelId l : labels) {
      const bool somewhere = std::any_of(workers_.begin(), workers_.end(), [&](const auto& kv) {
        const Worker& w = kv.second;
        return w.open() && std::binary_search(w.labels.begin(), w.labels.end(), l);
      });
      if (!somewhere) missing.push_back(label_names_[l]);
    }
    std::sort(missing.begin(), missing.end());
    if (missing.size() == 1) return "no worker has label " + missing[0];
    if (!missing.empty()) return "no worker has labels " + join(missing);
    return "no worker has all the labels " + join(wanted);
  }
  const std::string among = labels.empty() ? "" : " with label" +
                                                      std::string(labels.size() > 1 ? "s " : " ") +
                                                      join(wanted);
  uint32_t most = 0;
  for (const Worker* w : with_labels) most = std::max(most, w->info.slots);
  if (most < slots) {
    return "no worker" + among + " has " + std::to_string(slots) + " slots; largest is " +
           std::to_string(most);
  }
  std::erase_if(with_labels, [&](const Worker* w) { return w->info.slots < slots; });
  for (const ResourceNeed& n : needs) {
    uint64_t largest = 0;
    for (const Worker* w : with_labels) {
      if (const ResourceHeld* h = FindHeld(w->resources, n.id)) largest = std::max(largest, h->total);
    }
    if (largest >= n.amount) continue;
    const std::string& name = resource_names_[n.id];
    return "no worker" + among + " has " + FormatResource({name, n.amount}) +
           (largest == 0 ? "; none has any" : "; largest is " + FormatAmount(name, largest));
  }
  ResourceList amounts;
  for (const ResourceNeed& n : needs) amounts.push_back({resource_names_[n.id], n.amount});
  std::sort(amounts.begin(), amounts.end());
  std::vector<std::string> all = {std::to_string(slots) + " slot" + (slots > 1 ? "s" : "")};
  for (const ResourceAmount& r : amounts) all.push_back(FormatResource(r));
  if (!wanted.empty()) all.push_back("label" + std::string(wanted.size() > 1 ? "s " : " ") + join(wanted));
  return "no one worker has all of " + join(all);
}

Worker* WorkerPool::FindInstance(std::string_view instance) {
  auto it = by_instance_.find(std::string(instance));
  return it == by_instance_.end() ? nullptr : Find(it->second);
}

const Worker* WorkerPool::FindInstance(std::string_view instance) const {
  auto it = by_instance_.find(std::string(instance));
  return it == by_instance_.end() ? nullptr : Find(it->second);
}

WorkerPool::HelloVerdict WorkerPool::JudgeHello(std::string_view name, std::string_view instance,
                                                std::string_view previous_instance) const {
  HelloVerdict verdict;
  if (!instance.empty() && FindInstance(instance) != nullptr) {
    verdict.back = true;
    return verdict;
  }
  if (!previous_instance.empty()) verdict.previous = FindInstance(previous_instance);
  for (const auto& [id, w] : workers_) {
    if (!w.connected || w.info.name != name || &w == verdict.previous) continue;
    // The oldest connection holds the name, should several (back from out
    // of touch) share it.
    if (verdict.holder == nullptr || w.connected_since < verdict.holder->connected_since ||
        (w.connected_since == verdict.holder->connected_since && w.id < verdict.holder->id)) {
      verdict.holder = &w;
    }
  }
  return verdict;
}

void WorkerPool::SetConnected(Worker* worker, bool connected, std::optional<Time> now) {
  if (worker->connected == connected) return;
  assert(!connected || now.has_value());
  if (connected) worker->connected_since = now.value_or(worker->last_heard);
  ++capacity_generation_;
  const uint32_t old_idle = worker->idle();
  worker->connected = connected;
  UpdateFree(worker, old_idle);
}

void WorkerPool::UpdateInfo(Worker* worker, WorkerInfo info, Time now) {
  const uint32_t old_idle = worker->idle();
  ++capacity_generation_;
  worker->labels = InternAll(info.labels);
  worker->info = std::move(info);
  worker->draining = worker->draining || worker->info.draining;
  worker->ends_at = EndsAt(worker->info, now);
  SetResources(worker);
  UpdateFree(worker, old_idle);
}

void WorkerPool::SetDraining(Worker* worker) {
  if (worker->draining) return;
  ++capacity_generation_;
  const uint32_t old_idle = worker->idle();
  worker->draining = true;
  UpdateFree(worker, old_idle);
}

Worker* WorkerPool::Pick(uint32_t slots, const LabelSet& labels, const ResourceNeeds& needs,
                         Time until, bool idle_only) {
  auto fits = [&](const Worker& w) {
    return Fits(w, slots, labels, needs) && HasRoom(w, needs) && LastsUntil(w, until);
  };
  // Both indexes are ordered most-first, so the first fit is the best one:
  // a worker that starts the step at once, else one that queues it.
  for (const auto& [idle, id] : by_idle_) {
    if (idle < slots) break;
    if (Worker& w = workers_.at(id); fits(w)) return &w;
  }
  if (idle_only) return nullptr;
  for (const auto& [free, id] : by_free_) {
    if (free < slots) break;
    Worker& w = workers_.at(id);
    // Queued, a step starts when the steps before it end, which may be
    // after the worker's time is up: a step that must fit is only started.
    if (until != 0 && w.ends_at != 0) continue;
    if (fits(w)) return &w;
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

void WorkerPool::Assign(Worker* worker, const TaskKey& key, uint32_t slots,
                        const ResourceNeeds& needs) {
  assert(worker->free >= slots && HasRoom(*worker, needs));
  Hold(worker, key, slots, needs);
}

void WorkerPool::Hold(Worker* worker, const TaskKey& key, uint32_t slots,
                      const ResourceNeeds& needs) {
  Assignment a;
  a.slots = slots;
  a.needs = needs;
  a.order = next_order_++;
  for (const ResourceNeed& n : needs) {
    ResourceHeld* h = FindHeld(worker->resources, n.id);
    if (h == nullptr) {  // a worker known only from the journal has none yet
      worker->resources.push_back(ResourceHeld{n.id, 0, 0});
      std::sort(worker->resources.begin(), worker->resources.end(),
                [](const ResourceHeld& x, const ResourceHeld& y) { return x.id < y.id; });
      h = FindHeld(worker->resources, n.id);
    }
    h->used += n.amount;
  }
  worker->running.emplace(key, std::move(a));
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
  for (const ResourceNeed& n : it->second.needs) FindHeld(worker->resources, n.id)->used -= n.amount;
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

void WorkerPool::ForgetRetracts(Worker* holder) {
  ++generation_;
  for (auto& [key, a] : holder->running) {
    if (a.retract_for.value != 0) {
      if (Worker* taker = Find(a.retract_for)) taker->incoming -= a.slots;
    }
    a.retract_for = WorkerId();
    a.retract_asked = false;
  }
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
    std::unordered_map<ResourceId, uint64_t> used;
    for (const auto& [key, a] : w.running) {
      for (const ResourceNeed& n : a.needs) used[n.id] += n.amount;
    }
    for (const ResourceHeld& h : w.resources) {
      if (h.used != used[h.id]) throw std::logic_error("worker resources used");
    }
    for (const auto& [rid, amount] : used) {
      if (amount > 0 && FindHeld(w.resources, rid) == nullptr) {
        throw std::logic_error("worker resources: an assignment's resource is not listed");
      }
    }
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
