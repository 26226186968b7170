// Server (server.h): the loop, peers, and what workers say.

#include "broker/server.h"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "shared/clock.h"
#include "shared/codec.h"
#include "shared/durations.h"
#include "shared/job_draft.h"
#include "shared/transport.h"

namespace drover::broker {
namespace {

// Messages handled per loop turn before the turn's scheduling pass: enough
// to batch a burst of results into one pass, few enough to keep turns short.
constexpr int kMaxMessagesPerTurn = 4096;

// A routing id for logs: ZeroMQ makes them up as 5 binary bytes.
std::string RouteText(std::string_view route) {
  static const char kHex[] = "0123456789abcdef";
  std::string text;
  for (unsigned char c : route.substr(0, 16)) {
    text += kHex[c >> 4];
    text += kHex[c & 15];
  }
  return text;
}

}  // namespace

Server::Server(ServerOptions options, std::unique_ptr<Spool> spool)
    : options_(std::move(options)),
      disk_(options_.min_free_bytes),
      spool_(std::move(spool)),
      scheduler_(this, SchedulerOptions{int64_t{options_.heartbeat_ms} * options_.liveness,
                                        options_.lease_ms, 3}),
      alloc_(AllocDriver::Options{
          .script_dir = options_.alloc_dir,
          .script = {.worker_path = options_.alloc_worker,
                     .broker_address = options_.advertise.empty() ? options_.bind
                                                                   : options_.advertise},
          .tick_ms = options_.alloc_tick_ms,
          .poll_ms = options_.alloc_poll_ms,
          .backoff_ms = options_.alloc_backoff_ms}) {}

Server::~Server() = default;

Status Server::Bind(zmq::context_t* ctx) {
  if (keys_) {
    // First: a CURVE handshake may come as soon as the ROUTER listens.
    Result<std::unique_ptr<ZapHandler>> zap = ZapHandler::Bind(ctx);
    if (!zap.ok()) return zap.status();
    zap_ = std::move(zap).value();
  }
  try {
    router_ = std::make_unique<zmq::socket_t>(*ctx, zmq::socket_type::router);
    if (keys_) {
      if (Status s = MakeCurveServer(*router_, keys_->broker_keys().secret_key); !s.ok()) return s;
    }
    router_->set(zmq::sockopt::router_mandatory, 1);
    router_->set(zmq::sockopt::sndhwm, 0);
    router_->set(zmq::sockopt::rcvhwm, 0);
    router_->set(zmq::sockopt::linger, 1000);
    router_->set(zmq::sockopt::maxmsgsize, options_.max_message_bytes);
    router_->set(zmq::sockopt::handshake_ivl, options_.handshake_ms);
    router_->bind(options_.bind);
  } catch (const zmq::error_t& e) {
    return Status::Error("cannot listen on " + options_.bind + ": " + e.what());
  }
  return Status::Ok();
}

int64_t Server::NextDeadline() const {
  int64_t wake = next_tick_;
  for (int64_t t : {next_pump_, sync_due_, scheduler_.NextWakeup(), alloc_.NextDue()}) {
    if (t >= 0) wake = std::min(wake, t);
  }
  // Input whose window is open but did not fit in the last turn goes next.
  if (inputs_.Ready()) wake = 0;
  return wake;
}

Status Server::Run(SignalFd* signals) {
  std::vector<zmq::pollitem_t> items = {
      {router_->handle(), 0, ZMQ_POLLIN, 0},
      {nullptr, signals->fd(), ZMQ_POLLIN, 0},
      // A background sync finished: submissions may be acknowledged.
      {nullptr, journal_->sync_done_fd(), ZMQ_POLLIN, 0},
  };
  if (zap_) items.push_back({zap_->handle(), 0, ZMQ_POLLIN, 0});
  const size_t board_item = items.size();  // the dashboard wants a snapshot
  if (board_ != nullptr) items.push_back({nullptr, board_->want_fd(), ZMQ_POLLIN, 0});
  size_t alloc_item = 0;  // Slurm commands finished; 0 until the first runs
  next_tick_ = MonotonicMs() + options_.heartbeat_ms;
  std::string route;
  for (;;) {
    const long timeout = static_cast<long>(std::max<int64_t>(0, NextDeadline() - MonotonicMs()));
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
          return Stop();
        }
        if (sig == SIGHUP && keys_) ReloadAccess("on SIGHUP", MonotonicMs());
      }
    }
    // Handshakes wait on these answers, so they come first.
    if (zap_ && (items[3].revents & ZMQ_POLLIN)) zap_->Serve(access_);
    if (items[2].revents & ZMQ_POLLIN) {
      journal_->ClearSyncDone();
      for (int64_t us : journal_->TakeSyncDurations()) {
        metrics_.journal_sync_seconds.Observe(static_cast<double>(us) / 1e6);
      }
    }
    int64_t now = MonotonicMs();
    if (alloc_item > 0 && (items[alloc_item].revents & ZMQ_POLLIN)) alloc_.TakeResults(now);
    ++counters_.turns;
    for (int i = 0; i < kMaxMessagesPerTurn; ++i) {
      zmq::message_t frame;
      const Received received = ReceiveFrame(*router_, &route, &frame);
      if (received == Received::kNothing) break;
      ++counters_.received;
      if (received == Received::kMalformed) {
        Complain(route, "a message of more than one frame");
        ReplyError(route, ErrorCode::kMalformed, "a message must be exactly one frame");
        continue;
      }
      // With keys, the sender's key (the ZAP user id) rides on every message.
      const char* key = keys_ ? zmq_msg_gets(frame.handle(), "User-Id") : nullptr;
      HandleFrame(route, key ? key : "",
                  std::string_view(static_cast<const char*>(frame.data()), frame.size()), now);
    }
    now = MonotonicMs();
    if (now >= next_tick_) {
      Tick(now);
      next_tick_ = now + options_.heartbeat_ms;
    }
    ScheduleAndDispatch(now);
    FeedInputs();
    AllocTurn(now);
    // The jobs' event logs first: replay does not publish events again, so
    // a kill between the two writes must leave the logs ahead of the
    // journal (a state change told twice) rather than behind it (an ending
    // a following client never hears).
    if (Status s = spool_->FlushAll(); !s.ok()) NoteWriteFailure("spool", s);
    // Nothing leaves before the records it depends on are written.
    if (!WriteJournal(now)) return Status::Error("stopping: the journal cannot be written");
    WatchDisk();
    for (const auto& [job, captured] : std::exchange(spool_forget_due_, {})) {
      spool_->ForgetJob(job, captured);
    }
    alloc_.StartCommands();
    if (alloc_item == 0 && alloc_.fd() >= 0) {
      alloc_item = items.size();
      items.push_back({nullptr, alloc_.fd(), ZMQ_POLLIN, 0});
    }
    FlushOutgoing();  // before any job's events: a client hears JobAccepted first
    next_pump_ = PumpFollowers(now);
    SendCredits();
    FlushOutgoing();
    // Last: the turn's decisions are in it, and its messages have left.
    if (board_ != nullptr && (items[board_item].revents & ZMQ_POLLIN)) {
      board_->Publish(DashboardSnapshot(MonotonicMs()));
    }
    // After the sends: a new job's file is kept for later, and the journal
    // already holds it (replay restores it, should the broker stop first).
    WriteJobFiles();
    for (const std::string& gone : std::exchange(gone_clients_, {})) DropClient(gone);
    RetireEndedJobs();
    // Taking a large graph leaves the heap full of freed buffers (the parse,
    // the job's journal record, the reply listing every step); once the
    // turn has written and sent them, give them back, so that the broker's
    // footprint is what it keeps, not what it read.
    if (std::exchange(trim_due_, false)) malloc_trim(0);
    if (SnapshotDue()) {
      if (Status s = TakeSnapshot(); !s.ok()) {
        // The old snapshot and journal are still in use; try again once
        // the journal has grown a little more (or the disk has room).
        snapshot_after_ = journal_->journal_bytes() + (options_.snapshot_bytes >> 4);
        NoteWriteFailure("snapshot", s);
      }
    }
  }
}

