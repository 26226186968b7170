// The core with arrays kept as templates (broker/core/job.h): each kind of
// edge, `when`, retries, cancellation, replay and a snapshot, element by
// element, with CheckInvariants after every call (scheduler_fixture.h).
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "shared/job_load.h"
#include "tests/broker/scheduler_fixture.h"

namespace drover::broker {
namespace {

JobSpec Templated(std::string_view json) {
  Result<std::string> bytes = JsonToMsgpack(json);
  REQUIRE_MESSAGE(bytes.ok(), bytes.status().message());
  LoadedJob loaded = LoadJob(*bytes, {}, kKeepArrays);
  REQUIRE(loaded.spec.has_value());
  REQUIRE(loaded.spec->HasTemplates());
  return std::move(*loaded.spec);
}

std::vector<std::string> Sorted(std::vector<std::string> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

const RecordingOutbox::Sent& Find(const Fixture& f, JobId job,
                                  const std::vector<RecordingOutbox::Sent>& sent,
                                  const std::string& id) {
  for (const auto& d : sent) {
    if (f.IdOf(job, d.key) == id) return d;
  }
  FAIL("not dispatched: " << id);
  return sent.front();
}

constexpr std::string_view kPaired = R"({"steps": [
  {"id": "prep", "each": {"i": {"range": [0, 3]}}, "cmd": "prep {i}"},
  {"id": "train", "each": {"i": {"range": [0, 3]}}, "cmd": "train {i}",
   "after": ["prep[{index}]"]},
  {"id": "one", "cmd": "one", "after": ["prep[2]"]},
  {"id": "all", "cmd": "all", "after": ["train"]}]})";

TEST_CASE(
    "arrays kept as templates: a paired edge releases one element, a one-element edge "
    "its step, a whole-array edge waits for every element") {
  Fixture f;
  f.AddWorker("w", 8);
  const JobId job = f.Submit(Templated(kPaired));
  CHECK(f.sched.FindJob(job)->size() == 8);
  auto prep = f.Schedule();
  REQUIRE(Sorted(f.Ids(job, prep)) == std::vector<std::string>{"prep[0]", "prep[1]", "prep[2]"});
  f.Exit(Find(f, job, prep, "prep[1]"), 0);
  auto next = f.Schedule();
  CHECK(f.Ids(job, next) == std::vector<std::string>{"train[1]"});
  CHECK(f.StateOf(job, "train[0]") == StepState::kWaiting);
  CHECK(f.StateOf(job, "one") == StepState::kWaiting);
  f.Exit(Find(f, job, prep, "prep[2]"), 0);
  auto more = f.Schedule();
  CHECK(Sorted(f.Ids(job, more)) == std::vector<std::string>{"one", "train[2]"});
  f.Exit(next[0], 0);
  for (const auto& d : more) f.Exit(d, 0);
  CHECK(f.StateOf(job, "all") == StepState::kWaiting);  // train[0] is still to come
  f.Exit(Find(f, job, prep, "prep[0]"), 0);
  auto last = f.Schedule();
  REQUIRE(f.Ids(job, last) == std::vector<std::string>{"train[0]"});
  f.Exit(last[0], 0);
  auto all = f.Schedule();
  REQUIRE(f.Ids(job, all) == std::vector<std::string>{"all"});
  f.Exit(all[0], 0);
  REQUIRE(f.Ended(job));
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("arrays kept as templates: `when` and skip reasons name elements") {
  Fixture f;
  f.AddWorker("w", 8);
  const JobId job = f.Submit(Templated(R"({"steps": [
    {"id": "prep", "each": {"i": [1, 2]}, "cmd": "prep {i}"},
    {"id": "train", "each": {"i": [1, 2]}, "cmd": "train {i}", "after": ["prep[{i}]"]},
    {"id": "fix", "each": {"k": [1, 2, 3]}, "cmd": "fix {k}", "after": ["prep"],
     "when": "failure"},
    {"id": "tidy", "cmd": "tidy", "after": ["train"], "when": "always"}]})"));
  auto prep = f.Schedule();
  REQUIRE(prep.size() == 2);
  f.Exit(Find(f, job, prep, "prep[0]"), 1);
  CHECK(f.StateOf(job, "train[0]") == StepState::kSkipped);
  CHECK(f.LastEnded(job, "train[0]").reason == "needs \"prep[0]\", which failed");
  CHECK(f.StateOf(job, "fix[0]") == StepState::kWaiting);  // prep[1] runs yet
  f.Exit(Find(f, job, prep, "prep[1]"), 0);
  auto next = f.Schedule();
  CHECK(Sorted(f.Ids(job, next)) ==
        std::vector<std::string>{"fix[0]", "fix[1]", "fix[2]", "train[1]"});
  for (const auto& d : next) f.Exit(d, 0);
  f.Drain(job);
  CHECK(f.StateOf(job, "tidy") == StepState::kSucceeded);
  REQUIRE(f.Ended(job));
  CHECK(f.Ended(job)->state == JobState::kFailed);
}

