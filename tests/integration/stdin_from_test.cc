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

}  // namespace
}  // namespace drover::testing
