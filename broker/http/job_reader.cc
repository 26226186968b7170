// JobReader (job_reader.h).

#include "broker/http/job_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "broker/http/api_json.h"
#include "shared/codec.h"
#include "shared/file_io.h"
#include "shared/job_load.h"
#include "shared/scoped_fd.h"

namespace drover::broker::http {
namespace {

constexpr size_t kReadBytes = 1 << 20;

std::string PathOf(const std::string& dir, JobId id, const char* suffix) {
  return dir + "/" + std::to_string(id.value) + suffix;
}

}  // namespace

Result<JobReader::Entry*> JobReader::Find(const std::string& spool_dir, JobId id) {
  for (auto it = lru_.begin(); it != lru_.end(); ++it) {
    if (it->id == id) {
      lru_.splice(lru_.begin(), lru_, it);
      return &lru_.front();
    }
  }
  const std::string path = PathOf(spool_dir, id, ".job");
  Result<std::string> file = ReadWholeFile(path);
  if (!file.ok()) return file.status();
  LoadedJob loaded = LoadJob(file.value(), JobLimits::Unlimited());
  if (!loaded.spec) return Status::Error(path + ": not a job file the broker can read");
  // Kept for as long as the job is looked at: only what the page shows.
  for (StepSpec& step : loaded.spec->steps) {
    step.argv = {};
    step.env = {};
    step.stdin_data.reset();
  }
  const size_t steps = loaded.spec->steps.size();
  lru_.push_front(Entry{id, std::move(*loaded.spec), JobHistory(steps), 0});
  if (lru_.size() > keep_) lru_.pop_back();
  return &lru_.front();
}

Status JobReader::CatchUp(const std::string& spool_dir, Entry* entry) {
  const std::string path = PathOf(spool_dir, entry->id, ".events");
  ScopedFd f(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  // Created at the spool's first flush after the job's first event.
  if (!f.valid() && errno == ENOENT) return Status::Ok();
  if (!f.valid()) return ErrnoStatus("open " + path, errno);
  std::string buf;
  for (;;) {
    const size_t kept = buf.size();  // a record cut by the last read
    buf.resize(kept + kReadBytes);
    const ssize_t n =
        pread(f.get(), buf.data() + kept, kReadBytes, static_cast<off_t>(entry->offset + kept));
    if (n < 0 && errno == EINTR) {
      buf.resize(kept);
      continue;
    }
    if (n < 0) return ErrnoStatus("read " + path, errno);
    buf.resize(kept + static_cast<size_t>(n));
    const size_t whole = WholeRecordsPrefix(buf);
    if (whole > 0) {
      Result<std::vector<Event>> events =
          DecodeEventRecords(std::string_view(buf).substr(0, whole));
      if (!events.ok()) return Status::Error(path + ": " + events.status().message());
      for (const Event& e : events.value()) entry->history.Apply(e);
      entry->offset += whole;
      buf.erase(0, whole);
    }
    // The end of what is there; a partial record waits for the next read.
    if (n == 0) return Status::Ok();
  }
}

Result<nlohmann::json> JobReader::Read(const std::string& spool_dir, const JobStatus& status,
                                       int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  Result<Entry*> found = Find(spool_dir, status.id);
  if (!found.ok()) return found.status();
  Entry* entry = found.value();
  if (Status s = CatchUp(spool_dir, entry); !s.ok()) return s;
  const std::vector<WorkerLanes> lanes = entry->history.AssignLanes(now_ms);
  return JobJson(status, entry->spec, entry->history, lanes, now_ms);
}

}  // namespace drover::broker::http