void Server::HandleFrame(const std::string& route, std::string_view key, std::string_view frame,
                         int64_t now) {
  Result<Message> decoded = DecodeMessage(frame);
  if (keys_ && !CheckAccess(route, key, decoded.ok() ? &decoded.value() : nullptr, now)) return;
  auto it = peers_.find(route);
  if (!decoded.ok()) {
    Complain(route, "a malformed message: " + decoded.status().message());
    ReplyError(route, ErrorCode::kMalformed, "malformed message: " + decoded.status().message());
    return;
  }
  Message& msg = decoded.value();
  if (std::holds_alternative<WorkerHello>(msg) || std::holds_alternative<ClientHello>(msg)) {
    HandleHello(route, key, msg, now);
    return;
  }
  if (it == peers_.end()) {
    ReplyError(route, ErrorCode::kNeedHello,
               "unknown peer: say hello first (the broker may have restarted)");
    return;
  }
  Peer& peer = it->second;
  if (std::optional<std::string> why = RoleRefusal(peer.role, msg)) {
    Complain(route, *why);
    ReplyError(route, ErrorCode::kWrongRole, *why);
    return;
  }
  peer.last_heard = now;
  if (peer.role == Peer::Role::kWorker) {
    scheduler_.OnWorkerHeard(peer.worker, now);
    HandleWorkerMessage(peer, route, msg, frame, now);
  } else {
    HandleClientMessage(peer, route, msg, now);
  }
}

