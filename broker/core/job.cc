#include "broker/core/job.h"

#include <algorithm>
#include <map>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <unordered_map>

namespace drover::broker {

namespace {

// std heaps keep the "largest" on top; we want the entry that runs first.
bool RunsLater(const ReadyEntry& a, const ReadyEntry& b) { return ReadyClass::Before(b, a); }

// Shapes past this many share the last one: estimates, not identities.
constexpr size_t kMaxShapes = UINT16_MAX;
// Longer than any step is worth telling apart.
constexpr int64_t kMaxLearnedMs = int64_t{30} * 24 * 3600 * 1000;

// The shape of a step's command, hashed: its argv with every run of digits
// read as one digit, so that "sleep 0.37" and "sleep 12.5" share a shape,
// and so do the runs of one program over numbered inputs.
uint64_t ShapeHash(const StepSpec& step) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  auto mix = [&h](unsigned char c) { h = (h ^ c) * 1099511628211ull; };
  for (const std::string& arg : step.argv) {
    bool in_digits = false;
    for (const char ch : arg) {
      const bool digit = ch >= '0' && ch <= '9';
      if (!(digit && in_digits)) mix(digit ? '0' : static_cast<unsigned char>(ch));
      in_digits = digit;
    }
    mix(0);
  }
  mix(step.shell ? 1 : 2);
  return h;
}

}  // namespace

void ReadyClass::Push(ReadyEntry e) {
  if (empty()) {
    // Steps queued anew: whether a worker can run them is a new question.
    checked_capacity = 0;
    unplaceable_since = -1;
    unplaceable_why.clear();
    reported_why.clear();
  }
  if (fifo_) {
    if (empty() || !Before(e, entries_.back())) {
      entries_.push_back(e);
      return;
    }
    // Out of order: from here on a heap (what is queued is sorted, so it is
    // one already once the popped entries are gone).
    entries_.erase(entries_.begin(), entries_.begin() + static_cast<ptrdiff_t>(head_));
    head_ = 0;
    fifo_ = false;
  }
  entries_.push_back(e);
  std::push_heap(entries_.begin(), entries_.end(), RunsLater);
}

ReadyEntry ReadyClass::Pop() {
  if (fifo_) {
    const ReadyEntry e = entries_[head_++];
    if (head_ == entries_.size()) {
      Clear();
    } else if (head_ >= 4096 && head_ * 2 >= entries_.size()) {
      // Give the popped half's room back to pushes, at one move per entry.
      entries_.erase(entries_.begin(), entries_.begin() + static_cast<ptrdiff_t>(head_));
      head_ = 0;
    }
    return e;
  }
  std::pop_heap(entries_.begin(), entries_.end(), RunsLater);
  const ReadyEntry e = entries_.back();
  entries_.pop_back();
  if (entries_.empty()) Clear();
  return e;
}

void ReadyClass::Sort() {
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<ptrdiff_t>(head_));
  head_ = 0;
  std::sort(entries_.begin(), entries_.end(), Before);
  fifo_ = true;
}

bool ReadyClass::Ordered() const {
  if (!fifo_) return head_ == 0 && std::is_heap(entries_.begin(), entries_.end(), RunsLater);
  for (size_t i = head_ + 1; i < entries_.size(); ++i) {
    if (Before(entries_[i], entries_[i - 1])) return false;
  }
  return true;
}

void ReadyClass::Clear() {
  entries_.clear();
  head_ = 0;
  fifo_ = true;
}

