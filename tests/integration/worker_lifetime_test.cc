// Workers that leave, with the real programs: drained on request (`submit
// worker drain`), after --idle-timeout, and at --time-limit, where steps
// with a `time_request` go only to workers with that much time left. A
// worker that leaves this way says goodbye holding nothing: no attempt of
// its is lost. Each test builds its own cluster.

#include <doctest/doctest.h>

#include <string>

#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

Process& FollowJson(Cluster& c, const std::string& job, std::unique_ptr<Process>* holder) {
  *holder = std::make_unique<Process>(
      std::vector<std::string>{BinDir() + "/submit", job, "--broker", c.endpoint(), "--json"},
      c.dir().path() + "/submit.out", c.dir().path() + "/submit.err", c.user_env());
  return **holder;
}

// Whether any attempt in `events` was lost (a step_finished in state lost,
// or a retry after a lost worker).
bool AnyLost(const std::vector<json>& events) {
  for (const json& e : EventsOf(events, "step_finished")) {
    if (e.value("state", "") == "lost" || e.value("attempt", 1) > 1) return true;
  }
  return false;
}

TEST_CASE("submit worker drain: the running step finishes there, the rest moves, the worker exits") {
  Cluster c;
  Process& a = c.AddWorker("a", 1, {"first"});
  c.AddWorker("b", 1);
  // `slow` can only start on a; `after` follows it and could run anywhere.
  const std::string job = c.dir().Write("job.json", R"({"steps": [
      {"id": "slow", "cmd": "sleep 1.5; echo slow done", "requires": ["first"]},
      {"id": "after", "cmd": "echo after ran", "after": ["slow"]},
      {"id": "more", "cmd": "echo more ran", "after": ["slow"]}]})");
  std::unique_ptr<Process> holder;
  Process& submit = FollowJson(c, job, &holder);
  REQUIRE(WaitUntil(seconds(20), [&] { return !EventsOf(JsonLines(submit.out()), "step_started").empty(); }));
  Run drain = RunCommand({BinDir() + "/submit", "worker", "drain", "a", "--broker", c.endpoint()},
                         c.dir(), seconds(30), c.user_env());
  CHECK(drain.exit_code == 0);
  CHECK(drain.out == "worker a is draining: it finishes the steps it has started, gives back the "
                     "ones it has not (1 assigned), takes no new ones, then exits\n");
  // a says so in `submit status` while it finishes.
  Run status = RunCommand({BinDir() + "/submit", "status", "--broker", c.endpoint()}, c.dir(),
                          seconds(30), c.user_env());
  CHECK(status.out.find("#1 a (") != std::string::npos);
  CHECK(status.out.find(", draining") != std::string::npos);
  REQUIRE(submit.Wait(seconds(30)).has_value());
  CHECK(submit.ExitCode() == 0);
  const auto events = JsonLines(submit.out());
  auto final = FinalStates(events);
  CHECK(final["slow"]["worker"] == "a");
  CHECK(final["slow"]["state"] == "succeeded");
  CHECK(final["after"]["worker"] == "b");
  CHECK(final["more"]["worker"] == "b");
  CHECK_FALSE(AnyLost(events));
  // Its work done, a leaves on its own, with status 0.
  REQUIRE(a.Wait(seconds(15)).has_value());
  CHECK(a.ExitCode() == 0);
  CHECK(a.err().find("drained (asked to by the broker): leaving") != std::string::npos);
  CHECK(c.broker().err().find("worker a (#1) said goodbye") != std::string::npos);
  // A name nobody has is refused, with a hint.
  Run unknown = RunCommand({BinDir() + "/submit", "worker", "drain", "bb", "--broker",
                            c.endpoint()},
                           c.dir(), seconds(30), c.user_env());
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("no worker is named \"bb\"; did you mean \"b\"?") != std::string::npos);
}

TEST_CASE("a worker with --idle-timeout leaves once it has had nothing to do for that long") {
  Cluster c;
  Process& w = c.AddWorker("idler", 2, {}, {"--idle-timeout", "1.5s"});
  const std::string job = c.dir().Write("job.json", R"({"steps": [
      {"id": "one", "cmd": "sleep 0.5"}, {"id": "two", "cmd": "echo two", "after": ["one"]}]})");
  int code = -1;
  const auto events = c.SubmitJson(job, &code);
  CHECK(code == 0);  // the work came first: it did not leave while it had some
  CHECK_FALSE(AnyLost(events));
  REQUIRE(w.Wait(seconds(15)).has_value());
  CHECK(w.ExitCode() == 0);
  CHECK(w.err().find("draining (idle for 1s") != std::string::npos);
  CHECK(c.broker().err().find("worker idler (#1) is draining (\"idle for") != std::string::npos);
  CHECK(c.broker().err().find("worker idler (#1) said goodbye") != std::string::npos);
}

