// Job: the broker's runtime state of one accepted graph, the part of the
// scheduler core that knows dependencies and ready queues. Plain data; the
// Scheduler (scheduler.h) decides when things happen and talks to the world.
//
// Ready steps wait in per-"class" queues, one per distinct (slots, requires,
// resources, time_request) in the graph, each ordered by priority (higher first), then by rank
// (higher first), then by the order in which steps became ready (FIFO).
// Placement looks only at class heads, so its cost depends on the number of
// classes (usually one), never on the number of steps.
//
// A step's rank is how much work lies on the longest path from it to the end
// of the graph, itself included: starting the steps of highest rank first
// keeps the critical path moving while the rest fills idle slots (list
// scheduling by "bottom level", as in HEFT). The work of a step is, in this
// order: its `duration` hint; what steps of its command shape (its command
// line with every run of digits read as one digit) took when they succeeded
// in this job; the mean of what is known of the job's steps; one second.
// Without any duration known, a rank is the number of steps on that path.
// Ranks are worked out at submission and again as durations are learned
// (Rerank), at most once per 1/16 of the graph's steps finishing, and only
// for a graph whose order they can change (edges, or more than one shape
// or hint).
//
// Steps are a job's elements (shared/job_elements.h): with arrays kept as
// templates (shared/job_spec.h, invariant 7), StepIndex still counts every
// element, template by template, so events, TaskKeys and the journal are as
// for the same job written out. Per element the Job keeps only what
// scheduling needs: its StepRun, rank, template and the row starts of its
// `after` and dependents (4 bytes each; 8 per edge written out); what a
// template's elements share (slots, priority, `when`, retries, class) is
// read from the template (command shapes are worked out per template too),
// and what differs (id, argv, env, cwd, stdin) is rendered when asked for
// (StepId, Render), never stored. A plain job's steps are templates of one
// element each, and their `after` lists are used as they are.
//
// Invariants (checked by Scheduler::CheckInvariants):
//   1. counts[s] == number of steps in state s; their sum == steps.
//   2. A step is in exactly one class queue iff it is kReady and not
//      `delayed` (a retry waiting out its delay); queued() is the total of the
//      queue sizes.
//   3. For a kWaiting step, and a withdrawn one, pending == its after-steps
//      (after(s)) that are not final, less one while it is `live` and its
//      producer runs.
//   4. running_steps/running_slots sum the kRunning steps (and their slots).
//   5. unfinished == steps not in a final state.
//   6. Every queued entry carries its step's priority and current rank.
//   7. In a cancelled job every step still kWaiting or kReady is a cleanup
//      step that still runs (Cleans); cleanup_stopped() implies cancelled().
//   8. A step that is `live` and not final reads a stream whose producer is
//      running or has succeeded; one that is `withdrawn` is kRunning (and
//      live again once its producer's next attempt has started).
//
// Streams. A step with a streamed `stdin_from` (StepSpec::stdin_stream)
// reads its producer's stdout while both run: its edge to the producer is
// *live*, counted in `pending` until the producer's attempt starts rather
// than until it ends (invariant 3 discounts it while `live`). Should that
// attempt end other than in success, its readers are withdrawn (the
// scheduler's to decide) and wait for the next one.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "broker/core/worker_pool.h"
#include "shared/job_elements.h"
#include "shared/job_spec.h"
#include "shared/states.h"

