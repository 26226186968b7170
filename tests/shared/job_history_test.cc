#include "shared/job_history.h"

#include <doctest/doctest.h>

#include <string>

namespace drover {
namespace {

constexpr int64_t kT = 1'700'000'000'000;  // a Unix time in ms

RunResult Exited(int code, int64_t started, int64_t ended) {
  RunResult run;
  run.exit_code = code;
  run.started_ms = started;
  run.ended_ms = ended;
  run.user_cpu_us = 1500;
  run.max_rss_kb = 2048;
  return run;
}

StepOutput Out(uint32_t step, uint32_t attempt, std::string data,
               Stream stream = Stream::kStdout) {
  return StepOutput{StepIndex(step), Attempt(attempt), stream, Blob{std::move(data)}};
}

TEST_CASE("job history: attempts and retries, each with its worker's times") {
  JobHistory h(2);
  CHECK(h.size() == 2);
  CHECK(h.Apply(StepStarted{StepIndex(0), Attempt(1), "w1", kT}));
  CHECK(h.step(StepIndex(0)).state == StepState::kRunning);
  CHECK(h.step(StepIndex(0)).attempts == 1);
  CHECK(h.step(StepIndex(1)).state == StepState::kWaiting);
  REQUIRE(h.attempts().size() == 1);
  CHECK(h.attempts()[0].start_ms == kT);  // the broker's, while it runs
  CHECK_FALSE(h.attempts()[0].ended);

  CHECK(h.Apply(StepEnded{StepIndex(0), Attempt(1), StepState::kReady,
                          "exited with code 3; retrying (retry 1 of 1)", "w1",
                          Exited(3, kT + 10, kT + 500)}));
  CHECK(h.step(StepIndex(0)).state == StepState::kReady);
  CHECK(h.step(StepIndex(0)).run->exit_code == 3);
  CHECK(h.Apply(StepStarted{StepIndex(0), Attempt(2), "w2", kT + 600}));
  CHECK_FALSE(h.step(StepIndex(0)).run);  // the latest attempt's: not ended
  CHECK(h.step(StepIndex(0)).worker == "w2");
  CHECK(h.step(StepIndex(0)).reason == "exited with code 3; retrying (retry 1 of 1)");
  CHECK(h.Apply(StepEnded{StepIndex(0), Attempt(2), StepState::kSucceeded, "", "w2",
                          Exited(0, kT + 620, kT + 900)}));
  CHECK(h.Apply(StepEnded{StepIndex(1), Attempt(0), StepState::kNotNeeded, "not needed", "",
                          std::nullopt}));
  CHECK(h.Apply(JobEnded{JobState::kSucceeded, {0, 0, 0, 1, 0, 0, 1, 0}}));

  const StepHistory& step = h.step(StepIndex(0));
  CHECK(step.state == StepState::kSucceeded);
  CHECK(step.attempts == 2);
  CHECK(step.run->exit_code == 0);
  CHECK(step.reason.empty());
  CHECK(h.step(StepIndex(1)).state == StepState::kNotNeeded);
  CHECK(h.step(StepIndex(1)).attempts == 0);
  REQUIRE(h.attempts().size() == 2);
  const AttemptRecord& first = h.attempts()[0];
  CHECK(first.attempt == Attempt(1));
  CHECK(first.worker == "w1");
  CHECK(first.ended);
  CHECK(first.start_ms == kT + 10);  // the worker's, once it ended
  CHECK(first.end_ms == kT + 500);
  CHECK(first.state_after == StepState::kReady);
  CHECK(first.run->user_cpu_us == 1500);
  const AttemptRecord& second = h.attempts()[1];
  CHECK(second.attempt == Attempt(2));
  CHECK(second.worker == "w2");
  CHECK(second.state_after == StepState::kSucceeded);
  CHECK(second.end_ms == kT + 900);
  REQUIRE(h.ended());
  CHECK(h.ended()->state == JobState::kSucceeded);
}

TEST_CASE("job history: a lost attempt runs from its dispatch to when it was given up") {
  JobHistory h(1);
  h.Apply(StepStarted{StepIndex(0), Attempt(1), "w1", kT});
  RunResult lost;
  lost.outcome = Outcome::kLost;
  lost.error = "worker \"w1\" went silent";
  lost.ended_ms = kT + 7000;  // the broker's clock (Server::Publish)
  h.Apply(StepEnded{StepIndex(0), Attempt(1), StepState::kReady, "lost; it will run again", "w1",
                    lost});
  REQUIRE(h.attempts().size() == 1);
  const AttemptRecord& a = h.attempts()[0];
  CHECK(a.ended);
  CHECK(a.start_ms == kT);
  CHECK(a.end_ms == kT + 7000);
  CHECK(a.run->outcome == Outcome::kLost);
  CHECK(a.state_after == StepState::kReady);

  // One never started (given back before it began): an instant at dispatch.
  h.Apply(StepStarted{StepIndex(0), Attempt(2), "w2", kT + 8000});
  RunResult back;
  back.outcome = Outcome::kRetracted;
  h.Apply(StepEnded{StepIndex(0), Attempt(2), StepState::kReady, "gave it back", "w2", back});
  CHECK(h.attempts()[1].start_ms == kT + 8000);
  CHECK(h.attempts()[1].end_ms == kT + 8000);
}

TEST_CASE("job history: the tail of the latest attempt is kept until the step succeeds") {
  JobHistory h(2);
  h.Apply(StepStarted{StepIndex(0), Attempt(1), "w1", kT});
  CHECK(h.Tail(StepIndex(0)).empty());
  // Each stream's lines are whole, however the two interleave.
  h.Apply(Out(0, 1, "first\nsec"));
  h.Apply(Out(0, 1, "half", Stream::kStderr));
  h.Apply(Out(0, 1, "ond\n"));
  CHECK(h.Tail(StepIndex(0)) == std::vector<std::string>{"first", "second", "half"});
  h.Apply(Out(0, 1, " a line\n", Stream::kStderr));
  CHECK(h.Tail(StepIndex(0)) == std::vector<std::string>{"first", "second", "half a line"});
  for (int i = 0; i < 30; ++i) h.Apply(Out(0, 1, "line " + std::to_string(i) + "\n"));
  std::vector<std::string> tail = h.Tail(StepIndex(0));
  REQUIRE(tail.size() == JobHistory::kTailLines);
  CHECK(tail.front() == "line 10");
  CHECK(tail.back() == "line 29");

  // It failed: the lines stay. Another attempt's start forgets them.
  h.Apply(StepEnded{StepIndex(0), Attempt(1), StepState::kReady, "retrying", "w1",
                    Exited(1, kT, kT + 5)});
  CHECK(h.Tail(StepIndex(0)).size() == JobHistory::kTailLines);
  h.Apply(Out(0, 1, "late, of the old attempt\n"));
  CHECK(h.Tail(StepIndex(0)).back() == "line 29");
  h.Apply(StepStarted{StepIndex(0), Attempt(2), "w1", kT + 10});
  CHECK(h.Tail(StepIndex(0)).empty());
  h.Apply(Out(0, 2, "try two\n"));
  h.Apply(Out(0, 1, "stale\n"));
  CHECK(h.Tail(StepIndex(0)) == std::vector<std::string>{"try two"});
  h.Apply(StepEnded{StepIndex(0), Attempt(2), StepState::kSucceeded, "", "w1",
                    Exited(0, kT + 10, kT + 20)});
  CHECK(h.Tail(StepIndex(0)).empty());

  // A step that fails for good keeps its last lines.
  h.Apply(StepStarted{StepIndex(1), Attempt(1), "w1", kT + 30});
  h.Apply(Out(1, 1, "Traceback ...\nValueError: no\n", Stream::kStderr));
  h.Apply(StepEnded{StepIndex(1), Attempt(1), StepState::kFailed, "exited with code 1", "w1",
                    Exited(1, kT + 30, kT + 40)});
  CHECK(h.Tail(StepIndex(1)) == std::vector<std::string>{"Traceback ...", "ValueError: no"});
}

TEST_CASE("job history: long lines are cut, at a character's start") {
  JobHistory h(1);
  h.Apply(StepStarted{StepIndex(0), Attempt(1), "w1", kT});
  const std::string long_line(5000, 'x');
  // Sent in pieces, as a worker's chunks may split it.
  h.Apply(Out(0, 1, long_line.substr(0, 100)));
  h.Apply(Out(0, 1, long_line.substr(100) + "\nshort\n"));
  // Two-byte characters across the cut.
  std::string accents;
  for (int i = 0; i < 300; ++i) accents += "\xc3\xa9";
  h.Apply(Out(0, 1, accents));
  const std::vector<std::string> tail = h.Tail(StepIndex(0));
  REQUIRE(tail.size() == 3);
  CHECK(tail[0].size() <= JobHistory::kTailLineBytes);
  CHECK(tail[0].size() >= JobHistory::kTailLineBytes - 4);
  CHECK(tail[0].starts_with("xxxx"));
  CHECK(tail[0].ends_with("\u2026"));
  CHECK(tail[1] == "short");
  CHECK(tail[2].size() <= JobHistory::kTailLineBytes);
  CHECK(tail[2].ends_with("\xc3\xa9\u2026"));
}

TEST_CASE("job history: lanes keep a worker's overlapping attempts apart") {
  JobHistory h(5);
  // w1: a and b overlap; c starts after a ended; d runs still.
  h.Apply(StepStarted{StepIndex(0), Attempt(1), "w1", kT});
  h.Apply(StepStarted{StepIndex(1), Attempt(1), "w1", kT});
  h.Apply(StepStarted{StepIndex(4), Attempt(1), "w2", kT});
  h.Apply(StepEnded{StepIndex(0), Attempt(1), StepState::kSucceeded, "", "w1",
                    Exited(0, kT + 1, kT + 100)});
  h.Apply(StepEnded{StepIndex(1), Attempt(1), StepState::kSucceeded, "", "w1",
                    Exited(0, kT + 2, kT + 300)});
  h.Apply(StepStarted{StepIndex(2), Attempt(1), "w1", kT + 100});
  h.Apply(StepEnded{StepIndex(2), Attempt(1), StepState::kSucceeded, "", "w1",
                    Exited(0, kT + 100, kT + 200)});
  h.Apply(StepStarted{StepIndex(3), Attempt(1), "w1", kT + 250});
  h.Apply(StepEnded{StepIndex(4), Attempt(1), StepState::kSucceeded, "", "w2",
                    Exited(0, kT + 5, kT + 50)});

  // Step 3 starts (+250) while step 1 runs (to +300), but lane 0 is free
  // again: step 2 ended there at +200.
  std::vector<WorkerLanes> lanes = h.AssignLanes(kT + 1000);
  REQUIRE(lanes.size() == 2);
  CHECK(lanes[0].worker == "w1");
  CHECK(lanes[0].lanes == 2);
  CHECK(lanes[1].worker == "w2");
  CHECK(lanes[1].lanes == 1);
  const std::vector<AttemptRecord>& a = h.attempts();
  REQUIRE(a.size() == 5);
  CHECK(a[0].lane == 0);  // step 0
  CHECK(a[1].lane == 1);  // step 1, beside it
  CHECK(a[3].lane == 0);  // step 2, where step 0 was
  CHECK(a[4].lane == 0);  // step 3, running: lasts until now
  CHECK(a[2].lane == 0);  // w2's own lanes

  // If step 3 had started before step 2 ended, it would need a third lane.
  JobHistory busy(3);
  busy.Apply(StepStarted{StepIndex(0), Attempt(1), "w1", kT});
  busy.Apply(StepStarted{StepIndex(1), Attempt(1), "w1", kT + 10});
  busy.Apply(StepStarted{StepIndex(2), Attempt(1), "w1", kT + 20});
  busy.Apply(StepEnded{StepIndex(0), Attempt(1), StepState::kSucceeded, "", "w1",
                       Exited(0, kT, kT + 50)});
  lanes = busy.AssignLanes(kT + 30);  // the two still running, until now
  CHECK(lanes[0].lanes == 3);
  CHECK(busy.attempts()[2].lane == 2);
  lanes = busy.AssignLanes(kT + 30);  // again: the same
  CHECK(lanes[0].lanes == 3);
}

TEST_CASE("job history: sequential attempts share lane 0") {
  JobHistory h(3);
  for (uint32_t i = 0; i < 3; ++i) {
    const int64_t t = kT + 100 * i;
    h.Apply(StepStarted{StepIndex(i), Attempt(1), "w1", t});
    h.Apply(StepEnded{StepIndex(i), Attempt(1), StepState::kSucceeded, "", "w1",
                      Exited(0, t, t + 100)});
  }
  const std::vector<WorkerLanes> lanes = h.AssignLanes(kT + 10'000);
  REQUIRE(lanes.size() == 1);
  CHECK(lanes[0].lanes == 1);
  for (const AttemptRecord& a : h.attempts()) CHECK(a.lane == 0);
}

TEST_CASE("job history: an event naming no step of the job changes nothing") {
  JobHistory h(1);
  CHECK_FALSE(h.Apply(StepStarted{StepIndex(1), Attempt(1), "w1", kT}));
  CHECK_FALSE(h.Apply(Out(7, 1, "x\n")));
  CHECK_FALSE(h.Apply(StepEnded{StepIndex(2), Attempt(1), StepState::kFailed, "", "w1",
                                std::nullopt}));
  CHECK_FALSE(h.Apply(StepWaiting{StepIndex(3), 1, "no worker has gpus"}));
  CHECK(h.Apply(StepWaiting{StepIndex(0), 1, "no worker has gpus"}));
  CHECK(h.attempts().empty());
  CHECK(h.step(StepIndex(0)).state == StepState::kWaiting);
  // Output of an attempt that never started is not kept either.
  CHECK(h.Apply(Out(0, 1, "x\n")));
  CHECK(h.Tail(StepIndex(0)).empty());
}

TEST_CASE("job history: a start told twice is one attempt, one never started has no record") {
  JobHistory h(2);
  h.Apply(StepStarted{StepIndex(0), Attempt(1), "w1", kT});
  h.Apply(StepStarted{StepIndex(0), Attempt(1), "w1", kT});
  CHECK(h.attempts().size() == 1);
  CHECK(h.step(StepIndex(0)).attempts == 1);
  // A follower that was sent but never started: cancelled with an attempt.
  h.Apply(StepEnded{StepIndex(1), Attempt(1), StepState::kCancelled, "cancelled", "w1",
                    std::nullopt});
  CHECK(h.attempts().size() == 1);
  CHECK(h.step(StepIndex(1)).state == StepState::kCancelled);
  // A log from before at_ms: no start to place the attempt at.
  JobHistory old(1);
  old.Apply(StepStarted{StepIndex(0), Attempt(1), "w1"});
  CHECK(old.attempts()[0].start_ms == 0);
  CHECK(old.AssignLanes(kT)[0].lanes == 1);
}

}  // namespace
}  // namespace drover
