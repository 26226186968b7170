// End to end: the real broker, workers and submit as separate processes on
// loopback. Each test builds its own cluster in a temp dir and tears it down.

#include <signal.h>

#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

using nlohmann::json;

// Steps print the worker that ran them ($DROVER_WORKER), so tests can check
// placement from the outside.
const char* kDiamond = R"({
  "name": "diamond",
  "steps": [
    {"id": "top", "cmd": "echo top on $DROVER_WORKER"},
    {"id": "left", "after": ["top"], "cmd": "sleep 0.5; echo left on $DROVER_WORKER"},
    {"id": "right", "after": ["top"], "cmd": "sleep 0.5; echo right on $DROVER_WORKER"},
    {"id": "bottom", "after": ["left", "right"], "cmd": "echo bottom on $DROVER_WORKER"}
  ]
})";

TEST_CASE("a diamond runs across two workers, in dependency order") {
  Cluster c;
  c.AddWorker("alpha", 2);
  c.AddWorker("beta", 2);
  int code = -1;
  auto events = c.SubmitJson(c.dir().Write("diamond.json", kDiamond), &code);
  CHECK(code == 0);
  auto final = FinalStates(events);
  REQUIRE(final.size() == 4);
  for (const auto& step : final) CHECK_MESSAGE(step.second["state"] == "succeeded", step.first);
  // The two middle steps ran at the same time on different workers.
  CHECK(final["left"]["worker"] != final["right"]["worker"]);
  std::set<std::string> used;
  for (const auto& [id, e] : final) used.insert(e["worker"].get<std::string>());
  CHECK(used == std::set<std::string>{"alpha", "beta"});
  // Order: each step started after the steps it needs had ended.
  CHECK(final["left"]["started_ms"] >= final["top"]["ended_ms"]);
  CHECK(final["right"]["started_ms"] >= final["top"]["ended_ms"]);
  CHECK(final["bottom"]["started_ms"] >= final["left"]["ended_ms"]);
  CHECK(final["bottom"]["started_ms"] >= final["right"]["ended_ms"]);
  CHECK(final["left"]["started_ms"] < final["right"]["ended_ms"]);  // overlapped
  // Output arrived, attributed to its step.
  bool saw_left = false;
  for (const auto& e : EventsOf(events, "output")) {
    if (e["step"] == "left") saw_left = e["data"] == "left on " + final["left"]["worker"].get<std::string>() + "\n";
  }
  CHECK(saw_left);
  REQUIRE(EventsOf(events, "job_finished").size() == 1);
  CHECK(EventsOf(events, "job_finished")[0]["state"] == "succeeded");
}

TEST_CASE("the human output prefixes lines and ends with a summary") {
  Cluster c;
  c.AddWorker("alpha", 2);
  Run r = c.Submit(c.dir().Write("diamond.json", kDiamond));
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("[top] top on alpha\n") != std::string::npos);
  CHECK(r.out.find("[bottom] bottom on alpha\n") != std::string::npos);
  CHECK(r.err.find("STEP") != std::string::npos);
  CHECK(r.err.find("job 1 (diamond) succeeded") != std::string::npos);
}

TEST_CASE("the summary shows each step's attempts, CPU time and peak memory") {
  Cluster c;
  c.AddWorker("alpha", 1);
  // `twice` fails until its flag file exists, and makes it: two attempts.
  const std::string flag = c.dir().path() + "/flag";
  const json job = {
      {"name", "tries"},
      {"steps",
       {{{"id", "twice"}, {"retries", 1},
         {"cmd", "[ -e '" + flag + "' ] || { touch '" + flag + "'; exit 1; }"}},
        {{"id", "busy"}, {"argv", {"sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"}}}}}};
  Run r = c.Submit(c.dir().Write("tries.json", job.dump()));
  CHECK(r.exit_code == 0);
  std::map<std::string, std::vector<std::string>> rows;
  std::istringstream lines(r.err);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::vector<std::string> cells;
    for (std::string w; words >> w;) cells.push_back(w);
    if (!cells.empty()) rows[cells[0]] = cells;
  }
  REQUIRE(rows.count("STEP") == 1);
  CHECK(rows["STEP"] == std::vector<std::string>{"STEP", "STATE", "TRIES", "WORKER", "EXIT",
                                                 "START", "TIME", "CPU", "MEM"});
  REQUIRE(rows["twice"].size() == 9);
  CHECK(rows["twice"][2] == "2");
  REQUIRE(rows["busy"].size() == 9);
  CHECK(rows["busy"][2] == "1");
  CHECK(rows["busy"][7].ends_with("s"));  // e.g. 0.1s
  CHECK(rows["busy"][8].ends_with("M"));  // a shell's peak RSS: megabytes
}