TEST_CASE("arrays kept as templates: an element is retried on its own") {
  Fixture f;
  f.AddWorker("w", 4);
  const JobId job = f.Submit(Templated(R"({"steps": [
    {"id": "r", "each": {"i": [1, 2, 3]}, "cmd": "r {i}", "retries": 1}]})"));
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 3);
  f.Exit(Find(f, job, sent, "r[1]"), 3);
  f.Exit(Find(f, job, sent, "r[0]"), 0);
  f.Exit(Find(f, job, sent, "r[2]"), 0);
  auto again = f.Schedule();
  REQUIRE(f.Ids(job, again) == std::vector<std::string>{"r[1]"});
  CHECK(again[0].key.attempt == Attempt(2));
  CHECK(f.sched.FindJob(job)->run(again[0].key.step).failures == 1);
  f.Exit(again[0], 0);
  REQUIRE(f.Ended(job));
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("arrays kept as templates: cancelling stops every element but cleanup ones") {
  Fixture f;
  f.AddWorker("w", 1);
  const JobId job = f.Submit(Templated(R"({"steps": [
    {"id": "work", "each": {"i": {"range": [0, 5]}}, "cmd": "work {i}"},
    {"id": "clean", "each": {"i": {"range": [0, 5]}}, "cmd": "clean {i}",
     "after": ["work[{index}]"], "when": "always"}]})"));
  auto sent = f.Schedule();
  REQUIRE(f.Ids(job, sent) == std::vector<std::string>{"work[0]"});
  CHECK(f.sched.OnCancel(job, f.now));
  f.sched.CheckInvariants();
  REQUIRE(f.out.kills.size() == 1);
  f.out.kills.clear();
  for (int i = 1; i < 5; ++i) {
    CHECK(f.StateOf(job, "work[" + std::to_string(i) + "]") == StepState::kCancelled);
  }
  RunResult killed;
  killed.outcome = Outcome::kKilled;
  killed.signal = 15;
  f.sched.OnStepExited(sent[0].worker, TaskResult{sent[0].key, killed}, f.now);
  f.sched.CheckInvariants();
  f.Drain(job);
  for (int i = 0; i < 5; ++i) {
    CHECK(f.StateOf(job, "clean[" + std::to_string(i) + "]") == StepState::kSucceeded);
  }
  REQUIRE(f.Ended(job));
  CHECK(f.Ended(job)->state == JobState::kCancelled);
}

