#include "shared/clock.h"

#include <time.h>

namespace drover {
namespace {
int64_t ReadMs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000;
}
}  // namespace

int64_t MonotonicMs() { return ReadMs(CLOCK_MONOTONIC); }
int64_t WallMs() { return ReadMs(CLOCK_REALTIME); }

}  // namespace drover
