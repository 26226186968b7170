#include "broker/core/scheduler.h"

#include <algorithm>
#include <queue>
#include <set>
#include <utility>
#include <stdexcept>

#include "shared/run_text.h"

namespace drover::broker {
namespace {

std::string Quote(const std::string& s) { return "\"" + s + "\""; }

// "0.5s", "2s", "90s".
std::string FormatSeconds(int64_t ms) {
  char buf[32];
  snprintf(buf, sizeof buf, "%gs", static_cast<double>(ms) / 1000);
  return buf;
}

}  // namespace

Scheduler::Scheduler(Outbox* outbox, SchedulerOptions options)
    : outbox_(outbox), options_(options) {}

Job* Scheduler::MutableJob(JobId job) {
  auto it = jobs_.find(job);
  return it == jobs_.end() ? nullptr : it->second.get();
}

void Scheduler::ReleaseJob(JobId job) {
  auto it = jobs_.find(job);
  if (it != jobs_.end() && it->second->finished()) jobs_.erase(it);
}

const Job* Scheduler::FindJob(JobId job) const {
  auto it = jobs_.find(job);
  return it == jobs_.end() ? nullptr : it->second.get();
}

void Scheduler::OnSubmit(JobId id, JobSpec spec, Time /*now*/, const std::vector<bool>* succeeded,
                         JobId resumed_from) {
  auto owned = std::make_unique<Job>(id, std::move(spec), &pool_);
  Job* job = owned.get();
  jobs_.emplace(id, std::move(owned));

  std::vector<StepIndex> decide;
  if (succeeded != nullptr) {
    const std::string reason = "succeeded in job " + std::to_string(resumed_from.value);
    for (uint32_t i = 0; i < job->size() && i < succeeded->size(); ++i) {
      if ((*succeeded)[i]) {
        Finish(job, StepIndex(i), StepState::kSucceeded, reason, "", std::nullopt, Attempt(0),
               &decide);
      }
    }
  }
  for (uint32_t i = 0; i < job->size(); ++i) {
    const StepRun& r = job->run(StepIndex(i));
    if (r.state == StepState::kWaiting && r.pending == 0) decide.push_back(StepIndex(i));
  }
  DecideAll(job, &decide);
  MaybeFinish(job);
}

bool Scheduler::OnCancel(JobId id, Time /*now*/, bool cleanup) {
  Job* job = MutableJob(id);
  if (job == nullptr || job->finished()) return false;
  if (!job->cancelled()) {
    job->set_cancelled("the job was cancelled", /*aborted=*/false, cleanup);
    CancelRest(job);
  } else if (!cleanup && !job->cleanup_stopped()) {
    job->StopCleanup();
    CancelRest(job, /*stopping_cleanup=*/true);
  }
  return true;
}

void Scheduler::CancelRest(Job* job, bool stopping_cleanup) {
  const JobId id = job->id();
  std::vector<StepIndex> decide;
  for (uint32_t i = 0; i < job->size(); ++i) {
    const StepIndex s(i);
    StepRun& r = job->run(s);
    if (job->Cleans(s)) continue;  // it runs, or will, as if nothing happened
    if (r.state == StepState::kWaiting || r.state == StepState::kReady) {
      if (r.delayed) {
        r.delayed = false;
        job->AddDelayed(-1);
      }
      // Through Finish, so that cleanup steps waiting for it count it as
      // ended: they are decided (made ready) once all theirs are.
      Finish(job, s, StepState::kCancelled, job->cancel_reason(), "", std::nullopt,
             Attempt(r.attempt), &decide);
    } else if (r.state == StepState::kRunning &&
               (!stopping_cleanup || job->step(s).when == When::kAlways)) {
      // (When stopping the cleanup, the others were killed the first time.)
      outbox_->Kill(r.worker, TaskKey{id, s, Attempt(r.attempt)});
    }
  }
  DecideAll(job, &decide);
  // Entries of the steps just settled leave the queues; cleanup steps that
  // were ready, or have just become so, stay in them.
  job->RebuildQueues();
  if (job->queued() > 0) {
    jobs_with_ready_.insert(id);
  } else {
    jobs_with_ready_.erase(id);
  }
  MaybeFinish(job);
}

WorkerId Scheduler::OnWorkerHello(WorkerInfo info, const std::vector<TaskKey>& held, Time now) {
  Worker* w = info.instance.empty() ? nullptr : pool_.FindInstance(info.instance);
  if (w == nullptr) {
    // New to us: nothing it holds is its own (its old broker's, say).
    const WorkerId id = pool_.Add(std::move(info), now);
    for (const TaskKey& key : held) outbox_->Kill(id, key);
    return id;
  }
  // Back again: reconnected, or known from before the broker restarted.
  pool_.UpdateInfo(w, std::move(info), now);
  // A Retract sent on the old connection may never have arrived; what it
  // holds unstarted may be asked for again (it declines what has started).
  pool_.ForgetRetracts(w);
  w->last_heard = now;
  w->connected_since = now;
  pool_.SetConnected(w, true, now);
  const std::set<TaskKey> has(held.begin(), held.end());
  std::vector<TaskKey> gone;
  for (const auto& [key, assigned] : w->running) {
    if (!has.count(key)) gone.push_back(key);
  }
  for (const TaskKey& key : gone) {
    Lose(w, key, "worker " + Quote(w->info.name) + " no longer had it when it came back", now);
  }
  for (const TaskKey& key : held) {
    const Job* job = FindJob(key.job);
    // Not its own any more (given up after its lease), or its job was
    // cancelled while the worker could not be told (cleanup steps go on).
    if (!w->running.count(key) || (job != nullptr && job->cancelled() &&
                                   key.step.value < job->size() && !job->Cleans(key.step))) {
      outbox_->Kill(w->id, key);
    }
  }
  ResendStreamEffects(*w);
  return w->id;
}

void Scheduler::OnWorkerHeard(WorkerId worker, Time now) {
  if (Worker* w = pool_.Find(worker)) {
    w->last_heard = now;
    pool_.SetConnected(w, true, now);
  }
}

void Scheduler::OnWorkerDraining(WorkerId worker) {
  if (Worker* w = pool_.Find(worker)) pool_.SetDraining(w);
}

void Scheduler::OnWorkerShutOut(WorkerId worker) {
  if (Worker* w = pool_.Find(worker)) pool_.SetConnected(w, false);
}

void Scheduler::OnWorkerLost(WorkerId id, std::string_view reason, Time now) {
  Worker* w = pool_.Find(id);
  if (w == nullptr) return;
  std::vector<TaskKey> keys;
  for (const auto& [key, assigned] : w->running) keys.push_back(key);
  const std::string why = "worker " + Quote(w->info.name) + " " + std::string(reason);
  for (const TaskKey& key : keys) Lose(w, key, why, now);
  pool_.Remove(id);
}

void Scheduler::Lose(Worker* worker, const TaskKey& key, const std::string& reason, Time now) {
  // A follower was already released when its predecessor's loss reverted it.
  if (!pool_.Release(worker, key)) return;
  outbox_->AttemptLost(key, reason);
  RunResult lost;
  lost.outcome = Outcome::kLost;
  lost.error = reason;
  EndAttempt(MutableJob(key.job), key.step, lost, worker->info.name, now);
}

int64_t Scheduler::LeaseOf(const Job* job) const {
  return job->spec().lease_ms > 0 ? job->spec().lease_ms : options_.lease_ms;
}

void Scheduler::OnStepOutput(WorkerId from, TaskOutput output) {
  Job* job = MutableJob(output.key.job);
  if (job == nullptr || output.key.step.value >= job->size()) return;
  const StepRun& r = job->run(output.key.step);
  if (r.state != StepState::kRunning || r.attempt != output.key.attempt.value || r.worker != from) {
    return;  // an old attempt, or not this worker's
  }
  Worker* w = pool_.Find(from);
  if (w == nullptr) return;
  auto it = w->running.find(output.key);
  if (it == w->running.end()) return;
  // Sent again after a broken connection: keep only what is new. Offsets
  // past what we have mean output lost on the way; take it as it is.
  uint64_t& received = it->second.output[output.stream == Stream::kStderr ? 1 : 0];
  std::string& data = output.data.bytes;
  const uint64_t end = output.offset + data.size();
  if (end <= received) return;
  uint64_t at = output.offset;
  if (at < received) {
    data.erase(0, received - at);
    at = received;
  }
  received = std::max(received, end);
  outbox_->Publish(job->id(), StepOutput{output.key.step, output.key.attempt, output.stream,
                                         std::move(output.data), at});
}

void Scheduler::OnStepExited(WorkerId from, const TaskResult& result, Time now) {
  const TaskKey& key = result.key;
  Job* job = MutableJob(key.job);
  if (job == nullptr || key.step.value >= job->size()) return;
  const StepRun& r = job->run(key.step);
  if (r.state != StepState::kRunning || r.attempt != key.attempt.value || r.worker != from) return;
  Worker* w = pool_.Find(from);
  // Only attempts that ran say how long steps take here (for prefetch).
  const Outcome o = result.run.outcome;
  const bool ran = (o == Outcome::kExited || o == Outcome::kSignaled || o == Outcome::kTimedOut) &&
                   result.run.ended_ms > 0;
  if (w == nullptr ||
      !pool_.Release(w, key, ran ? std::optional(result.run.duration_ms()) : std::nullopt)) {
    return;
  }
  // What a success took tells how long its kind of step takes (critical
  // path, job.h); replay ranks once at its end instead.
  if (ran && result.run.succeeded() && job->LearnDuration(key.step, result.run.duration_ms()) &&
      !replaying_) {
    job->Rerank();
  }
  EndAttempt(job, key.step, result.run, w->info.name, now);
}

void Scheduler::EndAttempt(Job* job, StepIndex s, const RunResult& run,
                           const std::string& worker_name, Time now) {
  StepRun& r = job->run(s);
  const Attempt attempt(r.attempt);
  const StepSpec& spec = job->step(s);
  if (r.conditional) {
    // A follower that never started: its worker left, or reports it not run.
    // (Its predecessor's own result reverts it first when that comes.)
    if (job->cancelled()) {
      r.conditional = false;
      Settle(job, s, StepState::kCancelled, job->cancel_reason(), worker_name, std::nullopt,
             attempt);
    } else {
      Unfollow(job, s, /*release=*/false);
    }
    return;
  }
  if (EndWithdrawn(job, s, run, worker_name)) return;
  // A producer whose readers all closed the pipe died of it, as in a shell.
  const bool closed_pipe = ClosedPipe(r, run) && (!job->cancelled() || job->Cleans(s));
  if (!run.succeeded() && !closed_pipe) {
    UnfollowDependents(job, s);
    if (r.stream_end) WithdrawStreams(job, s);
  }
  if (run.succeeded() || closed_pipe) {
    Settle(job, s, StepState::kSucceeded, closed_pipe ? "its readers closed the pipe" : "",
           worker_name, run, attempt);
  } else if (job->cancelled() && !job->Cleans(s)) {
    Settle(job, s, StepState::kCancelled, job->cancel_reason(), worker_name, run, attempt);
  } else if (run.outcome == Outcome::kRetracted) {
    // Given back unstarted, to run where there is room: not a failure.
    outbox_->Publish(job->id(), StepEnded{s, attempt, StepState::kReady,
                                          "worker " + Quote(worker_name) +
                                              " gave it back before it started, to run on a "
                                              "worker with room",
                                          worker_name, run});
    MakeReady(job, s);
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
  } else {
    const bool exited = run.outcome == Outcome::kExited;
    auto listed = [&](const std::vector<uint8_t>& codes) {
      return exited && std::binary_search(codes.begin(), codes.end(),
                                          static_cast<uint8_t>(run.exit_code));
    };
    std::string what = DescribeRun(run, spec.timeout_ms);
    if (listed(job->spec().abort_on_exit) && job->cancelled()) {
      // A cleanup step of a job cancelled already: nothing left to abort,
      // but such a code is never retried.
      Settle(job, s, StepState::kFailed, what, worker_name, run, attempt);
    } else if (listed(job->spec().abort_on_exit)) {
      Settle(job, s, StepState::kFailed, what + "; the job is aborted (abort_on_exit)",
             worker_name, run, attempt);
      if (!job->finished() && !job->cancelled()) {
        job->set_cancelled("the job was aborted: " + Quote(job->StepId(s)) + " exited with code " +
                               std::to_string(run.exit_code),
                           /*aborted=*/true, /*cleanup=*/true);
        CancelRest(job);
      }
    } else if (r.failures < spec.retries && !listed(spec.retry_unless_exit)) {
      ++r.failures;
      // Doubling from retry_delay, capped at a day.
      const int64_t delay =
          std::min<int64_t>(int64_t{spec.retry_delay_ms} << std::min<uint32_t>(r.failures - 1, 20),
                            int64_t{24} * 3600 * 1000);
      outbox_->Publish(job->id(),
                       StepEnded{s, attempt, StepState::kReady,
                                 what + "; retrying" +
                                     (delay > 0 ? " in " + FormatSeconds(delay) : "") +
                                     " (retry " + std::to_string(r.failures) + " of " +
                                     std::to_string(spec.retries) + ")",
                                 worker_name, run});
      if (delay == 0) {
        MakeReady(job, s);
      } else {
        job->SetState(s, StepState::kReady);
        r.delayed = true;
        job->AddDelayed(1);
        delayed_.push(Delayed{now + delay, job->id(), s, r.attempt});
      }
    } else {
      if (listed(spec.retry_unless_exit) && r.failures < spec.retries) {
        what += " (not retried: that exit code is in retry_unless_exit)";
      }
      Settle(job, s, StepState::kFailed, what, worker_name, run, attempt);
    }
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
    // A live reader counted its producer's start already.
    if (dr.live && job->StreamProducer(*d) == s) continue;
    // Already settled (cancelled), or running; a withdrawn one is decided
    // when its attempt ends.
    if (dr.state != StepState::kWaiting && !dr.withdrawn) continue;
    NoteAfterStepEnded(&dr, s, state);
    if (--dr.pending == 0 && !dr.withdrawn) decide->push_back(*d);
  }
  // A reader done: its producers may have no one left to write for.
  for (StepIndex p : job->StdinFrom(s)) MaybeCloseOutput(job, p);
}

void Scheduler::NoteAfterStepEnded(StepRun* dr, StepIndex s, StepState state) {
  const bool failed = state == StepState::kFailed || state == StepState::kSkipped;
  // Remember the most telling after-step for the reason: a failed one over
  // one that merely was not needed.
  if (failed && !dr->dep_failed) dr->blocker = s;
  if (state != StepState::kSucceeded && !dr->dep_unsucceeded) dr->blocker = s;
  dr->dep_failed |= failed;
  dr->dep_unsucceeded |= state != StepState::kSucceeded;
}

void Scheduler::DecideAll(Job* job, std::vector<StepIndex>* decide) {
  // A worklist rather than recursion (a failure can skip a million-step
  // chain), taken in order so that steps released together queue in the
  // order of the file.
  for (size_t next = 0; next < decide->size(); ++next) {
    const StepIndex d = (*decide)[next];
    const StepRun& dr = job->run(d);
    if (dr.state != StepState::kWaiting) continue;  // listed twice (resumed jobs)
    auto not_run = [&](StepState state, std::string reason) {
      Finish(job, d, state, std::move(reason), "", std::nullopt, Attempt(0), decide);
    };
    // Cancelled: only cleanup steps still run (and their `when` is always).
    // (Others get here when a follower reverted after the cancellation.)
    if (job->cancelled() && !job->Cleans(d)) {
      not_run(StepState::kCancelled, job->cancel_reason());
      continue;
    }
    auto blocker = [&]() { return Quote(job->StepId(dr.blocker)); };
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
  r.output_closed = false;
  job->SetState(s, StepState::kRunning);
  const TaskKey key{job->id(), s, Attempt(r.attempt)};
  pool_.Assign(worker, key, job->step(s).slots, job->class_of(s).needs);
  outbox_->Dispatch(worker->id, key, std::nullopt);
  outbox_->Publish(job->id(), StepStarted{s, key.attempt, worker->info.name});
  if (r.stream_end) {
    OpenStreams(job, s);
    MaybeCloseOutput(job, s);  // a retry whose readers are all done
  }
  TryFollow(job, s, worker);
}

void Scheduler::TryFollow(Job* job, StepIndex s, Worker* worker) {
  if (replaying_ || job->cancelled() || !job->UnderParallelLimit()) return;
  // Only while the worker's steps are short (its prefetch is open): a
  // reservation then lasts milliseconds, never the length of a long step.
  if (worker->capacity() == worker->info.slots) return;
  // Another graph waiting for slots: the freed slot is fair share's to give.
  for (JobId other : jobs_with_ready_) {
    if (other != job->id()) return;
  }
  // An idle slot is for a step that can start now, if there is one.
  if (job->queued() > 0 && worker->used < worker->info.slots) return;
  const uint32_t slots = job->step(s).slots;
  for (const StepIndex* d = job->dependents_begin(s); d != job->dependents_end(s); ++d) {
    const StepSpec& spec = job->step(*d);
    StepRun& r = job->run(*d);
    if (r.state != StepState::kWaiting || job->after(*d).size() != 1 ||
        spec.when != When::kSuccess || spec.stdin_from_count != 0 || spec.slots > slots ||
        r.stream_end) {
      continue;
    }
    // Whether it fits the worker's time is placement's to say (it knows the time).
    if (spec.time_request_ms > 0 && worker->ends_at > 0) return;
    const ReadyClass& cls = job->class_of(*d);
    if (worker->free < spec.slots || !WorkerPool::Fits(*worker, spec.slots, cls.labels, cls.needs) ||
        !WorkerPool::HasRoom(*worker, cls.needs)) {
      return;
    }
    ++r.attempt;
    r.worker = worker->id;
    r.conditional = true;
    job->SetState(*d, StepState::kRunning);
    const TaskKey key{job->id(), *d, Attempt(r.attempt)};
    pool_.Assign(worker, key, spec.slots, cls.needs);
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

void Scheduler::Schedule(Time now) {
  if (replaying_) return;
  while (!delayed_.empty() && delayed_.top().due <= now) {
    const Delayed d = delayed_.top();
    delayed_.pop();
    Job* job = MutableJob(d.job);
    if (job == nullptr) continue;
    StepRun& r = job->run(d.step);
    if (r.state != StepState::kReady || !r.delayed || r.attempt != d.attempt) continue;  // stale
    r.delayed = false;
    job->AddDelayed(-1);
    job->Enqueue(d.step);
    jobs_with_ready_.insert(job->id());
  }
  Place(now);
  RetractForIdle(now);
  WatchWaiting(now);
}

void Scheduler::Place(Time now) {
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
      const Time until = best->time_request_ms > 0 ? now + best->time_request_ms : 0;
      // The ends of a stream start at once or not at all (scheduler_streams.cc).
      const bool idle_only = job->has_streams() && job->run(best->top().step).stream_end;
      worker = pool_.Pick(best->slots, best->labels, best->needs, until, idle_only);
      if (worker != nullptr) {
        chosen = best;
        break;
      }
      best->blocked_pass = pass_;
    }
    if (chosen == nullptr) continue;
    Start(job, chosen->Pop().step, worker);
    if (job->queued() == 0) {
      jobs_with_ready_.erase(job->id());
    } else if (job->UnderParallelLimit()) {
      candidates.emplace(job->running_slots(), job->id());
    }
  }
}

void Scheduler::OnTick(Time now) {
  std::vector<WorkerId> ids;
  for (const auto& [id, w] : pool_.all()) ids.push_back(id);
  for (WorkerId id : ids) {
    Worker* w = pool_.Find(id);
    if (w->connected && now - w->last_heard > options_.worker_timeout_ms) {
      pool_.SetConnected(w, false);  // cut off, or gone: the leases will tell
    }
    if (w->connected) continue;
    std::vector<TaskKey> expired;
    for (const auto& [key, assigned] : w->running) {
      if (now - w->last_heard >= LeaseOf(FindJob(key.job))) expired.push_back(key);
    }
    for (const TaskKey& key : expired) {
      // Should the worker still hear us (a link that fails one way only, or
      // a worker that was frozen), it stops the attempt that now runs elsewhere.
      outbox_->Kill(w->id, key);
      Lose(w, key,
           "worker " + Quote(w->info.name) + " was out of touch for " +
               FormatSeconds(now - w->last_heard) + ", past the job's lease",
           now);
    }
    if (w->running.empty()) pool_.Remove(id);  // should it come back, it is new
  }
}

Time Scheduler::NextWakeup() const {
  const Time retry = delayed_.empty() ? -1 : delayed_.top().due;
  if (retry < 0) return waiting_due_;
  return waiting_due_ < 0 ? retry : std::min(retry, waiting_due_);
}

void Scheduler::CheckInvariants() const {
  pool_.CheckInvariants();
  std::map<TaskKey, WorkerId> running;
  for (const auto& [id, w] : pool_.all()) {
    for (const auto& [key, assigned] : w.running) running.emplace(key, id);
  }
  size_t running_steps = 0;
  for (const auto& [id, job] : jobs_) {
    job->CheckInvariants();
    const bool has_ready = job->queued() > 0 && !job->finished();
    if (has_ready != (jobs_with_ready_.count(id) == 1)) {
      throw std::logic_error("scheduler: jobs_with_ready_");
    }
    for (uint32_t i = 0; i < job->size(); ++i) {
      const StepRun& r = job->run(StepIndex(i));
      if (r.conditional) {
        const std::span<const StepIndex> after = job->after(StepIndex(i));
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
