// JobHistory: every attempt of a job's steps, folded from the job's event
// log, for pictures of a run: the broker's dashboard (its timeline, step
// table and failed output) and `submit trace` (a Chrome trace). Plain data,
// no I/O: feed it the log's events in order.
//
// Times are Unix milliseconds. An attempt that ended has the worker's own
// times (RunResult::started_ms, ended_ms); one still running starts when
// the broker dispatched it (StepStarted::at_ms, the broker's clock), so a
// worker whose clock is off shows as such. A lost attempt (its worker went)
// runs from its dispatch to when the broker gave it up. One that never
// started (given back, not run as a follower, not spawned: a run without
// times) is an instant at its dispatch. A log from before at_ms was kept
// leaves a running or lost attempt's start 0: unknown.
//
// Output: the last kTailLines lines of each step's latest attempt are kept
// (stdout and stderr as they came, each line cut to kTailLineBytes), until
// the step succeeds; then they go. So memory follows the steps that
// failed or run, not what they printed.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "shared/protocol.h"

namespace drover {

struct AttemptRecord {
  StepIndex step;
  Attempt attempt;
  std::string worker;
  int64_t start_ms = 0;  // 0: not known (a log from before times were kept)
  int64_t end_ms = 0;    // 0 while it runs
  bool ended = false;
  std::optional<RunResult> run;  // once it ended; outcome kLost if its worker went
  // The step's state once this attempt ended: kReady if it is tried again.
  StepState state_after = StepState::kRunning;
  std::string reason;  // the StepEnded's
  uint32_t lane = 0;   // in its worker's lanes: AssignLanes
};

struct StepHistory {
  StepState state = StepState::kWaiting;
  uint32_t attempts = 0;  // attempts started
  std::string worker;     // of the latest attempt
  std::string reason;     // of the latest StepEnded
  std::optional<RunResult> run;  // the latest attempt's, once it ended
};

// A worker's lanes: how many of its attempts ever ran at one time.
struct WorkerLanes {
  std::string worker;
  uint32_t lanes = 0;
};

class JobHistory {
 public:
  static constexpr size_t kTailLines = 20;
  static constexpr size_t kTailLineBytes = 400;

  explicit JobHistory(size_t steps);

  // Applies one event of the log. False for one that names no step of the
  // job (a damaged log): it changes nothing.
  bool Apply(const Event& event);

  size_t size() const { return steps_.size(); }
  const StepHistory& step(StepIndex s) const { return steps_[s.value]; }
  // In the order they started (StepStarted), each step's in attempt order.
  const std::vector<AttemptRecord>& attempts() const { return attempts_; }
  const std::optional<JobEnded>& ended() const { return ended_; }
  // The last lines of step `s`'s latest attempt, oldest first, a last
  // unfinished line included; empty once it succeeded.
  std::vector<std::string> Tail(StepIndex s) const;

  // Gives each attempt a lane of its worker (AttemptRecord::lane): lanes
  // count from 0 per worker, and no two attempts in one lane overlap in
  // time, an attempt still running lasting until `now_ms`. Each attempt,
  // in start order, takes the lowest lane free at its start (one ending
  // when another starts leaves the lane free for it). Returns the workers
  // in the order of their first attempt, with their lane counts (at least
  // 1). An attempt whose start is not known (0) gets lane 0 and holds it
  // at no time: it cannot be drawn.
  std::vector<WorkerLanes> AssignLanes(int64_t now_ms);

 private:
  struct OutputTail {
    std::deque<std::string> lines;  // at most kTailLines
    // Per stream (stdout, stderr): after its last newline, at most
    // kTailLineBytes + 1 bytes (the one more says it is to be cut).
    std::string partial[2];
  };

  void OnStarted(StepHistory& step, const StepStarted& e);
  void OnOutput(const StepOutput& e);
  void OnEnded(StepHistory& step, const StepEnded& e);

  std::vector<StepHistory> steps_;
  std::vector<AttemptRecord> attempts_;
  // Index into attempts_ of each step's latest attempt; SIZE_MAX: none.
  std::vector<size_t> latest_;
  // By step index: the steps with output kept (running, or did not succeed).
  std::unordered_map<uint32_t, OutputTail> tails_;
  std::optional<JobEnded> ended_;
};

}  // namespace drover
