// The scheduler core (scheduler_fixture.h): leases and reconnection, retry
// policies, resumed jobs and replayed decisions.

#include <doctest/doctest.h>

#include <set>

#include "tests/broker/scheduler_fixture.h"

namespace drover::broker {
namespace {

TEST_CASE("a silent worker keeps its attempts for the lease, then they run elsewhere") {
  Fixture f;
  WorkerId w1 = f.AddWorker("w1", 1);
  JobId job = f.Submit(GraphBuilder().Step("a").Build());
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 1);
  WorkerId w2 = f.AddWorker("w2", 1);
  f.now += 6'000;  // w1 silent past the liveness timeout; w2 chatty
  f.sched.OnWorkerHeard(w2, f.now);
  f.sched.OnTick(f.now);
  f.sched.CheckInvariants();
  REQUIRE(f.sched.FindWorker(w1) != nullptr);
  CHECK_FALSE(f.sched.FindWorker(w1)->connected);
  CHECK(f.StateOf(job, "a") == StepState::kRunning);  // still w1's: it may be cut off, not dead
  CHECK(f.Schedule().empty());
  f.now += 25'000;  // 31 s since w1 was heard: the 30 s lease has run out
  f.sched.OnWorkerHeard(w2, f.now);
  f.sched.OnTick(f.now);
  f.sched.CheckInvariants();
  CHECK(f.sched.FindWorker(w1) == nullptr);
  REQUIRE(f.out.lost.size() == 1);
  CHECK(f.out.lost[0].first == sent[0].key);
  CHECK(f.out.lost[0].second.find("past the job's lease") != std::string::npos);
  // Told to stop it, should it hear that (a link cut one way only).
  REQUIRE(f.out.kills.size() == 1);
  CHECK(f.out.kills[0].worker == w1);
  CHECK(f.out.kills[0].key == sent[0].key);
  f.out.kills.clear();
  auto again = f.Schedule();
  REQUIRE(again.size() == 1);
  CHECK(again[0].worker == w2);
  CHECK(again[0].key.attempt == Attempt(2));
  f.Exit(sent[0], 0);  // w1's late result: dropped
  CHECK(f.StateOf(job, "a") == StepState::kRunning);
  f.Exit(again[0], 0);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("a worker shut out (its key removed) gets no new work, its attempts wait out the lease") {
  Fixture f;
  WorkerId w1 = f.AddWorker("w1", 2);
  JobId job = f.Submit(GraphBuilder().Step("a").Step("b").Step("c").Build());
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 2);
  f.now += 1'000;
  f.sched.OnWorkerShutOut(w1);
  f.sched.CheckInvariants();
  REQUIRE(f.sched.FindWorker(w1) != nullptr);
  CHECK_FALSE(f.sched.FindWorker(w1)->connected);
  CHECK(f.Schedule().empty());  // the third step waits: w1 gets nothing more
  CHECK(f.out.lost.empty());    // its steps may still run there
  WorkerId w2 = f.AddWorker("w2", 3);
  auto third = f.Schedule();
  REQUIRE(third.size() == 1);
  CHECK(third[0].worker == w2);
  f.now += 29'500;  // 30.5 s since w1 was last heard: the lease has run out
  f.sched.OnWorkerHeard(w2, f.now);
  f.sched.OnTick(f.now);
  f.sched.CheckInvariants();
  CHECK(f.out.lost.size() == 2);
  // Should it still hear the broker, it stops them.
  CHECK(f.out.kills.size() == 2);
  for (const auto& k : f.out.kills) CHECK(k.worker == w1);
  f.out.kills.clear();
  auto again = f.Schedule();
  REQUIRE(again.size() == 2);
  for (const auto& d : again) CHECK(d.worker == w2);
  for (const auto& d : again) f.Exit(d, 0);
  f.Exit(third[0], 0);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("a worker heard again within the lease keeps everything and a job may set its lease") {
  Fixture f;
  WorkerId w1 = f.AddWorker("w1", 2);
  GraphBuilder g;
  g.Step("a").Step("b");
  JobSpec spec = g.Build();
  spec.lease_ms = 60'000;
  JobId job = f.Submit(spec);
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 2);
  f.now += 45'000;  // past the broker's 30 s, within the job's 60 s
  f.sched.OnTick(f.now);
  CHECK(f.StateOf(job, "a") == StepState::kRunning);
  f.sched.OnWorkerHeard(w1, f.now);  // the link came back
  CHECK(f.sched.FindWorker(w1)->connected);
  f.Exit(sent[0], 0);
  f.Exit(sent[1], 0);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
  CHECK(f.out.lost.empty());
}

TEST_CASE("a worker saying hello again is reconciled against what it holds") {
  Fixture f;
  WorkerId w1 = f.AddWorker("w1", 3);
  JobId job = f.Submit(GraphBuilder().Step("kept").Step("gone").Step("late").Build());
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 3);
  const TaskKey stranger{job, f.IndexOf(job, "kept"), Attempt(99)};
  // It reconnects (a new socket) still holding "kept", and "late" finished
  // (its unacknowledged result comes next); "gone" it no longer has; and an
  // attempt the broker never gave it.
  WorkerId back = f.sched.OnWorkerHello(WorkerInfo{"w1", "host-w1", 3, {}, 0, "instance-w1"},
                                        {sent[0].key, sent[2].key, stranger}, f.now);
  f.sched.CheckInvariants();
  CHECK(back == w1);
  CHECK(f.StateOf(job, "kept") == StepState::kRunning);
  CHECK(f.StateOf(job, "gone") == StepState::kReady);  // lost: it will run again
  REQUIRE(f.out.kills.size() == 1);
  CHECK(f.out.kills.front().key == stranger);
  f.out.kills.clear();
  f.Exit(sent[2], 0);
  f.Exit(sent[0], 0);
  f.Drain(job);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("retries wait out a delay that doubles") {
  Fixture f;
  f.AddWorker("w1", 1);
  GraphBuilder g;
  g.Step("flaky");
  JobSpec spec = g.Build();
  spec.steps[0].retries = 2;
  spec.steps[0].retry_delay_ms = 1000;
  JobId job = f.Submit(spec);
  auto a1 = f.Schedule();
  f.Exit(a1[0], 1);
  CHECK(f.LastEnded(job, "flaky").reason == "exited with code 1; retrying in 1s (retry 1 of 2)");
  CHECK(f.Schedule().empty());  // not yet
  CHECK(f.sched.NextWakeup() == f.now + 1000);
  f.now += 1000;
  auto a2 = f.Schedule();
  REQUIRE(a2.size() == 1);
  f.Exit(a2[0], 1);
  CHECK(f.LastEnded(job, "flaky").reason == "exited with code 1; retrying in 2s (retry 2 of 2)");
  f.now += 1999;
  CHECK(f.Schedule().empty());
  f.now += 1;
  auto a3 = f.Schedule();
  REQUIRE(a3.size() == 1);
  f.Exit(a3[0], 0);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("an exit code in retry_unless_exit is not retried") {
  Fixture f;
  f.AddWorker("w1", 1);
  GraphBuilder g;
  g.Step("check");
  JobSpec spec = g.Build();
  spec.steps[0].retries = 3;
  spec.steps[0].retry_unless_exit = {2};
  JobId job = f.Submit(spec);
  f.Drain(job, {{"check", 2}});
  CHECK(f.StateOf(job, "check") == StepState::kFailed);
  CHECK(f.LastEnded(job, "check").attempt == Attempt(1));
  CHECK(f.LastEnded(job, "check").reason ==
        "exited with code 2 (not retried: that exit code is in retry_unless_exit)");
}

TEST_CASE("abort_on_exit fails the step and cancels the rest of the job") {
  Fixture f;
  f.AddWorker("w1", 2);
  GraphBuilder g;
  g.Step("probe").Step("long").Step("later", {"long"});
  JobSpec spec = g.Build();
  spec.abort_on_exit = {42};
  spec.steps[0].retries = 5;  // aborting beats retrying
  JobId job = f.Submit(spec);
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 2);
  // long first: more of the graph lies behind it.
  REQUIRE(f.Ids(job, sent) == std::vector<std::string>{"long", "probe"});
  std::swap(sent[0], sent[1]);
  f.Exit(sent[0], 42);
  REQUIRE(f.out.kills.size() == 1);
  CHECK(f.out.kills.front().key == sent[1].key);
  f.out.kills.clear();
  CHECK(f.StateOf(job, "probe") == StepState::kFailed);
  CHECK(f.StateOf(job, "later") == StepState::kCancelled);
  CHECK(f.LastEnded(job, "later").reason == "the job was aborted: \"probe\" exited with code 42");
  RunResult killed;
  killed.outcome = Outcome::kKilled;
  f.sched.OnStepExited(sent[1].worker, TaskResult{sent[1].key, killed}, f.now);
  REQUIRE(f.Ended(job));
  CHECK(f.Ended(job)->state == JobState::kFailed);
}

TEST_CASE("a resumed job starts with the steps that succeeded before") {
  Fixture f;
  f.AddWorker("w1", 2);
  GraphBuilder g;
  g.Step("fetch").Step("build", {"fetch"}).Step("test", {"build"}).Step("docs", {"fetch"});
  const JobSpec spec = g.Build();
  const std::vector<bool> succeeded = {true, true, false, false};
  const JobId job(77);
  f.sched.OnSubmit(job, spec, f.now, &succeeded, JobId(5));
  f.sched.CheckInvariants();
  CHECK(f.StateOf(job, "fetch") == StepState::kSucceeded);
  CHECK(f.LastEnded(job, "build").reason == "succeeded in job 5");
  auto sent = f.Schedule();
  const auto ids = f.Ids(job, sent);
  CHECK(std::set<std::string>(ids.begin(), ids.end()) == std::set<std::string>{"test", "docs"});
  for (auto& d : sent) f.Exit(d, 0);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("replayed decisions rebuild the state, and a returning worker picks it up") {
  // The broker restarted: its journal said s0 succeeded on w1, s1 was
  // running on w1 with s2 following it, and s3 was lost once elsewhere.
  Fixture f;
  const JobId job(1);
  f.sched.SetReplaying(true);
  f.sched.OnSubmit(job, Chain(3).Step("s3").Build(), f.now);
  const TaskKey s0{job, StepIndex(0), Attempt(1)}, s1{job, StepIndex(1), Attempt(1)},
      s2{job, StepIndex(2), Attempt(1)}, s3{job, StepIndex(3), Attempt(1)};
  f.sched.ReplayDispatch(s0, "instance-w1", "w1", std::nullopt, f.now);
  f.sched.ReplayDispatch(s3, "instance-w9", "w9", std::nullopt, f.now);
  RunResult ok;
  f.sched.ReplayResult("instance-w1", TaskResult{s0, ok}, f.now);
  f.sched.ReplayDispatch(s1, "instance-w1", "w1", std::nullopt, f.now);
  f.sched.ReplayDispatch(s2, "instance-w1", "w1", s1, f.now);
  f.sched.ReplayLost(s3, "worker \"w9\" left", f.now);
  f.sched.FinishReplay(f.now);
  f.sched.CheckInvariants();
  CHECK(f.StateOf(job, "s0") == StepState::kSucceeded);
  CHECK(f.StateOf(job, "s1") == StepState::kRunning);
  CHECK(f.StateOf(job, "s2") == StepState::kRunning);
  CHECK(f.StateOf(job, "s3") == StepState::kReady);
  CHECK(f.sched.FindJob(job)->run(StepIndex(3)).losses == 1);
  // w1 comes back still holding s1 and its follower s2.
  WorkerId w1 =
      f.sched.OnWorkerHello(WorkerInfo{"w1", "h", 3, {}, 0, "instance-w1"}, {s1, s2}, f.now);
  f.sched.CheckInvariants();
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 1);
  CHECK(f.IdOf(job, sent[0].key) == "s3");
  CHECK(sent[0].key.attempt == Attempt(2));
  f.sched.OnStepExited(w1, TaskResult{s1, ok}, f.now);
  f.sched.OnStepExited(w1, TaskResult{s2, ok}, f.now);
  f.Exit(sent[0], 0);
  f.sched.CheckInvariants();
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("attempts of a worker that never comes back after a restart are lost at the lease") {
  Fixture f;
  const JobId job(1);
  f.sched.SetReplaying(true);
  f.sched.OnSubmit(job, GraphBuilder().Step("a").Build(), f.now);
  f.sched.ReplayDispatch({job, StepIndex(0), Attempt(1)}, "instance-gone", "gone", std::nullopt,
                         f.now);
  f.sched.FinishReplay(f.now);
  WorkerId w2 = f.AddWorker("w2", 1);
  CHECK(f.Schedule().empty());
  f.now += 30'000;
  f.sched.OnWorkerHeard(w2, f.now);
  f.sched.OnTick(f.now);
  f.sched.CheckInvariants();
  REQUIRE(f.out.kills.size() == 1);  // (it has no connection: the shell drops it)
  f.out.kills.clear();
  auto again = f.Schedule();
  REQUIRE(again.size() == 1);
  CHECK(again[0].key.attempt == Attempt(2));
  f.Exit(again[0], 0);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

}  // namespace
}  // namespace drover::broker
