#include "worker/core/result_log.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace drover::worker {

void ResultLog::Add(TaskResult result, Time now, bool urgent) {
  // A reason can quote what the step gave (a PATH of a megabyte, say): it is
  // for people, and a few KiB of it say all there is to say.
  if (std::string& error = result.run.error; error.size() > kMaxErrorBytes) {
    error.resize(kMaxErrorBytes);
    error += "...";
  }
  kept_.push_back(Numbered{next_seq_++, std::move(result)});
  if (held_since_ < 0) held_since_ = now;
  urgent_ |= urgent;
}

void ResultLog::Acknowledged(uint64_t through) {
  while (!kept_.empty() && kept_.front().seq <= through) kept_.pop_front();
  // Never past what exists: an acknowledgement from a confused peer must
  // not make results that were never sent count as sent.
  unsent_from_ = std::clamp(through + 1, unsent_from_, next_seq_);
  if (!unsent()) {
    held_since_ = -1;
    urgent_ = false;
  }
}

void ResultLog::Reconnected() {
  unsent_from_ = kept_.empty() ? next_seq_ : kept_.front().seq;
  held_since_ = -1;
}

std::vector<TaskResults> ResultLog::Take(Time now, bool force, bool running_low) {
  std::vector<TaskResults> messages;
  if (!unsent()) return messages;
  if (held_since_ < 0) held_since_ = now;
  if (!force && !urgent_ && !running_low && next_seq_ - unsent_from_ < kMaxBatch &&
      now - held_since_ < kDelayMs) {
    return messages;
  }
  // kept_ is in sequence order with no gaps, so the first unsent one is at a
  // known distance from its front. Many results (sent again after a long
  // time out of touch) go in several messages, each well within the
  // broker's message size limit.
  for (size_t from = static_cast<size_t>(unsent_from_ - kept_.front().seq); from < kept_.size();
       from += kMaxPerMessage) {
    TaskResults& batch = messages.emplace_back();
    batch.first_seq = kept_[from].seq;
    const size_t end = std::min(kept_.size(), from + kMaxPerMessage);
    batch.results.reserve(end - from);
    for (size_t i = from; i < end; ++i) batch.results.push_back(kept_[i].result);
  }
  unsent_from_ = next_seq_;
  held_since_ = -1;
  urgent_ = false;
  return messages;
}

void ResultLog::CheckInvariants() const {
  for (size_t i = 1; i < kept_.size(); ++i) {
    if (kept_[i].seq != kept_[i - 1].seq + 1) throw std::logic_error("results: a gap in numbers");
  }
  if (!kept_.empty() && kept_.back().seq + 1 != next_seq_) {
    throw std::logic_error("results: the newest is not next_seq - 1");
  }
  const uint64_t oldest = kept_.empty() ? next_seq_ : kept_.front().seq;
  if (unsent_from_ < oldest || unsent_from_ > next_seq_) {
    throw std::logic_error("results: the first unsent one is not kept");
  }
  if (!unsent() && urgent_) throw std::logic_error("results: urgent with nothing unsent");
}

}  // namespace drover::worker
