// The query commands against a real broker and workers: `submit jobs`
// (filters, limit, JSON), `submit info`, `submit logs` (one step's output
// while it runs and after, --follow, --tail, streams, attempts) and
// `submit workers`. Owners' part is in owners_test.

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

// `submit ARGS... --broker ENDPOINT`.
Run Ask(Cluster& c, std::vector<std::string> args) {
  std::vector<std::string> argv = {BinDir() + "/submit"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--broker", c.endpoint()});
  return RunCommand(argv, c.dir(), seconds(60), c.user_env());
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string Job(const json& spec, Cluster& c, const std::string& file) {
  return c.dir().Write(file, spec.dump());
}

TEST_CASE("queries: submit jobs lists newest first, filtered, limited, and as JSON") {
  Cluster c;
  c.AddWorker("w1", 2);
  const json ok = {{"name", "nightly-a"}, {"steps", {{{"id", "a"}, {"cmd", "true"}}}}};
  const json bad = {{"name", "sweep"}, {"steps", {{{"id", "s"}, {"cmd", "exit 4"}}}}};
  json ok2 = ok;
  ok2["name"] = "nightly-b";
  CHECK(c.Submit(Job(ok, c, "a.json")).exit_code == 0);
  CHECK(c.Submit(Job(bad, c, "b.json")).exit_code == 1);
  CHECK(c.Submit(Job(ok2, c, "c.json")).exit_code == 0);

  Run all = Ask(c, {"jobs"});
  REQUIRE_MESSAGE(all.exit_code == 0, all.err);
  std::vector<std::string> lines = Lines(all.out);
  REQUIRE_MESSAGE(lines.size() >= 4, all.out);
  CHECK(lines[0].starts_with("ID  NAME"));
  CHECK(lines[1].starts_with("3   nightly-b"));
  CHECK(lines[2].starts_with("2   sweep"));
  CHECK(Has(lines[2], "failed"));
  CHECK(lines[3].starts_with("1   nightly-a"));
  for (const std::string& line : lines) CHECK(line.size() <= 80);

  // Owners without keys are as submit said, marked and explained below.
  CHECK(Has(all.out, "* as its submit said: this broker has no keys to check it\n"));
  Run failed = Ask(c, {"jobs", "--state", "failed"});
  CHECK_MESSAGE(Lines(failed.out).size() == 3, failed.out);
  CHECK(Has(failed.out, "sweep"));
  Run limited = Ask(c, {"jobs", "--name", "nightly-*", "--limit", "1"});
  CHECK_MESSAGE(Lines(limited.out).size() == 4, limited.out);
  CHECK(Has(limited.out, "nightly-b"));
  CHECK(Has(limited.out, "(the newest 1 of 2; --limit N shows more, --limit 0 all)"));
  CHECK(Ask(c, {"jobs", "--user", "nobody"}).out == "no jobs match\n");
  CHECK(Lines(Ask(c, {"jobs", "--since", "1h"}).out).size() >= 4);
  Run bad_since = Ask(c, {"jobs", "--since", "whenever"});
  CHECK(bad_since.exit_code == 2);
  CHECK(Has(bad_since.err, "--since whenever: give a time ago"));
  Run bad_state = Ask(c, {"jobs", "--state", "faild"});
  CHECK(bad_state.exit_code == 2);
  CHECK(Has(bad_state.err, "did you mean failed?"));

  const std::vector<json> listed = JsonLines(Ask(c, {"jobs", "--json"}).out);
  REQUIRE(listed.size() == 3);
  CHECK(listed[0]["id"] == 3);
  CHECK(listed[1]["name"] == "sweep");
  CHECK(listed[1]["state"] == "failed");
  CHECK(listed[1]["counts"]["failed"] == 1);
  CHECK(listed[1]["submitted_ms"].get<int64_t>() > 0);
  CHECK(listed[1]["ended_ms"].get<int64_t>() >= listed[1]["submitted_ms"].get<int64_t>());
  CHECK(listed[1]["owner_verified"] == false);
}

TEST_CASE("queries: submit info shows every step, or those that did not succeed") {
  Cluster c;
  c.AddWorker("w1", 2);
  const json spec = {{"name", "pipeline"},
                     {"steps",
                      {{{"id", "fetch"}, {"cmd", "true"}},
                       {{"id", "train"}, {"cmd", "exit 3"}, {"after", {"fetch"}}},
                       {{"id", "report"}, {"cmd", "true"}, {"after", {"train"}}}}}};
  CHECK(c.Submit(Job(spec, c, "p.json")).exit_code == 1);
  Run info = Ask(c, {"info", "1"});
  REQUIRE_MESSAGE(info.exit_code == 0, info.err);
  CHECK_MESSAGE(Has(info.out, "job 1 (pipeline): failed, by "), info.out);
  CHECK(Has(info.out, "3 steps: 1 succeeded, 1 failed, 1 skipped"));
  CHECK(Has(info.out, "STEP    STATE      TRIES  WORKER  EXIT"));
  CHECK(Has(info.out, "fetch   succeeded  1      w1      0"));
  CHECK(Has(info.out, "train   failed     1      w1      3"));
  CHECK(Has(info.out, "train: exited with code 3"));
  for (const std::string& line : Lines(info.out)) CHECK(line.size() <= 80);
  Run failed = Ask(c, {"info", "1", "--failed"});
  CHECK_FALSE(Has(failed.out, "fetch "));
  CHECK(Has(failed.out, "report  skipped"));
  const std::vector<json> j = JsonLines(Ask(c, {"info", "1", "--json"}).out);
  REQUIRE(j.size() == 1);
  CHECK(j[0]["state"] == "failed");
  REQUIRE(j[0]["steps"].size() == 3);
  CHECK(j[0]["steps"][1]["step"] == "train");
  CHECK(j[0]["steps"][1]["exit_code"] == 3);
  CHECK(j[0]["steps"][1]["duration_ms"].is_number());
  CHECK(j[0]["steps"][2]["reason"] == "needs \"train\", which failed");
  Run none = Ask(c, {"info", "7"});
  CHECK(none.exit_code == 2);
  CHECK(Has(none.err, "no job 7"));
}

TEST_CASE("queries: submit logs prints a step's output while it runs, after, and followed") {
  Cluster c;
  c.AddWorker("w1", 2);
  const std::string again = c.dir().path() + "/again";
  const json spec = {
      {"name", "ticks"},
      {"steps",
       {{{"id", "tick"},
         {"cmd", "for i in 1 2 3 4 5 6 7 8; do echo tick $i; echo err $i >&2; sleep 0.25; done"}},
        {{"id", "flaky"},
         {"cmd", "echo try; test -e " + again + " || { touch " + again + "; exit 1; }"},
         {"retries", 1}}}}};
  Run sent = c.Submit(Job(spec, c, "t.json"), {"--detach"});
  REQUIRE(sent.out == "1\n");
  // While it runs: what is there now, and the command returns.
  Run now;
  REQUIRE(WaitUntil(milliseconds(10'000), [&] {
    now = Ask(c, {"logs", "1", "tick"});
    return Has(now.out, "tick 2\n");
  }));
  CHECK(now.exit_code == 0);
  CHECK(now.out.starts_with("tick 1\ntick 2\n"));  // as printed: no prefix
  CHECK_FALSE(Has(now.out, "tick 8"));
  CHECK_FALSE(Has(now.out, "err"));
  // Followed: the last line there was, then the rest as it comes, once each.
  Run followed = Ask(c, {"logs", "1", "tick", "--follow", "--tail", "1"});
  CHECK(followed.exit_code == 0);
  const std::vector<std::string> lines = Lines(followed.out);
  REQUIRE_MESSAGE(!lines.empty(), followed.err);
  CHECK(lines.back() == "tick 8");
  CHECK(lines.size() < 8);
  for (size_t i = 1; i < lines.size(); ++i) {
    CHECK(std::stoi(lines[i].substr(5)) == std::stoi(lines[i - 1].substr(5)) + 1);
  }
  // After: everything, by stream and attempt; every step prefixed.
  CHECK(Ask(c, {"logs", "1", "tick", "--stderr", "--tail", "2"}).out == "err 7\nerr 8\n");
  CHECK(Ask(c, {"logs", "1", "flaky"}).out == "try\n--- flaky: attempt 2 ---\ntry\n");
  CHECK(Ask(c, {"logs", "1", "flaky", "--attempt", "2"}).out == "try\n");
  Run both = Ask(c, {"logs", "1"});
  CHECK(Has(both.out, "[tick] tick 8\n"));
  CHECK(Has(both.out, "[flaky] try\n"));
  const std::vector<json> j = JsonLines(Ask(c, {"logs", "1", "flaky", "--json"}).out);
  REQUIRE(j.size() == 2);
  CHECK(j[1] == json{{"step", "flaky"}, {"attempt", 2}, {"stream", "stdout"}, {"line", "try"}});
  Run typo = Ask(c, {"logs", "1", "tik"});
  CHECK(typo.exit_code == 2);
  CHECK(Has(typo.err, "job 1 has no step \"tik\"; did you mean \"tick\"?"));
}

TEST_CASE("queries: submit workers lists each worker with what it has") {
  Cluster c;
  c.AddWorker("w1", 2, {"gpu"});
  c.AddWorker("w2", 1);
  Run workers = Ask(c, {"workers"});
  REQUIRE_MESSAGE(workers.exit_code == 0, workers.err);
  const std::vector<std::string> lines = Lines(workers.out);
  CHECK(lines[0].starts_with("NAME  HOST"));
  CHECK(Has(workers.out, "labels gpu"));
  CHECK(Has(lines[1], "0/2"));
  for (const std::string& line : lines) CHECK(line.size() <= 80);
  const std::vector<json> j = JsonLines(Ask(c, {"workers", "--json"}).out);
  REQUIRE(j.size() == 2);
  CHECK(j[0]["name"] == "w1");
  CHECK(j[0]["slots"] == 2);
  CHECK(j[0]["labels"] == json{"gpu"});
  CHECK(j[1]["connected_ms"].get<int64_t>() > 0);
  CHECK(j[1]["heard_ms"].get<int64_t>() >= j[1]["connected_ms"].get<int64_t>());
}

}  // namespace
}  // namespace drover::testing
