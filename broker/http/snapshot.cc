// SnapshotBoard (snapshot.h).

#include "broker/http/snapshot.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include "shared/clock.h"

namespace drover::broker::http {

SnapshotBoard::SnapshotBoard() : want_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (want_fd_ < 0) throw std::runtime_error("eventfd for the dashboard failed");
}

SnapshotBoard::~SnapshotBoard() { close(want_fd_); }

void SnapshotBoard::Publish(std::shared_ptr<const Snapshot> snapshot) {
  uint64_t drained;
  while (read(want_fd_, &drained, sizeof drained) > 0) {
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    latest_ = std::move(snapshot);
    wanted_ = false;
  }
  published_.notify_all();
}

std::shared_ptr<const Snapshot> SnapshotBoard::Fresh(int64_t max_age_ms, int64_t wait_ms) {
  const int64_t asked = MonotonicMs();
  const auto fresh = [&] { return latest_ && latest_->taken_mono_ms >= asked - max_age_ms; };
  std::unique_lock<std::mutex> lock(mu_);
  if (fresh()) return latest_;
  if (!wanted_) {
    wanted_ = true;
    const uint64_t one = 1;
    // Cannot fail but for an overflow of the counter, which one write
    // per Publish never reaches.
    if (write(want_fd_, &one, sizeof one) < 0) std::perror("dashboard: eventfd");
  }
  published_.wait_for(lock, std::chrono::milliseconds(wait_ms), fresh);
  return latest_;
}

}  // namespace drover::broker::http
