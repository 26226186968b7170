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
// A full disk (broker/core/disk_space.h): the broker tells the spool the
// disk's level, and while it is not roomy each running step's output is
// rationed (OutputRation): past its allowance it is dropped, and the step's
// log gets kOutputNotKeptMarker once, on a line of its own, in its place.
// Its other events are always kept. A captured stdout missing any of its
// output is deleted and counts as lost: the step reading it fails, saying
// so, rather than run on part of its input. A flush that fails leaves the
// log as it was (a partial write is cut off again) and its buffer in
// memory, for the next flush.
//
// Output comes with its offset in the attempt's stream, and the spool keeps
// each byte once: after a broker restart the worker sends again what was
// not yet acknowledged, some of which is already here. What the spool has
// of each running attempt is in memory while it runs, and found again by
// reading the job's log when a restarted broker reopens it (ReopenJob). A
// captured stdout is written at its offsets; a gap (output lost on the
// way) loses it, and so does a
// size other than the one the worker counted (RunResult::stdout_bytes), so
// that no step reads a part of its input as if it were all of it.
//
// Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "broker/core/disk_space.h"
#include "shared/ids.h"
#include "shared/job_spec.h"
#include "shared/protocol.h"
#include "shared/scoped_fd.h"
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
  // Writes what is buffered; `*written` (if given) grows by the bytes that
  // reached the disk.
  Status Flush(uint64_t* written = nullptr);

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
  // to, not started over. Reads the log through, to know what it holds of
  // the attempts still running and how long each captured stdout should be.
  Status ReopenJob(JobId job, const JobSpec& spec);
  Result<std::string> ReadJobFile(JobId job) const;
  // Records one event of an open job (its output as the disk level allows).
  Status Record(JobId job, const Event& event);
  // Flushes every job's log, all of them even if one fails; the first error.
  Status FlushAll();
  // The state disk's level (DiskSpace), which decides what output is kept.
  void set_disk_level(DiskSpace::Level level) { level_ = level; }
  // Bytes written to disk over the spool's life, for the broker's watch on
  // free space.
  uint64_t bytes_written() const { return bytes_written_; }
  // Steps whose output was cut since the last call (for the broker's log).
  uint64_t TakeCuts() { return std::exchange(cuts_, 0); }
  // The job's log, opening it from disk for a job spooled earlier;
  // nullptr if there is none.
  EventLog* Log(JobId job);
  // Closes the job's files (they stay on disk); once what is buffered is
  // written, if that has to wait for space.
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
  // stdin_from). Fails past `max_bytes`, naming the size, if it was lost
  // to a full disk, and if it is not as long as its worker counted.
  Result<std::string> ReadCapturedStdout(JobId job, StepIndex step, size_t max_bytes);
  // The captured stdout of `step`, which succeeded, is `bytes` long, as
  // its worker counted (from a replayed result: the journal has it when
  // the log lost its end). Ignored unless the job is open and some step
  // reads that stdout.
  void NoteCaptureBytes(JobId job, StepIndex step, uint64_t bytes);
  // The size of that captured stdout, with the same checks (lost, not as
  // long as its worker counted); for a stdin streamed from it.
  Result<uint64_t> CaptureSize(JobId job, StepIndex step);
  // Reads `size` bytes at `offset` of that captured stdout into `out`.
  Status ReadCapture(JobId job, StepIndex step, uint64_t offset, size_t size, char* out) const;

  const std::string& dir() const { return dir_; }

 private:
  explicit Spool(std::string dir) : dir_(std::move(dir)) {}
  std::string LogPath(JobId job) const;
  std::string JobFilePath(JobId job) const;
  void Track(JobId job, const JobSpec& spec, std::unique_ptr<EventLog> log);
  std::string CapturePath(JobId job, StepIndex step) const;

  // What the spool tracks of a step's output while the step runs: made at
  // its first output, dropped when it ends, so a job costs nothing per step
  // that is not running.
  struct RunningOutput {
    Attempt attempt;
    OutputRation ration;
    bool open_line[2] = {false, false};  // stdout, stderr: last kept byte not '\n'
    uint64_t end[2] = {0, 0};  // stdout, stderr: offset past the last byte taken
  };
  struct OpenJobFiles {
    std::unique_ptr<EventLog> log;
    std::vector<bool> captured;  // per step: is its stdout read by stdin_from?
    std::unordered_map<uint32_t, RunningOutput> running;  // by step
    // Steps whose capture is gone, and why (what their readers are told).
    std::unordered_map<uint32_t, std::string> captures_lost;
    // Captured steps that ended: the stdout bytes their worker counted.
    std::unordered_map<uint32_t, uint64_t> capture_bytes;
    bool closing = false;  // closed while its last events could not be written
  };
  // Records `out` as its step's ration allows, each byte once.
  Status RecordOutput(JobId job, OpenJobFiles& files, const StepOutput& out);
  // A new attempt of `step`: a fresh ration, and its capture started empty.
  Status StartAttempt(JobId job, OpenJobFiles& files, StepIndex step, Attempt attempt);
  // Writes `data` at `offset` of the step's capture.
  Status Capture(JobId job, OpenJobFiles& files, StepIndex step, std::string_view data,
                 uint64_t offset);
  // Remembers how long a captured step's stdout is, as its worker counted.
  void NoteCaptureBytes(OpenJobFiles& files, const StepEnded& ended);
  // What the log of a reopened job says of its attempts (ReopenJob).
  Status ReadBack(OpenJobFiles& files);
  // Deletes the captured stdout of `step`: some of it was not kept, `why`.
  void LoseCapture(JobId job, OpenJobFiles& files, StepIndex step, std::string why);
  static constexpr const char* kNotKeptFullDisk =
      "its output was not kept: the broker's state disk was full";

  std::string dir_;
  std::unordered_map<JobId, OpenJobFiles> jobs_;
  DiskSpace::Level level_ = DiskSpace::Level::kRoomy;
  uint64_t bytes_written_ = 0;
  uint64_t cuts_ = 0;
};

}  // namespace drover::broker
