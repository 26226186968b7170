#include "submitter/follow.h"

#include <algorithm>
#include <optional>

#include "shared/clock.h"
#include "shared/codec.h"
#include "shared/transport.h"

namespace drover::submit {
namespace {

constexpr int64_t kRefreshMs = 200;
// Messages handled per loop turn, so that a flood of events cannot keep
// Ctrl-C, heartbeats or the progress line waiting.
constexpr int kMaxMessagesPerTurn = 64;
// While reconnecting: how long one try may take, and the pause between tries.
constexpr int64_t kTryMs = 5000;
constexpr int64_t kFirstPauseMs = 250;
constexpr int64_t kMaxPauseMs = 4000;

class Follower {
 public:
  Follower(Session& session, const JobAccepted& accepted, Renderer& renderer, SignalFd& signals,
           EmbeddedCluster* cluster, FollowOptions options)
      : session_(session),
        renderer_(renderer),
        signals_(signals),
        cluster_(cluster),
        submitted_(options.submitted),
        reconnect_ms_(options.reconnect_ms),
        until_last_(options.until_last),
        consumed_out_(options.consumed),
        consumed_(options.offset),
        acked_(options.offset) {
    view_.Accept(accepted);
    renderer_.Accepted(view_);
  }

  ExitCode Run();

 private:
  // Handles Ctrl-C; returns false when the user wants out at once.
  bool HandleSignals();
  // How long the job has gone on (follow.h: from when), if known.
  std::optional<int64_t> Elapsed(int64_t now) const {
    if (submitted_) return now - accepted_ms_;
    return view_.ElapsedFromEvents(WallMs());
  }
  // Reads what the broker sent. Returns false when it no longer knows us.
  bool Receive(int64_t now);
  // Gets back in touch and asks for the events from where we are. Returns
  // false (having said why) when it could not.
  bool Reattach(const std::string& why);
  std::string WatchHint() const {
    return "submit --watch " + std::to_string(view_.id().value);
  }

