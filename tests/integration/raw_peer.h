// RawPeer: a DEALER that speaks to the broker directly, with the shared
// codec, as a worker or a client would, or sends whatever bytes a test
// wants: for tests of the protocol boundary (versions, roles, keys,
// hostile input) that the real programs would never send.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <zmq.hpp>

#include "shared/keys.h"
#include "shared/protocol.h"

namespace drover::testing {

class RawPeer {
 public:
  // With a context of its own, or on `ctx` (many peers, one I/O thread).
  // `keys`: a CURVE client's key pair and the broker's public key; null
  // for none.
  explicit RawPeer(const std::string& endpoint, const ClientKeys* keys = nullptr);
  RawPeer(zmq::context_t& ctx, const std::string& endpoint, const ClientKeys* keys = nullptr);

  void Send(const Message& msg);
  void SendBytes(const std::string& bytes);
  // One message of two frames (which the broker refuses).
  void SendFrames(const std::string& first, const std::string& second);

  // The next message that is not a heartbeat, or nullopt after `within`.
  std::optional<Message> Receive(std::chrono::milliseconds within = std::chrono::seconds(10));
  // The same, failing the test when nothing comes within 10 s.
  Message Expect();
  // Reads and drops whatever has arrived; returns how many messages.
  int Drain();

 private:
  std::unique_ptr<zmq::context_t> own_ctx_;  // before socket_: outlives it
  zmq::socket_t socket_;
};

}  // namespace drover::testing
