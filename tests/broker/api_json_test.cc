// The dashboard's JSON API (broker/http/api_json.h): the jobs query, the
// overview, one job's answer, and how a big job's answer is cut.

#include "broker/http/api_json.h"

#include <doctest/doctest.h>

#include <string>

namespace drover::broker::http {
namespace {

using nlohmann::json;

constexpr int64_t kT = 1'700'000'000'000;

JobSpec Spec(size_t steps) {
  JobSpec spec;
  spec.name = "sweep";
  for (size_t i = 0; i < steps; ++i) {
    StepSpec s;
    s.id = "s" + std::to_string(i);
    if (i > 0) s.after = {StepIndex(0)};
    spec.steps.push_back(std::move(s));
  }
  return spec;
}

RunResult Exited(int code, int64_t started, int64_t ended) {
  RunResult run;
  run.exit_code = code;
  run.started_ms = started;
  run.ended_ms = ended;
  run.user_cpu_us = 2'000'000;
  run.max_rss_kb = 4096;
  return run;
}

JobStatus Status(JobId id, const std::string& name, JobState state) {
  JobStatus j{id, name, state, std::vector<uint32_t>(kStepStateCount, 0)};
  j.owner = "ann";
  return j;
}

TEST_CASE("api: the jobs query names a bad filter and its value") {
  CHECK(ParseJobsQuery("", "", "", "").value().limit == 100);
  const ListJobs q = ParseJobsQuery("failed", "nightly-*", "ann", "0").value();
  CHECK(q.states == std::vector<JobState>{JobState::kFailed});
  CHECK(q.name_glob == "nightly-*");
  CHECK(q.owner == "ann");
  CHECK(q.limit == 0);
  CHECK(ParseJobsQuery("bogus", "", "", "").status().message() ==
        "state=bogus: not a job state (running, succeeded, failed, cancelled)");
  CHECK(ParseJobsQuery("", "", "", "ten").status().message() == "limit=ten: not a count of jobs");
  CHECK_FALSE(ParseJobsQuery("", "", "", "-1").ok());
}

TEST_CASE("api: the overview has the workers and the jobs the query picks, newest first") {
  Snapshot s;
  s.now_ms = kT;
  WorkerStatus w;
  w.name = "a";
  w.slots = 4;
  w.used = 1;
  w.resources = {{"gpu", 2}, {"mem", 8 << 20}};
  w.resources_used = {{"gpu", 1}};
  WorkerStatus out = w;
  out.name = "b";
  out.silent_ms = 4000;
  s.workers = {w, out};
  s.jobs = {Status(JobId(1), "old", JobState::kSucceeded),
            Status(JobId(2), "new", JobState::kFailed),
            Status(JobId(3), "newest", JobState::kRunning)};
  const json o = OverviewJson(s, ParseJobsQuery("", "", "", "2").value(), "127.0.0.1:7780");
  CHECK(o["broker"]["http"] == "127.0.0.1:7780");
  REQUIRE(o["workers"].size() == 2);
  CHECK(o["workers"][0]["state"] == "connected");
  CHECK(o["workers"][1]["state"] == "out of touch");
  CHECK(o["workers"][0]["resources"][0] == json{{"name", "gpu"}, {"total", 2}, {"used", 1}});
  CHECK(o["workers"][0]["resources"][1]["used"] == 0);
  REQUIRE(o["jobs"].size() == 2);
  CHECK(o["jobs"][0]["id"] == 3);
  CHECK(o["jobs"][1]["id"] == 2);
  CHECK(o["jobs_matched"] == 3);
  CHECK(o["jobs"][0]["counts"].size() == static_cast<size_t>(kStepStateCount));
  CHECK(o["jobs"][0]["counts"]["queued"] == 0);
  const json failed = OverviewJson(s, ParseJobsQuery("failed", "", "", "").value(), "");
  REQUIRE(failed["jobs"].size() == 1);
  CHECK(failed["jobs"][0]["name"] == "new");
}

TEST_CASE("api: one job's steps, attempts with their step ids, lanes and failed output") {
  const JobSpec spec = Spec(3);
  JobHistory h(3);
  h.Apply(StepStarted{StepIndex(0), Attempt(1), "a", kT});
  h.Apply(
      StepEnded{StepIndex(0), Attempt(1), StepState::kSucceeded, "", "a", Exited(0, kT, kT + 100)});
  h.Apply(StepStarted{StepIndex(1), Attempt(1), "a", kT + 200});
  h.Apply(StepStarted{StepIndex(2), Attempt(1), "b", kT + 200});
  h.Apply(StepOutput{StepIndex(2), Attempt(1), Stream::kStderr, Blob{std::string("oops\n")}});
  h.Apply(StepEnded{StepIndex(2), Attempt(1), StepState::kFailed, "exited with code 2", "b",
                    Exited(2, kT + 210, kT + 400)});
  const std::vector<WorkerLanes> lanes = h.AssignLanes(kT + 1000);
  const json j = JobJson(Status(JobId(5), "sweep", JobState::kRunning), spec, h, lanes, kT + 1000);
  CHECK(j["steps_total"] == 3);
  REQUIRE(j["steps"].size() == 3);
  CHECK(j["steps"][1]["after"] == json::array({0}));
  CHECK(j["steps"][1]["index"] == 1);
  CHECK(j["steps"][1]["state"] == "running");
  CHECK(j["steps"][1]["outcome"] == nullptr);
  CHECK(j["steps"][2]["exit_code"] == 2);
  CHECK(j["steps"][2]["duration_ms"] == 190);
  CHECK(j["steps"][2]["cpu_ms"] == 2000);
  CHECK(j["attempts_total"] == 3);
  REQUIRE(j["attempts"].size() == 3);
  CHECK(j["attempts"][1]["step_id"] == "s1");
  CHECK(j["attempts"][1]["end_ms"] == 0);  // running
  CHECK(j["attempts"][2]["state"] == "failed");
  CHECK(j["output"]["2"] == json::array({"oops"}));
  CHECK(j["output_ids"]["2"] == "s2");
  CHECK(j["lanes"] ==
        json::array({{{"worker", "a"}, {"lanes", 1}}, {{"worker", "b"}, {"lanes", 1}}}));
}

TEST_CASE(
    "api: a big job's answer lists only steps that did not succeed, and the latest attempts") {
  const size_t n = 6000;
  const JobSpec spec = Spec(n);
  JobHistory h(n);
  for (uint32_t i = 0; i < n; ++i) {
    const int64_t t = kT + i;
    h.Apply(StepStarted{StepIndex(i), Attempt(1), "a", t});
    const bool fails = i % 10 == 9;
    if (fails)
      h.Apply(StepOutput{StepIndex(i), Attempt(1), Stream::kStdout, Blob{std::string("x\n")}});
    h.Apply(StepEnded{StepIndex(i), Attempt(1), fails ? StepState::kFailed : StepState::kSucceeded,
                      "", "a", Exited(fails ? 1 : 0, t, t + 1)});
  }
  JobStatus status = Status(JobId(9), "big", JobState::kFailed);
  status.counts[static_cast<size_t>(StepState::kSucceeded)] = 5400;
  status.counts[static_cast<size_t>(StepState::kFailed)] = 600;
  const json j = JobJson(status, spec, h, h.AssignLanes(kT + n), kT + n);
  CHECK(j["steps_total"] == n);
  // Only those that did not succeed, each with its index.
  REQUIRE(j["steps"].size() == 600);
  CHECK(j["steps"][0]["index"] == 9);
  CHECK(j["steps"][0]["id"] == "s9");
  CHECK(j["steps"][0]["state"] == "failed");
  CHECK(j["steps"][599]["index"] == 5999);
  CHECK(j["counts"]["failed"] == 600);
  CHECK(j["attempts_total"] == n);
  REQUIRE(j["attempts"].size() == 5000);
  CHECK(j["attempts"][0]["step"] == 1000);  // the latest ones
  CHECK(j["attempts"][4999]["step_id"] == "s5999");
  CHECK(j["output"].size() == 100);
  CHECK(j["output_ids"]["9"] == "s9");
  CHECK(j.dump().size() < (2 << 20));
}

TEST_CASE("api: past 100,000 steps a job's answer is its summary, saying why") {
  JobStatus status = Status(JobId(3), "huge", JobState::kRunning);
  status.counts[static_cast<size_t>(StepState::kWaiting)] = 100'000;
  CHECK(ShowsDetail(status));
  status.counts[static_cast<size_t>(StepState::kRunning)] = 1;
  CHECK_FALSE(ShowsDetail(status));
  const json j = JobSummaryOnlyJson(status, kT);
  CHECK(j["steps_total"] == 100'001);
  CHECK(j["steps"].empty());
  CHECK(j["attempts"].empty());
  CHECK(j["counts"]["running"] == 1);
  CHECK(j["omitted"].get<std::string>().find("this job has 100001 steps") == 0);
}

}  // namespace
}  // namespace drover::broker::http
