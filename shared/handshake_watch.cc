#include "shared/handshake_watch.h"

#include <zmq.h>

#include <atomic>
#include <cstdio>
#include <cstring>

namespace drover {

std::string HandshakeFailure(uint16_t event, uint32_t value, bool with_keys) {
  switch (event) {
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
      return "the broker refused this key (it is on none of the broker's allow-lists; "
             "docs/security.md)";
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
      if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
        return with_keys ? "the broker does not use keys (it runs without --key-dir), but this "
                           "client has one; leave out --key and --broker-key"
                         : "the broker uses keys: give this client --key and --broker-key "
                           "(docs/security.md)";
      }
      if (value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC) {
        return "the key handshake failed: is --broker-key the broker's public key (its "
               "broker.pub)?";
      }
      {
        char code[16];
        snprintf(code, sizeof code, "0x%08x", value);
        return std::string("the handshake with the broker failed (ZeroMQ protocol error ") + code +
               ")";
      }
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
      // The broker closes at once when it cannot decrypt our hello (the
      // wrong --broker-key), and when it refuses us its reason may be lost
      // in the race with the close: say what it may be.
      return with_keys ? "the broker cut every connection during the key handshake: either it "
                         "refused this key, or --broker-key is not the broker's public key (its "
                         "broker.pub)"
                       : std::string("the broker cut every connection during the handshake (") +
                             strerror(static_cast<int>(value)) +
                             "): if it uses keys, give this client --key and --broker-key "
                             "(docs/security.md)";
    default:
      return "";
  }
}

std::string ConnectAttemptFailure(ConnectAttempt attempt) {
  switch (attempt) {
    case ConnectAttempt::kRefused:
      return "connection refused (is the broker running?)";
    case ConnectAttempt::kUnresolved:
      return "the host name does not resolve";
    case ConnectAttempt::kNone:
    case ConnectAttempt::kConnected:
      break;
  }
  return "";
}

HandshakeWatch::HandshakeWatch(zmq::context_t& ctx, zmq::socket_t& socket, bool with_keys)
    : with_keys_(with_keys) {
  static std::atomic<uint64_t> next{0};
  const std::string endpoint = "inproc://drover-handshake-" + std::to_string(next++);
  const int events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                     ZMQ_EVENT_CONNECT_DELAYED | ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CLOSED |
                     ZMQ_EVENT_CONNECT_RETRIED;
  if (zmq_socket_monitor(socket.handle(), endpoint.c_str(), events) != 0) return;
  watched_ = socket.handle();
  try {
    pair_ = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::pair);
    pair_->set(zmq::sockopt::linger, 0);
    // No limit on events waiting: libzmq's send of one is blocking, and a
    // full queue would stall its I/O thread as a missing reader does
    // (client_socket.h). A socket retrying a broker that is down reports
    // some thirty events a second until the client gives up on it.
    pair_->set(zmq::sockopt::rcvhwm, 0);
    pair_->connect(endpoint);
  } catch (const zmq::error_t&) {
    // Blind, then; and no reader may ever be missing (see the destructor).
    zmq_socket_monitor(watched_, nullptr, 0);
    watched_ = nullptr;
    pair_.reset();
  }
}

HandshakeWatch::~HandshakeWatch() {
  // First, so that no event is ever sent to a reader that is gone: libzmq
  // would block its I/O thread on it (client_socket.h).
  if (watched_ != nullptr) zmq_socket_monitor(watched_, nullptr, 0);
}

std::string HandshakeWatch::Poll() {
  if (!pair_) return "";
  std::string failure;
  for (;;) {
    // An event: [uint16 event, uint32 value] then the endpoint.
    zmq::message_t head, address;
    try {
      if (!pair_->recv(head, zmq::recv_flags::dontwait)) break;
      if (head.more()) (void)pair_->recv(address, zmq::recv_flags::dontwait);
    } catch (const zmq::error_t&) {
      break;
    }
    if (head.size() < 6) continue;
    uint16_t event = 0;
    uint32_t value = 0;
    memcpy(&event, head.data(), 2);
    memcpy(&value, static_cast<const char*>(head.data()) + 2, 4);
    // An attempt to connect: under way (DELAYED), made, or failed (CLOSED:
    // the connecter closes its socket); then a retry is planned. ZeroMQ
    // plans one without any attempt when the name has no address.
    switch (event) {
      case ZMQ_EVENT_CONNECT_DELAYED:
        attempted_ = true;
        continue;
      case ZMQ_EVENT_CONNECTED:
        attempted_ = true;
        last_attempt_ = ConnectAttempt::kConnected;
        continue;
      case ZMQ_EVENT_CLOSED:
        attempted_ = true;
        last_attempt_ = ConnectAttempt::kRefused;
        continue;
      case ZMQ_EVENT_CONNECT_RETRIED:
        if (!attempted_) last_attempt_ = ConnectAttempt::kUnresolved;
        attempted_ = false;
        continue;
      default:
        break;
    }
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      broken_ = 0;
      failure.clear();
      continue;
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL && ++broken_ < kBrokenHandshakes) continue;
    if (with_keys_ && (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL ||
                       (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
                        value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH))) {
      broker_may_lack_keys_ = true;
    }
    if (std::string why = HandshakeFailure(event, value, with_keys_); !why.empty()) failure = why;
  }
  return failure;
}

}  // namespace drover
