// FinishedJobs: what the broker keeps of the jobs that have ended, once the
// scheduler has let them go, and when each is due to be forgotten.
//
// A finished job is a summary (its counts, which steps succeeded, for
// --resume), not its steps: small, but one per job, so a broker that runs for
// months keeps them only for a while (broker --forget-after). Plain data and
// no clock: times are Unix milliseconds passed in, since retention counts
// across restarts and the monotonic clock does not.
//
// Invariants: every job held is in the end-time index exactly once, under
// the end time it holds; Forget() of a job not held changes nothing.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "shared/ids.h"
#include "shared/states.h"

namespace drover::broker {

struct FinishedJob {
  std::string name;
  std::string key;  // the client's submission key: a repeat is answered
  JobState state = JobState::kSucceeded;
  std::vector<uint32_t> counts;  // steps in each StepState
  std::string succeeded;         // one bit per step (bit i of byte i/8), for --resume
  std::string reason = {};       // why it failed, when no step did (replay)
  int64_t submitted_ms = 0;      // Unix ms; 0: not known (journaled by an older broker)
  int64_t ended_ms = 0;          // Unix ms
  // Steps whose stdout the spool captured (others read it with
  // stdin_from): their files go when the job is forgotten.
  std::vector<uint32_t> captured = {};
  // Who submitted it (recovery.h, JobRecord): owner_key "" without keys.
  std::string owner = {};
  std::string owner_key = {};
};

class FinishedJobs {
 public:
  // Adds or replaces job `id`'s summary.
  void Add(JobId id, FinishedJob job);
  // Drops job `id`; false if it was not held.
  bool Forget(JobId id);

  const FinishedJob* Find(JobId id) const;
  const std::map<JobId, FinishedJob>& all() const { return jobs_; }
  size_t size() const { return jobs_.size(); }

  // The jobs that ended at or before `ended_by` (Unix ms), oldest first.
  std::vector<JobId> EndedBy(int64_t ended_by) const;

 private:
  std::map<JobId, FinishedJob> jobs_;
  std::set<std::pair<int64_t, JobId>> by_end_;
};

}  // namespace drover::broker
