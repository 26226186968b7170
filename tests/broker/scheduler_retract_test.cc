// The scheduler core (scheduler_fixture.h): steps queued on one worker are
// asked back when another worker has idle slots and nothing ready fits it.

#include <doctest/doctest.h>

#include <algorithm>

#include "tests/broker/scheduler_fixture.h"

namespace drover::broker {
namespace {

// The worker gives `d` back unstarted.
void GiveBack(Fixture& f, const RecordingOutbox::Sent& d) {
  RunResult run;
  run.outcome = Outcome::kRetracted;
  f.sched.OnStepExited(d.worker, TaskResult{d.key, run}, f.now);
  f.sched.CheckInvariants();
}

RecordingOutbox::Sent TakeRetract(Fixture& f) {
  REQUIRE(f.out.retracts.size() == 1);
  RecordingOutbox::Sent r = f.out.retracts.front();
  f.out.retracts.clear();
  return r;
}

// Two one-slot workers whose steps have proved short: prefetch open on both.
struct TwoWarmWorkers : Fixture {
  WorkerId a, b;
  TwoWarmWorkers() {
    a = AddWorker("a", 1, {}, /*prefetch=*/2);
    b = AddWorker("b", 1, {}, /*prefetch=*/2);
    JobId warm = Submit(Independent(2).Build());
    for (const auto& d : Schedule()) Exit(d, 0, /*ran_ms=*/5);
    REQUIRE(Ended(warm));
  }
};

// The diamond of the issue: gen, then left and right (long), then join; x
// is an instant step that keeps b busy the moment gen ends.
JobSpec Diamond() {
  return GraphBuilder()
      .Step("gen")
      .Step("left", {"gen"})
      .Step("right", {"gen"})
      .Step("join", {"left", "right"})
      .Step("x")
      .Build();
}

TEST_CASE("a step queued behind a long one is asked back for an idle worker, and runs there") {
  TwoWarmWorkers f;
  JobId job = f.Submit(Diamond());
  auto first = f.Schedule();
  // gen on a, with left following it there; x on b.
  REQUIRE(f.Ids(job, first) == std::vector<std::string>{"gen", "left", "x"});
  CHECK(first[0].worker == f.a);
  CHECK(first[1].worker == f.a);
  CHECK(first[2].worker == f.b);
  // gen succeeds: left runs on a, and right becomes ready while b is busy
  // with x: both have prefetch room, so right is queued on a behind left.
  f.Exit(first[0], 0, 5);
  auto second = f.Schedule();
  REQUIRE(f.Ids(job, second) == std::vector<std::string>{"right"});
  CHECK(second[0].worker == f.a);
  CHECK(f.out.retracts.empty());  // nobody is idle
  // x ends: b is idle and nothing is ready, so right is asked back from a.
  f.Exit(first[2], 0, 5);
  CHECK(f.Schedule().empty());
  const auto asked = TakeRetract(f);
  CHECK(asked.worker == f.a);
  CHECK(asked.key == second[0].key);
  CHECK(f.sched.FindWorker(f.b)->incoming == 1);
  // Asked once, never twice.
  CHECK(f.Schedule().empty());
  CHECK(f.out.retracts.empty());
  // a gives it back: right runs on b as attempt 2; attempt 1 is dead.
  GiveBack(f, second[0]);
  CHECK(f.sched.FindWorker(f.b)->incoming == 0);
  CHECK(f.StateOf(job, "right") == StepState::kReady);
  CHECK(f.LastEnded(job, "right").reason.find("gave it back") != std::string::npos);
  auto moved = f.Schedule();
  REQUIRE(f.Ids(job, moved) == std::vector<std::string>{"right"});
  CHECK(moved[0].worker == f.b);
  CHECK(moved[0].key.attempt == Attempt(2));
  // A late word about attempt 1 changes nothing.
  f.Exit(second[0], 0);
  CHECK(f.StateOf(job, "right") == StepState::kRunning);
  f.Exit(first[1], 0);
  f.Exit(moved[0], 0);
  f.Drain(job);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
  // Neither attempt number counted against its retries or losses.
  const StepRun& r = f.sched.FindJob(job)->run(f.IndexOf(job, "right"));
  CHECK(r.failures == 0);
  CHECK(r.losses == 0);
}

TEST_CASE("a step that had started is declined, and the idle worker may ask for another") {
  TwoWarmWorkers f;
  // One long-running step on a, then two queued behind it; b busy.
  JobId job = f.Submit(Independent(4).Build());
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 4);  // a: s0 + s2 queued, b: s1 + s3 queued (by free room)
  std::vector<RecordingOutbox::Sent> on_a, on_b;
  for (const auto& d : sent) (d.worker == f.a ? on_a : on_b).push_back(d);
  REQUIRE(on_a.size() == 2);
  REQUIRE(on_b.size() == 2);
  // b finishes both of its steps: it is idle, a holds one queued step.
  f.Exit(on_b[0], 0, 5);
  f.Exit(on_b[1], 0, 5);
  CHECK(f.Schedule().empty());
  const auto asked = TakeRetract(f);
  CHECK(asked.key == on_a[1].key);
  // a had started it after all (its first step ended, unreported yet).
  f.sched.OnRetractDeclined(f.a, {asked.key});
  f.sched.CheckInvariants();
  CHECK(f.sched.FindWorker(f.b)->incoming == 0);
  CHECK(f.Schedule().empty());
  CHECK(f.out.retracts.empty());  // nothing else to ask for
  f.Exit(on_a[0], 0);
  f.Exit(on_a[1], 0);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("one idle slot asks back one step, the newest, not a whole queue") {
  Fixture f;
  WorkerId a = f.AddWorker("a", 1, {}, /*prefetch=*/8);
  JobId warm = f.Submit(Independent(1).Build());
  for (const auto& d : f.Schedule()) f.Exit(d, 0, 1);
  REQUIRE(f.Ended(warm));
  JobId job = f.Submit(Independent(6).Build());
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 6);  // a's prefetch holds them all
  for (const auto& d : sent) CHECK(d.worker == a);
  WorkerId b = f.AddWorker("b", 1);
  CHECK(f.Schedule().empty());
  const auto asked = TakeRetract(f);
  CHECK(asked.worker == a);
  CHECK(asked.key == sent.back().key);  // the one that would start last on a
  CHECK(f.sched.FindWorker(b)->incoming == 1);
  GiveBack(f, sent.back());
  auto moved = f.Schedule();
  REQUIRE(moved.size() == 1);
  CHECK(moved[0].worker == b);
  CHECK(f.out.retracts.empty());  // b is busy now
  for (size_t i = 0; i + 1 < sent.size(); ++i) f.Exit(sent[i], 0, 1);
  f.Exit(moved[0], 0, 1);
  CHECK(f.Ended(job));
}

TEST_CASE("a step is asked back only for a worker that could run it") {
  Fixture f;
  WorkerId a = f.AddWorker("a", 1, {"gpu"}, /*prefetch=*/4);
  JobId warm = f.Submit(Independent(1).Build());
  for (const auto& d : f.Schedule()) f.Exit(d, 0, 1);
  REQUIRE(f.Ended(warm));
  GraphBuilder g;
  for (int i = 0; i < 3; ++i) {
    g.Step("g" + std::to_string(i));
    g.last().requires_labels = {"gpu"};
  }
  JobId job = f.Submit(g.Build());
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 3);
  f.AddWorker("cpu-only", 2);
  CHECK(f.Schedule().empty());
  CHECK(f.out.retracts.empty());
  for (const auto& d : sent) {
    CHECK(d.worker == a);
    f.Exit(d, 0, 1);
  }
  CHECK(f.Ended(job));
}

