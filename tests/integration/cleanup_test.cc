// Cleanup steps (`when: always`) of a cancelled or aborted job, and resuming
// with an edited job file, on a real broker and worker. Steps append
// "STEP JOB" to $D/log as they start: the log says what really ran.

#include <signal.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

constexpr auto kDeadline = seconds(30);

const char* kLog = "echo \"$DROVER_STEP_ID $DROVER_JOB_ID\" >> \"$D/log\"; ";
// Writes the shell's pid to $D/STEP.pid, then becomes `sleep 60` under it.
const char* kWritePidAndSleep = "echo $$ > \"$D/$DROVER_STEP_ID.pid\"; exec sleep 60";

json JobIn(const TempDir& dir, json steps, json fields = json::object()) {
  fields["defaults"]["env"] = {{"D", dir.path()}};
  fields["steps"] = std::move(steps);
  return fields;
}

// `submit ARGS... --broker EP` in the background, output in the test's dir.
std::unique_ptr<Process> Start(const Cluster& c, const std::string& name,
                               std::vector<std::string> args) {
  std::vector<std::string> argv = {BinDir() + "/submit"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--broker", c.endpoint()});
  const std::string base = c.dir().path() + "/" + name;
  return std::make_unique<Process>(argv, base + ".out", base + ".err");
}

// The pid in $D/STEP.pid once the step runs (the `sleep` it became); 0 if
// it does not within the deadline. Removes the file, for the next job.
pid_t PidOf(const Cluster& c, const std::string& step) {
  const std::string path = c.dir().path() + "/" + step + ".pid";
  const pid_t pid = SleeperPid(path, kDeadline);
  std::remove(path.c_str());
  return pid;
}

// The steps the log says ran in job `job`.
std::vector<std::string> RanIn(const Cluster& c, const std::string& job) {
  std::vector<std::string> out;
  for (const std::string& line : Lines(ReadFile(c.dir().path() + "/log"))) {
    const size_t space = line.rfind(' ');
    if (line.substr(space + 1) == job) out.push_back(line.substr(0, space));
  }
  std::sort(out.begin(), out.end());
  return out;
}

int ExitOf(Process& p, Cluster& c) {
  REQUIRE_MESSAGE(p.Wait(kDeadline).has_value(), "submit did not finish; its stderr:\n"
                                                     << p.err() << "\nbroker logs:\n"
                                                     << c.BrokerLogs());
  return *p.ExitCode();
}

// The id in a --json follower's first event, once it is there.
std::string JobIdOf(Process& follower) {
  REQUIRE(WaitUntil(kDeadline, [&] { return follower.out().find('\n') != std::string::npos; }));
  const json accepted = json::parse(Lines(follower.out())[0]);
  REQUIRE(accepted["event"] == "accepted");
  return std::to_string(accepted["job"].get<uint64_t>());
}

std::string OutputOf(const std::vector<json>& events, const std::string& step) {
  std::string text;
  for (const json& e : EventsOf(events, "output")) {
    if (e["step"] == step) text += e["data"].get<std::string>();
  }
  return text;
}

TEST_CASE("cleanup: --cancel still runs the always step, --cancel --now does not") {
  Cluster c;
  c.AddWorker("w1", 2);
  const std::string file = c.dir().Write(
      "job.json", JobIn(c.dir(),
                        {
                            {{"id", "work"}, {"cmd", std::string(kLog) + kWritePidAndSleep}},
                            {{"id", "next"}, {"after", {"work"}}, {"cmd", kLog}},
                            {{"id", "clean"},
                             {"after", {"work"}},
                             {"when", "always"},
                             {"cmd", std::string(kLog) + "echo cleaned"}},
                        })
                      .dump());
  for (const bool now : {false, true}) {
    CAPTURE(now);
    auto follower = Start(c, now ? "now" : "plain", {file, "--json"});
    const std::string id = JobIdOf(*follower);
    const pid_t work = PidOf(c, "work");
    REQUIRE_MESSAGE(work > 0, "work never started; submit:\n" << follower->err());
    std::vector<std::string> cancel = {BinDir() + "/submit", "--cancel", id};
    if (now) cancel.push_back("--now");
    cancel.insert(cancel.end(), {"--broker", c.endpoint()});
    Run cancelled = RunCommand(cancel, c.dir());
    CHECK_MESSAGE(cancelled.exit_code == 0, cancelled.err);
    CHECK(cancelled.out == (now ? "job " + id + " is being cancelled\n"
                                : "job " + id +
                                      " is being cancelled; 1 cleanup step still runs (--now "
                                      "stops it)\n"));
    CHECK(ExitOf(*follower, c) == 1);  // cancelled by someone else
    CHECK(WaitUntil(kDeadline, [&] { return !Alive(work); }));
    const auto events = JsonLines(follower->out());
    auto final = FinalStates(events);
    CHECK(final["work"]["state"] == "cancelled");
    CHECK(final["work"]["outcome"] == "killed");
    CHECK(final["next"]["state"] == "cancelled");
    const auto ended = EventsOf(events, "job_finished");
    REQUIRE(ended.size() == 1);
    CHECK(ended[0]["state"] == "cancelled");
    if (now) {
      CHECK(final["clean"]["state"] == "cancelled");
      CHECK(final["clean"]["worker"].is_null());
      CHECK(RanIn(c, id) == std::vector<std::string>{"work"});
    } else {
      CHECK(final["clean"]["state"] == "succeeded");
      CHECK(OutputOf(events, "clean") == "cleaned\n");
      // After work's end, not beside it.
      CHECK(final["clean"]["started_ms"].get<int64_t>() >=
            final["work"]["ended_ms"].get<int64_t>());
      CHECK(RanIn(c, id) == std::vector<std::string>{"clean", "work"});
    }
  }
}

TEST_CASE("cleanup: abort_on_exit runs the always step, and the job fails") {
  Cluster c;
  c.AddWorker("w1", 2);
  const json job = JobIn(
      c.dir(),
      {
          {{"id", "long"}, {"cmd", std::string(kLog) + kWritePidAndSleep}},
          {{"id", "bomb"},
           {"cmd", std::string(kLog) + "while [ ! -e \"$D/go\" ]; do sleep 0.05; done; exit 42"}},
          {{"id", "clean"},
           {"after", {"long", "bomb"}},
           {"when", "always"},
           {"cmd", std::string(kLog) + "echo cleaned"}},
      },
      {{"abort_on_exit", 42}});
  auto follower = Start(c, "submit", {c.dir().Write("job.json", job.dump()), "--json"});
  const pid_t sleeper = PidOf(c, "long");
  REQUIRE_MESSAGE(sleeper > 0, "long never started; submit:\n" << follower->err());
  c.dir().Write("go", "");
  CHECK(ExitOf(*follower, c) == 1);
  const auto events = JsonLines(follower->out());
  auto final = FinalStates(events);
  CHECK(final["bomb"]["state"] == "failed");
  CHECK(final["long"]["state"] == "cancelled");
  CHECK(final["clean"]["state"] == "succeeded");
  CHECK(OutputOf(events, "clean") == "cleaned\n");
  const auto ended = EventsOf(events, "job_finished");
  REQUIRE(ended.size() == 1);
  CHECK(ended[0]["state"] == "failed");
  CHECK(!Alive(sleeper));
}

TEST_CASE("cleanup: Ctrl-C lets the always step run, a second Ctrl-C stops it") {
  Cluster c;
  c.AddWorker("w1", 2);
  const json job =
      JobIn(c.dir(), {
                         {{"id", "work"}, {"cmd", std::string(kLog) + kWritePidAndSleep}},
                         {{"id", "clean"},
                          {"after", {"work"}},
                          {"when", "always"},
                          {"cmd", std::string(kLog) + "echo cleaning; " + kWritePidAndSleep}},
                     });
  auto submit = Start(c, "submit", {c.dir().Write("job.json", job.dump()), "--no-progress"});
  const pid_t work = PidOf(c, "work");
  REQUIRE_MESSAGE(work > 0, "work never started; submit:\n" << submit->err());
  submit->Signal(SIGINT);
  // The cleanup step starts once work is gone, and goes on.
  const pid_t clean = PidOf(c, "clean");
  REQUIRE_MESSAGE(clean > 0, "clean never started; submit:\n" << submit->err());
  CHECK(!Alive(work));
  CHECK(WaitUntil(kDeadline,
                  [&] { return submit->out().find("[clean] cleaning\n") != std::string::npos; }));
  CHECK(submit->running());
  submit->Signal(SIGINT);
  CHECK(ExitOf(*submit, c) == 130);
  CHECK(WaitUntil(kDeadline, [&] { return !Alive(clean); }));
  const std::string err = submit->err();
  CHECK_MESSAGE(err.find("cancelling job 1: cleanup steps still run (Ctrl-C again to stop them "
                         "too)\n") != std::string::npos,
                err);
  CHECK_MESSAGE(err.find("stopping the cleanup steps of job 1 too (Ctrl-C again to leave at "
                         "once)\n") != std::string::npos,
                err);
  // It saw the end: the summary says how the cleanup step ended.
  CHECK_MESSAGE(err.find("job 1 cancelled") != std::string::npos, err);
  bool clean_row = false;
  for (const std::string& line : Lines(err)) {
    clean_row |= line.rfind("clean ", 0) == 0 && line.find("cancelled") != std::string::npos;
  }
  CHECK_MESSAGE(clean_row, err);
}

TEST_CASE("cleanup: --resume with an edited file runs only what changed and says what it kept") {
  Cluster c;
  c.AddWorker("w1", 2);
  json steps = {
      {{"id", "fetch"}, {"cmd", kLog}},
      {{"id", "build"}, {"after", {"fetch"}}, {"cmd", kLog}},
      {{"id", "test"}, {"after", {"build"}}, {"cmd", std::string(kLog) + "exit 1"}},
      {{"id", "lint"}, {"cmd", kLog}},
      {{"id", "old"}, {"cmd", kLog}},
  };
  int code = -1;
  c.SubmitJson(c.dir().Write("job.json", JobIn(c.dir(), steps).dump()), &code);
  REQUIRE(code == 1);
  // Mended: `test` gets another command (and a retry, which changes no
  // work), `old` goes.
  steps[2]["cmd"] = std::string(kLog) + "echo tested";
  steps[2]["retries"] = 1;
  steps.erase(4);
  const std::string edited = c.dir().Write("edited.json", JobIn(c.dir(), steps).dump());
  // (80 columns whatever the environment says: the lists go on lines of their own.)
  Run resumed = RunCommand(
      {BinDir() + "/submit", "--resume", "1", edited, "--no-progress", "--broker", c.endpoint()},
      c.dir(), seconds(60), {{"COLUMNS", "80"}});
  CHECK_MESSAGE(resumed.exit_code == 0, resumed.err);
  CHECK_MESSAGE(resumed.err.find("resuming job 1 as job 2: 3 steps carried over, 1 to run, 1 "
                                 "dropped\n  carried over: fetch, build, lint\n  dropped: old\n") !=
                    std::string::npos,
                resumed.err);
  CHECK(resumed.out == "[test] tested\n");
  CHECK(RanIn(c, "2") == std::vector<std::string>{"test"});

  // The same file again: everything carries over; --json says which.
  Run again = RunCommand(
      {BinDir() + "/submit", "--resume", "2", edited, "--json", "--broker", c.endpoint()}, c.dir());
  CHECK_MESSAGE(again.exit_code == 0, again.err);
  const auto events = JsonLines(again.out);
  REQUIRE(!events.empty());
  CHECK(events[0]["event"] == "accepted");
  CHECK(events[0]["resumed_from"] == 2);
  CHECK(events[0]["carried"] == json({"fetch", "build", "test", "lint"}));
  CHECK(events[0]["dropped"] == json::array());
  CHECK(RanIn(c, "3").empty());

  // An edited file with a problem is refused as a submission would be.
  Run bad = RunCommand(
      {BinDir() + "/submit", "--resume", "2",
       c.dir().Write("bad.json", R"({"steps": [{"id": "x"}]})"), "--broker", c.endpoint()},
      c.dir());
  CHECK(bad.exit_code == 2);
  CHECK_MESSAGE(bad.err.find("needs exactly one of \"argv\" or \"cmd\"") != std::string::npos,
                bad.err);
}

}  // namespace
}  // namespace drover::testing
