// The worker's process layer: spawns steps as child processes, moves bytes
// through their pipes without ever blocking, reaps them, and kills them.
// It knows nothing of the broker; worker/agent.h drives it from the worker's
// single event loop. Modelled on ninja's SubprocessSet, but streaming: output
// leaves in chunks as it is read instead of being buffered whole.
//
// Not thread-safe: one ProcessSet belongs to one loop.
//
// REQUIRES (process-wide, before the ProcessSet is made):
//   - SIGCHLD is blocked in every thread and read through a signalfd by the
//     caller, who calls ReapExited() when it fires.
//   - SIGPIPE is ignored or blocked, so writing to a child that closed its
//     stdin gives EPIPE rather than killing the worker.
//
// Children:
//   - die with the worker: the kernel sends each one SIGKILL when the thread
//     that spawned it ends (PR_SET_PDEATHSIG), so a worker that crashes or is
//     SIGKILLed leaves no step running while the broker runs it elsewhere.
//     This reaches the child only, not what it started (which dies only if
//     it writes to its stdout or stderr, now without a reader), and a
//     set-user-ID program clears it.
//     So drive the set from a thread that lives as long as the worker;
//   - are started by a spawn of our own (worker/child_start.h), because
//     posix_spawn cannot set the parent-death signal; it works as glibc's
//     posix_spawn does (never fork: the worker has ZeroMQ threads);
//   - are each the leader of a new process group, with the signal mask the
//     worker started with (`child_sigmask`) and every signal at its default
//     disposition; stdin is a pipe (or /dev/null without stdin data),
//     stdout/stderr are pipes, no other fd is inherited;
//   - find a bare argv[0] (no '/') on the PATH of their own environment
//     (SpawnSpec::env), not the worker's;
//   - run in SpawnSpec::cwd, checked before spawning so a bad directory is
//     reported as such rather than as an exec failure.
//
// A process is finished when its leader has been reaped AND both output pipes
// reached EOF (or were abandoned, below). Then its OnExit fires, exactly once.
// The set keeps its own copies of the pipes' write ends until the leader is
// reaped, so that a child's exit makes nothing readable: the caller is woken
// once per exit, by SIGCHLD, rather than by each pipe's EOF as well.
// When the leader exits, whatever it left running in its process group is
// killed (SIGKILL) before the leader is reaped, so the pgid cannot be reused
// under us; descendants that left the group and keep a pipe open are waited
// for kPipeLingerMs, then their pipes are closed.
//
// Termination (timeout or Terminate()): SIGTERM to the whole group, then
// SIGKILL to the group kill_grace_ms later if the leader still runs.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "shared/protocol.h"
#include "shared/status.h"
#include "worker/child_start.h"

namespace drover::worker {

// Milliseconds on a monotonic clock; the caller passes `now` in.
using Time = int64_t;

struct SpawnSpec {
  std::vector<std::string> argv;  // non-empty
  std::vector<std::string> env;   // the child's complete environment, "NAME=value"
  std::string cwd;                // "" keeps the worker's directory
  std::string stdin_data;         // written to the child's stdin, which is then closed
  // Stdin comes later, in pieces (FeedStdin, then EndStdin), and stays open
  // until then; `stdin_data` must be empty.
  bool stdin_stream = false;
  uint32_t timeout_ms = 0;  // 0: none; else terminate (kTimedOut) after this long
  // The file to execute; "" finds it from argv[0] (FindProgram). A caller
  // that vetted a resolved path (worker/run_policy.h) passes it here, so
  // that what runs is what was vetted.
  std::string program;
};

// What a child would execute for argv[0] `name`: a name with a '/' as is
// (relative to `cwd`), a bare name from the PATH in `env` (the child's own
// environment, not the worker's), as execvp searches it. The error names the
// PATH searched.
Result<std::string> FindProgram(const std::string& name, const std::vector<std::string>& env,
                                const std::string& cwd);

// Receives what the children do. Called only from within ProcessSet methods.
class ProcessObserver {
 public:
  using Id = uint64_t;
  virtual ~ProcessObserver() = default;
  // A chunk of at most kOutputChunkBytes just read from a child's pipe.
  virtual void OnOutput(Id id, Stream stream, std::string_view data) = 0;
  // The process is finished (see above); `run` says how. The id is then gone.
  virtual void OnExit(Id id, const RunResult& run) = 0;
  // A streamed stdin (SpawnSpec::stdin_stream): `total` bytes of it have now
  // been written to the child, which makes room for more.
  virtual void OnStdinWritten(Id id, uint64_t total) {
    (void)id;
    (void)total;
  }
  // A streamed stdin closed before EndStdin asked: the child closed its end
  // (EPIPE) and wants no more. What was queued is dropped; not a failure
  // (`head` does it).
  virtual void OnStdinClosed(Id id) { (void)id; }
};

// A file descriptor the caller's poll should watch for this set.
struct PollFd {
  int fd;
  short events;  // POLLIN or POLLOUT
};

class ProcessSet {
 public:
  using Id = ProcessObserver::Id;
  static constexpr int64_t kPipeLingerMs = 2000;

