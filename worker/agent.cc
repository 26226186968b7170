#include "worker/agent.h"

#include <spdlog/spdlog.h>

#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "shared/clock.h"
#include "shared/codec.h"
#include "shared/durations.h"
#include "shared/transport.h"
#include "worker/resources.h"

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
      core_(LocalSchedulerOptions{options_.slots, options_.kill_grace_ms, options_.resources}, this),
      output_queue_(options_.state_dir + "/spill-" + options_.instance, kOutputMemoryBytes,
                    options_.spill_max_bytes) {
  processes_ = std::make_unique<ProcessSet>(static_cast<ProcessObserver*>(this),
                                            signals_->original_mask(), options_.kill_grace_ms);
  if (options_.time_limit_ms > 0) {
    leave_at_ = MonotonicMs() + std::max<int64_t>(
                                    0, options_.time_limit_ms - options_.kill_grace_ms - kLeaveMarginMs);
  }
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
  if (socket_ && SendMessage(socket_->socket(), msg)) last_sent_ = MonotonicMs();
}

void Agent::Connect(Time now) {
  socket_ = std::make_unique<ClientSocket>(*ctx_, options_.broker, 0,
                                           options_.keys ? &*options_.keys : nullptr,
                                           options_.max_message_bytes);
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
  hello.held = core_.Held();
  hello.reads_dispatch_acks = true;
  hello.resources = Amounts(options_.resources);
  if (leave_at_ >= 0) hello.time_left_ms = static_cast<uint64_t>(std::max<Time>(1, leave_at_ - now));
  hello.draining = core_.draining();
  hello.slurm_job_id = options_.slurm_job_id;
  Send(hello);
  last_sent_ = now;
}

void Agent::Disconnect(Time now, const char* why) {
  const int64_t delay = Jittered(backoff_ms_);
  // Why it never got in was said once (SayWhyUnreachable): not at every try.
  const bool told = !welcomed_ && socket_ && told_unreachable_ != ConnectAttempt::kNone &&
                    socket_->watch().last_attempt() == told_unreachable_;
  spdlog::log(told ? spdlog::level::debug : spdlog::level::warn,
              "lost touch with the broker at {} ({}); {} step(s) keep running; trying again in "
              "{:.1f} s",
              options_.broker, why, core_.running(), delay / 1000.0);
  socket_.reset();  // what it still queued is dropped: it is all kept here
  welcomed_ = false;
  core_.OnDisconnected();
  next_connect_at_ = now + delay;
  backoff_ms_ = std::min(backoff_ms_ * 2, kMaxBackoffMs);
  // What the broker may not have had goes first on the next connection.
  resend_.insert(resend_.begin(), std::make_move_iterator(in_flight_.begin()),
                 std::make_move_iterator(in_flight_.end()));
  in_flight_.clear();
  output_sent_ = output_credited_ = 0;
}

