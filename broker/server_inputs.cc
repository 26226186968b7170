// Server (server.h): stdin streamed to running steps from the stdout the
// spool captured (`stdin_from` larger than kInlineStdinFromBytes). The
// pure core decides what goes where (broker/core/input_feed.h); this reads
// the pieces from disk and sends them as TaskInput.
//
// Feeds are not journaled: a feed opens when its worker first speaks of it
// (InputCredit), when the child starts or, after a restart or a broken
// connection, with what the worker already has; a feed whose attempt no
// longer runs on its worker, or whose worker has no connection, closes at
// the next turn.

#include <spdlog/spdlog.h>

#include "broker/server.h"

namespace drover::broker {

Result<std::vector<uint64_t>> Server::InputSizes(const Job& job, StepIndex step) {
  std::vector<uint64_t> sizes;
  for (StepIndex producer : job.step(step).StdinFrom()) {
    Result<uint64_t> size = spool_->CaptureSize(job.id(), producer);
    if (!size.ok()) {
      return Status::Error("stdin_from \"" + job.step(producer).id + "\": " +
                           size.status().message());
    }
    sizes.push_back(size.value());
  }
  return sizes;
}

std::optional<std::vector<uint64_t>> Server::StreamedSources(WorkerId worker,
                                                             const TaskKey& key) {
  const Worker* w = scheduler_.FindWorker(worker);
  const Job* job = scheduler_.FindJob(key.job);
  if (w == nullptr || job == nullptr || !w->running.count(key) || key.step.value >= job->size() ||
      job->step(key.step).StdinFrom().empty()) {
    return std::nullopt;  // an old attempt's word, or a worker's mistake
  }
  Result<std::vector<uint64_t>> sizes = InputSizes(*job, key.step);
  if (!sizes.ok()) {
    // Checked at the dispatch; gone since (the machine lost it in a
    // restart): the step must not read a part of its input as all of it.
    spdlog::error("job {}: stopping attempt {} of step {}: {}", key.job.value, key.attempt.value,
                  job->step(key.step).id, sizes.status().message());
    Kill(worker, key);
    return std::nullopt;
  }
  return std::move(sizes).value();
}

void Server::HandleInputCredit(const Peer& peer, const InputCredit& credit) {
  if (!inputs_.Has(credit.key)) {
    if (credit.closed) return;
    std::optional<std::vector<uint64_t>> sizes = StreamedSources(peer.worker, credit.key);
    if (!sizes) return;
    inputs_.Open(credit.key, peer.worker, std::move(*sizes), credit.received);
  }
  inputs_.OnCredit(credit.key, peer.worker, credit.consumed, credit.received, credit.resume,
                   credit.closed);
}

void Server::FeedInputs() {
  if (inputs_.size() == 0 || replaying_) return;
  // A worker merely silent keeps its feeds: it may not know it was, and
  // would not ask for them again. One that comes back on a new connection
  // says what it has (InputCredit with `resume`).
  inputs_.Retain([this](const TaskKey& key, WorkerId worker) {
    const Worker* w = scheduler_.FindWorker(worker);
    return w != nullptr && w->running.count(key) > 0 && worker_routes_.count(worker) > 0;
  });
  std::vector<TaskKey> failed;
  for (const InputPiece& piece : inputs_.Plan()) {
    if (std::find(failed.begin(), failed.end(), piece.key) != failed.end()) continue;
    const Job* job = scheduler_.FindJob(piece.key.job);
    const StepIndex producer = job->step(piece.key.step).StdinFrom()[piece.source];
    input_buffer_.resize(piece.length);
    if (piece.length > 0) {
      Status s = spool_->ReadCapture(piece.key.job, producer, piece.source_offset, piece.length,
                                     input_buffer_.data());
      if (!s.ok()) {
        spdlog::error("job {}: stopping attempt {} of step {}: its stdin: {}", piece.key.job.value,
                      piece.key.attempt.value, job->step(piece.key.step).id, s.message());
        Kill(piece.worker, piece.key);
        inputs_.Close(piece.key);
        failed.push_back(piece.key);
        continue;
      }
    }
    std::string& out = outgoing_.emplace_back(worker_routes_.at(piece.worker), std::string()).second;
    EncodeTaskInput(piece.key, piece.offset, input_buffer_, piece.eof, &out);
  }
}

}  // namespace drover::broker
