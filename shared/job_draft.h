// Internal to the job loader (shared/job_*.cc); other components use
// shared/job_load.h.
//
// LoadJob runs in passes over one decoded MessagePack value:
//   1. ParseJob (job_parse.cc): types, ranges, unknown fields and limits, into
//      a JobDraft whose step references are still ids as written.
//   2. ApplyDefaults (job_parse.cc): the `defaults` map into every step.
//   3. ExpandArrays (job_expand.cc): each array step (`each`) into one plain
//      step per element, its references to arrays resolved to elements.
//      Or, for the broker, KeepArrays: the arrays kept as templates.
//   4. ValidateGraph (job_validate.cc): unique ids, references, cycles.
//   5. ValidateKinds (job_validate.cc): kinds of steps and resource names.
// A file past the step limit once arrays are counted skips 4 and 5.
// Each pass keeps going after a problem, so one run reports them all. Every
// value visited gets an `order` number in file order; problems carry the
// number of the value they are about, so the final list comes out in file
// order whichever pass found them.
#pragma once

#include <msgpack.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/job_load.h"
#include "shared/job_spec.h"
#include "shared/status.h"

namespace drover {

// Deeper than any job file needs (root, steps, step, env is 4 levels), and
// shallow enough that nothing walking a decoded value can run out of stack.
inline constexpr size_t kMaxJobDepth = 32;

// Fixed limits on strings and small lists: generous for any real job, and
// small enough that no one value can make the broker's state or a log line
// big. (The configurable ones are in JobLimits.)
inline constexpr size_t kMaxIdLength = 128;      // a step id
inline constexpr size_t kMaxNameBytes = 256;     // the job's name
inline constexpr size_t kMaxCwdBytes = 4096;     // PATH_MAX: chdir takes no longer
inline constexpr size_t kMaxLabelLength = 128;   // one label in `requires`
inline constexpr size_t kMaxLabels = 64;         // labels in one `requires`
inline constexpr size_t kMaxExitCodeList = 255;  // entries in an exit code list
// Different combinations of (slots, requires, resources) in one job: the
// broker keeps a ready queue for each and looks at every queue's head when
// it places a step, so their number is a cost per step placed.
inline constexpr size_t kMaxStepKinds = 1024;
// Different resource names in one job: the broker never forgets a name.
inline constexpr size_t kMaxResourceNames = 64;

// Where a value sits in the job file: a chain of links on the walker's stack,
// turned into text ("steps[3].env.HOME") only when a problem needs it, so a
// valid file builds no path strings. The root is a null PathNode pointer.
struct PathNode {
  const PathNode* parent = nullptr;
  bool is_index = false;
  size_t index = 0;      // when is_index
  std::string_view key;  // otherwise
};
std::string PathString(const PathNode* node);
// Appends ".key" or, for a key that is not a plain word, "[\"a key\"]".
void AppendPathKey(std::string_view key, std::string* path);

// Problems in the order found, each with the file position it is about.
class ProblemList {
 public:
  void Add(uint64_t order, std::string path, std::string message);
  void Add(uint64_t order, const PathNode* path, std::string message) {
    Add(order, PathString(path), std::move(message));
  }
  bool empty() const { return problems_.empty(); }
  // All problems, sorted by file position (ties keep the order found).
  std::vector<Problem> TakeInFileOrder();

