// The scheduler core (scheduler_fixture.h): which ready step of a graph
// starts first. Priority, then the critical path (the work on the longest
// path below a step, job.h), then the order steps became ready.

#include <doctest/doctest.h>

#include "tests/broker/scheduler_fixture.h"

namespace drover::broker {
namespace {

// One slot: the steps start one at a time, in the order the scheduler
// prefers; each runs for `ms(step id)`.
template <typename Ms>
std::vector<std::string> RunOrder(Fixture& f, JobId job, Ms ms) {
  std::vector<std::string> order;
  for (int guard = 0; guard < 10000; ++guard) {
    auto sent = f.Schedule();
    if (sent.empty()) break;
    REQUIRE(sent.size() == 1);
    order.push_back(f.IdOf(job, sent[0].key));
    f.Exit(sent[0], 0, ms(order.back()));
  }
  return order;
}

TEST_CASE("without durations, the step with the most steps below it starts first") {
  Fixture f;
  f.AddWorker("w", 1);
  // c0 -> c1 -> c2 is the critical path; a and b are alone.
  JobId job = f.Submit(
      GraphBuilder().Step("a").Step("b").Step("c0").Step("c1", {"c0"}).Step("c2", {"c1"}).Build());
  const Job* j = f.sched.FindJob(job);
  CHECK(j->rank(f.IndexOf(job, "c0")) == 3 * Job::kUnknownStepMs);
  CHECK(j->rank(f.IndexOf(job, "a")) == Job::kUnknownStepMs);
  const auto order = RunOrder(f, job, [](const std::string&) { return 10; });
  // c0 first; then c1 (2 below) before a and b, which keep their file order.
  CHECK(order == std::vector<std::string>{"c0", "c1", "a", "b", "c2"});
}

TEST_CASE("priority comes before the critical path") {
  Fixture f;
  f.AddWorker("w", 1);
  GraphBuilder g;
  g.Step("c0").Step("c1", {"c0"}).Step("urgent");
  g.last().priority = 1;
  JobId job = f.Submit(g.Build());
  const auto order = RunOrder(f, job, [](const std::string&) { return 10; });
  CHECK(order == std::vector<std::string>{"urgent", "c0", "c1"});
}

TEST_CASE("duration hints weigh the path: one long step beats two short ones") {
  Fixture f;
  f.AddWorker("w", 1);
  GraphBuilder g;
  g.Step("s0").Step("s1", {"s0"}).Step("long");
  g.Build();
  JobSpec spec = g.Build();
  spec.steps[0].duration_ms = 1000;
  spec.steps[1].duration_ms = 1000;
  spec.steps[2].duration_ms = 5000;
  JobId job = f.Submit(spec);
  CHECK(f.sched.FindJob(job)->rank(f.IndexOf(job, "s0")) == 2000);
  CHECK(f.sched.FindJob(job)->rank(f.IndexOf(job, "long")) == 5000);
  const auto order = RunOrder(f, job, [](const std::string&) { return 10; });
  CHECK(order == std::vector<std::string>{"long", "s0", "s1"});
}

TEST_CASE("steps without a hint count as the mean of the hinted ones") {
  Fixture f;
  JobSpec spec = GraphBuilder().Step("a").Step("b").Step("c", {"b"}).Build();
  spec.steps[0].duration_ms = 3000;
  JobId job = f.Submit(spec);
  const Job* j = f.sched.FindJob(job);
  CHECK(j->EstimateMs(f.IndexOf(job, "b")) == 3000);
  CHECK(j->rank(f.IndexOf(job, "b")) == 6000);
}

TEST_CASE("durations are learned per command shape, and the long kind goes first") {
  Fixture f;
  f.AddWorker("w", 1);
  // Alternating kinds: "fast N" takes 10 ms, "slow N" 2 s. Numbers do not
  // make a new shape.
  GraphBuilder g;
  for (int i = 0; i < 16; ++i) {
    g.Step("fast" + std::to_string(i));
    g.last().argv = {"fast " + std::to_string(i)};
    g.Step("slow" + std::to_string(i));
    g.last().argv = {"slow " + std::to_string(i * 37)};
  }
  JobId job = f.Submit(g.Build());
  const auto order = RunOrder(f, job, [](const std::string& id) {
    return id.rfind("slow", 0) == 0 ? 2000 : 10;
  });
  REQUIRE(order.size() == 32);
  // File order until both kinds have been seen, then every slow one before
  // the rest of the fast ones (longest first, which shortens the tail of a
  // graph on many slots).
  CHECK(order[0] == "fast0");
  CHECK(order[1] == "slow0");
  size_t first_fast_after = 2;
  while (first_fast_after < order.size() && order[first_fast_after].rfind("slow", 0) == 0) {
    ++first_fast_after;
  }
  CHECK(first_fast_after == 17);  // slow1..slow15 right after the first two
  const Job* j = f.sched.FindJob(job);
  CHECK(j->EstimateMs(f.IndexOf(job, "slow3")) == 2000);
  CHECK(j->EstimateMs(f.IndexOf(job, "fast3")) == 10);
}

TEST_CASE("one shape and no edges: nothing to reorder, the queue stays first in, first out") {
  Fixture f;
  f.AddWorker("w", 1);
  JobId job = f.Submit(Independent(20).Build());
  int i = 0;
  const auto order = RunOrder(f, job, [&](const std::string&) { return 5 + 100 * (i++ % 3); });
  for (size_t k = 0; k < order.size(); ++k) CHECK(order[k] == "s" + std::to_string(k));
}

TEST_CASE("fair share between graphs is unchanged by ranks") {
  Fixture f;
  f.AddWorker("w", 2);
  // A deep graph and a flat one: each gets a slot.
  JobId deep = f.Submit(Chain(10).Build());
  JobId flat = f.Submit(Independent(10).Build());
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].key.job != sent[1].key.job);
  for (const auto& d : sent) f.Exit(d, 0);
  f.Drain(deep);
  f.Drain(flat);
  CHECK(f.Ended(deep));
  CHECK(f.Ended(flat));
}

}  // namespace
}  // namespace drover::broker
