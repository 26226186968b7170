// Multi-host tests: the broker and each worker run on their own "host" (a
// network namespace, see netns.h), so a test can cut one host's link, slow it
// down or kill it while the others go on. They need root; without it each test
// says "skipped: <why>" and passes (set DROVER_REQUIRE_NETNS=1 to fail instead).

#include <signal.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/harness.h"
#include "tests/integration/lab_programs.h"
#include "tests/integration/netns.h"

namespace drover::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// The process's command name ("sleep"), empty if there is none.
std::string Comm(pid_t pid) {
  std::string comm;
  std::getline(std::ifstream("/proc/" + std::to_string(pid) + "/comm"), comm);
  return comm;
}

bool HasNamespaceWithPrefix(const std::string& prefix) {
  for (const std::string& ns : NetLab::Namespaces()) {
    if (ns.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

// Wall time of `submit status` from `from`, the best of `n` runs.
milliseconds StatusRoundTrip(Host& from, const Host& broker, int n) {
  milliseconds best = milliseconds::max();
  for (int i = 0; i < n; ++i) {
    const auto start = Clock::now();
    Run r = from.Exec({BinDir() + "/submit", "status", "--broker", Endpoint(broker)}, seconds(10));
    const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    best = std::min(best, took);
  }
  return best;
}

TEST_CASE("netns: a job runs across workers on two other hosts") {
  if (SkipWithoutNetns()) return;
  NetLab lab;
  Host& b = lab.AddHost("broker");
  Host& w1 = lab.AddHost("w1");
  Host& w2 = lab.AddHost("w2");
  Process& broker = StartBroker(lab, b);
  StartWorker(lab, w1, b);
  StartWorker(lab, w2, b);
  const std::string waited = WaitForWorkers(b, b, 2);
  REQUIRE_MESSAGE(waited.empty(), waited << "\nbroker log:\n" << broker.err());

  // Each step prints its worker, the name and the address of the host it ran on.
  nlohmann::json job = {{"name", "spread"}, {"steps", nlohmann::json::array()}};
  for (int i = 0; i < 6; ++i) {
    job["steps"].push_back({{"id", "s" + std::to_string(i)},
                            {"cmd", "sleep 0.2; echo $DROVER_WORKER $(uname -n) $(hostname -I)"}});
  }
  int code = -1;
  auto events = SubmitJson(lab, b, b, "spread.json", job.dump(), &code);
  CHECK(code == 0);
  auto final = FinalStates(events);
  REQUIRE(final.size() == 6);
  const std::map<std::string, std::string> ip_of = {{"w1", w1.ip()}, {"w2", w2.ip()}};
  std::set<std::string> used;
  for (const auto& [step, state] : final) {
    const std::string& id = step;  // clang 14 cannot capture a binding in CHECK_MESSAGE
    CHECK_MESSAGE(state["state"] == "succeeded", id);
    used.insert(state["worker"].get<std::string>());
  }
  CHECK(used == std::set<std::string>{"w1", "w2"});
  // A step's output names the host its worker runs on, and only that host.
  int outputs = 0;
  for (const auto& e : EventsOf(events, "output")) {
    const std::string worker = final[e["step"].get<std::string>()]["worker"];
    CHECK(e["data"] == worker + " " + worker + " " + ip_of.at(worker) + "\n");
    ++outputs;
  }
  CHECK(outputs == 6);
}

// The broker notices a silent worker after its liveness (1 s here). When the
// link returns, the worker's next heartbeat reaches a broker that has forgotten
// it; the broker answers "need hello" and the worker says hello again.
TEST_CASE("netns: a worker whose link is cut is dropped, and rejoins when it is restored") {
  if (SkipWithoutNetns()) return;
  NetLab lab;
  Host& b = lab.AddHost("broker");
  Host& w1 = lab.AddHost("w1");
  Host& w2 = lab.AddHost("w2");
  Process& broker = StartBroker(lab, b);
  StartWorker(lab, w1, b);
  Process& cut_worker = StartWorker(lab, w2, b);
  std::string waited = WaitForWorkers(b, b, 2);
  REQUIRE_MESSAGE(waited.empty(), waited << "\nbroker log:\n" << broker.err());

  REQUIRE(lab.CutLink(w2).ok());
  const auto cut_at = Clock::now();
  waited = WaitForWorkers(b, b, 1, seconds(10));
  REQUIRE_MESSAGE(waited.empty(), waited << "\nbroker log:\n" << broker.err());
  const auto noticed = std::chrono::duration_cast<milliseconds>(Clock::now() - cut_at);
  MESSAGE("the broker dropped the cut worker after " << noticed.count() << " ms");
  CHECK(noticed >= milliseconds(500));  // it went by liveness, not by a closed connection

  // While the link is down, work goes to the worker that can be reached.
  int code = -1;
  auto events = SubmitJson(
      lab, b, b, "during.json",
      R"({"steps": [{"id": "a", "cmd": "echo a"}, {"id": "b", "cmd": "echo b"}]})", &code);
  CHECK(code == 0);
  for (const auto& [id, e] : FinalStates(events)) CHECK(e["worker"] == "w1");

  REQUIRE(lab.RestoreLink(w2).ok());
  const auto restored_at = Clock::now();
  waited = WaitForWorkers(b, b, 2, seconds(20));
  MESSAGE("the worker rejoined "
          << std::chrono::duration_cast<milliseconds>(Clock::now() - restored_at).count()
          << " ms after its link was restored");
  CHECK_MESSAGE(waited.empty(), waited << "\nbroker log:\n"
                                       << broker.err() << "\nworker log:\n"
                                       << cut_worker.err());
  CHECK(cut_worker.running());
}

TEST_CASE("netns: latency on a host delays its round trips") {
  if (SkipWithoutNetns()) return;
  NetLab lab;
  Host& b = lab.AddHost("broker");
  Host& w1 = lab.AddHost("w1");
  Process& broker = StartBroker(lab, b);
  const std::string waited = WaitForWorkers(w1, b, 0);  // the broker answers from w1
  REQUIRE_MESSAGE(waited.empty(), waited << "\nbroker log:\n" << broker.err());

  const milliseconds before = StatusRoundTrip(w1, b, 3);
  const Status set = lab.SetLatency(w1, milliseconds(50));
  if (!set.ok()) {
    MESSAGE("skipped the latency check: " << set.message());
    // A failed SetLatency leaves the link as it was.
    CHECK(WaitForWorkers(w1, b, 0, seconds(5)).empty());
    return;
  }
  const milliseconds after = StatusRoundTrip(w1, b, 3);
  MESSAGE("submit status from w1: " << before.count() << " ms, with 50 ms latency " << after.count()
                                    << " ms");
  CHECK(after - before >= milliseconds(40));  // at least one round trip (it takes several)
  REQUIRE(lab.SetLatency(w1, milliseconds(0)).ok());
  CHECK(StatusRoundTrip(w1, b, 3) < after);
}

TEST_CASE("netns: KillHost stops everything on one host and leaves the others running") {
  if (SkipWithoutNetns()) return;
  NetLab lab;
  Host& b = lab.AddHost("broker");
  Host& w1 = lab.AddHost("w1");
  Host& w2 = lab.AddHost("w2");
  Process& broker = StartBroker(lab, b);
  Process& worker1 = StartWorker(lab, w1, b);
  Process& worker2 = StartWorker(lab, w2, b);
  std::string waited = WaitForWorkers(b, b, 2);
  REQUIRE_MESSAGE(waited.empty(), waited << "\nbroker log:\n" << broker.err());
  // Something that left the worker's process group, as a daemon would.
  Process& stray = w1.Start({"/bin/sh", "-c", "setsid sleep 300 & exec sleep 300"});
  REQUIRE(WaitUntil(seconds(5), [&] { return w1.Pids().size() >= 3; }));

  lab.KillHost(w1);
  CHECK(worker1.ExitCode() == -SIGKILL);
  CHECK(stray.ExitCode() == -SIGKILL);
  CHECK(w1.Pids().empty());
  CHECK(broker.running());
  CHECK(worker2.running());
  waited = WaitForWorkers(b, b, 1, seconds(10));
  CHECK_MESSAGE(waited.empty(), waited);

  // The host itself is still there: a new worker on it joins.
  StartWorker(lab, w1, b);
  waited = WaitForWorkers(b, b, 2, seconds(10));
  CHECK_MESSAGE(waited.empty(), waited);
}

TEST_CASE("netns: a lab leaves no namespace or process behind") {
  if (SkipWithoutNetns()) return;
  std::string prefix;
  std::vector<pid_t> pids;
  {
    NetLab lab;
    prefix = lab.prefix();
    Host& a = lab.AddHost("a");
    Host& c = lab.AddHost("c");
    a.Start({"sleep", "300"});
    c.Start({"/bin/sh", "-c", "setsid sleep 300 & exec sleep 300"});
    REQUIRE(WaitUntil(seconds(5), [&] { return a.Pids().size() == 1 && c.Pids().size() == 2; }));
    pids = a.Pids();
    for (pid_t pid : c.Pids()) pids.push_back(pid);
    const std::vector<std::string> names = NetLab::Namespaces();
    const std::set<std::string> have(names.begin(), names.end());
    CHECK(have.count(prefix + "switch") == 1);
    CHECK(have.count(prefix + "a") == 1);
    CHECK(have.count(prefix + "c") == 1);
    // A live lab's namespaces are not stale.
    NetLab::RemoveStale();
    CHECK(HasNamespaceWithPrefix(prefix + "a"));
  }
  CHECK_FALSE(HasNamespaceWithPrefix(prefix));
  for (pid_t pid : pids) CHECK_MESSAGE(!Alive(pid), "pid " << pid);
}

TEST_CASE("netns: namespaces of a dead test process are removed with what runs in them") {
  if (SkipWithoutNetns()) return;
  TempDir dir;
  // A pid that was alive a moment ago, and one alive now but started at
  // another time (as when a pid is reused).
  pid_t dead = -1;
  {
    Process p({"/bin/true"}, dir.path() + "/true.out", dir.path() + "/true.err");
    dead = p.pid();
    p.Wait(seconds(5));
  }
  const std::string gone = "drover-" + std::to_string(dead) + "-1-1-stale";
  const std::string reused = "drover-" + std::to_string(getpid()) + "-1-1-stale";
  const std::string path = "PATH=$PATH:/usr/sbin:/sbin; ";
  // A concurrent test process may remove these before the sleeper is in: retry.
  std::unique_ptr<Process> sleeper;
  for (int attempt = 0; attempt < 3 && !sleeper; ++attempt) {
    RunCommand({"/bin/sh", "-c", path + "ip netns add " + gone + "; ip netns add " + reused}, dir,
               seconds(10));
    sleeper = std::make_unique<Process>(
        std::vector<std::string>{"/bin/sh", "-c",
                                 path + "exec ip netns exec " + gone + " sleep 300"},
        dir.path() + "/sleeper.out", dir.path() + "/sleeper.err");
    // In the namespace once it is `sleep`; gone if the namespace was.
    const pid_t pid = sleeper->pid();
    WaitUntil(seconds(5), [&] { return Comm(pid) == "sleep" || !Alive(pid); });
    if (Comm(pid) != "sleep") sleeper.reset();
  }
  REQUIRE(sleeper);
  REQUIRE(HasNamespaceWithPrefix(reused));

  NetLab::RemoveStale();  // a concurrent test process may have done it already
  CHECK_FALSE(HasNamespaceWithPrefix(gone));
  CHECK_FALSE(HasNamespaceWithPrefix(reused));
  REQUIRE(sleeper->Wait(seconds(5)).has_value());
  CHECK(sleeper->ExitCode() == -SIGKILL);
}

}  // namespace
}  // namespace drover::testing
