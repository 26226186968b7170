// The scheduler core (scheduler_fixture.h): workers that do not live for
// ever. A worker with a time limit gets a step with a `time_request` only
// while the step fits in the time it has left; a draining worker gets
// nothing new and keeps what it runs.

#include <doctest/doctest.h>

#include "tests/broker/scheduler_fixture.h"

namespace drover::broker {
namespace {

constexpr int64_t kMinute = 60'000;

WorkerId AddTimedWorker(Fixture& f, const std::string& name, uint32_t slots, int64_t left_ms,
                        uint32_t prefetch = 0) {
  WorkerId id = f.sched.OnWorkerJoined(WorkerInfo{.name = name,
                                                  .host = "host-" + name,
                                                  .slots = slots,
                                                  .prefetch = prefetch,
                                                  .instance = "instance-" + name,
                                                  .time_left_ms = static_cast<uint64_t>(left_ms)},
                                       f.now);
  f.sched.CheckInvariants();
  return id;
}

JobSpec Requesting(int n, int64_t request_ms) {
  JobSpec spec = Independent(n).Build();
  for (StepSpec& s : spec.steps) s.time_request_ms = static_cast<uint32_t>(request_ms);
  return spec;
}

TEST_CASE("a step with a time_request goes only to a worker with that much time left") {
  Fixture f;
  AddTimedWorker(f, "short", 4, 10 * kMinute);
  WorkerId longer = AddTimedWorker(f, "long", 1, 60 * kMinute);
  JobId job = f.Submit(Requesting(2, 30 * kMinute));
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 1);  // "short" has more idle slots, but not the time
  CHECK(sent[0].worker == longer);
  CHECK(f.Schedule().empty());  // the second waits for "long"'s slot
  f.Exit(sent[0], 0);
  // Twenty minutes on, "long" has 40 left: still enough.
  f.now += 20 * kMinute;
  sent = f.Schedule();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].worker == longer);
  f.Exit(sent[0], 0);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
  // Steps without a request go anywhere, "short" first (most idle slots).
  JobId any = f.Submit(Independent(1).Build());
  sent = f.Schedule();
  REQUIRE(sent.size() == 1);
  CHECK(f.sched.FindWorker(sent[0].worker)->info.name == "short");
  f.Exit(sent[0], 0);
  CHECK(f.Ended(any));
  // A worker without a limit takes any request.
  WorkerId forever = f.AddWorker("forever", 1);
  JobId big = f.Submit(Requesting(1, 24 * 60 * kMinute));
  sent = f.Schedule();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].worker == forever);
  f.Exit(sent[0], 0);
  CHECK(f.Ended(big));
}

TEST_CASE("a step that fits no worker's time waits, and its job is told the most there is") {
  Fixture f;
  AddTimedWorker(f, "a", 2, 40 * kMinute);
  JobId job = f.Submit(Requesting(2, 120 * kMinute));
  CHECK(f.Schedule().empty());
  f.now += kReportWaitingMs;
  CHECK(f.Schedule().empty());
  auto waiting = Waiting(f, job);
  REQUIRE(waiting.size() == 1);
  CHECK(waiting[0].reason == "no worker has 2h left before its time limit; the most is 40m");  // as of when it was checked
  // A worker that came back with a new allocation's time takes them.
  AddTimedWorker(f, "b", 2, 180 * kMinute);
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 2);
  for (const auto& d : sent) f.Exit(d, 0);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("a draining worker gets nothing new, keeps what it runs, and is not a retract target") {
  Fixture f;
  WorkerId a = f.AddWorker("a", 1);
  WorkerId b = f.AddWorker("b", 1);
  JobId job = f.Submit(Independent(4).Build());
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 2);
  f.sched.OnWorkerDraining(a);
  f.sched.CheckInvariants();
  CHECK(f.sched.Status(f.now).workers[0].draining);
  // a's step runs on; a gets no more. b takes the rest, one by one.
  const auto& on_a = sent[0].worker == a ? sent[0] : sent[1];
  const auto& on_b = sent[0].worker == a ? sent[1] : sent[0];
  f.Exit(on_a, 0);
  CHECK(f.Schedule().empty());
  f.Exit(on_b, 0);
  for (int i = 0; i < 2; ++i) {
    auto next = f.Schedule();
    REQUIRE(next.size() == 1);
    CHECK(next[0].worker == b);
    f.Exit(next[0], 0);
  }
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
  // It said so again in a hello (after a reconnection): still draining.
  f.sched.OnWorkerHello(WorkerInfo{.name = "a", .host = "host-a", .slots = 1,
                                   .instance = "instance-a"},
                        {}, f.now);
  JobId more = f.Submit(Independent(1).Build());
  sent = f.Schedule();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].worker == b);
  f.Exit(sent[0], 0);
  CHECK(f.Ended(more));
}

