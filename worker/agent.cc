#include "worker/agent.h"

#include <spdlog/spdlog.h>

#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "shared/clock.h"
#include "shared/codec.h"
#include "shared/transport.h"

extern char** environ;

namespace drover::worker {
namespace {

// Output kept in memory while it cannot be sent; beyond this it spills.
constexpr uint64_t kOutputMemoryBytes = 8 << 20;

// The process layer speaks poll(2) flags; zmq_poll has its own values, and
// reports a hang-up or error on an fd as ZMQ_POLLERR.
zmq::pollitem_t ToZmq(const PollFd& f) {
  short events = 0;
  if (f.events & POLLIN) events |= ZMQ_POLLIN;
  if (f.events & POLLOUT) events |= ZMQ_POLLOUT;
  return {nullptr, f.fd, events, 0};
}

short FromZmq(short revents) {
  short out = 0;
  if (revents & ZMQ_POLLIN) out |= POLLIN;
  if (revents & ZMQ_POLLOUT) out |= POLLOUT;
  if (revents & ZMQ_POLLERR) out |= POLLERR | POLLHUP;
  return out;
}

// Retries from many workers that lost the same broker spread out instead of
// arriving together.
int64_t Jittered(int64_t ms) {
  static std::minstd_rand rng(static_cast<unsigned>(getpid()) ^ static_cast<unsigned>(WallMs()));
  return ms * 3 / 4 + static_cast<int64_t>(rng() % static_cast<uint64_t>(ms / 2 + 1));
}

}  // namespace

Agent::Agent(AgentOptions options, zmq::context_t* ctx, SignalFd* signals)
    : options_(std::move(options)),
      ctx_(ctx),
      signals_(signals),
      output_queue_(options_.state_dir + "/spill-" + options_.instance, kOutputMemoryBytes,
                    options_.spill_max_bytes) {
  processes_ = std::make_unique<ProcessSet>(static_cast<ProcessObserver*>(this),
                                            signals_->original_mask(), options_.kill_grace_ms);
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    const size_t eq = entry.find('=');
    if (eq == std::string_view::npos || entry.starts_with("DROVER_")) continue;
    base_env_.emplace_back(entry);
  }
}

Agent::~Agent() = default;

// ---- The connection ----

void Agent::Send(const Message& msg) {
  if (socket_ && SendMessage(*socket_, msg)) last_sent_ = MonotonicMs();
}

void Agent::Connect(Time now) {
  socket_ = std::make_unique<zmq::socket_t>(
      ConnectDealer(*ctx_, options_.broker, 0, options_.keys ? &*options_.keys : nullptr, &watch_,
                    options_.max_message_bytes));
  connected_at_ = now;
  next_connect_at_ = -1;
  SayHello(now);
}

void Agent::SayHello(Time now) {
  WorkerHello hello;
  hello.name = options_.name;
  hello.host = options_.host;
  hello.slots = options_.slots;
  hello.labels = options_.labels;
  hello.pid = static_cast<int32_t>(getpid());
  hello.prefetch = options_.prefetch;
  hello.instance = options_.instance;
  hello.previous_instance = options_.previous_instance;
  hello.held = Held();
  hello.reads_dispatch_acks = true;
  Send(hello);
  last_sent_ = now;
}

void Agent::Disconnect(Time now, const char* why) {
  const int64_t delay = Jittered(backoff_ms_);
  spdlog::warn("lost touch with the broker at {} ({}); {} step(s) keep running; trying again in "
               "{:.1f} s",
               options_.broker, why, tasks_.size(), delay / 1000.0);
  socket_.reset();  // what it still queued is dropped: it is all kept here
  welcomed_ = false;
  next_connect_at_ = now + delay;
  backoff_ms_ = std::min(backoff_ms_ * 2, kMaxBackoffMs);
  // What the broker may not have had goes first on the next connection.
  resend_.insert(resend_.begin(), std::make_move_iterator(in_flight_.begin()),
                 std::make_move_iterator(in_flight_.end()));
  in_flight_.clear();
  output_sent_ = output_credited_ = 0;
  results_since_ = -1;
}

