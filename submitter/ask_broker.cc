// AskBroker (query_commands.h): one question, one answer.

#include "submitter/exit_codes.h"
#include "submitter/query_commands.h"

namespace drover::submit {

std::optional<Message> AskBroker(Session& session, const Message& request, int64_t timeout_ms,
                                 int* code) {
  session.Send(request);
  Result<Message> reply = session.Receive(timeout_ms);
  if (!reply.ok()) {
    fprintf(stderr, "submit: %s\n", reply.status().message().c_str());
    *code = ToInt(ExitCode::kBrokerUnreachable);
    return std::nullopt;
  }
  if (const auto* error = std::get_if<ErrorReply>(&reply.value())) {
    fprintf(stderr, "submit: %s\n", error->message.c_str());
    const bool users = error->code == ErrorCode::kUnknownJob ||
                       error->code == ErrorCode::kForbidden ||
                       error->code == ErrorCode::kMalformed ||
                       error->code == ErrorCode::kUnknownWorker ||
                       error->code == ErrorCode::kUnknownQueue;
    *code = ToInt(users ? ExitCode::kUsage : ExitCode::kBrokerUnreachable);
    return std::nullopt;
  }
  return std::move(reply).value();
}

}  // namespace drover::submit
