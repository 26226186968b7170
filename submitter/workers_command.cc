// `submit workers` (query_commands.h): the broker's workers, a line each
// (name, host, busy slots, connected since, last heard, what is special
// about it), then its resources and labels on a line of their own.

#include "shared/clock.h"
#include "shared/durations.h"
#include "shared/resources.h"
#include "submitter/exit_codes.h"
#include "submitter/json_fields.h"
#include "submitter/query_commands.h"
#include "submitter/renderer.h"
#include "submitter/text_table.h"
#include "submitter/time_text.h"

namespace drover::submit {

int RunWorkers(Session& session, bool json, const QueryTiming& timing) {
  int code = 0;
  std::optional<Message> reply = AskBroker(session, StatusRequest{}, timing.answer_ms, &code);
  if (!reply) return code;
  const auto* status = std::get_if<StatusReply>(&*reply);
  if (status == nullptr) {
    fprintf(stderr, "submit: unexpected reply from the broker\n");
    return ToInt(ExitCode::kBrokerUnreachable);
  }
  if (json) {
    for (const WorkerStatus& w : status->workers) WriteJsonLine(stdout, WorkerJson(w));
    return ToInt(ExitCode::kOk);
  }
  if (status->workers.empty()) {
    printf("no workers\n");
    return ToInt(ExitCode::kOk);
  }
  const int64_t now = WallMs();
  TextTable table({"NAME", "HOST", "BUSY", "CONNECTED", "HEARD", "NOTES"}, {0, 1});
  std::vector<std::string> details;
  for (const WorkerStatus& w : status->workers) {
    std::string notes;
    auto note = [&](const std::string& n) { notes += (notes.empty() ? "" : ", ") + n; };
    if (w.silent_ms > 0) note("out of touch");
    if (w.draining) note("draining");
    if (w.time_left_ms > 0) note(ShortDuration(static_cast<int64_t>(w.time_left_ms)) + " left");
    if (w.slurm_job_id != 0) note("Slurm job " + std::to_string(w.slurm_job_id));
    const std::string heard =
        w.heard_ms > 0 ? FormatDuration(std::max<int64_t>(0, now - w.heard_ms)) + " ago" : "-";
    table.Add({w.name, w.host, std::to_string(w.used) + "/" + std::to_string(w.slots),
               FormatWhen(w.connected_ms, now), heard, notes.empty() ? "-" : notes});
    std::string detail;
    for (const ResourceAmount& r : w.resources) {
      detail += (detail.empty() ? "" : ", ") + r.name + " " +
                FormatAmount(r.name, AmountOf(w.resources_used, r.name)) + "/" +
                FormatAmount(r.name, r.amount);
    }
    if (!w.labels.empty()) {
      detail += std::string(detail.empty() ? "" : "; ") + "labels ";
      for (size_t i = 0; i < w.labels.size(); ++i) detail += (i ? "," : "") + w.labels[i];
    }
    details.push_back(std::move(detail));
  }
  const std::vector<std::string> lines = table.Lines();
  printf("%s\n", lines[0].c_str());
  for (size_t i = 0; i < details.size(); ++i) {
    printf("%s\n", lines[i + 1].c_str());
    if (!details[i].empty()) printf("  %s\n", details[i].c_str());
  }
  return ToInt(ExitCode::kOk);
}

}  // namespace drover::submit
