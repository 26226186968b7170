// Array steps end to end: a sweep (`each`) runs every element with its own
// parameters on real workers, and an array's outputs reach a step through
// stdin_from in index order, whatever order the elements finished in.

#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

using std::chrono::seconds;

// The concatenated output of each step, by id.
std::map<std::string, std::string> OutputsByStep(const std::vector<nlohmann::json>& events) {
  std::map<std::string, std::string> out;
  for (const auto& e : EventsOf(events, "output")) {
    if (e.value("stream", "stdout") == "stdout") {
      out[e["step"].get<std::string>()] += e["data"].get<std::string>();
    }
  }
  return out;
}

TEST_CASE("a 2x3 sweep runs each element with its parameters on two workers") {
  Cluster c;
  c.AddWorker("alpha", 2);
  c.AddWorker("beta", 2);
  const std::string job = c.dir().Write("sweep.json", R"({"steps": [
    {"id": "sim", "each": {"a": ["x", 0.5], "b": {"range": [1, 7, 2]}},
     "cmd": "sleep 0.3; echo {a}-{b}-{index} $DROVER_PARAM_A $DROVER_PARAM_B $DROVER_INDEX",
     "env": {"TAG": "t{b}"}},
    {"id": "done", "after": ["sim"], "cmd": "echo all $TAG."}
  ]})");
  int code = -1;
  const auto events = c.SubmitJson(job, &code);
  CHECK(code == 0);
  auto final = FinalStates(events);
  REQUIRE(final.size() == 7);
  const auto outputs = OutputsByStep(events);
  const std::vector<std::string> expected = {"x-1-0 x 1 0\n",     "x-3-1 x 3 1\n",
                                             "x-5-2 x 5 2\n",     "0.5-1-3 0.5 1 3\n",
                                             "0.5-3-4 0.5 3 4\n", "0.5-5-5 0.5 5 5\n"};
  std::set<std::string> workers;
  for (size_t i = 0; i < expected.size(); ++i) {
    const std::string id = "sim[" + std::to_string(i) + "]";
    CAPTURE(id);
    CHECK(final[id]["state"] == "succeeded");
    CHECK(outputs.count(id) == 1);
    if (outputs.count(id)) CHECK(outputs.at(id) == expected[i]);
    workers.insert(final[id]["worker"].get<std::string>());
    // `after: ["sim"]` waits for every element.
    CHECK(final["done"]["started_ms"] >= final[id]["ended_ms"]);
  }
  CHECK(workers == std::set<std::string>{"alpha", "beta"});
  // The template's env is not the plain step's: it has no TAG.
  CHECK(outputs.at("done") == "all .\n");
}

TEST_CASE("an array job carries on after a broker restart, each element rendered alike") {
  // The broker keeps arrays as templates and comes back from its journal,
  // which holds the job file as written: the elements must be the same.
  Cluster c;
  c.AddWorker("alpha", 2);
  const std::string file = c.dir().Write("restart.json", R"({"steps": [
    {"id": "prep", "each": {"i": {"range": [0, 4]}}, "cmd": "echo p{i}"},
    {"id": "train-{i}", "each": {"i": {"range": [0, 4]}}, "cmd": "sleep 0.4; cat; echo t{i} $TAG",
     "env": {"TAG": "x{index}"}, "stdin_from": "prep[{index}]"},
    {"id": "sum", "cmd": "cat", "stdin_from": "train-{i}"}
  ]})");
  Run detached = c.Submit(file, {"--detach"});
  REQUIRE_MESSAGE(detached.exit_code == 0, detached.err);
  const std::string job = detached.out.substr(0, detached.out.find('\n'));
  std::this_thread::sleep_for(std::chrono::milliseconds(700));  // prep done, train under way
  c.KillBroker();
  c.RestartBroker();
  Run watch = RunCommand({BinDir() + "/submit", "--watch", job, "--json", "--broker", c.endpoint()},
                         c.dir(), seconds(60));
  INFO(watch.err << c.BrokerLogs());
  CHECK(watch.exit_code == 0);
  const auto events = JsonLines(watch.out);
  auto final = FinalStates(events);
  const auto outputs = OutputsByStep(events);
  std::string all;
  for (int i = 0; i < 4; ++i) {
    const std::string id = "train-" + std::to_string(i);
    CAPTURE(id);
    CHECK(final[id]["state"] == "succeeded");
    const std::string want =
        "p" + std::to_string(i) + "\nt" + std::to_string(i) + " x" + std::to_string(i) + "\n";
    CHECK(outputs.count(id) == 1);
    if (outputs.count(id)) CHECK(outputs.at(id) == want);
    all += want;
  }
  CHECK(final["sum"]["state"] == "succeeded");
  CHECK(outputs.count("sum") == 1);
  if (outputs.count("sum")) CHECK(outputs.at("sum") == all);
}

