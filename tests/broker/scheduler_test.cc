// The scheduler core as plain objects: no sockets, no processes, no clock
// (scheduler_fixture.h). Dependencies and `when`, retries, slots and
// labels, order and fairness, lost workers, cancellation. Prefetch and
// following are in scheduler_following_test.cc; leases, reconnection, retry
// policies, resume and replay in scheduler_lease_test.cc.

#include <doctest/doctest.h>

#include <set>

#include "tests/broker/scheduler_fixture.h"

namespace drover::broker {
namespace {

TEST_CASE("a chain runs in order, one step at a time") {
  Fixture f;
  f.AddWorker("w1", 4);
  JobId job = f.Submit(GraphBuilder().Step("a").Step("b", {"a"}).Step("c", {"b"}).Build());
  auto first = f.Schedule();
  CHECK(f.Ids(job, first) == std::vector<std::string>{"a"});
  CHECK(f.Schedule().empty());  // b waits for a
  f.Exit(first[0], 0);
  auto second = f.Schedule();
  CHECK(f.Ids(job, second) == std::vector<std::string>{"b"});
  f.Exit(second[0], 0);
  auto third = f.Schedule();
  CHECK(f.Ids(job, third) == std::vector<std::string>{"c"});
  CHECK_FALSE(f.Ended(job));
  f.Exit(third[0], 0);
  REQUIRE(f.Ended(job));
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
  CHECK(f.Ended(job)->counts[static_cast<int>(StepState::kSucceeded)] == 3);
}

TEST_CASE("a diamond's middle steps run at once on two different workers") {
  Fixture f;
  WorkerId w1 = f.AddWorker("w1", 2);
  WorkerId w2 = f.AddWorker("w2", 2);
  JobId job = f.Submit(GraphBuilder()
                           .Step("top")
                           .Step("left", {"top"})
                           .Step("right", {"top"})
                           .Step("bottom", {"left", "right"})
                           .Build());
  auto top = f.Schedule();
  REQUIRE(top.size() == 1);
  f.Exit(top[0], 0);
  auto middle = f.Schedule();
  REQUIRE(middle.size() == 2);
  CHECK(std::set<std::string>{f.IdOf(job, middle[0].key), f.IdOf(job, middle[1].key)} ==
        std::set<std::string>{"left", "right"});
  CHECK(std::set<WorkerId>{middle[0].worker, middle[1].worker} == std::set<WorkerId>{w1, w2});
  f.Exit(middle[0], 0);
  CHECK(f.Schedule().empty());  // bottom needs both
  f.Exit(middle[1], 0);
  CHECK(f.Ids(job, f.Schedule()) == std::vector<std::string>{"bottom"});
  f.out.dispatches.clear();
}

TEST_CASE("a failure skips what needs it, runs `always` and `failure` steps") {
  Fixture f;
  f.AddWorker("w1", 4);
  JobId job = f.Submit(GraphBuilder()
                           .Step("build")
                           .Step("test", {"build"})
                           .Step("deploy", {"test"})
                           .Step("cleanup", {"deploy"}, When::kAlways)
                           .Step("alert", {"test"}, When::kFailure)
                           .Build());
  f.Drain(job, {{"build", 2}});
  CHECK(f.StateOf(job, "build") == StepState::kFailed);
  CHECK(f.StateOf(job, "test") == StepState::kSkipped);
  CHECK(f.LastEnded(job, "test").reason == "needs \"build\", which failed");
  CHECK(f.StateOf(job, "deploy") == StepState::kSkipped);
  CHECK(f.LastEnded(job, "deploy").reason == "needs \"test\", which was skipped");
  CHECK(f.StateOf(job, "cleanup") == StepState::kSucceeded);
  CHECK(f.StateOf(job, "alert") == StepState::kSucceeded);  // a skip by failure counts as failure
  CHECK(f.LastEnded(job, "build").reason == "exited with code 2");
  REQUIRE(f.Ended(job));
  CHECK(f.Ended(job)->state == JobState::kFailed);
}

TEST_CASE(
    "a `failure` step whose condition never came is not needed, and neither is what follows it") {
  Fixture f;
  f.AddWorker("w1", 4);
  JobId job = f.Submit(GraphBuilder()
                           .Step("build")
                           .Step("on-fail", {"build"}, When::kFailure)
                           .Step("page", {"on-fail"})
                           .Step("report", {"page"}, When::kAlways)
                           .Build());
  f.Drain(job);
  CHECK(f.StateOf(job, "build") == StepState::kSucceeded);
  CHECK(f.StateOf(job, "on-fail") == StepState::kNotNeeded);
  CHECK(f.LastEnded(job, "on-fail").reason == "nothing it follows failed");
  CHECK(f.StateOf(job, "page") == StepState::kNotNeeded);
  CHECK(f.LastEnded(job, "page").reason == "needs \"on-fail\", which was not needed");
  CHECK(f.StateOf(job, "report") == StepState::kSucceeded);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("`always` waits for every after-step, whatever their outcome") {
  Fixture f;
  f.AddWorker("w1", 4);
  JobId job =
      f.Submit(GraphBuilder().Step("a").Step("b").Step("tidy", {"a", "b"}, When::kAlways).Build());
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 2);
  f.Exit(sent[0], 1);
  CHECK(f.Schedule().empty());
  f.Exit(sent[1], 0);
  CHECK(f.Ids(job, f.Schedule()) == std::vector<std::string>{"tidy"});
  f.out.dispatches.clear();
}

TEST_CASE("retries give new attempt numbers and results of old attempts are dropped") {
  Fixture f;
  f.AddWorker("w1", 1);
  GraphBuilder g;
  g.Step("flaky").last().retries = 2;
  g.Step("next", {"flaky"});
  JobId job = f.Submit(g.Build());
  auto a1 = f.Schedule();
  REQUIRE(a1.size() == 1);
  CHECK(a1[0].key.attempt == Attempt(1));
  f.Exit(a1[0], 1);
  CHECK(f.StateOf(job, "flaky") == StepState::kReady);
  CHECK(f.LastEnded(job, "flaky").reason == "exited with code 1; retrying (retry 1 of 2)");
  auto a2 = f.Schedule();
  REQUIRE(a2.size() == 1);
  CHECK(a2[0].key.attempt == Attempt(2));
  f.Exit(a1[0], 0);  // a late duplicate of attempt 1: ignored
  CHECK(f.StateOf(job, "flaky") == StepState::kRunning);
  f.Exit(a2[0], 1);
  auto a3 = f.Schedule();
  CHECK(a3[0].key.attempt == Attempt(3));
  f.Exit(a3[0], 0);
  CHECK(f.StateOf(job, "flaky") == StepState::kSucceeded);
  CHECK(f.Ids(job, f.Schedule()) == std::vector<std::string>{"next"});
  f.out.dispatches.clear();
}

TEST_CASE("a step that fails past its retries fails for good") {
  Fixture f;
  f.AddWorker("w1", 1);
  GraphBuilder g;
  g.Step("bad").last().retries = 1;
  JobId job = f.Submit(g.Build());
  f.Drain(job, {{"bad", 3}});
  CHECK(f.StateOf(job, "bad") == StepState::kFailed);
  CHECK(f.LastEnded(job, "bad").attempt == Attempt(2));
  CHECK(f.Ended(job)->state == JobState::kFailed);
}

TEST_CASE("steps go only to workers with enough free slots") {
  Fixture f;
  WorkerId small = f.AddWorker("small", 1);
  WorkerId big = f.AddWorker("big", 4);
  GraphBuilder g;
  g.Step("wide").last().slots = 3;
  g.Step("wide2").last().slots = 3;
  g.Step("narrow");
  JobId job = f.Submit(g.Build());
  auto sent = f.Schedule();
  // wide -> big (3 of 4 used); wide2 fits nowhere now; narrow -> the worker with most free.
  REQUIRE(sent.size() == 2);
  CHECK(f.IdOf(job, sent[0].key) == "wide");
  CHECK(sent[0].worker == big);
  CHECK(f.IdOf(job, sent[1].key) == "narrow");
  CHECK(sent[1].worker == small);
  f.Exit(sent[0], 0);
  auto later = f.Schedule();
  REQUIRE(later.size() == 1);
  CHECK(f.IdOf(job, later[0].key) == "wide2");
  CHECK(later[0].worker == big);
  f.Exit(later[0], 0);
  f.Exit(sent[1], 0);
}

TEST_CASE("`requires` routes steps to workers carrying every label") {
  Fixture f;
  WorkerId plain = f.AddWorker("plain", 4);
  WorkerId gpu = f.AddWorker("gpu", 1, {"gpu", "cuda12"});
  GraphBuilder g;
  g.Step("train").last().requires_labels = {"cuda12", "gpu"};
  g.Step("train2").last().requires_labels = {"gpu"};
  g.Step("tpu").last().requires_labels = {"tpu"};
  g.Step("prep");
  JobId job = f.Submit(g.Build());
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 2);
  CHECK(f.IdOf(job, sent[0].key) == "train");
  CHECK(sent[0].worker == gpu);
  CHECK(f.IdOf(job, sent[1].key) == "prep");
  CHECK(sent[1].worker == plain);
  f.Exit(sent[0], 0);
  auto next = f.Schedule();
  REQUIRE(next.size() == 1);
  CHECK(f.IdOf(job, next[0].key) == "train2");
  CHECK(next[0].worker == gpu);
  CHECK(f.StateOf(job, "tpu") == StepState::kReady);  // no worker has it: it waits
  f.Exit(next[0], 0);
  f.Exit(sent[1], 0);
}

TEST_CASE("ready steps go by priority, then in the order they became ready") {
  Fixture f;
  GraphBuilder g;
  g.Step("low1").last().priority = -1;
  g.Step("mid1");
  g.Step("high").last().priority = 10;
  g.Step("mid2");
  g.Step("low2").last().priority = -1;
  JobId job = f.Submit(g.Build());
  f.AddWorker("w1", 1);
  std::vector<std::string> order;
  for (int i = 0; i < 5; ++i) {
    auto sent = f.Schedule();
    REQUIRE(sent.size() == 1);
    order.push_back(f.IdOf(job, sent[0].key));
    f.Exit(sent[0], 0);
  }
  CHECK(order == std::vector<std::string>{"high", "mid1", "mid2", "low1", "low2"});
}

TEST_CASE("steps released together start in the order of the file") {
  Fixture f;
  GraphBuilder g;
  g.Step("prepare");
  for (const char* id : {"s1", "s2", "s3", "s4"}) g.Step(id, {"prepare"});
  JobId job = f.Submit(g.Build());
  f.AddWorker("w1", 1);
  auto first = f.Schedule();
  f.Exit(first[0], 0);
  std::vector<std::string> order;
  for (int i = 0; i < 4; ++i) {
    auto sent = f.Schedule();
    REQUIRE(sent.size() == 1);
    order.push_back(f.IdOf(job, sent[0].key));
    f.Exit(sent[0], 0);
  }
  CHECK(order == std::vector<std::string>{"s1", "s2", "s3", "s4"});
}

TEST_CASE("a small graph submitted behind a huge one is not starved") {
  Fixture f;
  f.AddWorker("w1", 2);
  GraphBuilder big;
  for (int i = 0; i < 1000; ++i) big.Step("big" + std::to_string(i));
  JobId a = f.Submit(big.Build());
  auto first = f.Schedule();
  CHECK(first.size() == 2);
  JobId b = f.Submit(GraphBuilder().Step("s1").Step("s2").Step("s3").Build());
  // As slots free up, the small graph (holding none) goes first, then the
  // two share: the small one is done long before the big one.
  std::deque<RecordingOutbox::Sent> running(first.begin(), first.end());
  int dispatched_after_b = 0;
  while (!f.Ended(b)) {
    REQUIRE(dispatched_after_b < 12);
    f.Exit(running.front(), 0);
    running.pop_front();
    for (const auto& d : f.Schedule()) {
      running.push_back(d);
      ++dispatched_after_b;
    }
  }
  CHECK(dispatched_after_b <= 7);
  CHECK_FALSE(f.Ended(a));
  for (auto& d : running) f.Exit(d, 0);
  f.sched.OnCancel(a, f.now);
  f.out.kills.clear();
}

TEST_CASE("max_parallel caps a graph's running steps") {
  Fixture f;
  f.AddWorker("w1", 8);
  JobId job = f.Submit(Independent(10).MaxParallel(3).Build());
  auto sent = f.Schedule();
  CHECK(sent.size() == 3);
  f.Exit(sent[0], 0);
  auto more = f.Schedule();
  CHECK(more.size() == 1);
  for (auto& d : sent) {
    if (d.key != sent[0].key) f.Exit(d, 0);
  }
  f.Exit(more[0], 0);
  f.Drain(job);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("a lost worker's steps run again elsewhere without using a retry") {
  Fixture f;
  WorkerId w1 = f.AddWorker("w1", 1);
  JobId job = f.Submit(GraphBuilder().Step("a").Build());
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].worker == w1);
  WorkerId w2 = f.AddWorker("w2", 1);
  f.sched.OnWorkerLost(w1, "said goodbye", f.now);
  f.sched.CheckInvariants();
  CHECK(f.StateOf(job, "a") == StepState::kReady);
  CHECK(f.LastEnded(job, "a").run->outcome == Outcome::kLost);
  auto again = f.Schedule();
  REQUIRE(again.size() == 1);
  CHECK(again[0].worker == w2);
  CHECK(again[0].key.attempt == Attempt(2));
  f.Exit(sent[0], 0);  // the lost attempt's late result counts for nothing
  CHECK(f.StateOf(job, "a") == StepState::kRunning);
  f.Exit(again[0], 0);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("a step that keeps losing its worker eventually fails with that reason") {
  Fixture f;
  JobId job = f.Submit(GraphBuilder().Step("crasher").Build());
  for (int i = 0; i < 4; ++i) {
    WorkerId w = f.AddWorker("w" + std::to_string(i), 1);
    auto sent = f.Schedule();
    REQUIRE(sent.size() == 1);
    f.sched.OnWorkerLost(w, "went silent", f.now);
    f.sched.CheckInvariants();
  }
  CHECK(f.StateOf(job, "crasher") == StepState::kFailed);
  CHECK(f.LastEnded(job, "crasher").reason.find("lost with its worker 4 times") == 0);
}

TEST_CASE("silent workers are declared lost on tick") {
  Fixture f;
  WorkerId w1 = f.AddWorker("w1", 1);
  WorkerId w2 = f.AddWorker("w2", 1);
  f.now += 4000;
  f.sched.OnWorkerHeard(w2, f.now);
  f.now += 2000;
  f.sched.OnTick(f.now);
  f.sched.CheckInvariants();
  CHECK(f.sched.FindWorker(w1) == nullptr);
  CHECK(f.sched.FindWorker(w2) != nullptr);
}

TEST_CASE("cancelling settles waiting steps at once and kills running ones") {
  Fixture f;
  f.AddWorker("w1", 1);
  JobId job = f.Submit(GraphBuilder().Step("a").Step("b").Step("c", {"a"}).Build());
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 1);
  CHECK(f.sched.OnCancel(job, f.now));
  f.sched.CheckInvariants();
  REQUIRE(f.out.kills.size() == 1);
  CHECK(f.out.kills.front().key == sent[0].key);
  f.out.kills.clear();
  CHECK(f.StateOf(job, "b") == StepState::kCancelled);
  CHECK(f.StateOf(job, "c") == StepState::kCancelled);
  CHECK_FALSE(f.Ended(job));  // a is still being killed
  RunResult killed;
  killed.outcome = Outcome::kKilled;
  killed.signal = 15;
  f.sched.OnStepExited(sent[0].worker, TaskResult{sent[0].key, killed}, f.now);
  f.sched.CheckInvariants();
  CHECK(f.StateOf(job, "a") == StepState::kCancelled);
  REQUIRE(f.Ended(job));
  CHECK(f.Ended(job)->state == JobState::kCancelled);
  CHECK(f.Schedule().empty());
  CHECK_FALSE(f.sched.OnCancel(job, f.now));  // already over
}

