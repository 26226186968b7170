// stdin_from with the real programs: a step's stdout reaching the step that
// reads it whole and exactly once, across workers and broker restarts.

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <thread>

#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using nlohmann::json;

// A command printing the numbers 1 to chunks*per_chunk, one per line, in
// `chunks` bursts a little apart, so that a test can strike while it runs.
std::string SlowSeq(int chunks, int per_chunk, double pause_s) {
  return "for i in $(seq 0 " + std::to_string(chunks - 1) + "); do seq $((i*" +
         std::to_string(per_chunk) + "+1)) $((i*" + std::to_string(per_chunk) + "+" +
         std::to_string(per_chunk) + ")); sleep " + std::to_string(pause_s) + "; done";
}

std::string Sha256Of(const std::string& command, const TempDir& dir) {
  Run r = RunCommand({"/bin/sh", "-c", command + " | sha256sum"}, dir);
  REQUIRE(r.exit_code == 0);
  return r.out.substr(0, 64);
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

std::string TrimmedLine(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

TEST_CASE("stdin_from: a broker killed while the producer prints loses and doubles nothing") {
  // The worker sends again, after the restart, what the broker had not yet
  // acknowledged, some of which the broker had already written: the
  // capture and the event log must each hold every byte once.
  Cluster c;
  c.AddWorker("w1", 1, {"w1"});
  c.AddWorker("w2", 1, {"w2"});
  const int chunks = 60;
  const int per_chunk = 50000;  // 60 x 50,000 numbers: 3,000,000 lines, 20.9 MB
  const std::string produce = SlowSeq(chunks, per_chunk, 0.05);
  json job = {{"name", "pipe"},
              {"steps",
               {{{"id", "produce"}, {"cmd", produce}, {"requires", {"w1"}}},
                {{"id", "hash"},
                 {"cmd", "sha256sum"},
                 {"stdin_from", "produce"},
                 {"requires", {"w2"}}}}}};
  Run detached = c.Submit(c.dir().Write("job.json", job.dump()), {"--detach"});
  REQUIRE_MESSAGE(detached.exit_code == 0, detached.err);
  const std::string id = TrimmedLine(detached.out);

  // Strike once a few MiB of it are kept, well before it ends.
  const std::string capture = c.dir().path() + "/state/spool/" + id + ".stdout.0";
  REQUIRE(WaitUntil(seconds(60), [&] { return FileSize(capture) >= (6u << 20); }));
  c.KillBroker();
  std::this_thread::sleep_for(milliseconds(300));  // the worker keeps printing meanwhile
  c.RestartBroker();

  Run watched = RunCommand(
      {BinDir() + "/submit", "--watch", id, "--broker", c.endpoint(), "--json", "--show", "hash"},
      c.dir());
  REQUIRE_MESSAGE(watched.exit_code == 0, watched.err << c.BrokerLogs());
  std::string hashed;
  for (const json& e : EventsOf(JsonLines(watched.out), "output")) {
    if (e.at("step") == "hash") hashed += e.at("data").get<std::string>();
  }
  const std::string expected = Sha256Of(produce, c.dir());
  CHECK_MESSAGE(hashed.substr(0, 64) == expected, "the consumer read other bytes\n"
                                                      << c.BrokerLogs());

  // The producer's log too: every line once, in order.
  Run logs = RunCommand(
      {BinDir() + "/submit", "logs", id, "produce", "--broker", c.endpoint()}, c.dir());
  REQUIRE(logs.exit_code == 0);
  const std::vector<std::string> lines = Lines(logs.out);
  CHECK(lines.size() == static_cast<size_t>(chunks) * per_chunk);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i] != std::to_string(i + 1)) {
      FAIL("line " << i + 1 << " of the producer's log is \"" << lines[i] << "\"");
      break;
    }
  }
}

// The consumer's output in `submit --watch --json` events.
std::string OutputOfStep(const std::string& events, const std::string& step) {
  std::string text;
  for (const json& e : EventsOf(JsonLines(events), "output")) {
    if (e.at("step") == step) text += e.at("data").get<std::string>();
  }
  return text;
}