TEST_CASE("a follower is never asked back, giving back a step reverts what follows it") {
  TwoWarmWorkers f;
  // On a: s0 runs, s1 follows it, s2 follows s1 (a chain sent ahead).
  JobId busy_b = f.Submit(Independent(1).Build());
  auto on_b = f.Schedule();
  REQUIRE(on_b.size() == 1);
  REQUIRE(on_b[0].worker == f.a);  // the most idle, lowest id: a takes it
  JobId job = f.Submit(Chain(3).Build());
  auto chain = f.Schedule();
  // b is idle: s0 goes there, with s1 and s2 following.
  REQUIRE(f.Ids(job, chain) == std::vector<std::string>{"s0", "s1", "s2"});
  for (const auto& d : chain) CHECK(d.worker == f.b);
  // a ends its step and is idle: b's queue holds only followers.
  f.Exit(on_b[0], 0, 5);
  REQUIRE(f.Ended(busy_b));
  CHECK(f.Schedule().empty());
  CHECK(f.out.retracts.empty());
  for (const auto& d : chain) f.Exit(d, 0, 5);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("a step given back sends its follower back to waiting for the new attempt") {
  TwoWarmWorkers f;
  GraphBuilder g;
  g.Step("long").Step("q").Step("next", {"q"});
  JobId job = f.Submit(g.Build());
  auto sent = f.Schedule();
  // q first (next lies behind it) on a, with next following it there; long on b.
  REQUIRE(f.Ids(job, sent) == std::vector<std::string>{"q", "next", "long"});
  std::rotate(sent.begin(), sent.begin() + 2, sent.end());  // long, q, next
  CHECK(sent[1].worker == f.a);
  REQUIRE(sent[2].after);
  // a gives q back (as it would when asked): next goes back to waiting,
  // and its own not-run report from a is stale.
  GiveBack(f, sent[1]);
  CHECK(f.StateOf(job, "q") == StepState::kReady);
  CHECK(f.StateOf(job, "next") == StepState::kWaiting);
  RunResult not_run;
  not_run.outcome = Outcome::kNotRun;
  f.sched.OnStepExited(sent[2].worker, TaskResult{sent[2].key, not_run}, f.now);
  f.sched.CheckInvariants();
  CHECK(f.sched.FindWorker(f.a)->used == 0);
  f.Exit(sent[0], 0);
  f.Drain(job);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("a Retract lost with a connection is asked again once the worker is back") {
  Fixture f;
  WorkerId a = f.WarmWorker("a", 1, /*prefetch=*/4);
  WorkerId b = f.AddWorker("b", 1, {"b"});
  GraphBuilder hold;
  hold.Step("hold-b");
  hold.last().requires_labels = {"b"};
  JobId busy = f.Submit(hold.Build());
  auto on_b = f.Schedule();
  REQUIRE(on_b.size() == 1);
  REQUIRE(on_b[0].worker == b);
  JobId job = f.Submit(Independent(3).Build());
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 3);
  for (const auto& d : sent) REQUIRE(d.worker == a);  // s0 runs, s1 and s2 queued on a
  f.Exit(on_b[0], 0);  // b frees up: s2 (the newest) is asked back for it
  REQUIRE(f.Ended(busy));
  CHECK(f.Schedule().empty());
  CHECK(TakeRetract(f).key == sent[2].key);
  // The Retract is lost with a's connection: a says hello again, holding all three.
  f.sched.OnWorkerHello(WorkerInfo{.name = "a",
                                   .host = "host-a",
                                   .slots = 1,
                                   .labels = {},
                                   .prefetch = 4,
                                   .instance = "instance-a"},
                        {sent[0].key, sent[1].key, sent[2].key}, f.now);
  f.sched.CheckInvariants();
  CHECK(f.sched.FindWorker(b)->incoming == 0);
  CHECK(f.Schedule().empty());
  CHECK(TakeRetract(f).key == sent[2].key);  // asked again
  GiveBack(f, sent[2]);
  auto moved = f.Schedule();
  REQUIRE(moved.size() == 1);
  CHECK(moved[0].worker == b);
  for (const auto& d : {sent[0], sent[1], moved[0]}) f.Exit(d, 0);
  CHECK(f.Ended(job));
}

TEST_CASE("a retraction is not asked of a worker out of touch, nor for a cancelled job") {
  TwoWarmWorkers f;
  JobId job = f.Submit(Independent(4).Build());
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 4);
  std::vector<RecordingOutbox::Sent> on_a, on_b;
  for (const auto& d : sent) (d.worker == f.a ? on_a : on_b).push_back(d);
  SUBCASE("out of touch") {
    f.now += 10'000;
    f.sched.OnWorkerHeard(f.b, f.now);
    f.sched.OnTick(f.now);  // a is silent: out of touch
    f.sched.CheckInvariants();
    f.Exit(on_b[0], 0, 5);
    f.Exit(on_b[1], 0, 5);
    CHECK(f.Schedule().empty());
    CHECK(f.out.retracts.empty());
    f.sched.OnWorkerHeard(f.a, f.now);
  }
  SUBCASE("cancelled") {
    f.sched.OnCancel(job, f.now);
    f.out.kills.clear();
    f.Exit(on_b[0], -1, 5);
    f.Exit(on_b[1], -1, 5);
    CHECK(f.Schedule().empty());
    CHECK(f.out.retracts.empty());
  }
  for (const auto& d : on_a) f.Exit(d, 0, 5);
  f.Drain(job);
  CHECK(f.Ended(job));
}

}  // namespace
}  // namespace drover::broker