Job::Job(JobId id, JobSpec spec, WorkerPool* labels) : id_(id), spec_(std::move(spec)) {
  const size_t templates = spec_.steps.size();
  if (spec_.HasTemplates()) {
    first_ = FirstElements(spec_);
    template_of_.resize(first_.back());
    for (uint32_t t = 0; t < templates; ++t) {
      std::fill(template_of_.begin() + first_[t], template_of_.begin() + first_[t + 1], t);
      stdin_count_.push_back(StdinFromCount(spec_, first_, t));
    }
    edges_ = ElementAfter(spec_, first_);
  }
  const size_t n = spec_.HasTemplates() ? first_.back() : templates;
  runs_.resize(n);

  // Dependents in CSR form: two passes over the edges, no per-step vectors.
  dependents_start_.assign(n + 1, 0);
  for (uint32_t i = 0; i < n; ++i) {
    for (StepIndex a : after(StepIndex(i))) ++dependents_start_[a.value + 1];
  }
  for (size_t i = 0; i < n; ++i) dependents_start_[i + 1] += dependents_start_[i];
  dependents_.resize(dependents_start_[n]);
  std::vector<uint32_t> fill(dependents_start_.begin(), dependents_start_.end() - 1);
  for (uint32_t i = 0; i < n; ++i) {
    const std::span<const StepIndex> list = after(StepIndex(i));
    for (StepIndex a : list) dependents_[fill[a.value]++] = StepIndex(i);
    runs_[i].pending = static_cast<uint32_t>(list.size());
  }

  // Resource classes, per template. Most graphs have one, so check the
  // previous template's class before the map. (Steps asking for the same
  // resources share one entry of resource_requests, so its index stands
  // for the list.)
  using ClassKey = std::tuple<uint32_t, LabelSet, uint16_t, uint32_t>;
  std::map<ClassKey, uint16_t> class_index;
  class_of_.resize(templates);
  const ClassKey* last = nullptr;
  uint16_t last_class = 0;
  for (size_t i = 0; i < templates; ++i) {
    const StepSpec& step = spec_.steps[i];
    ClassKey key(step.slots, labels->InternAll(step.requires_labels), step.resources,
                 step.time_request_ms);
    if (last == nullptr || *last != key) {
      auto [it, inserted] = class_index.try_emplace(key, static_cast<uint16_t>(classes_.size()));
      if (inserted) {
        if (classes_.size() == UINT16_MAX) throw std::length_error("too many resource classes");
        classes_.emplace_back(step.slots, std::get<1>(key),
                              labels->InternNeeds(spec_.ResourcesOf(step)), step.time_request_ms);
      }
      last = &it->first;
      last_class = it->second;
    }
    class_of_[i] = last_class;
  }
  counts_[static_cast<int>(StepState::kWaiting)] = static_cast<uint32_t>(n);

  // Both ends of each streamed edge.
  for (size_t i = 0; i < n; ++i) {
    if (std::optional<StepIndex> p = StreamProducer(StepIndex(static_cast<uint32_t>(i)))) {
      runs_[i].stream_end = true;
      runs_[p->value].stream_end = true;
      has_streams_ = true;
    }
  }

  // Command shapes, per template: an array's elements share one. Steps
  // next to each other often run the same command: compare with the
  // previous one before hashing.
  std::unordered_map<uint64_t, uint16_t> shape_index;
  bool hints = false;
  uint16_t shape = 0;
  for (size_t i = 0; i < templates; ++i) {
    const StepSpec& step = spec_.steps[i];
    hints |= step.duration_ms > 0;
    if (i == 0 || step.shell != spec_.steps[i - 1].shell || step.argv != spec_.steps[i - 1].argv) {
      auto [it, inserted] = shape_index.try_emplace(ShapeHash(step), 0);
      if (inserted) {
        if (shapes_.size() < kMaxShapes) shapes_.emplace_back();
        it->second = static_cast<uint16_t>(shapes_.size() - 1);
      }
      shape = it->second;
    }
    const uint32_t begin = first_.empty() ? static_cast<uint32_t>(i) : first_[i];
    const uint32_t end = first_.empty() ? begin + 1 : first_[i + 1];
    for (uint32_t e = begin; e < end; ++e) runs_[e].shape = shape;
  }
  ranks_can_change_ = !dependents_.empty() || shapes_.size() > 1 || hints;
  if (hints) mean_known_ms_ = MeanHintMs().value_or(kUnknownStepMs);
  ComputeRanks();
}

std::optional<uint32_t> Job::MeanHintMs() const {
  uint64_t sum = 0, known = 0;
  for (size_t i = 0; i < spec_.steps.size(); ++i) {
    const uint32_t hint = spec_.steps[i].duration_ms;
    if (hint == 0) continue;
    // Every element of a template counts, as the steps written out would.
    const uint64_t elements = first_.empty() ? 1 : first_[i + 1] - first_[i];
    sum += uint64_t{hint} * elements, known += elements;
  }
  if (known == 0) return std::nullopt;
  return static_cast<uint32_t>(std::max<uint64_t>(1, sum / known));
}

