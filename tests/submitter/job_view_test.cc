// submitter/job_view.h: how long a job has gone on, judged from its events
// alone, as a watcher must (follow.h), and whether cleanup steps are left
// (what Ctrl-C says).

#include "submitter/job_view.h"

#include <doctest/doctest.h>

namespace drover::submit {
namespace {

JobView TwoSteps() {
  JobView view;
  view.Accept(JobAccepted{JobId(3), "pair", {"a", "b"}});
  return view;
}

StepEnded Ran(uint32_t step, int64_t started_ms, int64_t ended_ms) {
  RunResult run;
  run.started_ms = started_ms;
  run.ended_ms = ended_ms;
  return StepEnded{StepIndex(step), Attempt(1), StepState::kSucceeded, "", "w1", run};
}

TEST_CASE("before any attempt has ended the job's start is not known") {
  JobView view = TwoSteps();
  CHECK_FALSE(view.ElapsedFromEvents(50'000).has_value());
  view.Apply(StepStarted{StepIndex(0), Attempt(1), "w1"});  // carries no time
  CHECK_FALSE(view.ElapsedFromEvents(50'000).has_value());
}

TEST_CASE("a running job counts from its earliest start to now, not from when it was watched") {
  JobView view = TwoSteps();
  view.Apply(Ran(1, 12'000, 15'000));
  CHECK(view.ElapsedFromEvents(40'000) == 28'000);
  view.Apply(Ran(0, 10'000, 16'000));  // started earlier, ended later
  CHECK(view.first_start_ms() == 10'000);
  CHECK(view.ElapsedFromEvents(40'000) == 30'000);
  // A worker's clock ahead of this host's gives 0, not a negative time.
  CHECK(view.ElapsedFromEvents(9'000) == 0);
}

TEST_CASE("an ended job counts to its last end, however long after it is watched") {
  JobView view = TwoSteps();
  view.Apply(Ran(0, 10'000, 16'000));
  view.Apply(Ran(1, 16'000, 19'500));
  view.Apply(JobEnded{JobState::kSucceeded, {}});
  CHECK(view.ElapsedFromEvents(1'000'000) == 9'500);
}

TEST_CASE("cleanup steps are pending until the events say they ended") {
  JobAccepted accepted{JobId(3), "j", {"work", "clean"}};
  accepted.cleanup_steps = {1};
  JobView view;
  view.Accept(accepted);
  CHECK(view.IsCleanup(StepIndex(1)));
  CHECK_FALSE(view.IsCleanup(StepIndex(0)));
  CHECK(view.CleanupPending());
  view.Apply(StepStarted{StepIndex(1), Attempt(1), "w1"});
  CHECK(view.CleanupPending());
  view.Apply(StepEnded{StepIndex(1), Attempt(1), StepState::kSucceeded, "", "w1", std::nullopt});
  CHECK_FALSE(view.CleanupPending());
  JobView none;
  none.Accept(JobAccepted{JobId(4), "j", {"a"}});
  CHECK_FALSE(none.CleanupPending());
}

}  // namespace
}  // namespace drover::submit
