// ZapHandler: the broker's answer to ZeroMQ's "may this key connect?"
// (ZAP, ZeroMQ RFC 27), asked once per CURVE handshake.
//
// libzmq sends each handshake's request to whatever REP socket is bound at
// inproc://zeromq.zap.01 in the same context, and finishes the handshake
// when the answer comes. This one is polled in the broker's one loop (no
// thread). It accepts a CURVE key on either allow-list (as whatever roles
// the lists give it: the roles are checked again on every message, against
// the lists in force then) and refuses everything else. The accepted key is
// the connection's ZAP user id, so the broker reads it from every message
// ("User-Id" metadata).
//
// Failing closed: the ROUTER sets ZMQ_ZAP_DOMAIN and ZMQ_ZAP_ENFORCE_DOMAIN
// (server.cc), so with no handler bound, libzmq refuses every handshake
// rather than accepting all.
#pragma once

#include <memory>
#include <string>
#include <unordered_set>
#include <zmq.hpp>

#include "broker/core/access.h"
#include "shared/status.h"

namespace drover::broker {

inline constexpr const char* kZapDomain = "drover";

// Makes `router` a CURVE server with `secret_key` (Z85) whose every
// handshake must pass the ZAP handler (fails closed). Before it binds.
Status MakeCurveServer(zmq::socket_t& router, const std::string& secret_key);

class ZapHandler {
 public:
  // Binds inproc://zeromq.zap.01 in `ctx`. Before any CURVE socket binds.
  static Result<std::unique_ptr<ZapHandler>> Bind(zmq::context_t* ctx);

  // For zmq_poll.
  void* handle() { return socket_.handle(); }
  // Answers every request waiting, by `lists`. Never blocks.
  void Serve(const AccessLists& lists);
  // Forgets which refused keys were logged (after a reload: log afresh).
  void ForgetLogged() { logged_.clear(); }

 private:
  explicit ZapHandler(zmq::socket_t socket) : socket_(std::move(socket)) {}
  void Answer(const std::string& request_id, bool ok, const std::string& text,
              const std::string& user_id);

  zmq::socket_t socket_;
  std::unordered_set<std::string> logged_;  // refused keys already in the log
};

}  // namespace drover::broker
