// What /metrics reads off the system (metrics_text.h: ProcessFigures): the
// broker's RSS and open descriptors from /proc at each scrape, and the
// spool's size from its directory (a walk of it: the server takes it less
// often). Any figure that cannot be read is 0.
#pragma once

#include <string>

#include "broker/http/metrics_text.h"

namespace drover::broker::http {

// The RSS and open descriptors; spool_bytes is left 0.
ProcessFigures ReadProcessFigures();
// The disk the regular files directly in `spool_dir` take.
uint64_t ReadSpoolBytes(const std::string& spool_dir);

}  // namespace drover::broker::http
