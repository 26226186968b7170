// The table of a job's steps that `submit` prints at a job's end (the
// summary) and `submit info` prints on request: one row per step with its
// state, attempt, worker, exit, start (relative to the job's first), run
// time, CPU time and peak memory, columns aligned, header first.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "submitter/job_view.h"

namespace drover::submit {

// The table's lines (without newlines) for the steps `rows` (indexes into
// `view`), in that order. With `color`, each row's STATE in its tone
// (submitter/style.h); the columns line up on the plain text.
std::vector<std::string> StepTableLines(const JobView& view, const std::vector<uint32_t>& rows,
                                        bool color = false);

// The EXIT column's word for a step: the exit code, the signal's name, or
// what stopped it ("timeout", "lost", ...); "-" before its first end.
std::string ExitColumn(const StepView& v);

}  // namespace drover::submit
