#include "broker/core/carry_over.h"

#include <algorithm>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

#include "shared/job_elements.h"

namespace drover::broker {
namespace {

EnvList Sorted(EnvList env) {
  std::sort(env.begin(), env.end());
  return env;
}

}  // namespace

size_t CarryOver::carried() const {
  return static_cast<size_t>(
      std::count_if(from.begin(), from.end(), [](const auto& f) { return f.has_value(); }));
}

std::vector<bool> CarryOver::Succeeded() const {
  std::vector<bool> out(from.size());
  for (size_t i = 0; i < from.size(); ++i) out[i] = from[i].has_value();
  return out;
}

bool SameWork(const JobSpec& a_job, const StepSpec& a, const JobSpec& b_job, const StepSpec& b) {
  if (a.shell != b.shell || a.argv != b.argv || a.cwd != b.cwd || a.stdin_data != b.stdin_data ||
      a.StdinFrom().size() != b.StdinFrom().size()) {
    return false;
  }
  // The same producers, by id, in the same order.
  for (size_t k = 0; k < a.StdinFrom().size(); ++k) {
    if (a_job.steps[a.StdinFrom()[k].value].id != b_job.steps[b.StdinFrom()[k].value].id) {
      return false;
    }
  }
  // Usually in the same order: sort only when they differ.
  return a.env == b.env || Sorted(a.env) == Sorted(b.env);
}

CarryOver PlanCarryOver(const JobSpec& old_in, const std::vector<bool>& old_succeeded,
                        const std::vector<uint32_t>& old_captured, const JobSpec& next_in) {
  // Elements are matched by id, written out: a resume costs what a job
  // with its arrays expanded costs (rare, and once).
  const JobSpec expanded_old = old_in.HasTemplates() ? ExpandTemplates(old_in) : JobSpec();
  const JobSpec expanded_next = next_in.HasTemplates() ? ExpandTemplates(next_in) : JobSpec();
  const JobSpec& old = old_in.HasTemplates() ? expanded_old : old_in;
  const JobSpec& next = next_in.HasTemplates() ? expanded_next : next_in;
  const size_t n = next.steps.size();
  CarryOver plan;
  plan.from.assign(n, std::nullopt);

  std::unordered_map<std::string_view, uint32_t> old_index;
  old_index.reserve(old.steps.size());
  for (uint32_t i = 0; i < old.steps.size(); ++i) old_index.emplace(old.steps[i].id, i);
  std::vector<bool> in_next(old.steps.size());
  std::vector<bool> captured(old.steps.size());
  for (uint32_t i : old_captured) {
    if (i < captured.size()) captured[i] = true;
  }
  std::vector<bool> read(n);  // some step of `next` reads its stdout
  for (const StepSpec& step : next.steps) {
    for (StepIndex producer : step.StdinFrom()) read[producer.value] = true;
  }

  // Rules 1, 2 and 4: the candidates.
  std::vector<std::optional<StepIndex>> candidate(n);
  for (uint32_t i = 0; i < n; ++i) {
    auto it = old_index.find(next.steps[i].id);
    if (it == old_index.end()) continue;
    const uint32_t o = it->second;
    in_next[o] = true;
    if (o >= old_succeeded.size() || !old_succeeded[o]) continue;
    if (!SameWork(old, old.steps[o], next, next.steps[i])) continue;
    if (read[i] && !captured[o]) continue;
    candidate[i] = StepIndex(o);
  }

  // Rule 3, in an order where every step comes after its after-steps
  // (Kahn's): a worklist, since a graph may be a million steps deep.
  std::vector<uint32_t> left(n);
  std::vector<uint32_t> dependents_start(n + 1, 0);
  for (uint32_t i = 0; i < n; ++i) {
    left[i] = static_cast<uint32_t>(next.steps[i].after.size());
    for (StepIndex a : next.steps[i].after) ++dependents_start[a.value + 1];
  }
  for (size_t i = 0; i < n; ++i) dependents_start[i + 1] += dependents_start[i];
  std::vector<uint32_t> dependents(dependents_start[n]);
  std::vector<uint32_t> fill(dependents_start.begin(), dependents_start.end() - 1);
  for (uint32_t i = 0; i < n; ++i) {
    for (StepIndex a : next.steps[i].after) dependents[fill[a.value]++] = i;
  }
  std::vector<uint32_t> ready;
  for (uint32_t i = 0; i < n; ++i) {
    if (left[i] == 0) ready.push_back(i);
  }
  while (!ready.empty()) {
    const uint32_t i = ready.back();
    ready.pop_back();
    const std::vector<StepIndex>& after = next.steps[i].after;
    if (candidate[i] && std::all_of(after.begin(), after.end(),
                                    [&](StepIndex a) { return plan.from[a.value].has_value(); })) {
      plan.from[i] = candidate[i];
    }
    for (uint32_t d = dependents_start[i]; d < dependents_start[i + 1]; ++d) {
      if (--left[dependents[d]] == 0) ready.push_back(dependents[d]);
    }
  }

  for (uint32_t o = 0; o < old.steps.size(); ++o) {
    if (!in_next[o]) plan.dropped.push_back(old.steps[o].id);
  }
  return plan;
}

CarryOver CarryOverFromRecord(size_t steps, const std::vector<uint32_t>& succeeded,
                              const std::vector<uint32_t>& from) {
  CarryOver plan;
  plan.from.assign(steps, std::nullopt);
  for (size_t k = 0; k < succeeded.size(); ++k) {
    const uint32_t i = succeeded[k];
    if (i >= steps) continue;
    plan.from[i] = StepIndex(k < from.size() ? from[k] : i);
  }
  return plan;
}

void CheckCarryOver(const CarryOver& plan, const JobSpec& old_in,
                    const std::vector<bool>& old_succeeded, const JobSpec& next_in) {
  const JobSpec old = ExpandTemplates(old_in);
  const JobSpec next = ExpandTemplates(next_in);
  if (plan.from.size() != next.steps.size()) throw std::logic_error("carry over: plan size");
  for (size_t i = 0; i < plan.from.size(); ++i) {
    if (!plan.from[i]) continue;
    const uint32_t o = plan.from[i]->value;
    if (o >= old.steps.size() || old.steps[o].id != next.steps[i].id) {
      throw std::logic_error("carry over: a step taken from a step of another id");
    }
    if (o >= old_succeeded.size() || !old_succeeded[o]) {
      throw std::logic_error("carry over: a step taken from one that did not succeed");
    }
    for (StepIndex a : next.steps[i].after) {
      if (!plan.from[a.value]) throw std::logic_error("carry over: an after-step runs again");
    }
  }
}

}  // namespace drover::broker
