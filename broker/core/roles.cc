#include "broker/core/roles.h"

#include "shared/codec.h"

namespace drover::broker {

Senders SendersOf(MessageType type) {
  switch (type) {
    case MessageType::kHeartbeat:
      return kAnySender;
    case MessageType::kWorkerHello:
    case MessageType::kTaskOutput:
    case MessageType::kTaskResults:
    case MessageType::kGoodbye:
    case MessageType::kRetractDeclined:
    case MessageType::kDraining:
    case MessageType::kInputCredit:
      return kWorkerSender;
    case MessageType::kClientHello:
    case MessageType::kSubmitJob:
    case MessageType::kWatchJob:
    case MessageType::kCancelJob:
    case MessageType::kEventsAck:
    case MessageType::kStatusRequest:
    case MessageType::kResumeJob:
    case MessageType::kDrainWorker:
    case MessageType::kAllocRequest:
    case MessageType::kForgetJobs:
    case MessageType::kListJobs:
      return kClientSender;
    // What only the broker sends.
    case MessageType::kErrorReply:
    case MessageType::kWelcome:
    case MessageType::kDispatch:
    case MessageType::kKillTask:
    case MessageType::kRetract:
    case MessageType::kOutputCredit:
    case MessageType::kResultsAck:
    case MessageType::kJobAccepted:
    case MessageType::kJobRejected:
    case MessageType::kJobEvents:
    case MessageType::kStatusReply:
    case MessageType::kCancelAccepted:
    case MessageType::kDrain:
    case MessageType::kTaskInput:
    case MessageType::kCloseOutput:
    case MessageType::kDrainAccepted:
    case MessageType::kAllocReply:
    case MessageType::kForgetReply:
    case MessageType::kJobList:
      return kNoSender;
  }
  return kNoSender;
}

std::optional<std::string> RoleRefusal(PeerRole role, const Message& msg) {
  const MessageType type = std::visit([](const auto& m) { return m.kType; }, msg);
  if (type == MessageType::kWorkerHello || type == MessageType::kClientHello) return std::nullopt;
  const Senders senders = SendersOf(type);
  const unsigned mine = role == PeerRole::kWorker ? kWorkerSender : kClientSender;
  if (senders & mine) return std::nullopt;
  const char* who = role == PeerRole::kWorker ? "a worker" : "a client";
  const std::string name = MessageTypeName(type);
  if (senders == kNoSender)
    return std::string(who) + " cannot send " + name + " (only the broker sends it)";
  return std::string(who) + " cannot send " + name + " (a " +
         (senders == kWorkerSender ? "worker" : "client") + " message)";
}

}  // namespace drover::broker
