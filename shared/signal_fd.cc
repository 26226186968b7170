#include "shared/signal_fd.h"

#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>

namespace drover {

Result<SignalFd> SignalFd::Create(std::initializer_list<int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals) sigaddset(&set, s);
  sigset_t original;
  if (int err = pthread_sigmask(SIG_BLOCK, &set, &original); err != 0) {
    return ErrnoStatus("pthread_sigmask", err);
  }
  const int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return ErrnoStatus("signalfd", errno);
  return SignalFd(fd, original);
}

SignalFd::SignalFd(SignalFd&& other) noexcept
    : fd_(other.fd_), original_mask_(other.original_mask_) {
  other.fd_ = -1;
}

SignalFd::~SignalFd() {
  if (fd_ >= 0) close(fd_);
}

std::vector<int> SignalFd::ReadPending() {
  std::vector<int> signals;
  signalfd_siginfo info;
  for (;;) {
    const ssize_t n = read(fd_, &info, sizeof info);
    if (n == static_cast<ssize_t>(sizeof info)) {
      signals.push_back(static_cast<int>(info.ssi_signo));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;  // EAGAIN: drained
  }
  return signals;
}

Status SignalOnParentDeath(int signal) {
  const pid_t parent = getppid();
  if (prctl(PR_SET_PDEATHSIG, signal) != 0) return ErrnoStatus("prctl(PR_SET_PDEATHSIG)", errno);
  // The parent may have died before prctl took effect.
  if (getppid() != parent || parent == 1) return Status::Error("the parent process is gone");
  return Status::Ok();
}

}  // namespace drover
