// The scheduler core (scheduler_fixture.h): cleanup steps (`when: always`)
// of a job that is cancelled or aborted still run, unless cleanup is stopped
// (cancelling "now"); the job still ends cancelled (or failed, aborted).

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/broker/scheduler_fixture.h"

namespace drover::broker {
namespace {

// The worker confirms that `d` was killed on request.
void Killed(Fixture& f, const RecordingOutbox::Sent& d) {
  RunResult killed;
  killed.outcome = Outcome::kKilled;
  killed.signal = 15;
  f.sched.OnStepExited(d.worker, TaskResult{d.key, killed}, f.now);
  f.sched.CheckInvariants();
}

// Takes the kills sent since the last call, as the steps' ids.
std::vector<std::string> TakeKills(Fixture& f, JobId job) {
  std::vector<std::string> ids;
  for (const auto& k : f.out.kills) ids.push_back(f.IdOf(job, k.key));
  f.out.kills.clear();
  return ids;
}

// A job whose `fails` has failed and whose cleanup step `clean` (after it)
// runs, beside `long`; `after-long` is a cleanup step waiting on `long`,
// and with `with_last`, `last` one waiting on `clean`. On two slots.
struct CleanupRunning {
  JobId job;
  RecordingOutbox::Sent long_step, clean;
};
CleanupRunning StartCleanup(Fixture& f, bool with_last) {
  f.AddWorker("w1", 2);
  GraphBuilder g;
  g.Step("fails")
      .Step("long")
      .Step("clean", {"fails"}, When::kAlways)
      .Step("after-long", {"long"}, When::kAlways);
  if (with_last) g.Step("last", {"clean"}, When::kAlways);
  const JobId job = f.Submit(g.Build());
  auto sent = f.Schedule();
  REQUIRE(f.Ids(job, sent) == std::vector<std::string>{"fails", "long"});
  f.Exit(sent[0], 1);
  auto cleanup = f.Schedule();
  REQUIRE(f.Ids(job, cleanup) == std::vector<std::string>{"clean"});
  return {job, sent[1], cleanup[0]};
}

TEST_CASE("a cancel runs a cleanup step once the kill of its after-step is confirmed") {
  Fixture f;
  f.AddWorker("w1", 1);
  JobId job = f.Submit(GraphBuilder()
                           .Step("work")
                           .Step("next", {"work"})
                           .Step("other")
                           .Step("clean", {"work"}, When::kAlways)
                           .Build());
  auto sent = f.Schedule();
  REQUIRE(f.Ids(job, sent) == std::vector<std::string>{"work"});
  CHECK(f.sched.OnCancel(job, f.now));
  f.sched.CheckInvariants();
  CHECK(TakeKills(f, job) == std::vector<std::string>{"work"});
  CHECK(f.StateOf(job, "next") == StepState::kCancelled);
  CHECK(f.StateOf(job, "other") == StepState::kCancelled);
  // Not before `work` has really stopped: it may still hold what `clean` removes.
  CHECK(f.StateOf(job, "clean") == StepState::kWaiting);
  CHECK(f.Schedule().empty());
  Killed(f, sent[0]);
  CHECK(f.StateOf(job, "work") == StepState::kCancelled);
  CHECK_FALSE(f.Ended(job));
  auto cleanup = f.Schedule();
  REQUIRE(f.Ids(job, cleanup) == std::vector<std::string>{"clean"});
  CHECK(f.sched.OnCancel(job, f.now));  // again: nothing changes
  CHECK(f.out.kills.empty());
  f.Exit(cleanup[0], 0);
  CHECK(f.StateOf(job, "clean") == StepState::kSucceeded);
  REQUIRE(f.Ended(job));
  CHECK(f.Ended(job)->state == JobState::kCancelled);
  CHECK(f.Ended(job)->counts[static_cast<int>(StepState::kSucceeded)] == 1);
}

TEST_CASE("cleanup steps after cleanup steps run in order, and one with no after runs at once") {
  Fixture f;
  f.AddWorker("w1", 2);
  JobId job = f.Submit(GraphBuilder()
                           .Step("work")
                           .Step("blocker")
                           .Step("stop", {"work"}, When::kAlways)
                           .Step("wipe", {"stop"}, When::kAlways)
                           .Step("note", {}, When::kAlways)
                           .Build());
  auto sent = f.Schedule();
  REQUIRE(f.Ids(job, sent) == std::vector<std::string>{"work", "blocker"});
  // `note` was queued behind them, not started.
  CHECK(f.StateOf(job, "note") == StepState::kReady);
  CHECK(f.sched.OnCancel(job, f.now));
  f.sched.CheckInvariants();
  CHECK(TakeKills(f, job) == std::vector<std::string>{"work", "blocker"});
  CHECK(f.StateOf(job, "note") == StepState::kReady);
  Killed(f, sent[1]);
  auto now_free = f.Schedule();
  REQUIRE(f.Ids(job, now_free) == std::vector<std::string>{"note"});
  f.Exit(now_free[0], 0);
  Killed(f, sent[0]);
  auto first = f.Schedule();
  REQUIRE(f.Ids(job, first) == std::vector<std::string>{"stop"});
  CHECK(f.StateOf(job, "wipe") == StepState::kWaiting);
  f.Exit(first[0], 1);  // a failed cleanup step does not hold the next one back
  auto second = f.Schedule();
  REQUIRE(f.Ids(job, second) == std::vector<std::string>{"wipe"});
  f.Exit(second[0], 0);
  REQUIRE(f.Ended(job));
  CHECK(f.Ended(job)->state == JobState::kCancelled);
  CHECK(f.StateOf(job, "stop") == StepState::kFailed);
  CHECK(f.LastEnded(job, "stop").reason == "exited with code 1");
}

TEST_CASE("a cleanup step running when the cancel comes keeps running, and keeps its retries") {
  Fixture f;
  f.AddWorker("w1", 2);
  GraphBuilder g;
  g.Step("fails").Step("long").Step("clean", {"fails"}, When::kAlways);
  JobSpec spec = g.Build();
  spec.steps[2].retries = 1;
  JobId job = f.Submit(spec);
  auto sent = f.Schedule();
  REQUIRE(f.Ids(job, sent) == std::vector<std::string>{"fails", "long"});
  f.Exit(sent[0], 1);
  auto cleanup = f.Schedule();
  REQUIRE(f.Ids(job, cleanup) == std::vector<std::string>{"clean"});
  CHECK(f.sched.OnCancel(job, f.now));
  CHECK(TakeKills(f, job) == std::vector<std::string>{"long"});
  Killed(f, sent[1]);
  CHECK_FALSE(f.Ended(job));
  f.Exit(cleanup[0], 3);  // retried like any failure
  CHECK(f.LastEnded(job, "clean").state == StepState::kReady);
  auto again = f.Schedule();
  REQUIRE(f.Ids(job, again) == std::vector<std::string>{"clean"});
  CHECK(again[0].key.attempt == Attempt(2));
  f.Exit(again[0], 0);
  REQUIRE(f.Ended(job));
  CHECK(f.Ended(job)->state == JobState::kCancelled);
  CHECK(f.StateOf(job, "fails") == StepState::kFailed);
}

TEST_CASE("cancelling now stops cleanup: its running steps are killed, the rest cancelled") {
  SUBCASE("at once") {
    Fixture f;
    const auto [job, long_step, clean] = StartCleanup(f, /*with_last=*/false);
    CHECK(f.sched.OnCancel(job, f.now, /*cleanup=*/false));
    f.sched.CheckInvariants();
    CHECK(TakeKills(f, job) == std::vector<std::string>{"long", "clean"});
    CHECK(f.StateOf(job, "after-long") == StepState::kCancelled);
    Killed(f, long_step);
    Killed(f, clean);
    CHECK(f.StateOf(job, "clean") == StepState::kCancelled);
    REQUIRE(f.Ended(job));
    CHECK(f.Ended(job)->state == JobState::kCancelled);
    CHECK(f.Schedule().empty());
  }
  SUBCASE("after a cancel with cleanup: each kill is sent once") {
    Fixture f;
    const auto [job, long_step, clean] = StartCleanup(f, /*with_last=*/true);
    CHECK(f.sched.OnCancel(job, f.now));
    CHECK(TakeKills(f, job) == std::vector<std::string>{"long"});
    CHECK(f.sched.FindJob(job)->CleanupLeft() == 3);
    CHECK(f.sched.OnCancel(job, f.now, /*cleanup=*/false));
    f.sched.CheckInvariants();
    CHECK(TakeKills(f, job) == std::vector<std::string>{"clean"});
    CHECK(f.sched.FindJob(job)->CleanupLeft() == 0);
    CHECK(f.StateOf(job, "after-long") == StepState::kCancelled);
    CHECK(f.StateOf(job, "last") == StepState::kCancelled);
    CHECK(f.sched.OnCancel(job, f.now, /*cleanup=*/false));  // once is enough
    CHECK(f.out.kills.empty());
    Killed(f, clean);
    Killed(f, long_step);
    CHECK(f.Schedule().empty());
    REQUIRE(f.Ended(job));
    CHECK(f.Ended(job)->state == JobState::kCancelled);
  }
}

TEST_CASE("abort_on_exit runs the cleanup steps, and the job still ends failed") {
  Fixture f;
  f.AddWorker("w1", 2);
  GraphBuilder g;
  g.Step("probe").Step("long").Step("later", {"long"}).Step("clean", {"long"}, When::kAlways);
  JobSpec spec = g.Build();
  spec.abort_on_exit = {42};
  spec.steps[3].retries = 2;
  JobId job = f.Submit(spec);
  auto sent = f.Schedule();
  REQUIRE(f.Ids(job, sent) == std::vector<std::string>{"long", "probe"});
  f.Exit(sent[1], 42);
  CHECK(TakeKills(f, job) == std::vector<std::string>{"long"});
  CHECK(f.StateOf(job, "later") == StepState::kCancelled);
  Killed(f, sent[0]);
  auto cleanup = f.Schedule();
  REQUIRE(f.Ids(job, cleanup) == std::vector<std::string>{"clean"});
  // An abort code from a cleanup step fails it, without retrying.
  f.Exit(cleanup[0], 42);
  CHECK(f.LastEnded(job, "clean").state == StepState::kFailed);
  CHECK(f.LastEnded(job, "clean").reason == "exited with code 42");
  REQUIRE(f.Ended(job));
  CHECK(f.Ended(job)->state == JobState::kFailed);
  CHECK(f.Schedule().empty());
}

TEST_CASE("during cleanup a lost cleanup step runs again, and a returning worker keeps it") {
  Fixture f;
  WorkerId w1 = f.AddWorker("w1", 1);
  JobId job = f.Submit(GraphBuilder().Step("work").Step("clean", {"work"}, When::kAlways).Build());
  auto sent = f.Schedule();
  CHECK(f.sched.OnCancel(job, f.now));
  CHECK(TakeKills(f, job) == std::vector<std::string>{"work"});
  Killed(f, sent[0]);
  auto cleanup = f.Schedule();
  REQUIRE(cleanup.size() == 1);
  // Back after a broken connection, holding it: it is not killed.
  f.sched.OnWorkerHello(WorkerInfo{"w1", "host-w1", 1, {}, 0, "instance-w1"}, {cleanup[0].key},
                        f.now);
  f.sched.CheckInvariants();
  CHECK(f.out.kills.empty());
  f.sched.OnWorkerLost(w1, "left", f.now);
  f.sched.CheckInvariants();
  CHECK(f.StateOf(job, "clean") == StepState::kReady);
  f.AddWorker("w2", 1);
  auto again = f.Schedule();
  REQUIRE(f.Ids(job, again) == std::vector<std::string>{"clean"});
  f.Exit(again[0], 0);
  REQUIRE(f.Ended(job));
  CHECK(f.Ended(job)->state == JobState::kCancelled);
}

TEST_CASE("a job cancelled with nothing running and no cleanup steps ends at once") {
  Fixture f;
  JobId job = f.Submit(GraphBuilder().Step("a").Step("b", {"a"}, When::kFailure).Build());
  CHECK(f.sched.OnCancel(job, f.now));
  REQUIRE(f.Ended(job));
  CHECK(f.Ended(job)->state == JobState::kCancelled);
  CHECK(f.StateOf(job, "b") == StepState::kCancelled);
}

}  // namespace
}  // namespace drover::broker
