// Agent (agent.h): a streamed stdin (Task::stdin_stream). The broker sends
// the pieces (TaskInput) within a window this side opens and moves on with
// InputCredit: when the child starts; as it takes its input, in quarters of
// kInputWindowBytes and whenever it has taken all the worker holds (else
// a window's tail under a quarter would never be credited, and the
// broker's budgets would stay spent); `closed` once it has all of it or
// closed its stdin; and on every new connection, with what it holds, so
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
  // Refused: the child closed its stdin (told in OnStdinClosed), or it has
  // ended and its pipes linger (the attempt's end closes the feed).
  if (!data.empty() && !processes_->FeedStdin(id, data)) return;
  if (input.eof) {
    in.eof = true;
    processes_->EndStdin(id);
    MaybeInputDone(*task);
  }
}

void Agent::MaybeInputDone(RunningTask& task) {
  RunningTask::Input& in = task.input;
  if (!in.eof || in.ended || in.written < in.received) return;
  in.ended = true;
  in.credited = in.written;
  SendInputCredit(task, /*resume=*/false, /*closed=*/true);
}

void Agent::OnStdinWritten(ProcessObserver::Id id, uint64_t total) {
  RunningTask* task = core_.FindRunning(id);
  if (task == nullptr) return;
  RunningTask::Input& in = task->input;
  in.written = total;
  if (in.eof) {
    MaybeInputDone(*task);
  } else if (total - in.credited >= kInputWindowBytes / 4 ||
             (total == in.received && total > in.credited)) {
    in.credited = total;
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
    if (!task.input.streamed) return;
    task.input.gap = false;
    task.input.credited = task.input.written;
    // An ended one again too: its `closed` may not have got out.
    SendInputCredit(task, /*resume=*/!task.input.ended, /*closed=*/task.input.ended);
  });
}

}  // namespace drover::worker
