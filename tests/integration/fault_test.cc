// Fault tests: the promise of docs/reliability.md under the faults it lists.
// A graph the broker acknowledged is never lost and no finished step runs
// again, whatever dies. Each test runs a graph of steps that leave marks
// (side_effects.h), strikes midway, and checks from the marks that every step
// succeeded, that the work of each finished exactly once, and that
// dependency order held.
//
// The first tests run on loopback; those that cut or slow links run each
// program on its own host in a network namespace (netns.h), so they need root
// and otherwise say they are skipped.

#include <signal.h>

#include <cstdio>

#include <doctest/doctest.h>

#include <set>
#include <thread>

#include "tests/integration/harness.h"
#include "tests/integration/lab_programs.h"
#include "tests/integration/netns.h"
#include "tests/integration/side_effects.h"

namespace drover::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;
using nlohmann::json;

// A following `submit --json` in the background, reconnecting by itself.
std::unique_ptr<Process> FollowInBackground(const Cluster& c, const std::string& job_file,
                                            const std::string& name = "submit") {
  return std::make_unique<Process>(
      std::vector<std::string>{BinDir() + "/submit", job_file, "--broker", c.endpoint(), "--json",
                               "--reconnect-timeout", "120"},
      c.dir().path() + "/" + name + ".out", c.dir().path() + "/" + name + ".err");
}

// Waits for `submit` to end (generously) and returns its events.
std::vector<json> EventsWhenDone(Process& submit, std::chrono::seconds within, int* exit_code) {
  REQUIRE_MESSAGE(submit.Wait(within).has_value(), "submit did not end; its stderr:\n"
                                                       << submit.err());
  *exit_code = submit.ExitCode().value_or(-1);
  return JsonLines(submit.out());
}

// (step, attempt) of every attempt the broker declared lost.
std::set<std::pair<std::string, int>> LostAttempts(const std::vector<json>& events) {
  std::set<std::pair<std::string, int>> lost;
  for (const json& e : EventsOf(events, "step_finished")) {
    if (e.value("outcome", "") == "lost") lost.insert({e.at("step"), e.at("attempt").get<int>()});
  }
  return lost;
}

// An extra "done" is excused only where the broker declared that very attempt
// lost: the worker died after the step finished, before its result got out.
Excuse LostOnly(const std::set<std::pair<std::string, int>>& lost) {
  return [&lost](const Mark& m) { return lost.count({m.step, m.attempt}) > 0; };
}

// Pids of the steps `worker` had started and not finished, per the marks.
std::vector<pid_t> Unfinished(const std::vector<Mark>& marks, const std::string& worker) {
  std::set<std::pair<std::string, int>> done;
  for (const Mark& m : marks) {
    if (m.kind == "done" && m.worker == worker) done.insert({m.step, m.attempt});
  }
  std::vector<pid_t> pids;
  for (const Mark& m : marks) {
    if (m.kind == "start" && m.worker == worker && !done.count({m.step, m.attempt})) {
      pids.push_back(m.pid);
    }
  }
  return pids;
}

bool AnyAlive(const std::vector<pid_t>& pids) {
  for (pid_t pid : pids) {
    if (Alive(pid)) return true;
  }
  return false;
}

