#include "broker/server.h"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "shared/clock.h"
#include "shared/codec.h"
#include "shared/transport.h"

namespace drover::broker {
namespace {

// Messages handled per loop turn before the turn's scheduling pass: enough
// to batch a burst of results into one pass, few enough to keep turns short.
constexpr int kMaxMessagesPerTurn = 4096;
// Largest JobEvents message.
constexpr size_t kEventsChunkBytes = 1 << 20;

std::string JobName(const Job& job) {
  const std::string& name = job.spec().name;
  return "job " + std::to_string(job.id().value) + (name.empty() ? "" : " (" + name + ")");
}

}  // namespace

Server::Server(ServerOptions options, std::unique_ptr<Spool> spool)
    : options_(std::move(options)),
      spool_(std::move(spool)),
      scheduler_(this, SchedulerOptions{int64_t{options_.heartbeat_ms} * options_.liveness, 3}) {}

Server::~Server() = default;

Status Server::Bind(zmq::context_t* ctx) {
  try {
    router_ = std::make_unique<zmq::socket_t>(*ctx, zmq::socket_type::router);
    router_->set(zmq::sockopt::router_mandatory, 1);
    router_->set(zmq::sockopt::sndhwm, 0);
    router_->set(zmq::sockopt::rcvhwm, 0);
    router_->set(zmq::sockopt::linger, 1000);
    router_->bind(options_.bind);
  } catch (const zmq::error_t& e) {
    return Status::Error("cannot listen on " + options_.bind + ": " + e.what());
  }
  return Status::Ok();
}

Status Server::Run(SignalFd* signals) {
  std::vector<zmq::pollitem_t> items = {
      {router_->handle(), 0, ZMQ_POLLIN, 0},
      {nullptr, signals->fd(), ZMQ_POLLIN, 0},
  };
  next_tick_ = MonotonicMs() + options_.heartbeat_ms;
  std::string route;
  for (;;) {
    const int64_t wake = next_pump_ >= 0 ? std::min(next_tick_, next_pump_) : next_tick_;
    const long timeout = static_cast<long>(std::max<int64_t>(0, wake - MonotonicMs()));
    try {
      zmq::poll(items, std::chrono::milliseconds(timeout));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) return Status::Error(std::string("poll: ") + e.what());
    }
    if (items[1].revents & ZMQ_POLLIN) {
      for (int sig : signals->ReadPending()) {
        if (sig == SIGINT || sig == SIGTERM) {
          spdlog::info("stopping on signal {} after {} loop turns, {} messages in, {} out", sig,
                       counters_.turns, counters_.received, counters_.sent);
          return spool_->FlushAll();
        }
      }
    }
    int64_t now = MonotonicMs();
    ++counters_.turns;
    for (int i = 0; i < kMaxMessagesPerTurn; ++i) {
      zmq::message_t frame;
      const Received received = ReceiveFrame(*router_, &route, &frame);
      if (received == Received::kNothing) break;
      ++counters_.received;
      if (received == Received::kMalformed) {
        ReplyError(route, ErrorCode::kMalformed, "a message must be exactly one frame");
        continue;
      }
      HandleFrame(route, std::string_view(static_cast<const char*>(frame.data()), frame.size()),
                  now);
    }
    now = MonotonicMs();
    if (now >= next_tick_) {
      Tick(now);
      next_tick_ = now + options_.heartbeat_ms;
    }
    ScheduleAndDispatch(now);
    // Followers first, from the spool's memory; then the turn's one write.
    next_pump_ = PumpFollowers(now);
    if (Status s = spool_->FlushAll(); !s.ok()) spdlog::error("spool: {}", s.message());
    SendCredits();
    for (const std::string& gone : std::exchange(gone_clients_, {})) DropClient(gone);
    for (JobId job : std::exchange(ended_jobs_, {})) CloseIfUnwatched(job);
  }
}

