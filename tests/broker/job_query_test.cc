// broker/core/job_query.h: which jobs `submit jobs` lists, in what order.

#include "broker/core/job_query.h"

#include <doctest/doctest.h>

namespace drover::broker {
namespace {

JobStatus Job(uint64_t id, std::string name, JobState state, std::string owner,
              int64_t submitted_ms) {
  JobStatus j;
  j.id = JobId(id);
  j.name = std::move(name);
  j.state = state;
  j.owner = std::move(owner);
  j.submitted_ms = submitted_ms;
  return j;
}

std::vector<JobStatus> Jobs() {
  return {Job(1, "nightly-a", JobState::kSucceeded, "alice", 1000),
          Job(2, "sweep", JobState::kFailed, "bob", 2000),
          Job(3, "nightly-b", JobState::kRunning, "alice", 3000),
          Job(4, "", JobState::kCancelled, "", 0)};
}

std::vector<uint64_t> Ids(const JobList& list) {
  std::vector<uint64_t> ids;
  for (const JobStatus& j : list.jobs) ids.push_back(j.id.value);
  return ids;
}

TEST_CASE("newest first, all of them without filters") {
  const JobList all = SelectJobs(Jobs(), ListJobs{});
  CHECK(Ids(all) == std::vector<uint64_t>{4, 3, 2, 1});
  CHECK(all.matched == 4);
}

TEST_CASE("every filter given must match") {
  ListJobs q;
  q.states = {JobState::kSucceeded, JobState::kRunning};
  CHECK(Ids(SelectJobs(Jobs(), q)) == std::vector<uint64_t>{3, 1});
  q.owner = "alice";
  q.name_glob = "nightly-*";
  CHECK(Ids(SelectJobs(Jobs(), q)) == std::vector<uint64_t>{3, 1});
  q.since_ms = 1500;
  CHECK(Ids(SelectJobs(Jobs(), q)) == std::vector<uint64_t>{3});
  q = ListJobs{};
  q.name_glob = "sw?ep";
  CHECK(Ids(SelectJobs(Jobs(), q)) == std::vector<uint64_t>{2});
  q = ListJobs{};
  q.ids = {JobId(2), JobId(4), JobId(9)};
  CHECK(Ids(SelectJobs(Jobs(), q)) == std::vector<uint64_t>{4, 2});
}

TEST_CASE("a job of unknown submission time is older than any --since") {
  ListJobs q;
  q.since_ms = 1;
  CHECK(Ids(SelectJobs(Jobs(), q)) == std::vector<uint64_t>{3, 2, 1});
}

TEST_CASE("the limit keeps the newest and counts what it cut") {
  ListJobs q;
  q.limit = 2;
  const JobList two = SelectJobs(Jobs(), q);
  CHECK(Ids(two) == std::vector<uint64_t>{4, 3});
  CHECK(two.matched == 4);
  q.owner = "nobody";
  const JobList none = SelectJobs(Jobs(), q);
  CHECK(none.jobs.empty());
  CHECK(none.matched == 0);
}

}  // namespace
}  // namespace drover::broker
