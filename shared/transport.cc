#include "shared/transport.h"

#include "shared/codec.h"

namespace drover {

zmq::socket_t NewDealer(zmq::context_t& ctx, int linger_ms, const ClientKeys* keys,
                        int64_t max_message_bytes) {
  zmq::socket_t socket(ctx, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::maxmsgsize, max_message_bytes);
  socket.set(zmq::sockopt::sndhwm, 0);
  socket.set(zmq::sockopt::rcvhwm, 0);
  socket.set(zmq::sockopt::linger, linger_ms);
  if (keys != nullptr) {
    socket.set(zmq::sockopt::curve_serverkey, keys->server_key);
    socket.set(zmq::sockopt::curve_publickey, keys->public_key);
    socket.set(zmq::sockopt::curve_secretkey, keys->secret_key);
  }
  return socket;
}

zmq::socket_t ConnectDealer(zmq::context_t& ctx, const std::string& endpoint, int linger_ms,
                            const ClientKeys* keys, int64_t max_message_bytes) {
  zmq::socket_t socket = NewDealer(ctx, linger_ms, keys, max_message_bytes);
  socket.connect(endpoint);
  return socket;
}

namespace {

// Below this a copy is cheaper than handing ownership to ZeroMQ's I/O thread.
constexpr size_t kZeroCopyBytes = 16 << 10;

zmq::message_t ToFrame(std::string bytes) {
  if (bytes.size() < kZeroCopyBytes) return zmq::message_t(bytes.data(), bytes.size());
  auto* owned = new std::string(std::move(bytes));
  return zmq::message_t(
      owned->data(), owned->size(),
      [](void*, void* hint) { delete static_cast<std::string*>(hint); }, owned);
}

}  // namespace

bool SendEncoded(zmq::socket_t& socket, std::string bytes) {
  try {
    return socket.send(ToFrame(std::move(bytes)), zmq::send_flags::dontwait).has_value();
  } catch (const zmq::error_t&) {
    return false;
  }
}

bool SendShared(zmq::socket_t& socket, std::shared_ptr<const std::string> bytes) {
  try {
    if (bytes->size() < kZeroCopyBytes) {
      return socket.send(zmq::buffer(bytes->data(), bytes->size()), zmq::send_flags::dontwait)
          .has_value();
    }
    using Shared = std::shared_ptr<const std::string>;
    auto* owner = new Shared(std::move(bytes));
    zmq::message_t frame(
        const_cast<char*>((*owner)->data()), (*owner)->size(),
        [](void*, void* hint) { delete static_cast<Shared*>(hint); }, owner);
    return socket.send(std::move(frame), zmq::send_flags::dontwait).has_value();
  } catch (const zmq::error_t&) {
    return false;
  }
}

bool SendMessage(zmq::socket_t& socket, const Message& msg) {
  return SendEncoded(socket, EncodeMessage(msg));
}

bool SendRoutedEncoded(zmq::socket_t& router, std::string_view route, std::string bytes) {
  try {
    if (!router.send(zmq::buffer(route.data(), route.size()),
                     zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      return false;
    }
    return router.send(ToFrame(std::move(bytes)), zmq::send_flags::dontwait).has_value();
  } catch (const zmq::error_t&) {
    return false;  // EHOSTUNREACH with ZMQ_ROUTER_MANDATORY: the peer is gone
  }
}

bool SendRouted(zmq::socket_t& router, std::string_view route, const Message& msg) {
  return SendRoutedEncoded(router, route, EncodeMessage(msg));
}

Received ReceiveFrame(zmq::socket_t& socket, std::string* route, zmq::message_t* frame) {
  zmq::message_t first;
  if (!socket.recv(first, zmq::recv_flags::dontwait)) return Received::kNothing;
  if (route != nullptr) {
    route->assign(static_cast<const char*>(first.data()), first.size());
    // ZeroMQ delivers whole messages, so the body is already here.
    if (!first.more() || !socket.recv(*frame, zmq::recv_flags::dontwait)) {
      return Received::kMalformed;
    }
  } else {
    *frame = std::move(first);
  }
  if (!frame->more()) return Received::kFrame;
  for (bool more = true; more;) {
    zmq::message_t rest;
    if (!socket.recv(rest, zmq::recv_flags::dontwait)) break;
    more = rest.more();
  }
  return Received::kMalformed;
}

}  // namespace drover
