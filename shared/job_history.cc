#include "shared/job_history.h"

#include <algorithm>
#include <string_view>
#include <unordered_map>

namespace drover {
namespace {

constexpr size_t kNone = SIZE_MAX;

// `line` cut to at most kTailLineBytes bytes, at a UTF-8 character's start
// (a dashboard shows it as text), an ellipsis saying it was cut.
void CutLine(std::string* line) {
  constexpr std::string_view kCut = "\u2026";
  if (line->size() <= JobHistory::kTailLineBytes) return;
  size_t end = JobHistory::kTailLineBytes - kCut.size();
  while (end > 0 && (static_cast<unsigned char>((*line)[end]) & 0xC0) == 0x80) --end;
  line->resize(end);
  line->append(kCut);
}

}  // namespace

JobHistory::JobHistory(size_t steps) : steps_(steps), latest_(steps, kNone) {}

bool JobHistory::Apply(const Event& event) {
  if (const auto* e = std::get_if<JobEnded>(&event)) {
    ended_ = *e;
    return true;
  }
  const StepIndex s = std::visit(
      [](const auto& e) {
        if constexpr (requires { e.step; }) {
          return e.step;
        } else {
          return StepIndex(UINT32_MAX);
        }
      },
      event);
  if (s.value >= steps_.size()) return false;
  StepHistory& step = steps_[s.value];
  if (const auto* e = std::get_if<StepStarted>(&event)) {
    OnStarted(step, *e);
  } else if (const auto* e = std::get_if<StepOutput>(&event)) {
    OnOutput(*e);
  } else if (const auto* e = std::get_if<StepEnded>(&event)) {
    OnEnded(step, *e);
  }
  // StepWaiting: the step waits as it did; nothing of its attempts changes.
  return true;
}

void JobHistory::OnStarted(StepHistory& step, const StepStarted& e) {
  size_t& latest = latest_[e.step.value];
  // The same start twice (a log written again after a crash): one attempt.
  if (latest != kNone && attempts_[latest].attempt == e.attempt) return;
  AttemptRecord a;
  a.step = e.step;
  a.attempt = e.attempt;
  a.worker = e.worker;
  a.start_ms = e.at_ms;
  latest = attempts_.size();
  attempts_.push_back(std::move(a));
  step.state = StepState::kRunning;
  ++step.attempts;
  step.worker = e.worker;
  step.run.reset();
  tails_.erase(e.step.value);  // the new attempt's lines from here on
}

void JobHistory::OnOutput(const StepOutput& e) {
  const size_t latest = latest_[e.step.value];
  // Only the latest attempt's, and only while it runs.
  if (latest == kNone || attempts_[latest].attempt != e.attempt || attempts_[latest].ended) {
    return;
  }
  OutputTail& tail = tails_[e.step.value];
  std::string& partial = tail.partial[e.stream == Stream::kStderr ? 1 : 0];
  std::string_view data = e.data.bytes;
  while (!data.empty()) {
    const size_t nl = data.find('\n');
    const std::string_view piece = data.substr(0, nl);
    // A line longer than kept is cut, so take no more of it than that (and
    // one byte, to know it is longer).
    if (partial.size() <= kTailLineBytes) {
      partial.append(piece.substr(0, kTailLineBytes + 1 - partial.size()));
    }
    if (nl == std::string_view::npos) break;
    CutLine(&partial);
    tail.lines.push_back(std::move(partial));
    partial.clear();
    if (tail.lines.size() > kTailLines) tail.lines.pop_front();
    data.remove_prefix(nl + 1);
  }
}

void JobHistory::OnEnded(StepHistory& step, const StepEnded& e) {
  step.state = e.state;
  step.reason = e.reason;
  if (!e.worker.empty()) step.worker = e.worker;
  if (e.run) step.run = e.run;
  if (e.state == StepState::kSucceeded) tails_.erase(e.step.value);
  const size_t latest = latest_[e.step.value];
  // Attempt 0: it never ran. An attempt that never started either (a
  // follower whose predecessor failed) has no record to end.
  if (e.attempt.value == 0 || latest == kNone || attempts_[latest].attempt != e.attempt) return;
  AttemptRecord& a = attempts_[latest];
  a.ended = true;
  a.run = e.run;
  a.state_after = e.state;
  a.reason = e.reason;
  if (!e.worker.empty()) a.worker = e.worker;
  if (e.run && e.run->started_ms > 0) {
    // It ran: the worker's own times.
    a.start_ms = e.run->started_ms;
    a.end_ms = std::max(e.run->ended_ms, a.start_ms);
  } else if (e.run && e.run->ended_ms > 0) {
    // Lost: from its dispatch to when the broker gave it up.
    a.end_ms = std::max(e.run->ended_ms, a.start_ms);
  } else {
    // It never started (given back, not run, could not be spawned): an
    // instant at its dispatch.
    a.end_ms = a.start_ms;
  }
}

std::vector<std::string> JobHistory::Tail(StepIndex s) const {
  std::vector<std::string> lines;
  auto it = tails_.find(s.value);
  if (it == tails_.end()) return lines;
  const OutputTail& tail = it->second;
  lines.assign(tail.lines.begin(), tail.lines.end());
  for (const std::string& partial : tail.partial) {
    if (partial.empty()) continue;
    std::string line = partial;
    CutLine(&line);
    lines.push_back(std::move(line));
  }
  if (lines.size() > kTailLines) lines.erase(lines.begin(), lines.end() - kTailLines);
  return lines;
}

std::vector<WorkerLanes> JobHistory::AssignLanes(int64_t now_ms) {
  // Each worker's attempts, in the order of its first attempt.
  std::vector<WorkerLanes> workers;
  std::vector<std::vector<size_t>> of_worker;
  std::unordered_map<std::string_view, size_t> index;  // views of attempts_' names
  for (size_t i = 0; i < attempts_.size(); ++i) {
    const std::string& name = attempts_[i].worker;
    auto [it, added] = index.try_emplace(name, workers.size());
    if (added) {
      workers.push_back(WorkerLanes{name, 1});
      of_worker.emplace_back();
    }
    of_worker[it->second].push_back(i);
  }
  for (size_t w = 0; w < workers.size(); ++w) {
    std::vector<size_t>& order = of_worker[w];
    // By start time: then the lowest free lane never leaves a lane unused
    // that a later attempt could have had (fewest lanes).
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return attempts_[a].start_ms < attempts_[b].start_ms;
    });
    std::vector<int64_t> free_at;  // per lane: when its last attempt ends
    for (size_t i : order) {
      AttemptRecord& a = attempts_[i];
      if (a.start_ms <= 0) {
        a.lane = 0;  // no time to place it at: drawn nowhere
        continue;
      }
      const int64_t end = a.ended ? a.end_ms : std::max(now_ms, a.start_ms);
      size_t lane = 0;
      while (lane < free_at.size() && free_at[lane] > a.start_ms) ++lane;
      if (lane == free_at.size()) free_at.push_back(0);
      free_at[lane] = end;
      a.lane = static_cast<uint32_t>(lane);
    }
    workers[w].lanes = std::max<uint32_t>(1, static_cast<uint32_t>(free_at.size()));
  }
  return workers;
}

}  // namespace drover
