#include "submitter/broker_commands.h"

#include <cstdio>
#include <cstring>

#include "shared/resources.h"
#include "shared/durations.h"
#include "shared/states.h"
#include "submitter/exit_codes.h"
#include "submitter/query_commands.h"

namespace drover::submit {
namespace {

// Prints that the answer was not the one asked for; status 3.
int Unexpected() {
  fprintf(stderr, "submit: unexpected reply from the broker\n");
  return ToInt(ExitCode::kBrokerUnreachable);
}

void PrintWorker(const WorkerStatus& w) {
  std::string labels;
  for (const std::string& l : w.labels) labels += (labels.empty() ? ", labels " : ",") + l;
  std::string resources;
  for (const ResourceAmount& r : w.resources) {
    resources += ", " + r.name + " " + FormatAmount(r.name, AmountOf(w.resources_used, r.name)) +
                 "/" + FormatAmount(r.name, r.amount);
  }
  printf("  #%u %s (%s): %u/%u slots busy%s%s", w.id.value, w.name.c_str(), w.host.c_str(),
         w.used, w.slots, resources.c_str(), labels.c_str());
  if (w.silent_ms > 0) printf(", out of touch for %.1f s", static_cast<double>(w.silent_ms) / 1000);
  if (w.time_left_ms > 0) {
    printf(", %s left", ShortDuration(static_cast<int64_t>(w.time_left_ms)).c_str());
  }
  if (w.draining) printf(", draining");
  if (w.slurm_job_id != 0) printf(", Slurm job %llu", static_cast<unsigned long long>(w.slurm_job_id));
  printf("\n");
}

void PrintJob(const JobStatus& j) {
  auto count = [&](StepState s) {
    const size_t i = static_cast<size_t>(s);
    return i < j.counts.size() ? j.counts[i] : 0u;
  };
  uint32_t total = 0;
  for (uint32_t c : j.counts) total += c;
  char line[512];
  snprintf(line, sizeof line, "  job %lu%s: %s, %u/%u succeeded, %u running, %u failed",
           static_cast<unsigned long>(j.id.value),
           j.name.empty() ? "" : (" (" + j.name + ")").c_str(), JobStateName(j.state),
           count(StepState::kSucceeded), total, count(StepState::kRunning),
           count(StepState::kFailed));
  // Without keys the owner is the name its submit gave: nothing checks it.
  // On the job's line if that still fits 80 columns, else under it.
  const std::string by =
      j.owner.empty() ? "" : "by " + j.owner + (j.owner_verified ? "" : " (unverified)");
  if (by.empty()) {
    printf("%s\n", line);
  } else if (strlen(line) + 2 + by.size() <= 80) {
    printf("%s, %s\n", line, by.c_str());
  } else {
    printf("%s\n    %s\n", line, by.c_str());
  }
  for (const std::string& w : j.waiting) printf("    waiting: %s\n", w.c_str());
  if (!j.reason.empty()) printf("    %s\n", j.reason.c_str());
}

}  // namespace

int RunStatus(Session& session, int64_t answer_ms) {
  int code = 0;
  const std::optional<Message> reply = AskBroker(session, StatusRequest{}, answer_ms, &code);
  if (!reply) return code;
  const auto* status = std::get_if<StatusReply>(&*reply);
  if (status == nullptr) return Unexpected();
  size_t silent = 0;
  for (const WorkerStatus& w : status->workers) silent += w.silent_ms > 0;
  printf("%zu worker(s)", status->workers.size() - silent);
  if (silent > 0) printf(", and %zu out of touch", silent);
  printf("\n");
  for (const WorkerStatus& w : status->workers) PrintWorker(w);
  printf("%zu job(s)\n", status->jobs.size());
  for (const JobStatus& j : status->jobs) PrintJob(j);
  return ToInt(ExitCode::kOk);
}

int RunForget(Session& session, const std::vector<uint64_t>& jobs, int64_t answer_ms) {
  ForgetJobs request;
  for (uint64_t id : jobs) request.jobs.push_back(JobId(id));
  int code = 0;
  const std::optional<Message> reply = AskBroker(session, request, answer_ms, &code);
  if (!reply) return code;
  const auto* forgot = std::get_if<ForgetReply>(&*reply);
  if (forgot == nullptr) return Unexpected();
  for (JobId id : forgot->forgotten) printf("forgot job %lu\n", static_cast<unsigned long>(id.value));
  for (const std::string& p : forgot->problems) fprintf(stderr, "submit: %s\n", p.c_str());
  return ToInt(forgot->problems.empty() ? ExitCode::kOk : ExitCode::kUsage);
}

int RunWorkerDrain(Session& session, const std::string& name, int64_t answer_ms) {
  int code = 0;
  const std::optional<Message> reply = AskBroker(session, DrainWorker{name}, answer_ms, &code);
  if (!reply) return code;
  const auto* ok = std::get_if<DrainAccepted>(&*reply);
  if (ok == nullptr) return Unexpected();
  printf("worker %s is draining: it finishes the steps it has started, gives back the ones it "
         "has not (%u assigned), takes no new ones, then exits\n",
         ok->name.c_str(), ok->running);
  return ToInt(ExitCode::kOk);
}

int RunAlloc(Session& session, const AllocRequest& request, int64_t answer_ms) {
  int code = 0;
  const std::optional<Message> reply = AskBroker(session, request, answer_ms, &code);
  if (!reply) return code;
  const auto* ok = std::get_if<AllocReply>(&*reply);
  if (ok == nullptr) return Unexpected();
  fputs(ok->text.c_str(), stdout);
  if (!ok->text.empty() && !ok->text.ends_with('\n')) fputc('\n', stdout);
  return ToInt(ExitCode::kOk);
}

}  // namespace drover::submit
