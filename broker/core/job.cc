#include "broker/core/job.h"

#include <algorithm>
#include <map>
#include <stdexcept>

namespace drover::broker {

namespace {

// std heaps keep the "largest" on top; we want the entry that runs first.
bool RunsLater(const ReadyEntry& a, const ReadyEntry& b) { return ReadyClass::Before(b, a); }

}  // namespace

void ReadyClass::Push(ReadyEntry e) {
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

Job::Job(JobId id, JobSpec spec, WorkerPool* labels)
    : id_(id), spec_(std::move(spec)), runs_(spec_.steps.size()) {
  const size_t n = spec_.steps.size();

  // Dependents in CSR form: two passes over the edges, no per-step vectors.
  dependents_start_.assign(n + 1, 0);
  for (const StepSpec& step : spec_.steps) {
    for (StepIndex a : step.after) ++dependents_start_[a.value + 1];
  }
  for (size_t i = 0; i < n; ++i) dependents_start_[i + 1] += dependents_start_[i];
  dependents_.resize(dependents_start_[n]);
  std::vector<uint32_t> fill(dependents_start_.begin(), dependents_start_.end() - 1);
  for (size_t i = 0; i < n; ++i) {
    for (StepIndex a : spec_.steps[i].after) {
      dependents_[fill[a.value]++] = StepIndex(static_cast<uint32_t>(i));
    }
    runs_[i].pending = static_cast<uint32_t>(spec_.steps[i].after.size());
  }

  // Resource classes. Most graphs have one, so check the previous step's
  // class before the map.
  std::map<std::pair<uint32_t, LabelSet>, uint16_t> class_index;
  class_of_.resize(n);
  const std::pair<uint32_t, LabelSet>* last = nullptr;
  uint16_t last_class = 0;
  for (size_t i = 0; i < n; ++i) {
    const StepSpec& step = spec_.steps[i];
    std::pair<uint32_t, LabelSet> key(step.slots, labels->InternAll(step.requires_labels));
    if (last == nullptr || *last != key) {
      auto [it, inserted] = class_index.try_emplace(key, static_cast<uint16_t>(classes_.size()));
      if (inserted) {
        if (classes_.size() == UINT16_MAX) throw std::length_error("too many resource classes");
        classes_.emplace_back(key.first, key.second);
      }
      last = &it->first;
      last_class = it->second;
    }
    class_of_[i] = last_class;
  }
  counts_[static_cast<int>(StepState::kWaiting)] = static_cast<uint32_t>(n);
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
  classes_[class_of_[s.value]].Push(ReadyEntry{next_seq_++, step(s).priority, s});
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
      slots += spec_.steps[i].slots;
    }
    if (r.state == StepState::kWaiting) {
      uint32_t pending = 0;
      for (StepIndex a : spec_.steps[i].after) pending += !IsFinal(runs_[a.value].state);
      if (pending != r.pending) throw std::logic_error("job: pending count of a waiting step");
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
    });
    queued += c.size();
  }
  if (queued != this->queued()) throw std::logic_error("job: queue sizes");
  if (finished_ != (unfinished() == 0)) throw std::logic_error("job: finished flag");
}

}  // namespace drover::broker
