#include "worker/core/local_scheduler.h"

#include <algorithm>
#include <stdexcept>
#include <unordered_set>
#include <utility>

namespace drover::worker {

LocalScheduler::LocalScheduler(LocalSchedulerOptions options, ProcessRunner* runner)
    : options_(std::move(options)), runner_(runner), resources_(options_.resources) {}

void LocalScheduler::OnWelcome(Time now, uint32_t heartbeat_ms) {
  in_touch_ = true;
  last_heard_ = now;
  heartbeat_ms_ = heartbeat_ms;
  results_.Reconnected();
}

void LocalScheduler::OnDisconnected() {
  in_touch_ = false;
  results_.Disconnected();
}

void LocalScheduler::Accept(Task task, Time now) {
  if (stopping_ || where_.count(task.key)) return;  // sent again: held already
  if (draining_) {
    // Crossed our Draining on the way: back to the broker, unstarted.
    ReportUnstarted(task.key, Outcome::kRetracted, now, "", /*urgent=*/true);
    Ended(task.key, false, now);
    return;
  }
  if (!task.follows()) {
    where_.emplace(task.key, Place::kQueued);
    queued_.push_back(std::move(task));
    return;
  }
  const TaskKey pred = task.predecessor();
  // Running, queued, or itself following another (a chain sent ahead).
  if (where_.count(pred)) {
    where_.emplace(task.key, Place::kFollowing);
    followers_[pred].push_back(std::move(task));
  } else if (auto it = ended_.find(pred); it != ended_.end() && it->second) {
    where_.emplace(task.key, Place::kQueued);
    queued_.push_front(std::move(task));  // it already succeeded: its slot is free
  } else {
    ReportUnstarted(task.key, Outcome::kNotRun, now);  // it failed, or is unknown here
  }
}

bool LocalScheduler::Kill(const TaskKey& key, Time now) {
  if (auto it = process_of_.find(key); it != process_of_.end()) {
    runner_->Stop(it->second, Outcome::kKilled, now);
    return true;
  }
  if (!RemoveWaiting(key)) return false;
  ReportUnstarted(key, Outcome::kKilled, now);
  Ended(key, false, now);
  return true;
}

std::vector<TaskKey> LocalScheduler::Retract(const std::vector<TaskKey>& keys, Time now) {
  std::vector<TaskKey> declined;
  for (const TaskKey& key : keys) {
    if (!RemoveWaiting(key)) {
      declined.push_back(key);
      continue;
    }
    ReportUnstarted(key, Outcome::kRetracted, now, "", /*urgent=*/true);
    Ended(key, false, now);
  }
  return declined;
}

void LocalScheduler::Drain(Time now) {
  draining_ = true;
  std::vector<TaskKey> waiting;
  for (const Task& t : queued_) waiting.push_back(t.key);
  for (const auto& [pred, tasks] : followers_) {
    for (const Task& t : tasks) waiting.push_back(t.key);
  }
  // Those following one given back here are given back with it (kNotRun).
  (void)Retract(waiting, now);
}

bool LocalScheduler::RemoveWaiting(const TaskKey& key) {
  auto where = where_.find(key);
  if (where == where_.end() || where->second == Place::kRunning) return false;
  auto is_it = [&](const Task& t) { return t.key == key; };
  if (where->second == Place::kQueued) {
    queued_.erase(std::find_if(queued_.begin(), queued_.end(), is_it));
  } else {
    for (auto it = followers_.begin(); it != followers_.end(); ++it) {
      auto t = std::find_if(it->second.begin(), it->second.end(), is_it);
      if (t == it->second.end()) continue;
      it->second.erase(t);
      if (it->second.empty()) followers_.erase(it);
      break;
    }
  }
  where_.erase(where);
  return true;
}

void LocalScheduler::StartQueued(Time now) {
  while (in_touch_ && !stopping_ && !queued_.empty()) {
    const Task& head = queued_.front();
    if (std::string why = resources_.NeverFits(head.resources); !why.empty()) {
      // It would block the queue for ever. (The broker sends no such task:
      // the worker was restarted with less, say.)
      const TaskKey key = head.key;
      RunResult run;
      run.outcome = Outcome::kSpawnFailed;
      run.error = "it asks for " + FormatResources(head.resources) + " and " + why;
      queued_.pop_front();  // `head` dangles from here on
      where_.erase(key);
      results_.Add(TaskResult{key, std::move(run)}, now);
      Ended(key, false, now);
      continue;
    }
    if ((busy_slots_ + head.slots > options_.slots && busy_slots_ > 0) ||
        !resources_.Free(head.resources)) {
      break;
    }
    Task task = std::move(queued_.front());
    queued_.pop_front();
    Start(std::move(task), now);
  }
}

void LocalScheduler::Start(Task task, Time now) {
  const TaskKey key = task.key;
  RunningTask running;
  running.key = key;
  running.slots = task.slots;
  running.lease_ms = task.lease_ms;
  running.resources = task.resources;
  running.input.streamed = task.stdin_stream;
  running.grant = resources_.Take(running.resources);
  Result<Id> id = runner_->Start(task, running.grant, now);
  if (!id.ok()) {
    resources_.Give(running.resources, running.grant);
    where_.erase(key);
    RunResult run;
    run.outcome = Outcome::kSpawnFailed;
    run.error = id.status().message();
    results_.Add(TaskResult{key, std::move(run)}, now);
    Ended(key, false, now);
    return;
  }
  where_[key] = Place::kRunning;
  process_of_.emplace(key, id.value());
  busy_slots_ += running.slots;
  running_.emplace(id.value(), std::move(running));
}

void LocalScheduler::OnExit(Id id, const RunResult& run, Time now) {
  auto it = running_.find(id);
  if (it == running_.end()) return;
  const TaskKey key = it->second.key;
  RunResult reported = run;
  if (it->second.cut_off) {
    reported.outcome = Outcome::kLost;
    reported.error = "stopped: out of touch with the broker for nearly its lease";
  }
  busy_slots_ -= it->second.slots;
  resources_.Give(it->second.resources, it->second.grant);
  running_.erase(it);
  process_of_.erase(key);
  where_.erase(key);
  if (!stopping_) results_.Add(TaskResult{key, reported}, now);
  Ended(key, reported.succeeded(), now);
}

void LocalScheduler::Ended(const TaskKey& key, bool succeeded, Time now) {
  if (ended_.emplace(key, succeeded).second) {
    ended_order_.push_back(key);
    if (ended_order_.size() > kRememberedEnds) {
      ended_.erase(ended_order_.front());
      ended_order_.pop_front();
    }
  }
  auto it = followers_.find(key);
  if (it == followers_.end()) return;
  std::vector<Task> waiting = std::move(it->second);
  followers_.erase(it);
  // Front of the queue, in order: the slot `key` freed is theirs.
  for (auto t = waiting.rbegin(); t != waiting.rend(); ++t) {
    if (succeeded && !stopping_) {
      where_[t->key] = Place::kQueued;
      queued_.push_front(std::move(*t));
    } else {
      where_.erase(t->key);
      ReportUnstarted(t->key, Outcome::kNotRun, now);
      Ended(t->key, false, now);
    }
  }
}

void LocalScheduler::ReportUnstarted(const TaskKey& key, Outcome outcome, Time now,
                                     std::string error, bool urgent) {
  if (stopping_) return;
  RunResult run;
  run.outcome = outcome;
  run.error = std::move(error);
  // The broker shows when the attempt ended; there is no start to show.
  results_.Add(TaskResult{key, std::move(run)}, now, urgent);
}

Time LocalScheduler::CutOff(uint32_t lease_ms, Time heard, bool running) const {
  // The broker may give the step away `lease` after it last heard from us,
  // which is about when we last heard from it: up to a heartbeat earlier,
  // if its last heartbeat to us was on the way when ours to it was lost.
  // Keep two heartbeats or a tenth of the lease to spare, and stop a running
  // child early enough for its SIGKILL to land before then (a short lease
  // shortens the grace).
  const int64_t lease = lease_ms;
  const int64_t margin = std::max(lease / 10, 2 * int64_t{heartbeat_ms_});
  const int64_t grace = running ? std::min(options_.kill_grace_ms, lease / 4) : 0;
  return heard + lease - grace - margin;
}

Time LocalScheduler::EnforceLeases(Time now) {
  // In touch: every lease was renewed within the last heartbeat.
  if (stopping_ || (in_touch_ && now - last_heard_ <= Time{heartbeat_ms_})) return -1;
  Time next = -1;
  auto consider = [&next](Time t) { next = next < 0 ? t : std::min(next, t); };
  for (auto& [id, task] : running_) {
    if (task.cut_off) continue;
    const Time cut = CutOff(task.lease_ms, last_heard_, /*running=*/true);
    if (now < cut) {
      consider(cut);
      continue;
    }
    task.cut_off = true;
    runner_->Stop(id, Outcome::kKilled, now,
                  std::min<int64_t>(options_.kill_grace_ms, task.lease_ms / 4));
  }
  // Waiting tasks never started; past their lease they are no longer ours.
  std::vector<TaskKey> gone;
  auto expired = [&](const Task& t) {
    const Time cut = CutOff(t.lease_ms, last_heard_, /*running=*/false);
    if (now < cut) {
      consider(cut);
      return false;
    }
    gone.push_back(t.key);
    return true;
  };
  for (const Task& t : queued_) expired(t);
  for (const auto& [pred, waiting] : followers_) {
    for (const Task& t : waiting) expired(t);
  }
  for (const TaskKey& key : gone) {
    // An earlier one's Ended() may have settled it already (a follower of
    // a queued task that was given up first).
    if (!RemoveWaiting(key)) continue;
    ReportUnstarted(key, Outcome::kLost, now,
                    "not started: out of touch with the broker for its lease");
    Ended(key, false, now);
  }
  return next;
}

void LocalScheduler::ShutDown(Time now) {
  stopping_ = true;
  for (const Task& t : queued_) where_.erase(t.key);
  for (const auto& [pred, waiting] : followers_) {
    for (const Task& t : waiting) where_.erase(t.key);
  }
  queued_.clear();
  followers_.clear();
  for (const auto& [id, task] : running_) runner_->Stop(id, Outcome::kKilled, now);
}

bool LocalScheduler::RunningLow() const {
  // Slot units waiting to start, queued or following a running attempt.
  // Every task takes a slot at least, so the count stops early.
  uint64_t waiting = 0;
  for (const Task& t : queued_) {
    if ((waiting += t.slots) > options_.slots) return false;
  }
  for (const auto& [pred, tasks] : followers_) {
    for (const Task& t : tasks) {
      if ((waiting += t.slots) > options_.slots) return false;
    }
  }
  return true;
}

std::vector<TaskKey> LocalScheduler::Held() const {
  std::vector<TaskKey> held;
  held.reserve(where_.size() + results_.kept());
  for (const auto& [key, place] : where_) held.push_back(key);
  results_.ForEachKept([&](const TaskKey& key) { held.push_back(key); });
  std::sort(held.begin(), held.end());
  return held;
}

RunningTask* LocalScheduler::FindRunning(Id id) {
  auto it = running_.find(id);
  return it == running_.end() ? nullptr : &it->second;
}

size_t LocalScheduler::waiting() const { return where_.size() - running_.size(); }

void LocalScheduler::CheckInvariants() const {
  results_.CheckInvariants();
  resources_.CheckInvariants();
  for (const WorkerResource& r : resources_.declared()) {
    uint64_t held = 0;
    for (const auto& [id, task] : running_) held += AmountOf(task.resources, r.name);
    if (held != resources_.Used(r.name)) {
      throw std::logic_error("local: resources in use are not the running tasks'");
    }
  }
  std::unordered_map<TaskKey, Place> seen;
  auto see = [&](const TaskKey& key, Place place) {
    if (!seen.emplace(key, place).second) throw std::logic_error("local: a task held twice");
    auto it = where_.find(key);
    if (it == where_.end() || it->second != place) {
      throw std::logic_error("local: where_ does not say where a task is");
    }
  };
  uint32_t busy = 0;
  for (const auto& [id, task] : running_) {
    see(task.key, Place::kRunning);
    busy += task.slots;
    auto p = process_of_.find(task.key);
    if (p == process_of_.end() || p->second != id) throw std::logic_error("local: process_of_");
  }
  if (process_of_.size() != running_.size()) throw std::logic_error("local: process_of_ size");
  for (const Task& t : queued_) see(t.key, Place::kQueued);
  for (const auto& [pred, waiting] : followers_) {
    if (waiting.empty()) throw std::logic_error("local: an empty followers_ entry");
    for (const Task& t : waiting) see(t.key, Place::kFollowing);
  }
  if (seen.size() != where_.size()) throw std::logic_error("local: stray where_ entries");
  if (busy != busy_slots_) throw std::logic_error("local: busy slots");
  for (const auto& [pred, waiting] : followers_) {
    if (!where_.count(pred)) throw std::logic_error("local: a follower whose predecessor is gone");
  }
}

}  // namespace drover::worker
