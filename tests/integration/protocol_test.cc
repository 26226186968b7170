// The broker's protocol boundary, spoken to directly with the shared codec:
// versions are checked, unknown peers must say hello, roles are enforced,
// and garbage changes nothing for anyone else.

#include <doctest/doctest.h>

#include "shared/codec.h"
#include "shared/job_load.h"
#include "shared/transport.h"
#include "tests/integration/harness.h"
#include "tests/integration/raw_peer.h"

namespace drover::testing {
namespace {

TEST_CASE("a hello with another protocol version is refused, naming both versions") {
  Cluster c;
  RawPeer peer(c.endpoint());
  peer.Send(ClientHello{kProtocolVersion + 1, "tester"});
  Message reply = peer.Expect();
  REQUIRE(std::holds_alternative<ErrorReply>(reply));
  const ErrorReply& e = std::get<ErrorReply>(reply);
  CHECK(e.code == ErrorCode::kVersionMismatch);
  CHECK(e.message.find("protocol " + std::to_string(kProtocolVersion)) != std::string::npos);
  CHECK(e.message.find(std::to_string(kProtocolVersion + 1)) != std::string::npos);
  peer.Send(WorkerHello{kProtocolVersion + 1, "w", "h", 1, {}, 1, 0, "", "", {}});
  CHECK(std::get<ErrorReply>(peer.Expect()).code == ErrorCode::kVersionMismatch);
}

TEST_CASE("messages before a hello, from the wrong role, or malformed are refused") {
  Cluster c;
  RawPeer peer(c.endpoint());
  peer.Send(StatusRequest{});
  CHECK(std::get<ErrorReply>(peer.Expect()).code == ErrorCode::kNeedHello);
  peer.Send(ClientHello{kProtocolVersion, "tester"});
  REQUIRE(std::holds_alternative<Welcome>(peer.Expect()));
  peer.Send(TaskResults{{TaskResult{{JobId(1), StepIndex(0), Attempt(1)}, RunResult{}}}});
  CHECK(std::get<ErrorReply>(peer.Expect()).code == ErrorCode::kWrongRole);
  peer.SendBytes(std::string("\xdd\xff\xff\xff\xff", 5));
  CHECK(std::get<ErrorReply>(peer.Expect()).code == ErrorCode::kMalformed);
  peer.SendBytes("not msgpack at all");
  CHECK(std::get<ErrorReply>(peer.Expect()).code == ErrorCode::kMalformed);
  // The broker still serves real work afterwards.
  c.AddWorker("alpha", 1);
  Run r = c.Submit(c.dir().Write("ok.json", R"({"steps": [{"id": "a", "argv": ["echo", "fine"]}]})"));
  CHECK(r.exit_code == 0);
  CHECK(r.out == "[a] fine\n");
}

TEST_CASE("a worker cannot submit jobs") {
  Cluster c;
  RawPeer peer(c.endpoint());
  peer.Send(WorkerHello{kProtocolVersion, "w", "h", 1, {}, 1, 0, "w-1", "", {}});
  REQUIRE(std::holds_alternative<Welcome>(peer.Expect()));
  peer.Send(SubmitJob{Blob{"whatever"}, true, ""});
  CHECK(std::get<ErrorReply>(peer.Expect()).code == ErrorCode::kWrongRole);
}

TEST_CASE("a resubmission after a lost reply is the same job") {
  Cluster c;
  Result<std::string> job = JsonToMsgpack(R"({"name": "once", "steps": [{"id": "a", "argv": ["true"]}]})");
  REQUIRE(job.ok());
  auto submit = [&](const std::string& key) {
    RawPeer peer(c.endpoint());
    peer.Send(ClientHello{kProtocolVersion, "tester"});
    REQUIRE(std::holds_alternative<Welcome>(peer.Expect()));
    peer.Send(SubmitJob{Blob{job.value()}, false, key});
    Message reply = peer.Expect();
    REQUIRE(std::holds_alternative<JobAccepted>(reply));
    return std::get<JobAccepted>(reply).job;
  };
  const JobId first = submit("key-1");
  {
    // A repeat right behind the first, before that one can be acknowledged
    // (both in one turn, as a rule): the same job, acknowledged twice.
    RawPeer peer(c.endpoint());
    peer.Send(ClientHello{kProtocolVersion, "tester"});
    REQUIRE(std::holds_alternative<Welcome>(peer.Expect()));
    peer.Send(SubmitJob{Blob{job.value()}, false, "key-0"});
    peer.Send(SubmitJob{Blob{job.value()}, false, "key-0"});
    Message a = peer.Expect();
    Message b = peer.Expect();
    REQUIRE(std::holds_alternative<JobAccepted>(a));
    REQUIRE(std::holds_alternative<JobAccepted>(b));
    CHECK(std::get<JobAccepted>(a).job == std::get<JobAccepted>(b).job);
    CHECK(std::get<JobAccepted>(a).job != first);
  }
  // The same key from a new connection (the client that lost the reply
  // reconnects): the same job, not a second one.
  CHECK(submit("key-1") == first);
  // Also once the broker has restarted: the key is in its journal.
  c.KillBroker();
  c.RestartBroker();
  CHECK(submit("key-1") == first);
  const JobId other = submit("key-2");
  CHECK(other != first);
  Run status = RunCommand({BinDir() + "/submit", "status", "--broker", c.endpoint()}, c.dir());
  size_t jobs = 0;
  for (size_t at = status.out.find("once"); at != std::string::npos;
       at = status.out.find("once", at + 1)) {
    ++jobs;
  }
  CHECK_MESSAGE(jobs == 3, status.out);  // key-0, key-1 and key-2
}

// A worker that says it reads Dispatch.results_acked has its results
// acknowledged in the next dispatch, with no ResultsAck of their own;
// one that does not say so gets ResultsAck, as before.
TEST_CASE("results are acknowledged in the next dispatch to workers that read them there") {
  for (const bool reads : {true, false}) {
    CAPTURE(reads);
    Cluster c;
    RawPeer worker(c.endpoint());
    WorkerHello hello{kProtocolVersion, "raw", "h", 1, {}, 1, 0, "raw-1", "", {}};
    hello.reads_dispatch_acks = reads;
    worker.Send(hello);
    REQUIRE(std::holds_alternative<Welcome>(worker.Expect()));
    RawPeer client(c.endpoint());
    client.Send(ClientHello{kProtocolVersion, "tester"});
    REQUIRE(std::holds_alternative<Welcome>(client.Expect()));
    Result<std::string> job = JsonToMsgpack(
        R"({"steps": [{"id": "a", "argv": ["true"]}, {"id": "b", "argv": ["true"]}]})");
    REQUIRE(job.ok());
    client.Send(SubmitJob{Blob{job.value()}, false, ""});
    REQUIRE(std::holds_alternative<JobAccepted>(client.Expect()));

    // One slot and no prefetch yet: one step at a time.
    Message first = worker.Expect();
    REQUIRE(std::holds_alternative<Dispatch>(first));
    REQUIRE(std::get<Dispatch>(first).tasks.size() == 1);
    CHECK(std::get<Dispatch>(first).results_acked == 0);
    RunResult ok;
    worker.Send(TaskResults{{TaskResult{std::get<Dispatch>(first).tasks[0].key, ok}}, 1});

    Message second = worker.Expect();
    REQUIRE(std::holds_alternative<Dispatch>(second));
    REQUIRE(std::get<Dispatch>(second).tasks.size() == 1);
    CHECK(std::get<Dispatch>(second).results_acked == (reads ? 1u : 0u));
    if (!reads) CHECK(std::get<ResultsAck>(worker.Expect()).through == 1);
    worker.Send(TaskResults{{TaskResult{std::get<Dispatch>(second).tasks[0].key, ok}}, 2});
    // Nothing more to dispatch: a ResultsAck of its own.
    CHECK(std::get<ResultsAck>(worker.Expect()).through == 2);
  }
}

}  // namespace
}  // namespace drover::testing
