// Keys end to end (docs/security.md): a broker with --key-dir lets in only
// the keys on its lists, each only in its role, drops a key taken off a
// list while it is connected, and runs graphs as before. Without keys it
// will not listen where other machines can reach it unless told --insecure.

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <set>
#include <thread>
#include <zmq.hpp>

#include "shared/codec.h"
#include "shared/keys.h"
#include "shared/transport.h"
#include "tests/integration/harness.h"
#include "tests/integration/raw_peer.h"

namespace drover::testing {
namespace {

using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// A raw CURVE client speaking the protocol with key pair `base`.
RawPeer KeyedPeer(const Cluster& c, const std::string& base) {
  Result<std::optional<ClientKeys>> keys =
      LoadClientKeys(base + ".key", c.key_dir() + "/broker.pub");
  REQUIRE(keys.ok());
  REQUIRE(keys.value().has_value());
  return RawPeer(c.endpoint(), &**keys);
}

ErrorReply ExpectError(std::optional<Message> msg) {
  REQUIRE(msg.has_value());
  REQUIRE(std::holds_alternative<ErrorReply>(*msg));
  return std::get<ErrorReply>(*msg);
}

const char* kDiamond = R"({"name": "diamond", "steps": [
  {"id": "a", "argv": ["echo", "top"]},
  {"id": "b", "after": ["a"], "cmd": "echo left; sleep 0.3"},
  {"id": "c", "after": ["a"], "cmd": "echo right; sleep 0.3"},
  {"id": "d", "after": ["b", "c"], "argv": ["echo", "bottom"]}]})";

}  // namespace

