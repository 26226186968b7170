// Server (server.h): durability. Journaling decisions, replaying them after
// a restart, and snapshots that bound the journal (broker/recovery.h).

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "broker/server.h"
#include "shared/clock.h"
#include "shared/job_elements.h"

namespace drover::broker {
namespace {

// Replay accepts any job file the broker once accepted, whatever limits it
// runs with now: refusing one would lose an accepted job.
const JobLimits kAnyJob = JobLimits::Unlimited();

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

Status UnknownWorker(uint32_t number) {
  return Status::Error("a record refers to worker number " + std::to_string(number) +
                       ", which no earlier record defines");
}

}  // namespace

uint32_t Server::JournalWorker(const Worker& w) {
  if (w.id.value >= journal_workers_.size()) journal_workers_.resize(w.id.value + 1, 0);
  uint32_t& number = journal_workers_[w.id.value];
  if (number == 0) {
    number = next_worker_number_++;
    Journal(WorkerRecord{number, w.info.instance, w.info.name});
  }
  return number;
}

void Server::JournalDispatches() {
  for (const auto& entry : dispatch_records_) {
    const DispatchesRecord& record = entry.second;
    journal_->AppendEncoded([&record](std::string* out) { EncodeRecordOf(record, out); });
    dispatch_record_of_[entry.first.value] = 0;
  }
  dispatch_records_.clear();
}

Status Server::Recover(const std::string& dir) {
  const int64_t now = MonotonicMs();
  spdlog::info("replaying the journal in {}", dir);
  replaying_ = true;
  scheduler_.SetReplaying(true);
  Result<std::unique_ptr<broker::Journal>> journal =
      broker::Journal::Open(dir, [&](std::string_view bytes) -> Status {
        // A record that does not decode inside a frame whose checksum is
        // right (a bug, or damage no checksum sees) is skipped, loudly: what
        // it held is lost (at worst a step runs again), the rest comes back.
        if (IsAllocRecord(bytes)) {
          Result<AllocRecord> record = DecodeAllocRecord(bytes);
          if (!record.ok()) {
            spdlog::critical("skipping an allocation record that does not decode: {}",
                             record.status().message());
            return Status::Ok();
          }
          alloc_.queues().Apply(record.value());
          return Status::Ok();
        }
        Result<Record> record = DecodeRecord(bytes);
        if (!record.ok()) {
          spdlog::critical("skipping a journal record that does not decode: {}",
                           record.status().message());
          return Status::Ok();
        }
        return ApplyRecord(record.value(), now);
      });
  scheduler_.FinishReplay(now);
  replaying_ = false;
  replay_workers_.clear();
  if (!journal.ok()) return journal.status();
  journal_ = std::move(journal).value();
  RetireEndedJobs();  // jobs that ended before the restart
  // Allocations whose sbatch never answered failed; Slurm is asked at once
  // about the rest (their records go out with the first turn's).
  alloc_.queues().AfterReplay(now);
  alloc_.PollSoon(now);
  alloc_.LogChanges();
  journal_dir_ = dir;
  MeasureDisk();  // a broker started on a full disk says so at once
  const broker::Journal::Recovered& r = journal_->recovered();
  if (r.snapshot_records + r.journal_records > 0) {
    spdlog::info("recovered from {}: {} snapshot and {} journal records{}; {} job(s) running, "
                 "{} over", dir, r.snapshot_records, r.journal_records,
                 r.torn_bytes ? ", cut a torn tail of " + std::to_string(r.torn_bytes) + " bytes"
                              : std::string(),
                 scheduler_.jobs().size(), finished_.size());
  }
  return Status::Ok();
}

Status Server::Unreplayable(JobId job, const std::string& key, const std::string& why) {
  spdlog::critical("job {} cannot be brought back from the journal ({}): it is marked failed, and "
                   "the broker goes on without it",
                   job.value, why);
  // Only a job's first record (JobRecord, or a snapshot's RunningRecord)
  // makes it: the later ones of a job that is not there are ignored.
  FinishedJob f;
  f.state = JobState::kFailed;
  f.key = key;
  f.reason = "the broker could not bring it back after a restart: " + why;
  f.ended_ms = WallMs();
  finished_.Add(job, std::move(f));
  next_job_ = std::max(next_job_, job.value + 1);
  if (!key.empty()) submission_keys_[key] = job;
  return Status::Ok();
}

void Server::RestoreJobFile(JobId job, const std::string& file) {
  if (Status s = spool_->RestoreJobFile(job, file); !s.ok()) {
    // A full disk, say: the job comes back all the same, and its file is
    // written with the new ones once there is room (WriteJobFiles).
    spdlog::warn("job {}: cannot restore its file in the spool yet: {}", job.value, s.message());
    job_files_due_.emplace_back(job, file);
  }
}

Status Server::ApplyRecord(const Record& record, int64_t now) {
  auto load = [](const Blob& file, JobId id) -> Result<JobSpec> {
    LoadedJob loaded = LoadJob(file.bytes, kAnyJob, kKeepArrays);
    if (!loaded.spec) {
      return Status::Error("job " + std::to_string(id.value) + " no longer loads: " +
                           FormatProblem(loaded.problems.front()));
    }
    return std::move(*loaded.spec);
  };
  auto remember = [this](JobId id, const std::string& key, size_t file_bytes,
                         int64_t submitted_ms, const std::string& owner,
                         const std::string& owner_key) {
    next_job_ = std::max(next_job_, id.value + 1);
    running_[id] = RunningJob{key, file_bytes, submitted_ms, owner, owner_key};
    if (!key.empty()) submission_keys_[key] = id;
  };
  return std::visit(
      Overloaded{
          [&](const JobRecord& r) -> Status {
            Result<JobSpec> spec = load(r.job_file, r.job);
            if (!spec.ok()) return Unreplayable(r.job, r.key, spec.status().message());
            RestoreJobFile(r.job, r.job_file.bytes);
            if (Status s = spool_->ReopenJob(r.job, spec.value()); !s.ok()) return s;
            remember(r.job, r.key, r.job_file.bytes.size(), r.submitted_ms, r.owner, r.owner_key);
            std::vector<bool> succeeded;
            if (!r.succeeded.empty()) {
              const CarryOver carry =
                  CarryOverFromRecord(FirstElements(*spec).back(), r.succeeded, r.carried_from);
              succeeded = carry.Succeeded();
              CarryCaptures(r.resumed_from, r.job, spec.value(), carry);
            }
            if (r.resumed_from.value != 0) running_[r.job].resumed_from = r.resumed_from;
            scheduler_.OnSubmit(r.job, std::move(spec).value(), now,
                                succeeded.empty() ? nullptr : &succeeded, r.resumed_from);
            return Status::Ok();
          },
          [&](const WorkerRecord& r) -> Status {
            replay_workers_[r.number] = {r.instance, r.name};
            next_worker_number_ = std::max(next_worker_number_, r.number + 1);
            return Status::Ok();
          },
          [&](const DispatchRecord& r) -> Status {
            std::optional<TaskKey> after;
            if (r.after_attempt.value != 0) after = TaskKey{r.key.job, r.after_step, r.after_attempt};
            if (r.worker_number == 0) {
              scheduler_.ReplayDispatch(r.key, r.instance, r.worker, after, now);
              return Status::Ok();
            }
            auto w = replay_workers_.find(r.worker_number);
            if (w == replay_workers_.end()) return UnknownWorker(r.worker_number);
            scheduler_.ReplayDispatch(r.key, w->second.first, w->second.second, after, now);
            return Status::Ok();
          },
          [&](const DispatchesRecord& r) -> Status {
            auto w = replay_workers_.find(r.worker_number);
            if (w == replay_workers_.end()) return UnknownWorker(r.worker_number);
            for (const DispatchEntry& e : r.entries) {
              std::optional<TaskKey> after;
              if (e.after_attempt.value != 0) after = TaskKey{e.key.job, e.after_step, e.after_attempt};
              scheduler_.ReplayDispatch(e.key, w->second.first, w->second.second, after, now);
            }
            return Status::Ok();
          },
          [&](const ResultsRecord& r) -> Status {
            auto w = replay_workers_.find(r.worker_number);
            if (w == replay_workers_.end()) return UnknownWorker(r.worker_number);
            Result<Message> msg = DecodeMessage(r.message.bytes);
            auto* results = msg.ok() ? std::get_if<TaskResults>(&msg.value()) : nullptr;
            if (results == nullptr) {
              return Status::Error("a results record that holds no TaskResults message" +
                                   (msg.ok() ? std::string() : ": " + msg.status().message()));
            }
            for (const TaskResult& result : results->results) {
              scheduler_.ReplayResult(w->second.first, result, now);
              NoteReplayedCount(result);
            }
            return Status::Ok();
          },
          [&](const ResultRecord& r) -> Status {
            if (r.worker_number == 0) {
              scheduler_.ReplayResult(r.instance, r.result, now);
              return Status::Ok();
            }
            auto w = replay_workers_.find(r.worker_number);
            if (w == replay_workers_.end()) return UnknownWorker(r.worker_number);
            scheduler_.ReplayResult(w->second.first, r.result, now);
            NoteReplayedCount(r.result);
            return Status::Ok();
          },
          [&](const LostRecord& r) -> Status {
            scheduler_.ReplayLost(r.key, r.reason, now);
            return Status::Ok();
          },
          [&](const CancelRecord& r) -> Status {
            scheduler_.OnCancel(r.job, now, r.cleanup);
            return Status::Ok();
          },
          [&](const FinishedRecord& r) -> Status {
            FinishedJob f;
            f.name = r.name;
            f.state = r.state;
            f.counts = r.counts;
            f.succeeded = r.succeeded.bytes;
            f.key = r.key;
            f.reason = r.reason;
            f.submitted_ms = r.submitted_ms;
            // An older broker's record: kept for --forget-after from now.
            f.ended_ms = r.ended_ms != 0 ? r.ended_ms : WallMs();
            f.captured = r.captured;
            f.owner = r.owner;
            f.owner_key = r.owner_key;
            finished_.Add(r.job, std::move(f));
            running_.erase(r.job);
            // Journaled as it ended (RetireEndedJobs): the job's records
            // before it have ended it in the core again.
            if (scheduler_.FindJob(r.job) != nullptr) {
              scheduler_.ReleaseJob(r.job);
              spool_->CloseJob(r.job);
            }
            next_job_ = std::max(next_job_, r.job.value + 1);
            if (!r.key.empty()) submission_keys_[r.key] = r.job;
            return Status::Ok();
          },
          [&](const ForgetRecord& r) -> Status {
            const FinishedJob* f = finished_.Find(r.job);
            if (f == nullptr) return Status::Ok();
            if (!f->key.empty()) submission_keys_.erase(f->key);
            // The broker may have stopped before deleting them.
            spool_->ForgetJob(r.job, f->captured);
            finished_.Forget(r.job);
            return Status::Ok();
          },
          [&](const RunningRecord& r) -> Status {
            Result<JobSpec> spec = load(r.job_file, r.job);
            if (!spec.ok()) return Unreplayable(r.job, r.key, spec.status().message());
            const size_t n = FirstElements(*spec).back();
            if (r.states.bytes.size() != n || r.attempts.size() != n || r.failures.size() != n ||
                r.losses.size() != n || r.workers.size() != n || r.names.size() != r.instances.size()) {
              return Unreplayable(r.job, r.key, "its step states are damaged");
            }
            RestoreJobFile(r.job, r.job_file.bytes);
            if (Status s = spool_->ReopenJob(r.job, spec.value()); !s.ok()) return s;
            remember(r.job, r.key, r.job_file.bytes.size(), r.submitted_ms, r.owner, r.owner_key);
            running_[r.job].resumed_from = r.resumed_from;
            std::vector<Scheduler::StepSnapshot> steps(n);
            for (size_t i = 0; i < n; ++i) {
              const auto state = static_cast<uint8_t>(r.states.bytes[i]);
              if (state > static_cast<uint8_t>(kStepStateMax)) {
                return Unreplayable(r.job, r.key, "a step state is damaged");
              }
              steps[i] = {static_cast<StepState>(state), r.attempts[i], r.failures[i], r.losses[i],
                          r.workers[i], false};
            }
            for (uint32_t i : r.conditional) {
              if (i < n) steps[i].conditional = true;
            }
            std::vector<std::pair<std::string, std::string>> workers;
            for (size_t i = 0; i < r.instances.size(); ++i) {
              workers.emplace_back(r.instances[i], r.names[i]);
            }
            scheduler_.RestoreJob(r.job, std::move(spec).value(), steps, workers,
                                  r.cancelled ? &r.cancel_reason : nullptr, r.aborted, r.cleanup,
                                  now);
            return Status::Ok();
          },
          [&](const NextJobRecord& r) -> Status {
            next_job_ = std::max(next_job_, r.next_job);
            return Status::Ok();
          },
      },
      record);
}

bool Server::WriteJournal(int64_t now) {
  JournalAlloc();
  JournalDispatches();
  if (Status s = journal_->Write(); !s.ok()) {
    if (journal_->broken()) {
      spdlog::critical("journal: {}", s.message());
      return false;
    }
    // Most likely a full disk: the records wait in memory, and the broker
    // goes on with what runs. Said once, loudly: they are not durable.
    JournalStalled(s);
    ReleaseAcks();
    return true;
  }
  JournalWrittenAgain();
  if (!journal_->has_unsynced()) {
    // Made durable some other way (a snapshot): a sync still due would keep
    // the loop's deadline in the past, and the loop spinning.
    sync_due_ = -1;
  } else {
    // Group commit: what is written is synced within about kSyncMs, by one
    // fdatasync for many turns' records, off the loop; at once while a
    // submission waits to be acknowledged (its client waits for that).
    const bool ack_waits =
        !pending_acks_.empty() && journal_->last_durable() < journal_->last_appended();
    if (ack_waits || (sync_due_ >= 0 && now >= sync_due_)) {
      Result<bool> started = journal_->SyncInBackground();
      if (!started.ok()) {
        spdlog::critical("journal: {}", started.status().message());
        return false;
      }
      // Still busy with the last one: its end wakes the loop (sync_done_fd),
      // and this is the fallback.
      sync_due_ = started.value() ? -1 : now + 1;
    } else if (sync_due_ < 0) {
      sync_due_ = now + kSyncMs;
    }
  }
  ReleaseAcks();
  return true;
}

void Server::ReleaseAcks() {
  if (pending_acks_.empty()) return;
  const uint64_t durable = journal_->last_durable();
  std::vector<PendingAck> waiting;
  for (PendingAck& pending : pending_acks_) {
    if (pending.record > durable) {
      waiting.push_back(std::move(pending));
      continue;
    }
    // The reply first: a follower's events come after it.
    Reply(pending.route, pending.reply);
    if (pending.big) trim_due_ = true;
    if (pending.follow) followers_.push_back(Follower{pending.route, pending.reply.job, 0, 0, 0});
  }
  pending_acks_ = std::move(waiting);
}

bool Server::SnapshotDue() const {
  const uint64_t journal = journal_->journal_bytes();
  if (journal < options_.snapshot_bytes) return false;
  // Not on a disk that just refused a write, nor soon after a failed one
  // (the old snapshot and journal stay in use meanwhile).
  if (journal_stalled_ || disk_.level() == DiskSpace::Level::kFull || journal < snapshot_after_) {
    return false;
  }
  // A snapshot costs in proportion to the state it holds (every running
  // job's file and step states), so it waits until the journal is several
  // times that size: with a large graph running, a snapshot every
  // --snapshot-mb would cost more than the journal itself. Replay then
  // reads at most about five times the state.
  uint64_t state = 0;
  for (const auto& [id, job] : scheduler_.jobs()) {
    auto r = running_.find(id);
    state += (r == running_.end() ? 0 : r->second.file_bytes) + kSnapshotBytesPerStep * job->size();
  }
  state += kSnapshotBytesPerFinishedJob * finished_.size();
  return journal >= kSnapshotGrowth * std::max(state, journal_->snapshot_bytes());
}

Status Server::Stop() {
  if (Status s = spool_->FlushAll(); !s.ok()) NoteWriteFailure("spool", s);
  WriteJobFiles();
  const Status s = TakeSnapshot();
  if (s.ok()) return s;
  if (journal_->broken() || journal_->unwritten_bytes() > 0) {
    return Status::Error("stopping with " + std::to_string(journal_->unwritten_bytes()) +
                         " bytes of journal records that could not be written: they are lost (" +
                         s.message() + ")");
  }
  // The journal holds everything (made durable here, as the snapshot would
  // have); the next start replays it.
  if (Status synced = journal_->Sync(); !synced.ok()) return synced;
  spdlog::warn("no snapshot at stop ({}); the journal holds everything, and the next start "
               "replays it",
               s.message());
  return Status::Ok();
}

Status Server::TakeSnapshot() {
  JournalAlloc();  // the snapshot holds their effect: none may follow it
  JournalDispatches();
  if (Status s = journal_->Write(); !s.ok()) return s;
  // Every running job's file is read before anything is written, so that a
  // missing one fails the snapshot, not the journal.
  std::vector<std::pair<JobId, std::string>> files;
  for (const auto& entry : scheduler_.jobs()) {
    const JobId id = entry.first;  // a lambda cannot capture a structured binding in clang 14
    // Not in the spool yet (its write waits for room): the copy in memory.
    auto due = std::find_if(job_files_due_.begin(), job_files_due_.end(),
                            [&](const auto& d) { return d.first == id; });
    if (due != job_files_due_.end()) {
      files.emplace_back(id, due->second);
      continue;
    }
    Result<std::string> file = spool_->ReadJobFile(id);
    if (!file.ok()) return file.status();
    files.emplace_back(id, std::move(file).value());
  }
  const int64_t t0 = MonotonicMs();
  std::string bytes;
  Status s = journal_->WriteSnapshot([&](const std::function<void(std::string_view)>& emit) {
    auto put = [&](const Record& r) {
      bytes.clear();
      EncodeRecord(r, &bytes);
      emit(bytes);
    };
    put(NextJobRecord{next_job_});
    // Always, even with no queue left: queue ids are never reused.
    bytes.clear();
    EncodeAllocRecord(alloc_.queues().Snapshot(), &bytes);
    emit(bytes);
    for (const auto& [id, f] : finished_.all()) {
      put(FinishedRecord{id, f.key, f.name, f.state, f.counts, Blob{f.succeeded}, f.reason,
                         f.submitted_ms, f.ended_ms, f.captured, f.owner, f.owner_key});
    }
    for (auto& [id, file] : files) {
      const Job* job = scheduler_.FindJob(id);
      RunningRecord r;
      r.job = id;
      if (auto k = running_.find(id); k != running_.end()) {
        r.key = k->second.key;
        r.submitted_ms = k->second.submitted_ms;
        r.owner = k->second.owner;
        r.owner_key = k->second.owner_key;
      }
      r.job_file.bytes = std::move(file);
      r.instances = {""};
      r.names = {""};
      std::unordered_map<WorkerId, uint32_t> worker_index;
      const size_t n = job->size();
      r.states.bytes.resize(n);
      r.attempts.resize(n);
      r.failures.resize(n);
      r.losses.resize(n);
      r.workers.assign(n, 0);
      for (uint32_t i = 0; i < n; ++i) {
        const StepRun& run = job->run(StepIndex(i));
        r.states.bytes[i] = static_cast<char>(run.state);
        r.attempts[i] = run.attempt;
        r.failures[i] = run.failures;
        r.losses[i] = run.losses;
        if (run.conditional) r.conditional.push_back(i);
        if (run.state != StepState::kRunning) continue;
        auto [it, added] = worker_index.try_emplace(run.worker, static_cast<uint32_t>(r.instances.size()));
        if (added) {
          const Worker* w = scheduler_.FindWorker(run.worker);
          r.instances.push_back(w ? w->info.instance : "");
          r.names.push_back(w ? w->info.name : "");
        }
        r.workers[i] = it->second;
      }
      r.cancelled = job->cancelled();
      r.aborted = job->aborted();
      r.cancel_reason = job->cancel_reason();
      r.cleanup = job->cancelled() && !job->cleanup_stopped();
      if (auto k = running_.find(id); k != running_.end() && k->second.resumed_from.value != 0) {
        r.resumed_from = k->second.resumed_from;
      }
      put(r);
    }
  });
  if (!s.ok()) return s;
  journal_workers_.assign(journal_workers_.size(), 0);  // a new journal file: its records define their own
  spdlog::info("snapshot: {} running and {} finished job(s) in {} ms", files.size(),
               finished_.size(), MonotonicMs() - t0);
  return Status::Ok();
}

void Server::NoteReplayedCount(const TaskResult& result) {
  // The journal is synced and the spool is not: after a power loss the
  // log may have lost the step's end with the capture's tail, and the
  // count is what tells the capture is short.
  const Job* job = scheduler_.FindJob(result.key.job);
  if (job == nullptr || result.run.stdout_bytes < 0 || result.key.step.value >= job->size()) return;
  const StepRun& r = job->run(result.key.step);
  if (r.attempt != result.key.attempt.value || r.state != StepState::kSucceeded) return;
  spool_->NoteCaptureBytes(result.key.job, result.key.step,
                           static_cast<uint64_t>(result.run.stdout_bytes));
}

}  // namespace drover::broker