TEST_CASE("stdin_from feeds one step's whole stdout to the next") {
  Cluster c;
  c.AddWorker("alpha", 2);
  const std::string job = c.dir().Write("pipe.json", R"({"steps": [
    {"id": "gen", "cmd": "seq 1 20000"},
    {"id": "evens", "stdin_from": "gen", "cmd": "awk '$1 % 2 == 0'"},
    {"id": "count", "stdin_from": "evens", "argv": ["wc", "-l"]},
    {"id": "inline", "stdin": "b\na\nc\n", "argv": ["sort"]}
  ]})");
  Run r = c.Submit(job);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("[count] 10000\n") != std::string::npos);
  CHECK(r.out.find("[inline] a\n[inline] b\n[inline] c\n") != std::string::npos);
}

TEST_CASE("a failure skips what needs it while `always` and `failure` steps still run") {
  Cluster c;
  c.AddWorker("alpha", 2);
  const std::string job = c.dir().Write("fail.json", R"({"steps": [
    {"id": "build", "cmd": "echo compiling; exit 3"},
    {"id": "test", "after": ["build"], "cmd": "echo should not run"},
    {"id": "deploy", "after": ["test"], "cmd": "echo should not run"},
    {"id": "cleanup", "after": ["deploy"], "when": "always", "cmd": "echo cleaned"},
    {"id": "alert", "after": ["build"], "when": "failure", "cmd": "echo alerting"},
    {"id": "other", "cmd": "echo independent"}
  ]})");
  int code = -1;
  auto events = c.SubmitJson(job, &code);
  CHECK(code == 1);
  auto final = FinalStates(events);
  CHECK(final["build"]["state"] == "failed");
  CHECK(final["build"]["exit_code"] == 3);
  CHECK(final["test"]["state"] == "skipped");
  CHECK(final["test"]["reason"] == "needs \"build\", which failed");
  CHECK(final["deploy"]["state"] == "skipped");
  CHECK(final["cleanup"]["state"] == "succeeded");
  CHECK(final["alert"]["state"] == "succeeded");
  CHECK(final["other"]["state"] == "succeeded");
  for (const auto& e : EventsOf(events, "output")) CHECK(e["data"] != "should not run\n");
  // The human form says the same, and so does the exit status.
  Run human = c.Submit(job);
  CHECK(human.exit_code == 1);
  CHECK(human.err.find("[build] failed: exited with code 3") != std::string::npos);
  CHECK(human.err.find("[test] skipped: needs \"build\", which failed") != std::string::npos);
}

TEST_CASE("a 1,000-step fan-out completes") {
  Cluster c;
  c.AddWorker("alpha", 4);
  c.AddWorker("beta", 4);
  json job = {{"name", "fan"}, {"steps", json::array()}};
  job["steps"].push_back({{"id", "prepare"}, {"argv", {"true"}}});
  json all = json::array();
  for (int i = 0; i < 1000; ++i) {
    const std::string id = "part-" + std::to_string(i);
    job["steps"].push_back({{"id", id}, {"after", {"prepare"}}, {"argv", {"echo", id}}});
    all.push_back(id);
  }
  job["steps"].push_back({{"id", "gather"}, {"after", all}, {"argv", {"echo", "gathered"}}});
  int code = -1;
  auto events = c.SubmitJson(c.dir().Write("fan.json", job.dump()), &code);
  CHECK(code == 0);
  auto ended = EventsOf(events, "job_finished");
  REQUIRE(ended.size() == 1);
  CHECK(ended[0]["counts"]["succeeded"] == 1002);
  CHECK(EventsOf(events, "output").size() == 1001);
  std::set<std::string> workers;
  for (const auto& e : EventsOf(events, "step_started")) {
    workers.insert(e["worker"].get<std::string>());
    CHECK(e["dispatched_ms"].get<int64_t>() > 0);  // the broker's clock
  }
  CHECK(workers.size() == 2);
}

