#include "broker/scheduler.h"

#include <algorithm>
#include <queue>
#include <utility>
#include <stdexcept>

#include "shared/run_text.h"

namespace drover::broker {
namespace {

std::string Quote(const std::string& s) { return "\"" + s + "\""; }

}  // namespace

Scheduler::Scheduler(Outbox* outbox, SchedulerOptions options)
    : outbox_(outbox), options_(options) {}

Job* Scheduler::MutableJob(JobId job) {
  auto it = jobs_.find(job);
  return it == jobs_.end() ? nullptr : it->second.get();
}

const Job* Scheduler::FindJob(JobId job) const {
  auto it = jobs_.find(job);
  return it == jobs_.end() ? nullptr : it->second.get();
}

void Scheduler::OnSubmit(JobId id, JobSpec spec, Time /*now*/) {
  auto owned = std::make_unique<Job>(id, std::move(spec), &pool_);
  Job* job = owned.get();
  jobs_.emplace(id, std::move(owned));

  std::vector<StepIndex> decide;
  for (uint32_t i = 0; i < job->size(); ++i) {
    if (job->run(StepIndex(i)).pending == 0) decide.push_back(StepIndex(i));
  }
  DecideAll(job, &decide);
  MaybeFinish(job);
}

bool Scheduler::OnCancel(JobId id, Time /*now*/) {
  Job* job = MutableJob(id);
  if (job == nullptr || job->finished()) return false;
  if (job->cancelled()) return true;
  job->set_cancelled();
  job->ClearQueues();
  jobs_with_ready_.erase(id);
  for (uint32_t i = 0; i < job->size(); ++i) {
    const StepIndex s(i);
    StepRun& r = job->run(s);
    if (r.state == StepState::kWaiting || r.state == StepState::kReady) {
      // Every step not yet started is settled here, so there is nothing to
      // release: dependents are cancelled by this same loop.
      job->SetState(s, StepState::kCancelled);
      outbox_->Publish(id, StepEnded{s, Attempt(r.attempt), StepState::kCancelled,
                                     "the job was cancelled", "", std::nullopt});
    } else if (r.state == StepState::kRunning) {
      outbox_->Kill(r.worker, TaskKey{id, s, Attempt(r.attempt)});
    }
  }
  MaybeFinish(job);
  return true;
}

WorkerId Scheduler::OnWorkerJoined(WorkerInfo info, Time now) {
  return pool_.Add(std::move(info), now);
}

void Scheduler::OnWorkerHeard(WorkerId worker, Time now) {
  if (Worker* w = pool_.Find(worker)) w->last_heard = now;
}

void Scheduler::OnWorkerLost(WorkerId id, std::string_view reason, Time /*now*/) {
  Worker* w = pool_.Find(id);
  if (w == nullptr) return;
  std::vector<TaskKey> keys;
  for (const auto& [key, slots] : w->running) keys.push_back(key);
  RunResult lost;
  lost.outcome = Outcome::kLost;
  lost.error = "worker " + Quote(w->info.name) + " " + std::string(reason);
  for (const TaskKey& key : keys) {
    // A follower was already released when its predecessor's loss reverted it.
    if (!pool_.Release(w, key)) continue;
    EndAttempt(MutableJob(key.job), key.step, lost, w->info.name);
  }
  pool_.Remove(id);
}

void Scheduler::OnStepOutput(WorkerId from, TaskOutput output) {
  Job* job = MutableJob(output.key.job);
  if (job == nullptr || output.key.step.value >= job->size()) return;
  const StepRun& r = job->run(output.key.step);
  if (r.state != StepState::kRunning || r.attempt != output.key.attempt.value || r.worker != from) {
    return;  // an old attempt, or not this worker's
  }
  outbox_->Publish(job->id(), StepOutput{output.key.step, output.key.attempt, output.stream,
                                         std::move(output.data)});
}

void Scheduler::OnStepExited(WorkerId from, const TaskResult& result, Time /*now*/) {
  const TaskKey& key = result.key;
  Job* job = MutableJob(key.job);
  if (job == nullptr || key.step.value >= job->size()) return;
  const StepRun& r = job->run(key.step);
  if (r.state != StepState::kRunning || r.attempt != key.attempt.value || r.worker != from) return;
  Worker* w = pool_.Find(from);
  const bool ran = result.run.outcome != Outcome::kSpawnFailed && result.run.ended_ms > 0;
  if (w == nullptr ||
      !pool_.Release(w, key, ran ? std::optional(result.run.ended_ms - result.run.started_ms)
                                 : std::nullopt)) {
    return;
  }
  EndAttempt(job, key.step, result.run, w->info.name);
}

void Scheduler::EndAttempt(Job* job, StepIndex s, const RunResult& run,
                           const std::string& worker_name) {
  StepRun& r = job->run(s);
  const Attempt attempt(r.attempt);
  const StepSpec& spec = job->step(s);
  if (r.conditional) {
    // A follower that never started: its worker left, or reports it not run.
    // (Its predecessor's own result reverts it first when that comes.)
    if (job->cancelled()) {
      r.conditional = false;
      Settle(job, s, StepState::kCancelled, "the job was cancelled", worker_name, std::nullopt,
             attempt);
    } else {
      Unfollow(job, s, /*release=*/false);
    }
    return;
  }
  if (!run.succeeded()) UnfollowDependents(job, s);
  if (run.succeeded()) {
    Settle(job, s, StepState::kSucceeded, "", worker_name, run, attempt);
  } else if (job->cancelled()) {
    Settle(job, s, StepState::kCancelled, "the job was cancelled", worker_name, run, attempt);
  } else if (run.outcome == Outcome::kLost && r.losses < options_.max_losses) {
    ++r.losses;
    outbox_->Publish(job->id(), StepEnded{s, attempt, StepState::kReady,
                                          run.error + "; it will run again", worker_name, run});
    MakeReady(job, s);
  } else if (run.outcome == Outcome::kLost) {
    Settle(job, s, StepState::kFailed,
           "lost with its worker " + std::to_string(r.losses + 1) + " times (last: " + run.error +
               ")",
           worker_name, run, attempt);
  } else if (r.failures < spec.retries) {
    ++r.failures;
    outbox_->Publish(job->id(),
                     StepEnded{s, attempt, StepState::kReady,
                               DescribeRun(run, spec.timeout_ms) + "; retrying (retry " +
                                   std::to_string(r.failures) + " of " +
                                   std::to_string(spec.retries) + ")",
                               worker_name, run});
    MakeReady(job, s);
  } else {
    Settle(job, s, StepState::kFailed, DescribeRun(run, spec.timeout_ms), worker_name, run,
           attempt);
  }
}

void Scheduler::MakeReady(Job* job, StepIndex s) {
  job->SetState(s, StepState::kReady);
  job->Enqueue(s);
  jobs_with_ready_.insert(job->id());
}

void Scheduler::Settle(Job* job, StepIndex s, StepState state, std::string reason,
                       const std::string& worker, std::optional<RunResult> run, Attempt attempt) {
  std::vector<StepIndex> decide;
  Finish(job, s, state, std::move(reason), worker, std::move(run), attempt, &decide);
  DecideAll(job, &decide);
  for (const StepIndex p : std::exchange(promoted_, {})) {
    StepRun& pr = job->run(p);
    Worker* w = pool_.Find(pr.worker);
    outbox_->Publish(job->id(), StepStarted{p, Attempt(pr.attempt), w->info.name});
    // Extend the chain of followers from its end, as room allows.
    StepIndex tail = p;
    for (std::optional<StepIndex> next = FollowerOf(job, tail); next; next = FollowerOf(job, tail)) {
      tail = *next;
    }
    TryFollow(job, tail, w);
  }
  MaybeFinish(job);
}

void Scheduler::Finish(Job* job, StepIndex s, StepState state, std::string reason,
                       const std::string& worker, std::optional<RunResult> run, Attempt attempt,
                       std::vector<StepIndex>* decide) {
  job->SetState(s, state);
  outbox_->Publish(job->id(), StepEnded{s, attempt, state, std::move(reason), worker, std::move(run)});
  const bool failed = state == StepState::kFailed || state == StepState::kSkipped;
  for (const StepIndex* d = job->dependents_begin(s); d != job->dependents_end(s); ++d) {
    StepRun& dr = job->run(*d);
    if (dr.conditional) {
      if (state == StepState::kSucceeded) {
        // Its worker has started it already, in the slot `s` freed.
        dr.conditional = false;
        --dr.pending;
        promoted_.push_back(*d);
        continue;
      }
      Unfollow(job, *d, /*release=*/true);  // and on to deciding it like any other
    }
    if (dr.state != StepState::kWaiting) continue;  // already settled (cancelled)
    // Remember the most telling after-step for the reason: a failed one over
    // one that merely was not needed.
    if (failed && !dr.dep_failed) dr.blocker = s;
    if (state != StepState::kSucceeded && !dr.dep_unsucceeded) dr.blocker = s;
    dr.dep_failed |= failed;
    dr.dep_unsucceeded |= state != StepState::kSucceeded;
    if (--dr.pending == 0) decide->push_back(*d);
  }
}

void Scheduler::DecideAll(Job* job, std::vector<StepIndex>* decide) {
  // A worklist rather than recursion (a failure can skip a million-step
  // chain), taken in order so that steps released together queue in the
  // order of the file.
  for (size_t next = 0; next < decide->size(); ++next) {
    const StepIndex d = (*decide)[next];
    const StepRun& dr = job->run(d);
    auto not_run = [&](StepState state, std::string reason) {
      Finish(job, d, state, std::move(reason), "", std::nullopt, Attempt(0), decide);
    };
    if (job->cancelled()) {  // a follower reverted after the cancellation
      not_run(StepState::kCancelled, "the job was cancelled");
      continue;
    }
    auto blocker = [&]() { return Quote(job->step(dr.blocker).id); };
    switch (job->step(d).when) {
      case When::kSuccess:
        if (!dr.dep_unsucceeded) {
          MakeReady(job, d);
        } else if (dr.dep_failed) {
          const bool failed = job->run(dr.blocker).state == StepState::kFailed;
          not_run(StepState::kSkipped,
                  "needs " + blocker() + (failed ? ", which failed" : ", which was skipped"));
        } else {
          not_run(StepState::kNotNeeded, "needs " + blocker() + ", which was not needed");
        }
        break;
      case When::kAlways:
        MakeReady(job, d);
        break;
      case When::kFailure:
        if (dr.dep_failed) {
          MakeReady(job, d);
        } else {
          not_run(StepState::kNotNeeded, "nothing it follows failed");
        }
        break;
    }
  }
  decide->clear();
}

void Scheduler::MaybeFinish(Job* job) {
  if (job->finished() || job->unfinished() != 0) return;
  job->set_finished();
  jobs_with_ready_.erase(job->id());
  const auto& c = job->counts();
  outbox_->Publish(job->id(), JobEnded{job->Outcome(), std::vector<uint32_t>(c.begin(), c.end())});
}

void Scheduler::Start(Job* job, StepIndex s, Worker* worker) {
  StepRun& r = job->run(s);
  ++r.attempt;
  r.worker = worker->id;
  job->SetState(s, StepState::kRunning);
  const TaskKey key{job->id(), s, Attempt(r.attempt)};
  pool_.Assign(worker, key, job->step(s).slots);
  outbox_->Dispatch(worker->id, key, std::nullopt);
  outbox_->Publish(job->id(), StepStarted{s, key.attempt, worker->info.name});
  TryFollow(job, s, worker);
}

void Scheduler::TryFollow(Job* job, StepIndex s, Worker* worker) {
  if (job->cancelled() || !job->UnderParallelLimit()) return;
  // Only while the worker's steps are short (its prefetch is open): a
  // reservation then lasts milliseconds, never the length of a long step.
  if (worker->capacity() == worker->info.slots) return;
  // Another graph waiting for slots: the freed slot is fair share's to give.
  for (JobId other : jobs_with_ready_) {
    if (other != job->id()) return;
  }
  // An idle slot is for a step that can start now, if there is one.
  if (job->ready() > 0 && worker->used < worker->info.slots) return;
  const uint32_t slots = job->step(s).slots;
  for (const StepIndex* d = job->dependents_begin(s); d != job->dependents_end(s); ++d) {
    const StepSpec& spec = job->step(*d);
    StepRun& r = job->run(*d);
    if (r.state != StepState::kWaiting || spec.after.size() != 1 || spec.when != When::kSuccess ||
        spec.stdin_from || spec.slots > slots) {
      continue;
    }
    if (worker->free < spec.slots ||
        !WorkerPool::Fits(*worker, spec.slots, job->class_of(*d).labels)) {
      return;
    }
    ++r.attempt;
    r.worker = worker->id;
    r.conditional = true;
    job->SetState(*d, StepState::kRunning);
    const TaskKey key{job->id(), *d, Attempt(r.attempt)};
    pool_.Assign(worker, key, spec.slots);
    outbox_->Dispatch(worker->id, key, TaskKey{job->id(), s, Attempt(job->run(s).attempt)});
    // One follower per step (it takes over the slot `s` frees), but the chain
    // goes on: the worker can run it to the end of the room without a word.
    TryFollow(job, *d, worker);
    return;
  }
}

std::optional<StepIndex> Scheduler::FollowerOf(const Job* job, StepIndex s) const {
  for (const StepIndex* d = job->dependents_begin(s); d != job->dependents_end(s); ++d) {
    if (job->run(*d).conditional) return *d;
  }
  return std::nullopt;
}

void Scheduler::Unfollow(Job* job, StepIndex d, bool release) {
  UnfollowDependents(job, d);  // those following it go back first
  StepRun& r = job->run(d);
  if (release) {
    if (Worker* w = pool_.Find(r.worker)) pool_.Release(w, TaskKey{job->id(), d, Attempt(r.attempt)});
  }
  // The attempt number stays used: anything the worker says about it is stale.
  r.conditional = false;
  job->SetState(d, StepState::kWaiting);
}

void Scheduler::UnfollowDependents(Job* job, StepIndex s) {
  for (const StepIndex* d = job->dependents_begin(s); d != job->dependents_end(s); ++d) {
    if (job->run(*d).conditional) Unfollow(job, *d, /*release=*/true);
  }
}

void Scheduler::Schedule(Time /*now*/) {
  if (pool_.free_total() == 0 || jobs_with_ready_.empty()) return;
  ++pass_;
  // Fair share: the job holding the fewest slots goes next, oldest on ties.
  using Candidate = std::pair<uint32_t, JobId>;
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> candidates;
  for (JobId id : jobs_with_ready_) {
    const Job* job = jobs_.at(id).get();
    if (job->UnderParallelLimit()) candidates.emplace(job->running_slots(), id);
  }
  while (!candidates.empty() && pool_.free_total() > 0) {
    Job* job = jobs_.at(candidates.top().second).get();
    candidates.pop();
    // The best queue head that some worker can take. A class no worker fits
    // stays blocked for the rest of the pass: slots only shrink during it.
    ReadyClass* chosen = nullptr;
    Worker* worker = nullptr;
    for (;;) {
      ReadyClass* best = nullptr;
      for (ReadyClass& c : job->classes()) {
        if (c.empty() || c.blocked_pass == pass_) continue;
        if (best == nullptr || ReadyClass::Before(c.top(), best->top())) best = &c;
      }
      if (best == nullptr) break;
      worker = pool_.Pick(best->slots, best->labels);
      if (worker != nullptr) {
        chosen = best;
        break;
      }
      best->blocked_pass = pass_;
    }
    if (chosen == nullptr) continue;
    Start(job, chosen->Pop().step, worker);
    if (job->ready() == 0) {
      jobs_with_ready_.erase(job->id());
    } else if (job->UnderParallelLimit()) {
      candidates.emplace(job->running_slots(), job->id());
    }
  }
}

void Scheduler::OnTick(Time now) {
  std::vector<WorkerId> silent;
  for (const auto& [id, w] : pool_.all()) {
    if (now - w.last_heard > options_.worker_timeout_ms) silent.push_back(id);
  }
  for (WorkerId id : silent) {
    OnWorkerLost(id,
                 "went silent (no message for " +
                     std::to_string(options_.worker_timeout_ms / 1000) + " s)",
                 now);
  }
}

StatusReply Scheduler::Status() const {
  StatusReply reply;
  for (const auto& [id, w] : pool_.all()) {
    reply.workers.push_back(
        WorkerStatus{id, w.info.name, w.info.host, w.info.slots, w.busy(), w.info.labels});
  }
  std::sort(reply.workers.begin(), reply.workers.end(),
            [](const WorkerStatus& a, const WorkerStatus& b) { return a.id < b.id; });
  for (const auto& [id, job] : jobs_) {
    const auto& c = job->counts();
    reply.jobs.push_back(JobStatus{id, job->spec().name, job->Outcome(),
                                   std::vector<uint32_t>(c.begin(), c.end())});
  }
  return reply;
}

void Scheduler::CheckInvariants() const {
  pool_.CheckInvariants();
  std::map<TaskKey, WorkerId> running;
  for (const auto& [id, w] : pool_.all()) {
    for (const auto& [key, slots] : w.running) running.emplace(key, id);
  }
  size_t running_steps = 0;
  for (const auto& [id, job] : jobs_) {
    job->CheckInvariants();
    const bool has_ready = job->ready() > 0 && !job->finished();
    if (has_ready != (jobs_with_ready_.count(id) == 1)) {
      throw std::logic_error("scheduler: jobs_with_ready_");
    }
    for (uint32_t i = 0; i < job->size(); ++i) {
      const StepRun& r = job->run(StepIndex(i));
      if (r.conditional) {
        const std::vector<StepIndex>& after = job->step(StepIndex(i)).after;
        if (r.state != StepState::kRunning || after.size() != 1 ||
            job->run(after[0]).state != StepState::kRunning ||
            job->run(after[0]).worker != r.worker) {
          throw std::logic_error("scheduler: a follower without its running predecessor");
        }
      }
      if (r.state != StepState::kRunning) continue;
      ++running_steps;
      auto it = running.find(TaskKey{id, StepIndex(i), Attempt(r.attempt)});
      if (it == running.end() || it->second != r.worker) {
        throw std::logic_error("scheduler: running step not held by its worker");
      }
    }
  }
  if (running_steps != running.size()) throw std::logic_error("scheduler: stray worker attempts");
}

}  // namespace drover::broker
