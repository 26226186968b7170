// BackgroundSync: fdatasync on a thread of its own, one sync at a time, so
// that the journal's group commit never makes the broker's loop wait for the
// disk (broker/journal.h).
//
// Each sync works on a dup() of the caller's descriptor, so the caller may
// close its own (a snapshot starts a new journal file) while a sync runs.
// Errors are kept until TakeError(). The destructor waits for a sync under
// way to finish. done_fd() becomes readable when a sync has finished, so a
// poll loop waiting on something durable wakes as soon as it is.
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "shared/status.h"

namespace drover::broker {

class BackgroundSync {
 public:
  BackgroundSync();
  ~BackgroundSync();
  BackgroundSync(const BackgroundSync&) = delete;
  BackgroundSync& operator=(const BackgroundSync&) = delete;

  // Starts syncing `fd` (named `path` in errors); false, and nothing
  // started, if the last sync still runs.
  bool Start(int fd, const std::string& path);
  // Whether a sync runs.
  bool busy();
  // The error of a finished sync, once; Ok if there was none.
  Status TakeError();
  // An eventfd, readable once a sync has finished since the last
  // ClearDone(); for poll(2).
  int done_fd() const { return done_fd_; }
  void ClearDone();
  // How long each sync finished since the last call took, in
  // microseconds (the broker's metrics).
  std::vector<int64_t> TakeDurations();

 private:
  static constexpr size_t kMaxDurations = 4096;
  void Run();

  std::mutex mu_;
  std::condition_variable wake_;
  int fd_ = -1;  // being synced
  std::string path_;
  Status error_;
  std::vector<int64_t> durations_us_;  // capped: nobody may ever take them
  bool stop_ = false;
  int done_fd_ = -1;
  std::thread thread_;  // last: starts once the rest is set up
};

}  // namespace drover::broker
