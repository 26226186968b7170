// FinishedJobs: the summaries of ended jobs and when each is due to go.

#include "broker/core/finished_jobs.h"

#include <doctest/doctest.h>

namespace drover::broker {
namespace {

FinishedJob EndedAt(int64_t ms, std::string name = "") {
  FinishedJob job;
  job.name = std::move(name);
  job.ended_ms = ms;
  return job;
}

TEST_CASE("finished jobs: due by end time, oldest first, whatever the ids") {
  FinishedJobs jobs;
  jobs.Add(JobId(3), EndedAt(300));
  jobs.Add(JobId(1), EndedAt(500));
  jobs.Add(JobId(2), EndedAt(100));
  CHECK(jobs.EndedBy(99).empty());
  CHECK(jobs.EndedBy(300) == std::vector<JobId>{JobId(2), JobId(3)});
  CHECK(jobs.EndedBy(1000) == std::vector<JobId>{JobId(2), JobId(3), JobId(1)});
}

TEST_CASE("finished jobs: a forgotten job is no longer held or due") {
  FinishedJobs jobs;
  jobs.Add(JobId(1), EndedAt(100));
  jobs.Add(JobId(2), EndedAt(100));
  CHECK(jobs.Forget(JobId(1)));
  CHECK_FALSE(jobs.Forget(JobId(1)));
  CHECK_FALSE(jobs.Forget(JobId(7)));
  CHECK(jobs.Find(JobId(1)) == nullptr);
  CHECK(jobs.size() == 1);
  CHECK(jobs.EndedBy(1000) == std::vector<JobId>{JobId(2)});
}

TEST_CASE("finished jobs: adding a job again replaces it, end time included") {
  FinishedJobs jobs;
  jobs.Add(JobId(1), EndedAt(100, "old"));
  jobs.Add(JobId(1), EndedAt(900, "new"));
  REQUIRE(jobs.Find(JobId(1)) != nullptr);
  CHECK(jobs.Find(JobId(1))->name == "new");
  CHECK(jobs.size() == 1);
  CHECK(jobs.EndedBy(500).empty());
  CHECK(jobs.EndedBy(900) == std::vector<JobId>{JobId(1)});
  CHECK(jobs.Forget(JobId(1)));
  CHECK(jobs.EndedBy(1000).empty());
}

}  // namespace
}  // namespace drover::broker
