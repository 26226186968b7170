#include "worker/child_start.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace drover::worker {
namespace {

// ChildMain runs in the child, on our stack and in our memory, while the
// calling thread sleeps; it writes an exec failure's errno into ChildArgs,
// which the parent reads when it wakes.
//
// Because the child shares our memory until exec, ChildMain and what it calls
// must not allocate, lock, touch sanitizer state or run a signal handler:
// everything is prepared before the clone, the child makes raw syscalls only,
// and every signal stays blocked until just before execve, by when no signal
// has a handler any more.

// The exit status of a child that failed before exec (as glibc's posix_spawn;
// the parent reaps it and reports ChildArgs::err instead).
constexpr int kExecFailedStatus = 127;
// The exit status of a child that found the worker gone before exec: it then
// has no one to report to, and nobody waits for the step any more.
constexpr int kParentGoneStatus = 126;
// The stack ChildMain runs on: generous, since the child needs a few hundred
// bytes, but compiler stack probes and a lazy symbol binding may want more.
constexpr size_t kChildStackBytes = 64 << 10;
// The size of a signal set as the kernel takes it (rt_sigprocmask,
// rt_sigaction): 64 bits, where glibc's sigset_t has 1024.
constexpr size_t kKernelSigsetBytes = (_NSIG - 1) / 8;

// The kernel's struct sigaction, which differs from glibc's. This is the
// layout of x86-64, arm64 and the other architectures with the handler first.
#if defined(__mips__)
#error "struct KernelSigaction does not match this architecture"
#endif
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  unsigned char mask[kKernelSigsetBytes];
};
// SIG_DFL with no flags; static, so the child copies nothing to make it.
constexpr KernelSigaction kDefaultAction{};

// What the child needs, all made by the parent before the clone.
struct ChildArgs {
  const char* program;
  char* const* argv;
  char* const* envp;
  const char* cwd;  // nullptr: stay in the worker's directory
  int stdio[3];     // the fds to become 0, 1, 2; stdio[0] -1: /dev/null
  pid_t parent;     // the worker's pid when it cloned
  const sigset_t* sigmask;
  int err;  // 0, or the errno that stopped the child before exec
};

// The child runs code that no sanitizer may instrument (see above); for
// ThreadSanitizer, whose hooks would write to the sleeping parent thread's
// state in the shared memory, too.
#define DROVER_CHILD_CODE __attribute__((no_sanitize("address", "undefined", "thread")))

// Makes `fd` the child's `target` fd, without close-on-exec; false on error.
DROVER_CHILD_CODE bool MoveFd(int fd, int target) {
  if (fd == target) return syscall(SYS_fcntl, fd, F_SETFD, 0) == 0;  // dup3 would refuse
  return syscall(SYS_dup3, fd, target, 0) == target;
}

// Closes every fd from 3 up; false on error.
DROVER_CHILD_CODE bool CloseFdsFrom3() {
  if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0) return true;
  if (errno != ENOSYS) return false;
  struct {
    uint64_t cur, max;
  } limit;  // the kernel's struct rlimit64
  if (syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, nullptr, &limit) != 0) return false;
  for (uint64_t fd = 3; fd < limit.cur; ++fd) syscall(SYS_close, fd);
  return true;
}

