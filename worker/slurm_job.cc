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
  // A stuck slurmctld must not hold the worker's start for long.
  const std::string command = "timeout 20 squeue -h -o %L -j " + job_id + " 2>&1";
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
  std::optional<int64_t> left = ParseDurationMs(out);
  if (!left) *why = "the job has no time limit (squeue says " + out + ")";
  return left;
}

}  // namespace drover::worker
