// ResolveTemplates (shared/job_draft.h): the graph of a job whose arrays
// stay templates. It accepts only what ValidateGraph would accept of the
// expanded steps, and gives up (false, nothing reported) on anything else,
// so that LoadJob expands and reports as it always does. Its costs are per
// template and per reference, except for arrays whose ids are patterns:
// their elements' ids are rendered once, to check them unique and to find
// references to them.

#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "shared/job_array.h"
#include "shared/job_draft.h"
#include "shared/job_elements.h"

namespace drover {
namespace {

struct Named {
  uint32_t step = 0;
  uint32_t element = 0;
};

// Kahn's algorithm over the templates: whether their references form no cycle.
bool Acyclic(const JobSpec& job) {
  const size_t n = job.steps.size();
  std::vector<uint32_t> left(n);  // references not yet satisfied
  std::vector<std::vector<uint32_t>> dependents(n);
  for (uint32_t t = 0; t < n; ++t) {
    for (uint32_t r = job.template_refs_begin[t]; r < job.template_refs_begin[t + 1]; ++r) {
      dependents[job.template_refs[r].step].push_back(t);
      ++left[t];
    }
  }
  std::vector<uint32_t> ready;
  for (uint32_t t = 0; t < n; ++t) {
    if (left[t] == 0) ready.push_back(t);
  }
  size_t done = 0;
  while (!ready.empty()) {
    const uint32_t t = ready.back();
    ready.pop_back();
    ++done;
    for (uint32_t d : dependents[t]) {
      if (--left[d] == 0) ready.push_back(d);
    }
  }
  return done == n;
}

// Whether two stdin_from references of one template may read the same
// element (expansion calls that "already read").
bool Overlap(const TemplateRef& a, const TemplateRef& b) {
  if (a.step != b.step) return false;
  return !(a.kind == RefKind::kOne && b.kind == RefKind::kOne && a.element != b.element);
}

}  // namespace

bool ResolveTemplates(JobDraft* draft, const std::vector<KeptRef>& refs,
                      const std::vector<uint64_t>& count) {
  JobSpec& job = draft->job;
  const size_t n = job.steps.size();
  // Ids that a reference may name by id: plain steps', and the elements'
  // of arrays whose ids are patterns. ("prep" and "prep[3]" of an array
  // came classified.)
  std::vector<std::string> rendered;
  std::unordered_map<std::string_view, Named> ids;
  for (uint32_t t = 0; t < n; ++t) {
    const StepSpec& step = job.steps[t];
    const ArraySpec& each = job.EachOf(step);
    if (each.empty()) {
      // A plain id may look like an element's ("train[3]"): expansion
      // judges whether it clashes.
      if (step.id.find('[') != std::string::npos) return false;
      if (!ids.emplace(step.id, Named{t, 0}).second) return false;
      continue;
    }
    if (step.id.find('{') == std::string::npos) continue;  // "id[e]": unique by form
    const ElementRenderer renderer(step, each);
    for (uint64_t e = 0; e < count[t]; ++e) rendered.push_back(renderer.Id(e));
  }
  for (uint32_t t = 0, k = 0; t < n; ++t) {
    const StepSpec& step = job.steps[t];
    if (job.EachOf(step).empty() || step.id.find('{') == std::string::npos) continue;
    for (uint64_t e = 0; e < count[t]; ++e, ++k) {
      if (!ids.emplace(rendered[k], Named{t, static_cast<uint32_t>(e)}).second) return false;
    }
  }

  job.template_refs.clear();
  job.template_refs_begin.assign(n + 1, 0);
  for (uint32_t t = 0; t < n; ++t) {
    const StepDraft& step = draft->steps[t];
    StepSpec& spec = job.steps[t];
    job.template_refs_begin[t] = static_cast<uint32_t>(job.template_refs.size());
    const auto resolve = [&](size_t r, TemplateRef* out) {
      if (!refs[r].by_id) {
        *out = refs[r].ref;
      } else {
        const auto it = ids.find(draft->refs[r].id);
        if (it == ids.end()) return false;  // unknown
        *out = {.step = it->second.step, .element = it->second.element, .kind = RefKind::kOne};
      }
      return out->step != t;  // a step after itself, or after its own element
    };
    TemplateRef ref;
    for (size_t r = step.stdin_from_begin; r < step.stdin_from_end; ++r) {
      if (!resolve(r, &ref)) return false;
      for (uint32_t k = job.template_refs_begin[t]; k < job.template_refs.size(); ++k) {
        if (Overlap(job.template_refs[k], ref)) return false;
      }
      job.template_refs.push_back(ref);
    }
    spec.stdin_from_count =
        static_cast<uint32_t>(job.template_refs.size()) - job.template_refs_begin[t];
    if (spec.stdin_stream) {
      // One producer for each element, and no `when` to wait for: anything
      // else the expanding loader reports.
      if (spec.stdin_from_count != 1 || spec.when != When::kSuccess) return false;
      const TemplateRef& only = job.template_refs[job.template_refs_begin[t]];
      if (only.kind == RefKind::kAll && ElementCount(job.EachOf(job.steps[only.step])) != 1) {
        return false;
      }
    }
    for (size_t r = step.after_begin; r < step.after_end; ++r) {
      if (!resolve(r, &ref)) return false;
      job.template_refs.push_back(ref);
    }
    if (spec.when == When::kFailure && job.template_refs.size() == job.template_refs_begin[t]) {
      return false;  // a "failure" step with nothing to follow
    }
    spec.after.clear();
  }
  job.template_refs_begin[n] = static_cast<uint32_t>(job.template_refs.size());
  if (!Acyclic(job)) {
    job.template_refs_begin.clear();
    return false;
  }
  return true;
}

}  // namespace drover