TEST_CASE("with keys, a graph runs across a broker, two workers and submit") {
  Cluster c({.keys = true});
  c.AddWorker("alpha", 1);
  c.AddWorker("beta", 1);
  int exit_code = -1;
  auto events = c.SubmitJson(c.dir().Write("diamond.json", kDiamond), &exit_code);
  CHECK(exit_code == 0);
  auto finals = FinalStates(events);
  REQUIRE(finals.size() == 4);
  std::set<std::string> workers;
  for (const auto& [step, e] : finals) {
    CHECK(e.at("state") == "succeeded");
    workers.insert(e.at("worker").get<std::string>());
  }
  CHECK(workers == std::set<std::string>{"alpha", "beta"});  // b and c ran side by side
  // The broker made its own key pair, secret kept to itself.
  struct stat st {};
  REQUIRE(stat((c.key_dir() + "/broker.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("with keys, an unknown key or no key is refused at once, clearly") {
  Cluster c({.keys = true});
  const std::string job =
      c.dir().Write("one.json", R"({"steps": [{"id": "a", "argv": ["true"]}]})");
  const std::string stranger = c.MakeKey("stranger");
  const auto started = Clock::now();
  Run r = RunCommand({BinDir() + "/submit", job, "--broker", c.endpoint()}, c.dir(), seconds(60),
                     c.KeyEnv(stranger));
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("refused this key") != std::string::npos);
  CHECK(Clock::now() - started < seconds(5));  // refused, not waited out
  // No key at all: told the broker wants one.
  Run none =
      RunCommand({BinDir() + "/submit", job, "--broker", c.endpoint()}, c.dir(), seconds(60));
  INFO(none.err);
  CHECK(none.exit_code == 2);
  CHECK(none.err.find("give this client --key and --broker-key") != std::string::npos);
  // The wrong broker key (the user's own public key): the handshake fails.
  Run wrong = RunCommand({BinDir() + "/submit", job, "--broker", c.endpoint(), "--key",
                          stranger + ".key", "--broker-key", stranger + ".pub"},
                         c.dir(), seconds(60));
  CHECK(wrong.exit_code == 2);
  CHECK(wrong.err.find("--broker-key") != std::string::npos);
  // An unknown worker never joins, and says why.
  Process intruder({BinDir() + "/worker", "--broker", c.endpoint(), "--name", "intruder",
                    "--state-dir", c.dir().path() + "/intruder-state"},
                   c.dir().path() + "/intruder.out", c.dir().path() + "/intruder.err",
                   c.KeyEnv(stranger));
  CHECK(WaitUntil(seconds(20),
                  [&] { return intruder.err().find("refused this key") != std::string::npos; }));
  CHECK(intruder.running());  // it keeps trying, with its backoff
  Run status = RunCommand({BinDir() + "/submit", "status", "--broker", c.endpoint()}, c.dir(),
                          seconds(30), c.user_env());
  CHECK(status.out.starts_with("0 worker(s)"));
  CHECK(c.broker().err().find("is on no allow-list") != std::string::npos);
}

TEST_CASE("with keys, a worker key cannot submit and a submitter key cannot be a worker") {
  Cluster c({.keys = true});
  const std::string worker = c.dir().path() + "/worker", user = c.dir().path() + "/user";
  // submit with the workers' key.
  const std::string job =
      c.dir().Write("one.json", R"({"steps": [{"id": "a", "argv": ["true"]}]})");
  Run r = RunCommand({BinDir() + "/submit", job, "--broker", c.endpoint()}, c.dir(), seconds(60),
                     c.KeyEnv(worker));
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("this key may act only as worker") != std::string::npos);
  {
    // Message by message: the worker key is refused each client message.
    RawPeer peer = KeyedPeer(c, worker);
    peer.Send(WorkerHello{kProtocolVersion, "w", "h", 1, {}, 1, 0, "w-raw", "", {}});
    REQUIRE(std::holds_alternative<Welcome>(*peer.Receive()));
    peer.Send(SubmitJob{Blob{"{}"}, false, ""});
    CHECK(ExpectError(peer.Receive()).code == ErrorCode::kWrongRole);
    peer.Send(CancelJob{JobId(1)});
    CHECK(ExpectError(peer.Receive()).code == ErrorCode::kWrongRole);
    peer.Send(StatusRequest{});
    CHECK(ExpectError(peer.Receive()).code == ErrorCode::kWrongRole);
    // Gone for good: else the job below may go to this worker, and wait out
    // its lease (30 s) once it falls silent.
    peer.Send(Goodbye{});
  }
  {
    // And the submitter key each worker message.
    RawPeer peer = KeyedPeer(c, user);
    peer.Send(WorkerHello{kProtocolVersion, "w", "h", 1, {}, 1, 0, "u-raw", "", {}});
    const ErrorReply e = ExpectError(peer.Receive());
    CHECK(e.code == ErrorCode::kWrongRole);
    CHECK(e.message == "this key may act only as submitter, and this message is a worker's");
    peer.Send(ClientHello{kProtocolVersion, "tester"});
    REQUIRE(std::holds_alternative<Welcome>(*peer.Receive()));
    peer.Send(TaskResults{{TaskResult{{JobId(1), StepIndex(0), Attempt(1)}, RunResult{}}}});
    CHECK(ExpectError(peer.Receive()).code == ErrorCode::kWrongRole);
  }
  // A real worker started with the submitter's key never joins.
  Process worker_proc({BinDir() + "/worker", "--broker", c.endpoint(), "--name", "imposter",
                       "--state-dir", c.dir().path() + "/imposter-state"},
                      c.dir().path() + "/imposter.out", c.dir().path() + "/imposter.err",
                      c.KeyEnv(user));
  CHECK(WaitUntil(seconds(20), [&] {
    return worker_proc.err().find("this key may act only as submitter") != std::string::npos;
  }));
  Run status = RunCommand({BinDir() + "/submit", "status", "--broker", c.endpoint()}, c.dir(),
                          seconds(30), c.user_env());
  CHECK(status.exit_code == 0);
  CHECK(status.out.find("imposter") == std::string::npos);
  // The real roles still work.
  c.AddWorker("alpha", 1);
  CHECK(c.Submit(job).exit_code == 0);
}

TEST_CASE("with keys, a key taken off its list stops working at once, and comes back when added") {
  Cluster c({.keys = true});
  Process& worker = c.AddWorker("alpha", 1);
  RawPeer peer = KeyedPeer(c, c.dir().path() + "/user");
  peer.Send(ClientHello{kProtocolVersion, "tester"});
  REQUIRE(std::holds_alternative<Welcome>(*peer.Receive()));
  peer.Send(StatusRequest{});
  REQUIRE(std::holds_alternative<StatusReply>(*peer.Receive()));

  // And a submit following a job.
  Process follower({BinDir() + "/submit",
                    c.dir().Write("long.json", R"({"steps": [{"id": "a", "cmd": "sleep 6"}]})"),
                    "--broker", c.endpoint()},
                   c.dir().path() + "/follower.out", c.dir().path() + "/follower.err",
                   c.user_env());
  REQUIRE(WaitUntil(seconds(20), [&] {
    Run s = RunCommand({BinDir() + "/submit", "status", "--broker", c.endpoint()}, c.dir(),
                       seconds(30), c.user_env());
    return s.out.find("1 running") != std::string::npos;
  }));

  // Take both keys off (the files are reread when they change).
  const std::string workers_list = ReadFile(c.key_dir() + "/workers.allow");
  c.dir().Write("keys/submitters.allow", "# nobody\n");
  c.dir().Write("keys/workers.allow", "# nobody\n");
  const ErrorReply e = ExpectError(peer.Receive(seconds(20)));
  CHECK(e.code == ErrorCode::kForbidden);
  CHECK(e.message.find("taken off") != std::string::npos);
  // Nothing it sends is heeded any more.
  peer.Send(StatusRequest{});
  CHECK(ExpectError(peer.Receive(seconds(20))).code == ErrorCode::kForbidden);
  // The follower stops at once, saying why (its job goes on).
  REQUIRE(follower.Wait(seconds(20)).has_value());
  CHECK(follower.ExitCode() == 2);
  CHECK(follower.err().find("refused this client: this key was taken off") != std::string::npos);
  // The worker is told, and cannot get back in.
  CHECK(WaitUntil(seconds(20),
                  [&] { return worker.err().find("refused this key") != std::string::npos; }));
  CHECK(worker.err().find("taken off the broker's workers allow-list") != std::string::npos);
  CHECK(c.broker().err().find("dropped worker alpha") != std::string::npos);

  // Back on the lists (and a SIGHUP, the other way to reload): both work again.
  c.dir().Write("keys/workers.allow", workers_list);
  c.dir().Write("keys/submitters.allow", ReadFile(c.dir().path() + "/user.pub"));
  c.broker().Signal(SIGHUP);
  c.WaitForWorkers(1);  // the worker's backoff brings it back
  CHECK(c.Submit(c.dir().Write("one.json", R"({"steps": [{"id": "a", "argv": ["echo", "back"]}]})"))
            .out == "[a] back\n");
}

TEST_CASE("with keys, a worker whose key is removed loses its steps by the lease, not at once") {
  Cluster c({.keys = true});
  Process& alpha = c.AddWorker("alpha", 1);  // the cluster's worker key
  const std::string beta_key = c.MakeKey("beta");
  const std::string beta_line = ReadFile(beta_key + ".pub");
  c.dir().Write("keys/workers.allow", ReadFile(c.key_dir() + "/workers.allow") + beta_line);
  Run detached = c.Submit(
      // Long on alpha (which must stop it), short where it runs again.
      c.dir().Write("slow.json", R"({"lease": 3, "steps": [{"id": "slow",
          "cmd": "if [ \"$DROVER_WORKER\" = alpha ]; then sleep 30; fi"}]})"),
      {"--detach"});
  REQUIRE(detached.exit_code == 0);
  const std::string job = detached.out.substr(0, detached.out.find('\n'));
  CHECK(WaitUntil(seconds(20), [&] {
    Run s = RunCommand({BinDir() + "/submit", "status", "--broker", c.endpoint()}, c.dir(),
                       seconds(30), c.user_env());
    return s.out.find("1 running") != std::string::npos;
  }));
  Process beta({BinDir() + "/worker", "--broker", c.endpoint(), "--name", "beta", "--kill-grace",
                "1", "--state-dir", c.dir().path() + "/beta-state"},
               c.dir().path() + "/beta.out", c.dir().path() + "/beta.err", c.KeyEnv(beta_key));
  c.WaitForWorkers(2);
  const auto removed = Clock::now();
  c.dir().Write("keys/workers.allow", beta_line);  // alpha's key is gone
  CHECK(WaitUntil(seconds(20), [&] {
    return alpha.err().find("taken off the broker's workers allow-list") != std::string::npos;
  }));
  Run watch = RunCommand({BinDir() + "/submit", "--watch", job, "--json", "--broker", c.endpoint()},
                         c.dir(), seconds(60), c.user_env());
  INFO(watch.err << c.BrokerLogs() << alpha.err());
  CHECK(watch.exit_code == 0);
  const auto events = JsonLines(watch.out);
  auto finals = FinalStates(events);
  REQUIRE(finals.count("slow") == 1);
  CHECK(finals["slow"].at("state") == "succeeded");
  CHECK(finals["slow"].at("worker") == "beta");
  CHECK(finals["slow"].at("attempt") == 2);
  bool lost = false;
  for (const auto& e : EventsOf(events, "step_finished")) {
    lost = lost || (e.at("attempt") == 1 && e.at("outcome") == "lost");
  }
  CHECK(lost);
  // Not before the lease (3 s) had run out: alpha might still have run it.
  CHECK(Clock::now() - removed >= std::chrono::milliseconds(2500));
  CHECK(alpha.err().find("stopping") != std::string::npos);  // it stopped its child in time
}

