// Server: the broker's ZeroMQ shell around the Scheduler core.
//
// One ROUTER socket serves workers and clients alike. Each loop turn:
//   1. wait (zmq_poll) for messages or signals, at most until the next tick;
//   2. decode each waiting message with the shared codec and hand it to one
//      Scheduler entry point (or answer it directly: hello, status, ...);
//   3. run one Scheduler::Schedule() pass, then send each worker its new
//      tasks as one Dispatch message;
//   4. feed each follower the job events it has room for, then flush the spool.
//      Events are sent once a job ends, once 64 KiB are waiting, or otherwise
//      at most every kEventsDelayMs: a chain of short steps costs `submit` one
//      wake-up per few steps rather than per step.
// Everything the core asks for arrives through the Outbox methods below.
//
// Peers are known by their ZeroMQ routing id after their hello. A message
// from an unknown peer gets ErrorReply{kNeedHello}; a malformed one gets
// ErrorReply{kMalformed} and changes nothing else.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>
#include <zmq.hpp>

#include "broker/scheduler.h"
#include "broker/spool.h"
#include "shared/job_load.h"
#include "shared/signal_fd.h"

namespace drover::broker {

struct ServerOptions {
  std::string bind = "tcp://127.0.0.1:7700";
  uint32_t heartbeat_ms = kHeartbeatMs;
  uint32_t liveness = kHeartbeatLiveness;  // heartbeats a peer may miss
  JobLimits job_limits;
};

class Server : private Outbox {
 public:
  Server(ServerOptions options, std::unique_ptr<Spool> spool);
  ~Server() override;

  // Binds the ROUTER socket. The error names the endpoint.
  Status Bind(zmq::context_t* ctx);
  // Serves until SIGINT or SIGTERM arrives on `signals`.
  Status Run(SignalFd* signals);

 private:
  struct Peer {
    enum class Role { kWorker, kClient } role;
    std::string name;  // worker name or "user@host", for logs
    WorkerId worker;   // kWorker only
    uint64_t output_received = 0;  // TaskOutput bytes taken from this worker
    uint64_t output_credited = 0;  // ... and acknowledged with OutputCredit
    int64_t last_heard = 0;
    bool complained = false;  // logged a malformed message from it already
  };
  struct Follower {
    std::string route;
    JobId job;
    uint64_t sent = 0;   // log offset sent up to
    uint64_t acked = 0;  // log offset the client has consumed
    int64_t sent_at = 0;  // when events were last sent
  };
  static constexpr int64_t kEventsDelayMs = 5;
  static constexpr uint64_t kEventsPromptBytes = 64 << 10;

  // Outbox
  void Dispatch(WorkerId worker, const TaskKey& key, std::optional<TaskKey> after) override;
  void Kill(WorkerId worker, const TaskKey& key) override;
  void Publish(JobId job, const Event& event) override;

  void HandleFrame(const std::string& route, std::string_view frame, int64_t now);
  void HandleHello(const std::string& route, Message& msg, int64_t now);
  void HandleWorkerMessage(Peer& peer, const std::string& route, Message& msg, int64_t now);
  void HandleClientMessage(Peer& peer, const std::string& route, Message& msg, int64_t now);
  void HandleSubmit(const std::string& route, SubmitJob& submit, int64_t now);
  void Reply(const std::string& route, const Message& msg);
  void ReplyError(const std::string& route, ErrorCode code, std::string message);

  void Tick(int64_t now);
  void ScheduleAndDispatch(int64_t now);
  // Returns when a follower next has events to send (-1: none waiting).
  int64_t PumpFollowers(int64_t now);
  // Grants workers more output window for what the spool has now written.
  void SendCredits();
  void DropClient(const std::string& route);
  // Closes the spool files of an ended job nobody follows any more.
  void CloseIfUnwatched(JobId job);

  ServerOptions options_;
  std::unique_ptr<Spool> spool_;
  Scheduler scheduler_;
  std::unique_ptr<zmq::socket_t> router_;

  std::unordered_map<std::string, Peer> peers_;  // by routing id
  std::unordered_map<WorkerId, std::string> worker_routes_;
  std::vector<Follower> followers_;
  uint64_t next_job_ = 1;
  int64_t next_tick_ = 0;
  int64_t next_pump_ = -1;  // when followers next have events due
  struct Counters {
    uint64_t turns = 0, received = 0, sent = 0;
  } counters_;  // logged at shutdown: what a turn costs is in these

  // Filled by the Outbox during a turn, sent at its end.
  std::unordered_map<WorkerId, std::vector<Task>> pending_dispatch_;
  // Attempts that failed before reaching a worker (e.g. stdin_from too big).
  std::vector<std::pair<WorkerId, TaskResult>> failed_before_start_;
  std::vector<std::string> gone_clients_;  // sends to them failed this turn
  std::vector<std::string> credit_due_;    // workers owed an OutputCredit
  std::vector<JobId> ended_jobs_;          // ended this turn
  std::vector<std::pair<std::string, JobAccepted>> accepted_;  // replies due this turn
  std::string read_scratch_;               // event log bytes read from disk
};

}  // namespace drover::broker
