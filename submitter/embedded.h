// EmbeddedCluster: the broker and worker that `submit` starts for itself when
// no broker address is given, so a first run needs nothing else.
//
// Both are the real `broker` and `worker` programs (found next to `submit`,
// else on PATH), talking over an ipc:// socket in a private temporary
// directory (mode 0700, so no other user can reach them and no port is
// taken). They run in their own process group, so the terminal's Ctrl-C
// reaches only `submit`, which cancels the job and then stops them; they also
// stop by themselves if `submit` dies (--die-with-parent).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "shared/status.h"

namespace drover::submit {

// The embedded broker's --min-free-mb: room for the records of one job of
// thousands of steps, where the default (64) is kept for a broker's many.
inline constexpr int kEmbeddedMinFreeMb = 4;

class EmbeddedCluster {
 public:
  // `child_mask` is the signal mask the programs start with; `worker_args`
  // go to the worker (its --slots, --label and --resource, from submit's).
  static Result<std::unique_ptr<EmbeddedCluster>> Start(const sigset_t& child_mask,
                                                        const std::vector<std::string>& worker_args);
  // Stops both (SIGTERM, then SIGKILL after a few seconds) and removes the directory.
  ~EmbeddedCluster();

  const std::string& endpoint() const { return endpoint_; }
  // If either program has exited, a sentence saying so with the end of its
  // log; "" while both run.
  std::string CheckAlive();

 private:
  EmbeddedCluster() = default;
  void Stop(pid_t* pid);

  std::string dir_;
  std::string endpoint_;
  pid_t broker_ = -1;
  pid_t worker_ = -1;
};

}  // namespace drover::submit
