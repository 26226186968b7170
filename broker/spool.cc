#include "broker/spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>

#include "shared/codec.h"
#include "shared/file_io.h"
#include "shared/job_elements.h"

namespace drover::broker {
namespace {

// Opens `path` with `flags` and reads its size; the fd is closed on failure.
Status OpenSized(const std::string& path, int flags, int* fd, uint64_t* size) {
  *fd = open(path.c_str(), flags | O_CLOEXEC);
  if (*fd < 0) return ErrnoStatus("open " + path, errno);
  struct stat st;
  if (fstat(*fd, &st) != 0) {
    const int err = errno;
    close(*fd);
    return ErrnoStatus("stat " + path, err);
  }
  *size = static_cast<uint64_t>(st.st_size);
  return Status::Ok();
}

// The length in the header of the record `bytes` starts with.
uint32_t RecordLength(std::string_view bytes) {
  uint32_t length = 0;
  for (int i = 0; i < 4; ++i) length |= uint32_t{static_cast<unsigned char>(bytes[i])} << (8 * i);
  return length;
}

Status MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0750) != 0 && errno != EEXIST) return ErrnoStatus("mkdir " + path, errno);
  return Status::Ok();
}

}  // namespace

EventLog::~EventLog() {
  if (fd_ >= 0) close(fd_);
}

std::unique_ptr<EventLog> EventLog::Create(const std::string& path) {
  // The file is made at the first Flush, after the turn's messages have
  // left: opening it is not on the way from a submission to its dispatch.
  return std::unique_ptr<EventLog>(new EventLog(-1, 0, path));
}

Result<std::unique_ptr<EventLog>> EventLog::Open(const std::string& path) {
  int fd = -1;
  uint64_t size = 0;
  // O_APPEND: a log reopened after a restart is written on at its end.
  if (Status s = OpenSized(path, O_RDWR | O_APPEND, &fd, &size); !s.ok()) return s;
  auto log = std::unique_ptr<EventLog>(new EventLog(fd, size, path));
  // A log on disk is only reopened for a job that is over (or from an earlier
  // broker run); either way nothing more will be appended to it.
  log->ended_ = true;
  return log;
}

void EventLog::Append(const Event& event) {
  AppendEventRecord(event, &buffer_);
  if (std::holds_alternative<JobEnded>(event)) ended_ = true;
}

Status EventLog::Flush(uint64_t* written) {
  if (buffer_.empty()) return Status::Ok();
  if (fd_ < 0) {
    // O_APPEND: after a partial write is cut off, the next one goes where
    // it ended.
    fd_ = open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
    if (fd_ < 0) return ErrnoStatus("create " + path_, errno);
  }
  size_t done = 0;
  Status s = WriteAll(fd_, buffer_, path_, &done);
  if (!s.ok()) {
    // Reads past flushed_ come from the buffer, so the file must not hold
    // part of it: cut it off (no space needed) and keep the whole buffer.
    // Should the cut fail, the bytes written stay and leave the buffer.
    if (done > 0 && ftruncate(fd_, static_cast<off_t>(flushed_)) != 0) {
      flushed_ += done;
      buffer_.erase(0, done);
      if (written != nullptr) *written += done;
    }
    return s;
  }
  flushed_ += buffer_.size();
  if (written != nullptr) *written += buffer_.size();
  buffer_.clear();
  return Status::Ok();
}

Result<std::string_view> EventLog::Read(uint64_t offset, size_t max_bytes,
                                        std::string* scratch) const {
  if (offset >= flushed_) {
    // Still in the buffer, which holds whole records from flushed_ on.
    if (offset >= size()) return std::string_view();
    std::string_view tail = std::string_view(buffer_).substr(offset - flushed_);
    const size_t whole = WholeRecordsPrefix(tail.substr(0, max_bytes));
    return tail.substr(0, whole > 0 ? whole : 4 + RecordLength(tail));
  }
  const size_t want = static_cast<size_t>(std::min<uint64_t>(max_bytes, flushed_ - offset));
  scratch->resize(want);
  Status s = PreadAll(fd_, scratch->data(), want, offset, path_);
  if (!s.ok()) return s;
  size_t whole = WholeRecordsPrefix(*scratch);
  if (whole == 0 && want >= 4) {
    // A record larger than max_bytes: read exactly that one.
    const uint32_t length = RecordLength(*scratch);
    if (offset + 4 + length > flushed_) return Status::Error(path_ + ": truncated record");
    scratch->resize(4 + length);
    s = PreadAll(fd_, scratch->data(), scratch->size(), offset, path_);
    if (!s.ok()) return s;
    whole = scratch->size();
  }
  return std::string_view(*scratch).substr(0, whole);
}

