// Hostile peers against a live broker: oversized messages, bytes that are not
// ZeroMQ at all, idle and trickling connections, and thousands of random and
// mutated messages, each while a real graph runs on a real worker. The graph
// must finish correctly and the broker must answer afterwards.

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <thread>
#include <zmq.hpp>

#include "shared/codec.h"
#include "shared/job_load.h"
#include "shared/transport.h"
#include "tests/integration/harness.h"
#include "tests/integration/raw_peer.h"

namespace drover::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A plain TCP connection to the broker's port: no ZeroMQ.
class RawTcp {
 public:
  explicit RawTcp(const std::string& endpoint) {
    const size_t colon = endpoint.rfind(':');
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(std::stoi(endpoint.substr(colon + 1))));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    REQUIRE(connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~RawTcp() { close(fd_); }
  // False once the broker closed the connection.
  bool Write(const std::string& bytes) {
    return send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  // Reads until the broker closes the connection (true) or `within` passes.
  bool ClosedWithin(milliseconds within) {
    const auto deadline = std::chrono::steady_clock::now() + within;
    char buf[4096];
    for (;;) {
      const auto left =
          std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return true;
    }
  }

 private:
  int fd_ = -1;
};

// A graph for the real worker: steps in a diamond-ish shape whose output the
// test checks line by line. `requires: real` keeps them off fake workers.
std::string RealGraph(int steps) {
  std::string json = R"({"name": "real", "defaults": {"requires": ["real"]}, "steps": [)";
  for (int i = 0; i < steps; ++i) {
    if (i) json += ",";
    json += R"({"id": "s)" + std::to_string(i) +
            R"(", "argv": ["sh", "-c", "sleep 0.02; echo out-)" + std::to_string(i) + R"("])";
    if (i >= 4) json += R"(, "after": ["s)" + std::to_string(i - 4) + R"("])";
    json += "}";
  }
  return json + "]}";
}

// Runs `submit` on the real graph in the background.
struct RealJob {
  RealJob(Cluster& c, int steps)
      : steps(steps),
        process({BinDir() + "/submit", c.dir().Write("real.json", RealGraph(steps)), "--broker",
                 c.endpoint(), "--json"},
                c.dir().path() + "/real.out", c.dir().path() + "/real.err") {}
  // Waits for it and checks every step succeeded with its own output.
  void CheckFinished() {
    REQUIRE_MESSAGE(process.Wait(seconds(120)).has_value(), "the real graph did not finish");
    CHECK_MESSAGE(process.ExitCode() == 0, process.err());
    const auto events = JsonLines(process.out());
    const auto states = FinalStates(events);
    CHECK(states.size() == static_cast<size_t>(steps));
    std::string wrong;  // one line per step that did not succeed with its output
    std::map<std::string, std::string> out;
    for (const auto& e : EventsOf(events, "output")) {
      out[e.at("step")] += e.at("data").get<std::string>();
    }
    for (const auto& [id, e] : states) {
      const std::string want = "out-" + id.substr(1) + "\n";
      if (e.at("state") != "succeeded" || out[id] != want) wrong += e.dump() + " " + out[id] + "\n";
    }
    CHECK_MESSAGE(wrong.empty(), wrong.substr(0, 3000));
  }
  int steps;
  Process process;
};

// The broker runs, and `submit status` works and lists the real worker.
void CheckServing(Cluster& c) {
  CHECK(c.broker().running());
  Run r =
      RunCommand({BinDir() + "/submit", "status", "--broker", c.endpoint()}, c.dir(), seconds(30));
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  CHECK_MESSAGE(r.out.find("real") != std::string::npos, r.out);
}

