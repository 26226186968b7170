// Loading a job file: bytes in, a validated JobSpec (or every problem) out.
//
// A job file is one MessagePack map, or the same shape as JSON (docs/jobs.md).
// LoadJob() checks everything before anything runs and reports all problems
// at once, each with the path of the offending value (naming a step by its id
// too, when it has a valid one) and, where one helps, a hint:
// `steps[3] (id "test").after[0]: unknown step "biuld" (did you mean "build"?)`.
// The same function validates in `submit` (so users see errors without a
// broker) and again in the broker (which never trusts a client).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/job_spec.h"
#include "shared/status.h"

namespace drover {

// One thing wrong with a job file.
struct Problem {
  std::string path;     // "steps[3] (id \"test\").after[0]"; "" for the file as a whole
  std::string message;  // "unknown step \"biuld\" (did you mean \"build\"?)"
};
std::string FormatProblem(const Problem& p);  // "path: message"

// The line that ends a list of problems cut short, counting the rest:
// "... and 12 more problems" ("... and 1 more problem"). The broker ends a
// long JobRejected with one, and `submit` a long list it prints.
std::string MoreProblemsLine(size_t more);
// The count in a line that starts as MoreProblemsLine's do (whatever
// follows it), or nullopt for any other line.
std::optional<size_t> ParseMoreProblemsLine(std::string_view line);

// Limits on what one job file may ask for; a file past them is rejected.
// The broker and `submit` take the same flags for them (job_limit_flags.h).
// Fixed limits (ids, names, labels, cwd, exit codes) are in job_draft.h.
struct JobLimits {
  size_t max_job_bytes = 128 << 20;  // the whole file, as MessagePack
  size_t max_steps = 1'000'000;
  size_t max_argv_bytes = 1 << 20;   // all of one step's argv (or cmd) together
  size_t max_env_bytes = 1 << 20;    // all of one step's env together
  size_t max_env_vars = 4096;        // variables in one step's env
  size_t max_after = 100'000;        // entries in one step's `after`
  size_t max_stdin_bytes = 64 << 20; // one step's inline stdin

  // No limit at all: for job files a broker accepted once (replay, --watch
  // of an ended job), whatever limits it runs with now.
  static JobLimits Unlimited() {
    return JobLimits{.max_job_bytes = SIZE_MAX,
                     .max_steps = SIZE_MAX,
                     .max_argv_bytes = SIZE_MAX,
                     .max_env_bytes = SIZE_MAX,
                     .max_env_vars = SIZE_MAX,
                     .max_after = SIZE_MAX,
                     .max_stdin_bytes = SIZE_MAX};
  }
};

struct LoadedJob {
  std::optional<JobSpec> spec;    // set exactly when problems is empty
  std::vector<Problem> problems;  // in file order
};

// How LoadJob hands back what it loaded (not what it accepts: that is the same).
struct LoadOptions {
  // Keep a job's arrays as templates (job_spec.h, invariant 7) instead of
  // writing their elements out as plain steps: for the broker, which must
  // not hold a StepSpec per element. Problems are reported as without it.
  bool keep_arrays = false;
};
// What the broker loads every job file with.
inline constexpr LoadOptions kKeepArrays{.keep_arrays = true};

// Parses and validates a job file given as MessagePack bytes.
LoadedJob LoadJob(std::string_view msgpack_bytes, const JobLimits& limits = {},
                  const LoadOptions& options = {});

// JSON job text to the equivalent MessagePack bytes. A syntax error names the
// line and column; a comment, which JSON does not allow, its line.
Result<std::string> JsonToMsgpack(std::string_view json_text);

// MessagePack job bytes to JSON text (pretty-printed, two-space indent). Fails
// on what JSON cannot hold (e.g. a bin stdin that is not valid UTF-8), naming
// the path.
Result<std::string> MsgpackToJson(std::string_view msgpack_bytes);

// Replaces each `{"lines": "FILE"}` in a step's `each` with the list of
// FILE's lines (without line endings; blank lines left out), FILE relative
// to `base_dir` unless absolute. `submit` does this before sending, so the
// broker never reads the user's files. Bytes with no `lines` (or that do
// not decode: LoadJob says why) come back as they are. An error names the
// value's path and the file.
Result<std::string> ResolveEachLines(std::string msgpack_bytes, const std::string& base_dir);

// The job file `job` amounts to, as JSON: the job's fields, then one step
// a line, each with the fields that differ from their defaults (`submit
// validate --expand`: an array's elements written out). Loading it gives
// `job` again. Fails on a string JSON cannot hold (not UTF-8).
Result<std::string> JobSpecToJson(const JobSpec& job);

// Reads a job file from disk, in either format (shared/job_format.h guesses
// which), and returns its MessagePack bytes (what SubmitJob carries), with
// `lines` in `each` resolved relative to the file's directory
// (ResolveEachLines; for stdin, the working directory). Errors
// name the file; a file in neither format gets one that says what it looks
// like ("jobs.yaml: looks like YAML; ..."). The path "-" reads stdin to its
// end (named "stdin" in errors).
Result<std::string> ReadJobFile(const std::string& path);

}  // namespace drover
