// Pass 3 of LoadJob (shared/job_draft.h): array steps become plain steps,
// or, with LoadOptions::keep_arrays (the broker), stay templates.
//
// By default the loader expands every array (`each`) into one StepSpec per
// element, so the workers and the clients only ever see plain steps. The
// broker keeps arrays as templates (KeepArrays): the same checks run, every
// element is rendered to be checked and dropped, and the references are
// resolved between templates (job_templates.cc). Here:
//   - the element count against --max-steps, and the edges arrays make
//     against kMaxExpandedEdges;
//   - placeholders in every rendered field name a parameter or `index`;
//   - references to arrays: `prep` (every element), `prep[3]` (one) and
//     `prep[{index}]` (element by element, between arrays of one shape)
//     become references to elements, resolved here (StepRef::target);
//     any other reference is left for ValidateGraph to look up by id;
//   - each element gets its rendered id, argv, env, cwd and stdin, its
//     parameters in the environment, and those checked against the limits.
// A problem with an array is reported once, not once per element.

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <unordered_map>

#include "shared/job_array.h"
#include "shared/job_draft.h"
#include "shared/job_elements.h"
#include "shared/job_values.h"

namespace drover {
namespace {

// Edges arrays may make once written out (`after: ["sweep"]` on each element
// of another array is a product). About what a job file at the default
// --max-job-mb could list by hand (two bytes an edge), and 256 MiB of step
// indexes in the broker: a few hundred bytes of file must not cost more.
constexpr uint64_t kMaxExpandedEdges = uint64_t{1} << 26;

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

std::string StepPath(size_t file_index) { return "steps[" + std::to_string(file_index) + "]"; }

// "lr, seed and index": what a placeholder may name in `each`.
std::string PlaceholderNames(const ArraySpec& each) {
  std::string names;
  for (const ArrayParam& p : each.params) names += p.name + ", ";
  if (!names.empty()) names.replace(names.size() - 2, 2, " and ");
  return names + std::string(kIndexPlaceholder);
}

std::string ShapeText(const std::vector<uint64_t>& shape) {
  std::string text;
  for (uint64_t n : shape) text += (text.empty() ? "" : "x") + std::to_string(n);
  return text;
}

class Expander {
 public:
  // With `keep`, arrays stay templates: Run checks what expanding would,
  // and resolves the references between templates (ResolveTemplates)
  // instead of writing elements out.
  Expander(const JobLimits& limits, JobDraft* draft, ProblemList* problems, bool keep)
      : limits_(limits), draft_(draft), problems_(problems), keep_(keep) {}

  bool Run();

 private:
  enum class Kind : uint8_t {
    kById,     // not about an array: ValidateGraph looks it up
    kAll,      // every element of `array`
    kOne,      // element `element` of `array`
    kPaired,   // the element of `array` at the referring element's position
    kDropped,  // reported here already
  };
  struct Classified {
    Kind kind = Kind::kById;
    uint32_t array = 0;
    uint64_t element = 0;
  };

  bool CountElements();
  void IndexArrays();
  void CheckPlaceholders(uint32_t i);
  void CheckPlaceholdersIn(uint32_t i, std::string_view text, uint64_t order, std::string path);
  Classified Classify(uint32_t i, const StepRef& ref);
  bool CountEdges();
  void Build();
  bool Keep();
  // What rendering an array's elements needs, worked out once per array.
  struct Template {
    uint32_t file_index = 0;
    bool id_is_pattern = false;  // else element ids are "id[e]"
    std::optional<ElementRenderer> renderer;
  };
  Template TemplateOf(uint32_t i) const;
  StepSpec RenderElement(const Template& t, uint64_t e) const;
  // Reports the first thing wrong with `spec`, element `e` of the array;
  // false if anything is.
  bool CheckElement(const Template& t, uint64_t e, const StepSpec& spec);
  void Report(uint64_t order, std::string path, std::string message) {
    problems_->Add(order, std::move(path), std::move(message));
  }
  const ArraySpec& Each(uint32_t i) const { return draft_->job.EachOf(draft_->job.steps[i]); }
  bool IsArray(uint32_t i) const { return !Each(i).empty(); }