// Runs in the child between clone and exec; never returns.
DROVER_CHILD_CODE int ChildMain(void* arg) {
  ChildArgs* args = static_cast<ChildArgs*>(arg);
  // No handler may run here, on memory shared with the worker, once signals
  // are unblocked below; and the new program must find every signal at its
  // default, not ignored as the worker ignores SIGPIPE (exec resets handlers
  // but keeps what is ignored). SIGKILL and SIGSTOP cannot be changed.
  for (int sig = 1; sig < _NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    KernelSigaction old;
    if (syscall(SYS_rt_sigaction, sig, nullptr, &old, kKernelSigsetBytes) == 0 &&
        old.handler != SIG_DFL) {
      syscall(SYS_rt_sigaction, sig, &kDefaultAction, nullptr, kKernelSigsetBytes);
    }
  }
  // Die with the worker. Asked first, then checked: had the worker died
  // before the prctl, the child would have been reparented and nothing would
  // ever send the signal.
  if (syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) goto fail;
  if (syscall(SYS_getppid) != args->parent) syscall(SYS_exit_group, kParentGoneStatus);

  if (syscall(SYS_setpgid, 0, 0) != 0) goto fail;
  // Every pipe end is close-on-exec; the copies made here are not. The pipes
  // were made in stdin, stdout, stderr order, so no child end can sit on a
  // lower standard fd that an earlier move would overwrite. A /dev/null
  // opened elsewhere than 0 is closed with the rest below.
  if (args->stdio[0] < 0) {
    const long null_fd = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY);
    if (null_fd < 0 || !MoveFd(static_cast<int>(null_fd), 0)) goto fail;
  } else if (!MoveFd(args->stdio[0], 0)) {
    goto fail;
  }
  if (!MoveFd(args->stdio[1], 1) || !MoveFd(args->stdio[2], 2)) goto fail;
  if (args->cwd != nullptr && syscall(SYS_chdir, args->cwd) != 0) goto fail;
  // Also the fds other code in the worker opened without O_CLOEXEC.
  if (!CloseFdsFrom3()) goto fail;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, args->sigmask, nullptr, kKernelSigsetBytes);
  syscall(SYS_execve, args->program, args->argv, args->envp);
fail:
  args->err = errno != 0 ? errno : ECHILD;
  syscall(SYS_exit_group, kExecFailedStatus);
  return 0;  // not reached
}

std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const std::string& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

ChildStarter::ChildStarter(const sigset_t& child_sigmask) : child_sigmask_(child_sigmask) {
  // glibc keeps its own signals (32 up to SIGRTMIN) unblocked, and its
  // posix_spawn gave children them unblocked whatever the mask asked; so do
  // we. sigdelset refuses them, hence the bits.
  constexpr int kWordBits = 8 * sizeof(child_sigmask_.__val[0]);
  for (int sig = 32; sig < SIGRTMIN; ++sig) {
    child_sigmask_.__val[(sig - 1) / kWordBits] &= ~(1UL << ((sig - 1) % kWordBits));
  }
}

ChildStarter::~ChildStarter() {
  if (stack_ != nullptr) munmap(stack_, stack_bytes_);
}

int ChildStarter::Start(const std::string& program, const std::vector<std::string>& argv_strings,
                        const std::vector<std::string>& env, const std::string& cwd,
                        const int (&stdio)[3], pid_t* pid) {
  if (stack_ == nullptr) {
    const size_t guard = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    void* map = mmap(nullptr, guard + kChildStackBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (map == MAP_FAILED) return errno;
    // The stack grows down: an overflow hits the guard page and kills the
    // child, not whatever the worker has mapped below.
    if (mprotect(map, guard, PROT_NONE) != 0) {
      const int err = errno;
      munmap(map, guard + kChildStackBytes);
      return err;
    }
    stack_ = map;
    stack_bytes_ = guard + kChildStackBytes;
  }
  std::vector<char*> argv = CStrings(argv_strings);
  std::vector<char*> envp = CStrings(env);
  ChildArgs args{};
  args.program = program.c_str();
  args.argv = argv.data();
  args.envp = envp.data();
  args.cwd = cwd.empty() ? nullptr : cwd.c_str();
  for (int i = 0; i < 3; ++i) args.stdio[i] = stdio[i];
  args.parent = getpid();
  args.sigmask = &child_sigmask_;

  // Every signal blocked, glibc's own included (hence the raw syscall: the
  // libc wrappers leave those unblocked), so no handler runs in the child
  // before it has reset them. The child starts with this mask.
  sigset_t all;
  sigset_t old;
  std::memset(&all, 0xff, sizeof(all));
  sigemptyset(&old);
  syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, &old, kKernelSigsetBytes);
  const pid_t child = clone(ChildMain, static_cast<char*>(stack_) + stack_bytes_,
                            CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
  // Here the child has exec'd or exited: its stack is free for the next one.
  const int err = child < 0 ? errno : args.err;
  if (child > 0 && err != 0) {
    // It exited (or is about to) with kExecFailedStatus: reap it, so that
    // a failed start leaves no zombie for the caller to find.
    while (waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, nullptr, kKernelSigsetBytes);
  if (err == 0) *pid = child;
  return err;
}

}  // namespace drover::worker
