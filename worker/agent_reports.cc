// Agent (agent.h): what goes to the broker. Output within the credit
// window (spilling to disk beyond it while out of touch), and results,
// numbered, batched while local work keeps the slots busy, sent after the
// output read before them, and kept until the broker acknowledges them.

#include <spdlog/spdlog.h>

#include <algorithm>

#include "shared/clock.h"
#include "shared/codec.h"
#include "worker/agent.h"

namespace drover::worker {

bool Agent::WantOutput() const {
  if (spill_failed_) return false;
  if (!welcomed_ || OutputWaiting()) return !output_queue_.full();
  return output_sent_ - output_credited_ < kOutputWindowBytes;
}

void Agent::SendOutput(std::shared_ptr<const std::string> message, uint64_t data_bytes) {
  output_sent_ += data_bytes;
  in_flight_.push_back(SentOutput{message, data_bytes, output_sent_});
  if (SendShared(*socket_, std::move(message))) last_sent_ = MonotonicMs();
}

void Agent::DrainOutput() {
  while (welcomed_ && OutputWaiting() && output_sent_ - output_credited_ < kOutputWindowBytes) {
    if (!resend_.empty()) {
      SentOutput entry = std::move(resend_.front());
      resend_.pop_front();
      SendOutput(std::move(entry.message), entry.data_bytes);
      continue;
    }
    std::string message;
    uint64_t data_bytes = 0;
    if (Status s = output_queue_.Pop(&message, &data_bytes); !s.ok()) {
      // The spill file failed us: what it held is gone, but not what runs.
      spdlog::error("output kept while out of touch is lost: {}", s.message());
      output_queue_.Clear();
      break;
    }
    SendOutput(std::make_shared<const std::string>(std::move(message)), data_bytes);
  }
  if (spill_failed_ && !OutputWaiting()) spill_failed_ = false;
}

void Agent::OnOutput(Id id, Stream stream, std::string_view data) {
  auto it = tasks_.find(id);
  if (it == tasks_.end() || stopping_) return;
  uint64_t& offset = it->second.offset[stream == Stream::kStderr ? 1 : 0];
  auto message = std::make_shared<std::string>();
  EncodeTaskOutput(it->second.key, stream, data, offset, message.get());
  offset += data.size();
  if (welcomed_ && !OutputWaiting()) {
    SendOutput(std::move(message), data.size());
    return;
  }
  if (Status s = output_queue_.Push(std::move(*message), data.size()); !s.ok()) {
    if (!spill_failed_) {
      spdlog::error("cannot keep output while out of touch ({}); pausing the steps' output",
                    s.message());
    }
    spill_failed_ = true;
  }
}

void Agent::AddResult(TaskResult result, Time now) {
  // A reason can quote what the step gave (a PATH of a megabyte, say): it is
  // for people, and a few KiB of it say all there is to say.
  if (std::string& error = result.run.error; error.size() > kMaxErrorBytes) {
    error.resize(kMaxErrorBytes);
    error += "...";
  }
  unacked_.push_back(NumberedResult{next_seq_++, std::move(result)});
  if (results_since_ < 0) results_since_ = now;
}

void Agent::Acknowledged(uint64_t through) {
  while (!unacked_.empty() && unacked_.front().seq <= through) unacked_.pop_front();
  unsent_from_ = std::max(unsent_from_, through + 1);
}

void Agent::FlushResults(Time now, bool force) {
  if (!welcomed_ || unsent_from_ >= next_seq_) return;
  // A result ends its attempt at the broker, which then drops the attempt's
  // output: so all output read before it goes first.
  if (OutputWaiting() && !force) return;
  if (results_since_ < 0) results_since_ = now;
  if (!force && !RunningLow() && next_seq_ - unsent_from_ < kMaxResultBatch &&
      now - results_since_ < kResultDelayMs) {
    return;
  }
  // unacked_ is in sequence order with no gaps, so the first unsent one is
  // at a known distance from its front. Many results (sent again after a
  // long time out of touch) go in several messages, each well within the
  // broker's message size limit.
  for (size_t from = static_cast<size_t>(unsent_from_ - unacked_.front().seq);
       from < unacked_.size(); from += kMaxResultsPerMessage) {
    TaskResults batch;
    batch.first_seq = unacked_[from].seq;
    const size_t end = std::min(unacked_.size(), from + kMaxResultsPerMessage);
    batch.results.reserve(end - from);
    for (size_t i = from; i < end; ++i) batch.results.push_back(unacked_[i].result);
    Send(batch);
  }
  unsent_from_ = next_seq_;
  results_since_ = -1;
}

bool Agent::RunningLow() const {
  // Slot units waiting to start, queued or following a running attempt: at
  // most one per slot, and the slots may empty within a round trip to the
  // broker. Every task takes a slot at least, so the count stops early.
  uint64_t waiting = 0;
  for (const Task& t : queued_) {
    if ((waiting += t.slots) > options_.slots) return false;
  }
  for (const auto& [pred, tasks] : followers_) {
    for (const Task& t : tasks) {
      if ((waiting += t.slots) > options_.slots) return false;
    }
  }
  return true;
}

void Agent::OnExit(Id id, const RunResult& run) {
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return;
  const TaskKey key = it->second.key;
  const Time now = MonotonicMs();
  RunResult reported = run;
  if (it->second.cut_off) {
    reported.outcome = Outcome::kLost;
    reported.error = "stopped: out of touch with the broker for nearly its lease";
  }
  by_key_.erase(key);
  busy_slots_ -= it->second.slots;
  tasks_.erase(it);
  if (!stopping_) AddResult(TaskResult{key, reported}, now);
  Ended(key, reported.succeeded(), now);
}

}  // namespace drover::worker
