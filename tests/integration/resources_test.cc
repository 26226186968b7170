// Resources with the real programs: workers declare them (`worker
// --resource`), steps ask for them (`resources` in the job file), and the
// broker places steps where the amounts are free; a step that nothing
// connected could run waits and says why. Each test builds its own cluster.

#include <doctest/doctest.h>

#include <set>
#include <string>

#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

using nlohmann::json;

TEST_CASE("3G steps run only on the 4G worker, never two at once") {
  Cluster c;
  c.AddWorker("big", 4, {}, {"--resource", "mem=4G"});
  c.AddWorker("small", 4, {}, {"--resource", "mem=1G"});
  json steps = json::array();
  for (int i = 0; i < 3; ++i) {
    steps.push_back({{"id", "m" + std::to_string(i)}, {"cmd", "sleep 0.3"}});
  }
  for (int i = 0; i < 4; ++i) {
    steps.push_back({{"id", "plain" + std::to_string(i)}, {"cmd", "true"}, {"resources", json::object()}});
  }
  const std::string job = c.dir().Write(
      "mem.json", json{{"defaults", {{"resources", {{"mem", "3G"}}}}}, {"steps", steps}}.dump());
  int code = -1;
  auto events = c.SubmitJson(job, &code);
  REQUIRE(code == 0);
  auto final = FinalStates(events);
  std::set<std::string> plain_workers;
  for (int i = 0; i < 3; ++i) {
    const json& m = final["m" + std::to_string(i)];
    CHECK(m["worker"] == "big");
    for (int k = 0; k < i; ++k) CHECK_FALSE(Overlapped(m, final["m" + std::to_string(k)]));
  }
  // Steps asking for nothing may go anywhere (and do: small was idle).
  for (int i = 0; i < 4; ++i) plain_workers.insert(final["plain" + std::to_string(i)]["worker"]);
  CHECK(plain_workers.count("small") == 1);
}

TEST_CASE("a 2-gpu worker runs two 1-gpu steps at once, each on its own device") {
  Cluster c;
  c.AddWorker("gpu", 4, {}, {"--resource", "gpus=0,1"});
  const std::string job = c.dir().Write("gpu.json", R"({
    "defaults": {"resources": {"gpus": 1}},
    "steps": [
      {"id": "a", "cmd": "echo cuda=$CUDA_VISIBLE_DEVICES drover=$DROVER_GPUS; sleep 0.5"},
      {"id": "b", "cmd": "echo cuda=$CUDA_VISIBLE_DEVICES drover=$DROVER_GPUS; sleep 0.5"},
      {"id": "cpu", "cmd": "echo cuda=[$CUDA_VISIBLE_DEVICES]", "resources": {}}
    ]})");
  int code = -1;
  auto events = c.SubmitJson(job, &code);
  REQUIRE(code == 0);
  auto final = FinalStates(events);
  CHECK(Overlapped(final["a"], final["b"]));
  std::set<std::string> seen;
  for (const json& e : EventsOf(events, "output")) seen.insert(e["data"].get<std::string>());
  CHECK(seen == std::set<std::string>{"cuda=0 drover=0\n", "cuda=1 drover=1\n", "cuda=[]\n"});
}

TEST_CASE("a step no worker can hold waits, says why, and runs once a worker has it") {
  Cluster c;
  c.AddWorker("small", 2, {}, {"--resource", "mem=4G"});
  const std::string job = c.dir().Write("big.json", R"({"steps": [
      {"id": "big", "cmd": "echo ran", "resources": {"mem": "8G"}}]})");
  Process submit({BinDir() + "/submit", job, "--broker", c.endpoint(), "--json"},
                 c.dir().path() + "/submit.out", c.dir().path() + "/submit.err", c.user_env());
  json waiting;
  REQUIRE(WaitUntil(std::chrono::seconds(20), [&] {
    for (const json& e : EventsOf(JsonLines(submit.out()), "step_waiting")) waiting = e;
    return !waiting.is_null();
  }));
  CHECK(waiting["step"] == "big");
  CHECK(waiting["reason"] == "no worker has mem 8G; largest is 4G");
  // `submit status` shows what the worker has.
  Run status = RunCommand({BinDir() + "/submit", "status", "--broker", c.endpoint()}, c.dir(),
                          std::chrono::seconds(30), c.user_env());
  CHECK(status.out.find("0/2 slots busy, mem 0/4G") != std::string::npos);
  CHECK(status.out.find("    waiting: big: no worker has mem 8G; largest is 4G\n") !=
        std::string::npos);
  c.AddWorker("huge", 1, {}, {"--resource", "mem=16G"});
  REQUIRE(submit.Wait(std::chrono::seconds(30)).has_value());
  CHECK(submit.ExitCode() == 0);
  auto final = FinalStates(JsonLines(submit.out()));
  CHECK(final["big"]["worker"] == "huge");
}

TEST_CASE("the embedded worker takes --resource, a step it can never run ends submit with 2") {
  TempDir dir;
  const std::string job = dir.Write("gpu.json", R"({"steps": [
      {"id": "train", "cmd": "echo on $CUDA_VISIBLE_DEVICES", "resources": {"gpus": 1}}]})");
  Run refused = RunCommand({BinDir() + "/submit", job}, dir, std::chrono::seconds(60));
  CHECK(refused.exit_code == 2);
  CHECK(refused.err.find("[train] waiting: no worker has gpus 1; none has any") !=
        std::string::npos);
  CHECK(refused.err.find("no other worker will join the embedded one") != std::string::npos);
  // Before the job file too: each option takes one value.
  Run ran = RunCommand({BinDir() + "/submit", "--resource", "gpus=1", "--label", "x", job}, dir,
                       std::chrono::seconds(60));
  CHECK(ran.exit_code == 0);
  CHECK(ran.out.find("[train] on 0\n") != std::string::npos);
  // With a broker, the options that describe the embedded worker are refused.
  Run mixed = RunCommand({BinDir() + "/submit", job, "--broker", "tcp://127.0.0.1:1",
                          "--resource", "gpus=1"},
                         dir, std::chrono::seconds(60));
  CHECK(mixed.exit_code == 2);
  CHECK(mixed.err.find("describe the embedded worker") != std::string::npos);
}

TEST_CASE("a worker refuses a --resource it cannot read, naming it") {
  TempDir dir;
  Run bad = RunCommand({BinDir() + "/worker", "--resource", "mem=lots", "--state-dir",
                        dir.path() + "/state"},
                       dir, std::chrono::seconds(30));
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("\"mem=lots\": expected a whole number") != std::string::npos);
}

}  // namespace
}  // namespace drover::testing
