// `submit trace JOB [-o FILE]` (query_commands.h): the job's attempts as a
// Chrome trace (trace_json.h), from the job's event log as it stands, as
// `info` reads it. The file is written only once the log was read, so a
// failed query leaves none behind.

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include "shared/clock.h"
#include "shared/job_history.h"
#include "submitter/exit_codes.h"
#include "submitter/job_reading.h"
#include "submitter/query_commands.h"
#include "submitter/trace_json.h"

namespace drover::submit {
namespace {

// Folds the events into a JobHistory; prints nothing.
class HistoryCollector : public Renderer {
 public:
  explicit HistoryCollector(JobHistory* history) : history_(history) {}
  void Accepted(const JobView&) override {}
  void OnEvent(const JobView&, const Event& event) override { history_->Apply(event); }
  void Refresh(const JobView&, int64_t, std::optional<int64_t>) override {}
  void Notice(const std::string& text) override { fprintf(stderr, "submit: %s\n", text.c_str()); }
  void Finished(const JobView&, std::optional<int64_t>) override {}

 private:
  JobHistory* history_;
};

// Writes `text` to `path` ("": stdout); false after saying why not.
bool WriteOut(const std::string& path, const std::string& text) {
  FILE* out = path.empty() ? stdout : fopen(path.c_str(), "w");
  if (out == nullptr) {
    fprintf(stderr, "submit: cannot write %s: %s\n", path.c_str(), strerror(errno));
    return false;
  }
  const bool written = fwrite(text.data(), 1, text.size(), out) == text.size();
  const int write_errno = errno;
  const bool closed = path.empty() ? fflush(out) == 0 : fclose(out) == 0;
  if (!written || !closed) {
    fprintf(stderr, "submit: cannot write %s: %s\n", path.empty() ? "the trace" : path.c_str(),
            strerror(written ? errno : write_errno));
    return false;
  }
  return true;
}

}  // namespace

int RunTrace(Session& session, SignalFd& signals, const TraceQuery& query,
             const QueryTiming& timing) {
  int code = 0;
  std::optional<JobAccepted> accepted =
      WatchForReading(session, query.job, 0, /*follow=*/false, timing, &code);
  if (!accepted) return code;
  JobHistory history(accepted->step_ids.size());
  HistoryCollector collector(&history);
  uint64_t consumed = 0;
  code = ReadEvents(session, signals, *accepted, collector, 0, false, timing, &consumed);
  if (code != 0) return code;
  const TraceSubject subject{accepted->job.value, accepted->name, accepted->step_ids};
  const std::string text = TraceText(TraceJson(history, subject, WallMs()));
  return WriteOut(query.output, text) ? ToInt(ExitCode::kOk) : ToInt(ExitCode::kUsage);
}

}  // namespace drover::submit
