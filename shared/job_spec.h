// The job-graph model: what a job file says, after it has been loaded and
// validated (shared/job_load.h). Plain data; docs/jobs.md is the user-facing
// description of every field.
//
// Invariants of a JobSpec returned by LoadJob():
//   1. steps is non-empty and every step id is unique and matches [A-Za-z0-9_.-]+,
//      or that followed by "[N]" (an array's element; N decimal, no leading 0).
//      A template (below) may instead hold placeholders in its id; its
//      elements' ids (ElementId) are then unique among all steps' ids.
//   2. argv is non-empty; with `shell` it holds exactly one element, the
//      command line (`cmd` in the file).
//   3. Every index in `after` is a valid index of another step, and `after`
//      holds no duplicates. Its first `stdin_from_count` entries are the
//      `stdin_from` steps, in the order written (StepSpec::StdinFrom()); the
//      plain `after` steps follow.
//   4. The `after` edges form no cycle.
//   5. `defaults` have already been applied; the spec carries no separate defaults.
//   6. A step's `resources` is 0 or names an entry of `resource_requests`
//      (its index + 1); each entry is a ResourceList (shared/resources.h),
//      and no two entries are equal.
//   7. Plain or templated. By default LoadJob expands arrays into plain
//      steps: every step's `each` is 0, `arrays` and `template_refs` are empty, and
//      3 and 4 hold of `steps`. With LoadOptions::keep_arrays a job with an
//      array comes back templated (HasTemplates()): `steps` are templates,
//      one per step of the file; an array's keeps placeholders in its
//      fields and names its ArraySpec in `each`; a plain step is a template
//      of one element. Then every step's `after` is empty and its edges are
//      `template_refs[template_refs_begin[t], ..[t + 1])`, its first
//      `stdin_from_count` of them the `stdin_from` references as written.
//      Written out (shared/job_elements.h: elements numbered template by
//      template, ElementAfter), the elements satisfy 1 to 4 exactly as the
//      expanded steps do, with the same indexes.
//   8. A step with `stdin_stream` has exactly one `stdin_from` step (each
//      element of a template, written out) and `when` kSuccess.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "shared/ids.h"
#include "shared/resources.h"