TEST_CASE("submit and submit validate check the broker's limits with the same flags") {
  TempDir d;
  std::string json = R"({"steps": [{"id": "a", "cmd": "x", "env": {)";
  for (int i = 0; i < 5; ++i)
    json += (i ? ", " : "") + std::string("\"V") + std::to_string(i) + "\": \"1\"";
  const std::string file = d.Write("job.json", json + "}}]}");
  Run ok = RunCommand({BinDir() + "/submit", "validate", file}, d, seconds(30));
  CHECK_MESSAGE(ok.exit_code == 0, ok.err);
  Run over =
      RunCommand({BinDir() + "/submit", "validate", "--max-env-vars", "4", file}, d, seconds(30));
  CHECK(over.exit_code == 2);
  CHECK_MESSAGE(
      over.err.find("steps[0] (id \"a\").env: has 5 variables, more than the limit of 4") !=
          std::string::npos,
      over.err);
  // `submit FILE` checks before it sends: no broker is even needed.
  Run sent = RunCommand({BinDir() + "/submit", file, "--broker", "tcp://127.0.0.1:1",
                         "--max-job-mb", "1", "--max-env-vars", "4"},
                        d, seconds(30));
  CHECK(sent.exit_code == 2);
  CHECK(sent.err.find("more than the limit of 4") != std::string::npos);
  const std::string big = d.Write("big.json", R"({"steps": [{"id": "a", "cmd": "x", "stdin": ")" +
                                                  std::string(1 << 20, 'i') + R"("}]})");
  Run too_big =
      RunCommand({BinDir() + "/submit", "validate", "--max-job-mb", "1", big}, d, seconds(30));
  CHECK(too_big.exit_code == 2);
  CHECK_MESSAGE(too_big.err.find("the job file is ") != std::string::npos, too_big.err);
}

TEST_CASE("messages outside a peer's role get the reason and change nothing") {
  Cluster c;
  c.AddWorker("real", 2, {"real"});
  RealJob job(c, 8);
  zmq::context_t ctx(1);
  RawPeer client(ctx, c.endpoint());
  client.Send(ClientHello{kProtocolVersion, "client"});
  REQUIRE(std::holds_alternative<Welcome>(client.Expect()));
  RawPeer worker(ctx, c.endpoint());
  worker.Send(WorkerHello{kProtocolVersion, "fake", "h", 1, {}, 1, 0, "fake-inst", "", {}});
  REQUIRE(std::holds_alternative<Welcome>(worker.Expect()));
  // The real job is job 1; once it has started, its first steps run as attempt 1.
  REQUIRE(WaitUntil(std::chrono::seconds(30), [&] {
    return job.process.out().find("\"step_started\"") != std::string::npos;
  }));
  const TaskKey key{JobId(1), StepIndex(0), Attempt(1)};
  RunResult failed;
  failed.exit_code = 7;
  auto expect_refusal = [](RawPeer& peer, const std::string& reason) {
    const Message reply = peer.Expect();
    REQUIRE(std::holds_alternative<ErrorReply>(reply));
    CHECK(std::get<ErrorReply>(reply).code == ErrorCode::kWrongRole);
    CHECK(std::get<ErrorReply>(reply).message == reason);
  };
  client.Send(TaskResults{{TaskResult{key, failed}}, 1});
  expect_refusal(client, "a client cannot send TaskResults (a worker message)");
  client.Send(TaskOutput{key, Stream::kStdout, Blob{"forged\n"}, 0});
  expect_refusal(client, "a client cannot send TaskOutput (a worker message)");
  client.Send(Goodbye{});
  expect_refusal(client, "a client cannot send Goodbye (a worker message)");
  client.Send(Dispatch{});
  expect_refusal(client, "a client cannot send Dispatch (only the broker sends it)");
  worker.Send(CancelJob{JobId(1)});
  expect_refusal(worker, "a worker cannot send CancelJob (a client message)");
  worker.Send(SubmitJob{Blob{"x"}, false, ""});
  expect_refusal(worker, "a worker cannot send SubmitJob (a client message)");
  // In its role but about an attempt that is not its own: dropped.
  worker.Send(TaskOutput{key, Stream::kStdout, Blob{"forged\n"}, 0});
  worker.Send(TaskResults{{TaskResult{key, failed}}, 1});
  // The client is still a client, the fake worker still a worker.
  client.Send(StatusRequest{});
  CHECK(std::holds_alternative<StatusReply>(client.Expect()));
  // Nothing forged reached the job: every step succeeded with its own output.
  job.CheckFinished();
  CHECK(JsonLines(job.process.out()).size() > 0);
  CHECK(job.process.out().find("forged") == std::string::npos);
}