TEST_CASE("a chain of short steps runs each step once, in order") {
  Cluster c;
  c.AddWorker("alpha", 2);
  json job = {{"steps", json::array()}};
  for (int i = 0; i < 60; ++i) {
    json step = {{"id", "s" + std::to_string(i)}, {"argv", {"echo", std::to_string(i)}}};
    if (i > 0) step["after"] = {"s" + std::to_string(i - 1)};
    job["steps"].push_back(step);
  }
  int code = -1;
  auto events = c.SubmitJson(c.dir().Write("chain.json", job.dump()), &code);
  CHECK(code == 0);
  // Each step ran exactly once (attempt 1: nothing was sent twice or
  // reported unstarted), and each started only after the one before ended.
  auto finished = EventsOf(events, "step_finished");
  REQUIRE(finished.size() == 60);
  for (const auto& e : finished) {
    CHECK(e["attempt"] == 1);
    CHECK(e["state"] == "succeeded");
  }
  auto final = FinalStates(events);
  for (int i = 1; i < 60; ++i) {
    CHECK(final["s" + std::to_string(i)]["started_ms"] >= final["s" + std::to_string(i - 1)]["ended_ms"]);
  }
  std::string outputs;
  for (const auto& e : EventsOf(events, "output")) outputs += e["data"].get<std::string>();
  std::string expected;
  for (int i = 0; i < 60; ++i) expected += std::to_string(i) + "\n";
  CHECK(outputs == expected);
}

TEST_CASE("two submitters at once each see only their own job") {
  Cluster c;
  c.AddWorker("alpha", 4);
  auto job_for = [&](const std::string& tag) {
    json job = {{"name", tag}, {"steps", json::array()}};
    for (int i = 0; i < 20; ++i) {
      job["steps"].push_back({{"id", tag + std::to_string(i)},
                              {"cmd", "sleep 0.05; echo " + tag + " " + std::to_string(i)}});
    }
    return c.dir().Write(tag + ".json", job.dump());
  };
  const std::string a = job_for("aaa"), b = job_for("bbb");
  Run ra, rb;
  std::thread other([&] { rb = c.Submit(b); });
  ra = c.Submit(a);
  other.join();
  CHECK(ra.exit_code == 0);
  CHECK(rb.exit_code == 0);
  CHECK(ra.out.find("[aaa19] aaa 19") != std::string::npos);
  CHECK(rb.out.find("[bbb19] bbb 19") != std::string::npos);
  CHECK(ra.out.find("bbb") == std::string::npos);
  CHECK(rb.out.find("aaa") == std::string::npos);
}

TEST_CASE("labels route steps to the workers that carry them") {
  Cluster c;
  c.AddWorker("plain", 4);
  c.AddWorker("gpu-box", 1, {"gpu", "cuda"});
  const std::string job = c.dir().Write("labels.json", R"({"steps": [
    {"id": "train1", "requires": ["gpu"], "argv": ["true"]},
    {"id": "train2", "requires": ["gpu", "cuda"], "argv": ["true"]},
    {"id": "prep1", "argv": ["true"]},
    {"id": "prep2", "argv": ["true"]}
  ]})");
  int code = -1;
  auto final = FinalStates(c.SubmitJson(job, &code));
  CHECK(code == 0);
  CHECK(final["train1"]["worker"] == "gpu-box");
  CHECK(final["train2"]["worker"] == "gpu-box");
}

