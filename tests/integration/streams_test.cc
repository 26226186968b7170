// Streamed stdin_from with the real programs: a step reading another's
// stdout while both run, on two workers, as a shell pipe would across hosts.

#include <unistd.h>

#include <doctest/doctest.h>

#include <thread>

#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

json Stream(const std::string& step) { return {{"step", step}, {"stream", true}}; }

std::string StdoutOf(const std::vector<json>& events, const std::string& step) {
  std::string text;
  for (const json& e : EventsOf(events, "output")) {
    if (e.at("step") == step && e.at("stream") == "stdout") text += e.at("data").get<std::string>();
  }
  return text;
}

// The step_finished events of `step`, in order.
std::vector<json> Finished(const std::vector<json>& events, const std::string& step) {
  std::vector<json> out;
  for (const json& e : EventsOf(events, "step_finished")) {
    if (e.at("step") == step) out.push_back(e);
  }
  return out;
}

int Starts(const std::vector<json>& events, const std::string& step) {
  int n = 0;
  for (const json& e : EventsOf(events, "step_started")) n += e.at("step") == step;
  return n;
}

TEST_CASE("stream: yes | head -1 across two workers ends both, the producer by SIGPIPE") {
  Cluster c;
  c.AddWorker("w1", 1, {"w1"});
  c.AddWorker("w2", 1, {"w2"});
  json job = {{"steps",
               {{{"id", "produce"}, {"argv", {"yes", "drover"}}, {"requires", {"w1"}}},
                {{"id", "first"},
                 {"argv", {"head", "-1"}},
                 {"stdin_from", Stream("produce")},
                 {"requires", {"w2"}}}}}};
  Run run = c.Submit(c.dir().Write("job.json", job.dump()), {"--json", "--show", "first"});
  REQUIRE_MESSAGE(run.exit_code == 0, run.err << c.BrokerLogs());
  const std::vector<json> events = JsonLines(run.out);
  CHECK(StdoutOf(events, "first") == "drover\n");
  const std::vector<json> produced = Finished(events, "produce");
  REQUIRE(produced.size() == 1);
  CHECK(produced[0].at("state") == "succeeded");
  CHECK(produced[0].at("reason") == "its readers closed the pipe");
  CHECK(produced[0].at("signal") == 13);
}

TEST_CASE("stream: the reader runs while its producer does") {
  // The producer waits for a sign that the reader has read its first line:
  // were the reader started only after the producer ended, neither would.
  Cluster c;
  c.AddWorker("w1", 1, {"w1"});
  c.AddWorker("w2", 1, {"w2"});
  const std::string seen = c.dir().path() + "/seen";
  json job = {{"steps",
               {{{"id", "produce"},
                 {"cmd", "echo hello; while [ ! -e " + seen + " ]; do sleep 0.05; done; echo bye"},
                 {"timeout", 60},
                 {"requires", {"w1"}}},
                {{"id", "read"},
                 {"cmd", "read line; touch " + seen + "; echo \"got $line\"; cat"},
                 {"stdin_from", Stream("produce")},
                 {"timeout", 60},
                 {"requires", {"w2"}}}}}};
  Run run = c.Submit(c.dir().Write("job.json", job.dump()), {"--json", "--show", "read"});
  REQUIRE_MESSAGE(run.exit_code == 0, run.err << c.BrokerLogs());
  CHECK(StdoutOf(JsonLines(run.out), "read") == "got hello\nbye\n");
}

TEST_CASE("stream: a producer failing midway runs again, and so does its reader") {
  Cluster c;
  c.AddWorker("w1", 1, {"w1"});
  c.AddWorker("w2", 1, {"w2"});
  const std::string once = c.dir().path() + "/failed-once";
  // First attempt: part of the output, then a failure while its reader reads.
  json job = {{"steps",
               {{{"id", "produce"},
                 {"cmd", "if [ -e " + once + " ]; then seq 1 100000; else touch " + once +
                             "; seq 1 500; sleep 1; exit 3; fi"},
                 {"retries", 1},
                 {"requires", {"w1"}}},
                {{"id", "count"},
                 {"cmd", "wc -l"},
                 {"stdin_from", Stream("produce")},
                 {"requires", {"w2"}}}}}};
  Run run = c.Submit(c.dir().Write("job.json", job.dump()), {"--json", "--show", "count"});
  REQUIRE_MESSAGE(run.exit_code == 0, run.err << c.BrokerLogs());
  const std::vector<json> events = JsonLines(run.out);
  // Only the second attempt's lines were counted, all of them.
  CHECK(StdoutOf(events, "count") == "100000\n");
  CHECK(Starts(events, "produce") == 2);
  CHECK(Starts(events, "count") == 2);
  const std::vector<json> counted = Finished(events, "count");
  REQUIRE(counted.size() == 2);
  CHECK(counted[0].at("state") == "waiting");
  CHECK(counted[0].at("retrying") == true);
  CHECK(counted[0].at("reason").get<std::string>().find("went away") != std::string::npos);
  CHECK(counted[1].at("state") == "succeeded");
}

