#include "tests/integration/raw_peer.h"

#include <doctest/doctest.h>

#include "shared/codec.h"
#include "shared/transport.h"

namespace drover::testing {

RawPeer::RawPeer(const std::string& endpoint, const ClientKeys* keys)
    : own_ctx_(std::make_unique<zmq::context_t>(1)),
      socket_(ConnectDealer(*own_ctx_, endpoint, 0, keys)) {}

RawPeer::RawPeer(zmq::context_t& ctx, const std::string& endpoint, const ClientKeys* keys)
    : socket_(ConnectDealer(ctx, endpoint, 0, keys)) {}

void RawPeer::Send(const Message& msg) { SendBytes(EncodeMessage(msg)); }

void RawPeer::SendBytes(const std::string& bytes) { socket_.send(zmq::buffer(bytes)); }

void RawPeer::SendFrames(const std::string& first, const std::string& second) {
  socket_.send(zmq::buffer(first), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(second));
}

std::optional<Message> RawPeer::Receive(std::chrono::milliseconds within) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, left) == 0) return std::nullopt;
    zmq::message_t frame;
    if (!socket_.recv(frame, zmq::recv_flags::dontwait)) continue;
    Result<Message> msg = DecodeMessage(std::string_view(frame.data<char>(), frame.size()));
    REQUIRE_MESSAGE(msg.ok(), msg.status().message());
    if (!std::holds_alternative<Heartbeat>(msg.value())) return msg.value();
  }
}

Message RawPeer::Expect() {
  std::optional<Message> msg = Receive(std::chrono::seconds(10));
  REQUIRE_MESSAGE(msg.has_value(), "no answer from the broker in 10 s");
  return *msg;
}

int RawPeer::Drain() {
  int n = 0;
  zmq::message_t frame;
  while (socket_.recv(frame, zmq::recv_flags::dontwait)) ++n;
  return n;
}

}  // namespace drover::testing
