// Which messages each kind of peer may send the broker: the one place where
// roles are checked, before any handler runs (server.cc HandleFrame). A
// message outside its sender's role is answered ErrorReply{kWrongRole} with
// the reason from here, and changes nothing.
//
// Roles come from the peer's hello today; key-based roles (a worker key, a
// submitter key) narrow them further in the same place.
#pragma once

#include <optional>
#include <string>

#include "shared/protocol.h"

namespace drover::broker {

enum class PeerRole {
  kWorker,  // said WorkerHello
  kClient,  // said ClientHello
};

// Why a peer in `role` may not send `msg`, or nullopt if it may. Hellos are
// allowed to both (a second hello starts the connection over).
std::optional<std::string> RoleRefusal(PeerRole role, const Message& msg);

}  // namespace drover::broker