TEST_CASE("stream: a producer failing for good skips its reader, and the job fails") {
  Cluster c;
  c.AddWorker("w1", 2);
  json job = {{"steps",
               {{{"id", "produce"}, {"cmd", "seq 1 10; sleep 0.5; exit 4"}},
                {{"id", "count"}, {"cmd", "wc -l"}, {"stdin_from", Stream("produce")}}}}};
  Run run = c.Submit(c.dir().Write("job.json", job.dump()), {"--json"});
  CHECK(run.exit_code != 0);
  const std::vector<json> events = JsonLines(run.out);
  const std::vector<json> counted = Finished(events, "count");
  REQUIRE_FALSE(counted.empty());
  CHECK(counted.back().at("state") == "skipped");
}

TEST_CASE("stream: a producer whose only reader was skipped before it started is closed") {
  // One slot: `gate` fails first, which skips `first` once `produce` has
  // started; the close and the producer's dispatch leave in one turn, and
  // must reach the worker in that order, or `yes` runs for ever.
  Cluster c;
  c.AddWorker("w1", 1);
  json job = {{"steps",
               {{{"id", "gate"}, {"cmd", "exit 1"}},
                {{"id", "produce"}, {"argv", {"yes"}}, {"timeout", 60}},
                {{"id", "first"},
                 {"argv", {"head", "-1"}},
                 {"after", {"gate"}},
                 {"stdin_from", Stream("produce")}}}}};
  Run run = c.Submit(c.dir().Write("job.json", job.dump()), {"--json", "--quiet"});
  CHECK(run.exit_code == 1);
  const std::vector<json> events = JsonLines(run.out);
  const std::vector<json> produced = Finished(events, "produce");
  REQUIRE(produced.size() == 1);
  CHECK(produced[0].at("state") == "succeeded");
  CHECK(produced[0].at("reason") == "its readers closed the pipe");
  CHECK(Finished(events, "first").back().at("state") == "skipped");
}

TEST_CASE("stream: a broker killed mid-stream loses and doubles nothing") {
  Cluster c;
  c.AddWorker("w1", 1, {"w1"});
  c.AddWorker("w2", 1, {"w2"});
  // About 30 MB in bursts over 3 s, read as it comes.
  const std::string produce =
      "for i in $(seq 0 29); do seq $((i*400000+1)) $((i*400000+400000)); sleep 0.1; done";
  const std::string marker = c.dir().path() + "/reading";
  json job = {{"name", "streamed"},
              {"steps",
               {{{"id", "produce"}, {"cmd", produce}, {"requires", {"w1"}}},
                {{"id", "hash"},
                 {"cmd", "touch " + marker + "; sha256sum"},
                 {"stdin_from", Stream("produce")},
                 {"requires", {"w2"}}}}}};
  Run detached = c.Submit(c.dir().Write("job.json", job.dump()), {"--detach"});
  REQUIRE_MESSAGE(detached.exit_code == 0, detached.err);
  std::string id = detached.out;
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  REQUIRE(WaitUntil(seconds(60), [&] { return access(marker.c_str(), F_OK) == 0; }));
  std::this_thread::sleep_for(milliseconds(800));
  c.KillBroker();
  std::this_thread::sleep_for(milliseconds(300));
  c.RestartBroker();
  Run watched = RunCommand(
      {BinDir() + "/submit", "--watch", id, "--broker", c.endpoint(), "--json", "--show", "hash"},
      c.dir());
  REQUIRE_MESSAGE(watched.exit_code == 0, watched.err << c.BrokerLogs());
  const std::vector<json> events = JsonLines(watched.out);
  Run expected = RunCommand({"/bin/sh", "-c", produce + " | sha256sum"}, c.dir());
  CHECK(StdoutOf(events, "hash") == expected.out);
  CHECK(Starts(events, "hash") == 1);
  CHECK(Starts(events, "produce") == 1);
}

}  // namespace
}  // namespace drover::testing