void Server::HandleFrame(const std::string& route, std::string_view frame, int64_t now) {
  Result<Message> decoded = DecodeMessage(frame);
  auto it = peers_.find(route);
  if (!decoded.ok()) {
    if (it == peers_.end() || !it->second.complained) {
      spdlog::warn("malformed message from {}: {}",
                   it == peers_.end() ? "an unknown peer" : it->second.name,
                   decoded.status().message());
      if (it != peers_.end()) it->second.complained = true;
    }
    ReplyError(route, ErrorCode::kMalformed, "malformed message: " + decoded.status().message());
    return;
  }
  Message& msg = decoded.value();
  if (std::holds_alternative<WorkerHello>(msg) || std::holds_alternative<ClientHello>(msg)) {
    HandleHello(route, msg, now);
    return;
  }
  if (it == peers_.end()) {
    ReplyError(route, ErrorCode::kNeedHello,
               "unknown peer: say hello first (the broker may have restarted)");
    return;
  }
  Peer& peer = it->second;
  peer.last_heard = now;
  if (peer.role == Peer::Role::kWorker) {
    scheduler_.OnWorkerHeard(peer.worker, now);
    HandleWorkerMessage(peer, route, msg, now);
  } else {
    HandleClientMessage(peer, route, msg, now);
  }
}

void Server::HandleHello(const std::string& route, Message& msg, int64_t now) {
  const bool is_worker = std::holds_alternative<WorkerHello>(msg);
  const uint32_t version =
      is_worker ? std::get<WorkerHello>(msg).version : std::get<ClientHello>(msg).version;
  if (version != kProtocolVersion) {
    const std::string text = "protocol version mismatch: this broker speaks Drover protocol " +
                             std::to_string(kProtocolVersion) + ", the " +
                             (is_worker ? "worker" : "client") + " speaks " +
                             std::to_string(version) + "; run the same Drover release on both";
    spdlog::warn("refused a {}: {}", is_worker ? "worker" : "client", text);
    ReplyError(route, ErrorCode::kVersionMismatch, text);
    return;
  }
  // A second hello on the same connection starts over.
  if (auto old = peers_.find(route); old != peers_.end()) {
    if (old->second.role == Peer::Role::kWorker) {
      scheduler_.OnWorkerLost(old->second.worker, "said hello again", now);
      worker_routes_.erase(old->second.worker);
    }
    DropClient(route);
  }
  if (is_worker) {
    WorkerHello& hello = std::get<WorkerHello>(msg);
    if (hello.slots == 0) {
      ReplyError(route, ErrorCode::kMalformed, "a worker needs at least one slot");
      return;
    }
    std::string name = hello.name.empty() ? hello.host : hello.name;
    // Bounded so that one worker cannot hoard a graph: its prefetch is only
    // used for short steps anyway (worker_pool.h).
    const uint32_t prefetch = std::min(hello.prefetch, std::max(4 * hello.slots, 64u));
    const WorkerId id = scheduler_.OnWorkerJoined(
        WorkerInfo{name, hello.host, hello.slots, std::move(hello.labels), prefetch}, now);
    Peer peer{Peer::Role::kWorker, name, id};
    peer.last_heard = now;
    peers_.emplace(route, std::move(peer));
    worker_routes_[id] = route;
    const Worker* w = scheduler_.FindWorker(id);
    std::string labels;
    for (const std::string& l : w->info.labels) labels += (labels.empty() ? "" : ",") + l;
    spdlog::info("worker {} joined as #{}: host {}, {} slots{}", name, id.value, hello.host,
                 hello.slots, labels.empty() ? "" : ", labels " + labels);
    Reply(route, Welcome{kProtocolVersion, id, options_.heartbeat_ms});
  } else {
    Peer peer{Peer::Role::kClient, std::get<ClientHello>(msg).user, WorkerId()};
    peer.last_heard = now;
    peers_.emplace(route, std::move(peer));
    Reply(route, Welcome{kProtocolVersion, WorkerId(), options_.heartbeat_ms});
  }
}