TEST_CASE("a job file written by Python's msgpack runs") {
  Cluster c;
  c.AddWorker("alpha", 2);
  const std::string path = c.dir().path() + "/py.msgpack";
  // Debian's python3-msgpack: an independent encoder (bin for stdin, str keys).
  Run py = RunCommand({"/usr/bin/python3", "-c",
                       "import msgpack, sys\n"
                       "job = {'name': 'from-python', 'steps': [\n"
                       "  {'id': 'upper', 'argv': ['tr', 'a-z', 'A-Z'], 'stdin': b'hello python\\n'},\n"
                       "  {'id': 'after', 'after': ['upper'], 'cmd': 'echo env=$GREETING',\n"
                       "   'env': {'GREETING': 'hi'}, 'retries': 1, 'timeout': 30.5}]}\n"
                       "open(sys.argv[1], 'wb').write(msgpack.packb(job, use_bin_type=True))\n",
                       path},
                      c.dir());
  REQUIRE_MESSAGE(py.exit_code == 0, py.err);
  Run r = c.Submit(path);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("[upper] HELLO PYTHON\n") != std::string::npos);
  CHECK(r.out.find("[after] env=hi\n") != std::string::npos);
}

TEST_CASE("submit with no broker runs the graph on an embedded broker and worker") {
  TempDir dir;
  const std::string job = dir.Write("diamond.json", kDiamond);
  Run r = RunCommand({BinDir() + "/submit", job}, dir);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("[bottom] bottom on ") != std::string::npos);
  CHECK(r.err.find("job 1 (diamond) succeeded") != std::string::npos);
}

TEST_CASE("the shipped examples run, and each .msgpack is its .json converted") {
  Cluster c;
  c.AddWorker("alpha", 2);
  c.AddWorker("beta", 2);
  for (const std::string name : {"diamond", "pipeline", "sweep", "pipe"}) {
    CAPTURE(name);
    const std::string base = std::string(DROVER_SOURCE_DIR) + "/examples/" + name;
    const std::string converted = c.dir().path() + "/" + name + ".msgpack";
    Run convert = RunCommand({BinDir() + "/submit", "convert", base + ".json", converted}, c.dir());
    REQUIRE(convert.exit_code == 0);
    CHECK(ReadFile(converted) == ReadFile(base + ".msgpack"));
    Run back = RunCommand({BinDir() + "/submit", "convert", base + ".msgpack", "-"}, c.dir());
    CHECK(nlohmann::json::parse(back.out) == nlohmann::json::parse(ReadFile(base + ".json")));
    Run r = c.Submit(base + ".msgpack");
    CHECK_MESSAGE(r.exit_code == 0, r.err);
  }
}

TEST_CASE("exit status: rejected graph 2, bad command line 2, unreachable broker 3") {
  TempDir dir;
  const std::string bad = dir.Write("bad.json", R"({"steps": [
    {"id": "build", "cmd": "true"},
    {"id": "test", "after": ["biuld"], "cmd": "true"}
  ]})");
  Run rejected = RunCommand({BinDir() + "/submit", bad}, dir);
  CHECK(rejected.exit_code == 2);
  CHECK(rejected.err.find(
            "steps[1] (id \"test\").after[0]: unknown step \"biuld\" (did you mean \"build\"?)") !=
        std::string::npos);
  Run usage = RunCommand({BinDir() + "/submit", "--no-such-flag"}, dir);
  CHECK(usage.exit_code == 2);
  const std::string good = dir.Write("good.json", R"({"steps": [{"id": "a", "cmd": "true"}]})");
  Run unreachable = RunCommand({BinDir() + "/submit", good, "--broker",
                                "tcp://127.0.0.1:" + std::to_string(FreePort()),
                                "--connect-timeout", "1"},
                               dir);
  CHECK(unreachable.exit_code == 3);
  CHECK(unreachable.err.find("cannot reach the broker") != std::string::npos);
}

