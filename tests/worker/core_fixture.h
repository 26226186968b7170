// The worker core's tests' bench: a fake ProcessRunner that records what it
// is asked and starts nothing, and a fixture that drives a LocalScheduler
// with plain calls and a clock of its own. Every result the core hands out
// goes through the real codec and back, and the core's invariants are
// checked after every event.
#pragma once

#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "shared/codec.h"
#include "worker/core/local_scheduler.h"

namespace drover::worker {

class FakeRunner : public ProcessRunner {
 public:
  struct Started {
    Id id;
    TaskKey key;
    Grant grant;
    std::vector<std::string> argv;
  };
  struct Stopped {
    Id id;
    Outcome why;
    int64_t grace_ms;
  };
  Result<Id> Start(Task& task, const Grant& grant, int64_t /*now*/) override {
    if (fail_next) {
      fail_next = false;
      return Status::Error("cannot run \"" + task.argv.at(0) + "\": No such file or directory");
    }
    const Id id = next_id++;
    started.push_back({id, task.key, grant, std::move(task.argv)});
    return id;
  }
  void Stop(Id id, Outcome why, int64_t /*now*/, int64_t grace_ms) override {
    stopped.push_back({id, why, grace_ms});
  }

  Id next_id = 1;
  bool fail_next = false;  // the next Start fails, as a missing program does
  std::vector<Started> started;
  std::vector<Stopped> stopped;
};

struct CoreFixture {
  FakeRunner runner;
  LocalScheduler core;
  Time now = 10'000;
  // Results sent so far, decoded from the bytes the broker would get; a
  // result sent again (after a reconnection) is listed once.
  std::vector<TaskResult> sent;
  // Distinct results (by sequence number) for each attempt: exactly one.
  std::map<TaskKey, int> result_count;
  std::map<uint64_t, TaskKey> seq_key;  // every sequence number seen

  explicit CoreFixture(uint32_t slots = 2, std::vector<WorkerResource> resources = {})
      : core(LocalSchedulerOptions{.slots = slots, .kill_grace_ms = 5000, .resources = resources},
             &runner) {
    Welcome();
  }

  void Check() { core.CheckInvariants(); }
  void Welcome() {
    core.OnWelcome(now, /*heartbeat_ms=*/1000);
    Check();
  }

  static Task MakeTask(uint32_t step, uint32_t slots = 1, std::optional<uint32_t> after = {},
                       uint32_t attempt = 1) {
    Task t;
    t.key = TaskKey{JobId(1), StepIndex(step), Attempt(attempt)};
    t.step_id = "s" + std::to_string(step);
    t.argv = {"run", t.step_id};
    t.slots = slots;
    t.lease_ms = 30'000;
    if (after) {
      t.after_step = StepIndex(*after);
      t.after_attempt = Attempt(1);
    }
    return t;
  }
  static TaskKey Key(uint32_t step, uint32_t attempt = 1) {
    return TaskKey{JobId(1), StepIndex(step), Attempt(attempt)};
  }

  // A dispatch of `tasks`, as the agent hands it over.
  void Dispatch(std::vector<Task> tasks) {
    for (Task& t : tasks) {
      core.Accept(std::move(t), now);
      Check();
    }
    core.StartQueued(now);
    Check();
  }
  // The steps started so far, in order.
  std::vector<uint32_t> StartedSteps() const {
    std::vector<uint32_t> steps;
    for (const auto& s : runner.started) steps.push_back(s.key.step.value);
    return steps;
  }
  ProcessRunner::Id ProcessOf(uint32_t step) const {
    for (const auto& s : runner.started) {
      if (s.key.step.value == step) return s.id;
    }
    FAIL("step " << step << " never started");
    return 0;
  }
  // Process of `step` exits with `code` after `ran_ms`; freed slots refill.
  void Exit(uint32_t step, int code = 0, int64_t ran_ms = 10) {
    RunResult run;
    run.exit_code = code;
    run.started_ms = 1'700'000'000'000;
    run.ended_ms = run.started_ms + ran_ms;
    core.OnExit(ProcessOf(step), run, now);
    Check();
    core.StartQueued(now);
    Check();
  }
  // Sends what the core hands out (everything unsent, with `force`).
  void Flush(bool force = true) {
    for (const TaskResults& batch : core.TakeResults(now, force)) {
      Result<Message> back = DecodeMessage(EncodeMessage(batch));
      REQUIRE(back.ok());
      const TaskResults& got = std::get<TaskResults>(back.value());
      for (size_t i = 0; i < got.results.size(); ++i) {
        const TaskResult& r = got.results[i];
        auto [it, fresh] = seq_key.emplace(got.first_seq + i, r.key);
        CHECK_MESSAGE(it->second == r.key, "result number " << got.first_seq + i << " changed");
        if (!fresh) continue;
        sent.push_back(r);
        ++result_count[r.key];
      }
    }
    Check();
  }
  // The outcome sent for `step`'s attempt, flushing first.
  std::optional<Outcome> OutcomeOf(uint32_t step, uint32_t attempt = 1) {
    Flush();
    for (auto it = sent.rbegin(); it != sent.rend(); ++it) {
      if (it->key == Key(step, attempt)) return it->run.outcome;
    }
    return std::nullopt;
  }
};

}  // namespace drover::worker
