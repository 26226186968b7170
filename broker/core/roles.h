// Which messages each kind of peer may send the broker: the one table of
// message type to sender, and the check made by hello before any handler
// runs (server.cc HandleFrame). A message outside its sender's role is
// answered ErrorReply{kWrongRole} with the reason from here, and changes
// nothing. Key-based roles (broker/core/access.h) ask the same table which role
// a message needs, so the two checks cannot disagree.
#pragma once

#include <optional>
#include <string>

#include "shared/protocol.h"

namespace drover::broker {

enum class PeerRole {
  kWorker,  // said WorkerHello
  kClient,  // said ClientHello
};

// Who may send a message of a type: a set of these bits.
enum Senders : unsigned {
  kNoSender = 0,  // only the broker sends it
  kWorkerSender = 1,
  kClientSender = 2,
  kAnySender = kWorkerSender | kClientSender,
};

// The table: WorkerHello is a worker's, ClientHello a client's, Heartbeat
// either's, and what only the broker sends nobody's.
Senders SendersOf(MessageType type);

// Why a peer in `role` may not send `msg`, or nullopt if it may. Either
// hello is allowed to both (a second hello starts the connection over).
std::optional<std::string> RoleRefusal(PeerRole role, const Message& msg);

}  // namespace drover::broker
