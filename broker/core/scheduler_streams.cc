// Streamed stdin_from in the scheduler (scheduler.h, "Streams"): a reader
// that runs beside its producer, the two a pipe across hosts. Apart from
// scheduler.cc because its edges keep their own rules:
//
//   - A reader is released when its producer's attempt starts (Start, or
//     ReplayDispatch), not when it ends: `live` marks the producer's start
//     as counted in the reader's `pending`, so the producer's end is not
//     counted again (Finish).
//   - Both ends run only in idle slots (Place), never queued on a worker
//     behind other steps, and never as followers: a producer that has
//     "started" then really runs, and no reader holds a slot its producer
//     waits for.
//   - A producer attempt that ends other than in success withdraws its
//     readers: ready ones go back to waiting, running ones are killed and
//     their results count as neither a failure nor a loss. All of them wait
//     for its next attempt, which they read from its start; if there is
//     none, the producer's failure skips them as any dependent.
//   - Once every reader of a running producer's stdout is done (final, so
//     no retry will read it again), the producer's worker closes its end of
//     the pipe (Outbox::CloseOutput): as in a shell, the producer dies of
//     SIGPIPE at its next write, which counts as success.
//
// Replay derives all of it from the journaled dispatches and results, as
// the live run did; a snapshot's states say the rest (RestoreStreams).
#include <algorithm>
#include <csignal>
#include <span>
#include <string>
#include <vector>

#include "broker/core/scheduler.h"

namespace drover::broker {
void Scheduler::OpenStreams(Job* job, StepIndex p) {
  std::vector<StepIndex> decide;
  for (const StepIndex* d = job->dependents_begin(p); d != job->dependents_end(p); ++d) {
    if (job->StreamProducer(*d) != p) continue;
    StepRun& dr = job->run(*d);
    if (IsFinal(dr.state) || dr.live) continue;
    dr.live = true;
    // A withdrawn reader still dying counts it too, and is decided at its end.
    if (--dr.pending == 0 && dr.state == StepState::kWaiting) decide.push_back(*d);
  }
  DecideAll(job, &decide);
}

void Scheduler::WithdrawStreams(Job* job, StepIndex p) {
  bool requeue = false;
  for (const StepIndex* d = job->dependents_begin(p); d != job->dependents_end(p); ++d) {
    if (job->StreamProducer(*d) != p) continue;
    StepRun& dr = job->run(*d);
    if (!dr.live || IsFinal(dr.state)) continue;
    dr.live = false;
    ++dr.pending;
    if (dr.state == StepState::kReady) {
      if (dr.delayed) {
        dr.delayed = false;  // its entry in delayed_ is stale from now on
        job->AddDelayed(-1);
      } else {
        requeue = true;
      }
      job->SetState(*d, StepState::kWaiting);
    } else if (dr.state == StepState::kRunning) {
      dr.withdrawn = true;
      // (A cancelled job's running steps had their kill already.)
      if (!job->cancelled()) outbox_->Kill(dr.worker, TaskKey{job->id(), *d, Attempt(dr.attempt)});
    }
  }
  if (requeue) {
    // Rare (a producer's attempt failing while a reader waits for a slot),
    // and one rebuild serves every reader of it.
    job->RebuildQueues();
    if (job->queued() == 0) jobs_with_ready_.erase(job->id());
  }
}

bool Scheduler::EndWithdrawn(Job* job, StepIndex s, const RunResult& run,
                             const std::string& worker_name) {
  StepRun& r = job->run(s);
  if (!r.withdrawn) return false;
  r.withdrawn = false;
  const StepIndex p = *job->StreamProducer(s);
  const Attempt attempt(r.attempt);
  if (job->cancelled()) {
    Settle(job, s, StepState::kCancelled, job->cancel_reason(), worker_name, run, attempt);
    return true;
  }
  const std::string reason = "stopped: its input, the output of \"" + job->StepId(p) +
                             "\", went away when that attempt ended; it runs again with the next";
  outbox_->Publish(job->id(), StepEnded{s, attempt, StepState::kWaiting, reason, worker_name, run});
  job->SetState(s, StepState::kWaiting);
  if (r.pending == 0) {
    std::vector<StepIndex> decide{s};
    DecideAll(job, &decide);
    MaybeFinish(job);
  }
  return true;
}

void Scheduler::MaybeCloseOutput(Job* job, StepIndex producer) {
  StepRun& pr = job->run(producer);
  if (pr.state != StepState::kRunning || pr.output_closed || !ReadersDone(*job, producer)) return;
  pr.output_closed = true;
  outbox_->CloseOutput(pr.worker, TaskKey{job->id(), producer, Attempt(pr.attempt)});
}

bool Scheduler::ReadersDone(const Job& job, StepIndex p) {
  bool streamed = false;
  for (const StepIndex* d = job.dependents_begin(p); d != job.dependents_end(p); ++d) {
    const std::span<const StepIndex> from = job.StdinFrom(*d);
    if (std::find(from.begin(), from.end(), p) == from.end()) continue;  // a plain `after`
    if (!IsFinal(job.run(*d).state)) return false;
    streamed |= job.step(*d).stdin_stream;
  }
  return streamed;
}

bool Scheduler::ClosedPipe(const StepRun& r, const RunResult& run) {
  if (!r.output_closed) return false;
  return (run.outcome == Outcome::kSignaled && run.signal == SIGPIPE) ||
         (run.outcome == Outcome::kExited && run.exit_code == 128 + SIGPIPE);
}

void Scheduler::ResendStreamEffects(const Worker& w) {
  for (const auto& [key, assigned] : w.running) {
    const Job* job = FindJob(key.job);
    if (job == nullptr || !job->has_streams() || key.step.value >= job->size()) continue;
    const StepRun& r = job->run(key.step);
    if (r.state != StepState::kRunning || r.attempt != key.attempt.value) continue;
    if (r.output_closed) outbox_->CloseOutput(w.id, key);
    if (r.withdrawn) outbox_->Kill(w.id, key);
  }
}

void Scheduler::RestoreStreams(Job* job) {
  if (!job->has_streams()) return;
  for (uint32_t i = 0; i < job->size(); ++i) {
    const StepIndex s(i);
    const std::optional<StepIndex> p = job->StreamProducer(s);
    if (!p) continue;
    StepRun& r = job->run(s);
    const StepRun& pr = job->run(*p);
    if (IsFinal(r.state)) continue;
    const bool producing = pr.state == StepState::kRunning && !pr.conditional;
    r.live = producing || pr.state == StepState::kSucceeded;
    // Running without its producer: it was being withdrawn when the
    // snapshot was taken (its kill is sent again when its worker is back).
    // (One withdrawn while the next attempt had started already looks
    // live; its kill's result then counts as its own failure.)
    r.withdrawn = r.state == StepState::kRunning && !r.live;
    // RestoreJob counted every after-step not final, the producer too.
    if (r.live && producing) --r.pending;
  }
  for (uint32_t i = 0; i < job->size(); ++i) {
    StepRun& r = job->run(StepIndex(i));
    r.output_closed = r.state == StepState::kRunning && ReadersDone(*job, StepIndex(i));
  }
}

}  // namespace drover::broker
