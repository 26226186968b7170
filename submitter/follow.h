// Following a job: `submit`'s loop from JobAccepted to JobEnded. It feeds
// each JobEvents run to the JobView and the renderer, acknowledges what it
// consumed (the broker sends no more than a window ahead), keeps the broker
// aware of it with heartbeats, and handles Ctrl-C.
//
// Ctrl-C (SIGINT or SIGTERM) depends on who is following. The submit that
// sent the job (a job file, or --resume) cancels it: the job was its doing.
// Its cleanup steps (`when: always`) still run, and it says so; a second
// Ctrl-C while one has not ended stops them too (CancelJob.now) and follows
// the job to its end; a Ctrl-C after that, or a second one with no cleanup
// step left, leaves at once. A watcher (--watch) only looks, so it leaves
// and the job goes on.
//
// Times shown (the progress line's, the summary's "after 2.0s") count from
// the job's start. The submit that sent the job takes that as the moment it
// was accepted. A watcher did not see that moment and JobAccepted does not
// carry it, so it counts from the earliest start of an attempt its events
// show (JobView::ElapsedFromEvents): no time until an attempt has ended,
// and the time the job queued before its first step is left out.
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

struct FollowOptions {
  // Whether this submit sent the job (a job file, or --resume); false for
  // --watch. Decides what Ctrl-C does and where times count from (above).
  bool submitted = true;
  // How long to keep trying to get back in touch with a broker that went
  // silent; 0: give up at once.
  int64_t reconnect_ms = 0;
  // Where in the job's event log the watch asked to start (WatchJob.offset).
  uint64_t offset = 0;
  // The watch was sent without `follow`: stop at the JobEvents that says
  // `last` (ExitCode::kOk), or at the job's end if that comes first.
  bool until_last = false;
  // If set: where in the event log it got to, when it returns.
  uint64_t* consumed = nullptr;
};

// Follows the job `accepted` names until it ends (or, until_last, until the
// broker says that was all), or until Ctrl-C makes a watcher leave
// (ExitCode::kInterrupted). `signals` reports SIGINT and
// SIGTERM; `cluster` is the embedded one, or nullptr.
ExitCode Follow(Session& session, const JobAccepted& accepted, Renderer& renderer,
                SignalFd& signals, EmbeddedCluster* cluster, FollowOptions options);

}  // namespace drover::submit