void Agent::CheckLink(Time now) {
  if (!socket_) {
    if (now >= next_connect_at_) Connect(now);
    return;
  }
  const Time silence = now - std::max(last_heard_, connected_at_);
  if (silence > Time{heartbeat_ms_} * liveness_) {
    Disconnect(now, welcomed_ ? "no word from it for a while" : "no answer to our hello");
  }
}

std::vector<TaskKey> Agent::Held() const {
  std::vector<TaskKey> held;
  for (const auto& [key, id] : by_key_) held.push_back(key);
  for (const Task& t : queued_) held.push_back(t.key);
  for (const auto& [pred, waiting] : followers_) {
    for (const Task& t : waiting) held.push_back(t.key);
  }
  for (const NumberedResult& r : unacked_) held.push_back(r.result.key);
  return held;
}

int Agent::Run() {
  Time now = MonotonicMs();
  spdlog::info("connecting to {} as {} ({} slots){}", options_.broker, options_.name,
               options_.slots,
               options_.keys ? ", with key " + options_.keys->public_key.substr(0, 8) + "..." : "");
  Connect(now);

  std::vector<zmq::pollitem_t> items;
  std::vector<PollFd> fds;
  for (;;) {
    now = MonotonicMs();
    fds.clear();
    processes_->CollectPollFds(WantOutput(), &fds);
    items.clear();
    // Slot 0 is the socket; while there is none, an fd that never fires.
    items.push_back(socket_ ? zmq::pollitem_t{socket_->handle(), 0, ZMQ_POLLIN, 0}
                            : zmq::pollitem_t{nullptr, -1, 0, 0});
    items.push_back({nullptr, signals_->fd(), ZMQ_POLLIN, 0});
    items.push_back(socket_ && watch_.handle() ? zmq::pollitem_t{watch_.handle(), 0, ZMQ_POLLIN, 0}
                                               : zmq::pollitem_t{nullptr, -1, 0, 0});
    constexpr size_t kFirstFd = 3;
    for (const PollFd& f : fds) items.push_back(ToZmq(f));

    Time wake = now + Time{heartbeat_ms_};
    if (socket_) {
      if (welcomed_) wake = std::min(wake, last_sent_ + heartbeat_ms_);
      wake = std::min(wake, std::max(last_heard_, connected_at_) + heartbeat_ms_ * liveness_ + 1);
      if (results_since_ >= 0) wake = std::min(wake, results_since_ + kResultDelayMs);
    } else {
      wake = std::min(wake, next_connect_at_);
    }
    if (const Time deadline = processes_->NextDeadline(); deadline >= 0) wake = std::min(wake, deadline);
    if (const Time cut = EnforceLeases(now); cut >= 0) wake = std::min(wake, cut);
    try {
      zmq::poll(items, std::chrono::milliseconds(std::max<Time>(0, wake - now)));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) {
        spdlog::critical("poll: {}", e.what());
        return 1;
      }
    }
    now = MonotonicMs();

    if (items[1].revents & ZMQ_POLLIN) {
      for (int sig : signals_->ReadPending()) {
        if (sig == SIGCHLD) {
          processes_->ReapExited(now);
        } else if (sig == SIGINT || sig == SIGTERM) {
          spdlog::info("stopping on signal {}", sig);
          ShutDown();
          return 0;
        }
      }
    }
    for (size_t i = kFirstFd; i < items.size(); ++i) {
      if (items[i].revents != 0) processes_->HandleReady(items[i].fd, FromZmq(items[i].revents), now);
    }
    // A freed slot is refilled before anything else: it is the step's time.
    StartQueued(now);
    if (socket_ && (items[2].revents & ZMQ_POLLIN)) {
      if (const std::string refused = watch_.Poll(); !refused.empty()) {
        spdlog::error("cannot connect to the broker at {}: {}", options_.broker, refused);
        Disconnect(now, "handshake refused");
      }
    }
    if (socket_ && (items[0].revents & ZMQ_POLLIN)) {
      zmq::message_t frame;
      // The socket may be replaced while handling a message.
      for (zmq::socket_t* socket = socket_.get(); socket_.get() == socket;) {
        const Received received = ReceiveFrame(*socket, nullptr, &frame);
        if (received == Received::kNothing) break;
        if (received == Received::kMalformed) continue;
        Result<Message> msg =
            DecodeMessage(std::string_view(static_cast<const char*>(frame.data()), frame.size()));
        if (!msg.ok()) {
          spdlog::warn("malformed message from the broker: {}", msg.status().message());
          continue;
        }
        last_heard_ = now;
        if (!HandleMessage(msg.value(), now)) {
          ShutDown();
          return 1;
        }
      }
    }
    processes_->OnTick(now);
    EnforceLeases(now);
    CheckLink(now);
    StartQueued(now);
    DrainOutput();
    FlushResults(now, /*force=*/false);
    if (welcomed_ && now - last_sent_ >= heartbeat_ms_) Send(Heartbeat{});
  }
}

