// Following a job: `submit`'s loop from JobAccepted to JobEnded. It feeds
// each JobEvents run to the JobView and the renderer, acknowledges what it
// consumed (the broker sends no more than a window ahead), keeps the broker
// aware of it with heartbeats, and turns Ctrl-C into a cancellation.
//
// When the broker goes silent (it restarted, or the link broke), it connects
// again and asks for the job's events from where it got to (WatchJob with
// the offset consumed), so nothing is shown twice or missed; it gives up
// after `reconnect_ms`.
#pragma once

#include <cstdint>

#include "shared/signal_fd.h"
#include "submitter/embedded.h"
#include "submitter/exit_codes.h"
#include "submitter/renderer.h"
#include "submitter/session.h"

namespace drover::submit {

// Follows the job `accepted` names until it ends. `signals` reports SIGINT
// and SIGTERM; `cluster` is the embedded one, or nullptr.
ExitCode Follow(Session& session, const JobAccepted& accepted, Renderer& renderer,
                SignalFd& signals, EmbeddedCluster* cluster, int64_t reconnect_ms);

}  // namespace drover::submit
