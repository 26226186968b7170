#include "broker/background_sync.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <utility>

namespace drover::broker {

BackgroundSync::BackgroundSync()
    : done_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)), thread_([this] { Run(); }) {}

BackgroundSync::~BackgroundSync() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
  if (done_fd_ >= 0) close(done_fd_);
}

void BackgroundSync::ClearDone() {
  uint64_t count;
  if (done_fd_ >= 0) (void)!read(done_fd_, &count, sizeof count);
}

bool BackgroundSync::Start(int fd, const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  if (fd_ >= 0) return false;
  fd_ = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (fd_ < 0) {
    error_ = ErrnoStatus("dup " + path, errno);
    return true;
  }
  path_ = path;
  wake_.notify_one();
  return true;
}

bool BackgroundSync::busy() {
  std::lock_guard<std::mutex> lock(mu_);
  return fd_ >= 0;
}

std::vector<int64_t> BackgroundSync::TakeDurations() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(durations_us_, {});
}

Status BackgroundSync::TakeError() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(error_, Status::Ok());
}

void BackgroundSync::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || fd_ >= 0; });
    if (fd_ < 0) return;  // stopping, nothing left to sync
    const int fd = fd_;
    lock.unlock();
    const auto began = std::chrono::steady_clock::now();
    int rc;
    do {
      rc = fdatasync(fd);
    } while (rc != 0 && errno == EINTR);
    const int err = errno;
    const auto took = std::chrono::steady_clock::now() - began;
    lock.lock();
    if (rc != 0) error_ = ErrnoStatus("fdatasync " + path_, err);
    if (durations_us_.size() < kMaxDurations) {
      durations_us_.push_back(
          std::chrono::duration_cast<std::chrono::microseconds>(took).count());
    }
    fd_ = -1;
    // After the state above, so whoever wakes sees the sync finished; and
    // before anything else, since a submission's client waits for it.
    const uint64_t one = 1;
    if (done_fd_ >= 0) (void)!write(done_fd_, &one, sizeof one);
    lock.unlock();
    close(fd);
    lock.lock();
  }
}

}  // namespace drover::broker