 private:
  std::vector<std::pair<uint64_t, Problem>> problems_;
};

// `text` in double quotes, escaped, shortened to about `max_bytes` with "...".
std::string Quote(std::string_view text, size_t max_bytes = 40);
// A short description of a value for "expected X, got Y": `string "3"`,
// `integer 7`, `a map`, `an array`, `null`.
std::string DescribeValue(const msgpack::object& o);
// Just the kind of a value: "a string", "an integer", "a map".
const char* KindName(const msgpack::object& o);
// A string value's bytes. REQUIRES: o.type == STR.
inline std::string_view StrView(const msgpack::object& o) {
  return {o.via.str.ptr, o.via.str.size};
}
bool IsValidUtf8(std::string_view text);

// Checks `bytes` hold exactly one well-formed MessagePack value nested at most
// kMaxJobDepth deep, with no ext values (ScanMsgpack), then decodes it. Strings in the result point into
// `bytes`, which must outlive `handle`. The message says what is wrong.
Status DecodeJobBytes(std::string_view bytes, msgpack::object_handle* handle);

// A reference to another step by id, as the file wrote it.
struct StepRef {
  std::string_view id;  // points into the decoded bytes
  uint64_t order = 0;
  uint32_t position = 0;  // its index in `after` or `stdin_from`, or kWholeField
  bool in_stdin_from = false;
  // The step it names, when ExpandArrays resolved it already (it names an
  // array or an element); kUnresolved for ValidateGraph to look up by id.
  uint32_t target = UINT32_MAX;
};
inline constexpr uint32_t kUnresolved = UINT32_MAX;
// StepRef::position of a `stdin_from` given as one id rather than a list.
inline constexpr uint32_t kWholeField = UINT32_MAX;

// Optional step fields, as bits of StepDraft::set: which ones a step (or
// `defaults`) sets itself, and so which defaults still apply to it.
enum StepFieldBit : uint32_t {
  kSetWhen = 1u << 0,
  kSetStdin = 1u << 1,
  kSetEnv = 1u << 2,
  kSetCwd = 1u << 3,
  kSetTimeout = 1u << 4,
  kSetRetries = 1u << 5,
  kSetSlots = 1u << 6,
  kSetRequires = 1u << 7,
  kSetPriority = 1u << 8,
  kSetRetryDelay = 1u << 9,
  kSetRetryUnlessExit = 1u << 10,
  kSetDuration = 1u << 11,
  kSetResources = 1u << 12,
  kSetTimeRequest = 1u << 13,
};

// StepDraft::element of a step that is not an array's element.
inline constexpr uint32_t kNotElement = UINT32_MAX;

// What the loader knows about a step besides its StepSpec: where things are
// in the file, and the references still to resolve.
struct StepDraft {
  uint64_t order = 0;   // of the step's map
  bool has_id = false;  // `id` is a string (valid or not: it is still indexed,
                        // so a bad id does not also break every reference to it)
  bool id_valid = false;  // and keeps the id rules: problems name the step by it
  uint64_t id_order = 0;
  uint64_t env_order = 0;
  uint64_t argv_order = 0;  // of `argv` or `cmd`
  uint64_t cwd_order = 0;
  uint64_t stdin_order = 0;
  uint64_t each_order = 0;
  uint32_t set = 0;               // StepFieldBit values of the fields given a valid value
  bool names_stdin_from = false;  // the field is present, valid or not
  size_t after_begin = 0;         // its `after` is JobDraft::refs[after_begin, after_end)
  size_t after_end = 0;
  size_t stdin_from_begin = 0;  // its `stdin_from`, JobDraft::refs[begin, end)
  size_t stdin_from_end = 0;
  // Where the step is in the file: after ExpandArrays, an array's elements
  // all point at the array's entry in `steps`.
  uint32_t file_index = 0;
  uint32_t element = kNotElement;  // which element of that array it is
};

struct JobDraft {
  JobSpec job;                   // what LoadJob returns; ValidateGraph fills in
                                 // each step's `after` and `stdin_from`
  std::vector<StepDraft> steps;  // one for each of job.steps
  std::vector<StepRef> refs;     // every `after` and `stdin_from` entry
  StepSpec defaults;             // the values in `defaults`,
  StepDraft defaults_draft;      // and which fields it sets
  // The steps as the file has them, once ExpandArrays has replaced `steps`
  // with elements (empty when the file has no array): problems name steps
  // by file position and id.
  std::vector<StepDraft> file_steps;
  std::vector<std::string> file_ids;
};

void ParseJob(const msgpack::object& root, const JobLimits& limits, JobDraft* draft,
              ProblemList* problems);
void ApplyDefaults(const JobLimits& limits, JobDraft* draft, ProblemList* problems);
// False when the file asks for more steps than the limits allow: its graph
// is then not examined (the file is rejected whatever it holds).
bool ExpandArrays(const JobLimits& limits, JobDraft* draft, ProblemList* problems);
// Pass 3 with LoadOptions::keep_arrays: the same checks as ExpandArrays,
// every element rendered and checked but none kept; then the references
// between templates resolved (ResolveTemplates) and the graph checked at the
// template level, which for the three kinds of references is as good as
// element by element (a cycle among templates is one among elements, since
// every element of a template comes after some element of each template it
// names). True when draft->job is a valid templated JobSpec (job_spec.h,
// invariant 7); false when anything is wrong or in doubt, and LoadJob then
// expands to say what (a rare file: duplicate or unknown ids, overlapping
// stdin_from, a cycle). Passes 4 and 5 are not needed after it but 5.
bool KeepArrays(const JobLimits& limits, JobDraft* draft, ProblemList* problems);
// One JobDraft::refs entry, classified by KeepArrays: an array reference
// already resolved to a template, or an id still to look up.
struct KeptRef {
  bool by_id = false;
  TemplateRef ref;  // unless by_id
};
// Resolves `refs` (one per JobDraft::refs entry) into draft->job's
// template_refs, given each template's element count; false when the
// expanding loader must judge the file (above). job_templates.cc.
bool ResolveTemplates(JobDraft* draft, const std::vector<KeptRef>& refs,
                      const std::vector<uint64_t>& count);
void ValidateGraph(JobDraft* draft, ProblemList* problems);
// Pass 5: the limits on kinds of steps and resource names in one job.
void ValidateKinds(const JobDraft& draft, ProblemList* problems);

}  // namespace drover
