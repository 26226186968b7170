// The scheduler core as plain objects: no sockets, no processes, no clock.
// Every event the core publishes goes through the real codec and back, and a
// test fails if it leaves a dispatch or a kill unexamined.

#include "broker/scheduler.h"

#include <doctest/doctest.h>

#include <deque>
#include <map>
#include <set>

#include "shared/codec.h"

namespace drover::broker {
namespace {

// Records effects. Dispatches and kills must all be taken by the test.
class RecordingOutbox : public Outbox {
 public:
  struct Sent {
    WorkerId worker;
    TaskKey key;
    std::optional<TaskKey> after;
  };
  void Dispatch(WorkerId worker, const TaskKey& key, std::optional<TaskKey> after) override {
    dispatches.push_back({worker, key, after});
  }
  void Kill(WorkerId worker, const TaskKey& key) override { kills.push_back({worker, key, {}}); }
  void AttemptLost(const TaskKey& key, const std::string& reason) override {
    lost.emplace_back(key, reason);
  }
  void Publish(JobId job, const Event& event) override {
    std::string record;
    AppendEventRecord(event, &record);
    Result<std::vector<Event>> back = DecodeEventRecords(record);
    REQUIRE(back.ok());
    REQUIRE(back->size() == 1);
    events.emplace_back(job, std::move(back->front()));
  }

  std::deque<Sent> dispatches;
  std::deque<Sent> kills;
  std::vector<std::pair<JobId, Event>> events;
  std::vector<std::pair<TaskKey, std::string>> lost;  // journaled decisions
};

// Builds a JobSpec by step ids, the way a validated job file would look.
class GraphBuilder {
 public:
  GraphBuilder& Step(const std::string& id, std::vector<std::string> after = {},
                     When when = When::kSuccess) {
    StepSpec s;
    s.id = id;
    s.argv = {"run " + id};
    s.shell = true;
    s.when = when;
    after_.push_back(std::move(after));
    spec_.steps.push_back(std::move(s));
    return *this;
  }
  StepSpec& last() { return spec_.steps.back(); }
  GraphBuilder& MaxParallel(uint32_t n) {
    spec_.max_parallel = n;
    return *this;
  }
  JobSpec Build() {
    std::map<std::string, uint32_t> index;
    for (uint32_t i = 0; i < spec_.steps.size(); ++i) index[spec_.steps[i].id] = i;
    for (size_t i = 0; i < spec_.steps.size(); ++i) {
      for (const std::string& a : after_[i]) spec_.steps[i].after.push_back(StepIndex(index.at(a)));
    }
    return spec_;
  }

 private:
  JobSpec spec_;
  std::vector<std::vector<std::string>> after_;
};

struct Fixture {
  RecordingOutbox out;
  Scheduler sched{&out};
  Time now = 1000;
  uint64_t next_job = 1;

  ~Fixture() {
    CHECK_MESSAGE(out.dispatches.empty(), "test left dispatches unexamined");
    CHECK_MESSAGE(out.kills.empty(), "test left kills unexamined");
  }

