#include "shared/run_text.h"

#include <stdio.h>
#include <string.h>

namespace drover {

std::string SignalName(int signal) {
  if (const char* abbrev = sigabbrev_np(signal)) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(signal);
}

std::string DescribeRun(const RunResult& run, uint32_t timeout_ms) {
  switch (run.outcome) {
    case Outcome::kExited:
      return "exited with code " + std::to_string(run.exit_code);
    case Outcome::kSignaled:
      return "killed by " + SignalName(run.signal);
    case Outcome::kTimedOut: {
      std::string text = "timed out";
      if (timeout_ms > 0) {
        char after[32];
        snprintf(after, sizeof after, " after %gs", timeout_ms / 1000.0);
        text += after;
      }
      if (run.signal != 0) text += " (killed with " + SignalName(run.signal) + ")";
      return text;
    }
    case Outcome::kSpawnFailed:
      return "could not start: " + run.error;
    case Outcome::kKilled:
      return "killed on request";
    case Outcome::kLost:
      return "lost: " + run.error;
    case Outcome::kNotRun:
      return "not run: the step it followed did not succeed";
    case Outcome::kRetracted:
      return "given back before it started, to run on a worker with room";
  }
  return "ended";
}

}  // namespace drover