std::string Job::StepId(StepIndex s) const {
  if (!IsElement(s)) return step(s).id;
  return ElementIdOf(spec_, TemplateOf(s), ElementOf(s));
}

StepSpec Job::Render(StepIndex s) const {
  return RenderElement(spec_, TemplateOf(s), ElementOf(s));
}

uint32_t Job::EstimateMs(StepIndex s) const {
  if (const uint32_t hint = step(s).duration_ms; hint > 0) return hint;
  const Shape& shape = shapes_[runs_[s.value].shape];
  if (shape.count == 0) return mean_known_ms_;
  return static_cast<uint32_t>(std::max<uint64_t>(1, shape.sum_ms / shape.count));
}

void Job::ComputeRanks() {
  // Dependents before the steps they follow (a reverse topological order,
  // Kahn's): a step's rank is its own work plus the largest of theirs.
  const size_t n = runs_.size();
  rank_.assign(n, 0);
  std::vector<uint32_t> left(n);  // dependents not ranked yet
  std::vector<uint32_t> ready;
  for (uint32_t i = 0; i < n; ++i) {
    left[i] = dependents_start_[i + 1] - dependents_start_[i];
    if (left[i] == 0) ready.push_back(i);
  }
  while (!ready.empty()) {
    const StepIndex s(ready.back());
    ready.pop_back();
    uint64_t below = 0;
    for (const StepIndex* d = dependents_begin(s); d != dependents_end(s); ++d) {
      below = std::max<uint64_t>(below, rank_[d->value]);
    }
    rank_[s.value] = static_cast<uint32_t>(std::min<uint64_t>(below + EstimateMs(s), UINT32_MAX));
    for (StepIndex a : after(s)) {
      if (--left[a.value] == 0) ready.push_back(a.value);
    }
  }
}

bool Job::LearnDuration(StepIndex s, int64_t ms) {
  if (step(s).duration_ms > 0) return false;  // the hint says
  Shape& shape = shapes_[runs_[s.value].shape];
  shape.sum_ms += static_cast<uint64_t>(std::clamp<int64_t>(ms, 0, kMaxLearnedMs));
  ++shape.count;
  ++learned_since_rerank_;
  if (!ranks_can_change_) return false;
  // Worth it when this shape's estimate moved by a quarter or more since
  // the ranks were worked out, and a 16th of the graph has finished since:
  // so a graph is ranked again at most 16 times over, whatever its size.
  const uint64_t now = EstimateMs(s), then = shape.ranked_ms;
  const bool moved = then == 0 || now * 4 > then * 5 || now * 5 < then * 4;
  return moved && uint64_t{learned_since_rerank_} * 16 >= runs_.size();
}

void Job::Rerank() {
  uint64_t sum = 0, known = 0;
  for (Shape& shape : shapes_) {
    sum += shape.sum_ms;
    known += shape.count;
  }
  for (size_t i = 0; i < spec_.steps.size(); ++i) {
    const uint32_t hint = spec_.steps[i].duration_ms;
    const uint64_t elements = first_.empty() ? 1 : first_[i + 1] - first_[i];
    if (hint > 0) sum += uint64_t{hint} * elements, known += elements;
  }
  mean_known_ms_ = known == 0 ? kUnknownStepMs : static_cast<uint32_t>(std::max<uint64_t>(1, sum / known));
  for (Shape& shape : shapes_) {
    shape.ranked_ms =
        shape.count == 0 ? 0 : static_cast<uint32_t>(std::max<uint64_t>(1, shape.sum_ms / shape.count));
  }
  learned_since_rerank_ = 0;
  ComputeRanks();
  for (ReadyClass& c : classes_) c.Rerank([this](StepIndex s) { return rank_[s.value]; });
}

void Job::SetState(StepIndex s, StepState to) {
  StepRun& r = runs_[s.value];
  if (r.state == StepState::kRunning) {
    --running_steps_;
    running_slots_ -= step(s).slots;
  }
  if (to == StepState::kRunning) {
    ++running_steps_;
    running_slots_ += step(s).slots;
  }
  --counts_[static_cast<int>(r.state)];
  ++counts_[static_cast<int>(to)];
  r.state = to;
}

void Job::Enqueue(StepIndex s) {
  const uint16_t k = class_of_[TemplateOf(s)];
  ReadyClass& c = classes_[k];
  if (c.empty()) fresh_classes_.push_back(k);
  c.Push(ReadyEntry{.seq = next_seq_++, .priority = step(s).priority, .rank = rank_[s.value], .step = s});
}

