// The command-line flags for JobLimits, shared by `broker` and `submit` (and
// `submit validate`) so that a user checks a job file locally against the
// same limits the broker applies: one set of names, units and defaults.
// Header-only: it needs CLI11, which only the programs link.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>

#include "shared/job_load.h"

namespace drover {

// The flags' values, in the units people type; Apply() fills a JobLimits.
class JobLimitFlags {
 public:
  explicit JobLimitFlags(const JobLimits& defaults = {})
      : steps_(defaults.max_steps),
        job_mb_(defaults.max_job_bytes >> 20),
        argv_kb_(defaults.max_argv_bytes >> 10),
        env_kb_(defaults.max_env_bytes >> 10),
        env_vars_(defaults.max_env_vars),
        after_(defaults.max_after),
        stdin_mb_(defaults.max_stdin_bytes >> 20) {}

  // Adds --max-steps, --max-job-mb, --max-argv-kb, --max-env-kb,
  // --max-env-vars, --max-after and --max-stdin-mb to `app`.
  void Add(CLI::App* app, const std::string& group = "Job limits") {
    auto add = [&](const char* name, uint64_t* value, const char* text, uint64_t max) {
      app->add_option(name, *value, text)
          ->capture_default_str()
          ->check(CLI::Range(uint64_t{1}, max))
          ->group(group);
    };
    add("--max-steps", &steps_, "Most steps one job may have", uint64_t{1} << 32);
    add("--max-job-mb", &job_mb_, "Largest job file (as MessagePack), in MiB", 4095);
    add("--max-argv-kb", &argv_kb_, "Largest command line of one step (argv or cmd), in KiB",
        uint64_t{1} << 20);
    add("--max-env-kb", &env_kb_, "Largest environment of one step, in KiB", uint64_t{1} << 20);
    add("--max-env-vars", &env_vars_, "Most variables in one step's env", uint64_t{1} << 24);
    add("--max-after", &after_, "Most entries in one step's `after`", uint64_t{1} << 32);
    add("--max-stdin-mb", &stdin_mb_,
        "Largest inline stdin a step may have, in MiB", 4095);
  }

  JobLimits Apply() const {
    JobLimits limits;
    limits.max_steps = steps_;
    limits.max_job_bytes = job_mb_ << 20;
    limits.max_argv_bytes = argv_kb_ << 10;
    limits.max_env_bytes = env_kb_ << 10;
    limits.max_env_vars = env_vars_;
    limits.max_after = after_;
    limits.max_stdin_bytes = stdin_mb_ << 20;
    return limits;
  }

 private:
  uint64_t steps_, job_mb_, argv_kb_, env_kb_, env_vars_, after_, stdin_mb_;
};

}  // namespace drover
