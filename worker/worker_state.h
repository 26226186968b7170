// What a worker keeps on local disk between its runs (docs/reliability.md),
// in its state directory:
//   instance-<name>   the instance id of this host's worker of that name: a
//                     restarted worker tells the broker the previous one is
//                     gone, so its steps run again at once (no lease to wait).
//   spill-<instance>  output waiting to be sent while out of touch with the
//                     broker (output_queue.h); deleted when the worker stops.
//   lock-<name>       locked (flock) while a worker of that name runs, so a
//                     second one cannot take the first one for its past run
//                     and kill its steps.
#pragma once

#include <string>

#include "shared/status.h"

namespace drover::worker {

struct Run {
  std::string instance;           // made up now
  std::string previous_instance;  // "" the first time
  int lock_fd = -1;               // held for the life of the process
};

// Records a new run of the worker `name` in `dir` (created if missing).
// Fails if a worker of that name is running on that directory now.
Result<Run> StartRun(const std::string& dir, const std::string& name);

// Kills (SIGKILL) what a previous run left running: processes whose
// environment carries DROVER_WORKER_INSTANCE=<instance>, which every step
// and its children inherit. Step leaders already die with their worker (the
// parent-death signal); this catches what they started. Returns how many.
int KillLeftovers(const std::string& instance);

}  // namespace drover::worker
