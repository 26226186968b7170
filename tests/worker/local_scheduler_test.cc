// The worker's pure core (worker/core/local_scheduler.h) driven without
// processes or sockets (core_fixture.h): order of starts, followers, kills,
// leases while out of touch, and one result for every task.

#include <doctest/doctest.h>

#include <random>
#include <set>

#include "tests/worker/core_fixture.h"

namespace drover::worker {
namespace {

using V = std::vector<uint32_t>;

TEST_CASE("queued tasks start in order while their slots fit") {
  CoreFixture f(/*slots=*/2);
  std::vector<Task> tasks;
  for (uint32_t i = 0; i < 4; ++i) tasks.push_back(CoreFixture::MakeTask(i));
  f.Dispatch(std::move(tasks));
  CHECK(f.StartedSteps() == V{0, 1});
  CHECK(f.core.waiting() == 2);
  f.Exit(1);
  CHECK(f.StartedSteps() == V{0, 1, 2});
  f.Exit(0);
  f.Exit(2);
  f.Exit(3);
  CHECK(f.core.running() == 0);
  for (uint32_t i = 0; i < 4; ++i) CHECK(f.OutcomeOf(i) == Outcome::kExited);
}

TEST_CASE("a wide task at the head waits for its slots, one wider than the worker runs alone") {
  CoreFixture f(/*slots=*/2);
  f.Dispatch({CoreFixture::MakeTask(0), CoreFixture::MakeTask(1, /*slots=*/2),
              CoreFixture::MakeTask(2), CoreFixture::MakeTask(3, /*slots=*/5)});
  // Step 2 fits beside 0, but does not overtake the wide step 1.
  CHECK(f.StartedSteps() == V{0});
  f.Exit(0);
  CHECK(f.StartedSteps() == V{0, 1});
  f.Exit(1);
  CHECK(f.StartedSteps() == V{0, 1, 2});
  f.Exit(2);
  CHECK(f.StartedSteps() == V{0, 1, 2, 3});  // alone, on an idle worker
}

TEST_CASE("nothing starts out of touch, the queue resumes on the next welcome") {
  CoreFixture f(/*slots=*/1);
  f.Dispatch({CoreFixture::MakeTask(0), CoreFixture::MakeTask(1)});
  f.core.OnDisconnected();
  f.Exit(0);
  CHECK(f.StartedSteps() == V{0});
  f.now += 500;
  f.Welcome();
  f.core.StartQueued(f.now);
  CHECK(f.StartedSteps() == V{0, 1});
}

TEST_CASE("a task sent again while held is not run twice") {
  CoreFixture f(/*slots=*/1);
  f.Dispatch({CoreFixture::MakeTask(0), CoreFixture::MakeTask(1), CoreFixture::MakeTask(1)});
  f.Dispatch({CoreFixture::MakeTask(0)});
  f.Exit(0);
  f.Exit(1);
  CHECK(f.StartedSteps() == V{0, 1});
  f.Flush();
  CHECK(f.result_count[CoreFixture::Key(0)] == 1);
  CHECK(f.result_count[CoreFixture::Key(1)] == 1);
}

TEST_CASE("a follower starts in its predecessor's slot only if that one exits 0") {
  CoreFixture f(/*slots=*/1);
  // 0 runs; 1 follows 0; 2 follows 1 (a chain sent ahead); 3 is queued.
  f.Dispatch({CoreFixture::MakeTask(0), CoreFixture::MakeTask(1, 1, 0), CoreFixture::MakeTask(2, 1, 1),
              CoreFixture::MakeTask(3)});
  CHECK(f.StartedSteps() == V{0});
  f.Exit(0);
  CHECK(f.StartedSteps() == V{0, 1});  // ahead of the queued 3
  f.Exit(1, /*code=*/2);
  // 2 followed a failure: reported not run, never started; 3 gets the slot.
  CHECK(f.StartedSteps() == V{0, 1, 3});
  CHECK(f.OutcomeOf(2) == Outcome::kNotRun);
}

TEST_CASE("a follower that arrives after its predecessor ended goes by how it ended") {
  CoreFixture f(/*slots=*/1);
  f.Dispatch({CoreFixture::MakeTask(0), CoreFixture::MakeTask(1)});
  f.Exit(0, 0);
  f.Exit(1, 1);
  f.Dispatch({CoreFixture::MakeTask(2, 1, 0), CoreFixture::MakeTask(3, 1, 1),
              CoreFixture::MakeTask(4, 1, /*after=*/9)});
  CHECK(f.StartedSteps() == V{0, 1, 2});
  CHECK(f.OutcomeOf(3) == Outcome::kNotRun);  // its predecessor failed
  CHECK(f.OutcomeOf(4) == Outcome::kNotRun);  // never heard of its predecessor
}

TEST_CASE("a kill stops a running task and settles a waiting one at once, with its followers") {
  CoreFixture f(/*slots=*/1);
  f.Dispatch({CoreFixture::MakeTask(0), CoreFixture::MakeTask(1), CoreFixture::MakeTask(2, 1, 1)});
  CHECK(f.core.Kill(CoreFixture::Key(0), f.now));
  REQUIRE(f.runner.stopped.size() == 1);
  CHECK(f.runner.stopped[0].why == Outcome::kKilled);
  CHECK(f.core.Kill(CoreFixture::Key(1), f.now));
  f.Check();
  CHECK(f.OutcomeOf(1) == Outcome::kKilled);
  CHECK(f.OutcomeOf(2) == Outcome::kNotRun);
  CHECK_FALSE(f.core.Kill(CoreFixture::Key(7), f.now));
  CHECK(f.StartedSteps() == V{0});
}

TEST_CASE("a retraction gives back waiting tasks at once and declines running ones") {
  CoreFixture f(/*slots=*/1);
  // 0 runs; 1, 2 and 3 are queued (a deep queue: results would be held);
  // 4 follows 2.
  f.Dispatch({CoreFixture::MakeTask(0), CoreFixture::MakeTask(1), CoreFixture::MakeTask(2),
              CoreFixture::MakeTask(3), CoreFixture::MakeTask(4, 1, 2)});
  const auto declined = f.core.Retract(
      {CoreFixture::Key(0), CoreFixture::Key(2), CoreFixture::Key(9)}, f.now);
  f.Check();
  CHECK(declined == std::vector<TaskKey>{CoreFixture::Key(0), CoreFixture::Key(9)});
  // Sent without waiting for a batch: another worker waits to run it.
  f.Flush(/*force=*/false);
  REQUIRE(f.sent.size() == 2);
  CHECK(f.sent[0].key == CoreFixture::Key(2));
  CHECK(f.sent[0].run.outcome == Outcome::kRetracted);
  CHECK(f.sent[1].key == CoreFixture::Key(4));
  CHECK(f.sent[1].run.outcome == Outcome::kNotRun);
  CHECK(f.runner.stopped.empty());  // the running one runs on
  f.Exit(0);
  f.Exit(1);
  f.Exit(3);
  CHECK(f.StartedSteps() == V{0, 1, 3});
}

TEST_CASE("draining gives back what waits, lets what runs finish, and ends once all is acknowledged") {
  CoreFixture f(/*slots=*/1);
  // 0 runs; 1 is queued; 2 follows 0.
  f.Dispatch({CoreFixture::MakeTask(0), CoreFixture::MakeTask(1), CoreFixture::MakeTask(2, 1, 0)});
  f.core.Drain(f.now);
  f.Check();
  CHECK(f.core.draining());
  f.Flush(/*force=*/false);  // given back at once: other workers wait for them
  REQUIRE(f.sent.size() == 2);
  CHECK(f.OutcomeOf(1) == Outcome::kRetracted);
  CHECK(f.OutcomeOf(2) == Outcome::kRetracted);
  // One that crossed the worker's Draining on the way goes back too.
  f.Dispatch({CoreFixture::MakeTask(3)});
  CHECK(f.OutcomeOf(3) == Outcome::kRetracted);
  CHECK_FALSE(f.core.Drained());  // 0 runs on, to its end
  CHECK(f.runner.stopped.empty());
  f.Exit(0);
  CHECK(f.StartedSteps() == V{0});
  CHECK(f.OutcomeOf(0) == Outcome::kExited);
  CHECK_FALSE(f.core.Drained());  // until the broker has every result
  f.core.Acknowledged(f.seq_key.rbegin()->first);
  CHECK(f.core.Drained());
}

TEST_CASE("a task that cannot start fails at once, and what follows it does not run") {
  CoreFixture f(/*slots=*/1);
  f.runner.fail_next = true;
  f.Dispatch({CoreFixture::MakeTask(0), CoreFixture::MakeTask(1, 1, 0), CoreFixture::MakeTask(2)});
  CHECK(f.OutcomeOf(0) == Outcome::kSpawnFailed);
  CHECK(f.OutcomeOf(1) == Outcome::kNotRun);
  CHECK(f.StartedSteps() == V{2});
  REQUIRE(!f.sent.empty());
  CHECK(f.sent[0].run.error.find("No such file") != std::string::npos);
}

TEST_CASE("out of touch, tasks are stopped or given up before their lease could run out") {
  CoreFixture f(/*slots=*/1);
  f.Dispatch({CoreFixture::MakeTask(0), CoreFixture::MakeTask(1)});
  const Time heard = f.now;
  // In touch: nothing to do, whatever the time.
  CHECK(f.core.EnforceLeases(f.now) == -1);
  f.core.OnDisconnected();
  const Time stop_running = f.core.CutOff(30'000, heard, /*running=*/true);
  const Time give_up_waiting = f.core.CutOff(30'000, heard, /*running=*/false);
  // The running one stops a grace period earlier than the waiting one goes.
  CHECK(stop_running == heard + 30'000 - 5000 - 3000);
  CHECK(give_up_waiting == heard + 30'000 - 3000);
  CHECK(f.core.EnforceLeases(f.now) == stop_running);
  f.now = stop_running - 1;
  CHECK(f.core.EnforceLeases(f.now) == stop_running);
  CHECK(f.runner.stopped.empty());
  f.now = stop_running;
  CHECK(f.core.EnforceLeases(f.now) == give_up_waiting);
  f.Check();
  REQUIRE(f.runner.stopped.size() == 1);
  CHECK(f.runner.stopped[0].grace_ms == 5000);
  f.Exit(0, -1);  // killed by its SIGTERM: the result says lost
  f.now = give_up_waiting;
  f.core.EnforceLeases(f.now);
  f.Check();
  CHECK(f.OutcomeOf(0) == Outcome::kLost);
  CHECK(f.OutcomeOf(1) == Outcome::kLost);
  CHECK(f.StartedSteps() == V{0});
}

TEST_CASE("a short lease shortens the grace, heartbeats set the margin") {
  CoreFixture f(/*slots=*/1);
  // A tenth of a 4 s lease is less than two heartbeats (2 s); a quarter of
  // it (1 s) is less than the kill grace (5 s).
  CHECK(f.core.CutOff(4000, 0, /*running=*/true) == 4000 - 1000 - 2000);
  CHECK(f.core.CutOff(600'000, 0, /*running=*/true) == 600'000 - 5000 - 60'000);
}

TEST_CASE("after ShutDown nothing starts and exits give no results") {
  CoreFixture f(/*slots=*/1);
  f.Dispatch({CoreFixture::MakeTask(0), CoreFixture::MakeTask(1)});
  f.core.ShutDown(f.now);
  f.Check();
  CHECK(f.runner.stopped.size() == 1);
  f.Exit(0, -1);
  CHECK(f.StartedSteps() == V{0});
  f.Flush();
  CHECK(f.sent.empty());
  CHECK(f.core.Held().empty());
}

TEST_CASE("Held lists running, waiting and unacknowledged attempts") {
  CoreFixture f(/*slots=*/1);
  f.Dispatch({CoreFixture::MakeTask(0), CoreFixture::MakeTask(1), CoreFixture::MakeTask(2, 1, 1)});
  CHECK(f.core.Held() ==
        std::vector<TaskKey>{CoreFixture::Key(0), CoreFixture::Key(1), CoreFixture::Key(2)});
  f.Exit(0);
  f.Flush();
  CHECK(f.core.Held().size() == 3);  // 0's result is not acknowledged yet
  f.core.Acknowledged(1);
  CHECK(f.core.Held() == std::vector<TaskKey>{CoreFixture::Key(1), CoreFixture::Key(2)});
}

// Random events against the core: whatever happens, its invariants hold and
// every task it accepted gets exactly one result (none is lost, none doubled).
TEST_CASE("every accepted task gets exactly one result, whatever the events") {
  std::set<Outcome> outcomes;  // across the seeds: the events reached every path
  for (uint32_t seed = 1; seed <= 30; ++seed) {
    CAPTURE(seed);
    std::mt19937 rng(seed);
    auto pick = [&](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
    CoreFixture f(/*slots=*/1 + pick(3), {{"gpus", 2, {"0", "1"}}});
    uint32_t next_step = 0;
    std::vector<ProcessRunner::Id> live;  // started, not yet exited
    for (int event = 0; event < 400; ++event) {
      f.now += pick(50);
      switch (pick(9)) {
        case 0:
        case 1: {  // a dispatch, sometimes following an earlier step
          std::optional<uint32_t> after;
          if (next_step > 0 && pick(3) == 0) after = pick(next_step);
          Task task = CoreFixture::MakeTask(next_step++, 1 + pick(2), after);
          // Some ask for a gpu, a few for more than there are.
          if (const uint32_t gpus = pick(8) == 0 ? 3 : pick(2); gpus > 0) {
            task.resources = {{"gpus", gpus}};
          }
          f.Dispatch({std::move(task)});
          break;
        }
        case 2:
        case 3: {  // a process exits
          for (const auto& s : f.runner.started) {
            if (std::find(live.begin(), live.end(), s.id) == live.end() &&
                f.core.FindRunning(s.id) != nullptr) {
              live.push_back(s.id);
            }
          }
          if (live.empty()) break;
          const size_t i = pick(static_cast<uint32_t>(live.size()));
          RunResult run;
          run.exit_code = static_cast<int32_t>(pick(3) == 0);
          f.core.OnExit(live[i], run, f.now);
          live.erase(live.begin() + static_cast<ptrdiff_t>(i));
          f.Check();
          f.core.StartQueued(f.now);
          break;
        }
        case 4:  // a kill of any step, held or not
          if (next_step > 0) f.core.Kill(CoreFixture::Key(pick(next_step)), f.now);
          break;
        case 5:  // the link breaks, or comes back
          if (f.core.in_touch()) {
            f.core.OnDisconnected();
          } else {
            f.Welcome();
            f.core.StartQueued(f.now);
          }
          break;
        case 6:  // time passes, out of touch it may be past leases
          f.now += pick(40'000);
          f.core.EnforceLeases(f.now);
          break;
        case 7:
          if (f.core.in_touch()) f.Flush(pick(2) == 0);
          break;
        case 8:  // now and then the worker drains, late in the run
          if (event > 300 && pick(10) == 0) f.core.Drain(f.now);
          break;
      }
      f.Check();
    }
    // Drain: in touch, every process exits, until nothing is left.
    if (!f.core.in_touch()) f.Welcome();
    for (int guard = 0; guard < 1000 && f.core.running() + f.core.waiting() > 0; ++guard) {
      f.core.StartQueued(f.now);
      for (const auto& s : f.runner.started) {
        if (f.core.FindRunning(s.id) != nullptr) f.core.OnExit(s.id, RunResult{}, f.now);
      }
      f.Check();
      f.core.StartQueued(f.now);
    }
    f.Flush();
    for (uint32_t step = 0; step < next_step; ++step) {
      CHECK_MESSAGE(f.result_count[CoreFixture::Key(step)] == 1, "step " << step);
    }
    for (const TaskResult& r : f.sent) outcomes.insert(r.run.outcome);
  }
  CHECK(outcomes == std::set<Outcome>{Outcome::kExited, Outcome::kKilled, Outcome::kLost,
                                      Outcome::kNotRun, Outcome::kSpawnFailed,
                                      Outcome::kRetracted});
}

}  // namespace
}  // namespace drover::worker