Result<std::unique_ptr<Spool>> Spool::Create(const std::string& dir) {
  Status s = MakeDir(dir);
  if (!s.ok()) return s;
  return std::unique_ptr<Spool>(new Spool(dir));
}

std::string Spool::LogPath(JobId job) const {
  return dir_ + "/" + std::to_string(job.value) + ".events";
}

std::string Spool::CapturePath(JobId job, StepIndex step) const {
  return dir_ + "/" + std::to_string(job.value) + ".stdout." + std::to_string(step.value);
}

std::string Spool::JobFilePath(JobId job) const {
  return dir_ + "/" + std::to_string(job.value) + ".job";
}

void Spool::Track(JobId job, const JobSpec& spec, std::unique_ptr<EventLog> log) {
  OpenJobFiles files;
  files.log = std::move(log);
  files.captured = CapturedElements(spec);
  jobs_[job] = std::move(files);
}

void Spool::OpenJob(JobId job, const JobSpec& spec) {
  Track(job, spec, EventLog::Create(LogPath(job)));
}

Status Spool::WriteJobFile(JobId job, std::string_view job_file) {
  const std::string path = JobFilePath(job);
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return ErrnoStatus("create " + path, errno);
  size_t done = 0;
  Status s = WriteAll(fd, job_file, path, &done);
  close(fd);
  bytes_written_ += done;
  // A part of a job file would be taken for the whole by a snapshot; none
  // at all is noticed (and restored from the journal at the next start).
  if (!s.ok()) unlink(path.c_str());
  return s;
}

Status Spool::RestoreJobFile(JobId job, std::string_view job_file) {
  struct stat st;
  if (stat(JobFilePath(job).c_str(), &st) == 0 &&
      static_cast<uint64_t>(st.st_size) == job_file.size()) {
    return Status::Ok();
  }
  return WriteJobFile(job, job_file);
}

Status Spool::ReopenJob(JobId job, const JobSpec& spec) {
  Result<std::unique_ptr<EventLog>> log = EventLog::Open(LogPath(job));
  if (!log.ok()) {
    // Nothing was flushed before the restart: start the log now.
    Track(job, spec, EventLog::Create(LogPath(job)));
    return Status::Ok();
  }
  log.value()->set_ended(false);  // the job is running: more will come
  Track(job, spec, std::move(log).value());
  OpenJobFiles& files = jobs_[job];
  if (Status s = ReadBack(files); !s.ok()) {
    // The job runs on; output sent again may then be kept twice.
    spdlog::warn(
        "spool: job {}: cannot read back its log ({}): output its workers send again "
        "may be kept twice",
        job.value, s.message());
  }
  return Status::Ok();
}

namespace {

// Whether the StepOutput record `framed` (of extent `out`) is the marker
// RecordOutput writes where output was cut.
bool IsCutMarker(const OutputExtent& out, std::string_view framed) {
  const size_t marker = std::string_view(kOutputNotKeptMarker).size();
  if (out.size != marker && out.size != marker + 1) return false;
  Result<std::vector<Event>> events = DecodeEventRecords(framed);
  if (!events.ok() || events->size() != 1) return false;
  const auto* e = std::get_if<StepOutput>(&events->front());
  if (e == nullptr) return false;
  std::string_view text = e->data.bytes;
  if (text.size() == marker + 1 && text.front() == '\n') text.remove_prefix(1);
  return text == kOutputNotKeptMarker;
}

}  // namespace

