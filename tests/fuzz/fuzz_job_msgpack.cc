// libFuzzer target: LoadJob on a MessagePack job file (what SubmitJob
// carries and the broker loads again from its journal), expanding and with
// arrays kept as templates (the broker's), and MsgpackToJson (`submit
// convert`).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "shared/job_elements.h"
#include "shared/job_load.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const drover::LoadedJob loaded = drover::LoadJob(bytes);
  if (loaded.spec.has_value() == !loaded.problems.empty()) std::abort();
  for (const drover::Problem& p : loaded.problems) {
    if (p.message.empty()) std::abort();  // every problem says what is wrong
  }
  // The broker's load, arrays kept as templates, accepts the same files,
  // reports the same problems, and its elements written out are the steps.
  const drover::LoadedJob kept = drover::LoadJob(bytes, {}, drover::kKeepArrays);
  if (kept.problems.size() != loaded.problems.size()) std::abort();
  for (size_t i = 0; i < kept.problems.size(); ++i) {
    if (FormatProblem(kept.problems[i]) != FormatProblem(loaded.problems[i])) std::abort();
  }
  if (kept.spec.has_value()) {
    const auto written = drover::JobSpecToJson(drover::ExpandTemplates(*kept.spec));
    const auto expanded = drover::JobSpecToJson(*loaded.spec);
    if (written.ok() != expanded.ok()) std::abort();
    if (written.ok() && written.value() != expanded.value()) std::abort();
  }
  drover::Result<std::string> json = drover::MsgpackToJson(bytes);
  if (json.ok() && loaded.spec.has_value()) {
    // A valid job converts to JSON that converts back to a job as valid.
    drover::Result<std::string> back = drover::JsonToMsgpack(json.value());
    if (!back.ok() || !drover::LoadJob(back.value()).spec.has_value()) std::abort();
  }
  return 0;
}
