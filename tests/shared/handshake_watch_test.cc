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

// Polls `watch` until its last attempt is `want`, for up to `ms`.
bool Becomes(HandshakeWatch& watch, ConnectAttempt want, int ms) {
  for (int waited = 0; waited < ms; waited += 10) {
    (void)watch.Poll();
    if (watch.last_attempt() == want) return true;
    usleep(10'000);
  }
  return false;
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

TEST_CASE("the watch tells a connection refused from one made") {
  zmq::context_t ctx(1);
  const std::string endpoint = Endpoint("refused");
  zmq::socket_t socket = NewDealer(ctx, 0);
  HandshakeWatch watch(ctx, socket, false);
  REQUIRE(watch.handle() != nullptr);
  CHECK(watch.last_attempt() == ConnectAttempt::kNone);
  socket.connect(endpoint);  // nothing listens there
  CHECK(Becomes(watch, ConnectAttempt::kRefused, 5000));
  CHECK(ConnectAttemptFailure(watch.last_attempt()) ==
        "connection refused (is the broker running?)");
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind(endpoint);
  CHECK(Becomes(watch, ConnectAttempt::kConnected, 5000));
  CHECK(ConnectAttemptFailure(watch.last_attempt()) == "");
  unlink(endpoint.substr(6).c_str());
}

TEST_CASE("the watch tells a host name that does not resolve") {
  zmq::context_t ctx(1);
  zmq::socket_t socket = NewDealer(ctx, 0);
  HandshakeWatch watch(ctx, socket, false);
  socket.connect("tcp://nohost.invalid:7700");  // .invalid never resolves (RFC 6761)
  CHECK(Becomes(watch, ConnectAttempt::kUnresolved, 10'000));
  CHECK(ConnectAttemptFailure(watch.last_attempt()) == "the host name does not resolve");
}

// Each try to connect is three events; libzmq's send of one blocks while
// the reader's queue is full, and with it its I/O thread.
TEST_CASE("a watch nobody reads for a while does not stall the context") {
  // Leaked if the check fails: a stalled context never terminates.
  auto* ctx = new zmq::context_t(1);
  auto socket = std::make_unique<zmq::socket_t>(NewDealer(*ctx, 0));
  socket->set(zmq::sockopt::reconnect_ivl, 1);  // thousands of tries a second
  auto watch = std::make_unique<HandshakeWatch>(*ctx, *socket, false);
  socket->connect(Endpoint("unread"));  // nothing listens there
  usleep(3'000'000);

  const std::string endpoint = Endpoint("unread-other");
  auto router = std::make_unique<zmq::socket_t>(*ctx, zmq::socket_type::router);
  router->set(zmq::sockopt::linger, 0);
  router->bind(endpoint);
  auto fresh = std::make_unique<zmq::socket_t>(ConnectDealer(*ctx, endpoint, 0));
  REQUIRE(SendMessage(*fresh, Heartbeat{}));
  const bool through = Receives(*router, 5000);
  CHECK(through);
  unlink(endpoint.substr(6).c_str());
  if (!through) {
    (void)socket.release(), (void)watch.release(), (void)fresh.release(), (void)router.release();
    return;
  }
  CHECK(watch->Poll() == "");
  CHECK(watch->last_attempt() == ConnectAttempt::kRefused);
  watch.reset(), socket.reset(), fresh.reset(), router.reset();
  delete ctx;
}

}  // namespace drover
