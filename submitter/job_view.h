// JobView: what `submit` knows of the job it follows, rebuilt from the job's
// events. Both renderers read it; neither keeps state of its own about steps.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shared/protocol.h"

namespace drover::submit {

struct StepView {
  StepState state = StepState::kWaiting;
  uint32_t attempt = 0;
  std::string worker;
  std::string reason;
  std::optional<RunResult> run;  // the latest attempt's, once it ended
};

class JobView {
 public:
  void Accept(const JobAccepted& accepted);
  // Applies one event. Returns false for an event that names no known step.
  bool Apply(const Event& event);

  JobId id() const { return id_; }
  const std::string& name() const { return name_; }
  // Whether a cleanup step (`when: always`; it still runs when the job is
  // cancelled) has not ended yet, as far as the events have told.
  bool CleanupPending() const;
  bool IsCleanup(StepIndex s) const;
  // What the broker said it carried over, answering a resumption
  // (JobAccepted): resumed_from() 0 if it did not.
  JobId resumed_from() const { return resumed_from_; }
  const std::vector<uint32_t>& carried() const { return carried_; }
  const std::vector<std::string>& dropped() const { return dropped_; }
  size_t size() const { return ids_.size(); }
  const std::string& id_of(StepIndex s) const { return ids_[s.value]; }
  const StepView& step(StepIndex s) const { return steps_[s.value]; }
  uint32_t count(StepState s) const { return counts_[static_cast<int>(s)]; }
  const std::optional<JobEnded>& ended() const { return ended_; }
  // Earliest start among the attempts seen, for relative times; 0 if none.
  // Known only once an attempt has ended: these are the workers' clocks,
  // and StepStarted's at_ms is the broker's.
  int64_t first_start_ms() const { return first_start_ms_; }
  // Latest end among the attempts seen; 0 if none.
  int64_t last_end_ms() const { return last_end_ms_; }
  // How long the job has gone on, judged from its events alone (a watcher
  // did not see it submitted, and JobAccepted says not when it was): from
  // first_start_ms() to last_end_ms() once the job ended, else to
  // `wall_now_ms`. These are workers' wall clocks (RunResult), so a clock
  // out of step with this host's shows; never negative. nullopt until an
  // attempt has ended. It leaves out the time the job waited for its first
  // step to start.
  std::optional<int64_t> ElapsedFromEvents(int64_t wall_now_ms) const;

  // "job 7 (diamond)" or "job 7".
  std::string Title() const;

 private:
  void SetState(StepIndex s, StepState to);

  JobId id_;
  std::string name_;
  std::vector<std::string> ids_;
  std::vector<StepView> steps_;
  std::array<uint32_t, kStepStateCount> counts_{};
  std::vector<uint32_t> cleanup_steps_;
  JobId resumed_from_;
  std::vector<uint32_t> carried_;
  std::vector<std::string> dropped_;
  std::optional<JobEnded> ended_;
  int64_t first_start_ms_ = 0;
  int64_t last_end_ms_ = 0;
};

}  // namespace drover::submit
