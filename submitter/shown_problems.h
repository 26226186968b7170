// How many of a job file's problems `submit` prints: a file with 200,000
// mistakes gets a screenful and a count of the rest, not 200,000 lines
// that scroll its first mistakes out of sight. `submit validate --all`
// prints every one (docs/submit.md).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace drover::submit {

// Enough to see what kind of mistakes a file has, and to fix the first of
// them; fewer than a terminal's scrollback.
inline constexpr size_t kProblemsShown = 50;

// The lines to print for a list of problems, one line each (as FormatProblem
// or the broker wrote them): all of them when they are at most `max_shown`,
// else the first `max_shown` and then MoreProblemsLine(the rest) followed by
// `more_hint`. A "... and N more problems" line the broker ended its list
// with counts as the N problems it stands for.
std::vector<std::string> ShownProblems(const std::vector<std::string>& lines, size_t max_shown,
                                       std::string_view more_hint);

}  // namespace drover::submit
