// submitter/output_selection.h and submitter/style.h: which steps' output
// `submit` prints (--quiet, --show), and when it colours what it says
// (--color, NO_COLOR, whether the stream is a terminal).

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "submitter/output_selection.h"
#include "submitter/style.h"

namespace drover::submit {
namespace {

const std::vector<std::string> kIds = {"fetch", "train-a", "train-b", "eval"};

TEST_CASE("--show takes step ids and globs, and nothing else is shown") {
  std::vector<std::string> problems;
  OutputSelection s = OutputSelection::Of({"train-*", "eval"}, kIds, "jobs.json", &problems);
  CHECK(problems.empty());
  CHECK_FALSE(s.Shows(StepIndex(0)));
  CHECK(s.Shows(StepIndex(1)));
  CHECK(s.Shows(StepIndex(2)));
  CHECK(s.Shows(StepIndex(3)));
  CHECK(s.hides_any());
  // An id is matched whole, not as a prefix.
  s = OutputSelection::Of({"train-a"}, kIds, "jobs.json", &problems);
  CHECK(problems.empty());
  CHECK(s.Shows(StepIndex(1)));
  CHECK_FALSE(s.Shows(StepIndex(2)));
  CHECK(OutputSelection::All().Shows(StepIndex(3)));
  CHECK_FALSE(OutputSelection::All().hides_any());
  CHECK_FALSE(OutputSelection::None().Shows(StepIndex(0)));
}

TEST_CASE("--show takes an array's id for all its elements") {
  const std::vector<std::string> ids = {"count[0]", "count[1]", "counter", "count[x]", "gen[0]"};
  std::vector<std::string> problems;
  OutputSelection s = OutputSelection::Of({"count"}, ids, "jobs.json", &problems);
  CHECK(problems.empty());
  CHECK(s.Shows(StepIndex(0)));
  CHECK(s.Shows(StepIndex(1)));
  CHECK_FALSE(s.Shows(StepIndex(2)));
  CHECK_FALSE(s.Shows(StepIndex(3)));
  CHECK_FALSE(s.Shows(StepIndex(4)));
  s = OutputSelection::Of({"count[1]"}, ids, "jobs.json", &problems);  // one element
  CHECK_FALSE(s.Shows(StepIndex(0)));
  CHECK(s.Shows(StepIndex(1)));
}

TEST_CASE("--show naming no step of the job is a problem that names it") {
  std::vector<std::string> problems;
  OutputSelection::Of({"trian-a", "fetch", "test-*", "zzz"}, kIds, "jobs.json", &problems);
  REQUIRE(problems.size() == 3);
  CHECK(problems[0] == "--show: jobs.json has no step \"trian-a\" (did you mean \"train-a\"?)");
  CHECK(problems[1] == "--show: no step of jobs.json matches \"test-*\"");
  CHECK(problems[2] == "--show: jobs.json has no step \"zzz\"");
}

TEST_CASE("colour: --color always and never decide, auto wants a terminal and no NO_COLOR") {
  CHECK(UseColor(ColorMode::kAuto, true, nullptr, "xterm-256color"));
  CHECK_FALSE(UseColor(ColorMode::kAuto, false, nullptr, "xterm"));
  // NO_COLOR set to anything but "" (no-color.org), or a dumb terminal.
  CHECK_FALSE(UseColor(ColorMode::kAuto, true, "1", "xterm"));
  CHECK_FALSE(UseColor(ColorMode::kAuto, true, "no", nullptr));
  CHECK(UseColor(ColorMode::kAuto, true, "", "xterm"));
  CHECK_FALSE(UseColor(ColorMode::kAuto, true, nullptr, "dumb"));
  // An explicit option wins over the variable, as no-color.org asks.
  CHECK(UseColor(ColorMode::kAlways, false, "1", "dumb"));
  CHECK_FALSE(UseColor(ColorMode::kNever, true, nullptr, "xterm"));
  CHECK(ParseColorMode("never") == ColorMode::kNever);
  CHECK_FALSE(ParseColorMode("yes").has_value());
}

TEST_CASE("Paint wraps text in its colour and a reset, or leaves it be") {
  CHECK(Paint(Tone::kRed, "failed", true) == "\033[31mfailed\033[0m");
  CHECK(Paint(Tone::kRed, "failed", false) == "failed");
  CHECK(Paint(Tone::kPlain, "x", true) == "x");
  CHECK(Paint(Tone::kGreen, "", true).empty());
}

}  // namespace
}  // namespace drover::submit
