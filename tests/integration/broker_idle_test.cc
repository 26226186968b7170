// An idle broker sleeps: whatever its last turns did (here a snapshot taken
// right after a step's result, which once left a group-commit deadline in
// the past and the loop spinning), it uses next to no CPU while nothing
// happens.
#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

// utime + stime of `pid`, in clock ticks (/proc/PID/stat fields 14 and 15).
long CpuTicks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces; count fields after its ')'.
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}

TEST_CASE("an idle broker sleeps after a snapshot taken right after a result") {
  // --snapshot-mb 1 and a 2 MiB job file: the snapshot is due in the turn
  // that journals the step's result (the job is over, so it holds no state).
  Cluster c({.broker_args = {"--snapshot-mb", "1"}});
  c.AddWorker("w1", 1);
  const std::string job = R"({"steps": [{"id": "eat", "cmd": "cat > /dev/null", "stdin": ")" +
                          std::string(2 << 20, 'x') + R"("}]})";
  Run run = c.Submit(c.dir().Write("big.json", job));
  REQUIRE_MESSAGE(run.exit_code == 0, run.err);
  REQUIRE(WaitUntil(std::chrono::seconds(10), [&] {
    return c.BrokerLogs().find("snapshot: 0 running") != std::string::npos;
  }));
  const long before = CpuTicks(c.broker().pid());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const long used = CpuTicks(c.broker().pid()) - before;
  // A spinning loop uses the whole 2 s (about 200 ticks); an idle broker
  // wakes for heartbeats only.
  CHECK_MESSAGE(used < 50, "the broker used " << used << " ticks of CPU in 2 s idle");
}

}  // namespace
}  // namespace drover::testing
