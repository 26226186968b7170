// CarryOver: what a resumed job keeps of the job it resumes (`submit
// --resume JOB [FILE]`, docs/submit.md): which of its steps start out
// succeeded, taken over from which step of the old job, and which of the
// old job's steps it no longer has. Pure: the broker's server reads the old
// job's file and summary, the new file, and asks here.
//
// A step of the new job carries over when
//   1. the old job has a step of the same id, and that step succeeded;
//   2. the two do the same work (SameWork): argv or cmd, env (in any
//      order), cwd, stdin, and stdin_from naming the same step. The other
//      fields say when, where and how often it runs (after, when, retries,
//      timeouts, slots, requires, resources, priority, hints) and may
//      change without making it run again;
//   3. every step in its `after` carries over too: a step whose inputs are
//      made again is run again (for stdin_from that is plain; for `after`
//      it is what an edge usually means, and it makes a cleanup step run
//      again after the work it cleans up);
//   4. when a step of the new job reads its stdout (stdin_from), the old
//      job kept that stdout (a step of the old one read it too): else it
//      runs again to make it.
// Steps of the old job with no step of the same id in the new one are
// dropped. Resuming without an edited file is the same rule with both files
// the same: the steps that succeeded carry over, except those after a step
// that did not (an `always` or `failure` step after one that failed).
//
// Invariants of a plan (CheckCarryOver):
//   1. from.size() == the new job's steps; from[i], when set, names a step
//      of the old job with the same id that succeeded.
//   2. Every after-step of a step that carries over carries over too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shared/job_spec.h"

namespace drover::broker {

struct CarryOver {
  // Per step of the new job: the step of the old job it carries over, or
  // nullopt when it runs.
  std::vector<std::optional<StepIndex>> from;
  // Ids of the old job's steps that the new job has not, in file order.
  std::vector<std::string> dropped;

  size_t carried() const;
  // Per step of the new job: whether it carries over (starts succeeded).
  std::vector<bool> Succeeded() const;
};

// Whether steps `a` (of job `a_job`) and `b` (of job `b_job`) do the same
// work, by rule 2 above.
bool SameWork(const JobSpec& a_job, const StepSpec& a, const JobSpec& b_job, const StepSpec& b);

// The plan for job `next` resuming `old`. `old_succeeded` has a flag per
// step of `old`; `old_captured` lists the steps of `old` whose stdout the
// spool kept. REQUIRES: both specs from LoadJob (ids unique, no cycles).
CarryOver PlanCarryOver(const JobSpec& old, const std::vector<bool>& old_succeeded,
                        const std::vector<uint32_t>& old_captured, const JobSpec& next);

// The plan of a journaled resumed job: `succeeded` its steps that carried
// over, `from` the old job's step of each (empty: the same indexes).
CarryOver CarryOverFromRecord(size_t steps, const std::vector<uint32_t>& succeeded,
                              const std::vector<uint32_t>& from);

// Throws std::logic_error naming the first broken invariant of `plan`.
void CheckCarryOver(const CarryOver& plan, const JobSpec& old,
                    const std::vector<bool>& old_succeeded, const JobSpec& next);

}  // namespace drover::broker