void Server::HandleHello(const std::string& route, std::string_view key, Message& msg,
                         int64_t now) {
  const bool is_worker = std::holds_alternative<WorkerHello>(msg);
  const uint32_t version =
      is_worker ? std::get<WorkerHello>(msg).version : std::get<ClientHello>(msg).version;
  if (version != kProtocolVersion) {
    const std::string text = "protocol version mismatch: this broker speaks Drover protocol " +
                             std::to_string(kProtocolVersion) + ", the " +
                             (is_worker ? "worker" : "client") + " speaks " +
                             std::to_string(version) + "; run the same Drover release on both";
    Complain(route, "a hello of another version: " + text);
    ReplyError(route, ErrorCode::kVersionMismatch, text);
    return;
  }
  // Logged once per connection, hellos or not: a peer saying hello between
  // bad messages does not buy itself another log line.
  bool complained = complained_unknown_.erase(route) > 0;
  // A second hello on the same connection starts over.
  if (auto old = peers_.find(route); old != peers_.end()) {
    complained |= old->second.complained;
    if (old->second.role == Peer::Role::kWorker) {
      ForgetWorker(old->second.worker, WorkerEnd::kLost, "said hello again", now);
    } else {
      DropClient(route);
    }
  }
  if (!is_worker) {
    Peer peer{Peer::Role::kClient, std::get<ClientHello>(msg).user, WorkerId()};
    peer.last_heard = now;
    peer.complained = complained;
    peer.key = std::string(key);
    peers_.emplace(route, std::move(peer));
    Reply(route, Welcome{kProtocolVersion, WorkerId(), options_.heartbeat_ms, options_.liveness});
    return;
  }
  WorkerHello& hello = std::get<WorkerHello>(msg);
  if (hello.slots == 0) {
    if (complained) complained_unknown_.insert(route);
    Complain(route, "a worker hello with 0 slots");
    ReplyError(route, ErrorCode::kMalformed, "a worker needs at least one slot");
    return;
  }
  if (std::string bad = CheckResourceList(hello.resources); !bad.empty()) {
    if (complained) complained_unknown_.insert(route);
    Complain(route, "a worker hello with bad resources: " + bad);
    ReplyError(route, ErrorCode::kMalformed, "resources: " + bad);
    return;
  }
  const std::string name = hello.name.empty() ? hello.host : hello.name;
  const WorkerPool::HelloVerdict verdict =
      scheduler_.pool().JudgeHello(name, hello.instance, hello.previous_instance);
  // Said before the previous run is forgotten (which may move the pool).
  std::string taken;
  if (verdict.holder != nullptr) taken = NameTakenMessage(*verdict.holder, hello, now);
  // A worker restarted on the same host: its previous run is gone, and its
  // children with it (they die with their worker), so there is no lease to
  // wait out. So even if this one is refused.
  if (verdict.previous != nullptr) {
    spdlog::info("worker {} restarted: its previous run's steps run again now", name);
    ForgetWorker(verdict.previous->id, WorkerEnd::kLost, "restarted (its previous run is gone)",
                 now);
  }
  if (!taken.empty()) {
    if (complained) complained_unknown_.insert(route);
    spdlog::warn("refused a worker from {} (pid {}): {}", hello.host, hello.pid, taken);
    ReplyError(route, ErrorCode::kNameTaken, std::move(taken));
    return;
  }
  // Bounded so that one worker cannot hoard a graph: its prefetch is only
  // used for short steps anyway (worker_pool.h).
  const uint32_t prefetch = std::min(hello.prefetch, std::max(4 * hello.slots, 64u));
  const bool known = verdict.back;
  const WorkerId id = scheduler_.OnWorkerHello(
      WorkerInfo{.name = name,
                 .host = hello.host,
                 .slots = hello.slots,
                 .labels = std::move(hello.labels),
                 .prefetch = prefetch,
                 .instance = hello.instance,
                 .resources = std::move(hello.resources),
                 .time_left_ms = hello.time_left_ms,
                 .draining = hello.draining,
                 .slurm_job_id = hello.slurm_job_id},
      hello.held, now);
  // Its name may have changed: journal it anew.
  if (id.value < journal_workers_.size()) journal_workers_[id.value] = 0;
  // The same worker on a new connection: the old one is dead.
  if (auto r = worker_routes_.find(id); r != worker_routes_.end() && r->second != route) {
    peers_.erase(r->second);
  }
  Peer peer{Peer::Role::kWorker, name, id};
  peer.last_heard = now;
  peer.complained = complained;
  peer.key = std::string(key);
  peer.reads_dispatch_acks = hello.reads_dispatch_acks;
  peer.slurm_job_id = hello.slurm_job_id;
  peers_.emplace(route, std::move(peer));
  worker_routes_[id] = route;
  if (hello.slurm_job_id != 0) alloc_.queues().OnWorkerJoined(hello.slurm_job_id, name, now);
  const Worker* w = scheduler_.FindWorker(id);
  std::string labels;
  for (const std::string& l : w->info.labels) labels += (labels.empty() ? "" : ",") + l;
  if (known) {
    spdlog::info("worker {} (#{}) is back, holding {} attempt(s)", name, id.value,
                 hello.held.size());
  } else {
    const std::string resources = FormatResources(w->info.resources);
    spdlog::info("worker {} joined as #{}: host {}, {} slots{}{}{}", name, id.value, hello.host,
                 hello.slots, resources.empty() ? "" : ", " + resources,
                 labels.empty() ? "" : ", labels " + labels,
                 hello.slurm_job_id ? ", Slurm job " + std::to_string(hello.slurm_job_id) : "");
  }
  if (w->ends_at > 0) {
    spdlog::info("worker {} (#{}) has {} left before its time limit", name, id.value,
                 ShortDuration(w->ends_at - now));
  }
  Reply(route, Welcome{kProtocolVersion, id, options_.heartbeat_ms, options_.liveness});
  // Draining: it hears it (again), which also tells a worker that drains
  // of its own accord that the broker knows (it leaves only then).
  if (w->draining) Reply(route, Drain{});
}

