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
  if (SendShared(socket_->socket(), std::move(message))) last_sent_ = MonotonicMs();
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

void Agent::OnOutput(ProcessObserver::Id id, Stream stream, std::string_view data) {
  RunningTask* task = core_.FindRunning(id);
  if (task == nullptr || core_.stopping()) return;
  uint64_t& offset = task->offset[stream == Stream::kStderr ? 1 : 0];
  auto message = std::make_shared<std::string>();
  EncodeTaskOutput(task->key, stream, data, offset, message.get());
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

void Agent::FlushResults(Time now, bool force) {
  if (!welcomed_) return;
  // A result ends its attempt at the broker, which then drops the attempt's
  // output: so all output read before it goes first.
  if (OutputWaiting() && !force) return;
  for (const TaskResults& batch : core_.TakeResults(now, force)) Send(batch);
}

void Agent::OnExit(ProcessObserver::Id id, const RunResult& run) {
  // Its pipes are drained before its exit is reported: the count is whole.
  if (const RunningTask* task = core_.FindRunning(id); task != nullptr) {
    RunResult counted = run;
    counted.stdout_bytes = static_cast<int64_t>(task->offset[0]);
    core_.OnExit(id, counted, MonotonicMs());
    return;
  }
  core_.OnExit(id, run, MonotonicMs());
}

}  // namespace drover::worker
