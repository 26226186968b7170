#include "broker/core/roles.h"

#include <doctest/doctest.h>

namespace drover::broker {
namespace {

TEST_CASE("workers send worker messages, clients client messages, both hellos and heartbeats") {
  const Message worker_only[] = {TaskOutput{}, TaskResults{}, Goodbye{}, RetractDeclined{}};
  const Message client_only[] = {SubmitJob{}, WatchJob{},      CancelJob{},
                                 EventsAck{}, StatusRequest{}, ResumeJob{}};
  const Message both[] = {Heartbeat{}, WorkerHello{}, ClientHello{}};
  const Message broker_only[] = {ErrorReply{},   Welcome{},     Dispatch{},      KillTask{},
                                 OutputCredit{}, ResultsAck{},  JobAccepted{},   JobRejected{},
                                 JobEvents{},    StatusReply{}, CancelAccepted{}, Retract{}};
  for (const Message& m : worker_only) {
    CHECK_FALSE(RoleRefusal(PeerRole::kWorker, m).has_value());
    const auto why = RoleRefusal(PeerRole::kClient, m);
    REQUIRE(why.has_value());
    CHECK(why->find("a client cannot send") == 0);
    CHECK(why->find("(a worker message)") != std::string::npos);
  }
  for (const Message& m : client_only) {
    CHECK_FALSE(RoleRefusal(PeerRole::kClient, m).has_value());
    const auto why = RoleRefusal(PeerRole::kWorker, m);
    REQUIRE(why.has_value());
    CHECK(why->find("a worker cannot send") == 0);
  }
  for (const Message& m : both) {
    CHECK_FALSE(RoleRefusal(PeerRole::kClient, m).has_value());
    CHECK_FALSE(RoleRefusal(PeerRole::kWorker, m).has_value());
  }
  for (const Message& m : broker_only) {
    CHECK(RoleRefusal(PeerRole::kClient, m).has_value());
    CHECK(RoleRefusal(PeerRole::kWorker, m).has_value());
  }
  CHECK(*RoleRefusal(PeerRole::kWorker, SubmitJob{}) ==
        "a worker cannot send SubmitJob (a client message)");
  CHECK(*RoleRefusal(PeerRole::kClient, Dispatch{}) ==
        "a client cannot send Dispatch (only the broker sends it)");
}

}  // namespace
}  // namespace drover::broker
