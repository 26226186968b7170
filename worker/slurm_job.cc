#include "worker/slurm_job.h"

#include <stdio.h>
#include <sys/wait.h>

#include <cstdlib>

#include "shared/durations.h"

namespace drover::worker {

std::string SlurmJobId() {
  const char* id = std::getenv("SLURM_JOB_ID");
  return id != nullptr ? id : "";
}

std::optional<int64_t> SlurmTimeLeftMs(const std::string& job_id, std::string* why) {
  for (char c : job_id) {
    if (c < '0' || c > '9') {  // it goes into a command line
      *why = "SLURM_JOB_ID is not a number: " + job_id;
      return std::nullopt;
    }
  }
  // A stuck slurmctld must not hold the worker's start for long. KILL: the
  // worker blocks TERM (signal_fd.h), and its children inherit that.
  const std::string command = "timeout -s KILL 20 squeue -h -o %L -j " + job_id + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    *why = "cannot run squeue";
    return std::nullopt;
  }
  std::string out;
  char buf[256];
  while (fgets(buf, sizeof buf, pipe) != nullptr) out += buf;
  const int status = pclose(pipe);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  if (status != 0 || out.empty()) {
    *why = "squeue -j " + job_id + " failed" + (out.empty() ? "" : ": " + out);
    return std::nullopt;
  }
  // One line per job; a job array's first task may list its siblings too.
  const std::string first = out.substr(0, out.find('\n'));
  std::optional<int64_t> left = ParseDurationMs(first);
  if (!left && (first == "UNLIMITED" || first == "NOT_SET")) {
    *why = "the job has no time limit (squeue says " + first + ")";
  } else if (!left) {
    *why = "cannot read the job's time left from squeue: " + out.substr(0, 200);
  }
  return left;
}

}  // namespace drover::worker