std::string Server::NameTakenMessage(const Worker& holder, const WorkerHello& hello,
                                    int64_t now) const {
  std::string text = "a worker named " + Quote(holder.info.name) + " is already connected from " +
                     holder.info.host + " (for " + ShortDuration(now - holder.connected_since) +
                     "); give this one another --name";
  // The same host can also be this worker restarted with another state
  // directory (its previous run unknown to it): that one is dead, and is
  // given up once silent for the liveness interval.
  if (holder.info.host == hello.host) {
    text += " (or, if that one is this worker's previous run with another --state-dir, "
            "start this one again once the broker has given it up: " +
            ShortDuration(int64_t{options_.heartbeat_ms} * options_.liveness) +
            " after its last word)";
  }
  return text;
}

void Server::HandleWorkerMessage(Peer& peer, const std::string& route, Message& msg,
                                 std::string_view frame, int64_t now) {
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
    // The message as it came (ResultsRecord): replay applies its results
    // in order, as here.
    if (const Worker* w = scheduler_.FindWorker(peer.worker); w != nullptr) {
      const uint32_t number = JournalWorker(*w);
      AppendRecord([&](std::string* out) { EncodeResultsRecord(number, frame, out); });
    }
    for (const TaskResult& r : results->results) scheduler_.OnStepExited(peer.worker, r, now);
    if (results->first_seq > 0 && !results->results.empty()) {
      if (peer.results_seen == peer.results_acked) acks_due_.push_back(route);
      peer.results_seen =
          std::max(peer.results_seen, results->first_seq + results->results.size() - 1);
    }
  } else if (auto* credit = std::get_if<InputCredit>(&msg)) {
    HandleInputCredit(peer, *credit);
  } else if (auto* declined = std::get_if<RetractDeclined>(&msg)) {
    scheduler_.OnRetractDeclined(peer.worker, declined->keys);
  } else if (auto* draining = std::get_if<Draining>(&msg)) {
    const Worker* w = scheduler_.FindWorker(peer.worker);
    spdlog::info("worker {} (#{}) is draining ({}): it takes no new steps and leaves when its "
                 "{} step(s) are done",
                 peer.name, peer.worker.value, Quote(draining->reason, 80),
                 w ? w->running.size() : 0);
    scheduler_.OnWorkerDraining(peer.worker);
    // The answer: whatever we sent it before this has reached it by now
    // (one connection keeps order), so it may leave once it holds nothing.
    Reply(route, Drain{});
  } else if (std::holds_alternative<Goodbye>(msg)) {
    spdlog::info("worker {} (#{}) said goodbye", peer.name, peer.worker.value);
    ForgetWorker(peer.worker, WorkerEnd::kLost, "left (said goodbye)", now);  // `peer` dangles
  }
  // Heartbeat: being heard is all it says. Nothing else gets here (roles.h).
}

