// ResultLog: the results of the attempts a worker ran (or gave back), as the
// broker must get them: numbered in one sequence per worker run, kept until
// the broker acknowledges them, sent again on every new connection, and
// batched while the worker has enough local work that an early result buys
// nothing. Part of the worker's pure core (local_scheduler.h): no socket,
// no clock; the caller sends what Take() hands out.
//
// Why batch: with short steps every message costs the broker, the client and
// both ends' ZeroMQ threads a wake-up on the cores the steps need, so a few
// large batches leave those cores to the steps. Results that someone waits
// on go at once: when little waits to start here (the broker sends more work
// only on hearing them), or when one is `urgent` (a task given back, whose
// step another worker waits to run).
//
// Not thread-safe.
//
// Invariants (CheckInvariants):
//   1. The kept results' numbers run without gaps, from the oldest not yet
//      acknowledged up to next_seq() - 1.
//   2. The first result not yet sent on this connection is among them, or is
//      next_seq() when all have been sent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "shared/protocol.h"

namespace drover::worker {

using Time = int64_t;  // milliseconds on the caller's monotonic clock

class ResultLog {
 public:
  // How long a result may be held back to batch it with others.
  static constexpr int64_t kDelayMs = 20;
  // A batch this large goes at once.
  static constexpr size_t kMaxBatch = 256;
  // Results in one TaskResults message: each is about 100 bytes plus its
  // reason (at most kMaxErrorBytes), so a message stays within 17 MiB.
  static constexpr size_t kMaxPerMessage = 4096;
  static constexpr size_t kMaxErrorBytes = 4096;  // of a result's reason

  // Numbers `result` and keeps it. A reason longer than kMaxErrorBytes is cut.
  void Add(TaskResult result, Time now, bool urgent = false);
  // The broker has journaled the results numbered up to `through`.
  void Acknowledged(uint64_t through);
  // A new connection: every result not acknowledged goes again (the broker
  // ignores those it has).
  void Reconnected();
  // A connection broke: nothing is being held back for it any more.
  void Disconnected() { held_since_ = -1; }

  // The results to send now, as messages, or none. `force` sends whatever is
  // unsent; `running_low` says that little waits to start on this worker.
  std::vector<TaskResults> Take(Time now, bool force, bool running_low);
  // When Take() would send results held back now (-1: none held).
  Time due() const { return held_since_ < 0 ? -1 : held_since_ + kDelayMs; }
  bool unsent() const { return unsent_from_ < next_seq_; }

  // Attempts whose results are kept (not yet acknowledged), oldest first.
  template <typename F>
  void ForEachKept(F&& f) const {
    for (const Numbered& r : kept_) f(r.result.key);
  }
  size_t kept() const { return kept_.size(); }
  uint64_t next_seq() const { return next_seq_; }

  void CheckInvariants() const;

 private:
  struct Numbered {
    uint64_t seq;
    TaskResult result;
  };
  std::deque<Numbered> kept_;
  uint64_t next_seq_ = 1;
  uint64_t unsent_from_ = 1;  // the first result not sent on this connection
  Time held_since_ = -1;      // when the oldest unsent result came
  bool urgent_ = false;       // an unsent result must go at once
};

}  // namespace drover::worker
