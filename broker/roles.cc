#include "broker/roles.h"

#include "shared/codec.h"

namespace drover::broker {
namespace {

enum Allowed : unsigned { kNone = 0, kWorkers = 1, kClients = 2, kBoth = 3 };

Allowed AllowedFor(MessageType type) {
  switch (type) {
    case MessageType::kHeartbeat:
    case MessageType::kWorkerHello:
    case MessageType::kClientHello:
      return kBoth;
    case MessageType::kTaskOutput:
    case MessageType::kTaskResults:
    case MessageType::kGoodbye:
      return kWorkers;
    case MessageType::kSubmitJob:
    case MessageType::kWatchJob:
    case MessageType::kCancelJob:
    case MessageType::kEventsAck:
    case MessageType::kStatusRequest:
    case MessageType::kResumeJob:
      return kClients;
    // What only the broker sends.
    case MessageType::kErrorReply:
    case MessageType::kWelcome:
    case MessageType::kDispatch:
    case MessageType::kKillTask:
    case MessageType::kOutputCredit:
    case MessageType::kResultsAck:
    case MessageType::kJobAccepted:
    case MessageType::kJobRejected:
    case MessageType::kJobEvents:
    case MessageType::kStatusReply:
    case MessageType::kCancelAccepted:
      return kNone;
  }
  return kNone;
}

}  // namespace

std::optional<std::string> RoleRefusal(PeerRole role, const Message& msg) {
  const MessageType type = std::visit([](const auto& m) { return m.kType; }, msg);
  const Allowed allowed = AllowedFor(type);
  const unsigned mine = role == PeerRole::kWorker ? kWorkers : kClients;
  if (allowed & mine) return std::nullopt;
  const char* who = role == PeerRole::kWorker ? "a worker" : "a client";
  const std::string name = MessageTypeName(type);
  if (allowed == kNone)
    return std::string(who) + " cannot send " + name + " (only the broker sends it)";
  return std::string(who) + " cannot send " + name + " (a " +
         (allowed == kWorkers ? "worker" : "client") + " message)";
}

}  // namespace drover::broker
