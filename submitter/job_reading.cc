#include "submitter/job_reading.h"

#include "submitter/exit_codes.h"
#include "submitter/follow.h"

namespace drover::submit {

std::optional<JobAccepted> WatchForReading(Session& session, uint64_t job, uint64_t offset,
                                           bool follow, const QueryTiming& timing, int* code) {
  std::optional<Message> reply =
      AskBroker(session, WatchJob{JobId(job), offset, follow}, timing.answer_ms, code);
  if (!reply) return std::nullopt;
  if (auto* accepted = std::get_if<JobAccepted>(&*reply)) return std::move(*accepted);
  fprintf(stderr, "submit: unexpected reply from the broker\n");
  *code = ToInt(ExitCode::kBrokerUnreachable);
  return std::nullopt;
}

int ReadEvents(Session& session, SignalFd& signals, const JobAccepted& accepted,
               Renderer& renderer, uint64_t offset, bool follow, const QueryTiming& timing,
               uint64_t* consumed) {
  FollowOptions options;
  options.submitted = false;  // only looking: Ctrl-C leaves the job alone
  options.reconnect_ms = timing.reconnect_ms;
  options.offset = offset;
  options.until_last = !follow;
  options.consumed = consumed;
  const ExitCode code = Follow(session, accepted, renderer, signals, nullptr, options);
  // A job that failed was still read to its end.
  return ToInt(code == ExitCode::kStepsFailed ? ExitCode::kOk : code);
}

}  // namespace drover::submit
