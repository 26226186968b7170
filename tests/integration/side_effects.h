// Proof of what ran: steps that append "marks" to a shared file, and the
// checks that fault tests make on them. A mark is one line,
//
//   start|done STEP ATTEMPT WORKER PID
//
// written by the step's own shell (appends of one short line are atomic, so
// concurrent steps on several workers cannot interleave within a line). The
// file is the ground truth: unlike the broker's events it also records
// attempts whose results never reached the broker.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace drover::testing {

struct Mark {
  std::string kind;  // "start" or "done"
  std::string step;
  int attempt = 0;
  std::string worker;
  pid_t pid = 0;     // the step's shell
  size_t line = 0;   // position in the file: the order things happened in
};

// Every mark in `path` (none if it does not exist yet).
std::vector<Mark> ReadMarks(const std::string& path);
// How many "done" marks `path` holds: progress, for tests that strike midway.
size_t CountDone(const std::string& path);

// A job graph whose steps leave marks in `log`, with what each step needs.
struct MarkedGraph {
  nlohmann::json job;  // the job file, as JSON
  std::map<std::string, std::vector<std::string>> after;  // step -> its `after`
};

// `steps` steps "s0".."s<n-1>" in layers of `width`: each step after the one
// `width` before it, and every third also after the one `width + 1` before
// (fan-in), so order matters across workers. Each runs `body` between its
// start and done marks. `job_fields` are merged into the job file.
MarkedGraph LayeredGraph(int steps, int width, const std::string& log, const std::string& body,
                         const nlohmann::json& job_fields = nlohmann::json::object());

// The shell command of a marked step running `body`.
std::string MarkedCommand(const std::string& log, const std::string& body);

// Decides whether an extra "done" mark is explained by a fault the test made
// (say, the worker was SIGKILLed after the step finished but before its
// result reached the broker).
using Excuse = std::function<bool(const Mark&)>;

// The promise, checked against the marks and the final step_finished events
// (FinalStates) of a job that ended: every step of `graph` succeeded; the
// work of each ran to completion exactly once, in the attempt and on the
// worker the broker reported (any other "done" must be excused); each started
// only after everything in its `after` was done; and if `one_start`, each was
// started once only (no attempt was lost). Returns the problems found, at
// most `limit` of them, empty if none.
std::vector<std::string> CheckRanOnceInOrder(const MarkedGraph& graph,
                                             const std::map<std::string, nlohmann::json>& finals,
                                             const std::vector<Mark>& marks, bool one_start,
                                             const Excuse& excused = nullptr, size_t limit = 10);

// The lines of `problems`, for a failure message.
std::string Join(const std::vector<std::string>& problems);

}  // namespace drover::testing