  const JobLimits& limits_;
  JobDraft* draft_;
  ProblemList* problems_;
  bool keep_ = false;
  std::vector<uint64_t> count_;  // per file step: its elements (1 for a plain step)
  std::vector<uint64_t> base_;   // per file step: the index of its first element
  std::unordered_map<std::string_view, uint32_t> arrays_;  // template id -> file step
  std::vector<Classified> classified_;                     // per JobDraft::refs entry
};

bool Expander::Run() {
  const auto& specs = draft_->job.steps;
  if (draft_->job.arrays.empty()) return true;
  if (!CountElements()) return false;
  IndexArrays();
  for (uint32_t i = 0; i < specs.size(); ++i) {
    if (IsArray(i)) CheckPlaceholders(i);
  }
  classified_.resize(draft_->refs.size());
  for (uint32_t i = 0; i < specs.size(); ++i) {
    const StepDraft& step = draft_->steps[i];
    for (size_t r = step.after_begin; r < step.after_end; ++r) {
      classified_[r] = Classify(i, draft_->refs[r]);
    }
    for (size_t r = step.stdin_from_begin; r < step.stdin_from_end; ++r) {
      classified_[r] = Classify(i, draft_->refs[r]);
    }
  }
  if (!CountEdges()) return false;
  if (keep_) return problems_->empty() && Keep();
  Build();
  return true;
}

bool Expander::CountElements() {
  const size_t n = draft_->job.steps.size();
  count_.resize(n);
  base_.resize(n);
  uint64_t total = 0;
  for (uint32_t i = 0; i < n; ++i) {
    count_[i] = IsArray(i) ? ElementCount(Each(i)) : 1;
    base_[i] = total;
    const bool over = count_[i] > limits_.max_steps || total > limits_.max_steps - count_[i];
    if (!over) {
      total += count_[i];
      continue;
    }
    const StepDraft& step = draft_->steps[i];
    const std::string path = StepPath(i) + (IsArray(i) ? ".each" : "");
    const std::string count =
        count_[i] == UINT64_MAX ? "more than 2^64" : std::to_string(count_[i]);
    if (count_[i] > limits_.max_steps) {
      Report(IsArray(i) ? step.each_order : step.order, path,
             "makes " + count + " elements, more than the limit of " +
                 std::to_string(limits_.max_steps) + " steps (--max-steps)");
    } else {
      Report(IsArray(i) ? step.each_order : step.order, path,
             "makes the job more than " + std::to_string(limits_.max_steps) +
                 " steps (--max-steps; each element of an array counts as one)");
    }
    return false;
  }
  return true;
}

void Expander::IndexArrays() {
  const auto& specs = draft_->job.steps;
  for (uint32_t i = 0; i < specs.size(); ++i) {
    if (IsArray(i) && draft_->steps[i].has_id) arrays_.emplace(specs[i].id, i);
  }
  // An array's id must not be a plain step's as well, nor another array's:
  // a reference to it would not say which it means.
  for (uint32_t i = 0; i < specs.size(); ++i) {
    const StepDraft& step = draft_->steps[i];
    if (!step.has_id) continue;
    const auto it = arrays_.find(specs[i].id);
    if (it == arrays_.end() || it->second == i) continue;
    Report(
        step.id_order, StepPath(i) + ".id",
        "duplicate id " + Quote(specs[i].id) + " (also " + StepPath(it->second) + ".id, an array)");
  }
}

void Expander::CheckPlaceholdersIn(uint32_t i, std::string_view text, uint64_t order,
                                   std::string path) {
  std::vector<std::string_view> reported;
  std::string value;
  ForEachPlaceholder(text, [&](std::string_view name, size_t) {
    if (PlaceholderValue(Each(i), name, 0, &value)) return;
    if (std::find(reported.begin(), reported.end(), name) != reported.end()) return;
    reported.push_back(name);
    Report(order, path,
           "unknown placeholder {" + std::string(name) + "} (the parameters here are " +
               PlaceholderNames(Each(i)) + "; write {{ and }} for a literal brace)");
  });
}

void Expander::CheckPlaceholders(uint32_t i) {
  const StepSpec& spec = draft_->job.steps[i];
  const StepDraft& step = draft_->steps[i];
  const std::string path = StepPath(i);
  if (step.has_id) CheckPlaceholdersIn(i, spec.id, step.id_order, path + ".id");
  if (spec.shell) {
    if (!spec.argv.empty()) CheckPlaceholdersIn(i, spec.argv[0], step.argv_order, path + ".cmd");
  } else {
    for (size_t a = 0; a < spec.argv.size(); ++a) {
      CheckPlaceholdersIn(i, spec.argv[a], step.argv_order,
                          path + ".argv[" + std::to_string(a) + "]");
    }
  }
  for (const auto& [name, value] : spec.env) {
    std::string env_path = path + ".env";
    AppendPathKey(name, &env_path);
    CheckPlaceholdersIn(i, value, step.env_order ? step.env_order : step.order, env_path);
  }
  CheckPlaceholdersIn(i, spec.cwd, step.cwd_order ? step.cwd_order : step.order, path + ".cwd");
  if (spec.stdin_data) {
    CheckPlaceholdersIn(i, *spec.stdin_data, step.stdin_order ? step.stdin_order : step.order,
                        path + ".stdin");
  }
}

Expander::Classified Expander::Classify(uint32_t i, const StepRef& ref) {
  const std::string_view id = ref.id;
  const StepDraft& step = draft_->steps[i];
  const std::string path =
      StepPath(i) + (ref.in_stdin_from ? ".stdin_from" : ".after") +
      (ref.position == kWholeField ? "" : "[" + std::to_string(ref.position) + "]");
  const auto self = [&] {
    Report(ref.order, path,
           ref.in_stdin_from ? "a step cannot read its own output"
                             : "a step cannot come after itself");
    return Classified{Kind::kDropped};
  };
  const size_t open = id.rfind('[');
  if (open != std::string_view::npos && id.ends_with(']')) {
    const auto it = arrays_.find(id.substr(0, open));
    const std::string_view inner = id.substr(open + 1, id.size() - open - 2);
    if (it != arrays_.end()) {
      const uint32_t a = it->second;
      if (inner.size() > 2 && inner.front() == '{' && inner.back() == '}' &&
          IsParamName(inner.substr(1, inner.size() - 2))) {
        const std::string_view name = inner.substr(1, inner.size() - 2);
        if (a == i) return self();
        if (!IsArray(i)) {
          // A step whose `each` was wrong has been told so already.
          if (step.each_order == 0) {
            Report(ref.order, path,
                   "{" + std::string(name) +
                       "} pairs elements of two arrays, but this step has no \"each\"");
          }
          return {Kind::kDropped};
        }
        std::string value;
        if (!PlaceholderValue(Each(i), name, 0, &value)) {
          Report(ref.order, path,
                 "unknown placeholder {" + std::string(name) + "} (the parameters here are " +
                     PlaceholderNames(Each(i)) + ")");
          return {Kind::kDropped};
        }
        const std::vector<uint64_t> mine = Shape(Each(i));
        const std::vector<uint64_t> theirs = Shape(Each(a));
        if (mine != theirs) {
          Report(ref.order, path,
                 "pairs elements with " + Quote(id.substr(0, open)) +
                     ", which has another shape (" + ShapeText(theirs) + " elements there, " +
                     ShapeText(mine) +
                     " here): arrays pair only when their parameters have "
                     "the same sizes in the same order");
          return {Kind::kDropped};
        }
        if (name != kIndexPlaceholder) {
          // Pairing is by position; naming a parameter promises that its
          // values match there too.
          const auto& ps = Each(i).params;
          const size_t p = static_cast<size_t>(
              std::find_if(ps.begin(), ps.end(),
                           [&](const ArrayParam& x) { return x.name == name; }) -
              ps.begin());
          const auto& other = Each(a).params[p];
          if (other.name != name || !(other == ps[p])) {
            Report(ref.order, path,
                   Quote(id.substr(0, open)) + " has no parameter " + Quote(name) +
                       " with the same values in the same place, so {" + std::string(name) +
                       "} cannot pair with it (pair by position with {index})");
            return {Kind::kDropped};
          }
        }
        return {Kind::kPaired, a, 0};
      }
      uint64_t element = 0;
      const auto [end, error] = std::from_chars(inner.data(), inner.data() + inner.size(), element);
      if (!inner.empty() && error == std::errc() && end == inner.data() + inner.size() &&
          (inner.size() == 1 || inner[0] != '0')) {
        if (element >= count_[a]) {
          Report(ref.order, path,
                 Quote(id.substr(0, open)) + " has " + std::to_string(count_[a]) +
                     " elements (0 to " + std::to_string(count_[a] - 1) + "), not " +
                     std::string(inner));
          return {Kind::kDropped};
        }
        return {Kind::kOne, a, element};
      }
    }
  }
  if (const auto it = arrays_.find(id); it != arrays_.end()) {
    if (it->second == i) return self();
    return {Kind::kAll, it->second, 0};
  }
  return {Kind::kById};
}

bool Expander::CountEdges() {
  uint64_t edges = 0;
  for (uint32_t i = 0; i < draft_->steps.size(); ++i) {
    const StepDraft& step = draft_->steps[i];
    uint64_t per_element = 0;
    const auto add = [&](size_t r) {
      per_element += classified_[r].kind == Kind::kAll ? count_[classified_[r].array] : 1;
    };
    for (size_t r = step.after_begin; r < step.after_end; ++r) add(r);
    for (size_t r = step.stdin_from_begin; r < step.stdin_from_end; ++r) add(r);
    // Each addend is at most 2^32 (the steps), and a step's references are
    // fewer than the file's bytes: the sum cannot wrap. The product is
    // checked by division before it is formed.
    const bool over = per_element > kMaxExpandedEdges ||
                      (per_element > 0 && count_[i] > (kMaxExpandedEdges - edges) / per_element);
    if (!over) edges += per_element * count_[i];
    if (over) {
      Report(step.order, StepPath(i),
             "its references to arrays make more than " + std::to_string(kMaxExpandedEdges) +
                 " dependencies in the job, written out; depend on fewer elements (a step "
                 "after the array can stand for it)");
      return false;
    }
  }
  return true;
}

Expander::Template Expander::TemplateOf(uint32_t i) const {
  Template t;
  t.file_index = i;
  ForEachPlaceholder(draft_->job.steps[i].id,
                     [&](std::string_view, size_t) { t.id_is_pattern = true; });
  t.renderer.emplace(draft_->job.steps[i], Each(i));
  return t;
}

StepSpec Expander::RenderElement(const Template& tmpl, uint64_t e) const {
  return tmpl.renderer->Render(e);
}

bool Expander::CheckElement(const Template& t, uint64_t e, const StepSpec& spec) {
  const uint32_t i = t.file_index;
  const StepDraft& step = draft_->steps[i];
  // Made only for a report: this runs for every element.
  const auto path = [&] { return StepPath(i); };
  const auto which = [&] { return "element " + std::to_string(e); };
  const std::string& id = spec.id;
  if (t.id_is_pattern) {
    // A default "id[e]" is valid whenever the id is; a rendered one may not be.
    if (id.empty() || id.size() > kMaxIdLength || !std::all_of(id.begin(), id.end(), IsIdChar)) {
      Report(step.id_order, path() + ".id",
             which() + "'s id " + Quote(id) + " is not a valid id (1 to " +
                 std::to_string(kMaxIdLength) +
                 " letters, digits, \"_\", \".\" and \"-\"): choose placeholders whose values "
                 "are such, or use {index}");
      return false;
    }
  }
  const auto argv_path = [&] { return path() + (spec.shell ? ".cmd" : ".argv"); };
  size_t argv_bytes = 0;
  for (const std::string& arg : spec.argv) argv_bytes += arg.size() + (spec.shell ? 0 : 1);
  if (argv_bytes > limits_.max_argv_bytes) {
    Report(step.argv_order, argv_path(),
           which() + "'s " + OverLimit(argv_bytes, limits_.max_argv_bytes, "a command line"));
    return false;
  }
  if (!spec.argv.empty() && spec.argv[0].empty()) {
    Report(step.argv_order, argv_path(),
           which() + "'s " + (spec.shell ? "command line" : "program to run") + " is empty");
    return false;
  }
  const uint64_t cwd_order = step.cwd_order ? step.cwd_order : step.order;
  if ((draft_->job.steps[i].cwd.size() > 0 && spec.cwd.empty()) || spec.cwd.size() > kMaxCwdBytes) {
    Report(cwd_order, path() + ".cwd",
           which() + "'s directory " +
               (spec.cwd.empty() ? std::string("is empty")
                                 : OverLength(spec.cwd.size(), kMaxCwdBytes)));
    return false;
  }
  const uint64_t env_order = step.env_order ? step.env_order : step.order;
  if (const size_t bytes = EnvBytes(spec.env); bytes > limits_.max_env_bytes) {
    Report(env_order, path() + ".env",
           which() + "'s " +
               OverLimit(bytes, limits_.max_env_bytes,
                         "a step's environment (with DROVER_PARAM_* and DROVER_INDEX)"));
    return false;
  }
  if (spec.env.size() > limits_.max_env_vars) {
    Report(env_order, path() + ".env",
           which() + " " +
               OverCount(spec.env.size(), limits_.max_env_vars,
                         "variables (with DROVER_PARAM_* and DROVER_INDEX)"));
    return false;
  }
  if (spec.stdin_data && spec.stdin_data->size() > limits_.max_stdin_bytes) {
    Report(step.stdin_order ? step.stdin_order : step.order, path() + ".stdin",
           which() + "'s stdin " +
               OverLimit(spec.stdin_data->size(), limits_.max_stdin_bytes, "inline stdin"));
    return false;
  }
  return true;
}

void Expander::Build() {
  JobDraft& d = *draft_;
  const size_t n = d.job.steps.size();
  const uint64_t total = base_[n - 1] + count_[n - 1];
  std::vector<StepSpec> specs;
  std::vector<StepDraft> steps;
  std::vector<StepRef> refs;
  specs.reserve(total);
  steps.reserve(total);
  d.file_ids.reserve(n);
  for (const StepSpec& s : d.job.steps) d.file_ids.push_back(s.id);
  const auto emit = [&](size_t r, uint64_t e) {
    const StepRef& ref = d.refs[r];
    const Classified& c = classified_[r];
    switch (c.kind) {
      case Kind::kById:
        refs.push_back(ref);
        break;
      case Kind::kAll:
        for (uint64_t k = 0; k < count_[c.array]; ++k) {
          refs.emplace_back(ref).target = static_cast<uint32_t>(base_[c.array] + k);
        }
        break;
      case Kind::kOne:
        refs.emplace_back(ref).target = static_cast<uint32_t>(base_[c.array] + c.element);
        break;
      case Kind::kPaired:
        refs.emplace_back(ref).target = static_cast<uint32_t>(base_[c.array] + e);
        break;
      case Kind::kDropped:
        break;
    }
  };
  for (uint32_t i = 0; i < n; ++i) {
    const StepDraft& file_step = d.steps[i];
    const Template tmpl = IsArray(i) ? TemplateOf(i) : Template{};
    bool checking = true;  // until one element has a problem
    for (uint64_t e = 0; e < count_[i]; ++e) {
      StepDraft& step = steps.emplace_back(file_step);
      step.element = IsArray(i) ? static_cast<uint32_t>(e) : kNotElement;
      step.after_begin = refs.size();
      for (size_t r = file_step.after_begin; r < file_step.after_end; ++r) emit(r, e);
      step.after_end = step.stdin_from_begin = refs.size();
      for (size_t r = file_step.stdin_from_begin; r < file_step.stdin_from_end; ++r) emit(r, e);
      step.stdin_from_end = refs.size();
      if (!IsArray(i)) {
        specs.push_back(std::move(d.job.steps[i]));  // its only use
        continue;
      }
      StepSpec& spec = specs.emplace_back(RenderElement(tmpl, e));
      if (checking) checking = CheckElement(tmpl, e, spec);
    }
  }
  d.file_steps = std::move(d.steps);
  d.steps = std::move(steps);
  d.job.steps = std::move(specs);
  d.refs = std::move(refs);
  d.job.arrays.clear();  // every template is written out (job_spec.h invariant 7)
}

bool Expander::Keep() {
  // Every element is checked as expanding would, rendered one at a time.
  for (uint32_t i = 0; i < draft_->job.steps.size(); ++i) {
    if (!IsArray(i)) continue;
    const Template tmpl = TemplateOf(i);
    for (uint64_t e = 0; e < count_[i]; ++e) {
      if (!CheckElement(tmpl, e, RenderElement(tmpl, e))) return false;
    }
  }
  std::vector<KeptRef> kept(draft_->refs.size());
  for (size_t r = 0; r < kept.size(); ++r) {
    const Classified& c = classified_[r];
    switch (c.kind) {
      case Kind::kById:
        kept[r].by_id = true;
        break;
      case Kind::kAll:
        kept[r].ref = {.step = c.array, .kind = RefKind::kAll};
        break;
      case Kind::kOne:
        kept[r].ref = {
            .step = c.array, .element = static_cast<uint32_t>(c.element), .kind = RefKind::kOne};
        break;
      case Kind::kPaired:
        kept[r].ref = {.step = c.array, .kind = RefKind::kPaired};
        break;
      case Kind::kDropped:
        return false;  // reported
    }
  }
  return ResolveTemplates(draft_, kept, count_);
}

}  // namespace

bool ExpandArrays(const JobLimits& limits, JobDraft* draft, ProblemList* problems) {
  return Expander(limits, draft, problems, /*keep=*/false).Run();
}

bool KeepArrays(const JobLimits& limits, JobDraft* draft, ProblemList* problems) {
  return Expander(limits, draft, problems, /*keep=*/true).Run();
}

}  // namespace drover
