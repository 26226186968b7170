// /metrics: the broker's state and counters in Prometheus' text exposition
// format (version 0.0.4). Pure: the process figures that must be read
// from the system (ProcessFigures) come in. docs/dashboard.md lists every
// metric and what it means.
#pragma once

#include <cstdint>
#include <string>

#include "broker/http/snapshot.h"

namespace drover::broker::http {

// What /metrics reads off the system when it is asked (process_figures.h).
struct ProcessFigures {
  uint64_t rss_bytes = 0;
  uint64_t open_fds = 0;
  uint64_t spool_bytes = 0;  // the files in the spool directory
};

std::string MetricsText(const Snapshot& snapshot, const ProcessFigures& process);

}  // namespace drover::broker::http
