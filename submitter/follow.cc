#include "submitter/follow.h"

#include <algorithm>

#include "shared/clock.h"
#include "shared/codec.h"
#include "shared/transport.h"

namespace drover::submit {
namespace {

constexpr int64_t kRefreshMs = 200;
// Messages handled per loop turn, so that a flood of events cannot keep
// Ctrl-C, heartbeats or the progress line waiting.
constexpr int kMaxMessagesPerTurn = 64;

}  // namespace

ExitCode Follow(Session& session, const JobAccepted& accepted, Renderer& renderer,
                SignalFd& signals, EmbeddedCluster* cluster) {
  JobView view;
  view.Accept(accepted);
  renderer.Accepted(view);
  const int64_t started = MonotonicMs();
  const int64_t silence_limit = int64_t{session.heartbeat_ms()} * kHeartbeatLiveness;
  int64_t last_heard = started, last_sent = started;
  uint64_t consumed = 0;  // the job's event log, up to here
  uint64_t acked = 0;     // ... of which the broker has been told
  bool cancelling = false;

  for (;;) {
    zmq::pollitem_t items[] = {{session.socket().handle(), 0, ZMQ_POLLIN, 0},
                               {nullptr, signals.fd(), ZMQ_POLLIN, 0}};
    zmq::poll(items, 2, std::chrono::milliseconds(kRefreshMs));
    int64_t now = MonotonicMs();

    if (items[1].revents & ZMQ_POLLIN) {
      for (int sig : signals.ReadPending()) {
        if (sig != SIGINT && sig != SIGTERM) continue;
        if (cancelling) {
          renderer.Notice("interrupted again: leaving; job " + std::to_string(view.id().value) +
                          " may still be cancelling on the broker");
          return ExitCode::kInterrupted;
        }
        cancelling = true;
        session.Send(CancelJob{view.id()});
        renderer.Notice("cancelling " + view.Title() + " (interrupt again to leave at once)");
      }
    }

    zmq::message_t frame;
    for (int i = 0; i < kMaxMessagesPerTurn; ++i) {
      const Received received = ReceiveFrame(session.socket(), nullptr, &frame);
      if (received == Received::kNothing) break;
      if (received == Received::kMalformed) continue;
      Result<Message> msg =
          DecodeMessage(std::string_view(static_cast<const char*>(frame.data()), frame.size()));
      if (!msg.ok()) {
        renderer.Notice("ignored a malformed message from the broker: " + msg.status().message());
        continue;
      }
      last_heard = now;
      if (auto* events = std::get_if<JobEvents>(&msg.value())) {
        // Runs arrive in order; anything not starting where we are is a repeat.
        if (events->job != view.id() || events->offset != consumed) continue;
        Result<std::vector<Event>> decoded = DecodeEventRecords(events->records.bytes);
        if (!decoded.ok()) {
          renderer.Notice("ignored malformed job events: " + decoded.status().message());
          continue;
        }
        consumed += events->records.bytes.size();
        // Acknowledge in quarters of the broker's window: it never stalls,
        // and a busy job costs one ack per megabyte of events, not one per
        // message.
        if (consumed - acked >= kEventsWindowBytes / 4) {
          session.Send(EventsAck{view.id(), consumed});
          acked = consumed;
          last_sent = now;
        }
        for (const Event& e : decoded.value()) {
          if (!view.Apply(e)) continue;
          renderer.OnEvent(view, e);
        }
      } else if (auto* error = std::get_if<ErrorReply>(&msg.value())) {
        if (error->code == ErrorCode::kNeedHello) {
          renderer.Notice("the broker at " + session.endpoint() +
                          " no longer knows this client (it restarted?): " + error->message);
          return ExitCode::kBrokerUnreachable;
        }
        renderer.Notice("the broker reports: " + error->message);
      }
    }
    now = MonotonicMs();
    renderer.Refresh(view, now);
    if (view.ended()) {
      session.Send(EventsAck{view.id(), consumed});  // the broker can let go of the job
      renderer.Finished(view, now - started);
      if (cancelling) return ExitCode::kInterrupted;
      return view.ended()->state == JobState::kSucceeded ? ExitCode::kOk : ExitCode::kStepsFailed;
    }
    if (now - last_sent >= session.heartbeat_ms()) {
      // An ack is as good a sign of life as a heartbeat, and more useful.
      if (consumed > acked) {
        session.Send(EventsAck{view.id(), consumed});
        acked = consumed;
      } else {
        session.Send(Heartbeat{});
      }
      last_sent = now;
    }
    if (cluster != nullptr) {
      if (std::string dead = cluster->CheckAlive(); !dead.empty()) {
        renderer.Notice(dead);
        return ExitCode::kBrokerUnreachable;
      }
    }
    if (now - last_heard > silence_limit) {
      renderer.Notice("lost contact with the broker at " + session.endpoint() + ": no word for " +
                      std::to_string(silence_limit / 1000) + " s; " + view.Title() +
                      " may still be running there (submit --watch " +
                      std::to_string(view.id().value) + ")");
      return ExitCode::kBrokerUnreachable;
    }
  }
}

}  // namespace drover::submit
