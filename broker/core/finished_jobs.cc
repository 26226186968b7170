#include "broker/core/finished_jobs.h"

namespace drover::broker {

void FinishedJobs::Add(JobId id, FinishedJob job) {
  auto [it, added] = jobs_.try_emplace(id);
  if (!added) by_end_.erase({it->second.ended_ms, id});
  by_end_.emplace(job.ended_ms, id);
  it->second = std::move(job);
}

bool FinishedJobs::Forget(JobId id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return false;
  by_end_.erase({it->second.ended_ms, id});
  jobs_.erase(it);
  return true;
}

const FinishedJob* FinishedJobs::Find(JobId id) const {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

std::vector<JobId> FinishedJobs::EndedBy(int64_t ended_by) const {
  std::vector<JobId> due;
  for (const auto& [ended, id] : by_end_) {
    if (ended > ended_by) break;
    due.push_back(id);
  }
  return due;
}

}  // namespace drover::broker