namespace drover {

// When a step with `after` steps runs, once all of them have finished.
enum class When : uint8_t {
  kSuccess,  // every `after` step succeeded (the default)
  kAlways,   // whatever their outcome: cleanup steps
  kFailure,  // at least one failed, or was skipped because something failed
};
inline constexpr When kWhenMax = When::kFailure;
const char* WhenName(When when);

using EnvList = std::vector<std::pair<std::string, std::string>>;

// One parameter of an array step (`each` in the job file): a list of values
// or an integer range, kept compact (a range is never written out).
struct ArrayParam {
  std::string name;                 // [A-Za-z_][A-Za-z0-9_]*, not "index"
  std::vector<std::string> values;  // as they render; unused for a range
  bool is_range = false;
  int64_t begin = 0;  // a range: begin, begin + step, ... up to end, excluded
  int64_t end = 0;
  int64_t step = 1;  // never 0; may be negative
  bool operator==(const ArrayParam&) const = default;
};

// What an array step repeats over: the product of its parameters in the
// order written, the first varying slowest. Empty for a plain step.
// shared/job_array.h counts, names and renders its elements.
struct ArraySpec {
  std::vector<ArrayParam> params;
  bool empty() const { return params.empty(); }
  bool operator==(const ArraySpec&) const = default;
};

// How a template refers to the elements of another (a templated JobSpec,
// invariant 7). A plain step is a template of one element: any kind names
// its element 0.
enum class RefKind : uint8_t {
  kAll,     // every element, in index order (`after: ["prep"]`)
  kOne,     // element `element` (`prep[3]`, or an element's own id)
  kPaired,  // the element at the referring element's index (`prep[{index}]`)
};
struct TemplateRef {
  uint32_t step = 0;     // the template referred to: an index into JobSpec::steps
  uint32_t element = 0;  // kOne: which element
  RefKind kind = RefKind::kAll;
  bool operator==(const TemplateRef&) const = default;
};

// Fields are ordered so that the small ones share padding: a graph may hold
// a million steps, and the broker keeps every one. Anything a step rarely
// has and that is larger than a number lives in a side table of JobSpec
// (`resources`, `each`), so the common step stays small.
struct StepSpec {
  std::string id;
  std::vector<std::string> argv;  // exec'd directly; with `shell`, {command line}
  std::vector<StepIndex> after;   // stdin_from steps first (StdinFrom()), then the rest
  std::optional<std::string> stdin_data;  // bytes fed to the step's stdin
  EnvList env;                            // added to the worker's environment
  std::string cwd;                        // empty: the worker's own directory
  std::vector<uint8_t> retry_unless_exit;  // exit codes never retried (sorted, unique)
  std::vector<std::string> requires_labels;  // worker must carry all of these
  uint32_t timeout_ms = 0;                // 0: no timeout
  uint32_t retries = 0;                   // extra attempts after a failure
  uint32_t retry_delay_ms = 0;            // before the first retry; doubles for each next
  uint32_t slots = 1;                     // worker slots the step occupies (>= 1)
  int32_t priority = 0;                   // higher runs first within the graph
  // About how long it runs (the job file's `duration` hint), for the order
  // in which ready steps start; 0: unknown (the broker learns it).
  uint32_t duration_ms = 0;
  // The most it may run (`time_request`): it goes only to a worker that
  // will not reach its time limit before then; 0: no such need.
  uint32_t time_request_ms = 0;
  // How many of the first entries of `after` are `stdin_from` steps: the
  // steps whose whole stdouts, concatenated in that order, are the stdin;
  // 0 for none. In a template, of its references (invariant 7).
  uint32_t stdin_from_count = 0;
  // An array's template (`each` in the job file): 0 for a plain step, else
  // 1 + an index into JobSpec::arrays. 0 in a plain JobSpec (invariant 7).
  uint32_t each = 0;
  // What it asks for besides slots (`resources` in the job file): 0 for
  // nothing, else 1 + an index into JobSpec::resource_requests, where steps
  // asking for the same share one list.
  uint16_t resources = 0;
  When when = When::kSuccess;
  // (Bits, for the 264 bytes below.)
  bool shell : 1 = false;  // given as `cmd`: argv[0] runs under /bin/sh -c
  // Its one `stdin_from` step is read while it runs (`"stream": true`): the
  // step starts once that one has started, not ended, and the two form a
  // pipe (docs/jobs.md, "Streamed stdin_from").
  bool stdin_stream : 1 = false;

  // The steps whose whole stdouts, concatenated in this order, are the
  // stdin (`stdin_from`); empty for none. Plain steps only: a template's
  // elements have theirs in ElementAfter (shared/job_elements.h).
  std::span<const StepIndex> StdinFrom() const { return {after.data(), stdin_from_count}; }
};
// The broker holds a StepSpec for every step of every queued graph, and
// bench/run's `alone` case holds it to at most 512 bytes of RSS per queued
// step; 264 bytes (x86-64, libstdc++) is what leaves room for the rest. A
// field that would grow it belongs in a side table of JobSpec, as
// `resources` and `each` do, or in the padding.
static_assert(sizeof(StepSpec) <= 264, "StepSpec grew past 264 bytes: see the comment above");

struct JobSpec {
  std::string name;
  uint32_t max_parallel = 0;  // 0: no limit
  uint32_t lease_ms = 0;      // 0: the broker's default
  std::vector<uint8_t> abort_on_exit;  // a step exiting so ends the job (sorted, unique)
  std::vector<StepSpec> steps;
  std::vector<ResourceList> resource_requests;  // the distinct `resources` of the steps
  std::vector<ArraySpec> arrays;  // the array steps' `each`, in file order (invariant 7)
  // A templated job's edges (invariant 7): template t's references are
  // template_refs[template_refs_begin[t], ..[t + 1]). Both empty for a plain job.
  std::vector<TemplateRef> template_refs;
  std::vector<uint32_t> template_refs_begin;

  // Whether steps are templates (invariant 7) rather than plain steps.
  bool HasTemplates() const { return !template_refs_begin.empty(); }

  // What `step` asks for besides slots; empty for nothing.
  const ResourceList& ResourcesOf(const StepSpec& step) const {
    static const ResourceList kNone;
    return step.resources == 0 ? kNone : resource_requests[step.resources - 1];
  }
  // What array `step` is a template of; empty for a plain step.
  const ArraySpec& EachOf(const StepSpec& step) const {
    static const ArraySpec kPlain;
    return step.each == 0 ? kPlain : arrays[step.each - 1];
  }
};

}  // namespace drover
