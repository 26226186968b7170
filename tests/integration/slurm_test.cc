// Drover under a real Slurm (slurm.h): the scripts in deploy/slurm/ submitted
// with sbatch to a two-node cluster, as a user would. They need root and
// slurm-wlm; without them each test says "skipped: <why>" and passes (set
// DROVER_REQUIRE_SLURM=1 to fail instead).

#include <sys/stat.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/harness.h"
#include "tests/integration/lab_programs.h"
#include "tests/integration/slurm.h"

namespace drover::testing {
namespace {

using std::chrono::seconds;

std::string Script(const std::string& name) {
  return std::string(DROVER_SOURCE_DIR) + "/deploy/slurm/" + name;
}

// What every job of these tests gets in its environment (sbatch passes the
// submitter's on): Drover's programs, and a TMPDIR of the cluster's own, the
// "local disk" of its nodes, which the scripts must leave empty.
std::map<std::string, std::string> JobEnv(SlurmCluster& slurm) {
  const std::string tmp = slurm.dir().path() + "/node-tmp";
  mkdir(tmp.c_str(), 0700);
  return {{"DROVER_BIN", BinDir()}, {"TMPDIR", tmp}};
}

bool NodeTmpEmpty(SlurmCluster& slurm) {
  return std::filesystem::is_empty(slurm.dir().path() + "/node-tmp");
}

// Drover's programs still running on any node.
std::vector<std::string> DroverLeftovers(SlurmCluster& slurm) {
  std::vector<std::string> left;
  for (size_t i = 0; i < slurm.size(); ++i) {
    for (pid_t pid : slurm.node(i).Pids()) {
      std::string comm;
      std::getline(std::ifstream("/proc/" + std::to_string(pid) + "/comm"), comm);
      if (comm == "broker" || comm == "worker" || comm == "submit") {
        left.push_back(comm + " on " + slurm.node(i).name());
      }
    }
  }
  return left;
}

// The first line of `submit status`, once it is `want` (empty if it never is).
std::string WaitForStatusLine(Host& from, const Host& broker, const std::string& want,
                              const std::map<std::string, std::string>& env, std::string* all) {
  std::string first;
  WaitUntil(std::chrono::seconds(20), [&] {
    Run r =
        from.Exec({BinDir() + "/submit", "status", "--broker", Endpoint(broker)}, seconds(10), env);
    *all = r.out + r.err;
    first = r.out.substr(0, r.out.find('\n'));
    return r.exit_code == 0 && first == want;
  });
  return first == want ? first : "";
}

TEST_CASE("slurm: the test cluster runs a job on every node, and leaves nothing behind") {
  std::string prefix, dir;
  {
    std::unique_ptr<SlurmCluster> slurm = StartSlurmOrSkip();
    if (!slurm) return;
    prefix = slurm->lab().prefix();
    dir = slurm->dir().path();
    const std::string script =
        slurm->dir().Write("hosts.sh", "#!/bin/sh\nsrun --ntasks-per-node=1 uname -n | sort\n");
    const std::string id =
        slurm->Sbatch({"-N", "2", "--output", dir + "/hosts.out", script}, JobEnv(*slurm));
    SlurmJob job = slurm->WaitForEnd(id);
    CHECK(job.state() == "COMPLETED");
    CHECK(ReadFile(dir + "/hosts.out") == "node1\nnode2\n");
    // A job still running when the cluster goes is cancelled with it.
    slurm->Sbatch({"-N", "1", "--wrap", "sleep 300"});
    CHECK(slurm->Squeue().size() == 1);
  }
  for (const std::string& ns : NetLab::Namespaces()) CHECK(ns.rfind(prefix, 0) != 0);
  CHECK(!std::filesystem::exists(dir));
}

TEST_CASE("slurm: drover-run.sbatch runs a graph on the allocation and exits as submit does") {
  std::unique_ptr<SlurmCluster> slurm = StartSlurmOrSkip();
  if (!slurm) return;
  const std::string dir = slurm->dir().path();
  const std::string marks = dir + "/marks";
  auto step = [&](const std::string& id, nlohmann::json after) {
    return nlohmann::json{
        {"id", id}, {"after", after}, {"cmd", "echo " + id + " $(uname -n) >> " + marks}};
  };
  const nlohmann::json diamond = {{"name", "diamond"},
                                  {"steps",
                                   {step("gen", nlohmann::json::array()), step("left", {"gen"}),
                                    step("right", {"gen"}), step("join", {"left", "right"})}}};
  const std::string file = slurm->dir().Write("diamond.json", diamond.dump());

  const std::string id =
      slurm->Sbatch({"-N", "2", "--output", dir + "/run-%j.out", Script("drover-run.sbatch"), file},
                    JobEnv(*slurm));
  SlurmJob job = slurm->WaitForEnd(id);
  const std::string out = ReadFile(dir + "/run-" + id + ".out");
  INFO("batch output:\n" << out);
  CHECK(job.state() == "COMPLETED");
  CHECK(job.exit_code() == 0);
  CHECK(out.find("job 1 (diamond) succeeded") != std::string::npos);
  CHECK(out.find("drover-run: 2 worker(s) in") != std::string::npos);
  // On the way out the workers said goodbye before the broker stopped.
  CHECK(out.find("(#1) said goodbye") < out.find("broker info: stopping"));
  CHECK(out.find("(#2) said goodbye") < out.find("broker info: stopping"));
  const std::vector<std::string> lines = Lines(ReadFile(marks));
  REQUIRE(lines.size() == 4);
  CHECK(lines.front().rfind("gen ", 0) == 0);
  CHECK(lines.back().rfind("join ", 0) == 0);
  CHECK(NodeTmpEmpty(*slurm));
  CHECK(DroverLeftovers(*slurm).empty());

  // A failing step: submit exits 1, and so does the batch job.
  const std::string bad =
      slurm->dir().Write("bad.json", R"({"name": "bad", "steps": [{"id": "ok", "cmd": "true"},
                      {"id": "boom", "after": ["ok"], "cmd": "exit 3"}]})");
  const std::string bad_id =
      slurm->Sbatch({"-N", "2", "--output", dir + "/run-%j.out", Script("drover-run.sbatch"), bad},
                    JobEnv(*slurm));
  job = slurm->WaitForEnd(bad_id);
  const std::string bad_out = ReadFile(dir + "/run-" + bad_id + ".out");
  INFO("batch output:\n" << bad_out);
  CHECK(job.state() == "FAILED");
  CHECK(job.exit_code() == 1);
  CHECK(bad_out.find("job 1 (bad) failed") != std::string::npos);
  CHECK(NodeTmpEmpty(*slurm));
  CHECK(DroverLeftovers(*slurm).empty());
}

