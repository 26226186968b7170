// libFuzzer target: the broker journal's DecodeRecord, which reads records
// back after a crash or an upgrade (broker/recovery.h). A record that passes
// the journal's CRC can still be anything a bug or a disk wrote.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "broker/recovery.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  drover::Result<drover::broker::Record> record = drover::broker::DecodeRecord(bytes);
  if (!record.ok()) {
    if (record.status().message().empty()) std::abort();
    return 0;
  }
  std::string once;
  drover::broker::EncodeRecord(record.value(), &once);
  drover::Result<drover::broker::Record> again = drover::broker::DecodeRecord(once);
  if (!again.ok()) std::abort();
  std::string twice;
  drover::broker::EncodeRecord(again.value(), &twice);
  if (twice != once) std::abort();
  return 0;
}
