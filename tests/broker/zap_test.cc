// The broker's CURVE server fails closed: without its ZAP handler nobody
// gets in; with it, exactly the listed keys do. Real sockets, in-process.

#include "broker/zap.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <zmq.hpp>

#include "shared/keys.h"
#include "shared/transport.h"

namespace drover::broker {
namespace {

// Not inproc://, which skips ZeroMQ's handshake (and so CURVE) altogether.
std::string Endpoint(int n) {
  return "ipc:///tmp/drover-zap-test-" + std::to_string(getpid()) + "-" + std::to_string(n);
}

// Whether a message from a CURVE client with `client` keys reaches `router`
// within `ms`, answering ZAP requests with `zap` (if any) meanwhile.
bool Reaches(zmq::context_t& ctx, zmq::socket_t& router, const std::string& endpoint,
             const KeyPair& server, const KeyPair& client, ZapHandler* zap,
             const AccessLists& lists, int ms) {
  ClientKeys keys{client.public_key, client.secret_key, server.public_key};
  zmq::socket_t dealer = ConnectDealer(ctx, endpoint, 0, &keys);
  REQUIRE(SendEncoded(dealer, "hello"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < deadline) {
    std::vector<zmq::pollitem_t> items = {{router.handle(), 0, ZMQ_POLLIN, 0}};
    if (zap) items.push_back({zap->handle(), 0, ZMQ_POLLIN, 0});
    zmq::poll(items, std::chrono::milliseconds(20));
    if (zap && (items[1].revents & ZMQ_POLLIN)) zap->Serve(lists);
    if (items[0].revents & ZMQ_POLLIN) {
      std::string route;
      zmq::message_t frame;
      REQUIRE(ReceiveFrame(router, &route, &frame) == Received::kFrame);
      // The key the handler accepted rides on the message.
      const char* user = zmq_msg_gets(frame.handle(), "User-Id");
      REQUIRE(user != nullptr);
      CHECK(std::string(user) == client.public_key);
      return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("without its ZAP handler the CURVE server lets nobody in, with it, the listed keys") {
  zmq::context_t ctx(1);
  Result<KeyPair> server = GenerateKeyPair(), listed = GenerateKeyPair(), other = GenerateKeyPair();
  REQUIRE(server.ok());
  REQUIRE(listed.ok());
  REQUIRE(other.ok());
  AccessLists lists;
  lists.submitters[listed->public_key] = "listed";
  {
    zmq::socket_t router(ctx, zmq::socket_type::router);
    router.set(zmq::sockopt::linger, 0);
    REQUIRE(MakeCurveServer(router, server->secret_key).ok());
    router.bind(Endpoint(1));
    // No handler bound: libzmq would let anyone in without ZAP_ENFORCE_DOMAIN.
    CHECK_FALSE(
        Reaches(ctx, router, Endpoint(1), server.value(), listed.value(), nullptr, lists, 1000));
  }
  Result<std::unique_ptr<ZapHandler>> zap = ZapHandler::Bind(&ctx);
  REQUIRE(zap.ok());
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  REQUIRE(MakeCurveServer(router, server->secret_key).ok());
  router.bind(Endpoint(2));
  CHECK(
      Reaches(ctx, router, Endpoint(2), server.value(), listed.value(), zap->get(), lists, 10000));
  CHECK_FALSE(
      Reaches(ctx, router, Endpoint(2), server.value(), other.value(), zap->get(), lists, 1000));
  for (int n : {1, 2}) unlink(Endpoint(n).substr(6).c_str());
}

}  // namespace drover::broker
