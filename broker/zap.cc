#include "broker/zap.h"

#include <spdlog/spdlog.h>
#include <zmq.h>

#include <vector>

namespace drover::broker {
namespace {

// More refused keys than this in the log and it is an attack or a storm:
// stop remembering (and logging) each one until the next reload.
constexpr size_t kMaxLogged = 1024;

// A draft option in libzmq 4.3's header, but honoured by its library (and
// by Debian's build); its value is fixed by the ABI.
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

}  // namespace

Status MakeCurveServer(zmq::socket_t& router, const std::string& secret_key) {
  try {
    router.set(zmq::sockopt::curve_server, 1);
    router.set(zmq::sockopt::curve_secretkey, secret_key);
    router.set(zmq::sockopt::zap_domain, kZapDomain);
  } catch (const zmq::error_t& e) {
    return Status::Error(std::string("cannot turn on CURVE: ") + e.what());
  }
  // Without it libzmq lets every client in whenever no ZAP handler answers.
  const int enforce = 1;
  if (zmq_setsockopt(router.handle(), ZMQ_ZAP_ENFORCE_DOMAIN, &enforce, sizeof enforce) != 0) {
    int major = 0, minor = 0, patch = 0;
    zmq_version(&major, &minor, &patch);
    return Status::Error("this libzmq (" + std::to_string(major) + "." + std::to_string(minor) +
                         "." + std::to_string(patch) +
                         ") cannot enforce the key check (ZMQ_ZAP_ENFORCE_DOMAIN); keys need "
                         "libzmq 4.3.0 or later");
  }
  return Status::Ok();
}

Result<std::unique_ptr<ZapHandler>> ZapHandler::Bind(zmq::context_t* ctx) {
  try {
    zmq::socket_t socket(*ctx, zmq::socket_type::rep);
    socket.set(zmq::sockopt::linger, 0);
    socket.bind("inproc://zeromq.zap.01");
    return std::unique_ptr<ZapHandler>(new ZapHandler(std::move(socket)));
  } catch (const zmq::error_t& e) {
    return Status::Error(std::string("cannot start the key check (ZAP handler): ") + e.what());
  }
}

void ZapHandler::Answer(const std::string& request_id, bool ok, const std::string& text,
                        const std::string& user_id) {
  const std::string parts[] = {"1.0", request_id, ok ? "200" : "400", text, user_id, ""};
  try {
    for (size_t i = 0; i < 6; ++i) {
      socket_.send(zmq::buffer(parts[i]),
                   i + 1 < 6 ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  } catch (const zmq::error_t& e) {
    spdlog::error("key check: cannot answer libzmq: {}", e.what());
  }
}

void ZapHandler::Serve(const AccessLists& lists) {
  for (;;) {
    // A request: version, request id, domain, address, routing id,
    // mechanism, then the mechanism's credentials (CURVE: the client's
    // 32-byte public key).
    std::vector<zmq::message_t> frames;
    try {
      zmq::message_t frame;
      if (!socket_.recv(frame, zmq::recv_flags::dontwait)) return;
      frames.push_back(std::move(frame));
      while (frames.back().more()) {
        zmq::message_t next;
        if (!socket_.recv(next, zmq::recv_flags::dontwait)) break;
        frames.push_back(std::move(next));
      }
    } catch (const zmq::error_t& e) {
      spdlog::error("key check: {}", e.what());
      return;
    }
    if (frames.size() < 6) {
      // Not from libzmq; a REP socket must still answer before the next one.
      Answer(frames.size() > 1 ? frames[1].to_string() : "", false, "malformed ZAP request", "");
      continue;
    }
    const std::string request_id = frames[1].to_string();
    const std::string address = frames[3].to_string();
    const std::string mechanism = frames[5].to_string();
    if (frames[0].to_string() != "1.0" || frames[2].to_string() != kZapDomain ||
        mechanism != "CURVE" || frames.size() < 7 || frames[6].size() != 32) {
      spdlog::warn("refused a connection from {}: mechanism {} (only CURVE keys get in)", address,
                   mechanism);
      Answer(request_id, false, "only CURVE keys get in", "");
      continue;
    }
    char z85[41] = {};
    zmq_z85_encode(z85, static_cast<const uint8_t*>(frames[6].data()), 32);
    const std::string key(z85);
    const Roles roles = lists.RolesOf(key);
    if (roles == kNoRole) {
      if (logged_.size() < kMaxLogged && logged_.insert(key).second) {
        spdlog::warn("refused a connection from {}: key {} is on no allow-list", address, key);
      }
      Answer(request_id, false, "key not allowed", "");
      continue;
    }
    spdlog::debug("key {} connects from {} as {}", lists.Describe(key), address, RolesName(roles));
    Answer(request_id, true, "OK", key);
  }
}

}  // namespace drover::broker
