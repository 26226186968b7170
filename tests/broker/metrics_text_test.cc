// /metrics' text (broker/http/metrics_text.h) and the histograms it shows
// (broker/metrics.h).

#include "broker/http/metrics_text.h"

#include <doctest/doctest.h>

#include <string>

namespace drover::broker::http {
namespace {

bool Has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST_CASE("histograms count each value in the first bucket whose bound is at or above it") {
  Histogram h({1, 10});
  h.Observe(0.5);
  h.Observe(1);  // "le": on the bound counts in it
  h.Observe(5);
  h.Observe(50);
  CHECK(h.buckets() == std::vector<uint64_t>{2, 1, 1});
  CHECK(h.count() == 4);
  CHECK(h.sum() == doctest::Approx(56.5));
}

TEST_CASE("metrics: jobs, steps, workers, counters and histograms in the text format") {
  Snapshot s;
  s.started_ms = 1'700'000'000'500;
  JobStatus running{JobId(1), "a", JobState::kRunning, {}};
  running.counts.assign(kStepStateCount, 0);
  running.counts[static_cast<size_t>(StepState::kSucceeded)] = 3;
  running.counts[static_cast<size_t>(StepState::kRunning)] = 2;
  JobStatus failed{JobId(2), "b", JobState::kFailed, {}};
  failed.counts.assign(kStepStateCount, 0);
  failed.counts[static_cast<size_t>(StepState::kSucceeded)] = 4;
  failed.counts[static_cast<size_t>(StepState::kFailed)] = 1;
  s.jobs = {running, failed};
  WorkerStatus a;
  a.name = "a";
  a.slots = 4;
  a.used = 2;
  WorkerStatus b;
  b.name = "node\"7";  // escaped in a label
  b.slots = 1;
  b.silent_ms = 3000;
  s.workers = {a, b};
  s.worker_connections = 1;
  s.client_connections = 2;
  s.metrics.jobs_submitted = 2;
  s.metrics.jobs_ended[static_cast<size_t>(JobState::kFailed)] = 1;
  s.metrics.attempts_started = 9;
  s.metrics.attempts_ended[static_cast<size_t>(Outcome::kExited)] = 7;
  s.metrics.attempt_seconds.Observe(0.05);
  s.metrics.attempt_seconds.Observe(2);
  const std::string text = "\n" + MetricsText(s, ProcessFigures{1 << 20, 12, 4096});

  CHECK(Has(text, "# TYPE drover_steps gauge"));
  CHECK(Has(text, "drover_steps{state=\"succeeded\"} 7"));
  CHECK(Has(text, "drover_steps{state=\"running\"} 2"));
  CHECK(Has(text, "drover_steps{state=\"failed\"} 1"));
  CHECK(Has(text, "drover_jobs{state=\"running\"} 1"));
  CHECK(Has(text, "drover_jobs{state=\"failed\"} 1"));
  CHECK(Has(text, "drover_jobs{state=\"succeeded\"} 0"));
  CHECK(Has(text, "drover_workers{state=\"connected\"} 1"));
  CHECK(Has(text, "drover_workers{state=\"out_of_touch\"} 1"));
  CHECK(Has(text, "drover_workers{state=\"draining\"} 0"));
  CHECK(Has(text, "drover_worker_slots{worker=\"a\"} 4"));
  CHECK(Has(text, "drover_worker_slots_busy{worker=\"a\"} 2"));
  CHECK(Has(text, "drover_worker_slots{worker=\"node\\\"7\"} 1"));
  CHECK(Has(text, "# TYPE drover_dispatches_total counter"));
  CHECK(Has(text, "drover_dispatches_total 9"));
  CHECK(Has(text, "drover_results_total{outcome=\"exited\"} 7"));
  CHECK(Has(text, "drover_jobs_submitted_total 2"));
  CHECK(Has(text, "drover_jobs_ended_total{state=\"failed\"} 1"));
  CHECK(Has(text, "# TYPE drover_step_duration_seconds histogram"));
  CHECK(Has(text, "drover_step_duration_seconds_bucket{le=\"0.01\"} 0"));
  CHECK(Has(text, "drover_step_duration_seconds_bucket{le=\"0.1\"} 1"));  // cumulative
  CHECK(Has(text, "drover_step_duration_seconds_bucket{le=\"5\"} 2"));
  CHECK(Has(text, "drover_step_duration_seconds_bucket{le=\"+Inf\"} 2"));
  CHECK(Has(text, "drover_step_duration_seconds_count 2"));
  CHECK(Has(text, "drover_step_duration_seconds_sum 2.05"));
  CHECK(Has(text, "drover_journal_sync_seconds_count 0"));
  CHECK(Has(text, "drover_spool_bytes 4096"));
  CHECK(Has(text, "drover_connections{role=\"client\"} 2"));
  CHECK(Has(text, "process_resident_memory_bytes 1048576"));
  CHECK(Has(text, "process_open_fds 12"));
  CHECK(Has(text, "process_start_time_seconds 1700000000.5"));
}

}  // namespace
}  // namespace drover::broker::http
