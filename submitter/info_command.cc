// `submit info JOB` (query_commands.h): the job, then its steps: state,
// attempts, worker, exit, times, CPU and memory, read from the job's event
// log as it stands.

#include "shared/clock.h"
#include "submitter/exit_codes.h"
#include "submitter/job_reading.h"
#include "submitter/json_fields.h"
#include "submitter/query_commands.h"
#include "submitter/step_table.h"
#include "submitter/time_text.h"

namespace drover::submit {
namespace {

// Keeps a JobView of its own (Follow's goes when it returns); prints nothing.
class Collector : public Renderer {
 public:
  void Accepted(const JobView& view) override { view_ = view; }
  void OnEvent(const JobView&, const Event& event) override { view_.Apply(event); }
  void Refresh(const JobView&, int64_t, std::optional<int64_t>) override {}
  void Notice(const std::string& text) override { fprintf(stderr, "submit: %s\n", text.c_str()); }
  void Finished(const JobView&, std::optional<int64_t>) override {}
  const JobView& view() const { return view_; }

 private:
  JobView view_;
};

nlohmann::json StepJson(const JobView& view, uint32_t i) {
  const StepView& v = view.step(StepIndex(i));
  nlohmann::json j = {{"step", view.id_of(StepIndex(i))},
                      {"state", StepStateName(v.state)},
                      {"attempt", v.attempt},
                      {"worker", v.worker.empty() ? nlohmann::json(nullptr) : nlohmann::json(v.worker)},
                      {"reason", v.reason}};
  if (v.run) j.update(RunFields(*v.run));
  return j;
}

}  // namespace

int RunInfo(Session& session, SignalFd& signals, const InfoQuery& query,
            const QueryTiming& timing) {
  int code = 0;
  std::optional<JobAccepted> accepted =
      WatchForReading(session, query.job, 0, /*follow=*/false, timing, &code);
  if (!accepted) return code;
  Collector collector;
  uint64_t consumed = 0;
  code = ReadEvents(session, signals, *accepted, collector, 0, false, timing, &consumed);
  if (code != 0) return code;
  const JobView& view = collector.view();
  // The broker's summary: owner, times, the job's state as it knows it.
  std::optional<JobStatus> status;
  ListJobs ask;
  ask.ids = {JobId(query.job)};
  std::optional<Message> reply = AskBroker(session, ask, timing.answer_ms, &code);
  if (!reply) return code;
  if (const auto* list = std::get_if<JobList>(&*reply); list && !list->jobs.empty()) {
    status = list->jobs[0];
  }
  std::vector<uint32_t> rows;
  for (uint32_t i = 0; i < view.size(); ++i) {
    if (!query.failed_only || view.step(StepIndex(i)).state != StepState::kSucceeded) {
      rows.push_back(i);
    }
  }
  if (query.json) {
    nlohmann::json j = status ? JobJson(*status) : nlohmann::json{{"id", query.job}};
    j["steps"] = nlohmann::json::array();
    for (uint32_t i : rows) j["steps"].push_back(StepJson(view, i));
    WriteJsonLine(stdout, j);
    return ToInt(ExitCode::kOk);
  }
  const int64_t now = WallMs();
  std::string head = view.Title();
  if (status) {
    head += ": " + std::string(JobStateName(status->state));
    if (!status->owner.empty()) {
      head += ", by " + status->owner + (status->owner_verified ? "" : " (unverified)");
    }
  }
  printf("%s\n", head.c_str());
  if (status && status->submitted_ms > 0) {
    std::string when = "submitted " + FormatWhen(status->submitted_ms, now);
    if (status->ended_ms > 0) {
      when += ", ended " + FormatWhen(status->ended_ms, now) + " (took " +
              FormatDuration(status->ended_ms - status->submitted_ms) + ")";
    } else {
      when += ", running for " + FormatDuration(now - status->submitted_ms);
    }
    printf("%s\n", when.c_str());
  }
  if (status && !status->reason.empty()) printf("%s\n", status->reason.c_str());
  std::string counts;
  for (int s = 0; s < static_cast<int>(kStepStateCount); ++s) {
    const uint32_t n = view.count(static_cast<StepState>(s));
    if (n > 0) counts += (counts.empty() ? "" : ", ") + std::to_string(n) + " " +
                         StepStateName(static_cast<StepState>(s));
  }
  printf("%zu step%s: %s\n", view.size(), view.size() == 1 ? "" : "s", counts.c_str());
  if (rows.empty()) {
    if (query.failed_only) printf("(every step succeeded)\n");
    return ToInt(ExitCode::kOk);
  }
  printf("\n");
  for (const std::string& line : StepTableLines(view, rows)) printf("%s\n", line.c_str());
  // Why each step that did not succeed did not (skipped, failed, retried).
  bool headed = false;
  for (uint32_t i : rows) {
    const StepView& v = view.step(StepIndex(i));
    if (v.reason.empty() || v.state == StepState::kSucceeded) continue;
    if (!headed) printf("\n");
    headed = true;
    printf("%s: %s\n", view.id_of(StepIndex(i)).c_str(), v.reason.c_str());
  }
  return ToInt(ExitCode::kOk);
}

}  // namespace drover::submit
