// CommandRunner: short commands (sbatch, squeue, scancel) run on a thread of
// its own, one at a time and in order, so that the broker's loop never waits
// for a batch system's controller. Results wait until Take(); fd() becomes
// readable while they do, for the loop's poll (as background_sync.h's
// done_fd()). No ZeroMQ here.
//
// Thread-safe: Run, fd, Take and pending may be called from any thread; the
// broker calls them from its loop.
//
// REQUIRES (process-wide): nothing else reaps this runner's children: no
// waitpid(-1) or wait() elsewhere, and SIGCHLD not ignored (SIG_IGN reaps
// them in the kernel). The runner finds exits by polling waitid on its own
// child, so it needs no signal.
//
// Each command:
//   - is spawned with posix_spawnp (argv[0] looked up in the broker's PATH),
//     with the broker's environment, stdin /dev/null, stdout and stderr
//     pipes and no other fd (every fd this class opens is close-on-exec,
//     and with glibc 2.34 or later the rest are closed in the child);
//   - leads a process group of its own, with an empty signal mask and every
//     signal at its default disposition: the broker blocks some for its
//     signalfd and ignores SIGPIPE, and a child must not inherit either;
//   - is finished once it has been reaped and both pipes are at EOF. When it
//     exits, what it left running in its group is killed (SIGKILL) before it
//     is reaped, so the group's id is never that of another process; a
//     descendant that left the group and still holds a pipe open is waited
//     for kPipeLingerMs, then its pipes are closed;
//   - is killed (SIGKILL to its group) timeout_ms after it started;
//   - keeps at most kMaxOut bytes of stdout and kMaxErr of stderr; the rest
//     is read and dropped, so the command never blocks on a full pipe.
//
// Invariants:
//   1. Every Run() yields exactly one CommandResult, in the order of the
//      Run() calls, unless the runner is destroyed first.
//   2. fd() is readable exactly while Take() would return results.
//   3. pending() counts what was queued and has no result yet.
//   4. No process of ours outlives the destructor, except descendants that
//      left the command's process group.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace drover::broker {

// What is kept of a command's output: Slurm's answers are a line or a
// table of the jobs asked about, far below these; a runaway command (a
// debugging wrapper, a misconfigured plugin) must not grow the broker.
inline constexpr size_t kMaxOut = 1 << 20;
inline constexpr size_t kMaxErr = 64 << 10;
// How long a command's pipes may stay open after it exited and its group
// was killed: only a descendant that left the group can hold them, and
// what it prints that late is not the command's answer.
inline constexpr int64_t kPipeLingerMs = 500;

struct CommandResult {
  uint64_t tag = 0;
  int exit_code = -1;    // its exit status; -1 if it could not start, was killed or timed out
  std::string out = {};  // stdout, at most kMaxOut bytes
  std::string err = {};  // stderr, at most kMaxErr bytes
  // Why it did not exit by itself: "cannot run sbatch: No such file or
  // directory", "timed out after 30s", "killed by SIGKILL"; "" when it
  // exited, whatever its status.
  std::string failure = {};
  // Output past kMaxOut or kMaxErr was dropped: `out` may end in the middle
  // of a line, and lacks what followed.
  bool truncated = false;
};

class CommandRunner {
 public:
  CommandRunner();  // starts its thread
  // Kills the command that runs (its process group, SIGKILL) and reaps it,
  // drops those that wait, and joins the thread.
  ~CommandRunner();
  CommandRunner(const CommandRunner&) = delete;
  CommandRunner& operator=(const CommandRunner&) = delete;

  // Queues `argv` to run after those queued before; killed after
  // `timeout_ms` (> 0). Its result carries `tag`.
  // An empty argv yields a result with a failure, as a missing program does.
  void Run(uint64_t tag, std::vector<std::string> argv, int64_t timeout_ms);

  // An eventfd, readable while results wait; for poll(2).
  int fd() const { return results_fd_; }
  // The results so far, in order; afterwards fd() is not readable until the
  // next one.
  std::vector<CommandResult> Take();
  // Commands queued or running.
  size_t pending() const;

 private:
  struct Command {
    uint64_t tag = 0;
    std::vector<std::string> argv;
    int64_t timeout_ms = 0;
  };
  void Loop();
  // Runs one command to its end, or until the runner stops.
  CommandResult Execute(const Command& command);

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Command> queue_;  // waiting; the running one is not here
  bool running_ = false;       // a command has been taken and has no result yet
  bool stop_ = false;
  std::vector<CommandResult> results_;
  int results_fd_ = -1;  // eventfd: results_ is not empty
  int stop_fd_ = -1;     // eventfd: stop_, for the thread's poll
  std::thread thread_;   // last: starts once the rest is set up
};

}  // namespace drover::broker
