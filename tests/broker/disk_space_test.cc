// DiskSpace and OutputRation: when the broker counts its state disk as short
// or full, when as roomy again, what it admits, and what it keeps of a
// step's output meanwhile. Pure: measurements and failures are made up.
#include "broker/core/disk_space.h"

#include <doctest/doctest.h>

#include <cerrno>

namespace drover::broker {
namespace {

constexpr uint64_t kMiB = 1 << 20;
using Level = DiskSpace::Level;

// The level after a measurement, and whether that was a change.
struct Seen {
  Level level;
  bool changed;
};
Seen Measure(DiskSpace& disk, uint64_t free_bytes) {
  const DiskSpace::Change change = disk.OnMeasured(free_bytes);
  CHECK(change.to == disk.level());
  return {disk.level(), change.changed};
}

TEST_CASE("disk space: short under the reserve, roomy again only past a margin, each change once") {
  DiskSpace disk(64 * kMiB);
  CHECK(Measure(disk, 1000 * kMiB).level == Level::kRoomy);
  CHECK_FALSE(Measure(disk, 64 * kMiB).changed);  // the reserve itself is still room

  const DiskSpace::Change to_short = disk.OnMeasured(63 * kMiB);
  CHECK(to_short.changed);
  CHECK(to_short.from == Level::kRoomy);
  CHECK(to_short.to == Level::kShort);
  CHECK_FALSE(Measure(disk, 10 * kMiB).changed);
  // Back above the reserve, not above the margin (an eighth of 64 MiB): a
  // disk hovering there does not flap.
  CHECK(Measure(disk, 65 * kMiB).level == Level::kShort);
  CHECK(Measure(disk, 71 * kMiB).level == Level::kShort);
  const Seen back = Measure(disk, 72 * kMiB);
  CHECK(back.level == Level::kRoomy);
  CHECK(back.changed);
  CHECK_FALSE(Measure(disk, 500 * kMiB).changed);
}

TEST_CASE("disk space: full after a failed write, until a margin above the least seen is free") {
  DiskSpace disk(8 * kMiB);
  Measure(disk, 100 * kMiB);
  const DiskSpace::Change full = disk.OnWriteFailed();
  CHECK(full.changed);
  CHECK(full.to == Level::kFull);
  CHECK_FALSE(disk.OnWriteFailed().changed);  // said once, not per write
  // Measured just after the failure: what the disk then has is its floor.
  CHECK_FALSE(Measure(disk, 0).changed);
  CHECK(Measure(disk, 8 * kMiB).level == Level::kFull);  // the reserve, no margin
  CHECK(Measure(disk, 9 * kMiB).level == Level::kRoomy);

  SUBCASE("a disk that looks roomy but refused a write (a quota) must gain a margin first") {
    DiskSpace quota(8 * kMiB);
    Measure(quota, 100 * kMiB);
    quota.OnWriteFailed();
    CHECK(Measure(quota, 100 * kMiB).level == Level::kFull);
    CHECK(Measure(quota, 100 * kMiB + kMiB - 1).level == Level::kFull);
    CHECK(Measure(quota, 101 * kMiB).level == Level::kRoomy);
  }
  SUBCASE("short, then full: full") {
    DiskSpace disk2(8 * kMiB);
    CHECK(Measure(disk2, 4 * kMiB).level == Level::kShort);
    const DiskSpace::Change change = disk2.OnWriteFailed();
    CHECK(change.from == Level::kShort);
    CHECK(change.to == Level::kFull);
    CHECK(Measure(disk2, 8 * kMiB).level == Level::kFull);
    CHECK(Measure(disk2, 9 * kMiB).level == Level::kRoomy);
  }
}

TEST_CASE("disk space: a submission is admitted only if the reserve is left after it") {
  DiskSpace disk(64 * kMiB);
  CHECK(disk.Admits(kMiB));  // not measured yet: no grounds to refuse
  Measure(disk, 70 * kMiB);
  CHECK(disk.Admits(6 * kMiB));
  CHECK_FALSE(disk.Admits(6 * kMiB + 1));
  Measure(disk, 60 * kMiB);
  CHECK(disk.level() == Level::kShort);
  CHECK_FALSE(disk.Admits(0));
  Measure(disk, 200 * kMiB);
  CHECK(disk.Admits(100 * kMiB));
  disk.OnWriteFailed();
  CHECK_FALSE(disk.Admits(0));
}

TEST_CASE("disk space: a reserve of 0 never refuses before a write fails") {
  DiskSpace disk(0);
  CHECK(Measure(disk, 0).level == Level::kRoomy);
  CHECK(disk.Admits(1000 * kMiB));
  disk.OnWriteFailed();
  CHECK_FALSE(disk.Admits(0));
  CHECK(Measure(disk, kMiB - 1).level == Level::kFull);
  CHECK(Measure(disk, kMiB).level == Level::kRoomy);
  CHECK(disk.Admits(1000 * kMiB));
}

TEST_CASE("disk space: measured again once the writes could have used half the room left") {
  DiskSpace disk(64 * kMiB);
  CHECK(disk.MeasureDue());  // never measured
  Measure(disk, 64 * kMiB + 100 * kMiB);
  CHECK_FALSE(disk.MeasureDue());
  disk.OnWritten(50 * kMiB - 1);
  CHECK_FALSE(disk.MeasureDue());
  disk.OnWritten(1);
  CHECK(disk.MeasureDue());
  // Little room left: at least every kMinMeasureBytes.
  Measure(disk, 64 * kMiB + kMiB);
  disk.OnWritten(DiskSpace::kMinMeasureBytes - 1);
  CHECK_FALSE(disk.MeasureDue());
  disk.OnWritten(1);
  CHECK(disk.MeasureDue());
  Measure(disk, 10 * kMiB);  // short: no room at all
  CHECK_FALSE(disk.MeasureDue());
  disk.OnWritten(DiskSpace::kMinMeasureBytes);
  CHECK(disk.MeasureDue());
}

TEST_CASE("output ration: all of it while roomy, a bounded part while short, none once full") {
  OutputRation ration;
  for (int i = 0; i < 100; ++i) CHECK(ration.Take(Level::kRoomy, 1 << 20) == OutputVerdict::kKeep);

  SUBCASE("short: up to kShortOutputBytes more, then cut once, then dropped") {
    CHECK(ration.Take(Level::kShort, DiskSpace::kShortOutputBytes - 10) == OutputVerdict::kKeep);
    CHECK(ration.Take(Level::kShort, 10) == OutputVerdict::kKeep);
    CHECK(ration.Take(Level::kShort, 1) == OutputVerdict::kCut);
    CHECK(ration.Take(Level::kShort, 1) == OutputVerdict::kDrop);
    CHECK(ration.Take(Level::kFull, 1) == OutputVerdict::kDrop);
    // Room again: kept, and a new shortage starts a new allowance.
    CHECK(ration.Take(Level::kRoomy, 5) == OutputVerdict::kKeep);
    CHECK(ration.Take(Level::kShort, 5) == OutputVerdict::kKeep);
  }
  SUBCASE("a piece that would pass the allowance is cut whole") {
    CHECK(ration.Take(Level::kShort, DiskSpace::kShortOutputBytes + 1) == OutputVerdict::kCut);
  }
  SUBCASE("full: cut at the first piece") {
    CHECK(ration.Take(Level::kFull, 1) == OutputVerdict::kCut);
    CHECK(ration.Take(Level::kFull, 1) == OutputVerdict::kDrop);
    CHECK(ration.Take(Level::kShort, 1) == OutputVerdict::kDrop);
  }
}

TEST_CASE("no space means ENOSPC or EDQUOT") {
  CHECK(IsNoSpaceError(ENOSPC));
  CHECK(IsNoSpaceError(EDQUOT));
  CHECK_FALSE(IsNoSpaceError(EIO));
  CHECK_FALSE(IsNoSpaceError(0));
}

}  // namespace
}  // namespace drover::broker