namespace drover::broker {

// What the broker tracks per step besides its spec. Kept small: a graph may
// have a million steps.
struct StepRun {
  StepState state = StepState::kWaiting;
  bool dep_failed = false;       // an after-step failed, or was skipped by a failure
  bool dep_unsucceeded = false;  // an after-step ended other than succeeded
  // Streamed stdin_from (job.h, "Streams"), in the padding byte:
  bool stream_end : 1 = false;     // either end of a streamed edge (fixed)
  bool live : 1 = false;           // a reader whose producer's start is counted in pending
  bool withdrawn : 1 = false;      // a running reader being killed: its input went away
  bool output_closed : 1 = false;  // a running producer whose readers are all done
  uint16_t failures = 0;         // failed attempts so far (bounded by retries)
  uint16_t losses = 0;           // attempts lost with their worker
  uint32_t pending = 0;          // after-steps not final yet
  uint32_t attempt = 0;          // attempts started so far; the current one while running
  StepIndex blocker;             // first after-step that did not succeed (for reasons)
  WorkerId worker;               // while running
  // Running, but as a follower: sent to its only after-step's worker, to
  // start there when that one exits 0 (scheduler.h). Not yet started.
  bool conditional = false;
  bool delayed = false;  // kReady, but a retry waiting out retry_delay
  uint16_t shape = 0;    // its command shape: index into Job's shapes
};

struct ReadyEntry {
  uint64_t seq = 0;  // order of becoming ready
  int32_t priority = 0;
  uint32_t rank = 0;  // the step's rank when it was queued
  StepIndex step;
};

// Ready steps of one (slots, requires) class, in the order they run: higher
// priority first, then higher rank, then in the order they became ready
// (`seq`).
//
// Steps are pushed in increasing `seq`, so while every queued step has the
// same priority and rank (the common case for wide graphs: most jobs set no
// priority, and independent steps of one shape have equal ranks) the run
// order is the push order, and the entries are kept as a FIFO: each push
// appends, each pop advances `head_`. A push that would break that order
// turns the entries into a binary heap, which they stay until the class is
// empty again. A sorted array is a valid heap, so the switch costs one
// compaction.
//
// Why: a heap of a million steps costs a pop ~20 scattered reads; the FIFO
// one, and it was the broker's largest single cost with a big graph queued.
class ReadyClass {
 public:
  ReadyClass(uint32_t slots, LabelSet labels, ResourceNeeds needs, uint32_t time_request_ms = 0)
      : slots(slots),
        labels(std::move(labels)),
        needs(std::move(needs)),
        time_request_ms(time_request_ms) {}

  uint32_t slots = 1;
  LabelSet labels;
  ResourceNeeds needs;
  uint32_t time_request_ms = 0;  // the steps' `time_request`; 0: none
  uint64_t blocked_pass = 0;  // the scheduling pass that found no worker for it
  // Whether any connected worker could ever run its steps (Scheduler::
  // WatchWaiting): checked again when the pool's capacity generation moves.
  uint64_t checked_capacity = 0;  // the generation it was last checked at; 0: never
  Time unplaceable_since = -1;    // no worker could, since then (-1: one can)
  std::string unplaceable_why;    // what is missing
  std::string reported_why;       // the reason last published (StepWaiting)

  bool empty() const { return entries_.size() == head_; }
  size_t size() const { return entries_.size() - head_; }
  // The entry that runs first. REQUIRES: !empty().
  const ReadyEntry& top() const { return entries_[head_]; }
  // REQUIRES: e.seq is larger than that of every entry pushed before.
  void Push(ReadyEntry e);
  // Removes and returns top(). REQUIRES: !empty().
  ReadyEntry Pop();
  void Clear();
  // Gives every entry the rank `rank_of(step)` says and puts them in order
  // again, keeping when each became ready (seq) and what was reported.
  template <typename RankOf>
  void Rerank(RankOf&& rank_of) {
    for (size_t i = head_; i < entries_.size(); ++i) entries_[i].rank = rank_of(entries_[i].step);
    Sort();
  }
  // Whether the entries are in the order their form promises (sorted as a
  // FIFO, else a heap); for invariant checks.
  bool Ordered() const;
  // Every queued entry, in no particular order.
  template <typename F>
  void ForEach(F&& f) const {
    for (size_t i = head_; i < entries_.size(); ++i) f(entries_[i]);
  }

  // True if `a` should run before `b`.
  static bool Before(const ReadyEntry& a, const ReadyEntry& b) {
    if (a.priority != b.priority) return a.priority > b.priority;
    if (a.rank != b.rank) return a.rank > b.rank;
    return a.seq < b.seq;
  }

 private:
  // Sorts the entries into run order: a FIFO again.
  void Sort();

  std::vector<ReadyEntry> entries_;
  size_t head_ = 0;   // FIFO: entries before it were popped; heap: always 0
  bool fifo_ = true;  // entries_[head_..] are in run order (else a heap)
};

class Job {
 public:
  // REQUIRES: `spec` satisfies the JobSpec invariants (LoadJob validated it).
  Job(JobId id, JobSpec spec, WorkerPool* labels);

