// How an attempt's RunResult reads to people: one place, so the broker's
// reasons, `submit`'s summary and the logs all say the same thing.
#pragma once

#include <string>

#include "shared/protocol.h"

namespace drover {

// "SIGKILL", or "signal 77" for numbers without a name.
std::string SignalName(int signal);

// "exited with code 2", "killed by SIGSEGV", "timed out after 30s",
// "could not start: cannot run \"x\": No such file or directory", ...
// `timeout_ms` is the step's timeout, named when the run timed out.
std::string DescribeRun(const RunResult& run, uint32_t timeout_ms = 0);

}  // namespace drover
