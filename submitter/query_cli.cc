#include "submitter/query_cli.h"

#include <CLI/CLI.hpp>

namespace drover::submit {

void QueryCli::AddTo(CLI::App* app) {
  jobs_ = app->add_subcommand("jobs", "List jobs, newest first (the last 20 unless --limit)");
  jobs_->add_option("--state", jobs_query_.states,
                    "Only jobs in this state: running, succeeded, failed, cancelled; repeat or "
                    "separate with commas")
      ->delimiter(',')
      ->allow_extra_args(false);
  jobs_->add_option("--name", jobs_query_.name, "Only jobs whose name matches this glob (\"nightly-*\")");
  jobs_->add_option("--user", jobs_query_.user, "Only jobs submitted by this owner");
  jobs_->add_option("--since", jobs_query_.since,
                    "Only jobs submitted since: a time ago (2h, 7d), today, yesterday, a date "
                    "(2026-12-05), a date and time (\"2026-12-05 14:00\") or a time today "
                    "(14:00)");
  jobs_->add_option("--limit", jobs_query_.limit, "At most this many (0: all)")
      ->capture_default_str();
  jobs_->add_flag("--json", jobs_query_.json, "One JSON object per job instead of a table");

  info_ = app->add_subcommand("info", "Show a job's steps: state, worker, exit, times, CPU, memory");
  info_->add_option("job", info_query_.job, "Job id")->required();
  info_->add_flag("--failed", info_query_.failed_only, "Only the steps that did not succeed");
  info_->add_flag("--json", info_query_.json, "One JSON object instead of text");

  logs_ = app->add_subcommand(
      "logs", "Print steps' output as they wrote it (stdout unless --stderr or --both)");
  logs_->add_option("job", logs_query_.job, "Job id")->required();
  logs_->add_option("steps", logs_query_.show.steps,
                    "Step ids (default: every step, each line prefixed with its id)");
  CLI::Option* err = logs_->add_flag("--stderr", stderr_only_, "Their stderr instead of stdout");
  logs_->add_flag("--both", both_, "Their stdout and stderr, as they came")->excludes(err);
  logs_->add_option("--attempt", attempt_, "Only this attempt (default: each, announced)")
      ->check(CLI::Range(1u, 1u << 30));
  logs_->add_flag("-f,--follow", logs_query_.follow, "Go on printing as the job runs, to its end");
  logs_->add_option("--tail", tail_, "Only the last N lines (then, with --follow, new ones)")
      ->type_name("N");
  logs_->add_flag("--prefix", logs_query_.show.prefix, "Begin each line with [step-id]");
  logs_->add_flag("--json", logs_query_.show.json,
                  "One JSON object per line: step, attempt, stream, line");

  workers_ = app->add_subcommand("workers", "List the broker's workers and what they have");
  workers_->add_flag("--json", json_, "One JSON object per worker instead of a table");

  trace_ = app->add_subcommand(
      "trace", "Write a job's timeline as a Chrome trace, for ui.perfetto.dev or chrome://tracing");
  trace_->add_option("job", trace_query_.job, "Job id")->required();
  trace_->add_option("-o,--output", trace_query_.output, "Write it to FILE instead of stdout")
      ->type_name("FILE");
}

bool QueryCli::parsed() const {
  return jobs_->parsed() || info_->parsed() || logs_->parsed() || workers_->parsed() ||
         trace_->parsed();
}

int QueryCli::Run(Session& session, SignalFd& signals, const QueryTiming& timing) const {
  if (jobs_->parsed()) return RunJobs(session, jobs_query_, timing);
  if (info_->parsed()) return RunInfo(session, signals, info_query_, timing);
  if (workers_->parsed()) return RunWorkers(session, json_, timing);
  if (trace_->parsed()) return RunTrace(session, signals, trace_query_, timing);
  LogsQuery logs = logs_query_;
  logs.show.stdout_lines = !stderr_only_;
  logs.show.stderr_lines = stderr_only_ || both_;
  if (attempt_ > 0) logs.show.attempt = attempt_;
  if (logs_->count("--tail") > 0) logs.show.tail = tail_;
  // Several steps' lines mixed need telling apart; one step's are its own.
  if (logs.show.steps.size() != 1) logs.show.prefix = true;
  return RunLogs(session, signals, logs, timing);
}

}  // namespace drover::submit