TEST_CASE("--time-limit: a step whose time_request does not fit waits for a worker it fits") {
  Cluster c;
  // 16 s, less its 1 s of kill grace (the harness's) and 5 s of margin:
  // it leaves after ~10 s, time enough for `quick` under a sanitizer too.
  Process& limited = c.AddWorker("limited", 2, {}, {"--time-limit", "16"});
  CHECK(c.broker().err().find("worker limited (#1) has ") != std::string::npos);
  const std::string job = c.dir().Write("job.json", R"({"steps": [
      {"id": "quick", "cmd": "echo quick", "time_request": 2},
      {"id": "long", "cmd": "echo long", "time_request": 3600}]})");
  std::unique_ptr<Process> holder;
  Process& submit = FollowJson(c, job, &holder);
  json waiting;
  REQUIRE(WaitUntil(seconds(20), [&] {
    for (const json& e : EventsOf(JsonLines(submit.out()), "step_waiting")) waiting = e;
    return !waiting.is_null();
  }));
  CHECK(waiting["step"] == "long");
  CHECK(waiting["reason"].get<std::string>().starts_with(
      "no worker has 1h left before its time limit; the most is "));
  Run status = RunCommand({BinDir() + "/submit", "status", "--broker", c.endpoint()}, c.dir(),
                          seconds(30), c.user_env());
  CHECK(status.out.find("s left") != std::string::npos);
  c.AddWorker("unlimited", 1);
  REQUIRE(submit.Wait(seconds(30)).has_value());
  CHECK(submit.ExitCode() == 0);
  auto final = FinalStates(JsonLines(submit.out()));
  CHECK(final["quick"]["worker"] == "limited");
  CHECK(final["long"]["worker"] == "unlimited");
  // At its limit (less the time to stop its steps) it leaves, holding nothing.
  REQUIRE(limited.Wait(seconds(20)).has_value());
  CHECK(limited.ExitCode() == 0);
  CHECK(limited.err().find("leaving at the time limit: 0 running step(s)") != std::string::npos);
  CHECK(c.broker().err().find("worker limited (#1) said goodbye") != std::string::npos);
}

// Worker names (docs/reliability.md, "Worker names"). The other half, a
// restart taking its own name back at once, is fault_test's "a worker
// restarted on the same host".
TEST_CASE("a second worker under a connected worker's name is refused and exits with status 2") {
  Cluster c;
  Process& alpha = c.AddWorker("alpha", 1);
  // A state directory of its own: its lock does not stop it; the broker does.
  Run twin = RunCommand({BinDir() + "/worker", "--broker", c.endpoint(), "--name", "alpha",
                         "--state-dir", c.dir().path() + "/twin-state"},
                        c.dir(), seconds(30));
  CHECK(twin.exit_code == 2);
  CHECK_MESSAGE(twin.err.find("refused this worker: a worker named \"alpha\" is already "
                              "connected from ") != std::string::npos,
                twin.err);
  CHECK(twin.err.find("); give this one another --name") != std::string::npos);
  CHECK(c.broker().err().find("refused a worker from ") != std::string::npos);
  // The first is untouched, and another name gets in beside it.
  CHECK(alpha.running());
  c.AddWorker("beta", 1);
  const std::string job = c.dir().Write("one.json", R"({"steps": [{"id": "a", "argv": ["true"]}]})");
  CHECK(c.Submit(job).exit_code == 0);
}

TEST_CASE("a worker refuses a --time-limit it cannot read") {
  TempDir dir;
  Run bad = RunCommand({BinDir() + "/worker", "--time-limit", "soon", "--state-dir",
                        dir.path() + "/state"},
                       dir, seconds(30));
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--time-limit: expected a duration such as 3600, 90m, 12h or 1-00:00:00, "
                     "got \"soon\"") != std::string::npos);
}

}  // namespace
}  // namespace drover::testing
