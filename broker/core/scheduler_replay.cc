// Recovery's side of the scheduler (scheduler.h, "Recovery"): re-applying
// journaled decisions and snapshots without taking new ones. Apart from
// scheduler.cc because it keeps other rules: workers known only from the
// journal are held as disconnected until they say hello again, and the
// ready queues are rebuilt once at the end (FinishReplay) instead of step
// by step.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "broker/core/scheduler.h"

namespace drover::broker {

void Scheduler::SetReplaying(bool replaying) { replaying_ = replaying; }

void Scheduler::ReplayDispatch(const TaskKey& key, const std::string& instance,
                               const std::string& worker_name, std::optional<TaskKey> after,
                               Time now) {
  Job* job = MutableJob(key.job);
  if (job == nullptr || key.step.value >= job->size()) return;
  Worker* w = WorkerOfInstance(instance, worker_name, now);
  StepRun& r = job->run(key.step);
  if (r.delayed) {
    r.delayed = false;
    job->AddDelayed(-1);
  }
  r.attempt = key.attempt.value;
  r.worker = w->id;
  r.conditional = after.has_value();
  r.output_closed = false;
  job->SetState(key.step, StepState::kRunning);
  pool_.Hold(w, key, job->step(key.step).slots, job->class_of(key.step).needs);
  if (r.stream_end && !r.conditional) {
    OpenStreams(job, key.step);
    MaybeCloseOutput(job, key.step);  // a retry whose readers are all done
  }
}

Worker* Scheduler::WorkerOfInstance(const std::string& instance, const std::string& name,
                                   Time now) {
  if (Worker* w = pool_.FindInstance(instance)) return w;
  // Known only from the journal until it says hello again: it holds what it
  // held, as a disconnected worker whose leases run from now.
  Worker* w = pool_.Find(pool_.Add(
      WorkerInfo{.name = name, .host = "", .slots = 0, .labels = {}, .instance = instance}, now));
  pool_.SetConnected(w, false);
  return w;
}

void Scheduler::RestoreJob(JobId id, JobSpec spec, const std::vector<StepSnapshot>& steps,
                           const std::vector<std::pair<std::string, std::string>>& workers,
                           const std::string* cancel_reason, bool aborted, bool cleanup, Time now) {
  auto owned = std::make_unique<Job>(id, std::move(spec), &pool_);
  Job* job = owned.get();
  jobs_.emplace(id, std::move(owned));
  if (cancel_reason != nullptr) job->set_cancelled(*cancel_reason, aborted, cleanup);
  for (uint32_t i = 0; i < job->size() && i < steps.size(); ++i) {
    const StepSnapshot& ss = steps[i];
    StepRun& r = job->run(StepIndex(i));
    r.attempt = ss.attempt;
    r.failures = static_cast<uint16_t>(ss.failures);
    r.losses = static_cast<uint16_t>(ss.losses);
    if (ss.state == StepState::kRunning && ss.worker < workers.size()) {
      Worker* w = WorkerOfInstance(workers[ss.worker].first, workers[ss.worker].second, now);
      r.worker = w->id;
      r.conditional = ss.conditional;
      pool_.Hold(w, TaskKey{id, StepIndex(i), Attempt(r.attempt)}, job->step(StepIndex(i)).slots,
                 job->class_of(StepIndex(i)).needs);
    }
    if (ss.state != StepState::kWaiting) job->SetState(StepIndex(i), ss.state);
  }
  // What steps not yet final know of their after-steps follows from their
  // states (a running one's count matters again should it be withdrawn).
  for (uint32_t i = 0; i < job->size(); ++i) {
    StepRun& r = job->run(StepIndex(i));
    if (IsFinal(r.state)) continue;
    r.pending = 0;
    for (StepIndex a : job->after(StepIndex(i))) {
      const StepState as = job->run(a).state;
      if (IsFinal(as)) {
        NoteAfterStepEnded(&r, a, as);
      } else {
        ++r.pending;
      }
    }
  }
  RestoreStreams(job);
}

void Scheduler::ReplayResult(const std::string& instance, const TaskResult& result, Time now) {
  if (Worker* w = pool_.FindInstance(instance)) OnStepExited(w->id, result, now);
}

void Scheduler::ReplayLost(const TaskKey& key, const std::string& reason, Time now) {
  Job* job = MutableJob(key.job);
  if (job == nullptr || key.step.value >= job->size()) return;
  const StepRun& r = job->run(key.step);
  if (r.state != StepState::kRunning || r.attempt != key.attempt.value) return;
  if (Worker* w = pool_.Find(r.worker)) Lose(w, key, reason, now);
}

void Scheduler::FinishReplay(Time /*now*/) {
  replaying_ = false;
  jobs_with_ready_.clear();
  for (auto& [id, job] : jobs_) {
    job->Rerank();  // with what replay learned
    job->RebuildQueues();
    if (job->queued() > 0 && !job->finished()) jobs_with_ready_.insert(id);
  }
}

}  // namespace drover::broker
