// The states a step, an attempt and a job can be in. These values cross the
// wire (protocol.h) and are what `submit` shows; docs/protocol.md draws the
// step state machine.
#pragma once

#include <cstdint>

namespace drover {

enum class StepState : uint8_t {
  kWaiting,    // some `after` step has not finished yet
  kReady,      // queued: waiting for a worker with room for it
  kRunning,    // dispatched to a worker as the current attempt
  kSucceeded,  // final: exited 0
  kFailed,     // final: failed on its last allowed attempt (exit, signal, timeout, ...)
  kSkipped,    // final: not run because a step it depends on failed or was skipped
  kNotNeeded,  // final: not run because its `when` condition never came
  kCancelled,  // final: the job was cancelled before the step could finish
};
inline constexpr StepState kStepStateMax = StepState::kCancelled;
inline constexpr int kStepStateCount = static_cast<int>(kStepStateMax) + 1;

inline bool IsFinal(StepState s) { return s >= StepState::kSucceeded; }
const char* StepStateName(StepState s);  // "succeeded", "not-needed", ...

// How one attempt of a step ended.
enum class Outcome : uint8_t {
  kExited,       // the process exited by itself; exit_code tells how
  kSignaled,     // a signal Drover did not send ended it
  kTimedOut,     // it outran its timeout; its process group was killed
  kSpawnFailed,  // it could not be started; the error text says why
  kKilled,       // killed on request (the job was cancelled)
  kLost,         // its worker vanished; the attempt's fate is unknown
  kNotRun,       // never started: the step it was sent to follow did not succeed
  kRetracted,    // never started: the broker took it back (Retract) to run elsewhere
};
inline constexpr Outcome kOutcomeMax = Outcome::kRetracted;
const char* OutcomeName(Outcome o);

enum class JobState : uint8_t {
  kRunning,    // some step is not final yet
  kSucceeded,  // every step succeeded or was not needed
  kFailed,     // some step failed, or was skipped because of a failure
  kCancelled,  // cancelled on request
};
inline constexpr JobState kJobStateMax = JobState::kCancelled;
const char* JobStateName(JobState s);

enum class Stream : uint8_t { kStdout, kStderr };
inline constexpr Stream kStreamMax = Stream::kStderr;

}  // namespace drover
