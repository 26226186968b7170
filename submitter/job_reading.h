// Reading one job's event log for the query commands (`info`, `logs`):
// WatchJob from an offset, its JobAccepted checked, then the events fed to
// a renderer by Follow() until the log's end as it stood (or, following,
// until the job's end). Ctrl-C leaves; the job is not touched.
#pragma once

#include <cstdint>
#include <optional>

#include "shared/signal_fd.h"
#include "submitter/query_commands.h"
#include "submitter/renderer.h"
#include "submitter/session.h"

namespace drover::submit {

// Asks for job `job`'s events from `offset`. The JobAccepted, or nullopt
// after saying why (`*code`: 2 no such job or not the user's, 3 no answer).
std::optional<JobAccepted> WatchForReading(Session& session, uint64_t job, uint64_t offset,
                                           bool follow, const QueryTiming& timing, int* code);

// Feeds `renderer` the events of the watch WatchForReading began. Returns
// where in the log it got to in `*consumed`, and the exit status: 0 when
// read (whatever the job's state), 3 or 130 as Follow's.
int ReadEvents(Session& session, SignalFd& signals, const JobAccepted& accepted,
               Renderer& renderer, uint64_t offset, bool follow, const QueryTiming& timing,
               uint64_t* consumed);

}  // namespace drover::submit
