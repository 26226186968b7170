// HandshakeWatch: why a client's connection to the broker never got through
// ZeroMQ's handshake, or never got as far. A broker that refuses a key (or a
// client with no key for a broker that wants one) looks like plain silence
// to the socket itself, and so do a port nobody listens on and a host name
// that does not resolve; ZeroMQ only tells a monitor (zmq_socket_monitor).
// Worker and submit watch each socket they connect, so that a refusal is
// reported as one within moments instead of as a broker that does not
// answer, and a broker that does not answer can be told from one that is
// not there (last_attempt()).
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

// How a socket's latest attempt to connect ended.
enum class ConnectAttempt {
  kNone,        // none has ended yet (one may be under way: no answer so far)
  kConnected,   // the connection was made (the handshake is Poll()'s to judge)
  kRefused,     // it failed: nothing listens there (or there is no route to it)
  kUnresolved,  // none could start: the host name does not resolve
};
// For messages: "connection refused (is the broker running?)", "the host
// name does not resolve"; "" for kNone and kConnected.
std::string ConnectAttemptFailure(ConnectAttempt attempt);

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
  // kBrokenHandshakes in a row), else "". Events wait until read (unbounded:
  // while no broker listens ZeroMQ retries, and reports, about ten times a
  // second), so call it whenever handle() is readable.
  std::string Poll();

  // How the latest attempt to connect ended, as of the last Poll(); kNone
  // when blind.
  ConnectAttempt last_attempt() const { return last_attempt_; }

  // Whether a handshake of this client, which has keys, failed in a way a
  // broker that uses none causes, as of the last Poll(): ZeroMQ's mechanism
  // mismatch, or (what a broker without keys does in practice) every
  // connection cut during the handshake, which a wrong broker key or a
  // refused key cause too. A client that found its keys by itself can then
  // say how to go without.
  bool broker_may_lack_keys() const { return broker_may_lack_keys_; }

 private:
  void* watched_ = nullptr;  // the socket's handle, while monitored
  std::unique_ptr<zmq::socket_t> pair_;
  bool with_keys_ = false;
  int broken_ = 0;  // handshakes cut in a row without a reason
  ConnectAttempt last_attempt_ = ConnectAttempt::kNone;
  bool broker_may_lack_keys_ = false;
  // Whether an attempt began or ended since ZeroMQ last said it would retry:
  // a retry without one means it could not even start (no address for the name).
  bool attempted_ = false;
};

}  // namespace drover
