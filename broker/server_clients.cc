// Server (server.h): jobs as clients see them: submissions, watching,
// cancelling, resuming, the events fed to followers, and what is
// kept of jobs that are over.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "broker/core/job_query.h"
#include "broker/server.h"
#include "shared/clock.h"
#include "shared/codec.h"
#include "shared/job_draft.h"
#include "shared/job_elements.h"
#include "shared/spellcheck.h"
#include "shared/transport.h"

namespace drover::broker {
namespace {

// Largest JobEvents message.
constexpr size_t kEventsChunkBytes = 1 << 20;

std::string JobName(JobId id, const std::string& name) {
  return "job " + std::to_string(id.value) + (name.empty() ? "" : " (" + name + ")");
}

// A message of several lines, for the log.
std::string OneLine(std::string text) {
  for (size_t at = text.find("\n  "); at != std::string::npos; at = text.find("\n  ", at)) {
    text.replace(at, 3, " ");
  }
  return text;
}

bool Bit(const std::string& bits, size_t i) {
  return i / 8 < bits.size() && (static_cast<unsigned char>(bits[i / 8]) >> (i % 8)) & 1;
}

// The JobAccepted of `spec` as job `id`: its step ids and cleanup steps,
// an array's elements each with its own (rendered here: the protocol
// knows no templates).
JobAccepted AcceptedReply(JobId id, const JobSpec& spec) {
  JobAccepted reply{id, spec.name, {}};
  const std::vector<uint32_t> first = FirstElements(spec);
  reply.step_ids.reserve(first.back());
  for (uint32_t t = 0; t < spec.steps.size(); ++t) {
    const StepSpec& step = spec.steps[t];
    const ElementRenderer renderer(step, spec.EachOf(step));
    for (uint32_t i = first[t]; i < first[t + 1]; ++i) {
      reply.step_ids.push_back(renderer.Id(i - first[t]));
      if (step.when == When::kAlways) reply.cleanup_steps.push_back(i);
    }
  }
  return reply;
}

}  // namespace

void Server::HandleClientMessage(Peer& /*peer*/, const std::string& route, Message& msg,
                                 int64_t now) {
  if (auto* submit = std::get_if<SubmitJob>(&msg)) {
    HandleSubmit(route, *submit, now);
  } else if (auto* watch = std::get_if<WatchJob>(&msg)) {
    HandleWatch(route, *watch);
  } else if (auto* cancel = std::get_if<CancelJob>(&msg)) {
    HandleCancel(route, *cancel, now);
  } else if (auto* resume = std::get_if<ResumeJob>(&msg)) {
    HandleResume(route, *resume, now);
  } else if (auto* ack = std::get_if<EventsAck>(&msg)) {
    for (Follower& f : followers_) {
      if (f.route == route && f.job == ack->job) f.acked = std::max(f.acked, std::min(ack->offset, f.sent));
    }
  } else if (std::holds_alternative<StatusRequest>(msg)) {
    Reply(route, BuildStatus(route, now));
  } else if (auto* drain = std::get_if<DrainWorker>(&msg)) {
    HandleDrainWorker(route, *drain);
  } else if (auto* alloc = std::get_if<AllocRequest>(&msg)) {
    HandleAllocRequest(route, *alloc, now);
  } else if (auto* forget = std::get_if<ForgetJobs>(&msg)) {
    HandleForget(route, *forget);
  } else if (auto* list = std::get_if<ListJobs>(&msg)) {
    Reply(route, SelectJobs(VisibleJobs(route), *list));
  }
  // Heartbeat: being heard is all it says. Nothing else gets here (roles.h).
}

bool Server::AnswerRepeat(const std::string& route, const std::string& key, bool follow) {
  if (key.empty()) return false;
  auto it = submission_keys_.find(key);
  if (it == submission_keys_.end()) return false;
  // Not yet durable (the first reply is still waiting): this one waits too.
  auto waiting = std::find_if(pending_acks_.begin(), pending_acks_.end(),
                              [&](const PendingAck& p) { return p.reply.job == it->second; });
  if (waiting != pending_acks_.end()) {
    PendingAck again = *waiting;
    again.route = route;
    again.follow = follow;
    pending_acks_.push_back(std::move(again));
    return true;
  }
  Result<JobAccepted> accepted = AcceptedFor(it->second);
  if (!accepted.ok()) return false;
  Reply(route, accepted.value());
  if (follow) followers_.push_back(Follower{route, it->second, 0, 0, 0});
  return true;
}

void Server::HandleSubmit(const std::string& route, SubmitJob& submit, int64_t now) {
  // The same key again: the reply to the first submission was lost.
  if (AnswerRepeat(route, submit.key, submit.follow)) return;
  const std::string& who = peers_.at(route).name;
  // Before the work of loading it: a full disk refuses any job.
  if (std::string full = DiskRefusal(submit.job.bytes.size()); !full.empty()) {
    spdlog::info("refused a job from {}: {}", who, OneLine(full));
    ReplyError(route, ErrorCode::kStateDiskFull, std::move(full));
    return;
  }
  LoadedJob loaded = LoadJob(submit.job.bytes, options_.job_limits, kKeepArrays);
  if (!loaded.spec) {
    spdlog::info("rejected a job from {}: {} problem(s)", who, loaded.problems.size());
    Reject(route, loaded.problems);
    return;
  }
  const std::string name = loaded.spec->name;
  const size_t steps = FirstElements(*loaded.spec).back();
  const JobId id = Accept(route, std::move(*loaded.spec), std::move(submit.job.bytes),
                          std::move(submit.key), submit.follow, JobId(), nullptr, now);
  if (id == JobId()) return;
  spdlog::info("job {}{} accepted from {}: {} steps", id.value,
               name.empty() ? "" : " (" + name + ")", peers_.at(route).name, steps);
}

void Server::Reject(const std::string& route, const std::vector<Problem>& problems) {
  JobRejected reply;
  for (const Problem& p : problems) {
    if (reply.problems.size() == kMaxProblemsReplied) {
      reply.problems.push_back(MoreProblemsLine(problems.size() - kMaxProblemsReplied) +
                               " (`submit validate --all` lists them all)");
      break;
    }
    reply.problems.push_back(FormatProblem(p));
  }
  Reply(route, reply);
}

JobId Server::Accept(const std::string& route, JobSpec spec, std::string job_file,
                     std::string key, bool follow, JobId resumed_from, const CarryOver* carry,
                     int64_t now) {
  const JobId id(next_job_);
  const Peer& peer = peers_.at(route);
  JobRecord record{id,       key, Blob{std::move(job_file)}, resumed_from, {}, WallMs(),
                   OwnerName(peer), peer.key};
  JobAccepted reply = AcceptedReply(id, spec);
  std::vector<bool> succeeded;
  if (carry != nullptr) {
    reply.resumed_from = resumed_from;
    reply.dropped = carry->dropped;
    bool moved = false;
    for (uint32_t i = 0; i < carry->from.size(); ++i) {
      if (!carry->from[i]) continue;
      record.succeeded.push_back(i);
      record.carried_from.push_back(carry->from[i]->value);
      moved |= carry->from[i]->value != i;
    }
    if (!moved) record.carried_from.clear();  // the same indexes: the common case
    reply.carried = record.succeeded;
    succeeded = carry->Succeeded();
  }
  // The job's record is written now, not with the turn's: if the disk will
  // not take it, the client is refused and nothing of the job is left, in
  // the journal or anywhere. What the turn wrote before it goes first, the
  // event logs ahead of the journal as at the end of a turn (Run).
  if (Status s = spool_->FlushAll(); !s.ok()) NoteWriteFailure("spool", s);
  JournalDispatches();
  Status written = CatchUpJournal();
  if (written.ok()) written = journal_->Write();
  if (!written.ok()) {
    // The turn's records before it wait in memory, as at the end of a turn.
    if (!journal_->broken()) JournalStalled(written);
  } else {
    Journal(record);
    written = journal_->Write();
    if (!written.ok()) {
      journal_->DiscardUnwritten();
      NoteWriteFailure("journal", written);
    }
  }
  if (!written.ok()) {
    if (IsNoSpaceError(written.error_number())) {
      spdlog::info("refused a job from {}: {}", peer.name, DiskFullMessage());
      ReplyError(route, ErrorCode::kStateDiskFull, DiskFullMessage());
    } else {
      spdlog::error("refused a job from {}: cannot journal it: {}", peer.name, written.message());
      ReplyError(route, ErrorCode::kInternal, "cannot journal the job: " + written.message());
    }
    return JobId();
  }
  ++next_job_;
  ++metrics_.jobs_submitted;
  spool_->OpenJob(id, spec);
  if (carry != nullptr) CarryCaptures(resumed_from, id, spec, *carry);
  running_[id] = RunningJob{key,
                            record.job_file.bytes.size(),
                            record.submitted_ms,
                            std::move(record.owner),
                            std::move(record.owner_key),
                            resumed_from};
  const bool big = record.job_file.bytes.size() > (1 << 20);
  job_files_due_.emplace_back(id, std::move(record.job_file.bytes));
  // Acknowledged, and followed, only once its record is durable (a sync on
  // the sync thread, started at the end of this turn); its steps may be
  // dispatched before that. The sync protects the acknowledgement: a client
  // that was told "accepted" finds its job after any crash.
  pending_acks_.push_back(
      PendingAck{journal_->last_appended(), route, std::move(reply), follow, big});
  if (!key.empty()) submission_keys_[key] = id;
  scheduler_.OnSubmit(id, std::move(spec), now, carry != nullptr ? &succeeded : nullptr,
                      resumed_from);
  if (big) trim_due_ = true;
  return id;
}

void Server::CarryCaptures(JobId from, JobId to, const JobSpec& spec, const CarryOver& carry) {
  const std::vector<uint32_t> first = FirstElements(spec);
  const ElementEdges edges = spec.HasTemplates() ? ElementAfter(spec, first) : ElementEdges();
  for (uint32_t t = 0; t < spec.steps.size(); ++t) {
    const uint32_t readers = StdinFromCount(spec, first, t);
    for (uint32_t e = first[t]; e < first[t + 1] && readers > 0; ++e) {
      const std::span<const StepIndex> reads =
          spec.HasTemplates() ? edges.Of(e).first(readers) : spec.steps[e].StdinFrom();
      for (StepIndex read : reads) {
        if (read.value >= carry.from.size()) continue;
        const std::optional<StepIndex>& producer = carry.from[read.value];
        if (!producer) continue;
        if (Status s = spool_->CarryCapture(from, *producer, to, read); !s.ok()) {
          spdlog::error("job {}: {}", to.value, s.message());
        }
      }
    }
  }
}

Result<JobAccepted> Server::AcceptedFor(JobId id) const {
  if (const Job* job = scheduler_.FindJob(id)) {
    JobAccepted reply = AcceptedReply(id, job->spec());
    if (auto r = running_.find(id); r != running_.end() && r->second.resumed_from.value != 0) {
      // Carried over: succeeded without an attempt (what ran has one).
      reply.resumed_from = r->second.resumed_from;
      for (uint32_t i = 0; i < job->size(); ++i) {
        const StepRun& run = job->run(StepIndex(i));
        if (run.state == StepState::kSucceeded && run.attempt == 0) reply.carried.push_back(i);
      }
    }
    return reply;
  }
  const FinishedJob* finished = finished_.Find(id);
  if (finished == nullptr) return Status::Error(NoSuchJob(id));
  if (!finished->reason.empty()) {
    return Status::Error("job " + std::to_string(id.value) + " failed: " + finished->reason);
  }
  Result<std::string> file = spool_->ReadJobFile(id);
  if (!file.ok()) return file.status();
  LoadedJob loaded = LoadJob(file.value(), JobLimits::Unlimited(), kKeepArrays);
  if (!loaded.spec) return Status::Error("job " + std::to_string(id.value) + ": its file is damaged");
  return AcceptedReply(id, *loaded.spec);
}

void Server::HandleWatch(const std::string& route, const WatchJob& watch) {
  if (std::string why = Forbidden(route, watch.job, watch.follow ? "watch" : "read");
      !why.empty()) {
    ReplyError(route, ErrorCode::kForbidden, why);
    return;
  }
  Result<JobAccepted> accepted = AcceptedFor(watch.job);
  if (!accepted.ok()) {
    ReplyError(route, ErrorCode::kUnknownJob, accepted.status().message());
    return;
  }
  // What a resumption carried over is its sender's news, not a watcher's.
  accepted->resumed_from = JobId();
  accepted->carried.clear();
  Reply(route, accepted.value());
  // From where the client got to (it reconnects after a broker restart).
  Follower& f = followers_.emplace_back(Follower{route, watch.job, watch.offset, watch.offset, 0});
  if (!watch.follow) {
    EventLog* log = spool_->Log(watch.job);
    f.stop = std::max(watch.offset, log == nullptr ? 0 : log->size());
  }
}

void Server::HandleDrainWorker(const std::string& route, const DrainWorker& drain) {
  std::vector<WorkerId> named;
  std::vector<std::string_view> names;
  for (const auto& [id, w] : scheduler_.pool().all()) {
    if (w.info.name == drain.name) named.push_back(id);
    names.push_back(w.info.name);
  }
  if (named.empty()) {
    std::string message = "no worker is named " + Quote(drain.name);
    if (names.empty()) {
      message += " (none is connected)";
    } else if (auto close = SpellcheckString(drain.name, names)) {
      message += "; did you mean " + Quote(std::string(*close)) + "?";
    }
    ReplyError(route, ErrorCode::kUnknownWorker, message);
    return;
  }
  // Names are not unique (two workers on one host, say): drain them all.
  DrainAccepted reply;
  for (WorkerId id : named) {
    const Worker* w = scheduler_.FindWorker(id);
    if (!w->connected) {
      // It could not be told, and may be forgotten before it is back.
      ReplyError(route, ErrorCode::kUnknownWorker,
                 "worker " + Quote(drain.name) + " is out of touch; drain it once it is back (" +
                     "submit status lists it without \"out of touch\")");
      return;
    }
  }
  for (WorkerId id : named) {
    const Worker* w = scheduler_.FindWorker(id);
    reply.worker = id;
    reply.name = w->info.name;
    reply.running += static_cast<uint32_t>(w->running.size());
    StartDraining(id, "asked to drain");
  }
  Reply(route, reply);
}

void Server::StartDraining(WorkerId id, std::string_view why) {
  const Worker* w = scheduler_.FindWorker(id);
  if (w == nullptr || w->draining) return;
  spdlog::info("worker {} (#{}) {}: {} running step(s) to finish", w->info.name, id.value, why,
               w->running.size());
  scheduler_.OnWorkerDraining(id);
  // Out of touch: it hears it when it comes back (HandleHello).
  if (auto r = worker_routes_.find(id); r != worker_routes_.end()) Reply(r->second, Drain{});
}

void Server::HandleCancel(const std::string& route, const CancelJob& cancel, int64_t now) {
  if (std::string why = Forbidden(route, cancel.job, "cancel"); !why.empty()) {
    ReplyError(route, ErrorCode::kForbidden, why);
    return;
  }
  if (const FinishedJob* finished = finished_.Find(cancel.job)) {
    if (finished->state == JobState::kCancelled) {
      Reply(route, CancelAccepted{cancel.job});
    } else {
      ReplyError(route, ErrorCode::kUnknownJob,
                 JobName(cancel.job, finished->name) + " has already " +
                     JobStateName(finished->state));
    }
    return;
  }
  const Job* job = scheduler_.FindJob(cancel.job);
  if (job == nullptr) {
    ReplyError(route, ErrorCode::kUnknownJob, NoSuchJob(cancel.job));
    return;
  }
  const bool cleanup = !cancel.now;
  if (!job->cancelled() || (!cleanup && !job->cleanup_stopped())) {
    spdlog::info("{} {} on request", JobName(job->id(), job->spec().name),
                 job->cancelled() ? "has its cleanup stopped"
                                  : cleanup ? "cancelled" : "cancelled without cleanup");
    Journal(CancelRecord{cancel.job, cleanup});
  }
  scheduler_.OnCancel(cancel.job, now, cleanup);
  // It may have ended already (nothing ran); then none is left.
  const Job* after = scheduler_.FindJob(cancel.job);
  Reply(route, CancelAccepted{cancel.job, after != nullptr ? after->CleanupLeft() : 0});
}

void Server::HandleResume(const std::string& route, ResumeJob& resume, int64_t now) {
  if (AnswerRepeat(route, resume.key, resume.follow)) return;
  if (std::string why = Forbidden(route, resume.job, "resume"); !why.empty()) {
    ReplyError(route, ErrorCode::kForbidden, why);
    return;
  }
  const FinishedJob* finished = finished_.Find(resume.job);
  if (finished == nullptr) {
    ReplyError(route, ErrorCode::kUnknownJob,
               scheduler_.FindJob(resume.job) != nullptr
                   ? "job " + std::to_string(resume.job.value) + " is still running"
                   : NoSuchJob(resume.job));
    return;
  }
  const bool edited = !resume.job_file.bytes.empty();
  Result<std::string> file = spool_->ReadJobFile(resume.job);
  LoadedJob old;
  // Run again as it is, the old file must pass today's limits; read beside
  // an edited one, it only has to load.
  if (file.ok()) {
    old = LoadJob(file.value(), edited ? JobLimits::Unlimited() : options_.job_limits, kKeepArrays);
  }
  if (!file.ok() || !old.spec) {
    ReplyError(route, ErrorCode::kInternal,
               "cannot resume job " + std::to_string(resume.job.value) + ": " +
                   (file.ok() ? "its file no longer loads" : file.status().message()));
    return;
  }
  std::optional<JobSpec> next;
  std::string next_file;
  if (edited) {
    LoadedJob loaded = LoadJob(resume.job_file.bytes, options_.job_limits, kKeepArrays);
    if (!loaded.spec) {
      spdlog::info("rejected an edited file resuming job {} from {}: {} problem(s)",
                   resume.job.value, peers_.at(route).name, loaded.problems.size());
      Reject(route, loaded.problems);
      return;
    }
    next = std::move(*loaded.spec);
    next_file = std::move(resume.job_file.bytes);
  } else {
    next = *old.spec;
    next_file = std::move(file).value();
  }
  if (std::string full = DiskRefusal(next_file.size()); !full.empty()) {
    spdlog::info("refused to resume job {}: {}", resume.job.value, OneLine(full));
    ReplyError(route, ErrorCode::kStateDiskFull, std::move(full));
    return;
  }
  std::vector<bool> succeeded(FirstElements(*old.spec).back());
  for (size_t i = 0; i < succeeded.size(); ++i) succeeded[i] = Bit(finished->succeeded, i);
  const CarryOver carry = PlanCarryOver(*old.spec, succeeded, finished->captured, *next);
  const size_t steps = FirstElements(*next).back();
  const JobId id = Accept(route, std::move(*next), std::move(next_file), std::move(resume.key),
                          resume.follow, resume.job, &carry, now);
  if (id == JobId()) return;
  spdlog::info("job {} resumes job {}{}: {} of its {} steps carried over, {} dropped", id.value,
               resume.job.value, edited ? " with an edited file" : "", carry.carried(), steps,
               carry.dropped.size());
}

void Server::Publish(JobId job, const Event& event) {
  if (const auto* ended = std::get_if<JobEnded>(&event)) {
    if (!replaying_) {
      const Job* j = scheduler_.FindJob(job);
      spdlog::info("{} {}", JobName(job, j ? j->spec().name : ""), JobStateName(ended->state));
    }
    ended_jobs_.push_back(job);
  }
  // Replayed events are in the spool already; metrics count from this start.
  if (replaying_) return;
  CountEvent(event);
  // The core reads no clock; the times people see in the log are stamped
  // here: when an attempt was dispatched, and when a lost one was given up
  // (its worker, gone, said nothing of its end).
  Status s;
  if (const auto* started = std::get_if<StepStarted>(&event)) {
    StepStarted stamped = *started;
    stamped.at_ms = WallMs();
    s = spool_->Record(job, stamped);
  } else if (const auto* ended = std::get_if<StepEnded>(&event);
             ended != nullptr && ended->run && ended->run->outcome == Outcome::kLost &&
             ended->run->ended_ms == 0) {
    StepEnded stamped = *ended;
    stamped.run->ended_ms = WallMs();
    s = spool_->Record(job, stamped);
  } else {
    s = spool_->Record(job, event);
  }
  if (!s.ok()) spdlog::error("spool: {}", s.message());
}

void Server::CountEvent(const Event& event) {
  if (std::holds_alternative<StepStarted>(event)) {
    ++metrics_.attempts_started;
  } else if (const auto* ended = std::get_if<StepEnded>(&event)) {
    if (!ended->run) return;  // never ran
    const RunResult& run = *ended->run;
    ++metrics_.attempts_ended[static_cast<size_t>(run.outcome)];
    // Only attempts that ran, timed by their worker: not those given back,
    // never started, or lost (their worker said nothing of their end).
    const bool ran = run.outcome == Outcome::kExited || run.outcome == Outcome::kSignaled ||
                     run.outcome == Outcome::kTimedOut || run.outcome == Outcome::kKilled;
    if (ran && run.started_ms > 0) {
      metrics_.attempt_seconds.Observe(static_cast<double>(run.duration_ms()) / 1000);
    }
  } else if (const auto* job_ended = std::get_if<JobEnded>(&event)) {
    ++metrics_.jobs_ended[static_cast<size_t>(job_ended->state)];
  }
}

void Server::WriteJobFiles() {
  // The jobs run on: only --resume, --watch after their end and snapshots
  // need their files, and the journal keeps them until the next snapshot
  // (which waits for them). On a full disk they wait for room, in memory.
  if (job_files_due_.empty() || disk_.level() == DiskSpace::Level::kFull) return;
  std::vector<std::pair<JobId, std::string>> waiting;
  for (auto& [id, bytes] : job_files_due_) {
    // Forgotten meanwhile (replay of a file that could not be restored).
    if (scheduler_.FindJob(id) == nullptr && finished_.Find(id) == nullptr) continue;
    if (Status s = spool_->WriteJobFile(id, bytes); !s.ok()) {
      NoteWriteFailure("job " + std::to_string(id.value) + ": cannot keep its file in the spool",
                       s);
      if (IsNoSpaceError(s.error_number())) waiting.emplace_back(id, std::move(bytes));
    }
  }
  job_files_due_ = std::move(waiting);
}

void Server::RetireEndedJobs() {
  for (JobId id : std::exchange(ended_jobs_, {})) {
    const Job* job = scheduler_.FindJob(id);
    if (job == nullptr || !job->finished()) continue;
    FinishedJob summary;
    summary.name = job->spec().name;
    summary.state = job->Outcome();
    summary.counts.assign(job->counts().begin(), job->counts().end());
    summary.succeeded.assign((job->size() + 7) / 8, '\0');
    for (uint32_t i = 0; i < job->size(); ++i) {
      if (job->run(StepIndex(i)).state == StepState::kSucceeded) {
        summary.succeeded[i / 8] = static_cast<char>(summary.succeeded[i / 8] | (1 << (i % 8)));
      }
    }
    const std::vector<bool> captured = CapturedElements(job->spec());
    for (uint32_t i = 0; i < captured.size(); ++i) {
      if (captured[i]) summary.captured.push_back(i);
    }
    if (auto r = running_.find(id); r != running_.end()) {
      summary.key = std::move(r->second.key);
      summary.submitted_ms = r->second.submitted_ms;
      summary.owner = std::move(r->second.owner);
      summary.owner_key = std::move(r->second.owner_key);
      running_.erase(r);
    }
    summary.ended_ms = WallMs();
    // Its end time, for --forget-after across restarts (replay would end it
    // again at the restart's time), and a summary replay takes as it is.
    Journal(FinishedRecord{id, summary.key, summary.name, summary.state, summary.counts,
                           Blob{summary.succeeded}, summary.reason, summary.submitted_ms,
                           summary.ended_ms, summary.captured, summary.owner, summary.owner_key});
    finished_.Add(id, std::move(summary));
    scheduler_.ReleaseJob(id);
    if (EventLog* log = spool_->Log(id)) log->set_ended(true);
    CloseIfUnwatched(id);
  }
}

void Server::CloseIfUnwatched(JobId job) {
  // Only an ended job's files are closed: a running one still appends.
  if (scheduler_.FindJob(job) != nullptr) return;
  for (const Follower& f : followers_) {
    if (f.job == job) return;
  }
  spool_->CloseJob(job);
}

int64_t Server::PumpFollowers(int64_t now) {
  int64_t next = -1;
  for (size_t i = 0; i < followers_.size();) {
    Follower& f = followers_[i];
    EventLog* log = spool_->Log(f.job);
    bool done = log == nullptr;
    const uint64_t end = done ? 0 : std::min(log->size(), f.stop);
    const uint64_t waiting = f.sent >= end ? 0 : end - f.sent;
    // A reader that stops at `stop` is not kept waiting for more to come.
    const bool due = !done && (waiting >= kEventsPromptBytes || log->ended() ||
                               f.stop != UINT64_MAX || now - f.sent_at >= kEventsDelayMs);
    if (waiting > 0 && !due) {
      next = next < 0 ? f.sent_at + kEventsDelayMs : std::min(next, f.sent_at + kEventsDelayMs);
    }
    bool told_last = false;
    while (due && f.sent < end && f.sent - f.acked < kEventsWindowBytes) {
      const size_t room = static_cast<size_t>(kEventsWindowBytes - (f.sent - f.acked));
      Result<std::string_view> chunk =
          log->Read(f.sent, std::min<uint64_t>({room, kEventsChunkBytes, end - f.sent}),
                    &read_scratch_);
      if (!chunk.ok()) {
        spdlog::error("job {}: {}", f.job.value, chunk.status().message());
        done = true;
        break;
      }
      std::string bytes;
      const bool last = f.sent + chunk->size() >= f.stop;
      EncodeJobEvents(f.job, f.sent, chunk.value(), last, &bytes);
      f.sent += chunk->size();
      f.sent_at = now;
      ++counters_.sent;
      if (!SendRoutedEncoded(*router_, f.route, std::move(bytes))) gone_clients_.push_back(f.route);
      told_last = done = last;
    }
    // Nothing (more) was there to read: an empty log, one read to its end
    // before, or none at all. The reader is still told that this is all.
    if (!told_last && f.stop != UINT64_MAX && (log == nullptr || f.sent >= f.stop)) {
      std::string bytes;
      EncodeJobEvents(f.job, f.sent, {}, true, &bytes);
      if (!SendRoutedEncoded(*router_, f.route, std::move(bytes))) gone_clients_.push_back(f.route);
      done = true;
    }
    // A follower that has acknowledged the whole of an ended job is done.
    if (!done && log->ended() && f.acked >= log->size()) done = true;
    if (done) {
      const JobId job = f.job;
      followers_.erase(followers_.begin() + static_cast<long>(i));
      CloseIfUnwatched(job);
    } else {
      ++i;
    }
  }
  return next;
}

}  // namespace drover::broker
