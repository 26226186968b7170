// WorkerPool::JudgeHello (broker/core/worker_pool.h), driven through the
// scheduler core as the broker drives it: a hello under a name a connected
// worker has is refused, unless it is that worker coming back or a restart
// of it (its previous_instance); a worker out of touch holds no name.

#include <doctest/doctest.h>

#include "tests/broker/scheduler_fixture.h"

namespace drover::broker {
namespace {

WorkerId Join(Fixture& f, const std::string& name, const std::string& host,
              const std::string& instance) {
  WorkerId id = f.sched.OnWorkerJoined(
      WorkerInfo{.name = name, .host = host, .slots = 1, .instance = instance}, f.now);
  f.sched.CheckInvariants();
  return id;
}

TEST_CASE("a new worker under a connected worker's name is told who has it") {
  Fixture f;
  WorkerId first = Join(f, "alpha", "node1", "i-1");
  Join(f, "beta", "node1", "i-2");
  f.now += 5000;
  // From another host, and from the same host with another state directory
  // (no previous_instance it would know): both are someone else.
  for (const char* previous : {"", "i-unknown"}) {
    const WorkerPool::HelloVerdict v = f.sched.pool().JudgeHello("alpha", "i-9", previous);
    CHECK_FALSE(v.back);
    CHECK(v.previous == nullptr);
    REQUIRE(v.holder != nullptr);
    CHECK(v.holder->id == first);
    CHECK(f.now - v.holder->connected_since == 5000);
  }
  // Another name is free, whoever has which.
  CHECK(f.sched.pool().JudgeHello("gamma", "i-9", "").holder == nullptr);
}

TEST_CASE("the same worker reconnecting, or its restart, takes its own name") {
  Fixture f;
  WorkerId first = Join(f, "alpha", "node1", "i-1");
  // Its own instance again: a reconnection.
  WorkerPool::HelloVerdict v = f.sched.pool().JudgeHello("alpha", "i-1", "");
  CHECK(v.back);
  CHECK(v.holder == nullptr);
  // A new run naming this one as its previous: a restart, though the broker
  // still counts the old one connected (its heartbeats have not run out).
  v = f.sched.pool().JudgeHello("alpha", "i-2", "i-1");
  CHECK_FALSE(v.back);
  REQUIRE(v.previous != nullptr);
  CHECK(v.previous->id == first);
  CHECK(v.holder == nullptr);
}

TEST_CASE("a worker out of touch holds no name, and comes back to it") {
  Fixture f;
  SchedulerOptions defaults;
  WorkerId old = Join(f, "alpha", "node1", "i-1");
  // Holding a step, it is kept while out of touch (an idle one is forgotten).
  JobId job = f.Submit(GraphBuilder().Step("long").Build());
  const auto sent = f.Schedule();
  REQUIRE(sent.size() == 1);
  f.now += defaults.worker_timeout_ms + 1;
  f.sched.OnTick(f.now);
  REQUIRE_FALSE(f.sched.FindWorker(old)->connected);
  // A dead worker's name is free once it is out of touch...
  CHECK(f.sched.pool().JudgeHello("alpha", "i-2", "").holder == nullptr);
  WorkerId second = Join(f, "alpha", "node2", "i-2");
  // ... and should the old one be only cut off, it is let back in: it holds
  // a step. Newcomers are then refused the name, which the one connected
  // longest holds.
  CHECK(f.sched.pool().JudgeHello("alpha", "i-1", "").back);
  f.now += 1000;
  f.sched.OnWorkerHello(WorkerInfo{.name = "alpha", .host = "node1", .instance = "i-1"},
                        {sent[0].key}, f.now);
  f.sched.CheckInvariants();
  REQUIRE(f.sched.FindWorker(old)->connected);
  const WorkerPool::HelloVerdict v = f.sched.pool().JudgeHello("alpha", "i-3", "");
  REQUIRE(v.holder != nullptr);
  CHECK(v.holder->id == second);
  f.Exit(sent[0], 0);
  CHECK(f.Ended(job));
}

}  // namespace
}  // namespace drover::broker