TEST_CASE("fault: SIGKILL a worker mid-graph") {
  Cluster c;
  c.AddWorker("w1", 2);
  Process& doomed = c.AddWorker("w2", 2);
  c.AddWorker("w3", 2);
  const std::string log = c.dir().path() + "/marks";
  // A short lease, so the lost steps run elsewhere soon.
  const MarkedGraph g = LayeredGraph(500, 25, log, "sleep 0.02", {{"lease", 3}});
  auto submit = FollowInBackground(c, c.dir().Write("job.json", g.job.dump()));

  REQUIRE(WaitUntil(seconds(90), [&] { return CountDone(log) >= 150; }));
  doomed.Signal(SIGKILL);
  doomed.Wait(seconds(10));
  // Its children die with it (a parent-death signal), leaving no orphan.
  const std::vector<pid_t> running = Unfinished(ReadMarks(log), "w2");
  CHECK_MESSAGE(WaitUntil(seconds(5), [&] { return !AnyAlive(running); }),
                "steps of the killed worker still run");

  int code = -1;
  const std::vector<json> events = EventsWhenDone(*submit, seconds(120), &code);
  CHECK_MESSAGE(code == 0, submit->err() << c.BrokerLogs());
  const auto lost = LostAttempts(events);
  MESSAGE(running.size() << " step(s) were running on the killed worker; " << lost.size()
                         << " attempt(s) were declared lost");
  CHECK(!lost.empty());  // it held steps (running or queued) when it died
  for (const json& e : EventsOf(events, "step_finished")) {
    if (e.value("outcome", "") == "lost") CHECK(e.at("worker") == "w2");
  }
  const auto finals = FinalStates(events);
  for (const auto& [step, attempt] : lost) CHECK(finals.at(step).at("worker") != "w2");
  const std::vector<std::string> problems =
      CheckRanOnceInOrder(g, finals, ReadMarks(log), false, LostOnly(lost));
  CHECK_MESSAGE(problems.empty(), Join(problems));
}

TEST_CASE("fault: a worker restarted on the same host") {
  Cluster c;
  c.AddWorker("w1", 2);
  Process& first_w2 = c.AddWorker("w2", 2);
  const std::string log = c.dir().path() + "/marks";
  // A lease far longer than the test: what runs again runs because the new
  // worker said the old one is gone, not because a lease ran out.
  const MarkedGraph g = LayeredGraph(200, 10, log, "sleep 0.03", {{"lease", 600}});
  auto submit = FollowInBackground(c, c.dir().Write("job.json", g.job.dump()));

  REQUIRE(WaitUntil(seconds(90), [&] { return CountDone(log) >= 60; }));
  // Kill w2 and start it again at once, with the same name and state dir.
  first_w2.Signal(SIGKILL);
  first_w2.Wait(seconds(10));
  Process& second_w2 = c.StartWorker("w2", 2);

  int code = -1;
  const std::vector<json> events = EventsWhenDone(*submit, seconds(90), &code);
  CHECK_MESSAGE(code == 0, submit->err() << c.BrokerLogs());
  CHECK(c.broker().err().find("worker w2 restarted") != std::string::npos);
  // Its name is its own: the old run was still listed, in touch as far as
  // the broker knew, but the new run named it as its previous one.
  CHECK_MESSAGE(second_w2.running(), second_w2.err());
  CHECK(second_w2.err().find("registered with") != std::string::npos);
  CHECK(c.broker().err().find("refused a worker") == std::string::npos);
  const auto lost = LostAttempts(events);
  const auto finals = FinalStates(events);
  const std::vector<std::string> problems =
      CheckRanOnceInOrder(g, finals, ReadMarks(log), false, LostOnly(lost));
  CHECK_MESSAGE(problems.empty(), Join(problems));
}

