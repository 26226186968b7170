#include "broker/alloc_driver.h"

#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <string_view>
#include <utility>

#include "broker/command_runner.h"
#include "shared/durations.h"
#include "shared/file_io.h"

namespace drover::broker {
namespace {

// What Slurm said, on one line and of a size a log and `submit alloc info`
// can show: its first lines, without their "sbatch: error: " prefixes.
std::string SlurmWords(const std::string& err, const std::string& failure, int exit_code) {
  if (!failure.empty()) return failure;
  std::string text;
  for (size_t at = 0; at < err.size() && text.size() < 300;) {
    size_t end = err.find('\n', at);
    if (end == std::string::npos) end = err.size();
    std::string line = err.substr(at, end - at);
    at = end + 1;
    // "sbatch: error: invalid partition ...": the command's name is said
    // once by whoever shows this (the core writes "sbatch: ..."), and every
    // line here is an error.
    for (std::string_view noise : {"sbatch: ", "squeue: ", "sacct: ", "scancel: ", "error: "}) {
      if (line.starts_with(noise)) line.erase(0, noise.size());
    }
    if (line.empty()) continue;
    if (!text.empty()) text += "; ";
    text += line;
  }
  if (text.size() > 300) text = text.substr(0, 297) + "...";
  return text.empty() ? "exit status " + std::to_string(exit_code) + ", nothing said" : text;
}

// sbatch reads the script when it runs; nothing else reads it later but a
// person, so a plain write is enough.
Status WriteScript(const std::string& path, const std::string& text) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0750);
  if (fd < 0) return ErrnoStatus("cannot write " + path, errno);
  Status s = WriteAll(fd, text, path);
  close(fd);
  return s;
}

std::string AllocName(AllocQueueId queue, uint32_t seq) {
  return "q" + std::to_string(queue) + "-" + std::to_string(seq);
}

}  // namespace

AllocDriver::AllocDriver(Options options) : options_(std::move(options)) {
  queues_.set_backoff_first_ms(options_.backoff_ms);
}

AllocDriver::~AllocDriver() = default;

int AllocDriver::fd() const { return runner_ ? runner_->fd() : -1; }

Time AllocDriver::NextDue() const {
  if (queues_.queues().empty()) return -1;
  Time due = next_tick_;
  if (!polling_ && !queues_.Following().empty()) due = std::min(due, next_poll_);
  return due;
}

void AllocDriver::Turn(Time now, const std::function<AllocDemand()>& demand) {
  if (queues_.queues().empty()) return;
  if (now >= next_tick_) {
    next_tick_ = now + options_.tick_ms;
    for (const AllocAction& action : queues_.Tick(now, demand())) Act(action, now);
  }
  if (!polling_ && now >= next_poll_ && !queues_.Following().empty()) Poll(now);
  LogChanges();
}

void AllocDriver::Act(const AllocAction& action, Time now) {
  if (const auto* submit = std::get_if<AllocSubmit>(&action)) {
    Submit(*submit, now);
    return;
  }
  const SlurmJobId id = std::get<AllocCancel>(action).slurm_job_id;
  spdlog::info("allocations: cancelling Slurm job {}", id);
  Run(Pending{.kind = Kind::kScancel, .ids = {id}}, ScancelArgv(id));
}

void AllocDriver::Submit(const AllocSubmit& s, Time now) {
  const AllocQueue* q = queues_.Find(s.queue);
  if (q == nullptr) return;
  const std::string base = options_.script_dir + "/" + AllocName(s.queue, s.seq);
  const std::string script = AllocScript(q->params, s.queue, s.seq, options_.script);
  Status written = Status::Ok();
  if (mkdir(options_.script_dir.c_str(), 0750) != 0 && errno != EEXIST) {
    written = ErrnoStatus("cannot create " + options_.script_dir, errno);
  }
  if (written.ok()) written = WriteScript(base + ".sh", script);
  if (!written.ok()) {
    spdlog::error("allocations: queue {}: {}", s.queue, written.message());
    queues_.OnSubmitFailed(s.queue, s.seq, "the broker could not write the batch script: " +
                                               written.message(), now);
    return;
  }
  spdlog::info("allocations: queue {} asks Slurm for allocation {} ({} node(s) for {}): {}",
               s.queue, s.seq, q->params.workers_per_alloc,
               ShortDuration(q->params.time_limit_ms), base + ".sh");
  Run(Pending{.kind = Kind::kSbatch, .queue = s.queue, .seq = s.seq},
      SbatchArgv(q->params, s.queue, s.seq, base + ".sh", base + ".out"));
}

void AllocDriver::Poll(Time) {
  std::vector<SlurmJobId> ids = queues_.Following();
  polling_ = true;
  Run(Pending{.kind = Kind::kSqueue, .ids = ids}, SqueueArgv(ids));
}

void AllocDriver::Run(Pending pending, std::vector<std::string> argv) {
  const uint64_t tag = next_tag_++;
  pending_.emplace(tag, std::move(pending));
  queued_.emplace_back(tag, std::move(argv));
}

void AllocDriver::StartCommands() {
  if (queued_.empty()) return;
  if (!runner_) runner_ = std::make_unique<CommandRunner>();
  for (auto& [tag, argv] : std::exchange(queued_, {})) {
    runner_->Run(tag, std::move(argv), kCommandTimeoutMs);
  }
}