void Server::HandleWorkerMessage(Peer& peer, const std::string& route, Message& msg,
                                 int64_t now) {
  if (auto* out = std::get_if<TaskOutput>(&msg)) {
    // Credit in quarters of the window, so the worker never waits on a
    // credit for every chunk yet never stalls with a full window. Credits go
    // out only at the end of the turn, once the spool has written the data:
    // the window then bounds what this process holds, not just the wire.
    const uint64_t quarter = kOutputWindowBytes / 4;
    const bool was_due = peer.output_received - peer.output_credited >= quarter;
    peer.output_received += out->data.bytes.size();
    if (!was_due && peer.output_received - peer.output_credited >= quarter) {
      credit_due_.push_back(route);
    }
    scheduler_.OnStepOutput(peer.worker, std::move(*out));
  } else if (auto* results = std::get_if<TaskResults>(&msg)) {
    for (const TaskResult& r : results->results) scheduler_.OnStepExited(peer.worker, r, now);
  } else if (std::holds_alternative<Goodbye>(msg)) {
    spdlog::info("worker {} (#{}) said goodbye", peer.name, peer.worker.value);
    const WorkerId id = peer.worker;
    scheduler_.OnWorkerLost(id, "left (said goodbye)", now);
    worker_routes_.erase(id);
    peers_.erase(route);  // `peer` dangles from here on
  } else if (!std::holds_alternative<Heartbeat>(msg)) {
    ReplyError(route, ErrorCode::kWrongRole, "a worker cannot send this message");
  }
}

void Server::HandleClientMessage(Peer& /*peer*/, const std::string& route, Message& msg,
                                 int64_t now) {
  if (auto* submit = std::get_if<SubmitJob>(&msg)) {
    HandleSubmit(route, *submit, now);
  } else if (auto* watch = std::get_if<WatchJob>(&msg)) {
    const Job* job = scheduler_.FindJob(watch->job);
    if (job == nullptr) {
      ReplyError(route, ErrorCode::kUnknownJob, "no job " + std::to_string(watch->job.value));
      return;
    }
    JobAccepted reply{job->id(), job->spec().name, {}};
    for (const StepSpec& s : job->spec().steps) reply.step_ids.push_back(s.id);
    Reply(route, reply);
    followers_.push_back(Follower{route, job->id(), 0, 0});
  } else if (auto* cancel = std::get_if<CancelJob>(&msg)) {
    const Job* job = scheduler_.FindJob(cancel->job);
    if (job == nullptr) {
      ReplyError(route, ErrorCode::kUnknownJob, "no job " + std::to_string(cancel->job.value));
    } else if (job->finished() && !job->cancelled()) {
      ReplyError(route, ErrorCode::kUnknownJob,
                 JobName(*job) + " has already " + JobStateName(job->Outcome()));
    } else {
      if (!job->cancelled()) spdlog::info("{} cancelled on request", JobName(*job));
      scheduler_.OnCancel(cancel->job, now);
      Reply(route, CancelAccepted{cancel->job});
    }
  } else if (auto* ack = std::get_if<EventsAck>(&msg)) {
    for (Follower& f : followers_) {
      if (f.route == route && f.job == ack->job) f.acked = std::max(f.acked, std::min(ack->offset, f.sent));
    }
  } else if (std::holds_alternative<StatusRequest>(msg)) {
    Reply(route, scheduler_.Status());
  } else if (!std::holds_alternative<Heartbeat>(msg)) {
    ReplyError(route, ErrorCode::kWrongRole, "a client cannot send this message");
  }
}