TEST_CASE("--detach returns the job id at once, and --watch follows it from the start") {
  Cluster c;
  c.AddWorker("alpha", 1);
  const std::string job = c.dir().Write("slow.json", R"({"steps": [
    {"id": "first", "cmd": "echo one; sleep 0.3"},
    {"id": "second", "after": ["first"], "cmd": "echo two"}
  ]})");
  Run detached = c.Submit(job, {"--detach"});
  CHECK(detached.exit_code == 0);
  CHECK(detached.out == "1\n");
  Run watched = RunCommand({BinDir() + "/submit", "--watch", "1", "--broker", c.endpoint()}, c.dir());
  CHECK(watched.exit_code == 0);
  CHECK(watched.out == "[first] one\n[second] two\n");
  // Watching a finished job replays it the same way.
  Run again = RunCommand({BinDir() + "/submit", "--watch", "1", "--broker", c.endpoint()}, c.dir());
  CHECK(again.out == watched.out);
  Run unknown = RunCommand({BinDir() + "/submit", "--watch", "99", "--broker", c.endpoint()}, c.dir());
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("no job 99") != std::string::npos);
}

TEST_CASE("Ctrl-C cancels the job: running steps are killed, the rest never start") {
  Cluster c;
  c.AddWorker("alpha", 2);
  const std::string marker = c.dir().path() + "/never";
  const std::string job = c.dir().Write("long.json", R"({"steps": [
    {"id": "long", "cmd": "echo started; exec sleep 60"},
    {"id": "later", "after": ["long"], "cmd": "touch )" + marker + R"("}
  ]})");
  Process submit({BinDir() + "/submit", job, "--broker", c.endpoint()}, c.dir().path() + "/s.out",
                 c.dir().path() + "/s.err");
  for (int i = 0; i < 400 && submit.out().find("[long] started") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  REQUIRE(submit.out().find("[long] started") != std::string::npos);
  submit.Signal(SIGINT);
  REQUIRE(submit.Wait(std::chrono::seconds(30)));
  CHECK(submit.ExitCode() == 130);
  CHECK(submit.err().find("cancelled") != std::string::npos);
  Run status = RunCommand({BinDir() + "/submit", "status", "--broker", c.endpoint()}, c.dir());
  CHECK(status.out.find("job 1: cancelled") != std::string::npos);
  CHECK(status.out.find("0/1 slots busy") == std::string::npos);  // alpha has 2 slots
  CHECK(status.out.find("0/2 slots busy") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(marker));
}

// Waits until `p`'s stdout holds `text`.
bool OutputShows(Process& p, const std::string& text) {
  return WaitUntil(std::chrono::seconds(10),
                   [&] { return p.out().find(text) != std::string::npos; });
}

TEST_CASE("Ctrl-C on --watch stops watching: the job goes on, its submitter sees it through") {
  Cluster c;
  c.AddWorker("alpha", 1);
  const std::string gate = c.dir().path() + "/go";
  const std::string job = c.dir().Write("gated.json", R"({"steps": [
    {"id": "long", "cmd": "echo started; while [ ! -e )" + gate + R"( ]; do sleep 0.05; done"},
    {"id": "later", "after": ["long"], "cmd": "echo later"}
  ]})");
  Process submitter({BinDir() + "/submit", job, "--broker", c.endpoint()},
                    c.dir().path() + "/submitter.out", c.dir().path() + "/submitter.err");
  REQUIRE(OutputShows(submitter, "[long] started"));
  Process watcher({BinDir() + "/submit", "--watch", "1", "--broker", c.endpoint()},
                  c.dir().path() + "/watcher.out", c.dir().path() + "/watcher.err");
  REQUIRE(OutputShows(watcher, "[long] started"));
  watcher.Signal(SIGINT);
  REQUIRE(watcher.Wait(std::chrono::seconds(30)));
  CHECK(watcher.ExitCode() == 130);
  CHECK_MESSAGE(watcher.err().find("stopped watching job 1; it goes on (submit --cancel 1 to "
                                   "cancel it)") != std::string::npos,
                watcher.err());
  CHECK(watcher.err().find("cancelling") == std::string::npos);

  Run status = RunCommand({BinDir() + "/submit", "status", "--broker", c.endpoint()}, c.dir());
  CHECK_MESSAGE(status.out.find("job 1: running") != std::string::npos, status.out);
  CHECK(submitter.running());
  std::ofstream(gate).put('\n');
  REQUIRE(submitter.Wait(std::chrono::seconds(30)));
  CHECK_MESSAGE(submitter.ExitCode() == 0, submitter.err());
  CHECK(submitter.out() == "[long] started\n[later] later\n");
  status = RunCommand({BinDir() + "/submit", "status", "--broker", c.endpoint()}, c.dir());
  CHECK_MESSAGE(status.out.find("job 1: succeeded, 2/2 succeeded") != std::string::npos, status.out);
}

