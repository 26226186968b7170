#include "submitter/output_selection.h"

#include <fnmatch.h>

#include <string_view>

#include "shared/job_draft.h"
#include "shared/spellcheck.h"

namespace drover::submit {
namespace {

// Whether `id` is an element of array `array` ("train[7]" of "train"), so
// that --show takes an array's id for all its elements, as a job file does.
bool IsElementOf(std::string_view id, std::string_view array) {
  if (id.size() < array.size() + 3 || id.substr(0, array.size()) != array ||
      id[array.size()] != '[' || id.back() != ']') {
    return false;
  }
  const std::string_view index = id.substr(array.size() + 1, id.size() - array.size() - 2);
  return index.find_first_not_of("0123456789") == std::string_view::npos;
}

}  // namespace

OutputSelection OutputSelection::Of(const std::vector<std::string>& patterns,
                                    const std::vector<std::string>& step_ids,
                                    const std::string& where, std::vector<std::string>* problems) {
  std::vector<bool> shown(step_ids.size());
  const size_t problems_before = problems->size();
  for (const std::string& pattern : patterns) {
    const bool glob = pattern.find_first_of("*?[") != std::string::npos;
    bool matched = false;
    for (size_t i = 0; i < step_ids.size(); ++i) {
      // (An element's own id, "train[7]", reads as a glob but is meant whole.)
      if (pattern == step_ids[i] || IsElementOf(step_ids[i], pattern) ||
          (glob && fnmatch(pattern.c_str(), step_ids[i].c_str(), 0) == 0)) {
        shown[i] = true;
        matched = true;
      }
    }
    if (matched) continue;
    if (glob) {
      problems->push_back("--show: no step of " + where + " matches " + Quote(pattern));
      continue;
    }
    std::string line = "--show: " + where + " has no step " + Quote(pattern);
    const std::vector<std::string_view> ids(step_ids.begin(), step_ids.end());
    if (auto close = SpellcheckString(pattern, ids)) {
      line += " (did you mean " + Quote(std::string(*close)) + "?)";
    }
    problems->push_back(std::move(line));
  }
  if (problems->size() > problems_before) return None();
  return OutputSelection(Kind::kSome, std::move(shown));
}

}  // namespace drover::submit
