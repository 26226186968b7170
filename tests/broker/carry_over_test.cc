// CarryOver (broker/core/carry_over.h): which steps a resumed job keeps,
// with the job file as it was and as edited. Files are written as JSON and
// loaded as the broker loads them.

#include "broker/core/carry_over.h"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "shared/job_load.h"

namespace drover::broker {
namespace {

JobSpec Load(const std::string& json) {
  Result<std::string> bytes = JsonToMsgpack(json);
  REQUIRE_MESSAGE(bytes.ok(), bytes.status().message());
  LoadedJob loaded = LoadJob(bytes.value());
  REQUIRE_MESSAGE(loaded.spec, (loaded.problems.empty() ? "" : FormatProblem(loaded.problems[0])));
  return *loaded.spec;
}

// The old job's steps that succeeded, by id.
std::vector<bool> SucceededOf(const JobSpec& spec, const std::vector<std::string>& ids) {
  std::vector<bool> out(spec.steps.size());
  for (size_t i = 0; i < spec.steps.size(); ++i) {
    out[i] = std::find(ids.begin(), ids.end(), spec.steps[i].id) != ids.end();
  }
  return out;
}

// Steps whose stdout the spool kept: those some step read.
std::vector<uint32_t> CapturedOf(const JobSpec& spec) {
  std::vector<uint32_t> out;
  for (const StepSpec& s : spec.steps) {
    for (StepIndex p : s.StdinFrom()) out.push_back(p.value);
  }
  return out;
}

// The ids of the new job's steps that carry over, each with the old step's id.
std::map<std::string, std::string> Carried(const JobSpec& old, const CarryOver& plan,
                                           const JobSpec& next) {
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < plan.from.size(); ++i) {
    if (plan.from[i]) out[next.steps[i].id] = old.steps[plan.from[i]->value].id;
  }
  return out;
}

CarryOver Plan(const JobSpec& old, const std::vector<std::string>& succeeded, const JobSpec& next) {
  const std::vector<bool> ok = SucceededOf(old, succeeded);
  CarryOver plan = PlanCarryOver(old, ok, CapturedOf(old), next);
  CheckCarryOver(plan, old, ok, next);
  return plan;
}

const char* kOld = R"({"steps": [
  {"id": "fetch", "cmd": "fetch", "env": {"A": "1", "B": "2"}},
  {"id": "build", "cmd": "make", "after": ["fetch"], "cwd": "/src"},
  {"id": "test", "cmd": "make check", "after": ["build"]},
  {"id": "lint", "cmd": "lint"},
  {"id": "clean", "cmd": "rm -rf tmp", "after": ["test"], "when": "always"}
]})";

TEST_CASE("resuming the same file keeps the steps that succeeded, not those after one that ran") {
  const JobSpec old = Load(kOld);
  const CarryOver plan = Plan(old, {"fetch", "build", "lint", "clean"}, old);
  // `clean` succeeded after `test` failed: it cleans up after test's rerun.
  CHECK(Carried(old, plan, old) == std::map<std::string, std::string>{
                                       {"fetch", "fetch"}, {"build", "build"}, {"lint", "lint"}});
  CHECK(plan.carried() == 3);
  CHECK(plan.dropped.empty());
  CHECK(plan.Succeeded() == std::vector<bool>{true, true, false, true, false});
}

TEST_CASE("an edited file: changed and new steps run, and so does what comes after them") {
  const JobSpec old = Load(kOld);
  // `build` gets another command, `lint` a new place in the file and other
  // scheduling fields, `test` is gone, `docs` is new, env in another order.
  const JobSpec next = Load(R"({"steps": [
    {"id": "lint", "cmd": "lint", "retries": 3, "priority": 5, "timeout": 9},
    {"id": "fetch", "cmd": "fetch", "env": {"B": "2", "A": "1"}},
    {"id": "build", "cmd": "make -j8", "after": ["fetch"], "cwd": "/src"},
    {"id": "docs", "cmd": "make docs", "after": ["fetch"]},
    {"id": "clean", "cmd": "rm -rf tmp", "after": ["build"], "when": "always"}
  ]})");
  const CarryOver plan = Plan(old, {"fetch", "build", "test", "lint", "clean"}, next);
  CHECK(Carried(old, plan, next) ==
        std::map<std::string, std::string>{{"fetch", "fetch"}, {"lint", "lint"}});
  CHECK(plan.dropped == std::vector<std::string>{"test"});
  // The indexes are the old file's.
  CHECK(plan.from[0] == StepIndex(3));
  CHECK(plan.from[1] == StepIndex(0));
}

