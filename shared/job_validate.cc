// Pass 4 of LoadJob (shared/job_draft.h): the graph. Ids must be unique,
// every `after` and `stdin_from` must name another step, and the `after`
// edges must not form a cycle. All of it is O(steps + edges) and iterative,
// since graphs reach a million steps. It sees arrays' elements as plain
// steps (ExpandArrays ran before): their references to arrays come resolved
// (StepRef::target), and a problem every element of an array would share is
// reported for its first element only.

#include <algorithm>
#include <set>
#include <tuple>
#include <bit>
#include <deque>
#include <functional>

#include "shared/job_draft.h"
#include "shared/job_values.h"

namespace drover {
namespace {

constexpr uint32_t kNone = UINT32_MAX;

// A hint costs a pass over every id. Beyond this many ids looked at, the
// remaining unknown references get none: a person reads the first few, and a
// broker must not spend minutes on a file with a million typos.
constexpr size_t kSpellcheckBudget = 5'000'000;

// A cycle longer than this is shown with its middle left out.
constexpr size_t kMaxCycleShown = 12;

// Step ids to step indices. Open addressing over one flat array: with a
// million steps, a node-based std::unordered_map spends most of the load in
// cache misses.
class IdIndex {
 public:
  explicit IdIndex(const std::vector<StepSpec>& specs)
      : specs_(specs), slots_(std::bit_ceil(2 * specs.size() + 2)), mask_(slots_.size() - 1) {}

  // Adds `step` under its id; returns the step that already has that id, or
  // kNone.
  uint32_t Insert(uint32_t step) {
    const std::string_view id = specs_[step].id;
    const size_t hash = std::hash<std::string_view>()(id);
    size_t i = hash & mask_;
    for (; slots_[i].step != kNone; i = (i + 1) & mask_) {
      if (slots_[i].hash == static_cast<uint32_t>(hash) && specs_[slots_[i].step].id == id) {
        return slots_[i].step;
      }
    }
    slots_[i] = {step, static_cast<uint32_t>(hash)};
    return kNone;
  }

  uint32_t Find(std::string_view id) const {
    const size_t hash = std::hash<std::string_view>()(id);
    for (size_t i = hash & mask_; slots_[i].step != kNone; i = (i + 1) & mask_) {
      if (slots_[i].hash == static_cast<uint32_t>(hash) && specs_[slots_[i].step].id == id) {
        return slots_[i].step;
      }
    }
    return kNone;
  }