// Polls a log file closely (every millisecond) for `text`.
bool WaitForLog(const Process& p, const std::string& text, milliseconds within) {
  const auto deadline = Clock::now() + within;
  while (p.err().find(text) == std::string::npos) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

TEST_CASE("fault: SIGKILL the broker mid-graph, twice in a row and during replay") {
  Cluster c;
  c.AddWorker("w1", 2);
  c.AddWorker("w2", 2);
  // A large job that waits for a label no worker has: it makes the journal
  // long enough to replay that a kill can land in the middle of it.
  json big = {{"name", "waits"}, {"steps", json::array()}};
  big["steps"].push_back({{"id", "gate"}, {"argv", {"true"}}, {"requires", {"nobody"}}});
  for (int i = 0; i < 30000; ++i) {
    big["steps"].push_back({{"id", "w" + std::to_string(i)}, {"argv", {"true"}}, {"after", {"gate"}}});
  }
  Run detached = c.Submit(c.dir().Write("big.json", big.dump()), {"--detach"});
  REQUIRE_MESSAGE(detached.exit_code == 0, detached.err);

  const std::string log = c.dir().path() + "/marks";
  const MarkedGraph g = LayeredGraph(300, 10, log, "sleep 0.05");
  auto submit = FollowInBackground(c, c.dir().Write("job.json", g.job.dump()));
  auto kill_at = [&](size_t done) {
    REQUIRE(WaitUntil(seconds(90), [&] { return CountDone(log) >= done; }));
    c.KillBroker();
  };

  kill_at(60);
  c.RestartBroker();
  // Twice in a row: the new broker dies as soon as it listens.
  REQUIRE(WaitForLog(c.broker(), "listening on", seconds(30)));
  c.KillBroker();
  c.RestartBroker();

  kill_at(150);
  // During replay: killed after it starts replaying, before it has recovered.
  // Where the replay wins the race, try again.
  int caught = 0;
  for (int tries = 0; tries < 10 && caught == 0; ++tries) {
    Process& b = c.RestartBroker();
    REQUIRE(WaitForLog(b, "replaying the journal", seconds(30)));
    c.KillBroker();
    if (b.err().find("recovered from") == std::string::npos) ++caught;
  }
  CHECK_MESSAGE(caught == 1, "no kill landed during the replay:\n" << c.BrokerLogs());
  c.RestartBroker();

  int code = -1;
  const std::vector<json> events = EventsWhenDone(*submit, seconds(150), &code);
  CHECK_MESSAGE(code == 0, submit->err() << c.BrokerLogs());
  // The workers kept every step they had: nothing that started was lost or
  // started twice. An attempt may be lost only if it never started: the
  // broker journals a dispatch before sending it, so a kill between the two
  // leaves one that no worker received, which the broker rightly declares
  // lost when the workers come back without it.
  const std::vector<Mark> marks = ReadMarks(log);
  for (const auto& lost : LostAttempts(events)) {
    const std::string& step = lost.first;  // not bindings: CHECK_MESSAGE captures them
    const int attempt = lost.second;
    for (const Mark& m : marks) {
      CHECK_MESSAGE(!(m.step == step && m.attempt == attempt),
                    step << " attempt " << attempt << " was lost after it started\n"
                         << c.BrokerLogs());
    }
  }
  const std::vector<std::string> problems =
      CheckRanOnceInOrder(g, FinalStates(events), marks, true);
  CHECK_MESSAGE(problems.empty(), Join(problems));
  // The waiting job came through every restart too.
  Run status = RunCommand({BinDir() + "/submit", "status", "--broker", c.endpoint()}, c.dir());
  CHECK(status.out.find("waits") != std::string::npos);
}

TEST_CASE("fault: SIGKILL the broker just after it acknowledged a submission") {
  Cluster c;
  c.AddWorker("w1", 2);
  c.AddWorker("w2", 2);
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    const std::string log = c.dir().path() + "/marks-" + std::to_string(round);
    const MarkedGraph g = LayeredGraph(30, 5, log, "true");
    const std::string file = c.dir().Write("job.json", g.job.dump());
    Run detached = c.Submit(file, {"--detach"});
    REQUIRE_MESSAGE(detached.exit_code == 0, detached.err);
    c.KillBroker();  // the moment `submit` has its job id
    c.RestartBroker();
    std::string job = detached.out;
    while (!job.empty() && (job.back() == '\n' || job.back() == ' ')) job.pop_back();
    Run watched = RunCommand(
        {BinDir() + "/submit", "--watch", job, "--broker", c.endpoint(), "--json"}, c.dir());
    CHECK_MESSAGE(watched.exit_code == 0, watched.err << c.BrokerLogs());
    const std::vector<std::string> problems =
        CheckRanOnceInOrder(g, FinalStates(JsonLines(watched.out)), ReadMarks(log), true);
    CHECK_MESSAGE(problems.empty(), Join(problems));
  }
}