void Server::Complain(const std::string& route, const std::string& what) {
  auto it = peers_.find(route);
  if (it != peers_.end()) {
    if (std::exchange(it->second.complained, true)) return;
    spdlog::warn(
        "{} (peer {}) sent {}; answered with an error, nothing else changed (logged once "
        "per peer)",
        it->second.name, RouteText(route), what);
    return;
  }
  // Bounded: a flood of new connections cannot grow it for ever.
  if (complained_unknown_.size() >= 10'000) complained_unknown_.clear();
  if (!complained_unknown_.insert(route).second) return;
  spdlog::warn("peer {} (no hello yet) sent {}; answered with an error (logged once per peer)",
               RouteText(route), what);
}

void Server::Reply(const std::string& route, const Message& msg) {
  outgoing_.emplace_back(route, EncodeMessage(msg));
}

void Server::ReplyError(const std::string& route, ErrorCode code, std::string message) {
  Reply(route, ErrorReply{code, std::move(message)});
}

void Server::FlushOutgoing() {
  for (auto& [route, bytes] : outgoing_) {
    ++counters_.sent;
    // ZeroMQ refuses a send only when the peer's connection is gone. Workers
    // are then dropped by silence; clients are dropped at the end of the turn.
    if (!SendRoutedEncoded(*router_, route, std::move(bytes))) gone_clients_.push_back(route);
  }
  outgoing_.clear();
}

void Server::Dispatch(WorkerId worker, const TaskKey& key, std::optional<TaskKey> after) {
  if (replaying_) return;
  const Job* job = scheduler_.FindJob(key.job);
  // An array's element is rendered for its dispatch only, and lives until
  // the dispatch is encoded.
  const StepSpec& step = job->IsElement(key.step) ? rendered_.emplace_back(job->Render(key.step))
                                                  : job->step(key.step);
  const Worker* w = scheduler_.FindWorker(worker);
  const uint32_t number = JournalWorker(*w);
  if (worker.value >= dispatch_record_of_.size()) dispatch_record_of_.resize(worker.value + 1, 0);
  uint32_t& index = dispatch_record_of_[worker.value];
  if (index == 0) {
    dispatch_records_.emplace_back(worker, DispatchesRecord{number, {}});
    index = static_cast<uint32_t>(dispatch_records_.size());
  }
  dispatch_records_[index - 1].second.entries.push_back(
      DispatchEntry{key, after ? after->step : StepIndex(), after ? after->attempt : Attempt()});
  TaskRef task{.key = key, .step = &step};
  if (const ResourceList& wants = job->spec().ResourcesOf(step); !wants.empty()) {
    task.resources = &wants;
  }
  task.lease_ms = static_cast<uint32_t>(scheduler_.LeaseOf(job));
  if (after) {
    task.after_step = after->step;
    task.after_attempt = after->attempt;
  }
  if (step.stdin_data) {
    task.stdin_data = *step.stdin_data;
  } else if (step.stdin_stream) {
    task.stdin_stream = true;  // read while its producer writes (server_inputs.cc)
  } else if (!job->StdinFrom(key.step).empty()) {
    // The producers' captures in order. Small enough, they ride in the
    // dispatch; else they stream from the spool once the step starts
    // (server_inputs.cc).
    Result<std::vector<uint64_t>> sizes = InputSizes(*job, key.step);
    uint64_t total = 0;
    if (sizes.ok()) {
      for (uint64_t size : sizes.value()) total += size;
    }
    Status read;
    if (sizes.ok() && total <= kInlineStdinFromBytes) {
      std::string& input = stdin_read_.emplace_back();
      for (StepIndex producer : job->StdinFrom(key.step)) {
        Result<std::string> data =
            spool_->ReadCapturedStdout(key.job, producer, kInlineStdinFromBytes);
        if (!data.ok()) {
          read = Status::Error("stdin_from \"" + job->StepId(producer) +
                               "\": " + data.status().message());
          break;
        }
        input += data.value();
      }
      task.stdin_data = input;
    }
    if (!sizes.ok() || !read.ok()) {
      RunResult run;
      run.outcome = Outcome::kSpawnFailed;
      run.error = (sizes.ok() ? read : sizes.status()).message();
      failed_before_start_.emplace_back(worker, TaskResult{key, std::move(run)});
      return;
    }
    task.stdin_stream = total > kInlineStdinFromBytes;
  }
  pending_dispatch_[worker].push_back(task);
}

void Server::Kill(WorkerId worker, const TaskKey& key) {
  if (replaying_) return;
  auto it = worker_routes_.find(worker);
  if (it != worker_routes_.end()) Reply(it->second, KillTask{key});
}

void Server::CloseOutput(WorkerId worker, const TaskKey& key) {
  if (replaying_) return;
  pending_close_.emplace_back(worker, key);
}

void Server::Retract(WorkerId worker, const TaskKey& key) {
  if (replaying_) return;
  pending_retract_[worker].push_back(key);
}

void Server::AttemptLost(const TaskKey& key, const std::string& reason) {
  if (replaying_) return;
  spdlog::info("job {}: attempt {} of step {} lost: {}", key.job.value, key.attempt.value,
               key.step.value, reason);
  Journal(LostRecord{key, reason});
}

void Server::ScheduleAndDispatch(int64_t now) {
  // Records held in memory by a failed write: nothing new goes out whose
  // record would join them (what runs goes on; its results wait).
  if (!CatchUpJournal().ok()) return;
  scheduler_.Schedule(now);
  // Attempts that failed on the way out settle like any result; retries may
  // then need another pass. Each round consumes a retry, so this ends.
  while (!failed_before_start_.empty()) {
    auto failed = std::move(failed_before_start_);
    failed_before_start_.clear();
    for (auto& [worker, result] : failed) {
      if (const Worker* w = scheduler_.FindWorker(worker)) {
        Journal(ResultRecord{std::string(), result, JournalWorker(*w)});
      }
      scheduler_.OnStepExited(worker, result, now);
    }
    scheduler_.Schedule(now);
  }
  for (auto& [worker, tasks] : pending_dispatch_) {
    auto it = worker_routes_.find(worker);
    if (it == worker_routes_.end() || tasks.empty()) continue;
    // The acknowledgement of results journaled this turn rides on the
    // dispatch, to workers that read it there: the records are written
    // before anything is sent.
    uint64_t ack = 0;
    if (auto p = peers_.find(it->second); p != peers_.end() && p->second.reads_dispatch_acks &&
                                          p->second.results_seen > p->second.results_acked) {
      ack = p->second.results_acked = p->second.results_seen;
    }
    // Batches up to kDispatchBatchBytes, so that no message is bigger than
    // its largest task needs. Most turns need one.
    size_t first = 0;
    size_t bytes = 0;
    for (size_t i = 0; i < tasks.size(); ++i) {
      const size_t size = EncodedTaskBytes(tasks[i]);
      if (i > first && bytes + size > kDispatchBatchBytes) {
        std::string& out = outgoing_.emplace_back(it->second, std::string()).second;
        out.reserve(bytes + kDispatchHeaderBytes);
        EncodeDispatch(&tasks[first], i - first, std::exchange(ack, 0), &out);
        first = i;
        bytes = 0;
      }
      bytes += size;
    }
    std::string& out = outgoing_.emplace_back(it->second, std::string()).second;
    out.reserve(bytes + kDispatchHeaderBytes);
    EncodeDispatch(&tasks[first], tasks.size() - first, ack, &out);
  }
  pending_dispatch_.clear();
  stdin_read_.clear();  // encoded: the views into it are gone
  rendered_.clear();
  // After the turn's dispatches, which may name the same worker.
  for (auto& [worker, keys] : pending_retract_) {
    auto it = worker_routes_.find(worker);
    if (it == worker_routes_.end()) continue;
    spdlog::debug("asking worker #{} to give back {} queued step(s)", worker.value, keys.size());
    Reply(it->second, Message(drover::Retract{std::move(keys)}));
  }
  pending_retract_.clear();
  for (const auto& [worker, key] : pending_close_) {
    if (auto it = worker_routes_.find(worker); it != worker_routes_.end()) {
      Reply(it->second, drover::CloseOutput{key});
    }
  }
  pending_close_.clear();
}

void Server::SendCredits() {
  for (const std::string& route : std::exchange(credit_due_, {})) {
    auto it = peers_.find(route);
    if (it == peers_.end()) continue;  // left during the turn
    it->second.output_credited = it->second.output_received;
    Reply(route, OutputCredit{it->second.output_credited});
  }
  // Results are acknowledged once their records are written (this is after
  // WriteJournal), so a worker never forgets a result the broker might not
  // have: here, those no dispatch carried this turn. While a failed write
  // holds records in memory, none are: the workers keep their results.
  if (journal_stalled_) return;
  for (const std::string& route : std::exchange(acks_due_, {})) {
    auto it = peers_.find(route);
    if (it == peers_.end()) continue;  // left during the turn
    Peer& peer = it->second;
    if (peer.results_seen > peer.results_acked) {
      peer.results_acked = peer.results_seen;
      Reply(route, ResultsAck{peer.results_acked});
    }
  }
}

void Server::Tick(int64_t now) {
  if (keys_ && keys_->ListsChanged()) ReloadAccess("as its files changed", now);
  // Space may come and go by others' doing too.
  if (disk_.reserve() > 0 || disk_.level() != DiskSpace::Level::kRoomy) MeasureDisk();
  scheduler_.OnTick(now);
  ForgetExpired();
  std::vector<WorkerId> gone;
  for (const auto& [id, route] : worker_routes_) {
    if (scheduler_.FindWorker(id) == nullptr) gone.push_back(id);
  }
  for (WorkerId id : gone) {
    const auto& route = worker_routes_.at(id);
    spdlog::warn("worker {} (#{}) is gone: silent, and nothing of it left to wait for",
                 peers_.count(route) ? peers_.at(route).name : "?", id.value);
    ForgetWorker(id, WorkerEnd::kGone, "", now);
  }
  const int64_t silence = int64_t{options_.heartbeat_ms} * options_.liveness;
  std::vector<std::string> silent;
  for (const auto& [route, peer] : peers_) {
    if (peer.role == Peer::Role::kClient && now - peer.last_heard > silence) silent.push_back(route);
  }
  for (const std::string& route : silent) DropClient(route);
  for (const auto& [route, peer] : peers_) Reply(route, Heartbeat{});
}

void Server::ForgetWorker(WorkerId id, WorkerEnd end, std::string_view reason, int64_t now) {
  switch (end) {
    case WorkerEnd::kLost:
      scheduler_.OnWorkerLost(id, reason, now);
      break;
    case WorkerEnd::kShutOut:
      scheduler_.OnWorkerShutOut(id);
      break;
    case WorkerEnd::kGone:
      break;
  }
  auto route = worker_routes_.find(id);
  if (route == worker_routes_.end()) return;
  if (auto peer = peers_.find(route->second); peer != peers_.end() && peer->second.slurm_job_id) {
    alloc_.queues().OnWorkerLeft(peer->second.slurm_job_id, peer->second.name, now);
  }
  peers_.erase(route->second);
  worker_routes_.erase(route);
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

}  // namespace drover::broker
