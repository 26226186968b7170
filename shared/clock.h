// The two clocks the shells read (the pure cores never do; they get `now`).
#pragma once

#include <cstdint>

namespace drover {

// Milliseconds on a monotonic clock: for deadlines and intervals.
int64_t MonotonicMs();
// Milliseconds since the Unix epoch: for times shown to people.
int64_t WallMs();

}  // namespace drover