TEST_CASE("slurm: drover-workers.sbatch gives a running broker a worker per node until scancel") {
  std::unique_ptr<SlurmCluster> slurm = StartSlurmOrSkip();
  if (!slurm) return;
  const std::string dir = slurm->dir().path();
  std::map<std::string, std::string> env = JobEnv(*slurm);

  // Without a broker to work for, the job stops at once and says why.
  const std::string lost = slurm->Sbatch(
      {"-N", "1", "--output", dir + "/lost.out", Script("drover-workers.sbatch")}, env);
  SlurmJob job = slurm->WaitForEnd(lost);
  CHECK(job.state() == "FAILED");
  CHECK(job.exit_code() == 2);
  CHECK(ReadFile(dir + "/lost.out").find("DROVER_BROKER is not set") != std::string::npos);

  // A broker with keys on node1; the workers' and the user's keys sit on the
  // filesystem every node shares.
  auto keygen = [&](const std::string& base) {
    Run r =
        RunCommand({BinDir() + "/submit", "keygen", dir + "/" + base}, slurm->dir(), seconds(30));
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return dir + "/" + base;
  };
  REQUIRE(mkdir((dir + "/keys").c_str(), 0700) == 0);
  keygen("keys/broker");
  const std::string worker = keygen("worker"), user = keygen("user");
  slurm->dir().Write("keys/workers.allow", ReadFile(worker + ".pub"));
  slurm->dir().Write("keys/submitters.allow", ReadFile(user + ".pub"));
  Host& node1 = slurm->node(0);
  Process& broker = StartBroker(slurm->lab(), node1, {"--key-dir", dir + "/keys"});
  const std::map<std::string, std::string> user_env = {
      {"DROVER_KEY", user + ".key"}, {"DROVER_BROKER_KEY", dir + "/keys/broker.pub"}};

  env["DROVER_BROKER"] = Endpoint(node1);
  env["DROVER_KEY"] = worker + ".key";
  env["DROVER_BROKER_KEY"] = dir + "/keys/broker.pub";
  const std::string id =
      slurm->Sbatch({"-N", "2", "--mem", "500", "-t", "10", "--output", dir + "/workers.out",
                     Script("drover-workers.sbatch"), "--label", "slurm"},
                    env);
  std::string status;
  const std::string waited = WaitForWorkers(node1, node1, 2, seconds(20), user_env);
  REQUIRE_MESSAGE(waited.empty(), waited << "\nbatch output:\n"
                                         << ReadFile(dir + "/workers.out") << "\nbroker log:\n"
                                         << broker.err());
  Run r = node1.Exec({BinDir() + "/submit", "status", "--broker", Endpoint(node1)}, seconds(10),
                     user_env);
  // Named after the node, slots and memory from the allocation (2 CPUs
  // with --exclusive, --mem 500), the label given to the script.
  CHECK(r.out.find("node1 (node1): 0/2 slots busy, mem 0/500M, labels slurm") != std::string::npos);
  CHECK(r.out.find("node2 (node2): 0/2 slots busy, mem 0/500M, labels slurm") != std::string::npos);
  // The job's time limit (-t 10) is the workers': they leave before Slurm
  // ends the job (their kill grace and 5 s before), and say how long they
  // have.
  CHECK(r.out.find("labels slurm, 9m") != std::string::npos);

  nlohmann::json spread = {{"name", "spread"}, {"steps", nlohmann::json::array()}};
  for (int i = 0; i < 6; ++i) {
    spread["steps"].push_back({{"id", "s" + std::to_string(i)},
                               {"cmd", "sleep 0.3; echo $DROVER_WORKER"},
                               {"requires", {"slurm"}}});
  }
  int code = -1;
  auto events =
      SubmitJson(slurm->lab(), node1, node1, "spread.json", spread.dump(), &code, user_env);
  CHECK(code == 0);
  std::set<std::string> ran_on;
  for (const auto& [step, e] : FinalStates(events)) {
    CHECK(e.at("state") == "succeeded");
    ran_on.insert(e.at("worker").get<std::string>());
  }
  CHECK(ran_on == std::set<std::string>{"node1", "node2"});

  // scancel --signal=TERM, as docs/clusters.md says: each worker says
  // goodbye (gone at once, not out of touch) and removes its state
  // directory, and the job ends.
  slurm->Scancel(id, "TERM");
  CHECK_MESSAGE(WaitForStatusLine(node1, node1, "0 worker(s)", user_env, &status) == "0 worker(s)",
                status);
  job = slurm->WaitForEnd(id);
  CHECK(job.state() == "COMPLETED");
  CHECK(WaitUntil(seconds(5), [&] { return NodeTmpEmpty(*slurm); }));
  CHECK(broker.running());
  INFO("broker log:\n" << broker.err());
  CHECK(broker.err().find("worker node1") != std::string::npos);
}