void Server::HandleSubmit(const std::string& route, SubmitJob& submit, int64_t now) {
  LoadedJob loaded = LoadJob(submit.job.bytes, options_.job_limits);
  const std::string& who = peers_.at(route).name;
  if (!loaded.spec) {
    JobRejected reply;
    for (const Problem& p : loaded.problems) reply.problems.push_back(FormatProblem(p));
    spdlog::info("rejected a job from {}: {} problem(s)", who, reply.problems.size());
    Reply(route, reply);
    return;
  }
  const JobId id(next_job_++);
  if (Status s = spool_->OpenJob(id, *loaded.spec); !s.ok()) {
    spdlog::error("cannot spool job {}: {}", id.value, s.message());
    ReplyError(route, ErrorCode::kInternal, "the broker cannot store the job: " + s.message());
    return;
  }
  JobAccepted reply{id, loaded.spec->name, {}};
  reply.step_ids.reserve(loaded.spec->steps.size());
  for (const StepSpec& s : loaded.spec->steps) reply.step_ids.push_back(s.id);
  // Sent after this turn's dispatches: the step's way to a worker is the
  // job's critical path; the client's acknowledgement is not.
  accepted_.emplace_back(route, std::move(reply));
  if (submit.follow) followers_.push_back(Follower{route, id, 0, 0});
  spdlog::info("job {}{} accepted from {}: {} steps", id.value,
               loaded.spec->name.empty() ? "" : " (" + loaded.spec->name + ")", who,
               loaded.spec->steps.size());
  scheduler_.OnSubmit(id, std::move(*loaded.spec), now);
  // Decoding a large graph leaves the heap full of freed parse buffers; give
  // them back so the broker's footprint is what it keeps, not what it read.
  if (submit.job.bytes.size() > (1 << 20)) malloc_trim(0);
}

void Server::Reply(const std::string& route, const Message& msg) {
  // ZeroMQ refuses a send only when the peer's connection is gone. Workers
  // are then dropped by silence; clients are dropped at the end of the turn.
  ++counters_.sent;
  if (!SendRouted(*router_, route, msg)) gone_clients_.push_back(route);
}

void Server::ReplyError(const std::string& route, ErrorCode code, std::string message) {
  Reply(route, ErrorReply{code, std::move(message)});
}

void Server::Dispatch(WorkerId worker, const TaskKey& key, std::optional<TaskKey> after) {
  const Job* job = scheduler_.FindJob(key.job);
  const StepSpec& step = job->step(key.step);
  Task task;
  task.key = key;
  task.step_id = step.id;
  task.argv = step.cmd.empty() ? step.argv : std::vector<std::string>{"/bin/sh", "-c", step.cmd};
  task.env = step.env;
  task.cwd = step.cwd;
  task.timeout_ms = step.timeout_ms;
  task.slots = step.slots;
  if (after) {
    task.after_step = after->step;
    task.after_attempt = after->attempt;
  }
  if (step.stdin_data) {
    task.stdin_data.bytes = *step.stdin_data;
  } else if (step.stdin_from) {
    Result<std::string> data = spool_->ReadCapturedStdout(key.job, *step.stdin_from,
                                                          options_.job_limits.max_stdin_bytes);
    if (!data.ok()) {
      RunResult run;
      run.outcome = Outcome::kSpawnFailed;
      run.error = "stdin_from \"" + job->step(*step.stdin_from).id + "\": " + data.status().message();
      failed_before_start_.emplace_back(worker, TaskResult{key, std::move(run)});
      return;
    }
    task.stdin_data.bytes = std::move(data).value();
  }
  pending_dispatch_[worker].push_back(std::move(task));
}

void Server::Kill(WorkerId worker, const TaskKey& key) {
  auto it = worker_routes_.find(worker);
  if (it != worker_routes_.end()) Reply(it->second, KillTask{key});
}

void Server::Publish(JobId job, const Event& event) {
  if (Status s = spool_->Record(job, event); !s.ok()) spdlog::error("spool: {}", s.message());
  if (const auto* ended = std::get_if<JobEnded>(&event)) {
    spdlog::info("{} {}", JobName(*scheduler_.FindJob(job)), JobStateName(ended->state));
    ended_jobs_.push_back(job);
  }
}

void Server::ScheduleAndDispatch(int64_t now) {
  scheduler_.Schedule(now);
  // Attempts that failed on the way out settle like any result; retries may
  // then need another pass. Each round consumes a retry, so this ends.
  while (!failed_before_start_.empty()) {
    auto failed = std::move(failed_before_start_);
    failed_before_start_.clear();
    for (auto& [worker, result] : failed) {
      // It never reached the worker; drop it from the batch-to-be too.
      scheduler_.OnStepExited(worker, result, now);
    }
    scheduler_.Schedule(now);
  }
  for (auto& [worker, tasks] : pending_dispatch_) {
    auto it = worker_routes_.find(worker);
    if (it != worker_routes_.end() && !tasks.empty()) Reply(it->second, drover::Dispatch{std::move(tasks)});
  }
  pending_dispatch_.clear();
  for (auto& [route, accepted] : std::exchange(accepted_, {})) Reply(route, accepted);
}