bool Agent::HandleMessage(Message& msg, Time now) {
  if (auto* dispatch = std::get_if<Dispatch>(&msg)) {
    if (dispatch->results_acked > 0) Acknowledged(dispatch->results_acked);
    for (Task& task : dispatch->tasks) Accept(std::move(task), now);
    StartQueued(now);
  } else if (auto* kill = std::get_if<KillTask>(&msg)) {
    if (auto it = by_key_.find(kill->key); it != by_key_.end()) {
      spdlog::info("killing {} on request", ToString(kill->key));
      processes_->Terminate(it->second, Outcome::kKilled, now);
    }
    auto is_it = [&](const Task& t) { return t.key == kill->key; };
    if (auto queued = std::find_if(queued_.begin(), queued_.end(), is_it);
        queued != queued_.end()) {
      queued_.erase(queued);
      ReportUnstarted(kill->key, Outcome::kKilled, now);
      Ended(kill->key, false, now);
    }
    for (auto& [pred, waiting] : followers_) {
      if (auto it = std::find_if(waiting.begin(), waiting.end(), is_it); it != waiting.end()) {
        waiting.erase(it);
        ReportUnstarted(kill->key, Outcome::kKilled, now);
        Ended(kill->key, false, now);
        break;
      }
    }
  } else if (auto* credit = std::get_if<OutputCredit>(&msg)) {
    output_credited_ = std::max(output_credited_, std::min(credit->consumed, output_sent_));
    while (!in_flight_.empty() && in_flight_.front().end <= output_credited_) {
      in_flight_.pop_front();
    }
  } else if (auto* ack = std::get_if<ResultsAck>(&msg)) {
    Acknowledged(ack->through);
  } else if (auto* welcome = std::get_if<Welcome>(&msg)) {
    const bool again = id_.value != 0;
    welcomed_ = true;
    backoff_ms_ = kFirstBackoffMs;
    id_ = welcome->worker;
    heartbeat_ms_ = std::max<uint32_t>(welcome->heartbeat_ms, 10);
    liveness_ = std::max<uint32_t>(welcome->liveness, 2);
    // A new connection: credits count from zero again, and every result
    // not yet acknowledged goes again (the broker ignores those it has).
    output_sent_ = output_credited_ = 0;
    unsent_from_ = unacked_.empty() ? next_seq_ : unacked_.front().seq;
    spdlog::info("{} {} as worker #{}", again ? "back in touch with" : "registered with",
                 options_.broker, id_.value);
  } else if (auto* error = std::get_if<ErrorReply>(&msg)) {
    switch (error->code) {
      case ErrorCode::kVersionMismatch:
        spdlog::critical("the broker refused this worker: {}", error->message);
        return false;
      case ErrorCode::kNeedHello:
        // The broker does not know this connection (it restarted, say):
        // start over on a fresh one, at once.
        if (welcomed_) {
          Disconnect(now, "it no longer knows this connection");
          backoff_ms_ = kFirstBackoffMs;
          next_connect_at_ = now;
        }
        break;
      case ErrorCode::kForbidden:
      case ErrorCode::kWrongRole:
        // The key is not (or no longer) allowed as a worker: keep trying,
        // slowly, so that it gets in once the operator allows it.
        spdlog::error("the broker at {} refused this worker: {}", options_.broker, error->message);
        if (socket_) Disconnect(now, "refused");
        break;
      default:
        spdlog::warn("the broker reports: {}", error->message);
        break;
    }
  }
  return true;  // Heartbeat: being heard is all it says
}

