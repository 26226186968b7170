#include "shared/job_elements.h"

#include <cctype>
#include <charconv>

#include "shared/job_array.h"

namespace drover {
namespace {

// "DROVER_PARAM_" + the name upper-cased.
std::string ParamEnvName(std::string_view name) {
  std::string env = "DROVER_PARAM_";
  for (char c : name) env += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return env;
}

void SetEnv(EnvList* env, std::string name, std::string value) {
  for (auto& [n, v] : *env) {
    if (n == name) {
      v = std::move(value);
      return;
    }
  }
  env->emplace_back(std::move(name), std::move(value));
}

std::span<const TemplateRef> RefsOf(const JobSpec& job, uint32_t t) {
  return {job.template_refs.data() + job.template_refs_begin[t],
          job.template_refs.data() + job.template_refs_begin[t + 1]};
}

}  // namespace

std::vector<uint32_t> FirstElements(const JobSpec& job) {
  std::vector<uint32_t> first(job.steps.size() + 1);
  uint64_t total = 0;
  for (size_t t = 0; t < job.steps.size(); ++t) {
    first[t] = static_cast<uint32_t>(total);
    total += ElementCount(job.EachOf(job.steps[t]));
  }
  first[job.steps.size()] = static_cast<uint32_t>(total);
  return first;
}

ElementEdges ElementAfter(const JobSpec& job, const std::vector<uint32_t>& first) {
  const uint32_t n = first.back();
  ElementEdges edges;
  edges.begin.assign(n + 1, 0);
  // listed[x] == e + 1: element e has an edge to x already.
  std::vector<uint32_t> listed(n, 0);
  uint32_t e = 0;
  for (uint32_t t = 0; t < job.steps.size(); ++t) {
    const std::span<const TemplateRef> refs = RefsOf(job, t);
    // stdin_from references lead `refs`, so their elements lead each row.
    for (uint32_t k = 0; first[t] + k < first[t + 1]; ++k, ++e) {
      edges.begin[e] = static_cast<uint32_t>(edges.after.size());
      const auto add = [&](uint32_t x) {
        if (listed[x] == e + 1) return;
        listed[x] = e + 1;
        edges.after.push_back(StepIndex(x));
      };
      for (const TemplateRef& ref : refs) {
        switch (ref.kind) {
          case RefKind::kAll:
            for (uint32_t x = first[ref.step]; x < first[ref.step + 1]; ++x) add(x);
            break;
          case RefKind::kOne:
            add(first[ref.step] + ref.element);
            break;
          case RefKind::kPaired:
            add(first[ref.step] + k);
            break;
        }
      }
    }
  }
  edges.begin[n] = static_cast<uint32_t>(edges.after.size());
  return edges;
}

uint32_t StdinFromCount(const JobSpec& job, const std::vector<uint32_t>& first, uint32_t t) {
  if (!job.HasTemplates()) return job.steps[t].stdin_from_count;
  const std::span<const TemplateRef> refs = RefsOf(job, t);
  uint32_t count = 0;
  for (uint32_t r = 0; r < job.steps[t].stdin_from_count; ++r) {
    count += refs[r].kind == RefKind::kAll ? first[refs[r].step + 1] - first[refs[r].step] : 1;
  }
  return count;
}

std::vector<bool> CapturedElements(const JobSpec& job) {
  if (!job.HasTemplates()) {
    std::vector<bool> captured(job.steps.size());
    for (const StepSpec& step : job.steps) {
      for (StepIndex producer : step.StdinFrom()) captured[producer.value] = true;
    }
    return captured;
  }
  const std::vector<uint32_t> first = FirstElements(job);
  std::vector<bool> captured(first.back());
  for (uint32_t t = 0; t < job.steps.size(); ++t) {
    const std::span<const TemplateRef> refs = RefsOf(job, t);
    for (uint32_t r = 0; r < job.steps[t].stdin_from_count; ++r) {
      const TemplateRef& ref = refs[r];
      if (ref.kind == RefKind::kOne) {
        captured[first[ref.step] + ref.element] = true;
      } else {
        // Every element, or each at its reader's index: all of them.
        for (uint32_t x = first[ref.step]; x < first[ref.step + 1]; ++x) captured[x] = true;
      }
    }
  }
  return captured;
}

ElementRenderer::ElementRenderer(const StepSpec& step, const ArraySpec& each)
    : step_(step), each_(each) {
  if (each.empty()) return;
  ForEachPlaceholder(step.id, [&](std::string_view, size_t) { id_is_pattern_ = true; });
  for (const ArrayParam& p : each.params) env_names_.push_back(ParamEnvName(p.name));
  // Fields with nothing to render are copied: most of a sweep's are.
  for (const std::string& arg : step.argv) renders_.push_back(NeedsRendering(arg));
  for (const auto& [name, value] : step.env) renders_.push_back(NeedsRendering(value));
  renders_.push_back(NeedsRendering(step.cwd));
  renders_.push_back(step.stdin_data && NeedsRendering(*step.stdin_data));
}

std::string ElementRenderer::Id(uint64_t e) const {
  if (each_.empty()) return step_.id;
  if (id_is_pattern_) return drover::Render(step_.id, each_, e);
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, e).ptr;
  std::string id;
  id.reserve(step_.id.size() + static_cast<size_t>(end - digits) + 2);
  id.append(step_.id).append(1, '[').append(digits, end).append(1, ']');
  return id;
}

