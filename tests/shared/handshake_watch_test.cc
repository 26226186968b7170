#include "shared/handshake_watch.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>

#include "shared/transport.h"

namespace drover {
namespace {

// Whether `router` receives a message within `ms`.
bool Receives(zmq::socket_t& router, int ms) {
  zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, std::chrono::milliseconds(ms));
  if (!(item.revents & ZMQ_POLLIN)) return false;
  zmq::message_t part;
  while (router.recv(part, zmq::recv_flags::dontwait) && part.more()) {
  }
  return true;
}

std::string Endpoint(const char* what) {
  return "ipc:///tmp/drover-" + std::string(what) + "-" + std::to_string(getpid());
}

}  // namespace

// libzmq sends monitor events from its I/O thread with a blocking send: had
// the watch closed its end without stopping the monitor, the handshake below
// would block that thread, and no socket of the context would connect again.
TEST_CASE("a socket that outlives its watch keeps handshaking without stalling the context") {
  // Leaked if the check fails: a stalled context never terminates.
  auto* ctx = new zmq::context_t(1);
  auto socket = std::make_unique<zmq::socket_t>(NewDealer(*ctx, 0));
  auto watch = std::make_unique<HandshakeWatch>(*ctx, *socket, false);
  REQUIRE(watch->handle() != nullptr);
  const std::string endpoint = Endpoint("watch");
  socket->connect(endpoint);  // nothing there yet
  watch.reset();

  auto router = std::make_unique<zmq::socket_t>(*ctx, zmq::socket_type::router);
  router->set(zmq::sockopt::linger, 0);
  router->bind(endpoint);  // the socket connects and handshakes now
  REQUIRE(SendMessage(*socket, Heartbeat{}));
  const bool old_one = Receives(*router, 5000);
  auto fresh = std::make_unique<zmq::socket_t>(ConnectDealer(*ctx, endpoint, 0));
  REQUIRE(SendMessage(*fresh, Heartbeat{}));
  const bool new_one = Receives(*router, 5000);
  CHECK(old_one);
  CHECK(new_one);
  unlink(endpoint.substr(6).c_str());
  if (!old_one || !new_one) {
    (void)socket.release(), (void)fresh.release(), (void)router.release();
    return;
  }
  socket.reset(), fresh.reset(), router.reset();
  delete ctx;
}

}  // namespace drover
