// Step policies end to end: retries (with backoff and retry_unless_exit),
// timeouts, abort_on_exit, cancelling and resuming, each on a real broker and
// workers. What ran is proven by side effects: steps append a line to a log
// file and write their pid to a file the test reads, so the claims of the
// broker's events are checked against what really happened.

#include <signal.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Generous: these tests share two cores with the rest of the suite.
constexpr auto kDeadline = seconds(30);

// Each step's shell sees the test's directory as $D. A step's first act is
// to append "STEP ATTEMPT JOB" to $D/log: the log is the ground truth of
// which attempts started.
const char* kLogStart = "echo \"$DROVER_STEP_ID $DROVER_ATTEMPT $DROVER_JOB_ID\" >> \"$D/log\"; ";
// Writes the shell's pid, then becomes `sleep 60` under that same pid.
const char* kRecordPidAndSleep =
    "echo $$ > \"$D/$DROVER_STEP_ID.$DROVER_ATTEMPT.pid\"; exec sleep 60";

// A job whose steps all get $D.
json JobIn(const TempDir& dir, json steps, json job_fields = json::object()) {
  json job = std::move(job_fields);
  job["defaults"]["env"] = {{"D", dir.path()}};
  job["steps"] = std::move(steps);
  return job;
}

// The "STEP ATTEMPT" part of each line of $D/log (the job id dropped).
std::vector<std::string> LoggedAttempts(const TempDir& dir) {
  std::vector<std::string> out;
  for (const std::string& line : Lines(ReadFile(dir.path() + "/log"))) {
    out.push_back(line.substr(0, line.rfind(' ')));
  }
  return out;
}

// The pid a step wrote to $D/STEP.ATTEMPT.pid, once it is there and is the
// `sleep` the shell became; 0 if that does not happen within the deadline.
pid_t AttemptPid(const TempDir& dir, const std::string& step, int attempt) {
  return SleeperPid(dir.path() + "/" + step + "." + std::to_string(attempt) + ".pid", kDeadline);
}

bool GoneWithin(pid_t pid, std::chrono::milliseconds within) {
  return WaitUntil(within, [&] { return !Alive(pid); });
}