std::string ElementRenderer::Field(size_t field, const std::string& text, uint64_t e) const {
  return renders_[field] ? drover::Render(text, each_, e) : text;
}

StepSpec ElementRenderer::Render(uint64_t e) const {
  const StepSpec& t = step_;
  if (each_.empty()) {
    StepSpec plain = t;
    plain.after.clear();
    plain.stdin_from_count = 0;
    return plain;
  }
  const ArraySpec& each = each_;
  StepSpec spec;
  spec.id = Id(e);
  size_t field = 0;  // into renders_: argv, env values, cwd, stdin
  spec.argv.reserve(t.argv.size());
  for (const std::string& arg : t.argv) spec.argv.push_back(Field(field++, arg, e));
  spec.env.reserve(t.env.size() + each.params.size() + 1);
  for (const auto& [name, value] : t.env) spec.env.emplace_back(name, Field(field++, value, e));
  for (size_t p = 0; p < each.params.size(); ++p) {
    SetEnv(&spec.env, env_names_[p], ParamValue(each, p, e));
  }
  SetEnv(&spec.env, "DROVER_INDEX", std::to_string(e));
  spec.cwd = Field(field++, t.cwd, e);
  if (t.stdin_data) spec.stdin_data = Field(field, *t.stdin_data, e);
  spec.retry_unless_exit = t.retry_unless_exit;
  spec.requires_labels = t.requires_labels;
  spec.timeout_ms = t.timeout_ms;
  spec.retries = t.retries;
  spec.retry_delay_ms = t.retry_delay_ms;
  spec.slots = t.slots;
  spec.priority = t.priority;
  spec.duration_ms = t.duration_ms;
  spec.time_request_ms = t.time_request_ms;
  spec.resources = t.resources;
  spec.shell = t.shell;
  spec.stdin_stream = t.stdin_stream;
  spec.when = t.when;
  return spec;
}

StepSpec RenderElement(const JobSpec& job, uint32_t t, uint64_t e) {
  return ElementRenderer(job.steps[t], job.EachOf(job.steps[t])).Render(e);
}

std::string ElementIdOf(const JobSpec& job, uint32_t t, uint64_t e) {
  return ElementRenderer(job.steps[t], job.EachOf(job.steps[t])).Id(e);
}

JobSpec ExpandTemplates(const JobSpec& job) {
  if (!job.HasTemplates()) return job;
  JobSpec plain;
  plain.name = job.name;
  plain.max_parallel = job.max_parallel;
  plain.lease_ms = job.lease_ms;
  plain.abort_on_exit = job.abort_on_exit;
  plain.resource_requests = job.resource_requests;
  const std::vector<uint32_t> first = FirstElements(job);
  const ElementEdges edges = ElementAfter(job, first);
  plain.steps.reserve(first.back());
  for (uint32_t t = 0; t < job.steps.size(); ++t) {
    const ElementRenderer renderer(job.steps[t], job.EachOf(job.steps[t]));
    const uint32_t readers = StdinFromCount(job, first, t);
    for (uint32_t e = first[t]; e < first[t + 1]; ++e) {
      StepSpec& spec = plain.steps.emplace_back(renderer.Render(e - first[t]));
      const std::span<const StepIndex> after = edges.Of(e);
      spec.after.assign(after.begin(), after.end());
      spec.stdin_from_count = readers;
    }
  }
  return plain;
}

}  // namespace drover
