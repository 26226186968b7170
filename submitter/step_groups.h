// Arrays in the step table (submitter/step_table.h): the elements of an
// array (`each`, docs/jobs.md) are shown as one row, so that a sweep of a
// hundred elements does not fill the terminal. Pure functions of a JobView.
//
// An array's elements are recognised by their ids alone, as the broker sends
// them (JobAccepted): a run of steps, one after the other in the job and in
// the rows asked for, whose ids are NAME[k], NAME[k+1], ... (k decimal, no
// leading 0). Steps so named by hand group the same way, which is harmless.
// An array whose elements are named by a pattern (`sim-{lr}`) is not
// recognised and keeps a row per element.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "submitter/job_view.h"

namespace drover::submit {

// One row of the table: a step, or `count` consecutive elements of an array
// from step `first` on.
struct TableEntry {
  uint32_t first = 0;  // an index into the view
  uint32_t count = 1;  // 1: a plain row; more: an array's elements
  bool grouped() const { return count > 1; }
  bool operator==(const TableEntry&) const = default;
};

// Splits "NAME[INDEX]" into NAME and INDEX; false for any other id.
bool SplitElementId(std::string_view id, std::string_view* name, uint64_t* index);

// `rows` (indexes into `view`, in table order) as table entries: every run
// of two or more elements of one array becomes one entry, every other row
// stays one.
std::vector<TableEntry> GroupElements(const JobView& view, const std::vector<uint32_t>& rows);

// The STEP cell of a grouped entry: "train[0..99]".
std::string GroupName(const JobView& view, const TableEntry& entry);

// What a grouped entry's row says after its name, at most `width` columns:
// how many elements are in each state, in StepState order, then the failed
// ones by id (at most kMaxNamedElements, and as many as fit), e.g.
// "97 succeeded, 3 failed: train[7], train[42], train[93]", or with more
// failures "... 12 failed: train[1], train[4] and 10 more".
inline constexpr size_t kMaxNamedElements = 5;
std::string GroupSummary(const JobView& view, const TableEntry& entry, size_t width);

}  // namespace drover::submit
