#include "broker/core/disk_space.h"

#include <algorithm>
#include <cerrno>

namespace drover::broker {

DiskSpace::Change DiskSpace::OnMeasured(uint64_t free_bytes) {
  measured_ = true;
  free_ = free_bytes;
  written_since_ = 0;
  const Level from = level_;
  const uint64_t margin = std::max(kSpaceBackMarginBytes, reserve_ / 8);
  switch (level_) {
    case Level::kRoomy:
      if (reserve_ > 0 && free_bytes < reserve_) level_ = Level::kShort;
      break;
    case Level::kShort:
      if (free_bytes >= reserve_ + margin) level_ = Level::kRoomy;
      break;
    case Level::kFull:
      least_since_full_ = std::min(least_since_full_, free_bytes);
      if (free_bytes >= std::max(reserve_, least_since_full_) + margin) level_ = Level::kRoomy;
      break;
  }
  return Change{level_ != from, from, level_};
}

DiskSpace::Change DiskSpace::OnWriteFailed() {
  const Level from = level_;
  if (level_ != Level::kFull) least_since_full_ = measured_ ? free_ : 0;
  level_ = Level::kFull;
  return Change{level_ != from, from, level_};
}

bool DiskSpace::MeasureDue() const {
  if (!measured_) return true;
  const uint64_t headroom = free_ > reserve_ ? free_ - reserve_ : 0;
  return written_since_ >= std::max(kMinMeasureBytes, headroom / 2);
}

bool DiskSpace::Admits(uint64_t bytes) const {
  if (level_ != Level::kRoomy) return false;
  if (reserve_ == 0 || !measured_) return true;
  return free_ >= reserve_ && free_ - reserve_ >= bytes;
}

OutputVerdict OutputRation::Take(DiskSpace::Level level, size_t bytes) {
  switch (level) {
    case DiskSpace::Level::kRoomy:
      *this = OutputRation();
      return OutputVerdict::kKeep;
    case DiskSpace::Level::kShort:
      if (cut) return OutputVerdict::kDrop;
      if (kept + bytes <= DiskSpace::kShortOutputBytes) {
        kept += bytes;
        return OutputVerdict::kKeep;
      }
      cut = true;
      return OutputVerdict::kCut;
    case DiskSpace::Level::kFull:
      if (cut) return OutputVerdict::kDrop;
      cut = true;
      return OutputVerdict::kCut;
  }
  return OutputVerdict::kKeep;
}

const char* DiskLevelName(DiskSpace::Level level) {
  switch (level) {
    case DiskSpace::Level::kRoomy:
      return "roomy";
    case DiskSpace::Level::kShort:
      return "short";
    case DiskSpace::Level::kFull:
      return "full";
  }
  return "?";
}

bool IsNoSpaceError(int error_number) { return error_number == ENOSPC || error_number == EDQUOT; }

}  // namespace drover::broker