TEST_CASE("fault: a job file missing from the spool comes back from the journal") {
  // The broker keeps a job's file in its spool only after the turn that took
  // the job has sent its messages, and never syncs the spool: killed in
  // between, or after a power loss, only the journal has the file. Replay
  // writes it back; --resume reads it.
  Cluster c;
  c.AddWorker("w1", 1);
  const std::string flag = c.dir().path() + "/flag";
  const json job = {{"steps", {{{"id", "flagged"}, {"cmd", "[ -e '" + flag + "' ]"}}}}};
  int code = -1;
  const std::vector<json> events = c.SubmitJson(c.dir().Write("job.json", job.dump()), &code);
  CHECK(code == 1);
  REQUIRE(!events.empty());
  const std::string id = std::to_string(events[0]["job"].get<uint64_t>());
  c.KillBroker();  // no snapshot: the journal still holds the job's record
  const std::string job_file = c.dir().path() + "/state/spool/" + id + ".job";
  REQUIRE(std::remove(job_file.c_str()) == 0);
  c.RestartBroker();
  c.dir().Write("flag", "");
  Run resumed = RunCommand(
      {BinDir() + "/submit", "--resume", id, "--json", "--broker", c.endpoint()}, c.dir());
  CHECK_MESSAGE(resumed.exit_code == 0, resumed.err << c.BrokerLogs());
  CHECK(FinalStates(JsonLines(resumed.out))["flagged"]["state"] == "succeeded");
}

// ---- On separate hosts (network namespaces) ----

// A following `submit --json` run on `from`, reconnecting by itself.
Process& FollowOnHost(NetLab& lab, Host& from, const Host& broker, const std::string& name,
                      const json& job) {
  const std::string file = lab.dir().Write(name + ".json", job.dump());
  return from.Start({BinDir() + "/submit", file, "--broker", Endpoint(broker), "--json",
                     "--reconnect-timeout", "120"});
}

// How many marks of `kind` `worker` left.
size_t CountMarks(const std::vector<Mark>& marks, const std::string& kind,
                  const std::string& worker) {
  size_t n = 0;
  for (const Mark& m : marks) n += m.kind == kind && m.worker == worker;
  return n;
}

TEST_CASE("fault: link cut for less than the lease") {
  if (SkipWithoutNetns()) return;
  NetLab lab;
  Host& b = lab.AddHost("broker");
  Host& w = lab.AddHost("w1");
  Process& broker = StartBroker(lab, b);
  Process& worker = StartWorker(lab, w, b, 4);
  std::string waited = WaitForWorkers(b, b, 1);
  REQUIRE_MESSAGE(waited.empty(), waited);

  const std::string log = lab.dir().path() + "/marks";
  MarkedGraph g;
  g.job = {{"lease", 60}, {"steps", json::array()}};
  std::vector<std::string> longs;
  for (int i = 0; i < 4; ++i) {
    const std::string id = "long" + std::to_string(i);
    g.job["steps"].push_back({{"id", id}, {"cmd", MarkedCommand(log, "sleep 3")}});
    g.after[id] = {};
    longs.push_back(id);
  }
  g.job["steps"].push_back({{"id", "tail"}, {"cmd", MarkedCommand(log, "true")}, {"after", longs}});
  g.after["tail"] = longs;
  Process& submit = FollowOnHost(lab, b, b, "job", g.job);

  REQUIRE(WaitUntil(seconds(30), [&] { return CountMarks(ReadMarks(log), "start", "w1") == 4; }));
  REQUIRE(lab.CutLink(w).ok());
  // The broker notices (the worker is out of touch), and the steps finish
  // while their results cannot get out.
  waited = WaitForWorkers(b, b, 0, seconds(10));
  CHECK_MESSAGE(waited.empty(), waited);
  CHECK(WaitUntil(seconds(15), [&] { return CountDone(log) == 4; }));
  std::this_thread::sleep_for(seconds(1));
  REQUIRE(lab.RestoreLink(w).ok());

  int code = -1;
  const std::vector<json> events = EventsWhenDone(submit, seconds(90), &code);
  CHECK_MESSAGE(code == 0, submit.err() << "\nbroker:\n" << broker.err() << "\nworker:\n"
                                        << worker.err());
  for (const json& e : EventsOf(events, "step_started")) CHECK(e.at("attempt") == 1);
  CHECK(LostAttempts(events).empty());
  const std::vector<std::string> problems =
      CheckRanOnceInOrder(g, FinalStates(events), ReadMarks(log), true);
  CHECK_MESSAGE(problems.empty(), Join(problems));
  CHECK(worker.err().find("back in touch") != std::string::npos);
}

