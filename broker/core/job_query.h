// Which jobs a ListJobs asks for (`submit jobs`): the filters and the
// order, apart from where the jobs come from. The caller passes only the
// jobs the asking client may see (Server::VisibleJobs): this picks among
// them and decides nothing about access.
#pragma once

#include <vector>

#include "shared/protocol.h"

namespace drover::broker {

// Whether `job` passes every filter `query` sets (ids, states, name glob,
// owner, submitted since). Limit and order are SelectJobs'.
bool MatchesQuery(const JobStatus& job, const ListJobs& query);

// The jobs of `jobs` that match, newest (highest id) first, at most
// `query.limit` of them (0: all); `matched` counts them before the limit.
JobList SelectJobs(std::vector<JobStatus> jobs, const ListJobs& query);

}  // namespace drover::broker
