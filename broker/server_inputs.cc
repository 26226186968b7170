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
  for (StepIndex producer : job.StdinFrom(step)) {
    Result<uint64_t> size = spool_->CaptureSize(job.id(), producer);
    if (!size.ok()) {
      return Status::Error("stdin_from \"" + job.StepId(producer) +
                           "\": " + size.status().message());
    }
    sizes.push_back(size.value());
  }
  return sizes;
}

Result<std::optional<Server::StreamSource>> Server::StreamState(const Job& job, StepIndex reader) {
  const StepIndex p = *job.StreamProducer(reader);
  const StepRun& pr = job.run(p);
  const bool producing = pr.state == StepState::kRunning && !pr.conditional;
  if (!producing && pr.state != StepState::kSucceeded) return std::optional<StreamSource>();
  StreamSource source{TaskKey{job.id(), p, Attempt(pr.attempt)}, 0, !producing};
  Result<uint64_t> size = spool_->CaptureSize(job.id(), p);
  if (!size.ok()) {
    return Status::Error("stdin_from \"" + job.StepId(p) + "\": " + size.status().message());
  }
  source.size = size.value();
  return std::optional<StreamSource>(source);
}

std::optional<std::vector<uint64_t>> Server::StreamedSources(WorkerId worker, const TaskKey& key) {
  const Worker* w = scheduler_.FindWorker(worker);
  const Job* job = scheduler_.FindJob(key.job);
  if (w == nullptr || job == nullptr || !w->running.count(key) || key.step.value >= job->size() ||
      job->StdinFrom(key.step).empty()) {
    return std::nullopt;  // an old attempt's word, or a worker's mistake
  }
  if (job->step(key.step).stdin_stream) {
    if (job->run(key.step).withdrawn) return std::nullopt;  // its kill is on the way
    Result<std::optional<StreamSource>> source = StreamState(*job, key.step);
    if (!source.ok()) {
      StopForInput(worker, key, source.status().message());
      return std::nullopt;
    }
    if (!source.value()) return std::nullopt;  // withdrawn: its kill is on the way
    streams_[key] = source.value()->producer;
    return std::vector<uint64_t>{source.value()->size};
  }
  Result<std::vector<uint64_t>> sizes = InputSizes(*job, key.step);
  if (!sizes.ok()) {
    // Checked at the dispatch; gone since (the machine lost it in a
    // restart): the step must not read a part of its input as all of it.
    StopForInput(worker, key, sizes.status().message());
    return std::nullopt;
  }
  uint64_t total = 0;
  for (uint64_t size : sizes.value()) total += size;
  if (total <= kInlineStdinFromBytes) return std::nullopt;  // it went in the dispatch
  return std::move(sizes).value();
}

void Server::StopForInput(WorkerId worker, const TaskKey& key, const std::string& why) {
  const Job* job = scheduler_.FindJob(key.job);
  spdlog::error("job {}: stopping attempt {} of step {}: its stdin: {}", key.job.value,
                key.attempt.value, job != nullptr ? job->StepId(key.step) : "?", why);
  Kill(worker, key);
  inputs_.Close(key);
  inputs_refused_.insert(key);  // its worker's next credit must not open it again
}

void Server::HandleInputCredit(const Peer& peer, const InputCredit& credit) {
  if (!inputs_.Has(credit.key)) {
    if (credit.closed || inputs_refused_.count(credit.key)) return;
    std::optional<std::vector<uint64_t>> sizes = StreamedSources(peer.worker, credit.key);
    if (!sizes) return;
    inputs_.Open(credit.key, peer.worker, std::move(*sizes), credit.received,
                 /*growing=*/streams_.count(credit.key) > 0);
  }
  inputs_.OnCredit(credit.key, peer.worker, credit.consumed, credit.received, credit.resume,
                   credit.closed);
}

void Server::GrowStreams() {
  for (auto it = streams_.begin(); it != streams_.end();) {
    const TaskKey reader = it->first;
    if (!inputs_.Has(reader)) {
      it = streams_.erase(it);
      continue;
    }
    const Job* job = scheduler_.FindJob(reader.job);
    Result<std::optional<StreamSource>> source =
        job == nullptr ? Result<std::optional<StreamSource>>(std::optional<StreamSource>())
                       : StreamState(*job, reader.step);
    if (!source.ok()) {
      StopForInput(inputs_.WorkerOf(reader), reader, source.status().message());
      it = streams_.erase(it);
    } else if (!source.value() || source.value()->producer != it->second) {
      // Its producer's attempt ended without success: no more comes, and
      // the reader is being withdrawn (scheduler_streams.cc). Its worker's
      // next credit must not open a feed of the next attempt's bytes.
      inputs_.Close(reader);
      inputs_refused_.insert(reader);
      it = streams_.erase(it);
    } else {
      inputs_.Grow(reader, source.value()->size, source.value()->complete);
      ++it;
    }
  }
}

void Server::FeedInputs() {
  if (inputs_.size() == 0 || replaying_) return;
  GrowStreams();
  // A worker merely silent keeps its feeds: it may not know it was, and
  // would not ask for them again. One that comes back on a new connection
  // says what it has (InputCredit with `resume`).
  auto runs = [this](const TaskKey& key, WorkerId worker) {
    const Worker* w = scheduler_.FindWorker(worker);
    return w != nullptr && w->running.count(key) > 0 && worker_routes_.count(worker) > 0;
  };
  inputs_.Retain(runs);
  std::erase_if(inputs_refused_, [this](const TaskKey& key) {
    const Job* job = scheduler_.FindJob(key.job);
    return job == nullptr || job->run(key.step).attempt != key.attempt.value ||
           job->run(key.step).state != StepState::kRunning;
  });
  for (const InputPiece& piece : inputs_.Plan()) {
    if (inputs_refused_.count(piece.key)) continue;
    if (Status s = ReadPiece(piece); !s.ok()) {
      StopForInput(piece.worker, piece.key, s.message());
      continue;
    }
    std::string& out =
        outgoing_.emplace_back(worker_routes_.at(piece.worker), std::string()).second;
    EncodeTaskInput(piece.key, piece.offset, input_buffer_, piece.eof, &out);
  }
}

Status Server::ReadPiece(const InputPiece& piece) {
  const Job* job = scheduler_.FindJob(piece.key.job);
  const auto producers = job->StdinFrom(piece.key.step);
  input_buffer_.resize(piece.length);
  // From its first source on into the next ones, as long as the piece is.
  size_t done = 0;
  uint64_t from = piece.source_offset;
  for (size_t source = piece.source; done < piece.length; ++source, from = 0) {
    if (source >= producers.size()) return Status::Error("its sources are shorter than planned");
    Result<uint64_t> size = spool_->CaptureSize(piece.key.job, producers[source]);
    if (!size.ok()) return size.status();
    if (size.value() <= from) continue;
    const size_t n =
        static_cast<size_t>(std::min<uint64_t>(size.value() - from, piece.length - done));
    Status s =
        spool_->ReadCapture(piece.key.job, producers[source], from, n, input_buffer_.data() + done);
    if (!s.ok()) return s;
    done += n;
  }
  return Status::Ok();
}

}  // namespace drover::broker
