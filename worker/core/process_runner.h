// ProcessRunner: how the worker's core (local_scheduler.h) starts and stops
// the processes of its tasks. The one seam between the core and the OS: the
// real runner is the agent's (it vets the task against the worker's run
// policy, builds the child's environment and spawns through the ProcessSet,
// worker/subprocess.h); the tests' fake records what it is asked and lets
// the test say when each process exits.
//
// Exits come back the other way, as LocalScheduler::OnExit, never from
// inside Start() or Stop().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shared/protocol.h"
#include "shared/status.h"

namespace drover::worker {

// What a task holds while it runs besides slots: the ids of the devices it
// was given, by resource ("gpus" -> {"0", "3"}), for its environment.
struct Grant {
  std::vector<std::pair<std::string, std::vector<std::string>>> devices;
};

class ProcessRunner {
 public:
  using Id = uint64_t;
  virtual ~ProcessRunner() = default;
  // Starts `task`'s process with `grant`. May move the task's command, env,
  // cwd and stdin out. An error is the attempt's failure (kSpawnFailed, the
  // message as its reason); then nothing runs and no exit will come.
  virtual Result<Id> Start(Task& task, const Grant& grant, int64_t now) = 0;
  // Asks process `id` to stop: SIGTERM to its group now, SIGKILL `grace_ms`
  // later (negative: the runner's default). Its exit still comes, reporting
  // `why` unless it had ended by itself.
  virtual void Stop(Id id, Outcome why, int64_t now, int64_t grace_ms = -1) = 0;
};

}  // namespace drover::worker
