#include "submitter/shown_problems.h"

#include <algorithm>
#include <optional>

#include "shared/job_load.h"

namespace drover::submit {

std::vector<std::string> ShownProblems(const std::vector<std::string>& lines, size_t max_shown,
                                       std::string_view more_hint) {
  size_t total = lines.size();
  size_t listed = lines.size();  // lines that are problems, not a count of them
  if (!lines.empty()) {
    if (const std::optional<size_t> more = ParseMoreProblemsLine(lines.back())) {
      listed = lines.size() - 1;
      total = listed + *more;
    }
  }
  if (total <= max_shown) return lines;
  std::vector<std::string> shown(lines.begin(), lines.begin() + std::min(listed, max_shown));
  shown.push_back(MoreProblemsLine(total - shown.size()) + std::string(more_hint));
  return shown;
}

}  // namespace drover::submit
