// ClientSocket: a worker's or submit's DEALER connected to the broker, with
// its handshakes watched (HandshakeWatch) from before it connects, so that a
// broker refusing the client's key says so at once.
//
// It exists for one invariant: the monitor on the socket stops before the
// watch's reading end closes. libzmq sends monitor events from its I/O
// thread with a blocking send, so one event for a reader that is gone (say
// a handshake with a restarted broker, racing the close) blocks that thread
// for good, and with it every socket of the context: the client's next
// connection is never made (libzmq issue 3575). Destroying a ClientSocket
// stops the monitor, then closes the watch, then the socket; replace one
// by destroying it and making another.
#pragma once

#include <cstdint>
#include <string>
#include <zmq.hpp>

#include "shared/handshake_watch.h"
#include "shared/keys.h"
#include "shared/transport.h"

namespace drover {

class ClientSocket {
 public:
  // Connects to `endpoint` as ConnectDealer does (transport.h), watched.
  ClientSocket(zmq::context_t& ctx, const std::string& endpoint, int linger_ms,
               const ClientKeys* keys, int64_t max_message_bytes = kDefaultMaxMessageBytes);
  ClientSocket(const ClientSocket&) = delete;
  ClientSocket& operator=(const ClientSocket&) = delete;

  zmq::socket_t& socket() { return socket_; }
  HandshakeWatch& watch() { return watch_; }

 private:
  zmq::socket_t socket_;
  HandshakeWatch watch_;  // declared after socket_: destroyed before it
};

}  // namespace drover
