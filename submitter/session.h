// Session: `submit`'s connection to a broker: one DEALER socket, the hello
// handshake, waiting for replies with a deadline, and starting over on a
// fresh connection when the broker went away (restarted, or the link broke).
// With keys, a CURVE client; every connection is watched (ClientSocket) so
// that a broker refusing this client's key says so at once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <zmq.hpp>

#include "shared/client_socket.h"
#include "shared/keys.h"
#include "shared/protocol.h"
#include "shared/status.h"

namespace drover::submit {

class Session {
 public:
  Session(zmq::context_t* ctx, std::string endpoint, std::optional<ClientKeys> keys = {});

  // Says hello and waits up to `timeout_ms` for Welcome. The error says
  // whether the broker refused (e.g. protocol mismatch, or this client's
  // key), or why it could not be reached: the host name does not resolve
  // (said at once: the name is looked up first, which blocks for as long as
  // the resolver takes), the connection was refused, or no answer came.
  // `refused` is set when the broker answered with a refusal.
  Status Connect(int64_t timeout_ms, bool* refused);
  // Drops the connection (and whatever it still held) and connects afresh;
  // errors as Connect's, but without looking the name up first.
  Status Reconnect(int64_t timeout_ms, bool* refused);

  bool Send(const Message& msg);
  // The next message other than a heartbeat, waiting up to `timeout_ms`.
  // An error if none came in time, it could not be decoded, or the
  // handshake was refused (then refused() is true).
  Result<Message> Receive(int64_t timeout_ms);

  // Whether the broker refused this client's handshake (its key).
  bool refused() const { return refused_; }
  // Whether the handshake failed as it does when this client has keys and
  // the broker uses none (HandshakeWatch::broker_may_lack_keys).
  bool broker_may_lack_keys() { return socket_->watch().broker_may_lack_keys(); }
  zmq::socket_t& socket() { return socket_->socket(); }
  const std::string& endpoint() const { return endpoint_; }
  uint32_t heartbeat_ms() const { return heartbeat_ms_; }
  uint32_t liveness() const { return liveness_; }

 private:
  // Says hello on the socket there is, and waits for Welcome (Connect).
  Status Hello(int64_t timeout_ms, bool* refused);

  zmq::context_t* ctx_;
  std::string endpoint_;
  std::optional<ClientKeys> keys_;
  std::unique_ptr<ClientSocket> socket_;
  bool refused_ = false;
  uint32_t heartbeat_ms_ = kHeartbeatMs;
  uint32_t liveness_ = kHeartbeatLiveness;
};

}  // namespace drover::submit
