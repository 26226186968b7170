#include "broker/spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "shared/codec.h"
#include "shared/file_io.h"

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

Status EventLog::Flush() {
  if (buffer_.empty()) return Status::Ok();
  if (fd_ < 0) {
    fd_ = open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd_ < 0) return ErrnoStatus("create " + path_, errno);
  }
  Status s = WriteAll(fd_, buffer_, path_);
  if (!s.ok()) return s;
  flushed_ += buffer_.size();
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
  files.captured.assign(spec.steps.size(), false);
  for (const StepSpec& step : spec.steps) {
    if (step.stdin_from) files.captured[step.stdin_from->value] = true;
  }
  jobs_[job] = std::move(files);
}

void Spool::OpenJob(JobId job, const JobSpec& spec) {
  Track(job, spec, EventLog::Create(LogPath(job)));
}

Status Spool::WriteJobFile(JobId job, std::string_view job_file) {
  const std::string path = JobFilePath(job);
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return ErrnoStatus("create " + path, errno);
  Status s = WriteAll(fd, job_file, path);
  close(fd);
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
  files.log->Append(event);
  // Captured stdout: a new attempt starts from empty; its output is appended.
  if (const auto* started = std::get_if<StepStarted>(&event)) {
    if (files.captured[started->step.value]) {
      // A new file, not the old one truncated: the old one may be linked
      // from a resumed job (CarryCapture).
      const std::string path = CapturePath(job, started->step);
      unlink(path.c_str());
      const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
      if (fd < 0) return ErrnoStatus("create " + path, errno);
      close(fd);
    }
  } else if (const auto* out = std::get_if<StepOutput>(&event)) {
    if (out->stream == Stream::kStdout && files.captured[out->step.value]) {
      const std::string path = CapturePath(job, out->step);
      const int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
      if (fd < 0) return ErrnoStatus("open " + path, errno);
      Status s = WriteAll(fd, out->data.bytes, path);
      close(fd);
      return s;
    }
  }
  return Status::Ok();
}

Status Spool::FlushAll() {
  for (auto& [job, files] : jobs_) {
    Status s = files.log->Flush();
    if (!s.ok()) return s;
  }
  return Status::Ok();
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
  (void)it->second.log->Flush();
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
  Status s = WriteAll(fd, bytes.value(), target);
  close(fd);
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

Result<std::string> Spool::ReadCapturedStdout(JobId job, StepIndex step, size_t max_bytes) {
  const std::string path = CapturePath(job, step);
  int fd = -1;
  uint64_t size = 0;
  if (Status s = OpenSized(path, O_RDONLY, &fd, &size); !s.ok()) return s;
  if (size > max_bytes) {
    close(fd);
    return Status::Error("its output is " + std::to_string(size) + " bytes, over the limit of " +
                         std::to_string(max_bytes) + " bytes for stdin");
  }
  std::string data(size, '\0');
  Status s = PreadAll(fd, data.data(), data.size(), 0, path);
  close(fd);
  if (!s.ok()) return s;
  return data;
}

}  // namespace drover::broker
