// Following a job: `submit`'s loop from JobAccepted to JobEnded. It feeds
// each JobEvents run to the JobView and the renderer, acknowledges what it
// consumed (the broker sends no more than a window ahead), keeps the broker
// aware of it with heartbeats, and turns Ctrl-C into a cancellation.
#pragma once

#include "shared/signal_fd.h"
#include "submitter/embedded.h"
#include "submitter/exit_codes.h"
#include "submitter/renderer.h"
#include "submitter/session.h"

namespace drover::submit {

// Follows the job `accepted` names until it ends. `signals` reports SIGINT
// and SIGTERM; `cluster` is the embedded one, or nullptr.
ExitCode Follow(Session& session, const JobAccepted& accepted, Renderer& renderer,
                SignalFd& signals, EmbeddedCluster* cluster);

}  // namespace drover::submit
