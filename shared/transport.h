// ZeroMQ plumbing shared by the three programs: socket options and sending
// one protocol message. Flow control is the protocol's job (protocol.h), so
// high-water marks are off: ZeroMQ must never drop or block a message of ours.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <zmq.hpp>

#include "shared/keys.h"
#include "shared/protocol.h"

namespace drover {

// The largest message a worker or `submit` takes from the broker unless told
// otherwise: above any Dispatch (one step's stdin, 64 MiB by default, and
// command line; the broker splits larger batches) and any reply to a job
// file within the broker's limits.
inline constexpr int64_t kDefaultMaxMessageBytes = 256 << 20;

// A DEALER with Drover's options, not yet connected. Unsent messages are
// dropped at close after `linger_ms`. With `keys`, a CURVE client. A peer
// that sends a message larger than `max_message_bytes` is disconnected by
// ZeroMQ (ZMQ_MAXMSGSIZE): its frame is never buffered whole.
zmq::socket_t NewDealer(zmq::context_t& ctx, int linger_ms, const ClientKeys* keys = nullptr,
                        int64_t max_message_bytes = kDefaultMaxMessageBytes);
// NewDealer, connected to `endpoint`. Worker and submit use ClientSocket
// (client_socket.h), which also watches the handshakes.
zmq::socket_t ConnectDealer(zmq::context_t& ctx, const std::string& endpoint, int linger_ms,
                            const ClientKeys* keys = nullptr,
                            int64_t max_message_bytes = kDefaultMaxMessageBytes);

// Sends one message as one frame (DEALER side). Returns false if ZeroMQ refused.
bool SendMessage(zmq::socket_t& socket, const Message& msg);
// The same for bytes already encoded (codec.h); large ones are handed to
// ZeroMQ without a copy.
bool SendEncoded(zmq::socket_t& socket, std::string bytes);
// The same without giving the bytes up: the caller keeps them (to send again
// should the connection break) and ZeroMQ shares them, uncopied.
bool SendShared(zmq::socket_t& socket, std::shared_ptr<const std::string> bytes);

// Sends one message to the peer with routing id `route` (ROUTER side).
// Returns false if the peer is unknown to ZeroMQ (gone) or ZeroMQ refused.
bool SendRouted(zmq::socket_t& router, std::string_view route, const Message& msg);
bool SendRoutedEncoded(zmq::socket_t& router, std::string_view route, std::string bytes);

enum class Received {
  kNothing,   // no message was waiting
  kFrame,     // `frame` holds the message
  kMalformed,  // not one frame (ours always are); it was drained
};
// Receives one message without blocking. `route` receives the routing id on
// a ROUTER (pass nullptr on a DEALER).
Received ReceiveFrame(zmq::socket_t& socket, std::string* route, zmq::message_t* frame);

}  // namespace drover
