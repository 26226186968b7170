// Signals as a file descriptor, so each program's single poll loop sees them
// beside its sockets and pipes, and nothing is ever interrupted by a handler.
//
// SignalFd::Create() blocks the given signals in the calling thread. Call it
// at the top of main(), before ZeroMQ (or anything else) starts a thread, so
// every thread inherits the blocked mask and the signals can only be read
// here. original_mask() is the mask from before, which children get back.
#pragma once

#include <signal.h>

#include <initializer_list>
#include <vector>

#include "shared/status.h"

namespace drover {

class SignalFd {
 public:
  static Result<SignalFd> Create(std::initializer_list<int> signals);
  SignalFd(SignalFd&& other) noexcept;
  SignalFd& operator=(SignalFd&&) = delete;
  SignalFd(const SignalFd&) = delete;
  ~SignalFd();

  int fd() const { return fd_; }
  const sigset_t& original_mask() const { return original_mask_; }

  // The signals that arrived since the last call (never blocks).
  std::vector<int> ReadPending();

 private:
  SignalFd(int fd, const sigset_t& original) : fd_(fd), original_mask_(original) {}
  int fd_ = -1;
  sigset_t original_mask_;
};

// Asks the kernel to send `signal` to this process when its parent dies, for
// programs that `submit` starts and that must not outlive it. Fails if the
// parent is already gone.
Status SignalOnParentDeath(int signal);

}  // namespace drover