Status Spool::ReadBack(OpenJobFiles& files) {
  std::string scratch;
  uint64_t at = 0;
  while (at < files.log->size()) {
    Result<std::string_view> bytes = files.log->Read(at, 1 << 20, &scratch);
    if (!bytes.ok()) return bytes.status();
    if (bytes->empty()) break;
    at += bytes->size();
    // Record by record: output (most of a log) only for where it lies,
    // without copying it; the rest decoded whole.
    for (std::string_view rest = bytes.value(); !rest.empty();) {
      if (rest.size() < 4 || rest.size() - 4 < RecordLength(rest)) {
        return Status::Error("a record cut short at byte " + std::to_string(at));
      }
      const std::string_view framed = rest.substr(0, 4 + RecordLength(rest));
      rest.remove_prefix(framed.size());
      const std::string_view record = framed.substr(4);
      if (std::optional<OutputExtent> out = DecodeOutputExtent(record)) {
        auto it = files.running.find(out->step.value);
        if (it == files.running.end() || it->second.attempt != out->attempt) continue;
        // A full disk's marker stands in for output, and is none of it.
        if (IsCutMarker(*out, framed)) continue;
        uint64_t& end = it->second.end[out->stream == Stream::kStdout ? 0 : 1];
        // Logs from before offsets were kept say 0: each record follows the last.
        const uint64_t start = out->offset != 0 ? out->offset : end;
        end = std::max(end, start + out->size);
        continue;
      }
      Result<std::vector<Event>> events = DecodeEventRecords(framed);
      if (!events.ok()) return events.status();
      for (const Event& event : events.value()) {
        if (const auto* started = std::get_if<StepStarted>(&event)) {
          RunningOutput& running = files.running[started->step.value];
          running = RunningOutput();
          running.attempt = started->attempt;
        } else if (const auto* ended = std::get_if<StepEnded>(&event)) {
          files.running.erase(ended->step.value);
          NoteCaptureBytes(files, *ended);
        }
      }
    }
  }
  return Status::Ok();
}

Result<std::string> Spool::ReadJobFile(JobId job) const {
  const std::string path = JobFilePath(job);
  int fd = -1;
  uint64_t size = 0;
  if (Status s = OpenSized(path, O_RDONLY, &fd, &size); !s.ok()) return s;
  std::string bytes(size, '\0');
  Status s = PreadAll(fd, bytes.data(), bytes.size(), 0, path);
  close(fd);
  if (!s.ok()) return s;
  return bytes;
}

Status Spool::Record(JobId job, const Event& event) {
  auto it = jobs_.find(job);
  if (it == jobs_.end()) return Status::Error("job " + std::to_string(job.value) + " has no spool");
  OpenJobFiles& files = it->second;
  if (const auto* out = std::get_if<StepOutput>(&event)) return RecordOutput(job, files, *out);
  files.log->Append(event);
  if (const auto* started = std::get_if<StepStarted>(&event)) {
    return StartAttempt(job, files, started->step, started->attempt);
  }
  if (const auto* ended = std::get_if<StepEnded>(&event)) {
    files.running.erase(ended->step.value);
    NoteCaptureBytes(files, *ended);
  }
  return Status::Ok();
}

void Spool::NoteCaptureBytes(OpenJobFiles& files, const StepEnded& ended) {
  if (!files.captured[ended.step.value]) return;
  if (ended.run && ended.run->stdout_bytes >= 0) {
    files.capture_bytes[ended.step.value] = static_cast<uint64_t>(ended.run->stdout_bytes);
  } else {
    files.capture_bytes.erase(ended.step.value);
  }
}

void Spool::NoteCaptureBytes(JobId job, StepIndex step, uint64_t bytes) {
  auto it = jobs_.find(job);
  if (it == jobs_.end() || step.value >= it->second.captured.size() ||
      !it->second.captured[step.value]) {
    return;
  }
  it->second.capture_bytes[step.value] = bytes;
}

Status Spool::StartAttempt(JobId job, OpenJobFiles& files, StepIndex step, Attempt attempt) {
  RunningOutput& running = files.running[step.value];
  running = RunningOutput();
  running.attempt = attempt;
  files.capture_bytes.erase(step.value);
  if (!files.captured[step.value]) return Status::Ok();
  files.captures_lost.erase(step.value);
  // A new file, not the old one truncated: the old one may be linked from
  // a resumed job (CarryCapture).
  const std::string path = CapturePath(job, step);
  unlink(path.c_str());
  ScopedFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  if (!fd.valid()) {
    const int err = errno;
    files.captures_lost.emplace(step.value, "its output could not be kept: " +
                                                ErrnoStatus("create " + path, err).message());
    return ErrnoStatus("create " + path, err);
  }
  return Status::Ok();
}

