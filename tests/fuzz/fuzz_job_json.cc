// libFuzzer target: a job file in JSON, as `submit` reads it: JsonToMsgpack,
// then LoadJob on the result.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "shared/job_load.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  drover::Result<std::string> bytes = drover::JsonToMsgpack(text);
  if (!bytes.ok()) {
    if (bytes.status().message().empty()) std::abort();
    return 0;
  }
  const drover::LoadedJob loaded = drover::LoadJob(bytes.value());
  if (loaded.spec.has_value() == !loaded.problems.empty()) std::abort();
  return 0;
}
