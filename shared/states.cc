#include "shared/states.h"

namespace drover {

const char* StepStateName(StepState s) {
  switch (s) {
    case StepState::kWaiting: return "waiting";
    case StepState::kReady: return "queued";
    case StepState::kRunning: return "running";
    case StepState::kSucceeded: return "succeeded";
    case StepState::kFailed: return "failed";
    case StepState::kSkipped: return "skipped";
    case StepState::kNotNeeded: return "not-needed";
    case StepState::kCancelled: return "cancelled";
  }
  return "unknown";
}

const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kExited: return "exited";
    case Outcome::kSignaled: return "signaled";
    case Outcome::kTimedOut: return "timed-out";
    case Outcome::kSpawnFailed: return "spawn-failed";
    case Outcome::kKilled: return "killed";
    case Outcome::kLost: return "lost";
    case Outcome::kNotRun: return "not-run";
    case Outcome::kRetracted: return "retracted";
  }
  return "unknown";
}

const char* JobStateName(JobState s) {
  switch (s) {
    case JobState::kRunning: return "running";
    case JobState::kSucceeded: return "succeeded";
    case JobState::kFailed: return "failed";
    case JobState::kCancelled: return "cancelled";
  }
  return "unknown";
}

}  // namespace drover
