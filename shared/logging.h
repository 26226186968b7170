// Log set-up for the three programs: spdlog to stderr, one line per event,
// stamped with the time and the program's name.
#pragma once

#include <string>

#include "shared/status.h"

namespace drover {

// `level` is one of trace, debug, info, warn, error, critical, off.
Status SetUpLogging(const std::string& program, const std::string& level);

}  // namespace drover
