#include "submitter/step_groups.h"

#include <array>

namespace drover::submit {

bool SplitElementId(std::string_view id, std::string_view* name, uint64_t* index) {
  if (id.size() < 4 || id.back() != ']') return false;
  const size_t open = id.rfind('[');
  if (open == std::string_view::npos || open == 0) return false;
  const std::string_view digits = id.substr(open + 1, id.size() - open - 2);
  if (digits.empty() || digits.size() > 19 || (digits.size() > 1 && digits[0] == '0')) {
    return false;
  }
  uint64_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  *name = id.substr(0, open);
  *index = value;
  return true;
}

std::vector<TableEntry> GroupElements(const JobView& view, const std::vector<uint32_t>& rows) {
  std::vector<TableEntry> entries;
  std::string_view run_name;  // the open run's array, if the last entry may grow
  uint64_t next_index = 0;    // the element that would extend it
  bool open = false;
  for (uint32_t row : rows) {
    std::string_view name;
    uint64_t index = 0;
    const bool element = SplitElementId(view.id_of(StepIndex(row)), &name, &index);
    if (open && element && name == run_name && index == next_index &&
        row == entries.back().first + entries.back().count) {
      ++entries.back().count;
      ++next_index;
      continue;
    }
    entries.push_back(TableEntry{row, 1});
    open = element;
    run_name = name;
    next_index = index + 1;
  }
  return entries;
}

std::string GroupName(const JobView& view, const TableEntry& entry) {
  std::string_view name;
  uint64_t first = 0;
  if (!SplitElementId(view.id_of(StepIndex(entry.first)), &name, &first)) {
    return view.id_of(StepIndex(entry.first));  // not a group: never so called
  }
  return std::string(name) + "[" + std::to_string(first) + ".." +
         std::to_string(first + entry.count - 1) + "]";
}

std::string GroupSummary(const JobView& view, const TableEntry& entry, size_t width) {
  std::array<uint32_t, kStepStateCount> counts{};
  std::vector<uint32_t> failed;
  for (uint32_t i = entry.first; i < entry.first + entry.count; ++i) {
    const StepState state = view.step(StepIndex(i)).state;
    ++counts[static_cast<size_t>(state)];
    if (state == StepState::kFailed) failed.push_back(i);
  }
  std::string text;
  for (int s = 0; s < kStepStateCount; ++s) {
    if (counts[s] == 0) continue;
    if (!text.empty()) text += ", ";
    text += std::to_string(counts[s]) + " " + StepStateName(static_cast<StepState>(s));
  }
  if (text.size() > width) return text.substr(0, width >= 2 ? width - 2 : 0) + "..";
  // As many failed elements by name as fit, up to kMaxNamedElements.
  std::string best = text;
  std::string names;
  for (size_t k = 0; k < failed.size() && k < kMaxNamedElements; ++k) {
    names += (k == 0 ? "" : ", ") + view.id_of(StepIndex(failed[k]));
    const size_t more = failed.size() - k - 1;
    std::string candidate = text + ": " + names;
    if (more > 0) candidate += " and " + std::to_string(more) + " more";
    if (candidate.size() > width) break;
    best = std::move(candidate);
  }
  return best;
}

}  // namespace drover::submit