// ---- Tasks ----

std::vector<std::string> Agent::ChildEnv(const Task& task) const {
  // The worker's environment (minus its own DROVER_*), then Drover's
  // variables, then the step's, each replacing earlier ones of that name.
  auto overridden = [&task](std::string_view entry) {
    const std::string_view name = entry.substr(0, entry.find('='));
    return std::any_of(task.env.begin(), task.env.end(),
                       [&](const auto& kv) { return kv.first == name; });
  };
  std::vector<std::string> env;
  env.reserve(base_env_.size() + 5 + task.env.size());
  for (const std::string& entry : base_env_) {
    if (task.env.empty() || !overridden(entry)) env.push_back(entry);
  }
  for (std::string entry : {"DROVER_JOB_ID=" + std::to_string(task.key.job.value),
                            "DROVER_STEP_ID=" + task.step_id,
                            "DROVER_ATTEMPT=" + std::to_string(task.key.attempt.value),
                            "DROVER_WORKER=" + options_.name}) {
    if (task.env.empty() || !overridden(entry)) env.push_back(std::move(entry));
  }
  for (const auto& [name, value] : task.env) env.push_back(name + "=" + value);
  // Last, so no step can hide from a restarted worker's KillLeftovers.
  if (!options_.instance.empty()) env.push_back("DROVER_WORKER_INSTANCE=" + options_.instance);
  return env;
}

void Agent::StartQueued(Time now) {
  // Nothing starts out of touch: the broker may be about to give it away.
  // In order: a wide task at the head waits for its slots rather than being
  // overtaken for ever by narrow ones. A task wider than the worker (the
  // broker never sends one) runs alone.
  while (welcomed_ && !queued_.empty() && !stopping_ &&
         (busy_slots_ + queued_.front().slots <= options_.slots || busy_slots_ == 0)) {
    Task task = std::move(queued_.front());
    queued_.pop_front();
    StartTask(task, now);
  }
}

void Agent::Accept(Task task, Time now) {
  if (by_key_.count(task.key)) return;  // sent again: it runs already
  if (!task.follows()) {
    queued_.push_back(std::move(task));
    return;
  }
  const TaskKey pred = task.predecessor();
  auto is_pred = [&](const Task& t) { return t.key == pred; };
  // Running, queued, or itself following another (a chain sent ahead).
  bool here = by_key_.count(pred) > 0 || std::any_of(queued_.begin(), queued_.end(), is_pred);
  for (auto it = followers_.begin(); !here && it != followers_.end(); ++it) {
    here = std::any_of(it->second.begin(), it->second.end(), is_pred);
  }
  if (here) {
    followers_[pred].push_back(std::move(task));
  } else if (auto it = ended_.find(pred); it != ended_.end() && it->second) {
    queued_.push_front(std::move(task));  // it already succeeded
  } else {
    ReportUnstarted(task.key, Outcome::kNotRun, now);  // it failed, or is unknown here
  }
}

void Agent::Ended(const TaskKey& key, bool succeeded, Time now) {
  ended_.emplace(key, succeeded);
  ended_order_.push_back(key);
  if (ended_order_.size() > 4096) {
    ended_.erase(ended_order_.front());
    ended_order_.pop_front();
  }
  auto it = followers_.find(key);
  if (it == followers_.end()) return;
  std::vector<Task> waiting = std::move(it->second);
  followers_.erase(it);
  // Front of the queue, in order: the slot `key` freed is theirs.
  for (auto t = waiting.rbegin(); t != waiting.rend(); ++t) {
    if (succeeded) {
      queued_.push_front(std::move(*t));
    } else {
      ReportUnstarted(t->key, Outcome::kNotRun, now);
      Ended(t->key, false, now);
    }
  }
}

