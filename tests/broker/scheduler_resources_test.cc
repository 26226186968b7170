// The scheduler core (scheduler_fixture.h): resources as quantities. A step
// goes only where every amount it asks for is free and holds it while it
// runs; a step no connected worker could ever run waits, and its job is
// told why.

#include <doctest/doctest.h>

#include "tests/broker/scheduler_fixture.h"

namespace drover::broker {
namespace {

constexpr uint64_t kG = 1ull << 30;

// A graph of `n` independent steps, each asking for `wants`.
JobSpec Asking(int n, ResourceList wants, std::vector<std::string> labels = {},
               uint32_t slots = 1) {
  JobSpec spec = Independent(n).Build();
  spec.resource_requests = {std::move(wants)};
  for (StepSpec& s : spec.steps) {
    s.resources = 1;
    s.requires_labels = labels;
    s.slots = slots;
  }
  return spec;
}

TEST_CASE("3G steps go only to the worker with 4G, one at a time") {
  Fixture f;
  WorkerId big = f.AddWorkerWith("big", 4, {{"mem", 4 * kG}});
  f.AddWorkerWith("small", 4, {{"mem", 1 * kG}});
  JobId job = f.Submit(Asking(3, {{"mem", 3 * kG}}));
  for (int i = 0; i < 3; ++i) {
    auto sent = f.Schedule();
    REQUIRE(sent.size() == 1);  // never two at once: 3G + 3G > 4G
    CHECK(sent[0].worker == big);
    CHECK(f.sched.FindWorker(big)->resources[0].used == 3 * kG);
    CHECK(f.Schedule().empty());
    f.Exit(sent[0], 0);
  }
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
  CHECK(f.sched.FindWorker(big)->resources[0].used == 0);
}

TEST_CASE("two 1-gpu steps share a 2-gpu worker, a third waits for a gpu to free") {
  Fixture f;
  WorkerId w = f.AddWorkerWith("gpu", 8, {{"gpus", 2}, {"mem", 64 * kG}});
  JobId job = f.Submit(Asking(3, {{"gpus", 1}}));
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 2);
  for (const auto& d : sent) CHECK(d.worker == w);
  f.Exit(sent[0], 0);
  auto third = f.Schedule();
  REQUIRE(third.size() == 1);
  f.Exit(sent[1], 0);
  f.Exit(third[0], 0);
  CHECK(f.Ended(job));
  CHECK(Waiting(f, job).empty());  // it waited for a gpu to free, not for a worker
}

TEST_CASE("a step no worker could hold waits, and after a while its job is told why") {
  Fixture f;
  f.AddWorkerWith("big", 4, {{"mem", 4 * kG}});
  f.AddWorkerWith("small", 4, {{"mem", 1 * kG}});
  JobId job = f.Submit(Asking(3, {{"mem", 8 * kG}}));
  CHECK(f.Schedule().empty());
  CHECK(Waiting(f, job).empty());  // not yet: workers may still be joining
  CHECK(f.sched.NextWakeup() == f.now + kReportWaitingMs);
  f.now += kReportWaitingMs;
  CHECK(f.Schedule().empty());
  auto waiting = Waiting(f, job);
  REQUIRE(waiting.size() == 1);
  CHECK(waiting[0].reason == "no worker has mem 8G; largest is 4G");
  CHECK(waiting[0].steps == 3);
  CHECK(f.sched.FindJob(job)->step(waiting[0].step).id == "s0");
  // `submit status` shows it too.
  REQUIRE(f.sched.Status(f.now).jobs.size() == 1);
  CHECK(f.sched.Status(f.now).jobs[0].waiting ==
        std::vector<std::string>{"s0: no worker has mem 8G; largest is 4G (3 steps)"});
  // Said once, not every turn.
  f.now += 10'000;
  CHECK(f.Schedule().empty());
  CHECK(Waiting(f, job).size() == 1);
  CHECK(f.sched.NextWakeup() == -1);
  // A worker that has it joins: the steps run there.
  WorkerId huge = f.AddWorkerWith("huge", 2, {{"mem", 16 * kG}});
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 2);
  for (const auto& d : sent) {
    CHECK(d.worker == huge);
    f.Exit(d, 0);
  }
  f.Drain(job);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("a step's wait is reported once, also when the ranks are worked out again") {
  Fixture f;
  f.AddWorker("w", 1);
  GraphBuilder g;
  g.Step("a").Step("b", {"a"}).Step("c", {"b"});
  g.Step("u");
  g.last().requires_labels = {"gpu"};
  JobId job = f.Submit(g.Build());
  auto sent = f.Schedule();
  REQUIRE(f.Ids(job, sent) == std::vector<std::string>{"a"});
  f.now += kReportWaitingMs;
  CHECK(f.Schedule().empty());
  REQUIRE(Waiting(f, job).size() == 1);
  f.Exit(sent[0], 0, 500);  // a duration learned: the ranks are worked out again
  auto next = f.Schedule();
  REQUIRE(f.Ids(job, next) == std::vector<std::string>{"b"});
  f.now += kReportWaitingMs;
  CHECK(f.Schedule().empty());
  CHECK(Waiting(f, job).size() == 1);
  f.Exit(next[0], 0, 500);
  f.sched.OnCancel(job, f.now);
  f.out.kills.clear();
  f.Drain(job);
}

TEST_CASE("why steps wait: labels, slots, resources, nobody connected") {
  struct Case {
    JobSpec spec;
    std::string reason;
  };
  Fixture f;
  f.AddWorkerWith("a", 2, {{"mem", 4 * kG}}, {"x86"});
  f.AddWorkerWith("b", 8, {{"gpus", 1}}, {"arm"});
  const std::vector<Case> cases = {
      {Asking(1, {}, {"gpu"}), "no worker has label gpu"},
      {Asking(1, {}, {"gpu", "fast"}), "no worker has labels fast, gpu"},
      {Asking(1, {}, {"arm", "x86"}), "no worker has all the labels arm, x86"},
      {Asking(1, {}, {}, /*slots=*/16), "no worker has 16 slots; largest is 8"},
      {Asking(1, {}, {"x86"}, /*slots=*/4), "no worker with label x86 has 4 slots; largest is 2"},
      {Asking(1, {{"gpus", 2}}), "no worker has gpus 2; largest is 1"},
      {Asking(1, {{"licence", 1}}), "no worker has licence 1; none has any"},
      {Asking(1, {{"gpus", 1}}, {"x86"}), "no worker with label x86 has gpus 1; none has any"},
      {Asking(1, {{"gpus", 1}, {"mem", 1 * kG}}), "no one worker has all of 1 slot, gpus 1, mem 1G"},
  };
  std::vector<JobId> jobs;
  for (const Case& c : cases) jobs.push_back(f.Submit(c.spec));
  CHECK(f.Schedule().empty());
  f.now += kReportWaitingMs;
  CHECK(f.Schedule().empty());
  for (size_t i = 0; i < cases.size(); ++i) {
    CAPTURE(i);
    auto waiting = Waiting(f, jobs[i]);
    REQUIRE(waiting.size() == 1);
    CHECK(waiting[0].reason == cases[i].reason);
  }
  for (JobId j : jobs) f.sched.OnCancel(j, f.now);
}

TEST_CASE("with no worker connected, steps wait and say so") {
  Fixture f;
  JobId job = f.Submit(Independent(2).Build());
  f.Schedule();
  f.now += kReportWaitingMs;
  f.Schedule();
  auto waiting = Waiting(f, job);
  REQUIRE(waiting.size() == 1);
  CHECK(waiting[0].reason == "no worker is connected");
  CHECK(waiting[0].steps == 2);
  f.AddWorker("w", 2);
  f.Drain(job);
  CHECK(f.Ended(job));
}

TEST_CASE("a worker that changes its resources changes what it may take") {
  Fixture f;
  WorkerId w = f.AddWorkerWith("w", 4, {{"mem", 2 * kG}});
  JobId job = f.Submit(Asking(1, {{"mem", 3 * kG}}));
  CHECK(f.Schedule().empty());
  // It comes back (a restart of the same instance) with more memory.
  f.sched.OnWorkerHello(WorkerInfo{.name = "w",
                                   .host = "host-w",
                                   .slots = 4,
                                   .labels = {},
                                   .prefetch = 0,
                                   .instance = "instance-w",
                                   .resources = {{"mem", 8 * kG}}},
                        {}, f.now);
  f.sched.CheckInvariants();
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].worker == w);
  f.Exit(sent[0], 0);
  CHECK(f.Ended(job));
}

TEST_CASE("status shows each worker's resources and what its steps hold") {
  Fixture f;
  f.AddWorkerWith("w", 4, {{"gpus", 2}, {"mem", 8 * kG}});
  JobId job = f.Submit(Asking(1, {{"gpus", 1}, {"mem", 3 * kG}}));
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 1);
  const StatusReply status = f.sched.Status(f.now);
  REQUIRE(status.workers.size() == 1);
  CHECK(status.workers[0].resources == ResourceList{{"gpus", 2}, {"mem", 8 * kG}});
  CHECK(status.workers[0].resources_used == ResourceList{{"gpus", 1}, {"mem", 3 * kG}});
  f.Exit(sent[0], 0);
  CHECK(f.Ended(job));
}

}  // namespace
}  // namespace drover::broker
