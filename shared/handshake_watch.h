// HandshakeWatch: why a client's connection to the broker never got through
// ZeroMQ's handshake. A broker that refuses a key (or a client with no key
// for a broker that wants one) looks like plain silence to the socket
// itself; ZeroMQ only tells a monitor (zmq_socket_monitor). Worker and
// submit watch each socket they connect, so that a refusal is reported as
// one within moments instead of as a broker that does not answer.
//
// Not thread-safe; one per connected socket, made before it connects, and
// destroyed before it closes (ClientSocket in client_socket.h holds the two
// in that order; it says why).
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

  // Starts watching `socket`, which must not have connected yet. If ZeroMQ
  // cannot monitor it, the watch stays blind (handle() is nullptr) and a
  // refusal shows as a broker that does not answer.
  HandshakeWatch(zmq::context_t& ctx, zmq::socket_t& socket, bool with_keys);
  // Stops the monitor on the socket, which must still be open, then closes
  // the reading end.
  ~HandshakeWatch();
  HandshakeWatch(const HandshakeWatch&) = delete;
  HandshakeWatch& operator=(const HandshakeWatch&) = delete;

  // For zmq_poll (ZMQ_POLLIN); nullptr when blind.
  void* handle() { return pair_ ? pair_->handle() : nullptr; }

  // Reads the events waiting, without blocking. Returns why the handshake
  // failed once that is clear (a refusal at once; cut connections after
  // kBrokenHandshakes in a row), else "".
  std::string Poll();

 private:
  void* watched_ = nullptr;  // the socket's handle, while monitored
  std::unique_ptr<zmq::socket_t> pair_;
  bool with_keys_ = false;
  int broken_ = 0;  // handshakes cut in a row without a reason
};

}  // namespace drover