TEST_CASE("the broker splits a large dispatch so that each message fits the worker's limit") {
  // The broker takes the 21 MiB graph in one turn, which sends no heartbeat;
  // under a sanitizer that turn outlasts a 1 s liveness, the worker gives
  // the broker up and reconnects, and the dispatch sent on the old
  // connection comes back as lost attempts (attempt 2, below). Slower
  // heartbeats keep this test about message sizes.
  Cluster c({.heartbeat_ms = 1000});
  // Three steps of 7 MiB stdin each, dispatched in one turn: 21 MiB in all,
  // more than this worker takes in one message (16 MiB).
  c.AddWorker("w", 3, {}, {"--max-message-mb", "16"});
  std::string json = R"({"steps": [)";
  for (int i = 0; i < 3; ++i) {
    json += std::string(i ? "," : "") + R"({"id": "s)" + std::to_string(i) +
            R"(", "argv": ["wc", "-c"], "stdin": ")" + std::string(7 << 20, 'a' + i) + R"("})";
  }
  // A sanitizer on a loaded machine may take longer than submit's usual
  // 5 s to accept 21 MiB: submit would then send it all again, and again.
  Run run = c.Submit(c.dir().Write("big.json", json + "]}"), {"--json", "--connect-timeout", "60"});
  REQUIRE_MESSAGE(run.exit_code == 0, run.err);
  const auto events = JsonLines(run.out);
  const auto states = FinalStates(events);
  REQUIRE(states.size() == 3);
  for (const auto& step : states) {
    const auto& e = step.second;
    CHECK_MESSAGE(e.at("state") == "succeeded", e.dump());
    CHECK_MESSAGE(e.at("attempt") == 1, e.dump());  // not lost with a dropped connection
  }
  for (const auto& e : EventsOf(events, "output")) {
    CHECK(e.at("data") == std::to_string(7 << 20) + "\n");
  }
}

TEST_CASE("a peer sending an oversized message is cut off and everyone else carries on") {
  // --max-job-mb 1: the broker takes messages up to 2 MiB. The bystander
  // is silent (no heartbeats) all along: --liveness 100 keeps the broker
  // from forgetting it when a slow machine makes the test long.
  Cluster c({.broker_args = {"--max-job-mb", "1", "--liveness", "100"}});
  c.AddWorker("real", 2, {"real"});
  zmq::context_t ctx(1);
  RawPeer bystander(ctx, c.endpoint());
  bystander.Send(ClientHello{kProtocolVersion, "bystander"});
  REQUIRE(std::holds_alternative<Welcome>(bystander.Expect()));
  RealJob job(c, 12);

  RawPeer big(ctx, c.endpoint());
  big.Send(ClientHello{kProtocolVersion, "big"});
  REQUIRE(std::holds_alternative<Welcome>(big.Expect()));
  // A SubmitJob of 3 MiB: more than the broker takes.
  big.Send(SubmitJob{Blob{std::string(3 << 20, 'x')}, false, "k"});
  // ZeroMQ closed that connection; the DEALER connects again by itself, as a
  // peer the broker does not know. Had the message got through, the answer
  // would be a JobRejected.
  std::optional<Message> answer;
  for (int i = 0; i < 40 && !answer; ++i) {
    big.Send(StatusRequest{});
    answer = big.Receive(milliseconds(500));
  }
  REQUIRE(answer.has_value());
  REQUIRE(std::holds_alternative<ErrorReply>(*answer));
  CHECK(std::get<ErrorReply>(*answer).code == ErrorCode::kNeedHello);
  // Just under the limit gets through, and a clear answer.
  big.Drain();
  big.Send(ClientHello{kProtocolVersion, "big"});
  REQUIRE(std::holds_alternative<Welcome>(big.Expect()));
  big.Send(SubmitJob{Blob{std::string((1 << 20) + 1000, 'x')}, false, "k2"});
  Message rejected = big.Expect();
  REQUIRE(std::holds_alternative<JobRejected>(rejected));
  CHECK(std::get<JobRejected>(rejected).problems.at(0).find("more than the limit of 1048576") !=
        std::string::npos);

  bystander.Send(StatusRequest{});
  CHECK(std::holds_alternative<StatusReply>(bystander.Expect()));
  job.CheckFinished();
  CheckServing(c);
}