// Every step_finished event of `step`, in order (one per attempt that ended).
std::vector<json> AttemptsOf(const std::vector<json>& events, const std::string& step) {
  std::vector<json> out;
  for (const json& e : EventsOf(events, "step_finished")) {
    if (e["step"] == step) out.push_back(e);
  }
  return out;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// `submit ARGS... --broker EP` in the background, its output in the test's
// directory under `name`.
std::unique_ptr<Process> StartSubmit(const Cluster& c, const std::string& name,
                                     std::vector<std::string> args) {
  std::vector<std::string> argv = {BinDir() + "/submit"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--broker");
  argv.push_back(c.endpoint());
  const std::string base = c.dir().path() + "/" + name;
  return std::make_unique<Process>(argv, base + ".out", base + ".err");
}

// Waits for `p` to exit; fails the test (with its stderr) if it does not.
int ExitOf(Process& p, Cluster& c) {
  const bool exited = p.Wait(kDeadline).has_value();
  REQUIRE_MESSAGE(exited, "submit did not finish; its stderr:\n"
                              << p.err() << "\nbroker logs:\n"
                              << c.BrokerLogs());
  return *p.ExitCode();
}

TEST_CASE("policies: a step's process killed with SIGKILL is a failed attempt, retried if it may") {
  Cluster c;
  Process& worker = c.AddWorker("w1", 2);
  // `flaky` sleeps on its first attempt and succeeds on its second;
  // `doomed` has no retry, and `needs-doomed` needs it.
  const std::string sleep_first =
      std::string(kLogStart) + "[ \"$DROVER_ATTEMPT\" -ge 2 ] && exit 0; " + kRecordPidAndSleep;
  const json job =
      JobIn(c.dir(), {
                         {{"id", "flaky"}, {"retries", 1}, {"cmd", sleep_first}},
                         {{"id", "doomed"}, {"cmd", std::string(kLogStart) + kRecordPidAndSleep}},
                         {{"id", "needs-doomed"}, {"after", {"doomed"}}, {"cmd", kLogStart}},
                     });
  auto submit = StartSubmit(c, "submit", {c.dir().Write("job.json", job.dump()), "--json"});
  const pid_t flaky = AttemptPid(c.dir(), "flaky", 1);
  const pid_t doomed = AttemptPid(c.dir(), "doomed", 1);
  REQUIRE_MESSAGE(flaky > 0, submit->err());
  REQUIRE_MESSAGE(doomed > 0, submit->err());
  REQUIRE(kill(flaky, SIGKILL) == 0);
  REQUIRE(kill(doomed, SIGKILL) == 0);
  CHECK(ExitOf(*submit, c) == 1);

  const auto events = JsonLines(submit->out());
  const auto flaky_runs = AttemptsOf(events, "flaky");
  REQUIRE(flaky_runs.size() == 2);
  CHECK(flaky_runs[0]["attempt"] == 1);
  CHECK(flaky_runs[0]["retrying"] == true);
  CHECK(flaky_runs[0]["outcome"] == "signaled");
  CHECK(flaky_runs[0]["signal"] == SIGKILL);
  CHECK(flaky_runs[0]["exit_code"].is_null());
  CHECK(Contains(flaky_runs[0]["reason"], "killed by SIGKILL; retrying (retry 1 of 1)"));
  CHECK(flaky_runs[1]["attempt"] == 2);
  CHECK(flaky_runs[1]["state"] == "succeeded");
  CHECK(flaky_runs[1]["exit_code"] == 0);

  const auto doomed_runs = AttemptsOf(events, "doomed");
  REQUIRE(doomed_runs.size() == 1);
  CHECK(doomed_runs[0]["state"] == "failed");
  CHECK(doomed_runs[0]["outcome"] == "signaled");
  CHECK(doomed_runs[0]["signal"] == SIGKILL);
  CHECK(doomed_runs[0]["reason"] == "killed by SIGKILL");
  auto final = FinalStates(events);
  CHECK(final["needs-doomed"]["state"] == "skipped");
  CHECK(final["needs-doomed"]["reason"] == "needs \"doomed\", which failed");

  // What ran: both attempts of flaky, doomed once, never its dependent.
  std::vector<std::string> ran = LoggedAttempts(c.dir());
  std::sort(ran.begin(), ran.end());
  CHECK(ran == std::vector<std::string>{"doomed 1", "flaky 1", "flaky 2"});

  // The worker itself was untouched, and still runs steps.
  CHECK_FALSE(worker.Wait(milliseconds(0)).has_value());
  int code = -1;
  auto after = FinalStates(c.SubmitJson(
      c.dir().Write("after.json", R"({"steps": [{"id": "still-there", "argv": ["true"]}]})"),
      &code));
  CHECK(code == 0);
  CHECK(after["still-there"]["worker"] == "w1");
}

TEST_CASE("policies: retries back off from retry_delay, doubling each time") {
  Cluster c;
  c.AddWorker("w1", 1);
  // Fails on attempts 1 and 2, succeeds on 3.
  const json job =
      JobIn(c.dir(), {
                         {{"id", "flaky"},
                          {"retries", 3},
                          {"retry_delay", 0.3},
                          {"cmd", std::string(kLogStart) + "[ \"$DROVER_ATTEMPT\" -ge 3 ]"}},
                     });
  int code = -1;
  const auto events = c.SubmitJson(c.dir().Write("job.json", job.dump()), &code);
  CHECK(code == 0);
  CHECK(LoggedAttempts(c.dir()) == std::vector<std::string>{"flaky 1", "flaky 2", "flaky 3"});
  const auto runs = AttemptsOf(events, "flaky");
  REQUIRE(runs.size() == 3);
  for (int i = 0; i < 3; ++i) CHECK(runs[i]["attempt"] == i + 1);
  CHECK(runs[0]["reason"] == "exited with code 1; retrying in 0.3s (retry 1 of 3)");
  CHECK(runs[1]["reason"] == "exited with code 1; retrying in 0.6s (retry 2 of 3)");
  CHECK(runs[2]["state"] == "succeeded");
  // Each retry started no sooner than its delay after the attempt before
  // ended: 300 ms, then twice that. Less 1 ms: the clocks count whole
  // milliseconds, and the broker's and the worker's may round apart.
  const int64_t gap1 = runs[1]["started_ms"].get<int64_t>() - runs[0]["ended_ms"].get<int64_t>();
  const int64_t gap2 = runs[2]["started_ms"].get<int64_t>() - runs[1]["ended_ms"].get<int64_t>();
  INFO("gaps: " << gap1 << " ms, " << gap2 << " ms");
  CHECK(gap1 >= 299);
  CHECK(gap2 >= 599);
}

TEST_CASE("policies: an exit code in retry_unless_exit is not retried, others are") {
  Cluster c;
  c.AddWorker("w1", 2);
  // Retries and the codes not to retry come from defaults.
  const json job = JobIn(
      c.dir(),
      {
          // A listed code: one attempt, though retries are left.
          {{"id", "listed"}, {"cmd", std::string(kLogStart) + "exit 3"}},
          // An unlisted code: retried, and the retry succeeds.
          {{"id", "unlisted"},
           {"cmd", std::string(kLogStart) + "[ \"$DROVER_ATTEMPT\" -ge 2 ] || exit 5"}},
          // Unlisted first (retried), then listed (retrying stops there).
          {{"id", "then-listed"},
           {"cmd", std::string(kLogStart) + "[ \"$DROVER_ATTEMPT\" -ge 2 ] && exit 4; exit 5"}},
      },
      {{"defaults", {{"retries", 2}, {"retry_unless_exit", {3, 4}}}}});
  int code = -1;
  const auto events = c.SubmitJson(c.dir().Write("job.json", job.dump()), &code);
  CHECK(code == 1);

  const auto listed = AttemptsOf(events, "listed");
  REQUIRE(listed.size() == 1);
  CHECK(listed[0]["state"] == "failed");
  CHECK(listed[0]["exit_code"] == 3);
  CHECK(listed[0]["reason"] ==
        "exited with code 3 (not retried: that exit code is in retry_unless_exit)");

  const auto unlisted = AttemptsOf(events, "unlisted");
  REQUIRE(unlisted.size() == 2);
  CHECK(unlisted[0]["retrying"] == true);
  CHECK(unlisted[0]["exit_code"] == 5);
  CHECK(unlisted[1]["state"] == "succeeded");

  const auto then_listed = AttemptsOf(events, "then-listed");
  REQUIRE(then_listed.size() == 2);
  CHECK(then_listed[0]["retrying"] == true);
  CHECK(then_listed[0]["exit_code"] == 5);
  CHECK(then_listed[1]["state"] == "failed");
  CHECK(then_listed[1]["exit_code"] == 4);

  std::vector<std::string> ran = LoggedAttempts(c.dir());
  std::sort(ran.begin(), ran.end());
  CHECK(ran == std::vector<std::string>{"listed 1", "then-listed 1", "then-listed 2", "unlisted 1",
                                        "unlisted 2"});
}

TEST_CASE("policies: abort_on_exit ends the job: running steps killed, the rest never start") {
  Cluster c;
  c.AddWorker("w1", 2);
  c.AddWorker("w2", 2);
  // Four slots: three long steps and the bomb fill them, so `queued` waits
  // for room; `dependent` waits for a long step. The bomb goes off once the
  // long steps are all running.
  const std::string long_step = std::string(kLogStart) + kRecordPidAndSleep;
  const json job =
      JobIn(c.dir(),
            {
                {{"id", "long-a"}, {"cmd", long_step}},
                {{"id", "long-b"}, {"cmd", long_step}},
                {{"id", "long-c"}, {"cmd", long_step}},
                {{"id", "bomb"},
                 {"retries", 2},  // abort_on_exit wins over retries
                 {"cmd", std::string(kLogStart) +
                             "while [ ! -e \"$D/go\" ]; do sleep 0.05; done; exit 42"}},
                {{"id", "queued"}, {"cmd", kLogStart}},
                {{"id", "dependent"}, {"after", {"long-a"}}, {"cmd", kLogStart}},
            },
            {{"abort_on_exit", {42}}});
  auto submit = StartSubmit(c, "submit", {c.dir().Write("job.json", job.dump()), "--json"});
  std::map<std::string, pid_t> pids;
  for (const std::string step : {"long-a", "long-b", "long-c"}) {
    pids[step] = AttemptPid(c.dir(), step, 1);
    REQUIRE_MESSAGE(pids[step] > 0, step << " never started; submit:\n" << submit->err());
  }
  c.dir().Write("go", "");
  CHECK(ExitOf(*submit, c) == 1);

  const auto events = JsonLines(submit->out());
  std::set<std::string> long_workers;
  for (const json& e : EventsOf(events, "step_started")) {
    if (e["step"].get<std::string>().rfind("long-", 0) == 0) long_workers.insert(e["worker"]);
  }
  CHECK(long_workers == std::set<std::string>{"w1", "w2"});
  auto final = FinalStates(events);
  CHECK(final["bomb"]["state"] == "failed");
  CHECK(final["bomb"]["exit_code"] == 42);
  CHECK(final["bomb"]["attempt"] == 1);
  CHECK(final["bomb"]["reason"] == "exited with code 42; the job is aborted (abort_on_exit)");
  const std::string why = "the job was aborted: \"bomb\" exited with code 42";
  for (const std::string step : {"long-a", "long-b", "long-c"}) {
    CAPTURE(step);
    CHECK(final[step]["state"] == "cancelled");
    CHECK(final[step]["outcome"] == "killed");
    CHECK(final[step]["reason"] == why);
    CHECK_MESSAGE(GoneWithin(pids[step], kDeadline), "pid " << pids[step] << " still runs");
  }
  for (const std::string step : {"queued", "dependent"}) {
    CAPTURE(step);
    CHECK(final[step]["state"] == "cancelled");
    CHECK(final[step]["worker"].is_null());
    CHECK(final[step]["reason"] == why);
  }
  // An aborted job failed (it was not cancelled by anyone).
  const auto ended = EventsOf(events, "job_finished");
  REQUIRE(ended.size() == 1);
  CHECK(ended[0]["state"] == "failed");
  CHECK(ended[0]["counts"]["failed"] == 1);
  CHECK(ended[0]["counts"]["cancelled"] == 5);
  std::vector<std::string> ran = LoggedAttempts(c.dir());
  std::sort(ran.begin(), ran.end());
  CHECK(ran == std::vector<std::string>{"bomb 1", "long-a 1", "long-b 1", "long-c 1"});
}

TEST_CASE(
    "policies: a timeout kills the step's whole process group, and is retried like a failure") {
  Cluster c;
  c.AddWorker("w1", 2);
  // `hang` leaves a grandchild that ignores SIGTERM (so only the group's
  // SIGKILL can end it), and waits for it. `slow-once` outruns its timeout
  // on the first attempt only.
  const json job = JobIn(
      c.dir(),
      {
          {{"id", "hang"},
           {"timeout", 2},
           {"cmd", std::string(kLogStart) +
                       "sh -c 'trap \"\" TERM; exec sleep 1000' & echo $! > \"$D/gc.pid\"; wait"}},
          {{"id", "slow-once"},
           {"timeout", 1},
           {"retries", 1},
           {"cmd", std::string(kLogStart) + "[ \"$DROVER_ATTEMPT\" -ge 2 ] || exec sleep 60"}},
      });
  int code = -1;
  const auto events = c.SubmitJson(c.dir().Write("job.json", job.dump()), &code);
  CHECK(code == 1);

  const auto hang = AttemptsOf(events, "hang");
  REQUIRE(hang.size() == 1);
  CHECK(hang[0]["state"] == "failed");
  CHECK(hang[0]["outcome"] == "timed-out");
  CHECK(hang[0]["signal"] == SIGTERM);  // the shell itself died of the first signal
  CHECK(Contains(hang[0]["reason"], "timed out after 2s"));
  // It had its whole timeout. The deadline is kept on the monotonic clock
  // and the times reported on the wall clock, both in whole milliseconds:
  // one millisecond of rounding, no more.
  const int64_t ran_ms = hang[0]["ended_ms"].get<int64_t>() - hang[0]["started_ms"].get<int64_t>();
  CHECK_MESSAGE(ran_ms >= 2000 - 1, "terminated after " << ran_ms << " ms");
  const std::string gc_text = ReadFile(c.dir().path() + "/gc.pid");
  REQUIRE_MESSAGE(!gc_text.empty(), "the step never wrote its grandchild's pid");
  const pid_t grandchild = std::stoi(gc_text);
  CHECK_MESSAGE(GoneWithin(grandchild, kDeadline),
                "the grandchild " << grandchild << " outlived its step's timeout");

  const auto slow = AttemptsOf(events, "slow-once");
  REQUIRE(slow.size() == 2);
  CHECK(slow[0]["outcome"] == "timed-out");
  CHECK(slow[0]["retrying"] == true);
  CHECK(Contains(slow[0]["reason"], "timed out after 1s"));
  const int64_t slow_ms = slow[0]["ended_ms"].get<int64_t>() - slow[0]["started_ms"].get<int64_t>();
  CHECK_MESSAGE(slow_ms >= 1000 - 1, "terminated after " << slow_ms << " ms");
  CHECK(Contains(slow[0]["reason"], "retrying (retry 1 of 1)"));
  CHECK(slow[1]["state"] == "succeeded");
  std::vector<std::string> ran = LoggedAttempts(c.dir());
  std::sort(ran.begin(), ran.end());
  CHECK(ran == std::vector<std::string>{"hang 1", "slow-once 1", "slow-once 2"});
}

TEST_CASE("policies: submit --cancel stops a job on every worker, and --watch shows it after") {
  Cluster c;
  c.AddWorker("w1", 2);
  c.AddWorker("w2", 2);
  const std::string long_step = std::string(kLogStart) + kRecordPidAndSleep;
  // long-d ignores SIGTERM: only the SIGKILL after the grace period ends it.
  const json job =
      JobIn(c.dir(), {
                         {{"id", "long-a"}, {"cmd", long_step}},
                         {{"id", "long-b"}, {"cmd", long_step}},
                         {{"id", "long-c"}, {"cmd", long_step}},
                         {{"id", "long-d"}, {"cmd", "trap '' TERM; " + long_step}},
                         {{"id", "queued"}, {"cmd", kLogStart}},
                         {{"id", "dependent"}, {"after", {"long-a"}}, {"cmd", kLogStart}},
                     });
  auto follower = StartSubmit(c, "follower", {c.dir().Write("job.json", job.dump()), "--json"});
  std::map<std::string, pid_t> pids;
  for (const std::string step : {"long-a", "long-b", "long-c", "long-d"}) {
    pids[step] = AttemptPid(c.dir(), step, 1);
    REQUIRE_MESSAGE(pids[step] > 0, step << " never started; submit:\n" << follower->err());
  }
  // The job's id, from the follower's first event.
  REQUIRE(WaitUntil(kDeadline, [&] { return Contains(follower->out(), "\n"); }));
  const json accepted = json::parse(Lines(follower->out())[0]);
  REQUIRE(accepted["event"] == "accepted");
  const std::string id = std::to_string(accepted["job"].get<uint64_t>());

  // A job still running cannot be resumed.
  Run early = RunCommand({BinDir() + "/submit", "--resume", id, "--broker", c.endpoint()}, c.dir());
  CHECK(early.exit_code == 2);
  CHECK(Contains(early.err, "job " + id + " is still running"));

  Run cancel =
      RunCommand({BinDir() + "/submit", "--cancel", id, "--broker", c.endpoint()}, c.dir());
  CHECK_MESSAGE(cancel.exit_code == 0, cancel.err);
  CHECK(cancel.out == "job " + id + " is being cancelled\n");
  CHECK(ExitOf(*follower, c) == 1);  // cancelled by someone else

  const auto events = JsonLines(follower->out());
  std::set<std::string> workers;
  for (const json& e : EventsOf(events, "step_started")) workers.insert(e["worker"]);
  CHECK(workers == std::set<std::string>{"w1", "w2"});
  auto final = FinalStates(events);
  for (const std::string step : {"long-a", "long-b", "long-c", "long-d"}) {
    CAPTURE(step);
    CHECK(final[step]["state"] == "cancelled");
    CHECK(final[step]["outcome"] == "killed");
    CHECK(final[step]["reason"] == "the job was cancelled");
    CHECK(final[step]["signal"] == (step == "long-d" ? SIGKILL : SIGTERM));
    CHECK_MESSAGE(GoneWithin(pids[step], kDeadline), "pid " << pids[step] << " still runs");
  }
  for (const std::string step : {"queued", "dependent"}) {
    CAPTURE(step);
    CHECK(final[step]["state"] == "cancelled");
    CHECK(final[step]["worker"].is_null());
  }
  const auto ended = EventsOf(events, "job_finished");
  REQUIRE(ended.size() == 1);
  CHECK(ended[0]["state"] == "cancelled");
  CHECK(ended[0]["counts"]["cancelled"] == 6);
  std::vector<std::string> ran = LoggedAttempts(c.dir());
  std::sort(ran.begin(), ran.end());
  CHECK(ran == std::vector<std::string>{"long-a 1", "long-b 1", "long-c 1", "long-d 1"});

  // Over, and still there to be looked at: --watch replays the same end.
  Run watch = RunCommand({BinDir() + "/submit", "--watch", id, "--json", "--broker", c.endpoint()},
                         c.dir());
  CHECK(watch.exit_code == 1);
  const auto watched = JsonLines(watch.out);
  const auto watched_end = EventsOf(watched, "job_finished");
  REQUIRE(watched_end.size() == 1);
  CHECK(watched_end[0]["state"] == "cancelled");
  CHECK(watched_end[0]["counts"] == ended[0]["counts"]);
  auto watched_final = FinalStates(watched);
  for (const auto& [step, e] : final) CHECK(watched_final[step]["state"] == e["state"]);
  // Cancelling it again is no error; the workers are idle.
  Run again = RunCommand({BinDir() + "/submit", "--cancel", id, "--broker", c.endpoint()}, c.dir());
  CHECK(again.exit_code == 0);
  Run status = RunCommand({BinDir() + "/submit", "status", "--broker", c.endpoint()}, c.dir());
  CHECK(Contains(status.out, "job " + id + ": cancelled"));
  size_t idle = 0;
  for (const std::string& line : Lines(status.out)) idle += Contains(line, ": 0/2 slots busy");
  CHECK_MESSAGE(idle == 2, status.out);
}

TEST_CASE("policies: --resume runs again only the steps that did not succeed") {
  Cluster c;
  c.AddWorker("w1", 2);
  // `flagged` fails until the test creates $D/flag; `needs-flagged` is
  // skipped the first time; `first` and `independent` succeed.
  const json job =
      JobIn(c.dir(), {
                         {{"id", "first"}, {"cmd", kLogStart}},
                         {{"id", "flagged"},
                          {"after", {"first"}},
                          {"cmd", std::string(kLogStart) + "[ -e \"$D/flag\" ]"}},
                         {{"id", "needs-flagged"}, {"after", {"flagged"}}, {"cmd", kLogStart}},
                         {{"id", "independent"}, {"cmd", kLogStart}},
                     });
  int code = -1;
  const auto first_events = c.SubmitJson(c.dir().Write("job.json", job.dump()), &code);
  CHECK(code == 1);
  auto first = FinalStates(first_events);
  CHECK(first["first"]["state"] == "succeeded");
  CHECK(first["flagged"]["state"] == "failed");
  CHECK(first["needs-flagged"]["state"] == "skipped");
  CHECK(first["independent"]["state"] == "succeeded");
  REQUIRE(!first_events.empty());
  const std::string id = std::to_string(first_events[0]["job"].get<uint64_t>());

  c.dir().Write("flag", "");
  Run resumed = RunCommand(
      {BinDir() + "/submit", "--resume", id, "--json", "--broker", c.endpoint()}, c.dir());
  CHECK_MESSAGE(resumed.exit_code == 0, resumed.err);
  const auto events = JsonLines(resumed.out);
  REQUIRE(!events.empty());
  REQUIRE(events[0]["event"] == "accepted");
  const std::string new_id = std::to_string(events[0]["job"].get<uint64_t>());
  CHECK(new_id != id);
  auto final = FinalStates(events);
  REQUIRE(final.size() == 4);
  for (const auto& step : final) CHECK_MESSAGE(step.second["state"] == "succeeded", step.first);
  // Kept from the first job, not run again.
  for (const std::string step : {"first", "independent"}) {
    CAPTURE(step);
    CHECK(final[step]["reason"] == "succeeded in job " + id);
    CHECK(final[step]["worker"].is_null());
  }
  std::set<std::string> started;
  for (const json& e : EventsOf(events, "step_started")) started.insert(e["step"]);
  CHECK(started == std::set<std::string>{"flagged", "needs-flagged"});
  const auto ended = EventsOf(events, "job_finished");
  REQUIRE(ended.size() == 1);
  CHECK(ended[0]["state"] == "succeeded");

  // The log across both jobs: every step that succeeded ran exactly once.
  std::vector<std::string> ran = Lines(ReadFile(c.dir().path() + "/log"));
  std::sort(ran.begin(), ran.end());
  CHECK(ran == std::vector<std::string>{"first 1 " + id, "flagged 1 " + id, "flagged 1 " + new_id,
                                        "independent 1 " + id, "needs-flagged 1 " + new_id});

  // A job that ended other than cancelled cannot be cancelled any more.
  Run late = RunCommand({BinDir() + "/submit", "--cancel", id, "--broker", c.endpoint()}, c.dir());
  CHECK(late.exit_code == 2);
  CHECK(Contains(late.err, "has already failed"));
  Run unknown =
      RunCommand({BinDir() + "/submit", "--resume", "99", "--broker", c.endpoint()}, c.dir());
  CHECK(unknown.exit_code == 2);
  CHECK(Contains(unknown.err, "no job 99"));
}

TEST_CASE("policies: --resume gives a step the stdout of a producer that succeeded before") {
  Cluster c;
  Process& w1 = c.AddWorker("w1", 1);
  // `take` reads `make`'s stdout and fails until $D/flag exists; resumed,
  // `make` does not run again, and `take` must still get its output, also
  // from a broker restarted in between.
  // A short lease: job 3 below may go to w1, killed but not yet missed.
  const json job = {
      {"name", "pipe"},
      {"lease", 2},
      {"steps",
       {{{"id", "make"}, {"argv", {"echo", "made once"}}},
        {{"id", "take"},
         {"after", {"make"}},
         {"stdin_from", "make"},
         {"cmd", "cat; [ -e \"" + c.dir().path() + "/flag\" ]"}}}}};
  int code = -1;
  c.SubmitJson(c.dir().Write("job.json", job.dump()), &code);
  REQUIRE(code == 1);
  c.dir().Write("flag", "");
  Run detached = RunCommand(
      {BinDir() + "/submit", "--resume", "1", "--detach", "--broker", c.endpoint()}, c.dir());
  REQUIRE(detached.exit_code == 0);
  CHECK(detached.out == "2\n");
  Run resumed =
      RunCommand({BinDir() + "/submit", "--watch", "2", "--json", "--broker", c.endpoint()}, c.dir());
  CHECK_MESSAGE(resumed.exit_code == 0, resumed.err);
  std::string taken;
  for (const json& e : EventsOf(JsonLines(resumed.out), "output")) {
    if (e["step"] == "take") taken += e["data"].get<std::string>();
  }
  CHECK(taken == "made once\n");
  // Once more, the job waiting for a worker across a broker restart:
  // replay keeps job 3's copy.
  w1.Signal(SIGKILL);
  w1.Wait(seconds(10));
  RunCommand({BinDir() + "/submit", "--resume", "1", "--detach", "--broker", c.endpoint()},
             c.dir());
  c.KillBroker();
  c.RestartBroker();
  c.StartWorker("w2", 1);  // w1 is listed out of touch until its lease ends
  Run third =
      RunCommand({BinDir() + "/submit", "--watch", "3", "--json", "--broker", c.endpoint()}, c.dir());
  taken.clear();
  for (const json& e : EventsOf(JsonLines(third.out), "output")) {
    if (e["step"] == "take") taken += e["data"].get<std::string>();
  }
  CHECK(taken == "made once\n");
  CHECK_MESSAGE(third.exit_code == 0, third.err);
}

}  // namespace
}  // namespace drover::testing
