// HandshakeWatch: why a client's connection to the broker never got through
// ZeroMQ's handshake. A broker that refuses a key (or a client with no key
// for a broker that wants one) looks like plain silence to the socket
// itself; ZeroMQ only tells a monitor (zmq_socket_monitor). Worker and
// submit watch each socket they connect, so that a refusal is reported as
// one within moments instead of as a broker that does not answer.
//
// Not thread-safe; one per connected socket, attached before it connects
// (ConnectDealer in transport.h does that).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <zmq.hpp>

namespace drover {

// The reason a monitor event `event` (ZMQ_EVENT_*) with `value` means the
// handshake failed, for people; "" if it is not a handshake failure.
// `with_keys`: whether this client uses CURVE. Pure.
std::string HandshakeFailure(uint16_t event, uint32_t value, bool with_keys);

class HandshakeWatch {
 public:
  // Connections cut during the handshake, with no reason given, before
  // that counts as a failure (one alone may be a broker restarting).
  static constexpr int kBrokenHandshakes = 3;

  HandshakeWatch() = default;
  HandshakeWatch(const HandshakeWatch&) = delete;
  HandshakeWatch& operator=(const HandshakeWatch&) = delete;

  // Starts watching `socket`, which must not have connected yet; stops
  // watching the one before.
  void Attach(zmq::context_t& ctx, zmq::socket_t& socket, bool with_keys);
  // For zmq_poll (ZMQ_POLLIN); nullptr before Attach.
  void* handle() { return pair_ ? pair_->handle() : nullptr; }

  // Reads the events waiting, without blocking. Returns why the handshake
  // failed once that is clear (a refusal at once; cut connections after
  // kBrokenHandshakes in a row), else "".
  std::string Poll();

 private:
  std::unique_ptr<zmq::socket_t> pair_;
  bool with_keys_ = false;
  int broken_ = 0;  // handshakes cut in a row without a reason
};

}  // namespace drover
