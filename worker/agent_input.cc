// Agent (agent.h): a streamed stdin (Task::stdin_stream). The broker sends
// the pieces (TaskInput) within a window this side opens and moves on with
// InputCredit: when the child starts, as it takes its input (in quarters of
// kInputWindowBytes), and on every new connection, with what it holds, so
// that the broker resumes from there after a restart. Pieces are kept by
// offset: one it has is dropped, one past what it has (lost on a broken
// connection) asks for the rest again.

#include <spdlog/spdlog.h>

#include "worker/agent.h"

namespace drover::worker {

void Agent::SendInputCredit(const RunningTask& task, bool resume, bool closed) {
  if (!welcomed_) return;  // the next welcome says it all again
  Send(InputCredit{task.key, task.input.written, task.input.received, resume, closed});
}

void Agent::OnTaskInput(const TaskInput& input) {
  const ProcessSet::Id id = core_.ProcessOf(input.key);
  RunningTask* task = id == 0 ? nullptr : core_.FindRunning(id);
  if (task == nullptr || !task->input.streamed || task->input.ended) return;
  RunningTask::Input& in = task->input;
  std::string_view data = input.data.bytes;
  if (input.offset > in.received) {
    // Something before it was lost: once, ask for all from what we have.
    if (!in.gap) {
      in.gap = true;
      SendInputCredit(*task, /*resume=*/true, /*closed=*/false);
    }
    return;
  }
  in.gap = false;
  const uint64_t known = in.received - input.offset;
  if (known > data.size()) return;  // all of it here already
  data.remove_prefix(static_cast<size_t>(known));
  in.received += data.size();
  if (!data.empty() && !processes_->FeedStdin(id, data)) return;  // closed: told already
  if (input.eof) {
    in.ended = true;
    processes_->EndStdin(id);
  }
}

void Agent::OnStdinWritten(ProcessObserver::Id id, uint64_t total) {
  RunningTask* task = core_.FindRunning(id);
  if (task == nullptr) return;
  task->input.written = total;
  if (total - task->input.credited >= kInputWindowBytes / 4) {
    task->input.credited = total;
    SendInputCredit(*task, /*resume=*/false, /*closed=*/false);
  }
}

void Agent::OnStdinClosed(ProcessObserver::Id id) {
  RunningTask* task = core_.FindRunning(id);
  if (task == nullptr) return;
  task->input.ended = true;
  SendInputCredit(*task, /*resume=*/false, /*closed=*/true);
}

void Agent::ResumeInputs() {
  core_.ForEachRunning([this](ProcessSet::Id, RunningTask& task) {
    if (!task.input.streamed || task.input.ended) return;
    task.input.gap = false;
    task.input.credited = task.input.written;
    SendInputCredit(task, /*resume=*/true, /*closed=*/false);
  });
}

}  // namespace drover::worker