TEST_CASE("arrays kept as templates: replay and a snapshot give the same states") {
  // One slot: steps end one at a time, and the job is left half done with
  // nothing running (prep[1] fails, so train[1] and `all` are skipped).
  Fixture f;
  f.AddWorker("w", 1);
  const JobId job = f.Submit(Templated(kPaired));
  std::vector<std::pair<TaskKey, int>> ended;
  for (int k = 0; k < 4; ++k) {
    auto sent = f.Schedule();
    REQUIRE(sent.size() == 1);
    const int code = f.IdOf(job, sent[0].key) == "prep[1]" ? 1 : 0;
    f.Exit(sent[0], code);
    ended.emplace_back(sent[0].key, code);
  }
  REQUIRE_FALSE(f.Ended(job));
  CHECK(f.StateOf(job, "train[1]") == StepState::kSkipped);
  const Job* before = f.sched.FindJob(job);
  const auto check_same = [&](const Fixture& g) {
    g.sched.CheckInvariants();
    const Job* after = g.sched.FindJob(job);
    REQUIRE(after->size() == before->size());
    for (uint32_t i = 0; i < before->size(); ++i) {
      CAPTURE(before->StepId(StepIndex(i)));
      CHECK(after->run(StepIndex(i)).state == before->run(StepIndex(i)).state);
      if (before->run(StepIndex(i)).state != StepState::kWaiting) continue;
      CHECK(after->run(StepIndex(i)).pending == before->run(StepIndex(i)).pending);
      CHECK(after->run(StepIndex(i)).dep_failed == before->run(StepIndex(i)).dep_failed);
    }
  };
  Fixture g;
  SUBCASE("replayed from its journal's decisions") {
    g.sched.SetReplaying(true);
    g.sched.OnSubmit(job, Templated(kPaired), g.now);
    for (const auto& [key, code] : ended) {
      RunResult run;
      run.exit_code = code;
      g.sched.ReplayDispatch(key, "instance-w", "w", std::nullopt, g.now);
      g.sched.ReplayResult("instance-w", TaskResult{key, run}, g.now);
    }
    g.sched.FinishReplay(g.now);
    check_same(g);
  }
  SUBCASE("restored from a snapshot") {
    std::vector<Scheduler::StepSnapshot> steps;
    for (uint32_t i = 0; i < before->size(); ++i) {
      const StepRun& r = before->run(StepIndex(i));
      steps.push_back({.state = r.state, .attempt = r.attempt, .failures = r.failures});
    }
    g.sched.SetReplaying(true);
    g.sched.RestoreJob(job, Templated(kPaired), steps, {}, nullptr, false, true, g.now);
    g.sched.FinishReplay(g.now);
    check_same(g);
  }
  g.AddWorker("w2", 8);
  g.Drain(job);
  REQUIRE(g.Ended(job));
  CHECK(g.Ended(job)->state == JobState::kFailed);
  CHECK(g.StateOf(job, "all") == StepState::kSkipped);
  CHECK(g.StateOf(job, "train[2]") == StepState::kSucceeded);
  f.Drain(job);
}

TEST_CASE("arrays kept as templates: an element's task renders as expansion wrote it") {
  constexpr std::string_view kJob = R"({"steps": [
    {"id": "part", "each": {"p": ["a", "b"]}, "cmd": "echo {p}"},
    {"id": "sim-{lr}", "each": {"lr": [0.1, 0.01]}, "argv": ["sim", "--lr={lr}"],
     "env": {"OUT": "/out/{lr}"}, "cwd": "/w/{index}", "stdin": "{lr}\n",
     "after": ["part[{index}]"]},
    {"id": "cat", "each": {"q": [1, 2]}, "cmd": "cat", "stdin_from": "part[{index}]"},
    {"id": "all", "cmd": "cat", "stdin_from": "part"}]})";
  Fixture f;
  const JobId job = f.Submit(Templated(kJob));
  Result<std::string> bytes = JsonToMsgpack(kJob);
  const LoadedJob expanded = LoadJob(*bytes);
  REQUIRE(expanded.spec.has_value());
  const Job* j = f.sched.FindJob(job);
  REQUIRE(j->size() == expanded.spec->steps.size());
  for (uint32_t i = 0; i < j->size(); ++i) {
    const StepIndex s(i);
    const StepSpec& want = expanded.spec->steps[i];
    CAPTURE(want.id);
    CHECK(j->StepId(s) == want.id);
    CHECK(std::vector<StepIndex>(j->after(s).begin(), j->after(s).end()) == want.after);
    CHECK(std::vector<StepIndex>(j->StdinFrom(s).begin(), j->StdinFrom(s).end()) ==
          std::vector<StepIndex>(want.StdinFrom().begin(), want.StdinFrom().end()));
    const StepSpec got = j->IsElement(s) ? j->Render(s) : j->step(s);
    CHECK(got.argv == want.argv);
    CHECK(got.env == want.env);
    CHECK(got.cwd == want.cwd);
    CHECK(got.stdin_data == want.stdin_data);
    CHECK(got.shell == want.shell);
  }
}

}  // namespace
}  // namespace drover::broker
