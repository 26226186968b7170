#include "worker/agent.h"

#include <spdlog/spdlog.h>

#include <poll.h>

#include <algorithm>

#include "shared/clock.h"
#include "shared/codec.h"
#include "shared/transport.h"

extern char** environ;

namespace drover::worker {
namespace {

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

}  // namespace

Agent::Agent(AgentOptions options, zmq::context_t* ctx, SignalFd* signals)
    : options_(std::move(options)), ctx_(ctx), signals_(signals) {
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

void Agent::Send(const Message& msg) {
  if (SendMessage(*socket_, msg)) last_sent_ = MonotonicMs();
}

void Agent::SayHello() {
  WorkerHello hello;
  hello.name = options_.name;
  hello.host = options_.host;
  hello.slots = options_.slots;
  hello.labels = options_.labels;
  hello.pid = static_cast<int32_t>(getpid());
  hello.prefetch = options_.prefetch;
  Send(hello);
  hello_pending_ = true;
}

int Agent::Run() {
  socket_ = std::make_unique<zmq::socket_t>(ConnectDealer(*ctx_, options_.broker, 0));
  SayHello();
  last_heard_ = MonotonicMs();
  spdlog::info("connecting to {} as {} ({} slots)", options_.broker, options_.name, options_.slots);

  std::vector<zmq::pollitem_t> items;
  std::vector<PollFd> fds;
  for (;;) {
    Time now = MonotonicMs();
    fds.clear();
    processes_->CollectPollFds(output_sent_ - output_credited_ < kOutputWindowBytes, &fds);
    items.clear();
    items.push_back({socket_->handle(), 0, ZMQ_POLLIN, 0});
    items.push_back({nullptr, signals_->fd(), ZMQ_POLLIN, 0});
    for (const PollFd& f : fds) items.push_back(ToZmq(f));

    Time wake = last_sent_ + heartbeat_ms_;
    if (const Time deadline = processes_->NextDeadline(); deadline >= 0) wake = std::min(wake, deadline);
    if (results_since_ >= 0) wake = std::min(wake, results_since_ + kResultDelayMs);
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
    for (size_t i = 2; i < items.size(); ++i) {
      if (items[i].revents != 0) processes_->HandleReady(items[i].fd, FromZmq(items[i].revents), now);
    }
    // A freed slot is refilled before anything else: it is the step's time.
    StartQueued(now);
    if (items[0].revents & ZMQ_POLLIN) {
      zmq::message_t frame;
      for (;;) {
        const Received received = ReceiveFrame(*socket_, nullptr, &frame);
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
    StartQueued(now);
    FlushResults(now, /*force=*/false);
    if (now - last_sent_ >= heartbeat_ms_) Send(Heartbeat{});
    const Time silence = now - last_heard_;
    if (silence > Time{heartbeat_ms_} * kHeartbeatLiveness && !warned_silence_) {
      spdlog::warn("no word from the broker at {} for {} ms; still trying", options_.broker,
                   silence);
      warned_silence_ = true;
    } else if (silence <= Time{heartbeat_ms_} * kHeartbeatLiveness) {
      warned_silence_ = false;
    }
  }
}

bool Agent::HandleMessage(Message& msg, Time now) {
  if (auto* dispatch = std::get_if<Dispatch>(&msg)) {
    for (Task& task : dispatch->tasks) Accept(std::move(task));
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
      ReportUnstarted(kill->key, Outcome::kKilled);
      Ended(kill->key, false);
    }
    for (auto& [pred, waiting] : followers_) {
      if (auto it = std::find_if(waiting.begin(), waiting.end(), is_it); it != waiting.end()) {
        waiting.erase(it);
        ReportUnstarted(kill->key, Outcome::kKilled);
        Ended(kill->key, false);
        break;
      }
    }
  } else if (auto* credit = std::get_if<OutputCredit>(&msg)) {
    output_credited_ = std::max(output_credited_, std::min(credit->consumed, output_sent_));
  } else if (auto* welcome = std::get_if<Welcome>(&msg)) {
    welcomed_ = true;
    hello_pending_ = false;
    id_ = welcome->worker;
    heartbeat_ms_ = std::max<uint32_t>(welcome->heartbeat_ms, 10);
    // Credits restart with the session: the broker counts from zero again.
    output_sent_ = output_credited_ = 0;
    spdlog::info("registered with {} as worker #{}", options_.broker, id_.value);
  } else if (auto* error = std::get_if<ErrorReply>(&msg)) {
    switch (error->code) {
      case ErrorCode::kVersionMismatch:
        spdlog::critical("the broker refused this worker: {}", error->message);
        return false;
      case ErrorCode::kNeedHello:
        if (!hello_pending_) {
          spdlog::warn("the broker does not know this worker ({}); saying hello again",
                       error->message);
          welcomed_ = false;
          SayHello();
        }
        break;
      default:
        spdlog::warn("the broker reports: {}", error->message);
        break;
    }
  }
  return true;  // Heartbeat: being heard is all it says
}

std::vector<std::string> Agent::ChildEnv(const Task& task) const {
  // The worker's environment (minus its own DROVER_*), then Drover's
  // variables, then the step's, each replacing earlier ones of that name.
  auto overridden = [&task](std::string_view entry) {
    const std::string_view name = entry.substr(0, entry.find('='));
    return std::any_of(task.env.begin(), task.env.end(),
                       [&](const auto& kv) { return kv.first == name; });
  };
  std::vector<std::string> env;
  env.reserve(base_env_.size() + 4 + task.env.size());
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
  return env;
}

void Agent::StartQueued(Time now) {
  // In order: a wide task at the head waits for its slots rather than being
  // overtaken for ever by narrow ones. A task wider than the worker (the
  // broker never sends one) runs alone.
  while (!queued_.empty() && !stopping_ &&
         (busy_slots_ + queued_.front().slots <= options_.slots || busy_slots_ == 0)) {
    Task task = std::move(queued_.front());
    queued_.pop_front();
    StartTask(task, now);
  }
}

void Agent::Accept(Task task) {
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
    ReportUnstarted(task.key, Outcome::kNotRun);  // it failed, or is unknown here
  }
}

void Agent::Ended(const TaskKey& key, bool succeeded) {
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
      ReportUnstarted(t->key, Outcome::kNotRun);
      Ended(t->key, false);
    }
  }
}