  JobId id() const { return id_; }
  const JobSpec& spec() const { return spec_; }
  size_t size() const { return runs_.size(); }

  StepRun& run(StepIndex s) { return runs_[s.value]; }
  const StepRun& run(StepIndex s) const { return runs_[s.value]; }
  // The template `s` is an element of (an index into spec().steps), and
  // which element it is.
  uint32_t TemplateOf(StepIndex s) const {
    return template_of_.empty() ? s.value : template_of_[s.value];
  }
  uint32_t ElementOf(StepIndex s) const {
    return template_of_.empty() ? 0 : s.value - first_[template_of_[s.value]];
  }
  // The template of `s`: only its fields that every element shares (slots,
  // priority, when, retries, timeouts, labels, resources, shell) hold for
  // `s`; its id, argv, env, cwd, stdin and edges are the template's (below
  // for the element's own).
  const StepSpec& step(StepIndex s) const { return spec_.steps[TemplateOf(s)]; }
  // Whether `s` is an element of an array (its fields need rendering).
  bool IsElement(StepIndex s) const { return step(s).each != 0; }
  // The element's id ("train[7]", "sim-0.1"); a plain step's id.
  std::string StepId(StepIndex s) const;
  // The element written out as a plain step (without `after`), for a
  // dispatch. REQUIRES: IsElement(s) (a plain step is step(s) itself).
  StepSpec Render(StepIndex s) const;
  // The steps `s` comes after (job_spec.h invariant 3), and the first of
  // them that are its stdin_from steps, in order.
  std::span<const StepIndex> after(StepIndex s) const {
    if (template_of_.empty()) return spec_.steps[s.value].after;
    return edges_.Of(s.value);
  }
  std::span<const StepIndex> StdinFrom(StepIndex s) const {
    if (template_of_.empty()) return spec_.steps[s.value].StdinFrom();
    return edges_.Of(s.value).first(stdin_count_[template_of_[s.value]]);
  }
  // The step whose stdout `s` reads as a stream, if it does.
  std::optional<StepIndex> StreamProducer(StepIndex s) const {
    if (!step(s).stdin_stream) return std::nullopt;
    return StdinFrom(s)[0];
  }
  bool has_streams() const { return has_streams_; }

  // Steps that list `s` in their `after`. (data() + offset, not
  // &dependents_[offset]: in a job without `after` the vector is empty, and
  // indexing it is undefined even when nothing is read.)
  const StepIndex* dependents_begin(StepIndex s) const {
    return dependents_.data() + dependents_start_[s.value];
  }
  const StepIndex* dependents_end(StepIndex s) const {
    return dependents_.data() + dependents_start_[s.value + 1];
  }

  // Moves `s` to state `to`, keeping counts. The only way a state changes.
  void SetState(StepIndex s, StepState to);

  // Queues a step that just became kReady (SetState first).
  void Enqueue(StepIndex s);
  // The classes that became non-empty since the last call (for the
  // scheduler's watch on steps no worker could run), each at most once.
  std::vector<uint32_t> TakeFreshClasses() { return std::exchange(fresh_classes_, {}); }
  std::vector<ReadyClass>& classes() { return classes_; }
  const ReadyClass& class_of(StepIndex s) const { return classes_[class_of_[TemplateOf(s)]]; }
  const std::vector<ReadyClass>& classes() const { return classes_; }
  uint32_t ready() const { return counts_[static_cast<int>(StepState::kReady)]; }
  // Ready steps in the queues: not those waiting out a retry delay.
  uint32_t queued() const { return ready() - delayed_; }
  void AddDelayed(int n) { delayed_ = static_cast<uint32_t>(static_cast<int>(delayed_) + n); }
  // Drops every queued entry (cancellation settles the steps themselves).
  void ClearQueues();
  // Empties the queues and queues every ready, undelayed step in file order
  // (after recovery, whose replay leaves them stale).
  void RebuildQueues();

  // The critical path (above). Work on the longest path from `s` to the end
  // of the graph, in milliseconds (saturating).
  uint32_t rank(StepIndex s) const { return rank_[s.value]; }
  // What the broker takes `s` to last: its hint, else what is learned.
  uint32_t EstimateMs(StepIndex s) const;
  // An attempt of `s` without a hint succeeded after `ms`. Returns true when
  // the ranks are due to be worked out again (Rerank).
  bool LearnDuration(StepIndex s, int64_t ms);
  // Works every rank out again and re-sorts the ready queues.
  void Rerank();
  // Unknown length: a step is taken to last this long until learned.
  static constexpr uint32_t kUnknownStepMs = 1000;

