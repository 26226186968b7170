#include "broker/command_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <utility>

#include "shared/clock.h"
#include "shared/run_text.h"
#include "shared/status.h"

extern char** environ;

namespace drover::broker {
namespace {

// How often the thread looks whether the command has exited. SIGCHLD is
// the process's, not this thread's to take (the broker blocks it for its
// signalfd); and a command's exit usually comes right after its pipes'
// EOF, so this is mostly that short wait. Nothing else waits on this thread.
constexpr int kExitPollMs = 10;

// One output pipe of the running command.
struct Pipe {
  int fd = -1;
  std::string* text = nullptr;  // what is kept
  size_t max = 0;
  bool* truncated = nullptr;  // set when bytes are dropped

  void Close() {
    if (fd >= 0) close(fd);
    fd = -1;
  }
  // Reads what is there; closes at EOF or on an error.
  void Read() {
    char buf[64 << 10];
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      const size_t keep = std::min(static_cast<size_t>(n), max - std::min(max, text->size()));
      text->append(buf, keep);
      if (keep < static_cast<size_t>(n)) *truncated = true;
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
      Close();
    }
  }
};

enum class Exit { kRunning, kExited, kGone };
// Whether `pid` has exited, without reaping it: while it is a zombie its
// process group id cannot belong to anyone else. kGone: it was reaped
// elsewhere, against the REQUIRES of command_runner.h.
Exit Exited(pid_t pid) {
  siginfo_t info{};
  if (waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return errno == ECHILD ? Exit::kGone : Exit::kRunning;
  }
  return info.si_pid != 0 ? Exit::kExited : Exit::kRunning;
}

// Kills what is left of `pid`'s group, then reaps `pid`: its wait status.
int KillAndReap(pid_t pid) {
  kill(-pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// posix_spawnp with stdin /dev/null, stdout and stderr to `out` and `err`,
// a process group of its own, no signal blocked and every signal at its
// default disposition. 0 or the errno that stopped it.
int Spawn(const std::vector<std::string>& argv, int out, int err, pid_t* pid) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out, 1);
  posix_spawn_file_actions_adddup2(&actions, err, 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  // Should an fd of the broker lack close-on-exec, the command gets none.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
#endif
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int rc = posix_spawnp(pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  return rc;
}

std::string TimedOut(int64_t timeout_ms) {
  char text[64];
  snprintf(text, sizeof text, "timed out after %gs", static_cast<double>(timeout_ms) / 1000.0);
  return text;
}

}  // namespace

CommandRunner::CommandRunner()
    : results_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      stop_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      thread_([this] { Loop(); }) {}

CommandRunner::~CommandRunner() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    queue_.clear();
  }
  // Never read: it stays readable, so a command spawned after this line is
  // killed at its first poll.
  const uint64_t one = 1;
  if (stop_fd_ >= 0) (void)!write(stop_fd_, &one, sizeof one);
  wake_.notify_one();
  thread_.join();
  if (results_fd_ >= 0) close(results_fd_);
  if (stop_fd_ >= 0) close(stop_fd_);
}

void CommandRunner::Run(uint64_t tag, std::vector<std::string> argv, int64_t timeout_ms) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(Command{tag, std::move(argv), timeout_ms});
  }
  wake_.notify_one();
}

std::vector<CommandResult> CommandRunner::Take() {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t count;
  if (results_fd_ >= 0) (void)!read(results_fd_, &count, sizeof count);
  return std::exchange(results_, {});
}

size_t CommandRunner::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size() + (running_ ? 1 : 0);
}

void CommandRunner::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    const Command command = std::move(queue_.front());
    queue_.pop_front();
    running_ = true;
    lock.unlock();
    CommandResult result = Execute(command);
    lock.lock();
    running_ = false;
    if (stop_) return;  // nobody will take it
    results_.push_back(std::move(result));
    // Under the lock, with results_: Take() clears both at once.
    const uint64_t one = 1;
    if (results_fd_ >= 0) (void)!write(results_fd_, &one, sizeof one);
  }
}

CommandResult CommandRunner::Execute(const Command& command) {
  CommandResult result;
  result.tag = command.tag;
  if (command.argv.empty()) {
    result.failure = "cannot run an empty command";
    return result;
  }
  const std::string what = "cannot run " + command.argv[0];
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    result.failure = ErrnoStatus(what, errno).message();
    return result;
  }
  if (pipe2(err, O_CLOEXEC) != 0) {
    result.failure = ErrnoStatus(what, errno).message();
    close(out[0]);
    close(out[1]);
    return result;
  }
  pid_t pid = -1;
  const int spawned = Spawn(command.argv, out[1], err[1], &pid);
  // Ours closed, so that EOF comes when the command's (and its children's)
  // are.
  close(out[1]);
  close(err[1]);
  Pipe pipes[2] = {{out[0], &result.out, kMaxOut, &result.truncated},
                   {err[0], &result.err, kMaxErr, &result.truncated}};
  if (spawned != 0) {
    for (Pipe& p : pipes) p.Close();
    result.failure = ErrnoStatus(what, spawned).message();
    return result;
  }

  const int64_t deadline = MonotonicMs() + command.timeout_ms;
  bool timed_out = false;
  bool gone = false;
  std::optional<int> status;  // the wait status, once reaped
  int64_t reaped_at = 0;
  for (;;) {
    const int64_t now = MonotonicMs();
    if (!status) {
      const Exit exit = Exited(pid);
      if (exit == Exit::kExited) status = KillAndReap(pid);
      if (exit == Exit::kGone) {
        gone = true;  // its group's id may be another's by now: nothing is killed
        status = 0;
      }
      if (status) reaped_at = now;
    }
    if (status && pipes[0].fd < 0 && pipes[1].fd < 0) break;
    if (status && now >= reaped_at + kPipeLingerMs) break;
    if (!status && !timed_out && now >= deadline) {
      timed_out = true;
      kill(-pid, SIGKILL);
    }
    int64_t wait_ms = kExitPollMs;
    if (status) wait_ms = reaped_at + kPipeLingerMs - now;
    if (!status && !timed_out) wait_ms = std::min(wait_ms, deadline - now);
    pollfd fds[3] = {{pipes[0].fd, POLLIN, 0}, {pipes[1].fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    const int ready = poll(fds, 3, static_cast<int>(std::max<int64_t>(wait_ms, 0)));
    if (ready <= 0) continue;  // the time, or EINTR: both looked at above
    if (fds[2].revents != 0) {
      // The runner stops: nobody wants the result.
      if (!status) KillAndReap(pid);
      for (Pipe& p : pipes) p.Close();
      return result;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents != 0) pipes[i].Read();
    }
  }
  for (Pipe& p : pipes) p.Close();

  if (gone) {
    result.failure = "its exit status was taken elsewhere in the broker";
  } else if (timed_out) {
    result.failure = TimedOut(command.timeout_ms);
  } else if (WIFEXITED(*status)) {
    result.exit_code = WEXITSTATUS(*status);
  } else if (WIFSIGNALED(*status)) {
    result.failure = "killed by " + SignalName(WTERMSIG(*status));
  } else {
    result.failure = "ended with wait status " + std::to_string(*status);
  }
  return result;
}

}  // namespace drover::broker
