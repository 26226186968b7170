// submitter/resume_line.h: what a resumption prints, within the width.

#include "submitter/resume_line.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace drover::submit {
namespace {

JobView Resumed(std::vector<std::string> ids, std::vector<uint32_t> carried,
                std::vector<std::string> dropped = {}) {
  JobAccepted accepted{JobId(7), "nightly", std::move(ids)};
  accepted.resumed_from = JobId(4);
  accepted.carried = std::move(carried);
  accepted.dropped = std::move(dropped);
  JobView view;
  view.Accept(accepted);
  return view;
}

std::vector<std::string> LinesOf(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  out.push_back(text.substr(start));
  return out;
}

TEST_CASE("a resumption says on one line what it carried over and what runs, when that fits") {
  CHECK(ResumeLine(Resumed({"fetch", "build", "test", "lint", "pack"}, {0, 1, 2})) ==
        "resuming job 4 as job 7: 3 steps carried over (fetch, build, test), 2 to run");
  CHECK(ResumeLine(Resumed({"fetch", "test"}, {0}, {"lint"})) ==
        "resuming job 4 as job 7: 1 step carried over (fetch), 1 to run, 1 dropped (lint)");
  CHECK(ResumeLine(Resumed({"a", "b"}, {})) ==
        "resuming job 4 as job 7: no step carried over, 2 to run");
}

TEST_CASE("else the lists get lines of their own, shortened to fit the width") {
  CHECK(ResumeLine(Resumed({"fetch", "build", "test", "lint"}, {0, 1, 3}, {"old"})) ==
        "resuming job 4 as job 7: 3 steps carried over, 1 to run, 1 dropped\n"
        "  carried over: fetch, build, lint\n"
        "  dropped: old");
  std::vector<std::string> ids;
  std::vector<uint32_t> carried;
  for (uint32_t i = 0; i < 40; ++i) {
    ids.push_back("unit-" + std::to_string(i));
    if (i < 30) carried.push_back(i);
  }
  for (const size_t width : {50, 80, 120}) {
    CAPTURE(width);
    const auto lines = LinesOf(ResumeLine(Resumed(ids, carried, {"old-a", "old-b"}), width));
    REQUIRE(lines.size() == 3);
    CHECK(lines[0] == "resuming job 4 as job 7: 30 steps carried over, 10 to run, 2 dropped");
    CHECK(lines[1].starts_with("  carried over: unit-0, unit-1, "));
    CHECK(lines[1].ends_with(" more"));
    CHECK(lines[1].size() <= width);
    CHECK(lines[2] == "  dropped: old-a, old-b");
  }
  // An id longer than the width: its list goes, the counts stay.
  CHECK(ResumeLine(Resumed({std::string(100, 'x')}, {0}, {"gone"})) ==
        "resuming job 4 as job 7: 1 step carried over, 0 to run, 1 dropped\n"
        "  dropped: gone");
}

}  // namespace
}  // namespace drover::submit