Status Spool::RecordOutput(JobId job, OpenJobFiles& files, const StepOutput& given) {
  const size_t stream = given.stream == Stream::kStdout ? 0 : 1;
  RunningOutput& running = files.running[given.step.value];
  const bool captured = given.stream == Stream::kStdout && files.captured[given.step.value];
  if (running.attempt != given.attempt) {
    // Output of an attempt whose start this spool did not see, or whose end
    // its log has from a broker that stopped before its journal did: what
    // its capture holds was kept.
    running = RunningOutput();
    running.attempt = given.attempt;
    struct stat st;
    if (captured && stat(CapturePath(job, given.step).c_str(), &st) == 0) {
      running.end[0] = static_cast<uint64_t>(st.st_size);
    }
  }
  // Keep what is new, once: a worker sends again, after a broker restart,
  // what the broker had not acknowledged, and some of it may be here.
  uint64_t& end = running.end[stream];
  std::string_view data = given.data.bytes;
  uint64_t at = given.offset;
  if (at + data.size() <= end) return Status::Ok();
  if (at < end) {
    data.remove_prefix(end - at);
    at = end;
  }
  const bool gap = at > end;  // lost on the way (a worker's spill that failed)
  end = at + data.size();
  switch (running.ration.Take(level_, data.size())) {
    case OutputVerdict::kKeep:
      break;
    case OutputVerdict::kCut: {
      StepOutput marker{given.step, given.attempt, given.stream, {}, at};
      if (running.open_line[stream]) marker.data.bytes = "\n";
      marker.data.bytes += kOutputNotKeptMarker;
      files.log->Append(marker);
      running.open_line[stream] = false;
      ++cuts_;
      if (captured) LoseCapture(job, files, given.step, kNotKeptFullDisk);
      return Status::Ok();
    }
    case OutputVerdict::kDrop:
      if (captured) LoseCapture(job, files, given.step, kNotKeptFullDisk);
      return Status::Ok();
  }
  if (data.size() == given.data.bytes.size()) {
    files.log->Append(given);
  } else {
    files.log->Append(
        StepOutput{given.step, given.attempt, given.stream, Blob{std::string(data)}, at});
  }
  if (!data.empty()) running.open_line[stream] = data.back() != '\n';
  if (!captured || files.captures_lost.count(given.step.value)) return Status::Ok();
  if (gap) {
    LoseCapture(job, files, given.step,
                "its output was not all kept: a piece of it was lost on the way to the broker");
    return Status::Ok();
  }
  return Capture(job, files, given.step, data, at);
}

Status Spool::Capture(JobId job, OpenJobFiles& files, StepIndex step, std::string_view data,
                      uint64_t offset) {
  // Opened for each write, not kept open while the step runs: a broker may
  // have many captured steps running (an array's), each holding nothing.
  const std::string path = CapturePath(job, step);
  ScopedFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) {
    const Status s = ErrnoStatus("open " + path, errno);
    LoseCapture(job, files, step, "its output could not be kept: " + s.message());
    return s;
  }
  // At its offset: what a worker sends again after a restart may be here
  // already (the capture is written at once, the log at the turn's end).
  Status s = PwriteAll(fd.get(), data, offset, path);
  if (s.ok()) bytes_written_ += data.size();
  if (!s.ok()) LoseCapture(job, files, step, "its output could not be kept: " + s.message());
  return s;
}

void Spool::LoseCapture(JobId job, OpenJobFiles& files, StepIndex step, std::string why) {
  if (!files.captures_lost.emplace(step.value, std::move(why)).second) return;
  // What is there is only a part, and deleting it gives its space back.
  unlink(CapturePath(job, step).c_str());
}