TEST_CASE("garbage bytes and silent or trickling connections do not stall the broker") {
  Cluster c;
  c.AddWorker("real", 2, {"real"});
  RealJob job(c, 40);
  std::mt19937 rng(20261124);
  std::vector<std::unique_ptr<RawTcp>> garbage;
  for (int i = 0; i < 5; ++i) {
    garbage.push_back(std::make_unique<RawTcp>(c.endpoint()));
    std::string bytes(64 << 10, '\0');
    for (char& b : bytes) b = static_cast<char>(rng());
    garbage.back()->Write(bytes);
  }
  // A valid ZMTP signature, then garbage: past the greeting's first check.
  garbage.push_back(std::make_unique<RawTcp>(c.endpoint()));
  garbage.back()->Write(std::string("\xff\0\0\0\0\0\0\0\x01\x7f", 10) + std::string(1000, 'A'));
  RawTcp silent(c.endpoint());
  RawTcp loris(c.endpoint());
  std::atomic<bool> stop{false};
  std::atomic<int> loris_bytes{0};
  std::thread trickle([&] {
    // One byte of a plausible greeting every 200 ms, until closed or told.
    const std::string greeting("\xff\0\0\0\0\0\0\0\x01\x7f\x03\x00NULL", 16);
    for (size_t i = 0; !stop; ++i) {
      if (!loris.Write(greeting.substr(i % greeting.size(), 1))) break;
      ++loris_bytes;
      std::this_thread::sleep_for(milliseconds(200));
    }
  });
  job.CheckFinished();
  CheckServing(c);
  // The broker closes what never finishes ZeroMQ's greeting (10 s, within a
  // generous deadline).
  CHECK(silent.ClosedWithin(seconds(40)));
  CHECK(loris.ClosedWithin(seconds(40)));
  stop = true;
  trickle.join();
  CHECK(loris_bytes > 0);
  CheckServing(c);
}

// ---- 10,000 random and mutated messages ----

// A valid encoding of every message type, with job ids far from the real
// job's, so that no mutation a few bits away can name it.
std::vector<std::string> ValidMessages() {
  const JobId far(0x80000000u);
  const TaskKey key{far, StepIndex(3), Attempt(1)};
  Task task;
  task.key = key;
  task.step_id = "x";
  task.argv = {"/bin/true"};
  task.env = {{"A", "1"}};
  Result<std::string> job = JsonToMsgpack(R"({"steps": [{"id": "a", "argv": ["/bin/true"]}]})");
  REQUIRE(job.ok());
  RunResult run;
  run.error = "e";
  const std::vector<Message> all = {
      Heartbeat{},
      ErrorReply{ErrorCode::kMalformed, "m"},
      WorkerHello{kProtocolVersion, "fake", "h", 2, {"l"}, 7, 4, "fake-inst", "", {key}},
      ClientHello{kProtocolVersion, "fake"},
      Welcome{kProtocolVersion, WorkerId(9), 1000, 5},
      Dispatch{{task}},
      KillTask{key},
      OutputCredit{100},
      ResultsAck{3},
      TaskOutput{key, Stream::kStdout, Blob{"data"}, 0},
      TaskResults{{TaskResult{key, run}}, 1},
      Goodbye{},
      SubmitJob{Blob{job.value()}, false, "key"},
      WatchJob{far, 0},
      CancelJob{far},
      EventsAck{far, 10},
      StatusRequest{},
      ResumeJob{far, false, "key"},
      JobAccepted{far, "n", {"a"}},
      JobRejected{{"p"}},
      JobEvents{far, 0, Blob{"r"}},
      StatusReply{},
      CancelAccepted{far},
  };
  std::vector<std::string> encoded;
  for (const Message& m : all) encoded.push_back(EncodeMessage(m));
  return encoded;
}

