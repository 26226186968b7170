// Snapshot: the broker's state as the dashboard and /metrics show it,
// taken by the broker's loop and then never changed, so the HTTP threads
// read it without locks while the loop goes on (docs/dashboard.md).
//
// SnapshotBoard hands snapshots from the loop to the HTTP threads. They
// are taken on demand: an HTTP request that finds the latest one older
// than it wants asks for another (wakes the loop through want_fd()) and
// waits a little for it. With nobody looking the loop takes none, so a
// dashboard costs scheduling nothing while it is closed, and at most one
// snapshot per request interval while it is open.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "broker/metrics.h"
#include "shared/protocol.h"

namespace drover::broker::http {

struct Snapshot {
  int64_t taken_mono_ms = 0;  // the loop's monotonic clock: how fresh it is
  int64_t now_ms = 0;         // wall clock, Unix ms, when taken
  int64_t started_ms = 0;     // when the broker started, Unix ms
  std::vector<WorkerStatus> workers;
  std::vector<JobStatus> jobs;  // every job the broker holds, by id
  uint32_t worker_connections = 0;
  uint32_t client_connections = 0;
  BrokerMetrics metrics;
  std::string spool_dir;  // where the jobs' event logs and files are
};

// How the dashboard and /metrics name a worker's state: "connected",
// "out of touch" (silent past the liveness interval) or "draining".
inline const char* WorkerStateName(const WorkerStatus& w) {
  if (w.draining) return "draining";
  if (w.silent_ms > 0) return "out of touch";
  return "connected";
}

class SnapshotBoard {
 public:
  SnapshotBoard();
  ~SnapshotBoard();
  SnapshotBoard(const SnapshotBoard&) = delete;
  SnapshotBoard& operator=(const SnapshotBoard&) = delete;

  // The loop's side. Readable (poll(2)) when a snapshot is wanted;
  // Publish clears it.
  int want_fd() const { return want_fd_; }
  void Publish(std::shared_ptr<const Snapshot> snapshot);

  // The HTTP side: a snapshot taken no earlier than `max_age_ms` before
  // now (monotonic), asking the loop for one if need be and waiting at
  // most `wait_ms` for it; failing that, the latest there is (nullptr if
  // none was ever published).
  std::shared_ptr<const Snapshot> Fresh(int64_t max_age_ms, int64_t wait_ms);

 private:
  std::mutex mu_;
  std::condition_variable published_;
  std::shared_ptr<const Snapshot> latest_;
  bool wanted_ = false;  // asked the loop since the last Publish
  int want_fd_ = -1;     // an eventfd
};

}  // namespace drover::broker::http