// ---- Automatic allocation: the broker asks Slurm for workers ----

// A broker on node1 that runs Slurm's commands itself (the cluster's
// slurm.conf and the nodes' TMPDIR in its environment, which sbatch passes
// on to the jobs), weighing demand every 300 ms and asking squeue every
// second, so that the tests do not wait out the real rates.
Process& StartAllocBroker(SlurmCluster& slurm, const std::vector<std::string>& extra = {}) {
  std::map<std::string, std::string> env = JobEnv(slurm);
  for (const auto& [k, v] : slurm.env()) env[k] = v;
  std::vector<std::string> args = {"--alloc-tick-ms", "300", "--alloc-poll-ms", "1000"};
  args.insert(args.end(), extra.begin(), extra.end());
  return StartBroker(slurm.lab(), slurm.node(0), args, env);
}

// `submit ARGS... --broker <node1's>` on node1 (before any `--`).
Run Submit(SlurmCluster& slurm, std::vector<std::string> args) {
  auto end = std::find(args.begin(), args.end(), "--");
  end = args.insert(end, {"--broker", Endpoint(slurm.node(0))});
  args.insert(args.begin(), BinDir() + "/submit");
  return slurm.node(0).Exec(args, seconds(30));
}

// `submit alloc info 1` until it contains `want`; its last output.
std::string WaitForAllocInfo(SlurmCluster& slurm, const std::string& want,
                             seconds within = seconds(60)) {
  std::string text;
  WaitUntil(within, [&] {
    text = Submit(slurm, {"alloc", "info", "1"}).out;
    return text.find(want) != std::string::npos;
  });
  return text;
}

nlohmann::json SleepGraph(const std::string& name, int steps, const std::string& seconds) {
  nlohmann::json graph = {{"name", name}, {"steps", nlohmann::json::array()}};
  for (int i = 0; i < steps; ++i) {
    graph["steps"].push_back({{"id", "s" + std::to_string(i)},
                              {"cmd", "sleep " + seconds + "; echo $DROVER_WORKER"},
                              {"requires", {"slurm"}}});
  }
  return graph;
}