TEST_CASE("Ctrl-C on a detached job's --watch leaves it running until it finishes") {
  Cluster c;
  c.AddWorker("alpha", 1);
  const std::string gate = c.dir().path() + "/go";
  const std::string job = c.dir().Write("gated.json", R"({"steps": [
    {"id": "long", "cmd": "echo started; while [ ! -e )" + gate + R"( ]; do sleep 0.05; done"}
  ]})");
  REQUIRE(c.Submit(job, {"--detach"}).out == "1\n");
  Process watcher({BinDir() + "/submit", "--watch", "1", "--broker", c.endpoint(), "--json"},
                  c.dir().path() + "/watcher.out", c.dir().path() + "/watcher.err");
  REQUIRE(OutputShows(watcher, "started"));
  watcher.Signal(SIGINT);
  REQUIRE(watcher.Wait(std::chrono::seconds(30)));
  CHECK(watcher.ExitCode() == 130);
  // Well after the broker would have noticed the watcher gone, it still runs.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  Run status = RunCommand({BinDir() + "/submit", "status", "--broker", c.endpoint()}, c.dir());
  CHECK_MESSAGE(status.out.find("job 1: running") != std::string::npos, status.out);
  std::ofstream(gate).put('\n');
  Run watched = RunCommand({BinDir() + "/submit", "--watch", "1", "--broker", c.endpoint()}, c.dir());
  CHECK_MESSAGE(watched.exit_code == 0, watched.err);
  CHECK(watched.out == "[long] started\n");
}

// The seconds in the summary's "job 1 succeeded after 2.3s: ...".
double AfterSeconds(const std::string& err) {
  const size_t at = err.find(" after ");
  return at == std::string::npos ? -1 : std::stod(err.substr(at + 7));
}

TEST_CASE("a --watch that comes late counts the job's time from its start, not from its own") {
  Cluster c;
  c.AddWorker("alpha", 1);
  const std::string job = c.dir().Write("slow.json", R"({"steps": [
    {"id": "first", "cmd": "sleep 1.5"},
    {"id": "second", "after": ["first"], "cmd": "sleep 0.5"}
  ]})");
  REQUIRE(c.Submit(job, {"--detach"}).out == "1\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  Run watched = RunCommand({BinDir() + "/submit", "--watch", "1", "--broker", c.endpoint()}, c.dir());
  CHECK_MESSAGE(watched.exit_code == 0, watched.err);
  // From the first step's start to the second's end: 2 s and a little, not
  // the 0.8 s this watcher was there for.
  const double after = AfterSeconds(watched.err);
  CHECK_MESSAGE(after >= 2.0, watched.err);
  CHECK_MESSAGE(after < 10.0, watched.err);
  // Watched again once over: the same time, not the time since it ended.
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  Run again = RunCommand({BinDir() + "/submit", "--watch", "1", "--broker", c.endpoint()}, c.dir());
  CHECK(AfterSeconds(again.err) == after);
}

TEST_CASE("a step printing 100 MB keeps broker and worker memory bounded") {
  Cluster c;
  Process& worker = c.AddWorker("alpha", 1);
  const std::string job = c.dir().Write("flood.json", R"({"steps": [
    {"id": "flood", "cmd": "yes 0123456789012345678901234567890123456789012345678 | head -c 100000000"}
  ]})");
  Run r = c.Submit(job, {"--json"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.size() > 100'000'000);
  const long broker_kb = c.broker().PeakRssKb();
  const long worker_kb = worker.PeakRssKb();
  INFO("broker peak " << broker_kb << " KiB, worker peak " << worker_kb << " KiB");
  CHECK(broker_kb > 0);
  CHECK(worker_kb > 0);
  if (!SanitizedPrograms()) {
    CHECK(broker_kb < 64 * 1024);
    CHECK(worker_kb < 64 * 1024);
  }
}

}  // namespace
}  // namespace drover::testing