TEST_CASE("stdin_from: 190 MB from a step on one worker to one on another arrives whole") {
  // Far past what a dispatch may carry: it streams from the broker's spool
  // while broker and workers hold a bounded part of it.
  Cluster c;
  Process& w1 = c.AddWorker("w1", 1, {"w1"});
  Process& w2 = c.AddWorker("w2", 1, {"w2"});
  const std::string produce = "seq 1 25000000";  // 188,888,898 bytes
  json job = {{"name", "big-pipe"},
              {"steps",
               {{{"id", "produce"}, {"cmd", produce}, {"requires", {"w1"}}},
                {{"id", "hash"},
                 {"cmd", "sha256sum; wc -c"},
                 {"stdin_from", "produce"},
                 {"requires", {"w2"}}}}}};
  Run run = c.Submit(c.dir().Write("job.json", job.dump()), {"--json", "--show", "hash"});
  REQUIRE_MESSAGE(run.exit_code == 0, run.err << c.BrokerLogs());
  const std::string hashed = OutputOfStep(run.out, "hash");
  CHECK(hashed.substr(0, 64) == Sha256Of(produce, c.dir()));
  // `wc -c` got nothing: sha256sum read it all, to its end.
  CHECK(hashed.substr(hashed.size() - 2) == "0\n");
  // Bounded: nowhere near the 189 MB that went through.
  CHECK(c.broker().PeakRssKb() < 120 * 1024);
  CHECK(w1.PeakRssKb() < 120 * 1024);
  CHECK(w2.PeakRssKb() < 120 * 1024);
}

TEST_CASE("stdin_from: a broker killed while it streams a step's stdin resumes where it was") {
  Cluster c;
  c.AddWorker("w1", 1, {"w1"});
  c.AddWorker("w2", 1, {"w2"});
  const std::string produce = "seq 1 12000000";  // 86.9 MB
  // A slow reader (about 40 MB/s), which says when it starts.
  const std::string marker = c.dir().path() + "/consuming";
  const std::string consume =
      "/usr/bin/python3 -c 'import hashlib, sys, time\n"
      "open(sys.argv[1], \"w\").close()\n"
      "h = hashlib.sha256()\n"
      "while True:\n"
      "    b = sys.stdin.buffer.read(262144)\n"
      "    if not b: break\n"
      "    h.update(b); time.sleep(0.006)\n"
      "print(h.hexdigest())' " + marker;
  json job = {{"name", "pipe"},
              {"steps",
               {{{"id", "produce"}, {"cmd", produce}, {"requires", {"w1"}}},
                {{"id", "hash"},
                 {"cmd", consume},
                 {"stdin_from", "produce"},
                 {"requires", {"w2"}}}}}};
  Run detached = c.Submit(c.dir().Write("job.json", job.dump()), {"--detach"});
  REQUIRE_MESSAGE(detached.exit_code == 0, detached.err);
  const std::string id = TrimmedLine(detached.out);
  REQUIRE(WaitUntil(seconds(60), [&] { return access(marker.c_str(), F_OK) == 0; }));
  std::this_thread::sleep_for(milliseconds(700));
  c.KillBroker();
  std::this_thread::sleep_for(milliseconds(300));
  c.RestartBroker();
  Run watched = RunCommand(
      {BinDir() + "/submit", "--watch", id, "--broker", c.endpoint(), "--json", "--show", "hash"},
      c.dir());
  REQUIRE_MESSAGE(watched.exit_code == 0, watched.err << c.BrokerLogs());
  CHECK(OutputOfStep(watched.out, "hash").substr(0, 64) == Sha256Of(produce, c.dir()));
  // It ran once: the restart took nothing from it.
  int started = 0;
  for (const json& e : EventsOf(JsonLines(watched.out), "step_started")) {
    if (e.at("step") == "hash") ++started;
  }
  CHECK(started == 1);
}

}  // namespace
}  // namespace drover::testing
