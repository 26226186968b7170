#include "submitter/job_view.h"

#include <algorithm>

namespace drover::submit {

void JobView::Accept(const JobAccepted& accepted) {
  id_ = accepted.job;
  name_ = accepted.name;
  ids_ = accepted.step_ids;
  cleanup_steps_.clear();
  for (uint32_t i : accepted.cleanup_steps) {
    if (i < ids_.size()) cleanup_steps_.push_back(i);
  }
  resumed_from_ = accepted.resumed_from;
  carried_.clear();
  for (uint32_t i : accepted.carried) {
    if (i < ids_.size()) carried_.push_back(i);
  }
  dropped_ = accepted.dropped;
  steps_.assign(ids_.size(), StepView{});
  counts_ = {};
  counts_[static_cast<int>(StepState::kWaiting)] = static_cast<uint32_t>(ids_.size());
  ended_.reset();
  first_start_ms_ = last_end_ms_ = 0;
}

void JobView::SetState(StepIndex s, StepState to) {
  StepView& v = steps_[s.value];
  --counts_[static_cast<int>(v.state)];
  ++counts_[static_cast<int>(to)];
  v.state = to;
}

bool JobView::Apply(const Event& event) {
  if (const auto* e = std::get_if<JobEnded>(&event)) {
    ended_ = *e;
    return true;
  }
  const StepIndex step = std::visit(
      [](const auto& e) {
        if constexpr (requires { e.step; }) return e.step;
        return StepIndex();
      },
      event);
  if (step.value >= steps_.size()) return false;
  StepView& v = steps_[step.value];
  if (const auto* e = std::get_if<StepStarted>(&event)) {
    v.attempt = e->attempt.value;
    v.worker = e->worker;
    SetState(step, StepState::kRunning);
  } else if (const auto* e = std::get_if<StepEnded>(&event)) {
    v.attempt = e->attempt.value;
    v.reason = e->reason;
    if (!e->worker.empty()) v.worker = e->worker;
    if (e->run) {
      v.run = e->run;
      if (e->run->started_ms > 0 && (first_start_ms_ == 0 || e->run->started_ms < first_start_ms_)) {
        first_start_ms_ = e->run->started_ms;
      }
      last_end_ms_ = std::max(last_end_ms_, e->run->ended_ms);
    }
    SetState(step, e->state);
  }
  return true;
}

bool JobView::CleanupPending() const {
  return std::any_of(cleanup_steps_.begin(), cleanup_steps_.end(),
                     [this](uint32_t i) { return !IsFinal(steps_[i].state); });
}

bool JobView::IsCleanup(StepIndex s) const {
  return std::find(cleanup_steps_.begin(), cleanup_steps_.end(), s.value) != cleanup_steps_.end();
}

std::optional<int64_t> JobView::ElapsedFromEvents(int64_t wall_now_ms) const {
  if (first_start_ms_ <= 0) return std::nullopt;
  const int64_t end = ended_ ? last_end_ms_ : wall_now_ms;
  return end > first_start_ms_ ? end - first_start_ms_ : 0;
}

std::string JobView::Title() const {
  return "job " + std::to_string(id_.value) + (name_.empty() ? "" : " (" + name_ + ")");
}

}  // namespace drover::submit