Status Spool::FlushAll() {
  Status first;
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    Status s = it->second.log->Flush(&bytes_written_);
    if (s.ok() && it->second.closing) {
      it = jobs_.erase(it);
      continue;
    }
    if (!s.ok() && first.ok()) first = std::move(s);
    ++it;
  }
  return first;
}

EventLog* Spool::Log(JobId job) {
  auto it = jobs_.find(job);
  if (it != jobs_.end()) return it->second.log.get();
  Result<std::unique_ptr<EventLog>> log = EventLog::Open(LogPath(job));
  if (!log.ok()) return nullptr;
  OpenJobFiles& files = jobs_[job];
  files.log = std::move(log).value();
  return files.log.get();
}

void Spool::CloseJob(JobId job) {
  auto it = jobs_.find(job);
  if (it == jobs_.end()) return;
  // Its last events (its end) must reach the file: if they cannot yet, the
  // log stays open, and FlushAll closes it once they have.
  if (!it->second.log->Flush(&bytes_written_).ok()) {
    it->second.closing = true;
    return;
  }
  jobs_.erase(it);
}

Status Spool::CarryCapture(JobId from, StepIndex from_step, JobId to, StepIndex to_step) {
  const std::string source = CapturePath(from, from_step);
  const std::string target = CapturePath(to, to_step);
  // Carried before the restart that replays it (`from` may be gone since).
  if (access(target.c_str(), F_OK) == 0) return Status::Ok();
  if (link(source.c_str(), target.c_str()) == 0 || errno == ENOENT) return Status::Ok();
  // Another file system, or no links there: a copy.
  Result<std::string> bytes = ReadCapturedStdout(from, from_step, SIZE_MAX);
  if (!bytes.ok()) return bytes.status();
  const int fd = open(target.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return ErrnoStatus("create " + target, errno);
  size_t done = 0;
  Status s = WriteAll(fd, bytes.value(), target, &done);
  close(fd);
  bytes_written_ += done;
  // A part would be taken for the whole by the step reading it.
  if (!s.ok()) unlink(target.c_str());
  return s;
}

void Spool::ForgetJob(JobId job, const std::vector<uint32_t>& captured) {
  jobs_.erase(job);
  auto remove = [](const std::string& path) {
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      spdlog::warn("spool: cannot delete {}: {}", path, strerror(errno));
    }
  };
  remove(LogPath(job));
  remove(JobFilePath(job));
  for (uint32_t step : captured) remove(CapturePath(job, StepIndex(step)));
}

Result<uint64_t> Spool::CaptureSize(JobId job, StepIndex step) {
  std::optional<uint64_t> counted;
  if (auto it = jobs_.find(job); it != jobs_.end()) {
    if (auto lost = it->second.captures_lost.find(step.value);
        lost != it->second.captures_lost.end()) {
      return Status::Error(lost->second);
    }
    if (auto c = it->second.capture_bytes.find(step.value); c != it->second.capture_bytes.end()) {
      counted = c->second;
    }
  }
  const std::string path = CapturePath(job, step);
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return ErrnoStatus("open " + path, errno);
  const auto size = static_cast<uint64_t>(st.st_size);
  if (counted && size != *counted) {
    // The machine lost what the broker had not yet written to disk.
    return Status::Error("its output was not all kept: the broker has " + std::to_string(size) +
                         " of the " + std::to_string(*counted) + " bytes it wrote");
  }
  return size;
}

Status Spool::ReadCapture(JobId job, StepIndex step, uint64_t offset, size_t size,
                          char* out) const {
  const std::string path = CapturePath(job, step);
  ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("open " + path, errno);
  return PreadAll(fd.get(), out, size, offset, path);
}

Result<std::string> Spool::ReadCapturedStdout(JobId job, StepIndex step, size_t max_bytes) {
  Result<uint64_t> size = CaptureSize(job, step);
  if (!size.ok()) return size.status();
  if (size.value() > max_bytes) {
    return Status::Error("its output is " + std::to_string(size.value()) +
                         " bytes, over the limit of " + std::to_string(max_bytes) +
                         " bytes for stdin");
  }
  std::string data(size.value(), '\0');
  if (Status s = ReadCapture(job, step, 0, data.size(), data.data()); !s.ok()) return s;
  return data;
}

}  // namespace drover::broker
