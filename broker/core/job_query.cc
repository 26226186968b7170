#include "broker/core/job_query.h"

#include <fnmatch.h>

#include <algorithm>

namespace drover::broker {

bool MatchesQuery(const JobStatus& job, const ListJobs& query) {
  if (!query.ids.empty() &&
      std::find(query.ids.begin(), query.ids.end(), job.id) == query.ids.end()) {
    return false;
  }
  if (!query.states.empty() &&
      std::find(query.states.begin(), query.states.end(), job.state) == query.states.end()) {
    return false;
  }
  if (!query.name_glob.empty() && fnmatch(query.name_glob.c_str(), job.name.c_str(), 0) != 0) {
    return false;
  }
  if (!query.owner.empty() && job.owner != query.owner) return false;
  // A job whose submission time is unknown (0: from an older broker) is
  // older than any --since.
  if (query.since_ms > 0 && job.submitted_ms < query.since_ms) return false;
  return true;
}

JobList SelectJobs(std::vector<JobStatus> jobs, const ListJobs& query) {
  std::erase_if(jobs, [&](const JobStatus& j) { return !MatchesQuery(j, query); });
  JobList list;
  list.matched = static_cast<uint32_t>(jobs.size());
  std::sort(jobs.begin(), jobs.end(),
            [](const JobStatus& a, const JobStatus& b) { return b.id < a.id; });
  if (query.limit > 0 && jobs.size() > query.limit) jobs.resize(query.limit);
  list.jobs = std::move(jobs);
  return list;
}

}  // namespace drover::broker