  JobId Submit(JobSpec spec) {
    const JobId id(next_job++);
    sched.OnSubmit(id, std::move(spec), now);
    sched.CheckInvariants();
    return id;
  }
  WorkerId AddWorker(const std::string& name, uint32_t slots,
                     std::vector<std::string> labels = {}, uint32_t prefetch = 0) {
    WorkerId id = sched.OnWorkerJoined(
        WorkerInfo{name, "host-" + name, slots, labels, prefetch, "instance-" + name}, now);
    sched.CheckInvariants();
    return id;
  }
  // One placement pass; returns what it dispatched, in order.
  std::vector<RecordingOutbox::Sent> Schedule() {
    sched.Schedule(now);
    sched.CheckInvariants();
    std::vector<RecordingOutbox::Sent> sent(out.dispatches.begin(), out.dispatches.end());
    out.dispatches.clear();
    return sent;
  }
  void Exit(const RecordingOutbox::Sent& d, int code, int64_t ran_ms = 10) {
    RunResult run;
    run.exit_code = code;
    run.started_ms = 1'700'000'000'000;
    run.ended_ms = run.started_ms + ran_ms;
    sched.OnStepExited(d.worker, TaskResult{d.key, run}, now);
    sched.CheckInvariants();
  }
  std::string IdOf(JobId job, const TaskKey& key) const {
    return sched.FindJob(job)->step(key.step).id;
  }
  std::vector<std::string> Ids(JobId job, const std::vector<RecordingOutbox::Sent>& sent) const {
    std::vector<std::string> ids;
    for (const auto& d : sent) ids.push_back(IdOf(job, d.key));
    return ids;
  }
  // A worker whose steps have proved short, so its prefetch (and following) is open.
  WorkerId WarmWorker(const std::string& name, uint32_t slots, uint32_t prefetch = 2) {
    WorkerId w = AddWorker(name, slots, {}, prefetch);
    JobId warm = Submit(GraphBuilder().Step("warm-up").Build());
    auto sent = Schedule();
    REQUIRE(sent.size() == 1);
    Exit(sent[0], 0, /*ran_ms=*/5);
    REQUIRE(Ended(warm));
    return w;
  }
  StepIndex IndexOf(JobId job, const std::string& id) const {
    const Job* j = sched.FindJob(job);
    for (uint32_t i = 0; i < j->size(); ++i) {
      if (j->step(StepIndex(i)).id == id) return StepIndex(i);
    }
    FAIL("no step " << id);
    return StepIndex();
  }
  StepState StateOf(JobId job, const std::string& id) const {
    const Job* j = sched.FindJob(job);
    for (uint32_t i = 0; i < j->size(); ++i) {
      if (j->step(StepIndex(i)).id == id) return j->run(StepIndex(i)).state;
    }
    FAIL("no step " << id);
    return StepState::kWaiting;
  }
  // The last StepEnded published for step `id`.
  StepEnded LastEnded(JobId job, const std::string& id) const {
    const Job* j = sched.FindJob(job);
    for (auto it = out.events.rbegin(); it != out.events.rend(); ++it) {
      if (it->first != job) continue;
      if (auto* e = std::get_if<StepEnded>(&it->second); e && j->step(e->step).id == id) return *e;
    }
    FAIL("no StepEnded for " << id);
    return {};
  }
  std::optional<JobEnded> Ended(JobId job) const {
    for (const auto& [j, e] : out.events) {
      if (j == job && std::holds_alternative<JobEnded>(e)) return std::get<JobEnded>(e);
    }
    return std::nullopt;
  }
  // Runs every dispatched step to `code` (0 unless listed) until nothing is left.
  void Drain(JobId job, const std::map<std::string, int>& codes = {}) {
    for (int guard = 0; guard < 100000; ++guard) {
      auto sent = Schedule();
      if (sent.empty()) return;
      for (const auto& d : sent) {
        auto it = codes.find(IdOf(job, d.key));
        Exit(d, it == codes.end() ? 0 : it->second);
      }
    }
    FAIL("Drain did not finish");
  }
};

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
  JobId job = f.Submit(
      GraphBuilder().Step("top").Step("left", {"top"}).Step("right", {"top"}).Step("bottom", {"left", "right"}).Build());
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

TEST_CASE("a `failure` step whose condition never came is not needed, and neither is what follows it") {
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
  JobId job = f.Submit(
      GraphBuilder().Step("a").Step("b").Step("tidy", {"a", "b"}, When::kAlways).Build());
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

// n steps s0..s(n-1), none after another.
GraphBuilder Independent(int n) {
  GraphBuilder g;
  for (int i = 0; i < n; ++i) g.Step("s" + std::to_string(i));
  return g;
}

// n steps s0..s(n-1), each after the one before.
GraphBuilder Chain(int n) {
  GraphBuilder g;
  g.Step("s0");
  for (int i = 1; i < n; ++i) g.Step("s" + std::to_string(i), {"s" + std::to_string(i - 1)});
  return g;
}

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
  JobId job = f.Submit(GraphBuilder().Step("top").Step("left", {"top"}).Step("right", {"top"}).Build());
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
    if (auto* st = std::get_if<StepStarted>(&e); st && st->step == first[1].key.step) s1_started = true;
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

// ---- Leases, reconnection, retry policies, resume, replay ----

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

TEST_CASE("a worker shut out (its key removed) gets no new work; its attempts wait out the lease") {
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
  WorkerId back = f.sched.OnWorkerHello(
      WorkerInfo{"w1", "host-w1", 3, {}, 0, "instance-w1"}, {sent[0].key, sent[2].key, stranger},
      f.now);
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
  WorkerId w1 = f.sched.OnWorkerHello(WorkerInfo{"w1", "h", 3, {}, 0, "instance-w1"}, {s1, s2},
                                       f.now);
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
