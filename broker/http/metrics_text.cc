// /metrics (metrics_text.h).

#include "broker/http/metrics_text.h"

#include "shared/job_draft.h"  // IsValidUtf8

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <map>
#include <string_view>

namespace drover::broker::http {
namespace {

class Exposition {
 public:
  // Starts metric `name`: its HELP and TYPE lines.
  void Family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name,
                   type);
  }
  void Sample(std::string_view name, double value) {
    fmt::format_to(std::back_inserter(out_), "{} {}\n", name, value);
  }
  // One label; `value` escaped as the format asks (\\, \", \n).
  void Sample(std::string_view name, std::string_view label, std::string_view value, double v) {
    fmt::format_to(std::back_inserter(out_), "{}{{{}=\"{}\"}} {}\n", name, label, Escape(value), v);
  }
  void Histogram(std::string_view name, std::string_view help, const broker::Histogram& h) {
    Family(name, "histogram", help);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h.bounds().size(); ++i) {
      cumulative += h.buckets()[i];
      fmt::format_to(std::back_inserter(out_), "{}_bucket{{le=\"{}\"}} {}\n", name, h.bounds()[i],
                     cumulative);
    }
    fmt::format_to(std::back_inserter(out_), "{}_bucket{{le=\"+Inf\"}} {}\n", name, h.count());
    fmt::format_to(std::back_inserter(out_), "{}_sum {}\n{}_count {}\n", name, h.sum(), name,
                   h.count());
  }
  std::string Take() { return std::move(out_); }

 private:
  // A label value must be UTF-8, or the whole scrape fails: a name that
  // is not (worker names are anyone's bytes) keeps its ASCII only.
  static std::string Escape(std::string_view value) {
    const bool utf8 = IsValidUtf8(value);
    std::string out;
    for (char c : value) {
      if (!utf8 && static_cast<unsigned char>(c) >= 0x80) {
        out += '?';
        continue;
      }
      if (c == '\\' || c == '"') {
        out += '\\';
        out += c;
      } else if (c == '\n') {
        out += "\\n";
      } else {
        out += c;
      }
    }
    return out;
  }

  std::string out_;
};

}  // namespace

std::string MetricsText(const Snapshot& snapshot, const ProcessFigures& process) {
  Exposition e;
  const BrokerMetrics& m = snapshot.metrics;

  std::array<uint64_t, kStepStateCount> steps{};
  std::array<uint64_t, BrokerMetrics::kJobStates> jobs{};
  for (const JobStatus& j : snapshot.jobs) {
    ++jobs[static_cast<size_t>(j.state)];
    for (size_t i = 0; i < j.counts.size() && i < steps.size(); ++i) steps[i] += j.counts[i];
  }
  e.Family("drover_jobs", "gauge",
           "Jobs the broker holds (running, or ended and not yet forgotten), by state.");
  for (int i = 0; i < BrokerMetrics::kJobStates; ++i) {
    e.Sample("drover_jobs", "state", JobStateName(static_cast<JobState>(i)),
             jobs[static_cast<size_t>(i)]);
  }
  e.Family("drover_steps", "gauge", "Steps of the jobs the broker holds, by state.");
  for (int i = 0; i < kStepStateCount; ++i) {
    e.Sample("drover_steps", "state", StepStateName(static_cast<StepState>(i)),
             steps[static_cast<size_t>(i)]);
  }

  // As the page names them, with "_" for spaces (label values by custom).
  std::map<std::string, uint64_t> workers{{"connected", 0}, {"out_of_touch", 0}, {"draining", 0}};
  for (const WorkerStatus& w : snapshot.workers) {
    std::string state = WorkerStateName(w);
    std::replace(state.begin(), state.end(), ' ', '_');
    ++workers[state];
  }
  e.Family("drover_workers", "gauge", "Workers the broker knows, by state.");
  for (const auto& [state, n] : workers)
    e.Sample("drover_workers", "state", state, static_cast<double>(n));
  e.Family("drover_worker_slots", "gauge", "Slots a worker has.");
  for (const WorkerStatus& w : snapshot.workers)
    e.Sample("drover_worker_slots", "worker", w.name, w.slots);
  e.Family("drover_worker_slots_busy", "gauge", "Slots of a worker its steps hold.");
  for (const WorkerStatus& w : snapshot.workers)
    e.Sample("drover_worker_slots_busy", "worker", w.name, w.used);

  e.Family("drover_jobs_submitted_total", "counter", "Jobs accepted since the broker started.");
  e.Sample("drover_jobs_submitted_total", static_cast<double>(m.jobs_submitted));
  e.Family("drover_jobs_ended_total", "counter",
           "Jobs that ended since the broker started, by state.");
  for (int i = 0; i < BrokerMetrics::kJobStates; ++i) {
    e.Sample("drover_jobs_ended_total", "state", JobStateName(static_cast<JobState>(i)),
             static_cast<double>(m.jobs_ended[static_cast<size_t>(i)]));
  }
  e.Family("drover_dispatches_total", "counter",
           "Attempts sent to workers since the broker started.");
  e.Sample("drover_dispatches_total", static_cast<double>(m.attempts_started));
  e.Family("drover_results_total", "counter",
           "Attempts that ended since the broker started, by outcome.");
  for (int i = 0; i < BrokerMetrics::kOutcomes; ++i) {
    e.Sample("drover_results_total", "outcome", OutcomeName(static_cast<Outcome>(i)),
             static_cast<double>(m.attempts_ended[static_cast<size_t>(i)]));
  }
  e.Histogram("drover_step_duration_seconds",
              "How long attempts ran, as their workers measured (lost ones left out).",
              m.attempt_seconds);
  e.Histogram("drover_journal_sync_seconds",
              "How long each background fdatasync of the journal took.", m.journal_sync_seconds);

  e.Family("drover_spool_bytes", "gauge",
           "Bytes in the spool: the jobs' event logs, files and captured output.");
  e.Sample("drover_spool_bytes", static_cast<double>(process.spool_bytes));
  e.Family("drover_connections", "gauge", "Peers connected to the broker, by role.");
  e.Sample("drover_connections", "role", "worker", snapshot.worker_connections);
  e.Sample("drover_connections", "role", "client", snapshot.client_connections);
  e.Family("process_resident_memory_bytes", "gauge", "The broker's resident memory.");
  e.Sample("process_resident_memory_bytes", static_cast<double>(process.rss_bytes));
  e.Family("process_open_fds", "gauge", "File descriptors the broker has open.");
  e.Sample("process_open_fds", static_cast<double>(process.open_fds));
  e.Family("process_start_time_seconds", "gauge", "When the broker started, Unix seconds.");
  e.Sample("process_start_time_seconds", static_cast<double>(snapshot.started_ms) / 1000);
  return e.Take();
}

}  // namespace drover::broker::http