void Job::ClearQueues() {
  for (ReadyClass& c : classes_) c.Clear();
}

void Job::RebuildQueues() {
  ClearQueues();
  for (uint32_t i = 0; i < runs_.size(); ++i) {
    if (runs_[i].state == StepState::kReady && !runs_[i].delayed) Enqueue(StepIndex(i));
  }
}

uint32_t Job::unfinished() const {
  uint32_t n = 0;
  for (int s = 0; s < kStepStateCount; ++s) {
    if (!IsFinal(static_cast<StepState>(s))) n += counts_[s];
  }
  return n;
}

uint32_t Job::CleanupLeft() const {
  uint32_t n = 0;
  for (uint32_t i = 0; i < runs_.size(); ++i) {
    n += Cleans(StepIndex(i)) && !IsFinal(runs_[i].state);
  }
  return n;
}

JobState Job::Outcome() const {
  if (!finished_) return JobState::kRunning;
  if (aborted_) return JobState::kFailed;
  if (cancelled_) return JobState::kCancelled;
  if (count(StepState::kFailed) + count(StepState::kSkipped) > 0) return JobState::kFailed;
  return JobState::kSucceeded;
}

void Job::CheckInvariants() const {
  std::array<uint32_t, kStepStateCount> counts{};
  uint32_t running = 0, slots = 0, delayed = 0;
  for (size_t i = 0; i < runs_.size(); ++i) {
    const StepRun& r = runs_[i];
    ++counts[static_cast<int>(r.state)];
    if (r.delayed) {
      if (r.state != StepState::kReady) throw std::logic_error("job: a delayed step not ready");
      ++delayed;
    }
    if (r.state == StepState::kRunning) {
      ++running;
      slots += step(StepIndex(static_cast<uint32_t>(i))).slots;
    }
    if (cancelled_ && (r.state == StepState::kWaiting || r.state == StepState::kReady) &&
        !Cleans(StepIndex(static_cast<uint32_t>(i)))) {
      throw std::logic_error("job: a step of a cancelled job waits that is no cleanup step");
    }
    const std::optional<StepIndex> producer = StreamProducer(StepIndex(static_cast<uint32_t>(i)));
    if (r.state == StepState::kWaiting || r.withdrawn) {
      uint32_t pending = 0;
      for (StepIndex a : after(StepIndex(static_cast<uint32_t>(i)))) {
        pending += !IsFinal(runs_[a.value].state);
      }
      if (r.live && !IsFinal(runs_[producer->value].state)) --pending;
      if (pending != r.pending) throw std::logic_error("job: pending count of a waiting step");
    }
    if (r.live && !IsFinal(r.state)) {
      const StepState ps = producer ? runs_[producer->value].state : StepState::kWaiting;
      if (ps != StepState::kRunning && ps != StepState::kSucceeded) {
        throw std::logic_error("job: a live reader whose producer neither runs nor succeeded");
      }
    }
    if (r.withdrawn && r.state != StepState::kRunning) {
      throw std::logic_error("job: a withdrawn step not running");
    }
  }
  if (counts != counts_) throw std::logic_error("job: state counts");
  if (running != running_steps_ || slots != running_slots_) {
    throw std::logic_error("job: running accounting");
  }
  if (delayed != delayed_) throw std::logic_error("job: delayed count");
  size_t queued = 0;
  for (const ReadyClass& c : classes_) {
    if (!c.Ordered()) throw std::logic_error("job: a ready queue out of order");
    c.ForEach([&](const ReadyEntry& e) {
      const StepRun& r = runs_[e.step.value];
      if (r.state != StepState::kReady || r.delayed) {
        throw std::logic_error("job: queued step not ready");
      }
      if (e.priority != step(e.step).priority || e.rank != rank_[e.step.value]) {
        throw std::logic_error("job: a queued entry's priority or rank is stale");
      }
    });
    queued += c.size();
  }
  if (queued != this->queued()) throw std::logic_error("job: queue sizes");
  if (finished_ != (unfinished() == 0)) throw std::logic_error("job: finished flag");
  if (cleanup_stopped_ && !cancelled_) {
    throw std::logic_error("job: cleanup stopped, not cancelled");
  }
}

}  // namespace drover::broker
