// submitter/shown_problems.h: a long list of problems cut to a screenful
// and a count of the rest.

#include "submitter/shown_problems.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "shared/job_load.h"

namespace drover::submit {
namespace {

std::vector<std::string> Numbered(size_t n) {
  std::vector<std::string> lines;
  for (size_t i = 0; i < n; ++i) lines.push_back("steps[" + std::to_string(i) + "]: bad");
  return lines;
}

TEST_CASE("a list no longer than the limit is shown whole") {
  CHECK(ShownProblems(Numbered(3), 3, " (hint)") == Numbered(3));
  CHECK(ShownProblems({}, 3, " (hint)").empty());
}

TEST_CASE("a longer list shows the first ones and counts the rest") {
  std::vector<std::string> expected = Numbered(3);
  expected.push_back("... and 197 more problems (hint)");
  CHECK(ShownProblems(Numbered(200), 3, " (hint)") == expected);
  expected.back() = "... and 1 more problem (hint)";
  CHECK(ShownProblems(Numbered(4), 3, " (hint)") == expected);
  CHECK(ShownProblems(Numbered(200'000), SIZE_MAX, "").size() == 200'000);
}

TEST_CASE("the broker's own count at the end of its list counts as its problems") {
  std::vector<std::string> reply = Numbered(1000);
  reply.push_back(MoreProblemsLine(199'000) + " (`submit validate --all` lists them all)");
  std::vector<std::string> expected = Numbered(50);
  expected.push_back("... and 199950 more problems (hint)");
  CHECK(ShownProblems(reply, 50, " (hint)") == expected);
  // Short enough to show whole: shown as the broker wrote it.
  CHECK(ShownProblems(reply, 300'000, " (hint)") == reply);
}

TEST_CASE("MoreProblemsLine and ParseMoreProblemsLine agree") {
  CHECK(MoreProblemsLine(2) == "... and 2 more problems");
  CHECK(MoreProblemsLine(1) == "... and 1 more problem");
  CHECK(ParseMoreProblemsLine(MoreProblemsLine(123) + " (and a hint)") == 123u);
  CHECK(ParseMoreProblemsLine(MoreProblemsLine(1)) == 1u);
  CHECK_FALSE(ParseMoreProblemsLine("steps[0]: bad").has_value());
  CHECK_FALSE(ParseMoreProblemsLine("... and many more problems").has_value());
  CHECK_FALSE(ParseMoreProblemsLine("... and 3 more steps").has_value());
}

}  // namespace
}  // namespace drover::submit
