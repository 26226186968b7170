// The table of a job's steps that `submit` prints at a job's end (the
// summary) and `submit info` prints on request: one row per step with its
// state, attempt, worker, exit, start (relative to the job's first), run
// time, CPU time and peak memory, columns aligned, header first; the
// elements of an array share one row that counts their states and names the
// failed ones (submitter/step_groups.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "submitter/job_view.h"
#include "submitter/step_groups.h"

namespace drover::submit {

// The table is cut to fit this many columns (a terminal's usual width).
inline constexpr size_t kTableColumns = 80;

// The table's lines (without newlines) for the steps `rows` (indexes into
// `view`), in that order, an array's elements among them grouped
// (GroupElements). With `color`, each plain row's STATE in its tone
// (submitter/style.h); the columns line up on the plain text.
std::vector<std::string> StepTableLines(const JobView& view, const std::vector<uint32_t>& rows,
                                        bool color = false);
// The same for rows already grouped.
std::vector<std::string> StepTableLines(const JobView& view, const std::vector<TableEntry>& entries,
                                        bool color = false);

// The EXIT column's word for a step: the exit code, the signal's name, or
// what stopped it ("timeout", "lost", ...); "-" before its first end.
std::string ExitColumn(const StepView& v);

}  // namespace drover::submit