  // `observer` must outlive the set. `child_sigmask` is the signal mask
  // children start with (normally the mask before the worker blocked signals).
  ProcessSet(ProcessObserver* observer, const sigset_t& child_sigmask, int64_t kill_grace_ms);
  // Kills every remaining process group (SIGKILL) and reaps what it can.
  ~ProcessSet();
  ProcessSet(const ProcessSet&) = delete;
  ProcessSet& operator=(const ProcessSet&) = delete;

  // Starts a child. On failure (no such program, permission denied, bad cwd,
  // out of processes) returns a Status whose message is the OS error in
  // words, e.g. "cannot run \"nosuch\": No such file or directory"; no process
  // is left behind and OnExit will not fire for it.
  Result<Id> Spawn(const SpawnSpec& spec, Time now);

  // Appends the fds to watch now. Output pipes are listed only when
  // `want_output` is true: the caller passes false to push back on children
  // (they block in write() once their pipe fills) while it cannot send.
  void CollectPollFds(bool want_output, std::vector<PollFd>* out) const;

  // Handles readiness `revents` (poll flags) reported for `fd`, which must be
  // one that CollectPollFds listed: reads at most one chunk (calling OnOutput)
  // or writes more stdin. Unknown fds are ignored.
  void HandleReady(int fd, short revents, Time now);

  // A streamed stdin: queues `data` for the child, written as its pipe
  // takes it (HandleReady). Calls no observer method. False, and the data dropped, when the id is
  // unknown or its stdin is closed (the child closed it, or EndStdin). The caller bounds what it
  // queues (the worker by its credit window).
  bool FeedStdin(Id id, std::string_view data);
  // A streamed stdin is complete: closed once what is queued is written.
  void EndStdin(Id id);

  // Stops reading the child's `stream`: its pipe loses its only reader, so
  // the child's next write to it gets SIGPIPE (or EPIPE), as a writer in a
  // shell pipeline whose reader has exited. Output not yet read is lost.
  // Unknown ids are ignored. Calls no observer method (a process it
  // finishes is reported at the next OnTick).
  void CloseOutput(Id id, Stream stream, Time now);

  // Reaps every exited child without blocking; call on SIGCHLD.
  void ReapExited(Time now);

  // Enforces timeouts, kill grace periods and pipe lingering.
  void OnTick(Time now);

  // The earliest time OnTick has something to do; -1 when nothing is pending.
  Time NextDeadline() const;

  // Asks the process to stop: SIGTERM to its group now, SIGKILL after the
  // grace period (`grace_ms`, or the set's kill grace when negative; a
  // shorter one brings a pending SIGKILL forward). Its OnExit reports `why`
  // (kKilled or kTimedOut) unless it had already exited by itself. Unknown
  // ids are ignored.
  void Terminate(Id id, Outcome why, Time now, int64_t grace_ms = -1);

  // Processes started and not yet finished.
  size_t size() const;

 private:
  // Invariants:
  //   1. Every open pipe fd of a process is in fd_owner_, and only those.
  //   2. A process is in pid_owner_ exactly until its leader is reaped; no
  //      signal goes to its group after that (the pgid may be reused).
  //   3. A process stays in processes_ until its OnExit, which comes once it
  //      is reaped and both output fds are closed.
  struct Process;
  Process* Find(Id id);
  // Ids of all processes: loops walk this copy, since callbacks may Spawn.
  std::vector<Id> Ids() const;
  void WriteStdin(Process* p);
  void ReadOutput(Process* p, Stream stream, Time now);
  void CloseFd(int* fd);
  // Reaps `p`'s leader if it has exited, killing what it left in its group.
  void TryReap(Process* p, Time now);
  // Reports `p` and forgets it if it is finished; then `p` is dangling.
  void MaybeFinish(Process* p, Time now);

  ProcessObserver* observer_;
  ChildStarter starter_;
  int64_t kill_grace_ms_;
  Id next_id_ = 1;
  std::unordered_map<Id, std::unique_ptr<Process>> processes_;
  std::unordered_map<int, Id> fd_owner_;  // pipe fd -> its process
  std::unordered_map<pid_t, Id> pid_owner_;
  std::vector<char> chunk_;  // one output chunk, reused by every read
};

}  // namespace drover::worker