TEST_CASE("fault: link cut for longer than the lease") {
  if (SkipWithoutNetns()) return;
  NetLab lab;
  Host& b = lab.AddHost("broker");
  Host& w1 = lab.AddHost("w1");
  Host& w2 = lab.AddHost("w2");
  Process& broker = StartBroker(lab, b);
  Process& cut_worker = StartWorker(lab, w1, b, 2);
  std::string waited = WaitForWorkers(b, b, 1);
  REQUIRE_MESSAGE(waited.empty(), waited);

  const std::string log = lab.dir().path() + "/marks";
  MarkedGraph g;
  g.job = {{"lease", 3}, {"steps", json::array()}};
  for (const char* id : {"a", "b"}) {
    g.job["steps"].push_back({{"id", id}, {"cmd", MarkedCommand(log, "sleep 8")}});
    g.after[id] = {};
  }
  g.job["steps"].push_back(
      {{"id", "c"}, {"cmd", MarkedCommand(log, "true")}, {"after", {"a", "b"}}});
  g.after["c"] = {"a", "b"};
  Process& submit = FollowOnHost(lab, b, b, "job", g.job);

  // Both long steps start on w1; then w2 joins, and w1's cable is pulled.
  REQUIRE(WaitUntil(seconds(30), [&] { return CountMarks(ReadMarks(log), "start", "w1") == 2; }));
  StartWorker(lab, w2, b, 2);
  waited = WaitForWorkers(b, b, 2);
  REQUIRE_MESSAGE(waited.empty(), waited);
  REQUIRE(lab.CutLink(w1).ok());
  const auto cut_at = Clock::now();

  // w1 stops its steps before the lease is out, long before they would end.
  const std::vector<pid_t> old = Unfinished(ReadMarks(log), "w1");
  REQUIRE(old.size() == 2);
  CHECK_MESSAGE(WaitUntil(seconds(6), [&] { return !AnyAlive(old); }),
                "w1 did not stop its steps\n"
                    << cut_worker.err());
  MESSAGE("w1 stopped its steps "
          << std::chrono::duration_cast<milliseconds>(Clock::now() - cut_at).count()
          << " ms after its link was cut (lease 3000 ms)");

  // The broker runs them again on w2 once the lease has passed.
  int code = -1;
  const std::vector<json> events = EventsWhenDone(submit, seconds(90), &code);
  CHECK_MESSAGE(code == 0, submit.err() << "\nbroker:\n" << broker.err());
  const auto finals = FinalStates(events);
  for (const char* id : {"a", "b", "c"}) CHECK(finals.at(id).at("worker") == "w2");
  const auto lost = LostAttempts(events);
  CHECK(lost == std::set<std::pair<std::string, int>>{{"a", 1}, {"b", 1}});

  // Keep the cable out until w1's steps would have ended had they run on,
  // then plug it back: w1 returns and reports on its old attempts.
  std::this_thread::sleep_until(cut_at + seconds(9));
  REQUIRE(lab.RestoreLink(w1).ok());
  waited = WaitForWorkers(b, b, 2, seconds(60));
  CHECK_MESSAGE(waited.empty(), waited << "\nw1:\n" << cut_worker.err());

  // Its late reports changed nothing: the job reads as it ended, and the old
  // attempts never ran to their end.
  Run watched = b.Exec({BinDir() + "/submit", "--watch", std::to_string(events.at(0).at("job").get<int>()),
                        "--broker", Endpoint(b), "--json"},
                       seconds(30));
  CHECK(watched.exit_code == 0);
  const std::vector<json> again = JsonLines(watched.out);
  CHECK(EventsOf(again, "step_finished") == EventsOf(events, "step_finished"));
  CHECK(CountMarks(ReadMarks(log), "done", "w1") == 0);
  const std::vector<std::string> problems = CheckRanOnceInOrder(g, finals, ReadMarks(log), false);
  CHECK_MESSAGE(problems.empty(), Join(problems));
}

