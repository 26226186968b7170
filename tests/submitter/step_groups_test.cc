// submitter/step_groups.h: an array's elements as one row of the step table
// (and submitter/step_table.h, which prints it).

#include "submitter/step_groups.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "submitter/step_table.h"

namespace drover::submit {
namespace {

JobView ViewOf(const std::vector<std::string>& ids) {
  JobView view;
  view.Accept(JobAccepted{JobId(5), "sweep", ids});
  return view;
}

// "train[0]" .. "train[n-1]".
std::vector<std::string> Elements(const std::string& name, uint32_t n) {
  std::vector<std::string> ids;
  for (uint32_t k = 0; k < n; ++k) ids.push_back(name + "[" + std::to_string(k) + "]");
  return ids;
}

void End(JobView* view, uint32_t step, StepState state) {
  RunResult run;
  run.started_ms = 1000 + step;
  run.ended_ms = 2000 + step;
  run.exit_code = state == StepState::kFailed ? 1 : 0;
  view->Apply(StepEnded{StepIndex(step), Attempt(1), state, "", "w1", run});
}

std::vector<uint32_t> AllRows(const JobView& view) {
  std::vector<uint32_t> rows;
  for (uint32_t i = 0; i < view.size(); ++i) rows.push_back(i);
  return rows;
}

TEST_CASE("an element's id splits into the array's name and the index") {
  std::string_view name;
  uint64_t index = 0;
  CHECK(SplitElementId("train[7]", &name, &index));
  CHECK(name == "train");
  CHECK(index == 7);
  CHECK(SplitElementId("a.b-c[0]", &name, &index));
  CHECK(name == "a.b-c");
  CHECK(index == 0);
  CHECK_FALSE(SplitElementId("train", &name, &index));
  CHECK_FALSE(SplitElementId("train[07]", &name, &index));  // not how the loader names them
  CHECK_FALSE(SplitElementId("train[]", &name, &index));
  CHECK_FALSE(SplitElementId("train[x]", &name, &index));
  CHECK_FALSE(SplitElementId("[3]", &name, &index));
  CHECK_FALSE(SplitElementId("train[3]x", &name, &index));
}

TEST_CASE("consecutive elements of one array become one entry, other steps stay one each") {
  std::vector<std::string> ids = {"prep"};
  for (const std::string& id : Elements("train", 4)) ids.push_back(id);
  ids.insert(ids.end(), {"eval", "x[0]", "y[0]", "y[1]", "z[0]", "z[1]"});
  const JobView view = ViewOf(ids);
  CHECK(GroupElements(view, AllRows(view)) ==
        std::vector<TableEntry>{{0, 1}, {1, 4}, {5, 1}, {6, 1}, {7, 2}, {9, 2}});
  CHECK(GroupName(view, TableEntry{1, 4}) == "train[0..3]");
  CHECK(GroupName(view, TableEntry{9, 2}) == "z[0..1]");
}

TEST_CASE("only runs without gaps are grouped: in the job, in the rows and in the indexes") {
  // A gap in the indexes (a step named by hand), and a row left out.
  const JobView view = ViewOf({"a[0]", "a[2]", "a[3]", "b[0]", "b[1]", "b[2]", "b[3]"});
  CHECK(GroupElements(view, {0, 1, 2, 3, 5, 6}) ==
        std::vector<TableEntry>{{0, 1}, {1, 2}, {3, 1}, {5, 2}});
  // Rows out of the job's order are not one array.
  CHECK(GroupElements(view, {4, 3}) == std::vector<TableEntry>{{4, 1}, {3, 1}});
  CHECK(GroupName(view, TableEntry{1, 2}) == "a[2..3]");
  CHECK(GroupElements(view, {}).empty());
}

TEST_CASE("a group's summary counts its states and names the failed elements") {
  JobView view = ViewOf(Elements("train", 100));
  for (uint32_t k = 0; k < 100; ++k) {
    End(&view, k, k == 7 || k == 42 || k == 93 ? StepState::kFailed : StepState::kSucceeded);
  }
  const TableEntry all{0, 100};
  CHECK(GroupSummary(view, all, 80) == "97 succeeded, 3 failed: train[7], train[42], train[93]");
  // Fewer names where fewer fit, then none.
  CHECK(GroupSummary(view, all, 50) == "97 succeeded, 3 failed: train[7] and 2 more");
  CHECK(GroupSummary(view, all, 30) == "97 succeeded, 3 failed");
  CHECK(GroupSummary(view, all, 10) == "97 succe..");
}

TEST_CASE("at most five failed elements are named, then how many more") {
  JobView view = ViewOf(Elements("s", 12));
  for (uint32_t k = 0; k < 10; ++k)
    End(&view, k, k < 8 ? StepState::kFailed : StepState::kSucceeded);
  // 10 and 11 have not run yet.
  CHECK(GroupSummary(view, TableEntry{0, 12}, 200) ==
        "2 waiting, 2 succeeded, 8 failed: s[0], s[1], s[2], s[3], s[4] and 3 more");
}

TEST_CASE("the step table shows a 100-element array as one row within 80 columns") {
  std::vector<std::string> ids = Elements("train", 100);
  ids.push_back("report");
  JobView view = ViewOf(ids);
  for (uint32_t k = 0; k < 100; ++k) {
    End(&view, k, k % 10 == 3 ? StepState::kFailed : StepState::kSucceeded);
  }
  End(&view, 100, StepState::kSucceeded);
  for (bool color : {false, true}) {
    const std::vector<std::string> lines = StepTableLines(view, AllRows(view), color);
    REQUIRE(lines.size() == 3);  // the header, the array, the plain step
    CHECK(lines[0].starts_with("STEP"));
    CHECK(lines[1] ==
          "train[0..99]  90 succeeded, 10 failed: train[3], train[13], train[23] and 7 more");
    CHECK(lines[2].starts_with("report        "));
    if (!color) {
      for (const std::string& line : lines) CHECK(line.size() <= kTableColumns);
    }
  }
}

TEST_CASE("an array of one element, or the rows of one element, stay plain rows") {
  JobView view = ViewOf({"only[0]", "train[0]", "train[1]"});
  End(&view, 0, StepState::kSucceeded);
  const std::vector<std::string> lines = StepTableLines(view, std::vector<uint32_t>{0, 2});
  REQUIRE(lines.size() == 3);
  CHECK(lines[1].starts_with("only[0]   succeeded"));
  CHECK(lines[2].starts_with("train[1]  waiting"));
}

}  // namespace
}  // namespace drover::submit
