// The exit status of `submit`: what scripts can rely on (README.md).
#pragma once

namespace drover::submit {

enum class ExitCode : int {
  kOk = 0,                 // every step succeeded (or was not needed)
  kStepsFailed = 1,        // a step failed, or was skipped or cancelled because of it
  kUsage = 2,              // bad command line, unreadable or rejected job file
  kBrokerUnreachable = 3,  // no broker answered, or contact was lost
  kInterrupted = 130,      // Ctrl-C (128 + SIGINT): the job was cancelled, or
                           // --watch stopped watching and left it running
};

inline int ToInt(ExitCode code) { return static_cast<int>(code); }

}  // namespace drover::submit
