// What /metrics reads off the system at each scrape (metrics_text.h:
// ProcessFigures): the broker's RSS and open descriptors from /proc, and
// the spool's size from its directory. Any figure that cannot be read is 0.
#pragma once

#include <string>

#include "broker/http/metrics_text.h"

namespace drover::broker::http {

ProcessFigures ReadProcessFigures(const std::string& spool_dir);

}  // namespace drover::broker::http
