// BrokerMetrics (metrics.h).

#include "broker/metrics.h"

#include <algorithm>
#include <utility>

namespace drover::broker {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double value) {
  // The first bound at or above `value`: Prometheus buckets are "le".
  const auto at = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  ++buckets_[static_cast<size_t>(at - bounds_.begin())];
  ++count_;
  sum_ += value;
}

BrokerMetrics::BrokerMetrics()
    // Steps run from milliseconds (a build's compile) to hours (a simulation).
    : attempt_seconds({0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600}),
      // A good disk syncs in well under a millisecond; a busy network one
      // in tens; past a second something is wrong.
      journal_sync_seconds({0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}) {}

}  // namespace drover::broker