 private:
  struct Slot {
    uint32_t step = kNone;
    uint32_t hash = 0;  // low bits of the id's hash, to skip most string compares
  };
  const std::vector<StepSpec>& specs_;
  std::vector<Slot> slots_;
  size_t mask_;
};

// The resolved `after` edges of every step, in one array (compressed rows):
// step i's edges are [begin[i], begin[i + 1]). Each remembers the reference
// it came from, to point a cycle report at the file. Edge numbers fit in
// uint32_t: each edge is at least two bytes of a file that must decode in
// memory, and msgpack itself counts elements in uint32_t.
struct Graph {
  std::vector<uint32_t> begin;
  std::vector<uint32_t> target;
  std::vector<const StepRef*> ref;
};

std::string FilePath(size_t file_index) { return "steps[" + std::to_string(file_index) + "]"; }

std::string RefPath(const std::string& step_path, const StepRef& ref) {
  const std::string field = ref.in_stdin_from ? ".stdin_from" : ".after";
  if (ref.position == kWholeField) return step_path + field;
  return step_path + field + "[" + std::to_string(ref.position) + "]";
}

bool IsPlainId(std::string_view id) {
  return !id.empty() && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

// Ids appear bare in cycle reports; one that breaks the id rules (already
// reported) is quoted so the report still reads unambiguously.
std::string ShowId(std::string_view id) {
  return IsPlainId(id) || IsElementId(id) ? std::string(id) : Quote(id);
}

class Validator {
 public:
  Validator(JobDraft* draft, ProblemList* problems)
      : specs_(draft->job.steps),
        steps_(draft->steps),
        refs_(draft->refs),
        problems_(problems),
        index_(specs_) {}

  void Run() {
    IndexIds();
    ResolveReferences();
    FindCycles();
  }

 private:
  // Where step i is in the file ("steps[3]"): an array's elements share
  // their array's place.
  std::string StepPath(size_t i) const { return FilePath(steps_[i].file_index); }
  // Step i for a message: "steps[3].id", or "element 7 of steps[3]".
  std::string Where(size_t i) const {
    if (steps_[i].element == kNotElement) return StepPath(i) + ".id";
    return "element " + std::to_string(steps_[i].element) + " of " + StepPath(i);
  }
  // Whether a problem that every element of an array would share is
  // reported for step i: for plain steps, and for an array's first element.
  bool ReportsShared(size_t i) const {
    return steps_[i].element == kNotElement || steps_[i].element == 0;
  }
  void IndexIds();
  void ResolveReferences();
  // The step a reference names, or kNone after reporting why there is none.
  uint32_t Resolve(size_t step, const StepRef& ref);
  // The rules of a streamed stdin_from (`"stream": true`), for step i.
  void CheckStreamed(size_t i);
  void FindCycles();
  void ReportCycle(const std::vector<uint32_t>& component, uint32_t id);

  std::vector<StepSpec>& specs_;
  const std::vector<StepDraft>& steps_;
  const std::vector<StepRef>& refs_;
  ProblemList* problems_;
  IdIndex index_;
  Graph graph_;
  std::vector<uint32_t> component_;    // step -> its component, once FindCycles has one
  std::vector<uint32_t> parent_edge_;  // step -> the edge ReportCycle's search reached it by
  std::vector<std::string_view> ids_;  // for hints; filled on the first unknown id
  size_t spellcheck_budget_ = kSpellcheckBudget;
};

void Validator::IndexIds() {
  uint32_t reported_file_step = kNone;  // an array's duplicates are reported once
  for (size_t i = 0; i < steps_.size(); ++i) {
    const StepDraft& step = steps_[i];
    if (!step.has_id) continue;
    const uint32_t first = index_.Insert(static_cast<uint32_t>(i));
    if (first != kNone && step.file_index != reported_file_step) {
      reported_file_step = step.file_index;
      const std::string element =
          step.element == kNotElement ? "" : "element " + std::to_string(step.element) + "; ";
      problems_->Add(
          step.id_order, StepPath(i) + ".id",
          "duplicate id " + Quote(specs_[i].id) + " (" + element + "also " + Where(first) + ")");
    }
  }
}

uint32_t Validator::Resolve(size_t step, const StepRef& ref) {
  const uint32_t found = ref.target != kUnresolved ? ref.target : index_.Find(ref.id);
  if (found != kNone) {
    if (found != step) return found;
    problems_->Add(ref.order, RefPath(StepPath(step), ref),
                   ref.in_stdin_from ? "a step cannot read its own output"
                                     : "a step cannot come after itself");
    return kNone;
  }
  if (!ReportsShared(step)) return kNone;
  std::string message = "unknown step " + Quote(ref.id);
  if (ids_.empty()) {
    for (size_t i = 0; i < steps_.size(); ++i) {
      if (steps_[i].has_id) ids_.push_back(specs_[i].id);
    }
  }
  if (spellcheck_budget_ >= ids_.size()) {
    spellcheck_budget_ -= ids_.size();
    message += DidYouMean(ref.id, ids_);
  }
  problems_->Add(ref.order, RefPath(StepPath(step), ref), std::move(message));
  return kNone;
}

void Validator::ResolveReferences() {
  const size_t n = steps_.size();
  // listed[t] == i when step i already has an edge to t: repeats collapse in O(1).
  std::vector<uint32_t> listed(n, kNone);
  std::vector<uint32_t> reads(n, kNone);  // reads[t] == i: t is in i's stdin_from
  std::vector<StepIndex> stdin_from;      // step i's, as written
  graph_.begin.assign(n + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    const StepDraft& step = steps_[i];
    StepSpec& spec = specs_[i];
    graph_.begin[i] = static_cast<uint32_t>(graph_.target.size());
    const auto add_edge = [&](uint32_t t, const StepRef& ref) {
      if (listed[t] == i) return;
      listed[t] = static_cast<uint32_t>(i);
      graph_.target.push_back(t);
      graph_.ref.push_back(&ref);
      spec.after.push_back(StepIndex(t));
    };
    for (size_t r = step.after_begin; r < step.after_end; ++r) {
      if (const uint32_t t = Resolve(i, refs_[r]); t != kNone) add_edge(t, refs_[r]);
    }
    for (size_t r = step.stdin_from_begin; r < step.stdin_from_end; ++r) {
      const uint32_t t = Resolve(i, refs_[r]);
      if (t == kNone) continue;
      if (reads[t] == i) {
        if (ReportsShared(i)) {
          problems_->Add(refs_[r].order, RefPath(StepPath(i), refs_[r]),
                         "step " + ShowId(specs_[t].id) + " is already read (once is enough)");
        }
        continue;
      }
      reads[t] = static_cast<uint32_t>(i);
      stdin_from.push_back(StepIndex(t));
      add_edge(t, refs_[r]);
    }
    // The stdin_from steps lead `after`, in the order written (job_spec.h
    // invariant 3); the other `after` steps keep theirs.
    if (!stdin_from.empty()) {
      spec.stdin_from_count = static_cast<uint32_t>(stdin_from.size());
      for (StepIndex a : spec.after) {
        if (reads[a.value] != i) stdin_from.push_back(a);
      }
      spec.after.swap(stdin_from);
      stdin_from.clear();
    }
    if (spec.stdin_stream && ReportsShared(i)) CheckStreamed(i);
    if (spec.when == When::kFailure && step.after_begin == step.after_end &&
        step.stdin_from_begin == step.stdin_from_end && ReportsShared(i)) {
      problems_->Add(step.order, StepPath(i) + ".when",
                     "a \"failure\" step needs an \"after\" list: with nothing to follow, it "
                     "could never run");
    }
  }
  graph_.begin[n] = static_cast<uint32_t>(graph_.target.size());
}

void Validator::CheckStreamed(size_t i) {
  const StepDraft& step = steps_[i];
  const StepSpec& spec = specs_[i];
  const std::string path = StepPath(i) + ".stdin_from";
  // Fewer means the reference did not resolve, which is reported already.
  if (spec.stdin_from_count > 1) {
    problems_->Add(refs_[step.stdin_from_begin].order, path,
                   "a streamed stdin_from reads exactly one step, but this names " +
                       std::to_string(spec.stdin_from_count) +
                       " (name one element, as \"" + std::string(refs_[step.stdin_from_begin].id) +
                       "[0]\", or pair them in an array step, as \"" +
                       std::string(refs_[step.stdin_from_begin].id) + "[{index}]\")");
  }
  // It starts once its producer has started, before anything has ended:
  // there is no outcome yet for `when` to look at.
  if (spec.when != When::kSuccess) {
    problems_->Add(step.order, StepPath(i) + ".when",
                   std::string("a step with a streamed stdin_from runs while its producer does, "
                               "so it cannot wait for \"") +
                       WhenName(spec.when) + "\"");
  }
}

// Tarjan's strongly connected components, with an explicit stack in place of
// recursion. A component of more than one step holds at least one cycle
// (self-edges never get into the graph); each such component is reported once.
void Validator::FindCycles() {
  const uint32_t n = static_cast<uint32_t>(steps_.size());
  std::vector<uint32_t> number(n, kNone);  // visit order
  std::vector<uint32_t> low(n, 0);
  std::vector<bool> on_stack(n, false);
  std::vector<uint32_t> stack;
  std::vector<std::pair<uint32_t, uint32_t>> calls;  // (step, next edge to follow)
  uint32_t next_number = 0;
  std::vector<uint32_t> component;
  uint32_t components = 0;
  component_.assign(n, kNone);

  for (uint32_t root = 0; root < n; ++root) {
    if (number[root] != kNone) continue;
    const auto visit = [&](uint32_t v) {
      number[v] = low[v] = next_number++;
      stack.push_back(v);
      on_stack[v] = true;
      calls.push_back({v, graph_.begin[v]});
    };
    visit(root);
    while (!calls.empty()) {
      const uint32_t v = calls.back().first;
      const uint32_t edge = calls.back().second;
      if (edge < graph_.begin[v + 1]) {
        ++calls.back().second;
        const uint32_t w = graph_.target[edge];
        if (number[w] == kNone) {
          visit(w);
        } else if (on_stack[w]) {
          low[v] = std::min(low[v], number[w]);
        }
        continue;
      }
      calls.pop_back();
      if (!calls.empty()) {
        const uint32_t parent = calls.back().first;
        low[parent] = std::min(low[parent], low[v]);
      }
      if (low[v] != number[v]) continue;
      component.clear();
      uint32_t w;
      do {
        w = stack.back();
        stack.pop_back();
        on_stack[w] = false;
        component_[w] = components;
        component.push_back(w);
      } while (w != v);
      if (component.size() > 1) ReportCycle(component, components);
      ++components;
    }
  }
}

// Reports the shortest cycle through the component's first step in file
// order, found by a breadth-first search that stays inside the component.
// The report points at the reference that starts the cycle.
void Validator::ReportCycle(const std::vector<uint32_t>& component, uint32_t id) {
  const uint32_t start = *std::min_element(component.begin(), component.end());
  // Each step is in one component, so entries need no reset between calls.
  if (parent_edge_.empty()) parent_edge_.assign(steps_.size(), kNone);
  std::deque<uint32_t> queue = {start};
  uint32_t closing_edge = kNone;
  while (!queue.empty() && closing_edge == kNone) {
    const uint32_t v = queue.front();
    queue.pop_front();
    for (uint32_t e = graph_.begin[v]; e < graph_.begin[v + 1]; ++e) {
      const uint32_t w = graph_.target[e];
      if (w == start) {
        closing_edge = e;
        break;
      }
      if (component_[w] == id && parent_edge_[w] == kNone) {
        parent_edge_[w] = e;
        queue.push_back(w);
      }
    }
  }
  // Walk back from the closing edge to `start`, collecting the edges in reverse.
  std::vector<uint32_t> edges = {closing_edge};
  const auto source = [&](uint32_t e) {
    return static_cast<uint32_t>(std::upper_bound(graph_.begin.begin(), graph_.begin.end(), e) -
                                 graph_.begin.begin() - 1);
  };
  for (uint32_t v = source(closing_edge); v != start; v = source(edges.back())) {
    edges.push_back(parent_edge_[v]);
  }
  std::reverse(edges.begin(), edges.end());

  std::vector<uint32_t> cycle = {start};
  for (uint32_t e : edges) cycle.push_back(graph_.target[e]);
  std::string text = "dependency cycle: ";
  const size_t steps = cycle.size() - 1;
  for (size_t k = 0; k < cycle.size(); ++k) {
    if (steps > kMaxCycleShown && k == kMaxCycleShown / 2) {
      const size_t skip = steps - kMaxCycleShown + 3;
      text += "... " + std::to_string(skip) + " more ... -> ";
      k += skip - 1;
      continue;
    }
    text += ShowId(specs_[cycle[k]].id);
    if (k + 1 < cycle.size()) text += " -> ";
  }
  text += " (\"->\" reads \"comes after\")";
  const StepRef& first = *graph_.ref[edges.front()];
  problems_->Add(first.order, RefPath(StepPath(start), first), std::move(text));
}

}  // namespace

void ValidateGraph(JobDraft* draft, ProblemList* problems) { Validator(draft, problems).Run(); }

void ValidateKinds(const JobDraft& draft, ProblemList* problems) {
  const std::vector<StepSpec>& steps = draft.job.steps;
  std::set<std::tuple<uint32_t, std::vector<std::string>, uint16_t>> kinds;
  std::set<std::string_view> names;
  for (size_t i = 0; i < steps.size(); ++i) {
    const StepSpec& s = steps[i];
    // Most steps are of the kind of the step before: no lookup for them.
    if (i > 0 && s.slots == steps[i - 1].slots && s.resources == steps[i - 1].resources &&
        s.requires_labels == steps[i - 1].requires_labels) {
      continue;
    }
    if (!kinds.emplace(s.slots, s.requires_labels, s.resources).second) continue;
    if (kinds.size() > kMaxStepKinds) {
      problems->Add(draft.steps[i].order, FilePath(draft.steps[i].file_index),
                    "more than " + std::to_string(kMaxStepKinds) +
                        " different combinations of slots, requires and resources in one job "
                        "(give steps that need about the same the same amounts: mem rounded "
                        "to whole G, say)");
      break;
    }
    for (const ResourceAmount& r : draft.job.ResourcesOf(s)) {
      if (names.insert(r.name).second && names.size() > kMaxResourceNames) {
        problems->Add(draft.steps[i].order, FilePath(draft.steps[i].file_index) + ".resources",
                      "more than " + std::to_string(kMaxResourceNames) +
                          " different resource names in one job");
        return;
      }
    }
  }
}

}  // namespace drover
