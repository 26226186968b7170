// ChildStarter: the worker's own spawn. Starts a program as the leader of a
// new process group that dies with the worker, with given fds as its stdin,
// stdout and stderr and nothing else open.
//
// posix_spawn cannot ask for a parent-death signal, so this is built as
// glibc's Linux posix_spawn is: clone(CLONE_VM | CLONE_VFORK) runs the child
// on a stack of ours, in our memory, while the calling thread sleeps until
// the child has exec'd or exited; never fork, since the worker has ZeroMQ
// threads. The child then has:
//   - PR_SET_PDEATHSIG SIGKILL, bound to the calling thread: call Start from
//     a thread that lives as long as the worker;
//   - a process group of its own, of which it is the leader;
//   - every signal at its default disposition, and `child_sigmask` (with
//     glibc's internal signals unblocked, as posix_spawn gives them);
//   - fds 0, 1, 2 from `stdio` (stdio[0] -1: /dev/null), no other fd;
//   - `cwd` as its directory, if not empty.
//
// Not thread-safe: the stack is reused by every Start, which returns only
// once the child no longer needs it.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstddef>
#include <string>
#include <vector>

namespace drover::worker {

class ChildStarter {
 public:
  explicit ChildStarter(const sigset_t& child_sigmask);
  ~ChildStarter();
  ChildStarter(const ChildStarter&) = delete;
  ChildStarter& operator=(const ChildStarter&) = delete;

  // Starts `program` (a path: no PATH search here) with `argv` and `env`;
  // 0 and the child's pid in *pid, or the errno that stopped it (exec's
  // own included), with nothing left behind.
  int Start(const std::string& program, const std::vector<std::string>& argv,
            const std::vector<std::string>& env, const std::string& cwd, const int (&stdio)[3],
            pid_t* pid);

 private:
  sigset_t child_sigmask_;  // with glibc's internal signals unblocked
  // The stack children run on from clone to exec, below it a guard page;
  // mapped at the first Start and reused.
  void* stack_ = nullptr;
  size_t stack_bytes_ = 0;  // the whole mapping
};

}  // namespace drover::worker