TEST_CASE("fault: a step flooding stdout beside short steps") {
  if (SkipWithoutNetns()) return;
  NetLab lab;
  Host& b = lab.AddHost("broker");
  Host& wf = lab.AddHost("flood");
  Host& ws1 = lab.AddHost("short1");
  Host& ws2 = lab.AddHost("short2");
  Process& broker = StartBroker(lab, b);
  Process& flooder = StartWorker(lab, wf, b, 1, {"--label", "flood"});
  Process& short1 = StartWorker(lab, ws1, b, 1, {"--label", "short"});
  Process& short2 = StartWorker(lab, ws2, b, 1, {"--label", "short"});
  std::string waited = WaitForWorkers(b, b, 3);
  REQUIRE_MESSAGE(waited.empty(), waited);
  // The flooding worker's link is slow (16 Mbit/s), so its output queues up
  // in front of its heartbeats unless flow control keeps the queue short.
  REQUIRE(lab.SetRateLimit(wf, 16000).ok());

  const std::string log = lab.dir().path() + "/marks";
  MarkedGraph g;
  g.job = {{"steps", json::array()}};
  g.job["steps"].push_back({{"id", "flood"},
                            {"cmd", "timeout 30 yes drover-flood; true"},
                            {"requires", {"flood"}}});
  for (int i = 0; i < 100; ++i) {
    const std::string id = "short" + std::to_string(i);
    g.job["steps"].push_back(
        {{"id", id}, {"cmd", MarkedCommand(log, "sleep 0.1")}, {"requires", {"short"}}});
    g.after[id] = {};
  }
  // Human output, so the flood is counted in bytes.
  const std::string file = lab.dir().Write("job.json", g.job.dump());
  Process& submit = b.Start({BinDir() + "/submit", file, "--broker", Endpoint(b)});

  // All along the flood, the broker lists every worker.
  const auto start = Clock::now();
  int polls = 0;
  while (!submit.Wait(seconds(1)).has_value() && Clock::now() - start < seconds(90)) {
    Run status = b.Exec({BinDir() + "/submit", "status", "--broker", Endpoint(b)}, seconds(10));
    CHECK_MESSAGE(status.out.rfind("3 worker(s)\n", 0) == 0, status.out << status.err);
    ++polls;
  }
  REQUIRE(submit.Wait(seconds(60)).has_value());
  CHECK_MESSAGE(submit.ExitCode() == 0, submit.err());
  const size_t followed = submit.out().size();
  MESSAGE(polls << " status polls, all showing 3 workers; " << followed / 1e6 << " MB of output followed");
  CHECK(Clock::now() - start >= seconds(30));  // the flood lasted its 30 s
  CHECK(followed > 10'000'000);  // and really flowed
  // Nobody was declared out of touch, and nothing ran twice.
  for (const Process* w : {&flooder, &short1, &short2}) {
    CHECK(w->err().find("lost touch") == std::string::npos);
  }
  CHECK(broker.err().find("is gone") == std::string::npos);
  // Memory stayed bounded (peak resident set, from the kernel).
  const long broker_kb = broker.PeakRssKb(), worker_kb = flooder.PeakRssKb();
  MESSAGE("peak RSS: broker " << broker_kb / 1024 << " MiB, flooding worker " << worker_kb / 1024
                              << " MiB");
  CHECK(broker_kb > 0);
  CHECK(worker_kb > 0);
  if (!SanitizedPrograms()) {
    CHECK(broker_kb < 64 * 1024);
    CHECK(worker_kb < 64 * 1024);
  }
  const std::vector<Mark> marks = ReadMarks(log);
  for (const auto& [step, after] : g.after) {
    const std::string& id = step;  // clang 14 cannot capture a binding in CHECK_MESSAGE
    size_t starts = 0, dones = 0;
    for (const Mark& m : marks) {
      if (m.step != id) continue;
      starts += m.kind == "start";
      dones += m.kind == "done";
    }
    CHECK_MESSAGE((starts == 1 && dones == 1), id << ": " << starts << " start(s), " << dones
                                                  << " done(s)");
  }
}

}  // namespace
}  // namespace drover::testing