  uint32_t count(StepState s) const { return counts_[static_cast<int>(s)]; }
  const std::array<uint32_t, kStepStateCount>& counts() const { return counts_; }
  uint32_t unfinished() const;

  // Whether max_parallel allows another step now.
  bool UnderParallelLimit() const {
    return spec_.max_parallel == 0 || running_steps_ < spec_.max_parallel;
  }
  uint32_t running_steps() const { return running_steps_; }
  uint32_t running_slots() const { return running_slots_; }

  bool cancelled() const { return cancelled_; }
  // Cancelled on request, or aborted (abort_on_exit: then the job failed).
  // With `cleanup`, its `when: always` steps still run (Cleans); without,
  // nothing of it runs on (`submit --cancel --now`).
  void set_cancelled(std::string reason, bool aborted, bool cleanup) {
    cancelled_ = true;
    aborted_ = aborted;
    cleanup_stopped_ = !cleanup;
    cancel_reason_ = std::move(reason);
  }
  // A cancelled job's cleanup is cut short: its `always` steps stop too.
  void StopCleanup() { cleanup_stopped_ = true; }
  bool cleanup_stopped() const { return cleanup_stopped_; }
  // Whether `s` is a cleanup step that still runs should the job be (or
  // now that it is) cancelled: a `when: always` step, unless cleanup was
  // stopped. Argo's exit handlers and DAGMan's FINAL node do the same: the
  // work is given up, its cleanup is not.
  bool Cleans(StepIndex s) const { return step(s).when == When::kAlways && !cleanup_stopped_; }
  // Cleanup steps not yet final (0 once cleanup is stopped).
  uint32_t CleanupLeft() const;
  const std::string& cancel_reason() const { return cancel_reason_; }
  bool aborted() const { return aborted_; }
  bool finished() const { return finished_; }
  void set_finished() { finished_ = true; }
  JobState Outcome() const;

  void CheckInvariants() const;

 private:
  // Works out rank_ from the estimates (a pass over the graph).
  void ComputeRanks();
  // The mean `duration` hint over the steps that have one; none without.
  std::optional<uint32_t> MeanHintMs() const;

  JobId id_;
  JobSpec spec_;
  std::vector<StepRun> runs_;
  // A templated spec's elements (all three empty for a plain one): where
  // each template's start, each element's template, each element's `after`,
  // and how many of those lead as stdin_from, per template.
  std::vector<uint32_t> first_;
  std::vector<uint32_t> template_of_;
  ElementEdges edges_;
  std::vector<uint32_t> stdin_count_;
  std::vector<uint32_t> dependents_start_;  // CSR over dependents_, size steps + 1
  std::vector<StepIndex> dependents_;
  std::vector<uint16_t> class_of_;  // template -> index into classes_
  std::vector<ReadyClass> classes_;
  std::vector<uint32_t> fresh_classes_;     // became non-empty (TakeFreshClasses)
  std::vector<uint32_t> rank_;
  // What steps of each command shape took (StepRun::shape indexes it).
  struct Shape {
    uint64_t sum_ms = 0;
    uint32_t count = 0;     // successful attempts learned from
    uint32_t ranked_ms = 0;  // the estimate the ranks were worked out with; 0: none
  };
  std::vector<Shape> shapes_;
  uint32_t mean_known_ms_ = kUnknownStepMs;  // for steps with nothing learned
  bool ranks_can_change_ = false;  // edges, or more than one shape or hint
  uint32_t learned_since_rerank_ = 0;
  std::array<uint32_t, kStepStateCount> counts_{};
  uint32_t running_steps_ = 0;
  uint32_t running_slots_ = 0;
  uint64_t next_seq_ = 0;
  uint32_t delayed_ = 0;
  bool cancelled_ = false;
  bool aborted_ = false;
  bool cleanup_stopped_ = false;
  std::string cancel_reason_;
  bool finished_ = false;
  bool has_streams_ = false;  // some step reads another's stdout as a stream
};

}  // namespace drover::broker