TEST_CASE("output is published only for the current attempt on its own worker") {
  Fixture f;
  WorkerId w1 = f.AddWorker("w1", 1);
  WorkerId w2 = f.AddWorker("w2", 1);
  JobId job = f.Submit(GraphBuilder().Step("a").Build());
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 1);
  const WorkerId other = sent[0].worker == w1 ? w2 : w1;
  size_t before = f.out.events.size();
  f.sched.OnStepOutput(other, TaskOutput{sent[0].key, Stream::kStdout, Blob{"spoofed"}});
  TaskKey old = sent[0].key;
  old.attempt = Attempt(0);
  f.sched.OnStepOutput(sent[0].worker, TaskOutput{old, Stream::kStdout, Blob{"stale"}});
  CHECK(f.out.events.size() == before);
  f.sched.OnStepOutput(sent[0].worker, TaskOutput{sent[0].key, Stream::kStderr, Blob{"hello\n"}});
  REQUIRE(f.out.events.size() == before + 1);
  const auto& out = std::get<StepOutput>(f.out.events.back().second);
  CHECK(out.stream == Stream::kStderr);
  CHECK(out.data.bytes == "hello\n");
  f.Exit(sent[0], 0);
  CHECK(f.Ended(job));
}

TEST_CASE("a failure at the head of a very long chain skips it all without recursion") {
  Fixture f;
  f.AddWorker("w1", 1);
  GraphBuilder g;
  g.Step("s0");
  for (int i = 1; i < 200000; ++i) g.Step("s" + std::to_string(i), {"s" + std::to_string(i - 1)});
  JobId job = f.Submit(g.Build());
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 1);
  f.Exit(sent[0], 1);
  REQUIRE(f.Ended(job));
  CHECK(f.Ended(job)->counts[static_cast<int>(StepState::kSkipped)] == 199999);
}

TEST_CASE("a failure step with nothing to follow is not needed (files with one are refused)") {
  Fixture f;
  JobId job = f.Submit(GraphBuilder().Step("only", {}, When::kFailure).Build());
  REQUIRE(f.Ended(job));
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

}  // namespace
}  // namespace drover::broker