void Agent::ReportUnstarted(const TaskKey& key, Outcome outcome, Time now, std::string error) {
  RunResult run;
  run.outcome = outcome;
  run.error = std::move(error);
  run.started_ms = run.ended_ms = WallMs();
  AddResult(TaskResult{key, std::move(run)}, now);
}

Status Agent::Vet(SpawnSpec* spec, const Task& task) const {
  const RunPolicy& policy = options_.policy;
  auto refused = [&](const std::string& why) {
    return Status::Error("refused by worker " + options_.name + ": " + why);
  };
  if (std::optional<std::string> why = RefuseEnv(policy, task.env)) return refused(*why);
  if (policy.allow.empty()) return Status::Ok();
  // The program as exec would find it, then with every symlink and ".."
  // resolved: that is what the prefixes are about, and what runs.
  Result<std::string> found = FindProgram(spec->argv[0], spec->env, spec->cwd);
  if (!found.ok()) return found.status();  // it could not run anyway: say why
  std::string path = found.value();
  if (path[0] != '/' && !spec->cwd.empty()) path = spec->cwd + "/" + path;
  char* real = realpath(path.c_str(), nullptr);
  if (real == nullptr) return ErrnoStatus("cannot run \"" + spec->argv[0] + "\"", errno);
  spec->program = real;
  free(real);
  if (std::optional<std::string> why = RefuseProgram(policy, spec->program, spec->argv[0])) {
    return refused(*why);
  }
  return Status::Ok();
}

void Agent::StartTask(Task& task, Time now) {
  if (by_key_.count(task.key)) return;  // a duplicate dispatch: already running
  SpawnSpec spec;
  spec.argv = std::move(task.argv);
  spec.env = ChildEnv(task);
  spec.cwd = std::move(task.cwd);
  spec.stdin_data = std::move(task.stdin_data.bytes);
  spec.timeout_ms = task.timeout_ms;
  // The clock now, not the loop turn's `now`: the turn may have spent a
  // while (starting other steps), and the timeout counts from the spawn.
  const Status vetted = Vet(&spec, task);
  Result<ProcessSet::Id> id =
      vetted.ok() ? processes_->Spawn(spec, MonotonicMs()) : Result<ProcessSet::Id>(vetted);
  if (!id.ok()) {
    spdlog::info("{} ({}) could not start: {}", ToString(task.key), task.step_id,
                 id.status().message());
    RunResult run;
    run.outcome = Outcome::kSpawnFailed;
    run.error = id.status().message();
    run.started_ms = run.ended_ms = WallMs();
    AddResult(TaskResult{task.key, std::move(run)}, now);
    Ended(task.key, false, now);
    return;
  }
  tasks_.emplace(id.value(), Running{task.key, task.slots, task.lease_ms});
  by_key_.emplace(task.key, id.value());
  busy_slots_ += task.slots;
}

Time Agent::CutOffTime(uint32_t lease_ms, Time heard) const {
  // The broker may give the step away `lease` after it last heard from us,
  // which is about when we last heard from it: up to a heartbeat earlier,
  // if its last heartbeat to us was on the way when ours to it was lost.
  // Stop the child in time for its SIGKILL to land before then, with two
  // heartbeats or a tenth of the lease to spare; a short lease shortens the
  // grace.
  const int64_t lease = lease_ms;
  const int64_t grace = std::min(options_.kill_grace_ms, lease / 4);
  const int64_t margin = std::max(lease / 10, 2 * int64_t{heartbeat_ms_});
  return heard + lease - grace - margin;
}

