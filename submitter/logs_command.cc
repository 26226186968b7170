// `submit logs JOB [STEP...]` (query_commands.h): steps' output from the
// job's event log on the broker. Read in two parts: the log as it stands
// (for --tail, the last lines of that), then with --follow what comes
// after, live, until the job ends.

#include <algorithm>
#include <string_view>

#include "shared/spellcheck.h"
#include "submitter/exit_codes.h"
#include "submitter/job_reading.h"
#include "submitter/query_commands.h"

namespace drover::submit {

int RunLogs(Session& session, SignalFd& signals, const LogsQuery& query,
            const QueryTiming& timing) {
  int code = 0;
  std::optional<JobAccepted> accepted =
      WatchForReading(session, query.job, 0, /*follow=*/false, timing, &code);
  if (!accepted) return code;
  for (const std::string& step : query.show.steps) {
    const auto& ids = accepted->step_ids;
    if (std::find(ids.begin(), ids.end(), step) != ids.end()) continue;
    std::vector<std::string_view> names(ids.begin(), ids.end());
    std::string hint;
    if (auto close = SpellcheckString(step, names)) {
      hint = "; did you mean \"" + std::string(*close) + "\"?";
    }
    fprintf(stderr, "submit: job %llu has no step \"%s\"%s (submit info %llu lists them)\n",
            static_cast<unsigned long long>(query.job), step.c_str(), hint.c_str(),
            static_cast<unsigned long long>(query.job));
    return ToInt(ExitCode::kUsage);
  }
  LogsRenderer logs(stdout, query.show);
  uint64_t consumed = 0;
  code = ReadEvents(session, signals, *accepted, logs, 0, false, timing, &consumed);
  if (code != 0 || !query.follow || logs.job_ended()) {
    logs.Flush();
    return code;
  }
  // What was there is out; from here on, lines as they come.
  logs.Release();
  accepted = WatchForReading(session, query.job, consumed, /*follow=*/true, timing, &code);
  if (!accepted) return code;
  code = ReadEvents(session, signals, *accepted, logs, consumed, true, timing, &consumed);
  logs.Flush();
  return code;
}

}  // namespace drover::submit