TEST_CASE("a step that must fit a worker's time is only started there, never queued") {
  Fixture f;
  // One slot, prefetch open (its steps proved short), an hour left.
  WorkerId w = AddTimedWorker(f, "w", 1, 60 * kMinute, /*prefetch=*/2);
  JobId warm = f.Submit(Independent(1).Build());
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 1);
  f.Exit(sent[0], 0, /*ran_ms=*/5);
  REQUIRE(f.Ended(warm));
  // Busy with a step that may run 50 minutes: a 30-minute request would
  // start only after it, maybe too late. One without a request is queued.
  JobId busy = f.Submit(Independent(1).Build());
  auto running = f.Schedule();
  REQUIRE(running.size() == 1);
  JobId timed = f.Submit(Requesting(1, 30 * kMinute));
  JobId plain = f.Submit(Independent(1).Build());
  auto queued = f.Schedule();
  REQUIRE(queued.size() == 1);
  CHECK(queued[0].key.job == plain);
  CHECK(queued[0].worker == w);
  f.Exit(running[0], 0, 5);
  f.Exit(queued[0], 0, 5);
  // Idle again: now it starts there.
  auto started = f.Schedule();
  REQUIRE(started.size() == 1);
  CHECK(started[0].key.job == timed);
  f.Exit(started[0], 0, 5);
  CHECK(f.Ended(busy));
  CHECK(f.Ended(timed));
  CHECK(f.Ended(plain));
}

TEST_CASE("a draining worker left idle asks nothing back from the others' queues") {
  Fixture f;
  WorkerId a = f.AddWorker("a", 1, {}, /*prefetch=*/2);
  WorkerId b = f.AddWorker("b", 1, {}, /*prefetch=*/2);
  JobId warm = f.Submit(Independent(2).Build());
  for (const auto& d : f.Schedule()) f.Exit(d, 0, /*ran_ms=*/5);
  REQUIRE(f.Ended(warm));
  f.sched.OnWorkerDraining(a);
  // b runs one step and queues two; a is idle, but leaving.
  JobId job = f.Submit(Independent(3).Build());
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 3);
  for (const auto& d : sent) CHECK(d.worker == b);
  CHECK(f.Schedule().empty());
  CHECK(f.out.retracts.empty());  // an undrained a would have asked for one
  for (const auto& d : sent) f.Exit(d, 0, 5);
  CHECK(f.Ended(job));
}

TEST_CASE("when every worker drains, a waiting step says so") {
  Fixture f;
  WorkerId a = f.AddWorker("a", 1);
  f.sched.OnWorkerDraining(a);
  JobId job = f.Submit(Independent(1).Build());
  CHECK(f.Schedule().empty());
  f.now += kReportWaitingMs;
  CHECK(f.Schedule().empty());
  auto waiting = Waiting(f, job);
  REQUIRE(waiting.size() == 1);
  CHECK(waiting[0].reason == "every worker is draining");
}

}  // namespace
}  // namespace drover::broker
