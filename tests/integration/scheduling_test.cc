// Scheduling with the real programs: no worker sits idle while a step waits
// in another worker's queue. Each test builds its own cluster in a temp dir.

#include <doctest/doctest.h>

#include <string>

#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

using nlohmann::json;

// The diamond of the README, with a few instant steps beside it that keep
// the workers busy for a moment while the middle steps become ready.
const char* kDiamond = R"({
  "name": "diamond",
  "steps": [
    {"id": "gen", "cmd": "echo gen"},
    {"id": "left", "after": ["gen"], "cmd": "sleep 0.5"},
    {"id": "right", "after": ["gen"], "cmd": "sleep 0.5"},
    {"id": "join", "after": ["left", "right"], "cmd": "echo join"},
    {"id": "x1", "argv": ["true"]},
    {"id": "x2", "argv": ["true"]},
    {"id": "x3", "argv": ["true"]}
  ]
})";

// `n` independent instant steps: afterwards both workers' steps have proved
// short, so their prefetch queues are open (the case that used to strand a
// long step behind another).
std::string WarmUp(const TempDir& dir, int n) {
  json steps = json::array();
  for (int i = 0; i < n; ++i) steps.push_back({{"id", "w" + std::to_string(i)}, {"argv", {"true"}}});
  return dir.Write("warm.json", json{{"name", "warm-up"}, {"steps", steps}}.dump());
}

void CheckDiamondInParallel(Cluster& c, const std::string& job) {
  int code = -1;
  auto events = c.SubmitJson(job, &code);
  REQUIRE(code == 0);
  auto final = FinalStates(events);
  CAPTURE(final["left"].dump());
  CAPTURE(final["right"].dump());
  CHECK(final["left"]["worker"] != final["right"]["worker"]);
  CHECK(Overlapped(final["left"], final["right"]));
}

TEST_CASE("the diamond's middle steps run at once on two one-slot workers, warm or cold") {
  Cluster c;
  c.AddWorker("a", 1);
  c.AddWorker("b", 1);
  const std::string diamond = c.dir().Write("diamond.json", kDiamond);
  CheckDiamondInParallel(c, diamond);
  const std::string warm = WarmUp(c.dir(), 200);
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    REQUIRE(c.Submit(warm).exit_code == 0);
    CheckDiamondInParallel(c, diamond);
  }
}

TEST_CASE("a long step queued behind another moves to a worker that frees up, and runs once") {
  Cluster c;
  c.AddWorker("a", 1);
  // b queues nothing beyond its slot, so that only a's queue can hold a step.
  c.AddWorker("b", 1, {}, {"--prefetch", "0"});
  REQUIRE(c.Submit(WarmUp(c.dir(), 200)).exit_code == 0);
  // long1 goes to a, blocker to b, and long2 (no worker idle) into a's
  // queue behind long1. When blocker ends, b is idle with nothing ready:
  // long2 must be taken back from a and run on b.
  const std::string runs = c.dir().path() + "/runs";
  const std::string job = c.dir().Write("long.json", json{
      {"name", "stranded"},
      {"steps", {
          {{"id", "long1"}, {"cmd", "echo long1 >> " + runs + "; sleep 2"}},
          {{"id", "blocker"}, {"cmd", "echo blocker >> " + runs + "; sleep 0.3"}},
          {{"id", "long2"}, {"cmd", "echo long2 >> " + runs + "; sleep 1"}},
      }}}.dump());
  int code = -1;
  auto events = c.SubmitJson(job, &code);
  REQUIRE(code == 0);
  auto final = FinalStates(events);
  CAPTURE(final["long2"].dump());
  CHECK(final["long1"]["worker"] == "a");
  CHECK(final["long2"]["worker"] == "b");
  CHECK(Overlapped(final["long1"], final["long2"]));
  // Each step ran exactly once.
  CHECK(ReadFile(runs).size() == std::string("long1\nblocker\nlong2\n").size());
  size_t long2_runs = 0;
  for (size_t at = 0; (at = ReadFile(runs).find("long2", at)) != std::string::npos; ++at) {
    ++long2_runs;
  }
  CHECK(long2_runs == 1);
  // Its first attempt, on a, was given back unstarted; the second ran.
  bool given_back = false;
  for (const json& e : EventsOf(events, "step_finished")) {
    if (e["step"] != "long2" || e["attempt"] != 1) continue;
    given_back = e["outcome"] == "retracted" && e["retrying"] == true && e["worker"] == "a";
  }
  CHECK(given_back);
  CHECK(final["long2"]["attempt"] == 2);
}

}  // namespace
}  // namespace drover::testing
