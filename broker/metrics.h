// BrokerMetrics: what the broker counts about itself for monitoring
// (`/metrics`, docs/dashboard.md): counters since it started and
// histograms, kept by the loop as plain numbers and copied into each
// dashboard snapshot (broker/http/snapshot.h). Counting costs an increment
// where the event happens; nothing here reads a clock or takes a lock.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "shared/states.h"

namespace drover::broker {

// A Prometheus histogram: how many observations fell at or below each
// bound (not cumulative here: the exposition adds them up), their count
// and sum.
class Histogram {
 public:
  // `bounds`: upper bounds, ascending; a last bucket (+Inf) is implied.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  const std::vector<double>& bounds() const { return bounds_; }
  // One per bound, then the +Inf bucket.
  const std::vector<uint64_t>& buckets() const { return buckets_; }
  uint64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  double sum_ = 0;
};

struct BrokerMetrics {
  static constexpr int kOutcomes = static_cast<int>(kOutcomeMax) + 1;
  static constexpr int kJobStates = static_cast<int>(kJobStateMax) + 1;

  BrokerMetrics();

  uint64_t jobs_submitted = 0;  // accepted (resumptions too)
  std::array<uint64_t, kJobStates> jobs_ended{};
  uint64_t attempts_started = 0;  // dispatched to a worker
  // Attempts that ended, by how (Outcome): a worker's result, or lost.
  std::array<uint64_t, kOutcomes> attempts_ended{};
  // How long attempts that ran took, as their workers measured: seconds.
  Histogram attempt_seconds;
  // How long each journal fdatasync took: seconds.
  Histogram journal_sync_seconds;
};

}  // namespace drover::broker
