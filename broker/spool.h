// Spool: where the broker keeps what jobs produce, on disk, so its memory
// stays bounded whatever the steps print.
//
// Layout under the spool directory (flat: no directory per job to create):
//   <job-id>.events         the job's event log: every StepStarted, StepOutput,
//                           StepEnded and JobEnded, as framed records (codec.h),
//                           append-only. Followers are fed from it, so a slow
//                           or late follower (submit --watch) reads history
//                           from disk, not from broker memory.
//   <job-id>.stdout.<step>  the stdout of the current attempt of a step that
//                           another step reads with `stdin_from`.
//   <job-id>.job            the job file as submitted (for --resume, --watch
//                           of a finished job, and snapshots); written after
//                           the journal has the job, and restored from it.
//
// Appends are buffered in memory until Flush(), which the broker calls once
// per loop turn: one write() per job per turn instead of one per event. Reads
// of what is still buffered are served from memory, so a follower that keeps
// up never causes a read from disk. Nothing is fsynced: the spool is output,
// not the broker's state.
//
// Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "shared/ids.h"
#include "shared/job_spec.h"
#include "shared/protocol.h"
#include "shared/status.h"

namespace drover::broker {

// One job's event log file.
class EventLog {
 public:
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // A new log at `path`, created (truncating) at the first Flush; or the log
  // already on disk at `path`.
  static std::unique_ptr<EventLog> Create(const std::string& path);
  static Result<std::unique_ptr<EventLog>> Open(const std::string& path);

  void Append(const Event& event);
  Status Flush();

  // Bytes appended so far (on disk or still buffered).
  uint64_t size() const { return flushed_ + buffer_.size(); }
  bool ended() const { return ended_; }  // holds its JobEnded record
  void set_ended(bool ended) { ended_ = ended; }

  // Whole records starting at `offset` (a record boundary), about `max_bytes`
  // of them; at least one record if any lies past `offset`, however large.
  // The view points into the log's buffer (records not yet flushed: no copy)
  // or into `*scratch` (read from disk), and is valid until the next Append,
  // Flush or use of `scratch`.
  Result<std::string_view> Read(uint64_t offset, size_t max_bytes, std::string* scratch) const;

 private:
  EventLog(int fd, uint64_t size, std::string path)
      : fd_(fd), flushed_(size), path_(std::move(path)) {}
  int fd_;
  uint64_t flushed_;
  std::string path_;
  std::string buffer_;
  bool ended_ = false;
};

class Spool {
 public:
  // `dir` is created if missing.
  static Result<std::unique_ptr<Spool>> Create(const std::string& dir);

  // Starts the spool of a new job. Nothing is written yet: its log is
  // created at the first Flush, and its job file by WriteJobFile, which the
  // broker calls once the turn's messages have left (creating a file is
  // the slowest part of taking a job; the journal holds the file meanwhile).
  void OpenJob(JobId job, const JobSpec& spec);
  // Keeps `job_file` beside the job's log, for --resume, --watch of a
  // finished job and snapshots.
  Status WriteJobFile(JobId job, std::string_view job_file);
  // Writes the job file again unless it is there with `job_file`'s size:
  // the broker may have stopped before writing it, and the spool is never
  // synced. Replay calls it with the journal's copy.
  Status RestoreJobFile(JobId job, std::string_view job_file);
  // Reopens the spool of a job from before a restart: its log is appended
  // to, not started over.
  Status ReopenJob(JobId job, const JobSpec& spec);
  Result<std::string> ReadJobFile(JobId job) const;
  // Records one event of an open job.
  Status Record(JobId job, const Event& event);
  Status FlushAll();
  // The job's log, opening it from disk for a job spooled earlier;
  // nullptr if there is none.
  EventLog* Log(JobId job);
  // Closes the job's files (they stay on disk).
  void CloseJob(JobId job);
  // Closes and deletes the job's files: its log, its job file and the
  // captured stdout of steps `captured`. Files already gone are no error;
  // others are logged, not returned (the job is forgotten either way).
  void ForgetJob(JobId job, const std::vector<uint32_t>& captured);

  // Gives step `to_step` of job `to` the captured stdout of step
  // `from_step` of job `from` (a resumed job whose producer succeeded before
  // and will not run again; the indexes differ when the file was edited): a
  // hard link, else a copy. Missing in `from` is no error: the consumer
  // then fails saying the file is missing.
  Status CarryCapture(JobId from, StepIndex from_step, JobId to, StepIndex to_step);
  // The captured stdout of `step` (REQUIRES: some step reads it with
  // stdin_from). Fails past `max_bytes`, naming the size.
  Result<std::string> ReadCapturedStdout(JobId job, StepIndex step, size_t max_bytes);

  const std::string& dir() const { return dir_; }

 private:
  explicit Spool(std::string dir) : dir_(std::move(dir)) {}
  std::string LogPath(JobId job) const;
  std::string JobFilePath(JobId job) const;
  void Track(JobId job, const JobSpec& spec, std::unique_ptr<EventLog> log);
  std::string CapturePath(JobId job, StepIndex step) const;

  struct OpenJobFiles {
    std::unique_ptr<EventLog> log;
    std::vector<bool> captured;  // per step: is its stdout read by stdin_from?
  };
  std::string dir_;
  std::unordered_map<JobId, OpenJobFiles> jobs_;
};

}  // namespace drover::broker