void AllocDriver::TakeResults(Time now) {
  if (!runner_) return;
  for (const CommandResult& r : runner_->Take()) {
    const auto it = pending_.find(r.tag);
    if (it == pending_.end()) continue;
    const Pending p = std::move(it->second);
    pending_.erase(it);
    const bool ok = r.exit_code == 0 && r.failure.empty();
    switch (p.kind) {
      case Kind::kSbatch: {
        Result<SlurmJobId> id = ok ? ParseSbatch(r.out) : Status::Error(SlurmWords(r.err, r.failure, r.exit_code));
        if (id.ok()) {
          spdlog::info("allocations: queue {} allocation {} is Slurm job {}", p.queue, p.seq,
                       id.value());
          queues_.OnSubmitted(p.queue, p.seq, id.value(), now);
          next_poll_ = std::min(next_poll_, now + options_.poll_ms);
        } else {
          spdlog::warn("allocations: queue {}: sbatch failed: {}", p.queue, id.status().message());
          queues_.OnSubmitFailed(p.queue, p.seq, id.status().message(), now);
        }
        break;
      }
      case Kind::kScancel:
        if (!ok) {
          spdlog::warn("allocations: scancel {} failed: {}", p.ids.front(),
                       SlurmWords(r.err, r.failure, r.exit_code));
        }
        break;
      case Kind::kSqueue:
        // A cut-short answer leaves jobs out that are there: no answer.
        OnSqueue(p, ok && !r.truncated ? 0 : 1, r.out,
                 r.truncated ? "its output was cut short" : SlurmWords(r.err, r.failure, r.exit_code),
                 now);
        break;
      case Kind::kEnded:
        OnEnded(p, ok ? 0 : 1, r.out, now);
        break;
    }
  }
  LogChanges();
}

void AllocDriver::LogChanges() {
  std::map<std::pair<AllocQueueId, uint32_t>, AllocState> states;
  for (const auto& [id, q] : queues_.queues()) {
    const bool paused = q.state == AllocQueueState::kPaused;
    if (paused && paused_logged_.insert(id).second) {
      spdlog::error("allocations: queue {} is paused: {} (`submit alloc resume {}` once mended)",
                    id, q.paused_reason, id);
    } else if (!paused) {
      paused_logged_.erase(id);
    }
    for (const Allocation& a : q.allocations) {
      states[{id, a.seq}] = a.state;
      const auto before = last_states_.find({id, a.seq});
      if (before != last_states_.end() && before->second == a.state) continue;
      if (a.state == AllocState::kRunning) {
        spdlog::info("allocations: queue {} allocation {} (Slurm job {}) is running{}", id, a.seq,
                     a.slurm_job_id, a.worker_joined ? ", its workers connecting" : "");
      } else if (AllocEnded(a.state)) {
        auto log = a.state == AllocState::kFailed ? spdlog::level::warn : spdlog::level::info;
        spdlog::log(log, "allocations: queue {} allocation {} (Slurm job {}) {}: {}", id, a.seq,
                    a.slurm_job_id, AllocStateName(a.state), a.reason);
      }
    }
  }
  last_states_ = std::move(states);
}

void AllocDriver::OnSqueue(const Pending& p, int exit_code, const std::string& out,
                           const std::string& err, Time now) {
  if (exit_code != 0) {
    // Not an answer about the jobs: ask again at the next poll.
    spdlog::warn("allocations: squeue failed: {}", err);
    polling_ = false;
    next_poll_ = now + options_.poll_ms;
    return;
  }
  std::set<SlurmJobId> listed;
  for (const SlurmJobReport& report : ParseSqueue(out)) {
    if (std::find(p.ids.begin(), p.ids.end(), report.id) == p.ids.end()) continue;
    listed.insert(report.id);
    queues_.OnSlurmState(report.id, report.state, report.reason, now);
  }
  std::vector<SlurmJobId> gone;
  for (SlurmJobId id : p.ids) {
    if (listed.count(id) == 0) gone.push_back(id);
  }
  if (gone.empty()) {
    polling_ = false;
    next_poll_ = now + options_.poll_ms;
    return;
  }
  Run(Pending{.kind = Kind::kEnded, .ids = gone}, EndedArgv(gone));
}

void AllocDriver::OnEnded(const Pending& p, int exit_code, const std::string& out, Time now) {
  polling_ = false;
  next_poll_ = now + options_.poll_ms;
  std::set<SlurmJobId> told;
  if (exit_code == 0) {
    for (const SlurmJobReport& report : ParseEnded(out)) {
      if (std::find(p.ids.begin(), p.ids.end(), report.id) == p.ids.end()) continue;
      told.insert(report.id);
      queues_.OnSlurmState(report.id, report.state, report.reason, now);
    }
  }
  // squeue no longer lists them and Slurm cannot say more: they are over.
  for (SlurmJobId id : p.ids) {
    if (told.count(id) != 0) continue;
    const SlurmJobReport end = UnknownEnd(id);
    queues_.OnSlurmState(id, end.state, end.reason, now);
  }
}

}  // namespace drover::broker
