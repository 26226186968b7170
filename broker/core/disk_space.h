// DiskSpace: whether the broker's state disk has room, decided from what the
// shell measures (statvfs) and from writes that failed for want of space.
// Pure: no files, no clock; the shell measures and reports.
//
// The broker keeps `reserve` bytes (--min-free-mb) back for the jobs it has
// already accepted: their journal records (dispatches, results, the record
// of each job's end) and a little of their output. Three levels:
//   kRoomy  more than the reserve is free: everything as usual.
//   kShort  less than the reserve is free: new submissions are refused; each
//           running step's output is kept up to kShortOutputBytes more and
//           then cut (OutputRation); journal records go on, into the reserve.
//   kFull   a write failed for want of space: as kShort, and no more output
//           is kept at all.
// From kShort or kFull the disk is roomy again only when a measurement finds
// the reserve and a margin free (kSpaceBackMarginBytes, or an eighth of the
// reserve if more), so that a disk hovering at the reserve does not flap
// between levels; from kFull also a margin more than the least measured
// since the write failed (statvfs does not see quotas: a disk that looks
// roomy to it may still refuse). A write that happens to succeed proves
// nothing. Every change of level is returned once, for the broker's log.
//
// A reserve of 0 turns the check off: submissions are taken until a write
// fails, and kShort never happens.
//
// Invariants:
//  1. level() == kShort only if reserve > 0 and the last measurement was
//     under the reserve plus (when coming back) the margin.
//  2. Admits() is false unless level() == kRoomy.
//
// Not thread-safe; the broker's loop owns it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace drover::broker {

class DiskSpace {
 public:
  enum class Level { kRoomy, kShort, kFull };

  // Output a running step may still have kept while the disk is short: most
  // steps' whole output fits, a flood does not, and a hundred steps running
  // at once take a tenth of the default reserve.
  static constexpr uint64_t kShortOutputBytes = 64 << 10;
  // How much more than the reserve must be free before a disk that was
  // short or full counts as roomy again (at least; see above).
  static constexpr uint64_t kSpaceBackMarginBytes = 1 << 20;
  // Measure again after this much was written, at least (MeasureDue).
  static constexpr uint64_t kMinMeasureBytes = 1 << 20;

  explicit DiskSpace(uint64_t reserve_bytes) : reserve_(reserve_bytes) {}

  Level level() const { return level_; }
  uint64_t reserve() const { return reserve_; }
  // Free bytes as last measured (0 before the first measurement).
  uint64_t free_bytes() const { return free_; }
  // Whether a measurement has been reported yet.
  bool measured() const { return measured_; }

  // A measurement: `free_bytes` available to the broker. Returns the level
  // if it changed, else nothing (kRoomy stays kRoomy, and so on).
  struct Change {
    bool changed = false;
    Level from = Level::kRoomy;
    Level to = Level::kRoomy;
  };
  Change OnMeasured(uint64_t free_bytes);
  // A write failed for want of space (ENOSPC, EDQUOT).
  Change OnWriteFailed();
  // `bytes` were written to the disk since the last call.
  void OnWritten(uint64_t bytes) { written_since_ += bytes; }
  // Whether what was written since the last measurement could have used up
  // half the room left above the reserve: the shell then measures at once
  // rather than at its next tick.
  bool MeasureDue() const;

  // Whether a submission whose records and files take `bytes` may be
  // accepted: the disk is roomy and keeps its reserve after them.
  bool Admits(uint64_t bytes) const;
  // Whether output is kept without limit.
  bool keeps_output() const { return level_ == Level::kRoomy; }

 private:
  const uint64_t reserve_;
  Level level_ = Level::kRoomy;
  uint64_t free_ = 0;
  bool measured_ = false;
  uint64_t written_since_ = 0;     // bytes written since the last measurement
  uint64_t least_since_full_ = 0;  // kFull: the least free measured since
};

// What the spool does with a piece of a running step's output.
enum class OutputVerdict {
  kKeep,  // spool it
  kCut,   // drop it, and put the marker in the step's log in its place
  kDrop,  // drop it: the marker is there already
};

// One step's output since the disk stopped being roomy. Starts afresh with
// each attempt (the spool makes a new one), and by itself once the disk is
// roomy again.
struct OutputRation {
  uint64_t kept = 0;  // bytes kept while the disk was short
  bool cut = false;   // output was dropped: the marker is in the log

  // The verdict on `bytes` more output at disk level `level`.
  OutputVerdict Take(DiskSpace::Level level, size_t bytes);
};

// The line put in a step's log where its output stops being kept.
inline constexpr char kOutputNotKeptMarker[] =
    "[drover: output not kept: broker's state disk is full]\n";

const char* DiskLevelName(DiskSpace::Level level);

// Whether a write that failed with errno `error_number` failed for want of
// space (ENOSPC, or EDQUOT: a quota is a full disk to whoever writes).
bool IsNoSpaceError(int error_number);

}  // namespace drover::broker