TEST_CASE("slurm: an allocation queue brings workers while steps wait, then gives the nodes back") {
  std::unique_ptr<SlurmCluster> slurm = StartSlurmOrSkip();
  if (!slurm) return;
  Process& broker = StartAllocBroker(*slurm);
  Run added = Submit(*slurm, {"alloc", "add", "slurm", "--time-limit", "10m", "--idle-timeout",
                              "3s", "--slots", "2", "--workers-per-alloc", "2", "--label",
                              "slurm", "--name", "test"});
  REQUIRE_MESSAGE(added.exit_code == 0, added.out << added.err);
  CHECK(added.out.find("added allocation queue 1") != std::string::npos);
  // Nothing waits: nothing is asked for.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  CHECK(Submit(*slurm, {"alloc", "info", "1"}).out.find("no allocations yet") != std::string::npos);

  // Four one-slot steps for workers labelled `slurm`, on a broker with no
  // workers: one allocation of two 2-slot workers covers them.
  int code = -1;
  auto events = SubmitJson(slurm->lab(), slurm->node(0), slurm->node(0), "spread.json",
                           SleepGraph("spread", 4, "0.5").dump(), &code);
  INFO("broker log:\n" << broker.err());
  CHECK(code == 0);
  for (const auto& [step, e] : FinalStates(events)) {
    CHECK(e.at("state") == "succeeded");
    const std::string worker = e.at("worker");
    // Named after its node and Slurm job: node1-17.
    CHECK((worker.rfind("node1-", 0) == 0 || worker.rfind("node2-", 0) == 0));
  }
  const std::string running = WaitForAllocInfo(*slurm, "running");
  CHECK(running.find("#1  Slurm job ") != std::string::npos);
  CHECK(running.find("#2") == std::string::npos);

  // Idle for 3 s, the workers leave; the job ends and the broker sees it.
  const std::string ended = WaitForAllocInfo(*slurm, "finished");
  CHECK_MESSAGE(ended.find("finished") != std::string::npos, ended);
  CHECK(slurm->Exec({"squeue", "-h"}).out.empty());
  CHECK(WaitUntil(seconds(5), [&] { return NodeTmpEmpty(*slurm); }));
  CHECK(broker.err().find("allocation 1 (Slurm job") != std::string::npos);

  Run removed = Submit(*slurm, {"alloc", "remove", "1"});
  CHECK(removed.exit_code == 0);
  CHECK(Submit(*slurm, {"alloc", "list"}).out == "no allocation queues\n");
}

TEST_CASE("slurm: an allocation queue sbatch refuses backs off, then pauses, in Slurm's words") {
  std::unique_ptr<SlurmCluster> slurm = StartSlurmOrSkip();
  if (!slurm) return;
  // Backoffs of 0.3 s, 0.6 s, 1.2 s... instead of 10 s, 20 s, 40 s...
  Process& broker = StartAllocBroker(*slurm, {"--alloc-backoff-ms", "300"});
  Run added = Submit(*slurm, {"alloc", "add", "slurm", "--time-limit", "5m", "--label", "slurm",
                              "--", "--partition", "nope"});
  REQUIRE_MESSAGE(added.exit_code == 0, added.out << added.err);
  Run detached = Submit(*slurm, {"--detach", slurm->dir().Write("one.json",
                                                                 SleepGraph("one", 1, "0").dump())});
  REQUIRE_MESSAGE(detached.exit_code == 0, detached.err);
  const std::string info = WaitForAllocInfo(*slurm, "failed", seconds(20));
  INFO("broker log:\n" << broker.err());
  CHECK_MESSAGE(info.find("sbatch: invalid partition specified: nope") != std::string::npos, info);
  // After five in a row the queue pauses, says why, and asks no more.
  const std::string paused = WaitForAllocInfo(*slurm, "paused:", seconds(30));
  CHECK_MESSAGE(paused.find("5 allocations in a row failed") != std::string::npos, paused);
  CHECK(paused.find("#5") != std::string::npos);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  CHECK(Submit(*slurm, {"alloc", "info", "1"}).out.find("#6") == std::string::npos);
  CHECK(Submit(*slurm, {"alloc", "list"}).out.find("paused") != std::string::npos);
  CHECK(broker.err().find("queue 1 is paused") != std::string::npos);
  // Resumed, it tries again (and fails again: the partition is still wrong).
  Run resumed = Submit(*slurm, {"alloc", "resume", "1"});
  CHECK(resumed.exit_code == 0);
  CHECK(WaitForAllocInfo(*slurm, "#6", seconds(20)).find("#6") != std::string::npos);
  // Unknown queues are named.
  Run unknown = Submit(*slurm, {"alloc", "info", "7"});
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("no allocation queue 7") != std::string::npos);
}