void Agent::ReportUnstarted(const TaskKey& key, Outcome outcome) {
  RunResult run;
  run.outcome = outcome;
  run.started_ms = run.ended_ms = WallMs();
  results_.push_back(TaskResult{key, std::move(run)});
}

void Agent::FlushResults(Time now, bool force) {
  if (results_.empty() || !welcomed_) return;
  if (results_since_ < 0) results_since_ = now;
  // Hold results back only while there is local work (queued, or waiting to
  // follow) to keep the slots busy without the broker.
  const bool running_dry = queued_.empty() && followers_.empty();
  if (force || running_dry || results_.size() >= kMaxResultBatch ||
      now - results_since_ >= kResultDelayMs) {
    Send(TaskResults{std::move(results_)});
    results_.clear();
    results_since_ = -1;
  }
}

void Agent::StartTask(Task& task, Time now) {
  if (by_key_.count(task.key)) return;  // a duplicate dispatch: already running
  SpawnSpec spec;
  spec.argv = std::move(task.argv);
  spec.env = ChildEnv(task);
  spec.cwd = std::move(task.cwd);
  spec.stdin_data = std::move(task.stdin_data.bytes);
  spec.timeout_ms = task.timeout_ms;
  Result<ProcessSet::Id> id = processes_->Spawn(spec, now);
  if (!id.ok()) {
    RunResult run;
    run.outcome = Outcome::kSpawnFailed;
    run.error = id.status().message();
    run.started_ms = run.ended_ms = WallMs();
    spdlog::info("{} ({}) could not start: {}", ToString(task.key), task.step_id, run.error);
    results_.push_back(TaskResult{task.key, std::move(run)});
    Ended(task.key, false);
    return;
  }
  tasks_.emplace(id.value(), Running{task.key, task.slots});
  by_key_.emplace(task.key, id.value());
  busy_slots_ += task.slots;
}

void Agent::OnOutput(Id id, Stream stream, std::string_view data) {
  auto it = tasks_.find(id);
  if (it == tasks_.end() || stopping_) return;
  output_sent_ += data.size();
  std::string bytes;
  EncodeTaskOutput(it->second.key, stream, data, &bytes);
  if (SendEncoded(*socket_, std::move(bytes))) last_sent_ = MonotonicMs();
}

void Agent::OnExit(Id id, const RunResult& run) {
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return;
  const TaskKey key = it->second.key;
  results_.push_back(TaskResult{key, run});
  by_key_.erase(key);
  busy_slots_ -= it->second.slots;
  tasks_.erase(it);
  Ended(key, run.succeeded());
}

void Agent::ShutDown() {
  // Goodbye first: the broker re-queues our steps elsewhere at once, and
  // ignores anything about them from here on.
  if (welcomed_) Send(Goodbye{});
  stopping_ = true;
  queued_.clear();
  followers_.clear();
  Time now = MonotonicMs();
  for (const auto& [id, key] : tasks_) processes_->Terminate(id, Outcome::kKilled, now);
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
  socket_->set(zmq::sockopt::linger, 500);  // let Goodbye leave
}

}  // namespace drover::worker
