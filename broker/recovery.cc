#include "broker/recovery.h"

#include "shared/codec_typed.h"

namespace drover::broker {

void EncodeRecord(const Record& record, std::string* out) {
  std::visit([out](const auto& r) { PackTyped(r, out); }, record);
}

Result<Record> DecodeRecord(std::string_view bytes) {
  // Written by this broker, but read back after crashes and upgrades: the
  // same limits as anything else, a job file of a million steps included.
  DecodeLimits limits;
  limits.max_array = 1 << 26;
  limits.max_bin = 1u << 30;
  return DecodeTyped<Record>(bytes, limits);
}

}  // namespace drover::broker