TEST_CASE("slurm: a broker killed and restarted keeps its queue and follows its allocation") {
  std::unique_ptr<SlurmCluster> slurm = StartSlurmOrSkip();
  if (!slurm) return;
  Process* broker = &StartAllocBroker(*slurm);
  Run added = Submit(*slurm, {"alloc", "add", "slurm", "--time-limit", "10m", "--idle-timeout",
                              "3s", "--slots", "2", "--label", "slurm"});
  REQUIRE_MESSAGE(added.exit_code == 0, added.out << added.err);
  Run detached = Submit(*slurm, {"--detach", slurm->dir().Write("two.json",
                                                                 SleepGraph("two", 2, "4").dump())});
  REQUIRE_MESSAGE(detached.exit_code == 0, detached.err);
  const std::string job = detached.out.substr(0, detached.out.find_first_of(" \n"));
  const std::string before = WaitForAllocInfo(*slurm, "workers node1");
  INFO("broker log:\n" << broker->err());
  REQUIRE(before.find("running") != std::string::npos);
  const std::string prefix = "#1  Slurm job ";
  const size_t at = before.find(prefix);
  REQUIRE(at != std::string::npos);
  const size_t from = at + prefix.size();
  const std::string slurm_job = before.substr(from, before.find(' ', from) - from);

  broker->Signal(SIGKILL);
  broker->Wait(seconds(5));
  broker = &StartAllocBroker(*slurm);
  // The queue and its allocation are back at once, the same Slurm job.
  const std::string after = Submit(*slurm, {"alloc", "info", "1"}).out;
  CHECK_MESSAGE(after.find("#1  Slurm job " + slurm_job + " ") != std::string::npos, after);
  CHECK(after.find("#2") == std::string::npos);
  // The graph ends well on the same allocation, and then the allocation ends.
  Run watched = Submit(*slurm, {"--watch", job});
  CHECK_MESSAGE(watched.exit_code == 0, watched.out << watched.err);
  const std::string ended = WaitForAllocInfo(*slurm, "finished");
  CHECK_MESSAGE(ended.find("#2") == std::string::npos, ended);
  CHECK(slurm->Exec({"squeue", "-h"}).out.empty());
}

TEST_CASE("slurm: removing a queue lets its running allocation finish its steps, then end") {
  std::unique_ptr<SlurmCluster> slurm = StartSlurmOrSkip();
  if (!slurm) return;
  Process& broker = StartAllocBroker(*slurm);
  // Workers that would stay 10 minutes if the queue were not removed.
  Run added = Submit(*slurm, {"alloc", "add", "slurm", "--time-limit", "20m", "--idle-timeout",
                              "10m", "--label", "slurm"});
  REQUIRE_MESSAGE(added.exit_code == 0, added.out << added.err);
  Run detached = Submit(*slurm, {"--detach", slurm->dir().Write("long.json",
                                                                 SleepGraph("long", 1, "3").dump())});
  REQUIRE_MESSAGE(detached.exit_code == 0, detached.err);
  const std::string job = detached.out.substr(0, detached.out.find('\n'));
  INFO("broker log:\n" << broker.err());
  REQUIRE(WaitForAllocInfo(*slurm, "workers node").find("running") != std::string::npos);
  Run removed = Submit(*slurm, {"alloc", "remove", "1"});
  CHECK(removed.exit_code == 0);
  CHECK(removed.out.find("finish their steps") != std::string::npos);
  // The step ends well where it ran; the worker leaves, the job ends, and
  // with its last allocation over the queue is gone.
  Run watched = Submit(*slurm, {"--watch", job});
  CHECK_MESSAGE(watched.exit_code == 0, watched.out << watched.err);
  CHECK(WaitUntil(seconds(30), [&] {
    return Submit(*slurm, {"alloc", "list"}).out == "no allocation queues\n";
  }));
  CHECK(slurm->Exec({"squeue", "-h"}).out.empty());
  CHECK(broker.err().find("drains: its allocation queue was removed") != std::string::npos);
}

}  // namespace
}  // namespace drover::testing