TEST_CASE("each field that defines the work makes a step run again") {
  const std::string base =
      R"("id": "s", "cmd": "run", "cwd": "/w", "env": {"X": "1"}, "stdin": "in")";
  const JobSpec old = Load("{\"steps\": [{" + base + "}]}");
  for (const std::string& changed :
       {std::string(R"("id": "s", "cmd": "run2", "cwd": "/w", "env": {"X": "1"}, "stdin": "in")"),
        std::string(R"("id": "s", "argv": ["run"], "cwd": "/w", "env": {"X": "1"}, "stdin": "in")"),
        std::string(R"("id": "s", "cmd": "run", "cwd": "/v", "env": {"X": "1"}, "stdin": "in")"),
        std::string(R"("id": "s", "cmd": "run", "cwd": "/w", "env": {"X": "2"}, "stdin": "in")"),
        std::string(
            R"("id": "s", "cmd": "run", "cwd": "/w", "env": {"X": "1", "Y": ""}, "stdin": "in")"),
        std::string(R"("id": "s", "cmd": "run", "cwd": "/w", "env": {"X": "1"}, "stdin": "other")"),
        std::string(R"("id": "s", "cmd": "run", "cwd": "/w", "env": {"X": "1"})")}) {
    CAPTURE(changed);
    const JobSpec next = Load("{\"steps\": [{" + changed + "}]}");
    CHECK(Plan(old, {"s"}, next).carried() == 0);
  }
  const JobSpec same = Load("{\"steps\": [{" + base + R"(, "slots": 2, "requires": ["x"],
      "resources": {"mem": "1G"}, "duration": 5, "time_request": 60, "retry_delay": 1)" +
                            "}]}");
  CHECK(Plan(old, {"s"}, same).carried() == 1);
}

TEST_CASE("a producer read with stdin_from carries over only if its stdout was kept") {
  const JobSpec old = Load(R"({"steps": [
    {"id": "make", "cmd": "echo made"},
    {"id": "take", "cmd": "cat", "after": ["make"], "stdin_from": "make"},
    {"id": "other", "cmd": "echo other"}
  ]})");
  SUBCASE("kept: it carries over, and so may its reader") {
    const CarryOver plan = Plan(old, {"make", "take", "other"}, old);
    CHECK(plan.carried() == 3);
  }
  SUBCASE("not kept: a step newly reading it makes it run again") {
    const JobSpec next = Load(R"({"steps": [
      {"id": "make", "cmd": "echo made"},
      {"id": "take", "cmd": "cat", "after": ["make"], "stdin_from": "make"},
      {"id": "other", "cmd": "echo other"},
      {"id": "new", "cmd": "wc", "stdin_from": "other"}
    ]})");
    const CarryOver plan = Plan(old, {"make", "take", "other"}, next);
    CHECK(Carried(old, plan, next) ==
          std::map<std::string, std::string>{{"make", "make"}, {"take", "take"}});
  }
  SUBCASE("a reader switched to another producer runs again") {
    const JobSpec next = Load(R"({"steps": [
      {"id": "make", "cmd": "echo made"},
      {"id": "take", "cmd": "cat", "after": ["make"], "stdin_from": "other"},
      {"id": "other", "cmd": "echo other"}
    ]})");
    // And `other`, whose stdout was never kept, runs again to make it.
    const CarryOver plan = Plan(old, {"make", "take", "other"}, next);
    CHECK(Carried(old, plan, next) == std::map<std::string, std::string>{{"make", "make"}});
  }
}

TEST_CASE("a long chain is planned without recursion") {
  std::string json = R"({"steps": [{"id": "s0", "cmd": "x"})";
  for (int i = 1; i < 100000; ++i) {
    json += R"(, {"id": "s)" + std::to_string(i) + R"(", "cmd": "x", "after": ["s)" +
            std::to_string(i - 1) + "\"]}";
  }
  json += "]}";
  const JobSpec old = Load(json);
  std::vector<bool> ok(old.steps.size(), true);
  ok[50000] = false;
  const CarryOver plan = PlanCarryOver(old, ok, {}, old);
  CheckCarryOver(plan, old, ok, old);
  CHECK(plan.carried() == 50000);
}

TEST_CASE("a journaled plan names the old steps, or the same indexes when it does not") {
  const CarryOver same = CarryOverFromRecord(4, {0, 2}, {});
  CHECK(same.from == std::vector<std::optional<StepIndex>>{StepIndex(0), std::nullopt, StepIndex(2),
                                                           std::nullopt});
  const CarryOver moved = CarryOverFromRecord(3, {1, 9}, {4, 5});
  CHECK(moved.from ==
        std::vector<std::optional<StepIndex>>{std::nullopt, StepIndex(4), std::nullopt});
}

}  // namespace
}  // namespace drover::broker
