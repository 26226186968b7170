// Which steps' output `submit` prints (docs/submit.md, "Choosing what is
// shown"): every step's by default; none with --quiet; with --show
// STEP..., those of the steps it names. Failures, retries, skips, the
// progress line and the summary are shown whatever this says: it is about
// the steps' own output only.
//
// --show takes step ids and globs (fnmatch(3): `train-*`, `eval-?`). Step
// ids are letters, digits, `_`, `.` and `-` only (docs/jobs.md), so a
// pattern holding `*`, `?` or `[` is a glob and anything else an id, and a
// comma never belongs to an id (--show a,b names two). An array's id names
// all its elements (`train` shows train[0], train[1], ...).
#pragma once

#include <string>
#include <vector>

#include "shared/ids.h"

namespace drover::submit {

class OutputSelection {
 public:
  static OutputSelection All() { return OutputSelection(Kind::kAll, {}); }
  static OutputSelection None() { return OutputSelection(Kind::kNone, {}); }

  // The steps `patterns` name among `step_ids` (the job's ids, in step
  // order). A pattern that names no step is a problem, one line each in
  // `problems` naming the pattern and `where` ("jobs.json", "job 7"), with
  // the closest id when one is close; the selection is made only when there
  // is none. REQUIRES: `patterns` is not empty.
  static OutputSelection Of(const std::vector<std::string>& patterns,
                            const std::vector<std::string>& step_ids, const std::string& where,
                            std::vector<std::string>* problems);

  bool Shows(StepIndex step) const {
    if (kind_ != Kind::kSome) return kind_ == Kind::kAll;
    return step.value < shown_.size() && shown_[step.value];
  }
  // Whether some step's output is hidden.
  bool hides_any() const { return kind_ != Kind::kAll; }

 private:
  enum class Kind { kAll, kNone, kSome };
  OutputSelection(Kind kind, std::vector<bool> shown) : kind_(kind), shown_(std::move(shown)) {}

  Kind kind_;
  std::vector<bool> shown_;  // kSome: by step index
};

}  // namespace drover::submit
