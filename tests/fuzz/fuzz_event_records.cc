// libFuzzer target: DecodeEventRecords and WholeRecordsPrefix, which read a
// job's event log (from the broker's spool on disk and from JobEvents on the
// wire, in submit).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "shared/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (drover::WholeRecordsPrefix(bytes) > bytes.size()) std::abort();
  drover::Result<std::vector<drover::Event>> events = drover::DecodeEventRecords(bytes);
  if (!events.ok()) {
    if (events.status().message().empty()) std::abort();
    return 0;
  }
  // Accepted records re-encode to records that decode to as many events.
  std::string again;
  for (const drover::Event& event : events.value()) drover::AppendEventRecord(event, &again);
  if (drover::WholeRecordsPrefix(again) != again.size()) std::abort();
  drover::Result<std::vector<drover::Event>> back = drover::DecodeEventRecords(again);
  if (!back.ok() || back.value().size() != events.value().size()) std::abort();
  return 0;
}