// One hostile message made from `valid` by `rng`.
std::string Mutate(const std::vector<std::string>& valid, std::mt19937_64& rng) {
  std::string m = valid[rng() % valid.size()];
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  switch (pick(9)) {
    case 0:  // bit flips
      for (size_t i = 0, n = 1 + pick(3); i < n; ++i)
        m[pick(m.size())] ^= static_cast<char>(1 << pick(8));
      break;
    case 1:  // truncated
      m.resize(pick(m.size()));
      break;
    case 2: {  // a length (or any byte) replaced by a huge one
      // Sizes given: the array16/map16 headers are 3 bytes, not 5.
      static const std::string kHuge[] = {
          std::string("\xdd\xff\xff\xff\xff", 5), std::string("\xdf\xff\xff\xff\xff", 5),
          std::string("\xc6\xff\xff\xff\xff", 5), std::string("\xdb\xff\xff\xff\xff", 5),
          std::string("\xdc\xff\xff", 3),         std::string("\xde\xff\xff", 3)};
      const size_t at = pick(m.size());
      m = m.substr(0, at) + kHuge[pick(6)] + m.substr(at + 1);
      break;
    }
    case 3:  // the type swapped for another, known or not
      if (m.size() > 1)
        m[1] = static_cast<char>(pick(4) == 0 ? pick(128) : valid[pick(valid.size())][1]);
      break;
    case 4: {  // deep nesting, alone or inside a message
      const std::string deep(100 + pick(100'000), '\x91');
      m = pick(2) ? deep + "\xc0" : m.substr(0, m.size() / 2) + deep;
      break;
    }
    case 5:  // random bytes
      m.resize(pick(200));
      for (char& c : m) c = static_cast<char>(rng());
      break;
    case 6:  // an ext type, or a float where an integer goes
      m.insert(pick(m.size() + 1), pick(2)
                                       ? std::string("\xd4\x01\x00", 3)
                                       : std::string("\xcb\x40\x09\x21\xfb\x54\x44\x2d\x18", 9));
      break;
    case 7:  // trailing bytes
      m += std::string(1 + pick(8), static_cast<char>(rng()));
      break;
    default:  // a valid message, as it is
      break;
  }
  return m;
}

TEST_CASE("ten thousand random and mutated messages leave a live broker serving a real graph") {
  // DROVER_FUZZ_SEED picks another sequence (e.g. to reproduce a failure).
  const char* seed_env = std::getenv("DROVER_FUZZ_SEED");
  const uint64_t seed = seed_env ? std::strtoull(seed_env, nullptr, 0) : 0x5eed0005;
  INFO("seed " << seed << " (DROVER_FUZZ_SEED=" << seed << " repeats this run)");
  Cluster c;
  c.AddWorker("real", 2, {"real"});
  zmq::context_t ctx(1);
  // Three kinds of fake peer: workers, clients, and peers that never said hello.
  std::vector<std::unique_ptr<RawPeer>> peers;
  for (int i = 0; i < 9; ++i) {
    peers.push_back(std::make_unique<RawPeer>(ctx, c.endpoint()));
    if (i % 3 == 0) {
      peers.back()->Send(WorkerHello{kProtocolVersion,
                                     "fake-" + std::to_string(i),
                                     "h",
                                     1,
                                     {},
                                     1,
                                     0,
                                     "fake-inst-" + std::to_string(i),
                                     "",
                                     {}});
      REQUIRE(std::holds_alternative<Welcome>(peers.back()->Expect()));
    } else if (i % 3 == 1) {
      peers.back()->Send(ClientHello{kProtocolVersion, "fake-" + std::to_string(i)});
      REQUIRE(std::holds_alternative<Welcome>(peers.back()->Expect()));
    }
  }
  RealJob job(c, 40);
  const std::vector<std::string> valid = ValidMessages();
  std::mt19937_64 rng(seed);
  const auto started = std::chrono::steady_clock::now();
  int cancels = 0;
  for (int i = 0; i < 10'000; ++i) {
    RawPeer& peer = *peers[rng() % peers.size()];
    std::string bytes = Mutate(valid, rng);
    // A mutation can make a well-formed CancelJob of the real job (e.g. from
    // [2, [1, "m"]], an ErrorReply, with its type changed): a request any
    // client may make, not hostile input, so it is not sent.
    if (Result<Message> m = DecodeMessage(bytes); m.ok() &&
                                                  std::holds_alternative<CancelJob>(m.value()) &&
                                                  std::get<CancelJob>(m.value()).job.value < 1000) {
      ++cancels;
      continue;
    }
    if (rng() % 50 == 0) {
      peer.SendFrames(bytes, Mutate(valid, rng));  // two frames: never ours
    } else {
      peer.SendBytes(bytes);
    }
    if (i % 100 == 0) {
      for (auto& p : peers) p->Drain();
      // Spread over the graph's run, so that messages arrive while steps
      // are dispatched, running and reporting.
      std::this_thread::sleep_for(milliseconds(5));
    }
  }
  MESSAGE("sent 10,000 messages in "
          << std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started)
                 .count()
          << " ms (" << cancels << " cancels of a real job left out)");
  job.CheckFinished();
  CheckServing(c);
  // Every peer still gets answers: a known client asks for status.
  RawPeer asker(ctx, c.endpoint());
  asker.Send(ClientHello{kProtocolVersion, "asker"});
  REQUIRE(std::holds_alternative<Welcome>(asker.Expect()));
  asker.Send(StatusRequest{});
  CHECK(std::holds_alternative<StatusReply>(asker.Expect()));
  // Logged once per peer, not once per message.
  const std::string log = c.BrokerLogs();
  size_t lines = 0;
  for (size_t at = log.find("logged once per peer"); at != std::string::npos;
       at = log.find("logged once per peer", at + 1)) {
    ++lines;
  }
  CHECK_MESSAGE(lines > 0, log.substr(0, 2000));
  MESSAGE(lines << " log lines about bad messages");
  CHECK_MESSAGE(lines < 100, lines);
}

}  // namespace
}  // namespace drover::testing