void Agent::SayWhyUnreachable() {
  if (welcomed_) return;
  const ConnectAttempt attempt = socket_->watch().last_attempt();
  const std::string why = ConnectAttemptFailure(attempt);
  // Once, not at every try: it tries for good, and the reason seldom changes.
  if (why.empty() || attempt == told_unreachable_) return;
  told_unreachable_ = attempt;
  spdlog::warn("cannot reach the broker at {}: {}; trying again until it answers",
               options_.broker, why);
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

int Agent::Run() {
  Time now = MonotonicMs();
  const std::string resources = FormatResources(Amounts(options_.resources));
  std::string lifetime;
  if (leave_at_ >= 0) lifetime += ", leaving in " + ShortDuration(leave_at_ - now);
  if (options_.idle_timeout_ms > 0) {
    lifetime += std::string(lifetime.empty() ? ", leaving" : ", or") + " once idle for " +
                ShortDuration(options_.idle_timeout_ms);
  }
  spdlog::info("connecting to {} as {} ({} slots{}){}{}", options_.broker, options_.name,
               options_.slots, resources.empty() ? "" : ", " + resources,
               options_.keys ? ", with key " + options_.keys->public_key.substr(0, 8) + "..." : "",
               lifetime);
  Connect(now);

  std::vector<zmq::pollitem_t> items;
  std::vector<PollFd> fds;
  for (;;) {
    now = MonotonicMs();
    fds.clear();
    processes_->CollectPollFds(WantOutput(), &fds);
    items.clear();
    // Slot 0 is the socket; while there is none, an fd that never fires.
    items.push_back(socket_ ? zmq::pollitem_t{socket_->socket().handle(), 0, ZMQ_POLLIN, 0}
                            : zmq::pollitem_t{nullptr, -1, 0, 0});
    items.push_back({nullptr, signals_->fd(), ZMQ_POLLIN, 0});
    void* watch = socket_ ? socket_->watch().handle() : nullptr;
    items.push_back(watch ? zmq::pollitem_t{watch, 0, ZMQ_POLLIN, 0}
                          : zmq::pollitem_t{nullptr, -1, 0, 0});
    constexpr size_t kFirstFd = 3;
    for (const PollFd& f : fds) items.push_back(ToZmq(f));

    Time wake = now + Time{heartbeat_ms_};
    if (socket_) {
      if (welcomed_) wake = std::min(wake, last_sent_ + heartbeat_ms_);
      wake = std::min(wake, std::max(last_heard_, connected_at_) + heartbeat_ms_ * liveness_ + 1);
      if (const Time due = core_.results().due(); due >= 0) wake = std::min(wake, due);
    } else {
      wake = std::min(wake, next_connect_at_);
    }
    if (const Time deadline = processes_->NextDeadline(); deadline >= 0) wake = std::min(wake, deadline);
    if (const Time cut = core_.EnforceLeases(now); cut >= 0) wake = std::min(wake, cut);
    if (leave_at_ >= 0) wake = std::min(wake, leave_at_);
    if (idle_since_ >= 0) wake = std::min(wake, idle_since_ + options_.idle_timeout_ms);
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
    core_.StartQueued(now);
    if (socket_ && (items[2].revents & ZMQ_POLLIN)) {
      if (const std::string refused = socket_->watch().Poll(); !refused.empty()) {
        spdlog::error("cannot connect to the broker at {}: {}", options_.broker, refused);
        Disconnect(now, "handshake refused");
      } else {
        SayWhyUnreachable();
      }
    }
    if (socket_ && (items[0].revents & ZMQ_POLLIN)) {
      zmq::message_t frame;
      // The socket may be replaced while handling a message.
      for (ClientSocket* socket = socket_.get(); socket_.get() == socket;) {
        const Received received = ReceiveFrame(socket->socket(), nullptr, &frame);
        if (received == Received::kNothing) break;
        if (received == Received::kMalformed) continue;
        Result<Message> msg =
            DecodeMessage(std::string_view(static_cast<const char*>(frame.data()), frame.size()));
        if (!msg.ok()) {
          spdlog::warn("malformed message from the broker: {}", msg.status().message());
          continue;
        }
        last_heard_ = now;
        core_.OnHeard(now);
        if (!HandleMessage(msg.value(), now)) {
          ShutDown();
          return fatal_status_;
        }
      }
    }
    processes_->OnTick(now);
    core_.EnforceLeases(now);
    CheckLink(now);
    core_.StartQueued(now);
    DrainOutput();
    FlushResults(now, /*force=*/false);
    if (welcomed_ && now - last_sent_ >= heartbeat_ms_) Send(Heartbeat{});
    if (TimeToLeave(now)) {
      ShutDown();
      return 0;
    }
  }
}

void Agent::StartDraining(Time now, const std::string& reason) {
  if (core_.draining()) return;
  spdlog::info("draining ({}): {} running step(s) to finish, {} waiting given back", reason,
               core_.running(), core_.waiting());
  drain_reason_ = reason;
  idle_since_ = -1;  // idle no longer matters (and must not wake the loop)
  core_.Drain(now);
  // First what it gave back (another worker may run it now), then the word.
  FlushResults(now, /*force=*/false);
  if (welcomed_) Send(Draining{reason});  // else its next hello says so
}

bool Agent::TimeToLeave(Time now) {
  if (leave_at_ >= 0 && now >= leave_at_) {
    spdlog::info("leaving at the time limit: {} running step(s) stopped, to run again elsewhere",
                 core_.running());
    return true;
  }
  const bool holds = core_.running() + core_.waiting() > 0;
  if (core_.draining() || holds || !options_.idle_timeout_ms) {
    idle_since_ = -1;
  } else if (idle_since_ < 0) {
    idle_since_ = now;
  } else if (now - idle_since_ >= options_.idle_timeout_ms) {
    StartDraining(now, "idle for " + ShortDuration(now - idle_since_));
  }
  // Leave only once the broker has answered our Draining (with Drain): a
  // dispatch it sent before it knew then has arrived, and went back
  // unstarted, instead of being lost with our Goodbye. Never in touch, it
  // can have sent us nothing.
  if (!core_.Drained() || (welcomed_ && !drain_confirmed_)) return false;
  spdlog::info("drained ({}): leaving", drain_reason_);
  return true;
}

bool Agent::HandleMessage(Message& msg, Time now) {
  if (auto* dispatch = std::get_if<Dispatch>(&msg)) {
    if (dispatch->results_acked > 0) core_.Acknowledged(dispatch->results_acked);
    for (Task& task : dispatch->tasks) core_.Accept(std::move(task), now);
    core_.StartQueued(now);
  } else if (auto* kill = std::get_if<KillTask>(&msg)) {
    if (core_.Kill(kill->key, now)) spdlog::info("killing {} on request", ToString(kill->key));
  } else if (auto* retract = std::get_if<Retract>(&msg)) {
    std::vector<TaskKey> declined = core_.Retract(retract->keys, now);
    // What it gave back goes at once: another worker waits to run it.
    FlushResults(now, /*force=*/false);
    if (!declined.empty()) Send(RetractDeclined{std::move(declined)});
  } else if (auto* credit = std::get_if<OutputCredit>(&msg)) {
    output_credited_ = std::max(output_credited_, std::min(credit->consumed, output_sent_));
    while (!in_flight_.empty() && in_flight_.front().end <= output_credited_) {
      in_flight_.pop_front();
    }
  } else if (auto* input = std::get_if<TaskInput>(&msg)) {
    OnTaskInput(*input);
  } else if (auto* close = std::get_if<CloseOutput>(&msg)) {
    // Its stdout's readers are done: it meets a closed pipe, as in a shell.
    if (const ProcessSet::Id id = core_.ProcessOf(close->key); id != 0) {
      spdlog::info("closing the stdout of {}: its readers are done", ToString(close->key));
      processes_->CloseOutput(id, Stream::kStdout, now);
    }
  } else if (auto* ack = std::get_if<ResultsAck>(&msg)) {
    core_.Acknowledged(ack->through);
  } else if (std::holds_alternative<Drain>(msg)) {
    StartDraining(now, "asked to by the broker");
    drain_confirmed_ = true;
  } else if (auto* welcome = std::get_if<Welcome>(&msg)) {
    const bool again = id_.value != 0;
    welcomed_ = true;
    told_unreachable_ = ConnectAttempt::kNone;
    backoff_ms_ = kFirstBackoffMs;
    id_ = welcome->worker;
    heartbeat_ms_ = std::max<uint32_t>(welcome->heartbeat_ms, 10);
    liveness_ = std::max<uint32_t>(welcome->liveness, 2);
    // A new connection: credits count from zero again, and every result
    // not yet acknowledged goes again (the broker ignores those it has).
    output_sent_ = output_credited_ = 0;
    core_.OnWelcome(now, heartbeat_ms_);
    ResumeInputs();
    spdlog::info("{} {} as worker #{}", again ? "back in touch with" : "registered with",
                 options_.broker, id_.value);
  } else if (auto* error = std::get_if<ErrorReply>(&msg)) {
    switch (error->code) {
      case ErrorCode::kVersionMismatch:
        spdlog::critical("the broker refused this worker: {}", error->message);
        return false;
      case ErrorCode::kNameTaken:
        // Another worker has our name: trying again would not change that,
        // and whoever started this one has to choose another.
        spdlog::critical("the broker at {} refused this worker: {}", options_.broker,
                         error->message);
        fatal_status_ = kNameTakenStatus;
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

void Agent::ShutDown() {
  Time now = MonotonicMs();
  const bool say_goodbye = welcomed_;
  if (welcomed_) {
    // Every result goes before Goodbye, or the broker would run those steps
    // again; output still waiting is dropped with the connection.
    FlushResults(now, /*force=*/true);
  } else if (core_.results().kept() > 0 || core_.running() > 0) {
    spdlog::warn("stopping while out of touch with the broker: {} running step(s) and {} "
                 "unreported result(s) will run again elsewhere once their lease runs out",
                 core_.running(), core_.results().kept());
  }
  core_.ShutDown(now);
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
  // Goodbye only now that none of our steps runs: the broker re-queues
  // them elsewhere at once, and ignores anything about them from here on.
  if (say_goodbye && socket_) {
    Send(Goodbye{});
    socket_->socket().set(zmq::sockopt::linger, 500);  // let it leave
  }
}

}  // namespace drover::worker
