// The scheduler core (scheduler_fixture.h): prefetch, which queues short
// steps on a worker beyond its slots, and following, which sends a chain's
// next step along with its predecessor.

#include <doctest/doctest.h>

#include <set>

#include "tests/broker/scheduler_fixture.h"

namespace drover::broker {
namespace {

TEST_CASE("a worker's prefetch queue fills only once its steps have proved short") {
  Fixture f;
  WorkerId w = f.AddWorker("w1", 2, {}, /*prefetch=*/2);
  JobId job = f.Submit(Independent(20).Build());
  auto first = f.Schedule();
  CHECK(first.size() == 2);  // nothing known about its steps yet: slots only
  f.Exit(first[0], 0, /*ran_ms=*/5);
  auto more = f.Schedule();
  CHECK(more.size() == 3);  // one freed slot, plus two queued ahead
  for (const auto& d : more) CHECK(d.worker == w);
  // Long steps switch it off again: the queue is not refilled.
  for (int i = 0; i < 12; ++i) {
    f.Exit(i == 0 ? first[1] : more[0], 0, /*ran_ms=*/60'000);
    if (i > 0) more.erase(more.begin());
    auto sent = f.Schedule();
    more.insert(more.end(), sent.begin(), sent.end());
  }
  CHECK(f.sched.FindWorker(w)->used <= 2);
  for (const auto& d : more) f.Exit(d, 0);
  f.Drain(job);
}

TEST_CASE("a worker's prefetch holds about kPrefetchWorkMs of its steps per slot") {
  Fixture f;
  WorkerId w = f.AddWorker("w1", 2, {}, /*prefetch=*/64);
  JobId job = f.Submit(Independent(200).Build());
  std::deque<RecordingOutbox::Sent> held;  // dispatched, oldest first
  auto schedule = [&] {
    for (const auto& d : f.Schedule()) held.push_back(d);
  };
  // The oldest attempt ends after `ran_ms`, `times` times over.
  auto finish = [&](int times, int64_t ran_ms) {
    for (int i = 0; i < times && !held.empty(); ++i) {
      f.Exit(held.front(), 0, ran_ms);
      held.pop_front();
      schedule();
    }
  };
  schedule();
  REQUIRE(held.size() == 2);  // nothing known of its steps yet: slots only
  // Steps of 10 ms: 2 slots × 50 ms of them queued, beside the 2 running.
  finish(1, /*ran_ms=*/10);
  CHECK(f.sched.FindWorker(w)->used == 2 + 2 * kPrefetchWorkMs / 10);
  CHECK(held.size() == 2 + 2 * kPrefetchWorkMs / 10);
  // Steps of 100 ms: one queued, however much room the worker offers.
  finish(40, /*ran_ms=*/100);
  CHECK(f.sched.FindWorker(w)->used == 3);
  // Steps of 1 ms: all of its prefetch (64 < 2 × 50).
  finish(40, /*ran_ms=*/1);
  CHECK(f.sched.FindWorker(w)->used == 2 + 64);
  finish(1000, /*ran_ms=*/1);
  CHECK(f.Ended(job));
}

TEST_CASE("idle slots on any worker beat another worker's prefetch queue") {
  Fixture f;
  WorkerId a = f.AddWorker("a", 2, {}, /*prefetch=*/2);
  JobId job =
      f.Submit(GraphBuilder().Step("top").Step("left", {"top"}).Step("right", {"top"}).Build());
  auto top = f.Schedule();
  REQUIRE(top.size() == 1);
  WorkerId b = f.AddWorker("b", 2, {}, /*prefetch=*/2);
  f.Exit(top[0], 0, /*ran_ms=*/5);  // a's steps are short: its prefetch opens
  auto middle = f.Schedule();
  REQUIRE(middle.size() == 2);
  CHECK(std::set<WorkerId>{middle[0].worker, middle[1].worker} == std::set<WorkerId>{a, b});
  for (const auto& d : middle) f.Exit(d, 0);
  CHECK(f.Ended(job));
}

TEST_CASE("a chain of short steps advances by following, as far as the worker's room goes") {
  Fixture f;
  WorkerId w = f.WarmWorker("w1", 2);  // 2 slots + 2 prefetch
  JobId job = f.Submit(Chain(6).Build());
  auto first = f.Schedule();
  REQUIRE(first.size() == 4);  // s0, then s1 after s0, s2 after s1, s3 after s2
  CHECK_FALSE(first[0].after);
  for (size_t i = 1; i < first.size(); ++i) {
    CHECK(f.IdOf(job, first[i].key) == "s" + std::to_string(i));
    CHECK(first[i].worker == w);
    REQUIRE(first[i].after);
    CHECK(*first[i].after == first[i - 1].key);
  }
  CHECK(f.StateOf(job, "s1") == StepState::kRunning);
  // s0 succeeds: s1 is running on the worker already, and the chain grows
  // from its end (s4 after s3) into the slot s0 freed.
  f.Exit(first[0], 0, 5);
  auto more = f.Schedule();
  REQUIRE(more.size() == 1);
  CHECK(f.IdOf(job, more[0].key) == "s4");
  CHECK(*more[0].after == first[3].key);
  bool s1_started = false;
  for (const auto& [j, e] : f.out.events) {
    if (auto* st = std::get_if<StepStarted>(&e); st && st->step == first[1].key.step)
      s1_started = true;
  }
  CHECK(s1_started);
  for (size_t i = 1; i < first.size(); ++i) {
    f.Exit(first[i], 0, 5);
    for (const auto& d : f.Schedule()) more.push_back(d);
  }
  for (size_t i = 0; i < more.size(); ++i) f.Exit(more[i], 0, 5);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("a failure reverts the whole chain of followers behind it") {
  Fixture f;
  f.WarmWorker("w1", 2);
  JobId job = f.Submit(Chain(4).Build());
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 4);
  f.Exit(sent[0], 1, 5);
  for (const char* id : {"s1", "s2", "s3"}) CHECK(f.StateOf(job, id) == StepState::kSkipped);
  CHECK(f.sched.FindWorker(sent[0].worker)->used == 0);
  CHECK(f.Ended(job)->state == JobState::kFailed);
}

TEST_CASE("following dispatches go out with the predecessor's success") {
  Fixture f;
  f.WarmWorker("w1", 1, 1);
  JobId job = f.Submit(Chain(3).Build());
  auto first = f.Schedule();
  REQUIRE(first.size() == 2);
  f.Exit(first[0], 0, 5);
  // Dispatches made while settling s0 (s2 following s1) are in the outbox.
  REQUIRE(f.out.dispatches.size() == 1);
  auto s2 = f.out.dispatches.front();
  f.out.dispatches.clear();
  CHECK(f.IdOf(job, s2.key) == "s2");
  REQUIRE(s2.after);
  CHECK(*s2.after == first[1].key);
  f.Exit(first[1], 0, 5);
  f.Exit(s2, 0, 5);
  REQUIRE(f.Ended(job));
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("a follower goes back to waiting when its predecessor fails, is retried or is lost") {
  SUBCASE("fails: the follower is skipped; its not-run report is stale") {
    Fixture f;
    f.WarmWorker("w1", 2);
    JobId job = f.Submit(Chain(2).Build());
    auto sent = f.Schedule();
    REQUIRE(sent.size() == 2);
    f.Exit(sent[0], 1, 5);
    CHECK(f.StateOf(job, "s1") == StepState::kSkipped);
    RunResult not_run;
    not_run.outcome = Outcome::kNotRun;
    f.sched.OnStepExited(sent[1].worker, TaskResult{sent[1].key, not_run}, f.now);
    f.sched.CheckInvariants();
    CHECK(f.Ended(job)->state == JobState::kFailed);
    CHECK(f.sched.FindWorker(sent[1].worker)->used == 0);
  }
  SUBCASE("is retried: the follower waits for the new attempt") {
    Fixture f;
    f.WarmWorker("w1", 2);
    GraphBuilder g = Chain(2);
    JobSpec spec = g.Build();
    spec.steps[0].retries = 1;
    JobId job = f.Submit(spec);
    auto sent = f.Schedule();
    REQUIRE(sent.size() == 2);
    f.Exit(sent[0], 1, 5);
    CHECK(f.StateOf(job, "s1") == StepState::kWaiting);
    auto again = f.Schedule();
    REQUIRE(again.size() == 2);  // s0 attempt 2, and s1 following it anew
    CHECK(again[0].key.attempt == Attempt(2));
    CHECK(*again[1].after == again[0].key);
    f.Exit(sent[1], 0, 5);  // the first follower's late report: stale
    f.Exit(again[0], 0, 5);
    f.Exit(again[1], 0, 5);
    CHECK(f.Ended(job)->state == JobState::kSucceeded);
  }
  SUBCASE("is lost with its worker: both run again, no loss counted for the follower") {
    Fixture f;
    WorkerId w1 = f.WarmWorker("w1", 2);
    JobId job = f.Submit(Chain(2).Build());
    auto sent = f.Schedule();
    REQUIRE(sent.size() == 2);
    f.sched.OnWorkerLost(w1, "went silent", f.now);
    f.sched.CheckInvariants();
    CHECK(f.StateOf(job, "s0") == StepState::kReady);
    CHECK(f.StateOf(job, "s1") == StepState::kWaiting);
    CHECK(f.sched.FindJob(job)->run(f.IndexOf(job, "s1")).losses == 0);
    f.AddWorker("w2", 1);
    f.Drain(job);
    CHECK(f.Ended(job)->state == JobState::kSucceeded);
  }
  SUBCASE("is cancelled: both are killed and the job ends cancelled") {
    Fixture f;
    f.WarmWorker("w1", 1, 1);
    JobId job = f.Submit(Chain(3).Build());
    auto sent = f.Schedule();
    REQUIRE(sent.size() == 2);
    CHECK(f.sched.OnCancel(job, f.now));
    CHECK(f.out.kills.size() == 2);
    f.out.kills.clear();
    RunResult killed;
    killed.outcome = Outcome::kKilled;
    f.sched.OnStepExited(sent[0].worker, TaskResult{sent[0].key, killed}, f.now);
    f.sched.OnStepExited(sent[1].worker, TaskResult{sent[1].key, killed}, f.now);
    f.sched.CheckInvariants();
    CHECK(f.StateOf(job, "s1") == StepState::kCancelled);
    REQUIRE(f.Ended(job));
    CHECK(f.Ended(job)->state == JobState::kCancelled);
  }
}

TEST_CASE("no following while another graph waits, for wide steps, or without prefetch") {
  Fixture f;
  f.WarmWorker("w1", 1, 1);
  JobId other = f.Submit(GraphBuilder().Step("x1").Step("x2").Build());
  JobId job = f.Submit(Chain(2).Build());
  auto sent = f.Schedule();
  for (const auto& d : sent) CHECK_FALSE(d.after);
  for (auto& d : sent) f.Exit(d, 0, 5);
  f.Drain(other);
  f.Drain(job);
  Fixture g;
  g.AddWorker("cold", 2, {}, 2);  // nothing known of its steps: prefetch closed
  JobId chain = g.Submit(Chain(2).Build());
  auto cold = g.Schedule();
  REQUIRE(cold.size() == 1);
  CHECK_FALSE(cold[0].after);
  g.Exit(cold[0], 0, 5);
  g.Drain(chain);
}

TEST_CASE("a fan-out sends one follower and the rest are placed as usual") {
  Fixture f;
  f.WarmWorker("w1", 1, 1);
  WorkerId w2 = f.AddWorker("w2", 1);
  JobId job = f.Submit(GraphBuilder().Step("top").Step("a", {"top"}).Step("b", {"top"}).Build());
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 2);  // top, and a following it
  CHECK(f.IdOf(job, sent[1].key) == "a");
  f.Exit(sent[0], 0, 5);
  auto rest = f.Schedule();
  REQUIRE(rest.size() == 1);
  CHECK(f.IdOf(job, rest[0].key) == "b");
  CHECK(rest[0].worker == w2);  // an idle worker, not a queue
  f.Exit(sent[1], 0, 5);
  f.Exit(rest[0], 0, 5);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("a follower its worker reports not run before the predecessor ends waits again") {
  Fixture f;
  f.WarmWorker("w1", 2);
  JobId job = f.Submit(Chain(2).Build());
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 2);
  RunResult not_run;
  not_run.outcome = Outcome::kNotRun;
  f.sched.OnStepExited(sent[1].worker, TaskResult{sent[1].key, not_run}, f.now);
  f.sched.CheckInvariants();
  CHECK(f.StateOf(job, "s1") == StepState::kWaiting);
  f.Exit(sent[0], 0, 5);
  auto next = f.Schedule();
  REQUIRE(next.size() == 1);
  CHECK(f.IdOf(job, next[0].key) == "s1");
  f.Exit(next[0], 0, 5);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

}  // namespace
}  // namespace drover::broker
