// Session: `submit`'s connection to a broker: one DEALER socket, the hello
// handshake, waiting for replies with a deadline, and starting over on a
// fresh connection when the broker went away (restarted, or the link broke).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <zmq.hpp>

#include "shared/protocol.h"
#include "shared/status.h"

namespace drover::submit {

class Session {
 public:
  Session(zmq::context_t* ctx, std::string endpoint);

  // Says hello and waits up to `timeout_ms` for Welcome. The error says
  // whether the broker did not answer or refused (e.g. protocol mismatch).
  // `refused` is set when it answered with a refusal.
  Status Connect(int64_t timeout_ms, bool* refused);
  // Drops the connection (and whatever it still held) and connects afresh.
  Status Reconnect(int64_t timeout_ms, bool* refused);

  bool Send(const Message& msg);
  // The next message other than a heartbeat, waiting up to `timeout_ms`.
  // An error if none came in time or it could not be decoded.
  Result<Message> Receive(int64_t timeout_ms);

  zmq::socket_t& socket() { return *socket_; }
  const std::string& endpoint() const { return endpoint_; }
  uint32_t heartbeat_ms() const { return heartbeat_ms_; }
  uint32_t liveness() const { return liveness_; }

 private:
  zmq::context_t* ctx_;
  std::string endpoint_;
  std::unique_ptr<zmq::socket_t> socket_;
  uint32_t heartbeat_ms_ = kHeartbeatMs;
  uint32_t liveness_ = kHeartbeatLiveness;
};

}  // namespace drover::submit
