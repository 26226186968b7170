// Server (server.h): forgetting jobs. A job that ended is kept (its summary
// in memory and snapshots, its spool on disk) for --forget-after, or until
// `submit forget`; then all of it goes but its id, which is never handed
// out again, so that a question about it can be told it was forgotten.

#include <spdlog/spdlog.h>

#include <utility>

#include "broker/server.h"
#include "shared/clock.h"
#include "shared/durations.h"

namespace drover::broker {

std::string Server::NoSuchJob(JobId id) const {
  const std::string name = "job " + std::to_string(id.value);
  if (id.value == 0 || id.value >= next_job_) return "no " + name;
  std::string text = name + " was forgotten: the broker forgets a job ";
  if (options_.forget_after_ms > 0) {
    text += ShortDuration(options_.forget_after_ms) + " after it ends (broker --forget-after), ";
  }
  return text + "or when told to (submit forget)";
}

void Server::ForgetJob(JobId id) {
  const FinishedJob* job = finished_.Find(id);
  if (job == nullptr) return;
  Journal(ForgetRecord{id});
  if (!job->key.empty()) {
    auto k = submission_keys_.find(job->key);
    if (k != submission_keys_.end() && k->second == id) submission_keys_.erase(k);
  }
  // Someone still reading its output loses it: they are told why.
  for (size_t i = 0; i < followers_.size();) {
    if (followers_[i].job == id) {
      ReplyError(followers_[i].route, ErrorCode::kUnknownJob, NoSuchJob(id));
      followers_.erase(followers_.begin() + static_cast<long>(i));
    } else {
      ++i;
    }
  }
  spool_forget_due_.emplace_back(id, job->captured);
  finished_.Forget(id);
}

void Server::ForgetExpired() {
  if (options_.forget_after_ms <= 0) return;
  const std::vector<JobId> due = finished_.EndedBy(WallMs() - options_.forget_after_ms);
  if (due.empty()) return;
  for (JobId id : due) ForgetJob(id);
  spdlog::info("forgot {} that ended more than {} ago",
               due.size() == 1 ? "job " + std::to_string(due.front().value)
                               : std::to_string(due.size()) + " jobs (" +
                                     std::to_string(due.front().value) + " to " +
                                     std::to_string(due.back().value) + ")",
               ShortDuration(options_.forget_after_ms));
}

void Server::HandleForget(const std::string& route, const ForgetJobs& forget) {
  ForgetReply reply;
  size_t now_forgotten = 0;
  for (JobId id : forget.jobs) {
    if (std::string why = Forbidden(route, id, "forget"); !why.empty()) {
      reply.problems.push_back(std::move(why));
    } else if (scheduler_.FindJob(id) != nullptr) {
      reply.problems.push_back("job " + std::to_string(id.value) +
                               " is still running: cancel it first (submit --cancel " +
                               std::to_string(id.value) + ")");
    } else if (finished_.Find(id) != nullptr) {
      ForgetJob(id);
      reply.forgotten.push_back(id);
      ++now_forgotten;
    } else if (id.value > 0 && id.value < next_job_) {
      reply.forgotten.push_back(id);  // already: asking twice is asking once
    } else {
      reply.problems.push_back(NoSuchJob(id));
    }
  }
  if (now_forgotten > 0) spdlog::info("forgot {} job(s) on request", now_forgotten);
  Reply(route, reply);
}

}  // namespace drover::broker