  Session& session_;
  Renderer& renderer_;
  SignalFd& signals_;
  EmbeddedCluster* cluster_;
  const bool submitted_;
  const int64_t reconnect_ms_;
  const bool until_last_;
  uint64_t* const consumed_out_;
  JobView view_;
  const int64_t accepted_ms_ = MonotonicMs();
  int64_t last_heard_ = accepted_ms_;
  int64_t last_sent_ = last_heard_;
  uint64_t consumed_;  // the job's event log, up to here
  uint64_t acked_;     // ... of which the broker has been told
  bool last_ = false;  // the broker said no more events come (until_last_)
  bool cancelling_ = false;
  bool stopping_cleanup_ = false;  // cancelled again: its cleanup steps stop too
  bool leave_ = false;     // interrupted twice, or once while only watching
  bool forbidden_ = false;  // our key was taken off the broker's list
  // The embedded worker cannot run some step (StepWaiting): nothing else
  // will ever connect, so the job is cancelled and submit says so.
  bool unrunnable_ = false;
};

bool Follower::HandleSignals() {
  for (int sig : signals_.ReadPending()) {
    if (sig != SIGINT && sig != SIGTERM) continue;
    if (!submitted_) {
      const std::string id = std::to_string(view_.id().value);
      renderer_.Notice("stopped watching " + view_.Title() + "; it goes on (submit --cancel " + id +
                       " to cancel it)");
      leave_ = true;
      return false;
    }
    if (cancelling_ && !stopping_cleanup_ && view_.CleanupPending()) {
      // Cleanup taking too long, or not wanted: stop it, and see the end.
      stopping_cleanup_ = true;
      session_.Send(CancelJob{view_.id(), /*now=*/true});
      renderer_.Notice("stopping the cleanup steps of job " + std::to_string(view_.id().value) +
                       " too (Ctrl-C again to leave at once)");
      continue;
    }
    if (cancelling_) {
      // Nothing to clean up left as far as we know; should some be, it stops.
      if (!stopping_cleanup_) session_.Send(CancelJob{view_.id(), /*now=*/true});
      renderer_.Notice("interrupted again: leaving; job " + std::to_string(view_.id().value) +
                       " may still be cancelling on the broker");
      leave_ = true;
      return false;
    }
    cancelling_ = true;
    session_.Send(CancelJob{view_.id()});
    renderer_.Notice(view_.CleanupPending()
                         ? "cancelling job " + std::to_string(view_.id().value) +
                               ": cleanup steps still run (Ctrl-C again to stop them too)"
                         : "cancelling " + view_.Title() + " (interrupt again to leave at once)");
  }
  return true;
}

bool Follower::Receive(int64_t now) {
  zmq::message_t frame;
  for (int i = 0; i < kMaxMessagesPerTurn; ++i) {
    const Received received = ReceiveFrame(session_.socket(), nullptr, &frame);
    if (received == Received::kNothing) break;
    if (received == Received::kMalformed) continue;
    Result<Message> msg =
        DecodeMessage(std::string_view(static_cast<const char*>(frame.data()), frame.size()));
    if (!msg.ok()) {
      renderer_.Notice("ignored a malformed message from the broker: " + msg.status().message());
      continue;
    }
    last_heard_ = now;
    if (auto* events = std::get_if<JobEvents>(&msg.value())) {
      // Runs arrive in order; anything not starting where we are is a repeat.
      if (events->job != view_.id() || events->offset != consumed_) continue;
      Result<std::vector<Event>> decoded = DecodeEventRecords(events->records.bytes);
      if (!decoded.ok()) {
        renderer_.Notice("ignored malformed job events: " + decoded.status().message());
        continue;
      }
      consumed_ += events->records.bytes.size();
      last_ = last_ || events->last;
      // Acknowledge in quarters of the broker's window: it never stalls,
      // and a busy job costs one ack per megabyte of events, not one per
      // message.
      if (consumed_ - acked_ >= kEventsWindowBytes / 4) {
        session_.Send(EventsAck{view_.id(), consumed_});
        acked_ = consumed_;
        last_sent_ = now;
      }
      for (const Event& e : decoded.value()) {
        if (!view_.Apply(e)) continue;
        renderer_.OnEvent(view_, e);
        const auto* waiting = std::get_if<StepWaiting>(&e);
        if (waiting != nullptr && cluster_ != nullptr && !unrunnable_) {
          unrunnable_ = true;
          renderer_.Notice("cancelling " + view_.Title() +
                           ": no other worker will join the embedded one; give it\nmore with "
                           "--slots, --label or --resource, or submit to a broker (--broker)");
          if (!cancelling_) session_.Send(CancelJob{view_.id()});
        }
        // A cleanup step it cannot run either would keep the job for ever.
        if (waiting != nullptr && cluster_ != nullptr && view_.IsCleanup(waiting->step) &&
            !stopping_cleanup_) {
          stopping_cleanup_ = true;
          session_.Send(CancelJob{view_.id(), /*now=*/true});
        }
      }
    } else if (auto* error = std::get_if<ErrorReply>(&msg.value())) {
      // The broker restarted and our connection came back to it by itself.
      if (error->code == ErrorCode::kNeedHello) return false;
      // Our key was taken off the broker's list: no use trying again.
      if (error->code == ErrorCode::kForbidden) {
        renderer_.Notice("the broker at " + session_.endpoint() + " refused this client: " +
                         error->message + "; " + view_.Title() + " goes on there (" +
                         WatchHint() + " once allowed again)");
        forbidden_ = true;
        return false;
      }
      renderer_.Notice("the broker reports: " + error->message);
    }
  }
  return true;
}

bool Follower::Reattach(const std::string& why) {
  if (reconnect_ms_ <= 0) {
    renderer_.Notice(why + "; " + view_.Title() + " may still be running there (" + WatchHint() +
                     ")");
    return false;
  }
  renderer_.Notice(why + "; reconnecting (for up to " + std::to_string(reconnect_ms_ / 1000) +
                   " s)");
  const int64_t deadline = MonotonicMs() + reconnect_ms_;
  int64_t pause = kFirstPauseMs;
  std::string last_problem = "no answer";
  for (int64_t now = MonotonicMs(); now < deadline; now = MonotonicMs()) {
    bool refused = false;
    Status s = session_.Reconnect(std::min(kTryMs, deadline - now), &refused);
    if (s.ok()) {
      session_.Send(WatchJob{view_.id(), consumed_, !until_last_});
      Result<Message> reply = session_.Receive(kTryMs);
      if (reply.ok() && std::holds_alternative<JobAccepted>(reply.value())) {
        renderer_.Notice("back in touch with the broker at " + session_.endpoint() +
                         "; following " + view_.Title() + " again");
        if (cancelling_) session_.Send(CancelJob{view_.id(), stopping_cleanup_});
        last_heard_ = last_sent_ = MonotonicMs();
        acked_ = consumed_;
        return true;
      }
      const auto* error = reply.ok() ? std::get_if<ErrorReply>(&reply.value()) : nullptr;
      if (error != nullptr && error->code == ErrorCode::kUnknownJob) {
        renderer_.Notice("the broker at " + session_.endpoint() + " no longer knows " +
                         view_.Title() + ": " + error->message);
        return false;
      }
      last_problem = reply.ok() ? "an unexpected answer" : reply.status().message();
    } else if (refused) {
      renderer_.Notice(s.message());
      return false;
    } else {
      last_problem = s.message();
    }
    if (cluster_ != nullptr) {
      if (std::string dead = cluster_->CheckAlive(); !dead.empty()) {
        renderer_.Notice(dead);
        return false;
      }
    }
    // Wait, but not deaf to Ctrl-C.
    zmq::pollitem_t item{nullptr, signals_.fd(), ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(std::min(pause, deadline - MonotonicMs())));
    if ((item.revents & ZMQ_POLLIN) && !HandleSignals()) return false;
    pause = std::min(pause * 2, kMaxPauseMs);
  }
  renderer_.Notice("gave up reconnecting to the broker at " + session_.endpoint() + " (" +
                   last_problem + "); " + view_.Title() + " may still be running there (" +
                   WatchHint() + ")");
  return false;
}

ExitCode Follower::Run() {
  for (;;) {
    zmq::pollitem_t items[] = {{session_.socket().handle(), 0, ZMQ_POLLIN, 0},
                               {nullptr, signals_.fd(), ZMQ_POLLIN, 0}};
    zmq::poll(items, 2, std::chrono::milliseconds(kRefreshMs));
    int64_t now = MonotonicMs();
    if ((items[1].revents & ZMQ_POLLIN) && !HandleSignals()) return ExitCode::kInterrupted;
    if (!Receive(now)) {
      if (forbidden_) return ExitCode::kUsage;  // refused, as at the start
      if (!Reattach("the broker at " + session_.endpoint() + " no longer knows this client")) {
        return leave_ ? ExitCode::kInterrupted : ExitCode::kBrokerUnreachable;
      }
    }
    now = MonotonicMs();
    renderer_.Refresh(view_, now, Elapsed(now));
    if (consumed_out_ != nullptr) *consumed_out_ = consumed_;
    if (view_.ended()) {
      session_.Send(EventsAck{view_.id(), consumed_});  // the broker can let go of the job
      renderer_.Finished(view_, Elapsed(now));
      if (unrunnable_) return ExitCode::kUsage;
      if (cancelling_) return ExitCode::kInterrupted;
      return view_.ended()->state == JobState::kSucceeded ? ExitCode::kOk
                                                          : ExitCode::kStepsFailed;
    }
    if (last_) return ExitCode::kOk;
    if (now - last_sent_ >= session_.heartbeat_ms()) {
      // An ack is as good a sign of life as a heartbeat, and more useful.
      if (consumed_ > acked_) {
        session_.Send(EventsAck{view_.id(), consumed_});
        acked_ = consumed_;
      } else {
        session_.Send(Heartbeat{});
      }
      last_sent_ = now;
    }
    if (cluster_ != nullptr) {
      if (std::string dead = cluster_->CheckAlive(); !dead.empty()) {
        renderer_.Notice(dead);
        return ExitCode::kBrokerUnreachable;
      }
    }
    const int64_t silence_limit = int64_t{session_.heartbeat_ms()} * session_.liveness();
    if (now - last_heard_ > silence_limit &&
        !Reattach("lost contact with the broker at " + session_.endpoint() + ": no word for " +
                  std::to_string(silence_limit / 1000) + " s")) {
      return leave_ ? ExitCode::kInterrupted : ExitCode::kBrokerUnreachable;
    }
  }
}

}  // namespace

ExitCode Follow(Session& session, const JobAccepted& accepted, Renderer& renderer,
                SignalFd& signals, EmbeddedCluster* cluster, FollowOptions options) {
  return Follower(session, accepted, renderer, signals, cluster, options).Run();
}

}  // namespace drover::submit