Time Agent::EnforceLeases(Time now) {
  // In touch: every lease was renewed within the last heartbeat.
  if (welcomed_ && now - last_heard_ <= Time{heartbeat_ms_}) return -1;
  Time next = -1;
  auto consider = [&next](Time t) { next = next < 0 ? t : std::min(next, t); };
  const int64_t grace = options_.kill_grace_ms;
  for (auto& [id, task] : tasks_) {
    if (task.cut_off) continue;
    const Time cut = CutOffTime(task.lease_ms, last_heard_);
    if (now < cut) {
      consider(cut);
      continue;
    }
    spdlog::warn("stopping {}: out of touch with the broker for {:.1f} s of its {:.1f} s lease",
                 ToString(task.key), (now - last_heard_) / 1000.0, task.lease_ms / 1000.0);
    task.cut_off = true;
    processes_->Terminate(id, Outcome::kKilled, now,
                          std::min<int64_t>(grace, task.lease_ms / 4));
  }
  // Waiting tasks never started; past their lease they are no longer ours.
  auto expired = [&](const Task& t) {
    const Time cut = last_heard_ + t.lease_ms - t.lease_ms / 10;
    if (now < cut) {
      consider(cut);
      return false;
    }
    ReportUnstarted(t.key, Outcome::kLost, now,
                    "not started: out of touch with the broker for its lease");
    return true;
  };
  std::vector<TaskKey> gone;
  for (auto it = queued_.begin(); it != queued_.end();) {
    if (expired(*it)) {
      gone.push_back(it->key);
      it = queued_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [pred, waiting] : followers_) {
    std::erase_if(waiting, [&](const Task& t) {
      if (!expired(t)) return false;
      gone.push_back(t.key);
      return true;
    });
  }
  for (const TaskKey& key : gone) Ended(key, false, now);
  return next;
}

// ---- What goes to the broker ----

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
  // Hold results back only while there is local work (queued, or waiting to
  // follow) to keep the slots busy without the broker.
  const bool running_dry = queued_.empty() && followers_.empty();
  if (!force && !running_dry && next_seq_ - unsent_from_ < kMaxResultBatch &&
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

void Agent::ShutDown() {
  Time now = MonotonicMs();
  if (welcomed_) {
    // Every result goes before Goodbye, or the broker would run those steps
    // again; output still waiting is dropped with the connection.
    FlushResults(now, /*force=*/true);
    // Goodbye: the broker re-queues our steps elsewhere at once, and ignores
    // anything about them from here on.
    Send(Goodbye{});
  } else if (!unacked_.empty() || !tasks_.empty()) {
    spdlog::warn("stopping while out of touch with the broker: {} running step(s) and {} "
                 "unreported result(s) will run again elsewhere once their lease runs out",
                 tasks_.size(), unacked_.size());
  }
  stopping_ = true;
  queued_.clear();
  followers_.clear();
  for (const auto& [id, task] : tasks_) processes_->Terminate(id, Outcome::kKilled, now);
  const Time give_up = now + options_.kill_grace_ms + 2000;
  std::vector<PollFd> fds;
  std::vector<zmq::pollitem_t> items;
  while (processes_->size() > 0 && (now = MonotonicMs()) < give_up) {
    fds.clear();
    processes_->CollectPollFds(true, &fds);
    items.clear();
    items.push_back({nullptr, signals_->fd(), ZMQ_POLLIN, 0});
    for (const PollFd& f : fds) items.push_back(ToZmq(f));
    zmq::poll(items, std::chrono::milliseconds(100));
    now = MonotonicMs();
    if (items[0].revents & ZMQ_POLLIN) {
      for (int sig : signals_->ReadPending()) {
        if (sig == SIGCHLD) processes_->ReapExited(now);
      }
    }
    for (size_t i = 1; i < items.size(); ++i) {
      if (items[i].revents != 0) processes_->HandleReady(items[i].fd, FromZmq(items[i].revents), now);
    }
    processes_->OnTick(now);
  }
  processes_.reset();  // SIGKILLs and reaps whatever is left
  if (socket_) socket_->set(zmq::sockopt::linger, 500);  // let Goodbye leave
}

}  // namespace drover::worker
