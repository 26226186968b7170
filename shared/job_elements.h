// The elements of a JobSpec (shared/job_spec.h, invariant 7): a plain job's
// steps, or a templated job's templates written out. Elements are numbered
// template by template in file order, an array's in its index order: the
// numbering LoadJob's expansion gives, so a StepIndex means the same step
// either way. Pure functions of the spec, for the broker, which keeps arrays
// as templates and renders an element only when something needs it (its
// dispatch, its id in a message), and for tests and clients that want the
// plain steps.
//
// Costs: FirstElements is O(templates); ElementAfter O(elements + edges
// written out), 4 bytes per element and per edge; rendering one element is
// O(its fields' size).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "shared/ids.h"
#include "shared/job_spec.h"

namespace drover {

// first[t] is the element index of template t's element 0; first[steps] is
// the number of elements. For a plain job, first[i] == i.
std::vector<uint32_t> FirstElements(const JobSpec& job);

// Every element's `after` (invariant 3 of job_spec.h for the element:
// its stdin_from steps first, in order, then the rest, no duplicates), in
// compressed rows: element e's are after[begin[e], begin[e + 1]).
struct ElementEdges {
  std::vector<uint32_t> begin;  // size elements + 1
  std::vector<StepIndex> after;
  std::span<const StepIndex> Of(uint32_t e) const {
    return {after.data() + begin[e], after.data() + begin[e + 1]};
  }
};
// REQUIRES: job.HasTemplates(); `first` is FirstElements(job).
ElementEdges ElementAfter(const JobSpec& job, const std::vector<uint32_t>& first);

// How many of the first `after` entries of each element of template `t`
// are its stdin_from steps (the same for every element of a template).
uint32_t StdinFromCount(const JobSpec& job, const std::vector<uint32_t>& first, uint32_t t);

// Whether some element reads element e's stdout (stdin_from), for every e.
std::vector<bool> CapturedElements(const JobSpec& job);

// Renders the elements of one template: its id, argv (or cmd), env (with
// DROVER_PARAM_<NAME> and DROVER_INDEX), cwd and stdin for each element,
// as expanding the array gives them. A plain step renders as itself.
class ElementRenderer {
 public:
  // REQUIRES: `step` and `each` outlive the renderer.
  ElementRenderer(const StepSpec& step, const ArraySpec& each);
  // Element `e` as a plain step; its `after` and stdin_from_count are left
  // empty (ElementAfter has them). REQUIRES: e < ElementCount(each).
  StepSpec Render(uint64_t e) const;
  std::string Id(uint64_t e) const;

 private:
  // Field number `field` (renders_) of element e: `text` rendered, or
  // copied when it has nothing to render.
  std::string Field(size_t field, const std::string& text, uint64_t e) const;

  const StepSpec& step_;
  const ArraySpec& each_;
  bool id_is_pattern_ = false;          // else element ids are "id[e]"
  std::vector<std::string> env_names_;  // DROVER_PARAM_<NAME>, per parameter
  // Per argv entry, env value, then cwd and stdin: whether it needs rendering.
  std::vector<bool> renders_;
};

// Element `e` of template `t` (e < its count), and just its id.
StepSpec RenderElement(const JobSpec& job, uint32_t t, uint64_t e);
std::string ElementIdOf(const JobSpec& job, uint32_t t, uint64_t e);

// The plain JobSpec a templated one stands for: what LoadJob gives
// without keep_arrays. A plain `job` comes back as it is.
JobSpec ExpandTemplates(const JobSpec& job);

}  // namespace drover
