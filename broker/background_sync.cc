#include "broker/background_sync.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace drover::broker {

BackgroundSync::BackgroundSync() : thread_([this] { Run(); }) {}

BackgroundSync::~BackgroundSync() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
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
    int rc;
    do {
      rc = fdatasync(fd);
    } while (rc != 0 && errno == EINTR);
    const int err = errno;
    close(fd);
    lock.lock();
    if (rc != 0) error_ = ErrnoStatus("fdatasync " + path_, err);
    fd_ = -1;
  }
}

}  // namespace drover::broker