TEST_CASE("allow-list errors name file:line, a bad reload keeps the lists in force") {
  Cluster c({.keys = true});
  c.AddWorker("alpha", 1);
  c.dir().Write("keys/submitters.allow", ReadFile(c.dir().path() + "/user.pub") + "not-a-key\n");
  c.broker().Signal(SIGHUP);
  CHECK(WaitUntil(seconds(20), [&] {
    return c.broker().err().find("submitters.allow:2: expected a public key") != std::string::npos;
  }));
  CHECK(c.broker().err().find("the lists in force stay") != std::string::npos);
  CHECK(c.Submit(c.dir().Write("one.json", R"({"steps": [{"id": "a", "argv": ["true"]}]})"))
            .exit_code == 0);
  // At start, the same error stops the broker.
  c.KillBroker();
  Process& again = c.RestartBroker();
  REQUIRE(again.Wait(seconds(20)).has_value());
  CHECK(again.ExitCode() == 1);
  CHECK(again.err().find("submitters.allow:2: expected a public key") != std::string::npos);
}

TEST_CASE("without keys the broker listens beyond loopback only with --insecure, warning") {
  TempDir dir;
  const std::string bind = "tcp://0.0.0.0:" + std::to_string(FreePort());
  Run refused = RunCommand({BinDir() + "/broker", "--bind", bind, "--state-dir", dir.path() + "/s"},
                           dir, seconds(30));
  CHECK(refused.exit_code == 2);
  CHECK(refused.err.find("refusing to listen on " + bind + " without keys") != std::string::npos);
  Process insecure(
      {BinDir() + "/broker", "--bind", bind, "--state-dir", dir.path() + "/s", "--insecure"},
      dir.path() + "/b.out", dir.path() + "/b.err");
  CHECK(WaitUntil(seconds(20),
                  [&] { return insecure.err().find("listening on") != std::string::npos; }));
  CHECK(insecure.err().find("INSECURE: listening on " + bind + " without keys") !=
        std::string::npos);
  CHECK(insecure.running());
}

TEST_CASE("the embedded default needs no keys, even with DROVER_KEY set for a real broker") {
  Cluster c({.keys = true});  // for its key files only
  const std::string job =
      c.dir().Write("one.json", R"({"steps": [{"id": "a", "argv": ["echo", "local"]}]})");
  Run r = RunCommand({BinDir() + "/submit", job}, c.dir(), seconds(60), c.user_env());
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "[a] local\n");
}

}  // namespace drover::testing
