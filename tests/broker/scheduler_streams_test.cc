// The scheduler core (scheduler_fixture.h): streamed stdin_from, where a
// reader runs beside its producer (scheduler_streams.cc).

#include <doctest/doctest.h>

#include <csignal>

#include "tests/broker/scheduler_fixture.h"

namespace drover::broker {
namespace {

// p, and c reading p's stdout as a stream; `retries` for each.
JobSpec Pipe(uint32_t producer_retries = 0, uint32_t reader_retries = 0) {
  GraphBuilder g;
  g.Step("p");
  g.last().retries = producer_retries;
  g.Step("c", {"p"});
  g.last().stdin_from_count = 1;
  g.last().stdin_stream = true;
  g.last().retries = reader_retries;
  return g.Build();
}

RunResult Signaled(int signal) {
  RunResult run;
  run.outcome = Outcome::kSignaled;
  run.signal = signal;
  run.started_ms = 1'700'000'000'000;
  run.ended_ms = run.started_ms + 10;
  return run;
}

const RecordingOutbox::Sent& Only(const std::vector<RecordingOutbox::Sent>& sent, const Fixture& f,
                                  JobId job, const std::string& id) {
  for (const auto& d : sent) {
    if (f.IdOf(job, d.key) == id) return d;
  }
  FAIL("not dispatched: " << id);
  return sent.front();
}

TEST_CASE("a streamed reader starts once its producer has started, beside it") {
  Fixture f;
  f.AddWorker("w1", 1);
  f.AddWorker("w2", 1);
  const JobId job = f.Submit(Pipe());
  auto sent = f.Schedule();
  CHECK(f.Ids(job, sent) == std::vector<std::string>{"p", "c"});
  CHECK(sent[0].worker != sent[1].worker);
  // The producer ends first: the reader goes on reading to the end.
  f.Exit(sent[0], 0);
  CHECK(f.StateOf(job, "c") == StepState::kRunning);
  CHECK(f.out.closes.empty());
  f.Exit(sent[1], 0);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("a reader done first closes its producer's stdout, whose SIGPIPE is success") {
  Fixture f;
  f.AddWorker("w1", 2);
  const JobId job = f.Submit(Pipe());
  auto sent = f.Schedule();
  REQUIRE(sent.size() == 2);
  const auto& p = Only(sent, f, job, "p");
  f.Exit(Only(sent, f, job, "c"), 0);  // `head -1` has its line
  REQUIRE(f.out.closes.size() == 1);
  CHECK(f.out.closes[0].key == p.key);
  CHECK(f.out.closes[0].worker == p.worker);
  f.out.closes.clear();
  f.sched.OnStepExited(p.worker, TaskResult{p.key, Signaled(SIGPIPE)}, f.now);
  f.sched.CheckInvariants();
  CHECK(f.StateOf(job, "p") == StepState::kSucceeded);
  CHECK(f.LastEnded(job, "p").reason == "its readers closed the pipe");
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("a producer's SIGPIPE is a failure unless the broker closed its stdout") {
  Fixture f;
  f.AddWorker("w1", 2);
  const JobId job = f.Submit(Pipe());
  auto sent = f.Schedule();
  const auto& p = Only(sent, f, job, "p");
  f.sched.OnStepExited(p.worker, TaskResult{p.key, Signaled(SIGPIPE)}, f.now);
  f.sched.CheckInvariants();
  CHECK(f.StateOf(job, "p") == StepState::kFailed);
  // Its reader is stopped, and then skipped.
  REQUIRE(f.out.kills.size() == 1);
  const auto c = Only(sent, f, job, "c");
  CHECK(f.out.kills[0].key == c.key);
  f.out.kills.clear();
  f.sched.OnStepExited(c.worker, TaskResult{c.key, Signaled(SIGTERM)}, f.now);
  f.sched.CheckInvariants();
  CHECK(f.StateOf(job, "c") == StepState::kSkipped);
  CHECK(f.Ended(job)->state == JobState::kFailed);
}

TEST_CASE("both ends of a stream start only in idle slots, never queued on a worker") {
  Fixture f;
  f.WarmWorker("w1", 1, /*prefetch=*/4);  // its prefetch is open
  const JobId job = f.Submit(Pipe());
  auto sent = f.Schedule();
  REQUIRE(f.Ids(job, sent) == std::vector<std::string>{"p"});
  // The reader is ready, but the only slot is p's: it waits, unqueued.
  CHECK(f.StateOf(job, "c") == StepState::kReady);
  CHECK(f.Schedule().empty());
  f.Exit(sent[0], 0, /*ran_ms=*/5);
  // Then it reads what p left, whole, as a stored stdin_from would.
  auto next = f.Schedule();
  CHECK(f.Ids(job, next) == std::vector<std::string>{"c"});
  f.Exit(next[0], 0, 5);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("a producer's failed attempt withdraws its reader, and both run again") {
  Fixture f;
  f.AddWorker("w1", 1);
  f.AddWorker("w2", 1);
  const JobId job = f.Submit(Pipe(/*producer_retries=*/1));
  auto sent = f.Schedule();
  const auto p = Only(sent, f, job, "p");
  const auto c = Only(sent, f, job, "c");
  f.Exit(p, 1);
  REQUIRE(f.out.kills.size() == 1);
  CHECK(f.out.kills[0].key == c.key);
  f.out.kills.clear();
  // The retry starts on the free slot while the old reader still dies.
  auto again = f.Schedule();
  REQUIRE(f.Ids(job, again) == std::vector<std::string>{"p"});
  CHECK(again[0].key.attempt == Attempt(2));
  f.sched.OnStepExited(c.worker, TaskResult{c.key, Signaled(SIGTERM)}, f.now);
  f.sched.CheckInvariants();
  const StepEnded ended = f.LastEnded(job, "c");
  CHECK(ended.state == StepState::kWaiting);
  CHECK(ended.reason.find("went away") != std::string::npos);
  const StepRun& cr = f.sched.FindJob(job)->run(f.IndexOf(job, "c"));
  CHECK(cr.failures == 0);
  CHECK(cr.losses == 0);
  // It reads the new attempt from its start.
  auto reader = f.Schedule();
  REQUIRE(f.Ids(job, reader) == std::vector<std::string>{"c"});
  CHECK(reader[0].key.attempt == Attempt(2));
  f.Exit(again[0], 0);
  f.Exit(reader[0], 0);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("a ready reader goes back to waiting when its producer's attempt fails") {
  Fixture f;
  f.AddWorker("w1", 1);
  const JobId job = f.Submit(Pipe(/*producer_retries=*/1));
  auto sent = f.Schedule();
  REQUIRE(f.Ids(job, sent) == std::vector<std::string>{"p"});
  CHECK(f.StateOf(job, "c") == StepState::kReady);
  f.Exit(sent[0], 1);
  // Not the reader first: it would hold the slot its producer needs.
  CHECK(f.StateOf(job, "c") == StepState::kWaiting);
  auto again = f.Schedule();
  REQUIRE(f.Ids(job, again) == std::vector<std::string>{"p"});
  f.Exit(again[0], 0);
  auto reader = f.Schedule();
  REQUIRE(f.Ids(job, reader) == std::vector<std::string>{"c"});
  CHECK(reader[0].key.attempt == Attempt(1));
  f.Exit(reader[0], 0);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("a producer that fails for good skips its withdrawn reader") {
  Fixture f;
  f.AddWorker("w1", 2);
  const JobId job = f.Submit(Pipe());
  auto sent = f.Schedule();
  f.Exit(Only(sent, f, job, "p"), 3);
  REQUIRE(f.out.kills.size() == 1);
  f.out.kills.clear();
  CHECK(f.StateOf(job, "c") == StepState::kRunning);  // until its kill is through
  CHECK_FALSE(f.Ended(job));
  f.Exit(Only(sent, f, job, "c"), 0);  // whatever it says: its input was cut
  CHECK(f.StateOf(job, "c") == StepState::kSkipped);
  CHECK(f.LastEnded(job, "c").reason == "needs \"p\", which failed");
  CHECK(f.Ended(job)->state == JobState::kFailed);
}

TEST_CASE("a reader that fails is retried alone, and its producer runs on") {
  Fixture f;
  f.AddWorker("w1", 2);
  const JobId job = f.Submit(Pipe(0, /*reader_retries=*/1));
  auto sent = f.Schedule();
  const auto p = Only(sent, f, job, "p");
  f.Exit(Only(sent, f, job, "c"), 1);
  CHECK(f.out.kills.empty());
  CHECK(f.out.closes.empty());  // the retry reads it again
  auto reader = f.Schedule();
  REQUIRE(f.Ids(job, reader) == std::vector<std::string>{"c"});
  CHECK(reader[0].key.attempt == Attempt(2));
  f.Exit(reader[0], 1);  // for good now: nobody reads p any more
  REQUIRE(f.out.closes.size() == 1);
  CHECK(f.out.closes[0].key == p.key);
  f.out.closes.clear();
  f.sched.OnStepExited(p.worker, TaskResult{p.key, Signaled(SIGPIPE)}, f.now);
  CHECK(f.StateOf(job, "p") == StepState::kSucceeded);
  CHECK(f.Ended(job)->state == JobState::kFailed);
}

TEST_CASE("a producer's retry whose readers are all done has its stdout closed at once") {
  Fixture f;
  f.AddWorker("w1", 2);
  const JobId job = f.Submit(Pipe(/*producer_retries=*/1));
  auto sent = f.Schedule();
  const auto p = Only(sent, f, job, "p");
  f.Exit(Only(sent, f, job, "c"), 0);
  REQUIRE(f.out.closes.size() == 1);
  f.out.closes.clear();
  // It ignores SIGPIPE and exits 1 on EPIPE (as Python does): a failure.
  f.Exit(p, 1);
  auto again = f.Schedule();
  REQUIRE(f.Ids(job, again) == std::vector<std::string>{"p"});
  REQUIRE(f.out.closes.size() == 1);
  CHECK(f.out.closes[0].key == again[0].key);
  f.out.closes.clear();
  f.sched.OnStepExited(again[0].worker, TaskResult{again[0].key, Signaled(SIGPIPE)}, f.now);
  CHECK(f.StateOf(job, "p") == StepState::kSucceeded);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("a producer with another reader that waits for all of it keeps its stdout open") {
  Fixture f;
  f.AddWorker("w1", 3);
  GraphBuilder g;
  g.Step("p");
  g.Step("c", {"p"});
  g.last().stdin_from_count = 1;
  g.last().stdin_stream = true;
  g.Step("s", {"p"});
  g.last().stdin_from_count = 1;  // stored: after p has ended
  const JobId job = f.Submit(g.Build());
  auto sent = f.Schedule();
  REQUIRE(f.Ids(job, sent) == std::vector<std::string>{"p", "c"});
  f.Exit(sent[1], 0);
  CHECK(f.out.closes.empty());
  f.Exit(sent[0], 0);
  f.Drain(job);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("a lost producer withdraws its reader, and the two run again") {
  Fixture f;
  WorkerId w1 = f.AddWorker("w1", 1);
  f.AddWorker("w2", 1);
  f.AddWorker("w3", 1);
  const JobId job = f.Submit(Pipe());
  auto sent = f.Schedule();
  const auto p = Only(sent, f, job, "p");
  const auto c = Only(sent, f, job, "c");
  REQUIRE(p.worker == w1);
  f.sched.OnWorkerLost(w1, "left", f.now);
  f.sched.CheckInvariants();
  REQUIRE(f.out.kills.size() == 1);
  CHECK(f.out.kills[0].key == c.key);
  f.out.kills.clear();
  auto again = f.Schedule();
  REQUIRE(f.Ids(job, again) == std::vector<std::string>{"p"});
  f.sched.OnStepExited(c.worker, TaskResult{c.key, Signaled(SIGTERM)}, f.now);
  f.sched.CheckInvariants();
  auto reader = f.Schedule();
  REQUIRE(f.Ids(job, reader) == std::vector<std::string>{"c"});
  f.Exit(reader[0], 0);
  REQUIRE(f.out.closes.size() == 1);
  f.out.closes.clear();
  f.Exit(again[0], 0);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
  CHECK(f.sched.FindJob(job)->run(f.IndexOf(job, "p")).losses == 1);
}

TEST_CASE("a stream's producer is never sent along as a follower") {
  Fixture f;
  f.WarmWorker("w1", 2, /*prefetch=*/4);
  GraphBuilder g;
  g.Step("a");
  g.Step("p", {"a"});
  g.Step("c", {"p"});
  g.last().stdin_from_count = 1;
  g.last().stdin_stream = true;
  const JobId job = f.Submit(g.Build());
  auto sent = f.Schedule();
  REQUIRE(f.Ids(job, sent) == std::vector<std::string>{"a"});
  CHECK_FALSE(sent[0].after);
  f.Exit(sent[0], 0, 5);
  auto next = f.Schedule();
  CHECK(f.Ids(job, next) == std::vector<std::string>{"p", "c"});
  for (const auto& d : next) CHECK_FALSE(d.after);
  f.Exit(next[0], 0, 5);
  f.Exit(next[1], 0, 5);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("replayed dispatches and results give a stream the state they gave it live") {
  // Live: p starts, c starts beside it, p's first attempt fails (c is
  // withdrawn and dies), p runs again, c runs again and ends first.
  Fixture live;
  live.AddWorker("w1", 1);
  live.AddWorker("w2", 1);
  const JobId job = live.Submit(Pipe(/*producer_retries=*/1));
  struct Step {
    bool dispatch;
    TaskKey key;
    std::string instance;
    RunResult run;
  };
  std::vector<Step> journal;
  auto instance = [&](WorkerId w) { return live.sched.FindWorker(w)->info.instance; };
  auto dispatched = [&](const std::vector<RecordingOutbox::Sent>& sent) {
    for (const auto& d : sent) journal.push_back({true, d.key, instance(d.worker), {}});
  };
  auto result = [&](const RecordingOutbox::Sent& d, const RunResult& run) {
    journal.push_back({false, d.key, instance(d.worker), run});
    live.sched.OnStepExited(d.worker, TaskResult{d.key, run}, live.now);
    live.sched.CheckInvariants();
  };
  RunResult failed;
  failed.exit_code = 1;
  auto sent = live.Schedule();
  dispatched(sent);
  const auto p1 = Only(sent, live, job, "p");
  const auto c1 = Only(sent, live, job, "c");
  result(p1, failed);
  live.out.kills.clear();
  auto p2 = live.Schedule();
  dispatched(p2);
  result(c1, Signaled(SIGTERM));
  auto c2 = live.Schedule();
  dispatched(c2);
  result(c2[0], RunResult{});
  live.out.closes.clear();

  Fixture replayed;
  replayed.sched.SetReplaying(true);
  replayed.sched.OnSubmit(job, Pipe(1), replayed.now);
  for (const Step& s : journal) {
    if (s.dispatch) {
      replayed.sched.ReplayDispatch(s.key, s.instance, s.instance, std::nullopt, replayed.now);
    } else {
      replayed.sched.ReplayResult(s.instance, TaskResult{s.key, s.run}, replayed.now);
    }
  }
  replayed.sched.FinishReplay(replayed.now);
  replayed.sched.CheckInvariants();
  // (The shell sends nothing while it replays.)
  replayed.out.kills.clear();
  replayed.out.closes.clear();
  for (const char* id : {"p", "c"}) {
    const StepRun& a = live.sched.FindJob(job)->run(live.IndexOf(job, id));
    const StepRun& b = replayed.sched.FindJob(job)->run(replayed.IndexOf(job, id));
    INFO("step " << id);
    CHECK(a.state == b.state);
    CHECK(a.attempt == b.attempt);
    CHECK(a.live == b.live);
    CHECK(a.withdrawn == b.withdrawn);
    CHECK(a.output_closed == b.output_closed);
    CHECK(a.pending == b.pending);
  }
  CHECK(replayed.sched.FindJob(job)->run(replayed.IndexOf(job, "p")).output_closed);
  // The producer's worker, back, is told again to close its stdout.
  replayed.sched.OnWorkerHello(
      WorkerInfo{"w", "h", 1, {}, 0, p2[0].worker == WorkerId(1) ? "instance-w1" : "instance-w2"},
      {p2[0].key}, replayed.now);
  REQUIRE(replayed.out.closes.size() == 1);
  CHECK(replayed.out.closes[0].key == p2[0].key);
  replayed.out.closes.clear();
  live.Exit(p2[0], 0);
  CHECK(live.Ended(job)->state == JobState::kSucceeded);
}

TEST_CASE("a snapshot's states give a stream its flags back") {
  // A reader running beside its producer, and one waiting for another's.
  GraphBuilder g;
  g.Step("p");
  g.Step("c", {"p"});
  g.last().stdin_from_count = 1;
  g.last().stdin_stream = true;
  g.Step("q");
  g.Step("d", {"q"});
  g.last().stdin_from_count = 1;
  g.last().stdin_stream = true;
  Fixture f;
  f.sched.SetReplaying(true);
  using Snap = Scheduler::StepSnapshot;
  f.sched.RestoreJob(
      JobId(1), g.Build(),
      {Snap{StepState::kRunning, 1, 0, 0, 0, false}, Snap{StepState::kRunning, 1, 0, 0, 0, false},
       Snap{StepState::kReady, 1, 1, 0, 0, false}, Snap{}},
      {{"instance-w1", "w1"}}, nullptr, false, true, f.now);
  f.sched.FinishReplay(f.now);
  f.sched.CheckInvariants();
  const Job* job = f.sched.FindJob(JobId(1));
  CHECK(job->run(StepIndex(1)).live);
  CHECK_FALSE(job->run(StepIndex(1)).withdrawn);
  CHECK_FALSE(job->run(StepIndex(3)).live);
  CHECK(job->run(StepIndex(3)).pending == 1);
  // q runs again: d is released beside it.
  f.sched.OnWorkerHello(
      WorkerInfo{"w1", "h", 4, {}, 0, "instance-w1"},
      {TaskKey{JobId(1), StepIndex(0), Attempt(1)}, TaskKey{JobId(1), StepIndex(1), Attempt(1)}},
      f.now);
  auto sent = f.Schedule();
  CHECK(f.Ids(JobId(1), sent) == std::vector<std::string>{"q", "d"});
  for (const auto& d : sent) f.Exit(d, 0);
}

TEST_CASE("a stream restored from a snapshot is withdrawn and runs again as it would have live") {
  GraphBuilder g;
  g.Step("p");
  g.last().retries = 1;
  g.Step("c", {"p"});
  g.last().stdin_from_count = 1;
  g.last().stdin_stream = true;
  Fixture f;
  f.sched.SetReplaying(true);
  using Snap = Scheduler::StepSnapshot;
  const JobId job(1);
  f.sched.RestoreJob(
      job, g.Build(),
      {Snap{StepState::kRunning, 1, 0, 0, 0, false}, Snap{StepState::kRunning, 1, 0, 0, 0, false}},
      {{"instance-w1", "w1"}}, nullptr, false, true, f.now);
  f.sched.FinishReplay(f.now);
  f.sched.CheckInvariants();
  const TaskKey p1{job, StepIndex(0), Attempt(1)}, c1{job, StepIndex(1), Attempt(1)};
  const WorkerId w1 =
      f.sched.OnWorkerHello(WorkerInfo{"w1", "h", 2, {}, 0, "instance-w1"}, {p1, c1}, f.now);
  RunResult failed;
  failed.exit_code = 1;
  f.sched.OnStepExited(w1, TaskResult{p1, failed}, f.now);
  f.sched.CheckInvariants();
  REQUIRE(f.out.kills.size() == 1);
  CHECK(f.out.kills[0].key == c1);
  f.out.kills.clear();
  f.sched.OnStepExited(w1, TaskResult{c1, Signaled(SIGTERM)}, f.now);
  f.sched.CheckInvariants();
  auto sent = f.Schedule();
  REQUIRE(f.Ids(job, sent) == std::vector<std::string>{"p", "c"});
  CHECK(sent[1].key.attempt == Attempt(2));
  for (const auto& d : sent) f.Exit(d, 0);
  CHECK(f.Ended(job)->state == JobState::kSucceeded);
}

}  // namespace
}  // namespace drover::broker
