// Readers for the typed values in a job file; internal to the job loader
// (shared/job_draft.h). Each Read* checks one value, reports whatever is wrong
// with it, and returns false when the value cannot be used. `order` and `path`
// say where the value is, for the report.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "shared/job_draft.h"

namespace drover {

class ValueReader {
 public:
  ValueReader(const JobLimits& limits, ProblemList* problems)
      : limits_(limits), problems_(problems) {}

  // The next position in file order. The walker takes one for every value
  // it visits, in the order the file holds them.
  uint64_t Tick() { return next_order_++; }
  void Report(uint64_t order, const PathNode* path, std::string message) {
    problems_->Add(order, path, std::move(message));
  }
  const JobLimits& limits() const { return limits_; }

  // `expected` completes "expected ..., got ...".
  bool ReadString(const msgpack::object& o, uint64_t order, const PathNode* path,
                  std::string_view* out, const char* expected = "a string");
  bool ReadInteger(const msgpack::object& o, uint64_t order, const PathNode* path, int64_t min,
                   int64_t max, int64_t* out);
  // A string that exec or chdir will receive: non-empty, no NUL byte.
  // `what` names it for the NUL complaint: "a command line".
  bool ReadCString(const msgpack::object& o, uint64_t order, const PathNode* path,
                   std::string_view* out, const char* what = "a command line");
  // True whenever `o` is a string, even one that breaks the id rules (that
  // is reported): such a step is still found by the steps that name it.
  // `*valid` says whether it keeps the rules.
  // With `pattern` (the step has `each`), placeholders such as `{lr}` may
  // stand among the id's characters; the rendered ids are checked later.
  bool ReadId(const msgpack::object& o, uint64_t order, const PathNode* path, std::string_view* id,
              bool* valid, bool pattern = false);
  bool ReadCommand(const msgpack::object& o, uint64_t order, const PathNode* path,
                   std::string* cmd);
  bool ReadArgv(const msgpack::object& o, uint64_t order, const PathNode* path,
                std::vector<std::string>* argv);
  // Appends the ids listed in `after` to `refs`, each with its own position.
  bool ReadStepRefs(const msgpack::object& o, uint64_t order, const PathNode* path,
                    std::vector<StepRef>* refs, bool in_stdin_from = false);
  // `stdin_from`: one step id, a non-empty array of them, or
  // {"step": ID, "stream": BOOL} (`*stream` set to the latter).
  bool ReadStdinFrom(const msgpack::object& o, uint64_t order, const PathNode* path,
                     std::vector<StepRef>* refs, bool* stream);
  bool ReadStreamedStdinFrom(const msgpack::object& o, uint64_t order, const PathNode* path,
                             std::vector<StepRef>* refs, bool* stream);
  // `each`: a map of parameter names to lists or ranges (job_each.cc).
  bool ReadEach(const msgpack::object& o, uint64_t order, const PathNode* path, ArraySpec* out);
  bool ReadWhen(const msgpack::object& o, uint64_t order, const PathNode* path, When* out);
  bool ReadStdin(const msgpack::object& o, uint64_t order, const PathNode* path,
                 std::optional<std::string>* out);
  bool ReadEnv(const msgpack::object& o, uint64_t order, const PathNode* path, EnvList* out);
  bool ReadTimeout(const msgpack::object& o, uint64_t order, const PathNode* path,
                   uint32_t* out_ms);
  // A number of seconds (an integer or a fraction) above 0 (or 0 itself if
  // `zero_ok`) and at most `max_seconds` (`max_text` says it for people:
  // "1 day"), kept in whole milliseconds rounded up.
  bool ReadSeconds(const msgpack::object& o, uint64_t order, const PathNode* path,
                   int64_t max_seconds, const char* max_text, uint32_t* out_ms,
                   bool zero_ok = false);
  // One exit code or an array of them, each 1 to 255; sorted, unique.
  bool ReadExitCodes(const msgpack::object& o, uint64_t order, const PathNode* path,
                     std::vector<uint8_t>* out);
  // A map of resource names to amounts (shared/resources.h); sorted, the
  // amounts of 0 left out.
  bool ReadResources(const msgpack::object& o, uint64_t order, const PathNode* path,
                     ResourceList* out);
  // Sorted, without repeats.
  bool ReadRequires(const msgpack::object& o, uint64_t order, const PathNode* path,
                    std::vector<std::string>* out);

 private:
  const JobLimits& limits_;
  ProblemList* problems_;
  uint64_t next_order_ = 0;
};

// "train[7]": the id of an array's element, as `submit validate --expand`
// writes it (a plain id, then the index in brackets without leading zeros).
bool IsElementId(std::string_view id);

// " (did you mean "cmd"?)", or "" when no word is close to `text`.
std::string DidYouMean(std::string_view text, const std::vector<std::string_view>& words);
// " (did you mean "cmd"?)" for a word known to be meant.
std::string DidYouMeanWord(std::string_view word);

// "has 5000 variables, more than the limit of 4096"
std::string OverCount(size_t count, size_t limit, const char* what);
// "is 300 bytes long, more than the limit of 256"
std::string OverLength(size_t length, size_t limit);

// "is 70000000 bytes, more than the limit of 67108864 bytes for inline stdin"
std::string OverLimit(size_t size, size_t limit, const char* what);

// What an environment costs, counted as exec does: "NAME=value\0" each.
size_t EnvBytes(const EnvList& env);

}  // namespace drover