void Server::SendCredits() {
  for (const std::string& route : std::exchange(credit_due_, {})) {
    auto it = peers_.find(route);
    if (it == peers_.end()) continue;  // left during the turn
    it->second.output_credited = it->second.output_received;
    Reply(route, OutputCredit{it->second.output_credited});
  }
}

void Server::Tick(int64_t now) {
  scheduler_.OnTick(now);
  for (auto it = worker_routes_.begin(); it != worker_routes_.end();) {
    if (scheduler_.FindWorker(it->first) == nullptr) {
      spdlog::warn("worker {} (#{}) lost: no message for {} ms", peers_.at(it->second).name,
                   it->first.value, int64_t{options_.heartbeat_ms} * options_.liveness);
      peers_.erase(it->second);
      it = worker_routes_.erase(it);
    } else {
      ++it;
    }
  }
  const int64_t silence = int64_t{options_.heartbeat_ms} * options_.liveness;
  std::vector<std::string> silent;
  for (const auto& [route, peer] : peers_) {
    if (peer.role == Peer::Role::kClient && now - peer.last_heard > silence) silent.push_back(route);
  }
  for (const std::string& route : silent) DropClient(route);
  for (const auto& [route, peer] : peers_) SendRouted(*router_, route, Heartbeat{});
}

void Server::DropClient(const std::string& route) {
  auto it = peers_.find(route);
  if (it == peers_.end() || it->second.role != Peer::Role::kClient) return;
  peers_.erase(it);
  std::vector<JobId> followed;
  std::erase_if(followers_, [&](const Follower& f) {
    if (f.route != route) return false;
    followed.push_back(f.job);
    return true;
  });
  for (JobId job : followed) CloseIfUnwatched(job);
}

void Server::CloseIfUnwatched(JobId job) {
  // Only an ended job's files are closed: a running one still appends.
  const Job* j = scheduler_.FindJob(job);
  if (j != nullptr && !j->finished()) return;
  for (const Follower& f : followers_) {
    if (f.job == job) return;
  }
  spool_->CloseJob(job);
}

int64_t Server::PumpFollowers(int64_t now) {
  int64_t next = -1;
  for (size_t i = 0; i < followers_.size();) {
    Follower& f = followers_[i];
    EventLog* log = spool_->Log(f.job);
    bool done = log == nullptr;
    const uint64_t waiting = done ? 0 : log->size() - f.sent;
    const bool due = waiting >= kEventsPromptBytes || log->ended() ||
                     now - f.sent_at >= kEventsDelayMs;
    if (!done && waiting > 0 && !due) {
      next = next < 0 ? f.sent_at + kEventsDelayMs : std::min(next, f.sent_at + kEventsDelayMs);
    }
    while (!done && due && f.sent < log->size() && f.sent - f.acked < kEventsWindowBytes) {
      const size_t room = static_cast<size_t>(kEventsWindowBytes - (f.sent - f.acked));
      Result<std::string_view> chunk =
          log->Read(f.sent, std::min(room, kEventsChunkBytes), &read_scratch_);
      if (!chunk.ok()) {
        spdlog::error("job {}: {}", f.job.value, chunk.status().message());
        done = true;
        break;
      }
      std::string bytes;
      EncodeJobEvents(f.job, f.sent, chunk.value(), &bytes);
      f.sent += chunk->size();
      f.sent_at = now;
      ++counters_.sent;
      if (!SendRoutedEncoded(*router_, f.route, std::move(bytes))) gone_clients_.push_back(f.route);
    }
    // A follower that has acknowledged the whole of an ended job is done.
    if (!done && log->ended() && f.acked >= log->size()) done = true;
    if (done) {
      const JobId job = f.job;
      followers_.erase(followers_.begin() + static_cast<long>(i));
      CloseIfUnwatched(job);
    } else {
      ++i;
    }
  }
  return next;
}

}  // namespace drover::broker