TEST_CASE("an array's outputs fan in through stdin_from in index order") {
  Cluster c;
  c.AddWorker("alpha", 3);
  c.AddWorker("beta", 3);
  // Element 0 finishes last, element 2 first (0.4 s apart): the order read
  // is the index's.
  const std::string job = c.dir().Write("fan_in.json", R"({"steps": [
    {"id": "part", "each": {"n": [6, 4, 2]}, "cmd": "sleep 0.{n}; echo part {n}"},
    {"id": "twice", "each": {"n": [6, 4, 2]}, "stdin_from": "part[{index}]",
     "cmd": "read line; echo \"$line $line\""},
    {"id": "head", "cmd": "echo head"},
    {"id": "all", "stdin_from": ["head", "part", "twice[1]"], "cmd": "cat"}
  ]})");
  int code = -1;
  const auto events = c.SubmitJson(job, &code);
  CHECK(code == 0);
  const auto outputs = OutputsByStep(events);
  REQUIRE(outputs.count("all") == 1);
  CHECK(outputs.at("all") == "head\npart 6\npart 4\npart 2\npart 4 part 4\n");
  // Paired element by element: each `twice` read its own `part`.
  CHECK(outputs.at("twice[0]") == "part 6 part 6\n");
  CHECK(outputs.at("twice[2]") == "part 2 part 2\n");
  auto final = FinalStates(events);
  CHECK(final["part[2]"]["ended_ms"] <= final["part[0]"]["ended_ms"]);
}

TEST_CASE("a stdin_from list of several MB streams the outputs concatenated, in order") {
  // Past what rides inside a dispatch (1 MiB), and past --max-stdin-mb,
  // which is for inline stdin only: streamed from the spool, source after
  // source.
  Cluster c(ClusterOptions{.broker_args = {"--max-stdin-mb", "1"}});
  c.AddWorker("alpha", 2);
  c.AddWorker("beta", 2);
  const std::string parts =
      "yes a | head -c 700000; yes b | head -c 1500000; yes c | head -c 900000";
  const std::string job = c.dir().Write("big.json", R"({"steps": [
    {"id": "a", "cmd": "yes a | head -c 700000"},
    {"id": "part", "each": {"x": ["b 1500000", "c 900000"]}, "cmd": "set -- {x}; yes $1 | head -c $2"},
    {"id": "all", "stdin_from": ["a", "part"], "cmd": "sha256sum"}
  ]})");
  int code = -1;
  const auto events = c.SubmitJson(job, &code);
  CHECK(code == 0);
  const auto outputs = OutputsByStep(events);
  Run expected = RunCommand({"/bin/sh", "-c", "(" + parts + ") | sha256sum"}, c.dir());
  REQUIRE(outputs.count("all") == 1);
  CHECK(outputs.at("all") == expected.out);
}

TEST_CASE("submit's summary shows an array as one row, and --json every element") {
  Cluster c;
  c.AddWorker("alpha", 4);
  const std::string job = c.dir().Write("sweep.json", R"({"steps": [
    {"id": "prep", "cmd": "true"},
    {"id": "sim", "each": {"n": {"range": [0, 30]}}, "after": ["prep"],
     "cmd": "test $(({n} % 10)) != 3"}
  ]})");
  Run run = c.Submit(job);
  CHECK(run.exit_code != 0);
  CAPTURE(run.err);
  CHECK(run.err.find("\nsim[0..29]  27 succeeded, 3 failed: sim[3], sim[13], sim[23]\n") !=
        std::string::npos);
  CHECK(run.err.find("\nprep ") != std::string::npos);
  CHECK(run.err.find("sim[1] ") == std::string::npos);  // no row of its own
  int code = -1;
  const auto events = c.SubmitJson(job, &code);
  CHECK(FinalStates(events).size() == 31);
}

TEST_CASE("submit validate --expand prints the job file an array amounts to") {
  TempDir d;
  const std::string job = d.path() + "/sweep.json";
  {
    std::ofstream(d.path() + "/seeds.txt") << "11\n12\n";
    std::ofstream(job) << R"({"steps": [
      {"id": "t", "each": {"lr": [0.1, 0.01], "seed": {"lines": "seeds.txt"}},
       "argv": ["train", "{lr}", "{seed}"]}]})";
  }
  Run expand = RunCommand({BinDir() + "/submit", "validate", "--expand", job}, d, seconds(30));
  CHECK(expand.exit_code == 0);
  CHECK(expand.err == job + ": ok (4 steps)\n");
  CHECK(expand.out.find(R"({"id":"t[3]","argv":["train","0.01","12"],"env":{"DROVER_PARAM_LR":)"
                        R"("0.01","DROVER_PARAM_SEED":"12","DROVER_INDEX":"3"}})") !=
        std::string::npos);
  // What it prints is a job file that validates as it is.
  const std::string expanded = d.path() + "/expanded.json";
  std::ofstream(expanded) << expand.out;
  Run again = RunCommand({BinDir() + "/submit", "validate", expanded}, d, seconds(30));
  CHECK(again.exit_code == 0);
  CHECK(again.out == expanded + ": ok (4 steps)\n");
}

}  // namespace
}  // namespace drover::testing
