// Agent (agent.h): the tasks. Queued ones start in order as slots free up;
// a follower waits for the attempt it follows and starts in its slot only
// if that one exits 0; each is vetted against the worker's run policy
// before it is spawned; and every running one is stopped before its lease
// could run out while the broker is out of touch.

#include <spdlog/spdlog.h>

#include <stdlib.h>

#include <algorithm>

#include "shared/clock.h"
#include "worker/agent.h"

namespace drover::worker {

std::vector<std::string> Agent::ChildEnv(const Task& task) const {
  // The worker's environment (minus its own DROVER_*), then Drover's
  // variables, then the step's, each replacing earlier ones of that name.
  auto overridden = [&task](std::string_view entry) {
    const std::string_view name = entry.substr(0, entry.find('='));
    return std::any_of(task.env.begin(), task.env.end(),
                       [&](const auto& kv) { return kv.first == name; });
  };
  std::vector<std::string> env;
  env.reserve(base_env_.size() + 5 + task.env.size());
  for (const std::string& entry : base_env_) {
    if (task.env.empty() || !overridden(entry)) env.push_back(entry);
  }
  for (std::string entry : {"DROVER_JOB_ID=" + std::to_string(task.key.job.value),
                            "DROVER_STEP_ID=" + task.step_id,
                            "DROVER_ATTEMPT=" + std::to_string(task.key.attempt.value),
                            "DROVER_WORKER=" + options_.name}) {
    if (task.env.empty() || !overridden(entry)) env.push_back(std::move(entry));
  }
  for (const auto& [name, value] : task.env) env.push_back(name + "=" + value);
  // Last, so no step can hide from a restarted worker's KillLeftovers.
  if (!options_.instance.empty()) env.push_back("DROVER_WORKER_INSTANCE=" + options_.instance);
  return env;
}

void Agent::StartQueued(Time now) {
  // Nothing starts out of touch: the broker may be about to give it away.
  // In order: a wide task at the head waits for its slots rather than being
  // overtaken for ever by narrow ones. A task wider than the worker (the
  // broker never sends one) runs alone.
  while (welcomed_ && !queued_.empty() && !stopping_ &&
         (busy_slots_ + queued_.front().slots <= options_.slots || busy_slots_ == 0)) {
    Task task = std::move(queued_.front());
    queued_.pop_front();
    StartTask(task, now);
  }
}

void Agent::Accept(Task task, Time now) {
  if (by_key_.count(task.key)) return;  // sent again: it runs already
  if (!task.follows()) {
    queued_.push_back(std::move(task));
    return;
  }
  const TaskKey pred = task.predecessor();
  auto is_pred = [&](const Task& t) { return t.key == pred; };
  // Running, queued, or itself following another (a chain sent ahead).
  bool here = by_key_.count(pred) > 0 || std::any_of(queued_.begin(), queued_.end(), is_pred);
  for (auto it = followers_.begin(); !here && it != followers_.end(); ++it) {
    here = std::any_of(it->second.begin(), it->second.end(), is_pred);
  }
  if (here) {
    followers_[pred].push_back(std::move(task));
  } else if (auto it = ended_.find(pred); it != ended_.end() && it->second) {
    queued_.push_front(std::move(task));  // it already succeeded
  } else {
    ReportUnstarted(task.key, Outcome::kNotRun, now);  // it failed, or is unknown here
  }
}

void Agent::Ended(const TaskKey& key, bool succeeded, Time now) {
  ended_.emplace(key, succeeded);
  ended_order_.push_back(key);
  if (ended_order_.size() > 4096) {
    ended_.erase(ended_order_.front());
    ended_order_.pop_front();
  }
  auto it = followers_.find(key);
  if (it == followers_.end()) return;
  std::vector<Task> waiting = std::move(it->second);
  followers_.erase(it);
  // Front of the queue, in order: the slot `key` freed is theirs.
  for (auto t = waiting.rbegin(); t != waiting.rend(); ++t) {
    if (succeeded) {
      queued_.push_front(std::move(*t));
    } else {
      ReportUnstarted(t->key, Outcome::kNotRun, now);
      Ended(t->key, false, now);
    }
  }
}

void Agent::ReportUnstarted(const TaskKey& key, Outcome outcome, Time now, std::string error) {
  RunResult run;
  run.outcome = outcome;
  run.error = std::move(error);
  run.started_ms = run.ended_ms = WallMs();
  AddResult(TaskResult{key, std::move(run)}, now);
}

Status Agent::Vet(SpawnSpec* spec, const Task& task) const {
  const RunPolicy& policy = options_.policy;
  auto refused = [&](const std::string& why) {
    return Status::Error("refused by worker " + options_.name + ": " + why);
  };
  if (std::optional<std::string> why = RefuseEnv(policy, task.env)) return refused(*why);
  if (policy.allow.empty()) return Status::Ok();
  // The program as exec would find it, then with every symlink and ".."
  // resolved: that is what the prefixes are about, and what runs.
  Result<std::string> found = FindProgram(spec->argv[0], spec->env, spec->cwd);
  if (!found.ok()) return found.status();  // it could not run anyway: say why
  std::string path = found.value();
  if (path[0] != '/' && !spec->cwd.empty()) path = spec->cwd + "/" + path;
  char* real = realpath(path.c_str(), nullptr);
  if (real == nullptr) return ErrnoStatus("cannot run \"" + spec->argv[0] + "\"", errno);
  spec->program = real;
  free(real);
  if (std::optional<std::string> why = RefuseProgram(policy, spec->program, spec->argv[0])) {
    return refused(*why);
  }
  return Status::Ok();
}

void Agent::StartTask(Task& task, Time now) {
  if (by_key_.count(task.key)) return;  // a duplicate dispatch: already running
  SpawnSpec spec;
  spec.argv = std::move(task.argv);
  spec.env = ChildEnv(task);
  spec.cwd = std::move(task.cwd);
  spec.stdin_data = std::move(task.stdin_data.bytes);
  spec.timeout_ms = task.timeout_ms;
  // The clock now, not the loop turn's `now`: the turn may have spent a
  // while (starting other steps), and the timeout counts from the spawn.
  const Status vetted = Vet(&spec, task);
  Result<ProcessSet::Id> id =
      vetted.ok() ? processes_->Spawn(spec, MonotonicMs()) : Result<ProcessSet::Id>(vetted);
  if (!id.ok()) {
    spdlog::info("{} ({}) could not start: {}", ToString(task.key), task.step_id,
                 id.status().message());
    RunResult run;
    run.outcome = Outcome::kSpawnFailed;
    run.error = id.status().message();
    run.started_ms = run.ended_ms = WallMs();
    AddResult(TaskResult{task.key, std::move(run)}, now);
    Ended(task.key, false, now);
    return;
  }
  tasks_.emplace(id.value(), Running{task.key, task.slots, task.lease_ms});
  by_key_.emplace(task.key, id.value());
  busy_slots_ += task.slots;
}

Time Agent::CutOffTime(uint32_t lease_ms, Time heard) const {
  // The broker may give the step away `lease` after it last heard from us,
  // which is about when we last heard from it: up to a heartbeat earlier,
  // if its last heartbeat to us was on the way when ours to it was lost.
  // Stop the child in time for its SIGKILL to land before then, with two
  // heartbeats or a tenth of the lease to spare; a short lease shortens the
  // grace.
  const int64_t lease = lease_ms;
  const int64_t grace = std::min(options_.kill_grace_ms, lease / 4);
  const int64_t margin = std::max(lease / 10, 2 * int64_t{heartbeat_ms_});
  return heard + lease - grace - margin;
}

Time Agent::EnforceLeases(Time now) {
  // In touch: every lease was renewed within the last heartbeat.
  if (welcomed_ && now - last_heard_ <= Time{heartbeat_ms_}) return -1;
  Time next = -1;
  auto consider = [&next](Time t) { next = next < 0 ? t : std::min(next, t); };
  const int64_t grace = options_.kill_grace_ms;
  for (auto& [id, task] : tasks_) {
    if (task.cut_off) continue;
    const Time cut = CutOffTime(task.lease_ms, last_heard_);
    if (now < cut) {
      consider(cut);
      continue;
    }
    spdlog::warn("stopping {}: out of touch with the broker for {:.1f} s of its {:.1f} s lease",
                 ToString(task.key), (now - last_heard_) / 1000.0, task.lease_ms / 1000.0);
    task.cut_off = true;
    processes_->Terminate(id, Outcome::kKilled, now,
                          std::min<int64_t>(grace, task.lease_ms / 4));
  }
  // Waiting tasks never started; past their lease they are no longer ours.
  auto expired = [&](const Task& t) {
    const Time cut = last_heard_ + t.lease_ms - t.lease_ms / 10;
    if (now < cut) {
      consider(cut);
      return false;
    }
    ReportUnstarted(t.key, Outcome::kLost, now,
                    "not started: out of touch with the broker for its lease");
    return true;
  };
  std::vector<TaskKey> gone;
  for (auto it = queued_.begin(); it != queued_.end();) {
    if (expired(*it)) {
      gone.push_back(it->key);
      it = queued_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [pred, waiting] : followers_) {
    std::erase_if(waiting, [&](const Task& t) {
      if (!expired(t)) return false;
      gone.push_back(t.key);
      return true;
    });
  }
  for (const TaskKey& key : gone) Ended(key, false, now);
  return next;
}

}  // namespace drover::worker
