#include "submitter/session.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "shared/clock.h"
#include "shared/codec.h"
#include "shared/durations.h"
#include "shared/endpoint.h"
#include "shared/transport.h"

namespace drover::submit {
namespace {

std::string UserAtHost() {
  // The account, not $USER: a broker without keys records it as the owner
  // of what this client submits (unverified: it is this client's word).
  std::string user = "?";
  if (const passwd* pw = getpwuid(geteuid()); pw != nullptr && pw->pw_name != nullptr) {
    user = pw->pw_name;
  } else if (const char* env = std::getenv("USER"); env != nullptr && *env != '\0') {
    user = env;
  }
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return user + "@" + host;
}

// "5s", "2m", "0.5s": --connect-timeout may be a fraction of a second.
std::string Seconds(int64_t ms) {
  if (ms % 1000 == 0) return ShortDuration(ms);
  char text[32];
  snprintf(text, sizeof text, "%gs", static_cast<double>(ms) / 1000);
  return text;
}

}  // namespace

Session::Session(zmq::context_t* ctx, std::string endpoint, std::optional<ClientKeys> keys)
    : ctx_(ctx), endpoint_(std::move(endpoint)), keys_(std::move(keys)) {
  socket_ = std::make_unique<ClientSocket>(*ctx_, endpoint_, 200, keys_ ? &*keys_ : nullptr);
}

bool Session::Send(const Message& msg) { return SendMessage(socket_->socket(), msg); }

Result<Message> Session::Receive(int64_t timeout_ms) {
  const int64_t deadline = MonotonicMs() + timeout_ms;
  for (;;) {
    HandshakeWatch& watch = socket_->watch();
    zmq::pollitem_t items[] = {{socket_->socket().handle(), 0, ZMQ_POLLIN, 0},
                               {watch.handle(), 0, ZMQ_POLLIN, 0}};
    const int64_t left = deadline - MonotonicMs();
    if (left <= 0) return Status::Error("no answer from the broker at " + endpoint_);
    zmq::poll(items, watch.handle() ? 2 : 1, std::chrono::milliseconds(left));
    if (std::string why = watch.Poll(); !why.empty()) {
      refused_ = true;
      return Status::Error("cannot connect to the broker at " + endpoint_ + ": " + why);
    }
    zmq::message_t frame;
    const Received received = ReceiveFrame(socket_->socket(), nullptr, &frame);
    if (received == Received::kNothing) continue;
    if (received == Received::kMalformed) return Status::Error("malformed reply from the broker");
    Result<Message> msg =
        DecodeMessage(std::string_view(static_cast<const char*>(frame.data()), frame.size()));
    if (!msg.ok()) return Status::Error("malformed reply from the broker: " + msg.status().message());
    if (std::holds_alternative<Heartbeat>(msg.value())) continue;
    return msg;
  }
}

Status Session::Reconnect(int64_t timeout_ms, bool* refused) {
  socket_.reset();  // the old one first: one connection at a time
  socket_ = std::make_unique<ClientSocket>(*ctx_, endpoint_, 200, keys_ ? &*keys_ : nullptr);
  return Hello(timeout_ms, refused);
}

Status Session::Connect(int64_t timeout_ms, bool* refused) {
  // At once, rather than as silence at the end of the wait.
  if (std::string why = HostLookupProblem(endpoint_); !why.empty()) {
    *refused = refused_ = false;
    return Status::Error("cannot reach the broker at " + endpoint_ + ": " + why);
  }
  return Hello(timeout_ms, refused);
}

Status Session::Hello(int64_t timeout_ms, bool* refused) {
  *refused = refused_ = false;
  Send(ClientHello{kProtocolVersion, UserAtHost()});
  Result<Message> reply = Receive(timeout_ms);
  if (!reply.ok() && refused_) {
    *refused = true;
    return reply.status();
  }
  if (!reply.ok()) {
    std::string why = ConnectAttemptFailure(socket_->watch().last_attempt());
    if (why.empty()) why = "no answer after " + Seconds(timeout_ms);
    return Status::Error("cannot reach the broker at " + endpoint_ + ": " + why);
  }
  if (const auto* welcome = std::get_if<Welcome>(&reply.value())) {
    heartbeat_ms_ = std::max<uint32_t>(welcome->heartbeat_ms, 10);
    liveness_ = std::max<uint32_t>(welcome->liveness, 2);
    return Status::Ok();
  }
  *refused = true;
  if (const auto* error = std::get_if<ErrorReply>(&reply.value())) {
    return Status::Error("the broker at " + endpoint_ + " refused: " + error->message);
  }
  return Status::Error("the broker at " + endpoint_ + " answered the hello with something else");
}

}  // namespace drover::submit
