// Agent: the worker's broker-facing shell around its pure core, the
// LocalScheduler (worker/core/local_scheduler.h), which decides what starts
// when and which results go when. The agent connects to the broker, says
// hello (slots, labels, what it holds), hands each dispatched task to the
// core, starts and stops processes for it through the ProcessSet (vetting
// each against the worker's run policy first), streams the children's
// output back while they run, and sends the results the core hands out.
//
// One event loop (zmq_poll) watches the DEALER socket, the signalfd (SIGCHLD,
// SIGINT, SIGTERM) and the children's pipes; nothing in it blocks. Output is
// sent as it is read, but only while the broker has credited all but
// kOutputWindowBytes of it (protocol.h): past that the pipes are not read,
// so a child that prints faster than the network drains blocks in write()
// instead of growing this process.
//
// Staying in touch (docs/reliability.md):
//   - A broker silent for liveness × heartbeat is out of touch: the worker
//     drops the socket and says hello again on a fresh one, after 1 s, then
//     2, 4, ... up to 32 s (with jitter), telling the broker what it holds.
//   - Meanwhile its children run on. Their output goes to an OutputQueue
//     (spilling to local disk, bounded) and their results are kept; both are
//     sent, output first, once the broker answers. Queued tasks wait, and
//     the core stops what would outlive its lease.
//   - Results are numbered and kept until the broker acknowledges them
//     (ResultsAck, or in a Dispatch), so none is lost with a connection or a
//     broker restart.
//
// Leaving (docs/clusters.md): the worker drains, taking no new steps and
// giving back those it has not started, when the broker asks (Drain) or
// when it has been idle for --idle-timeout; once it holds nothing, not even
// a result to acknowledge, it says Goodbye and Run() returns 0. With a time
// limit, it tells the broker in every hello how long it has left (so that
// steps with a `time_request` go only where they fit), and at the limit,
// less the time it takes to stop its steps, it stops what still runs and
// leaves: the broker runs those steps again elsewhere.
//
//   - A handshake the broker refuses (this worker's key is not on its
//     workers' list, or the keys do not match) is logged as such and
//     counts as out of touch: it tries again with the same backoff, so a
//     key added to the list later gets in without a restart. A key taken
//     off the list while connected gets ErrorReply{kForbidden}: the same.
//   - A hello refused because a connected worker has its name (kNameTaken)
//     ends it (kNameTakenStatus): retrying would not free the name.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string_view>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "shared/client_socket.h"
#include "shared/keys.h"
#include "shared/protocol.h"
#include "shared/signal_fd.h"
#include "shared/transport.h"
#include "worker/core/local_scheduler.h"
#include "worker/output_queue.h"
#include "worker/run_policy.h"
#include "worker/subprocess.h"

namespace drover::worker {

struct AgentOptions {
  std::string broker = "tcp://127.0.0.1:7700";
  std::string name;  // shown to users; the host name unless set
  std::string host;
  uint32_t slots = 1;
  std::vector<std::string> labels;
  std::vector<WorkerResource> resources;  // besides slots (worker/resources.h)
  int64_t kill_grace_ms = 5000;  // SIGTERM to SIGKILL, for timeouts and cancels
  uint32_t prefetch = 0;         // slot units of tasks to queue beyond `slots`
  std::string instance;          // this run's (worker_state.h)
  std::string previous_instance;
  std::string state_dir;         // for the spill file
  uint64_t spill_max_bytes = 1ull << 30;  // output kept while out of touch
  RunPolicy policy;                       // what this worker agrees to run
  int64_t max_message_bytes = kDefaultMaxMessageBytes;  // largest message taken from the broker
  std::optional<ClientKeys> keys;         // CURVE (docs/security.md); none: plain
  int64_t time_limit_ms = 0;    // from the start until it must be gone; 0: none
  int64_t idle_timeout_ms = 0;  // idle this long, it drains and leaves; 0: never
  uint64_t slurm_job_id = 0;    // the Slurm job it runs in, told to the broker; 0: none
};

class Agent : private ProcessObserver, private ProcessRunner {
 public:
  static constexpr int64_t kFirstBackoffMs = 1000;
  static constexpr int64_t kMaxBackoffMs = 32'000;

  // `signals` must report SIGCHLD, SIGINT and SIGTERM.
  Agent(AgentOptions options, zmq::context_t* ctx, SignalFd* signals);
  ~Agent() override;

  // Before its time limit, it stops its steps this much ahead (besides
  // their kill grace), so that it is gone before whoever set the limit
  // (Slurm) kills it.
  static constexpr int64_t kLeaveMarginMs = 5000;

  // What Run() returns when the broker refuses the worker's name: a
  // connected worker has it (docs/reliability.md, "Worker names").
  static constexpr int kNameTakenStatus = 2;

  // Serves until SIGINT/SIGTERM (returns 0), until it has drained or reached
  // its time limit (returns 0), or a fatal error: a protocol version
  // mismatch (returns 1), or its name taken (kNameTakenStatus).
  int Run();

 private:
  // ProcessObserver: what the children do.
  void OnOutput(ProcessObserver::Id id, Stream stream, std::string_view data) override;
  void OnExit(ProcessObserver::Id id, const RunResult& run) override;
  void OnStdinWritten(ProcessObserver::Id id, uint64_t total) override;
  void OnStdinClosed(ProcessObserver::Id id) override;
  // ProcessRunner: what the core asks of processes (agent_runner.cc).
  Result<ProcessRunner::Id> Start(Task& task, const Grant& grant, int64_t now) override;
  void Stop(ProcessRunner::Id id, Outcome why, int64_t now, int64_t grace_ms) override;

  // The connection.
  void Connect(Time now);
  void Disconnect(Time now, const char* why);
  void SayHello(Time now);
  void CheckLink(Time now);
  // Logs why the broker cannot be reached (connection refused, the host name
  // does not resolve), as the socket's watch last saw it: once per reason
  // until the broker answers.
  void SayWhyUnreachable();
  // Returns false when the worker must stop.
  bool HandleMessage(Message& msg, Time now);
  void Send(const Message& msg);

  // A streamed stdin (agent_input.cc): a piece of it, the word to the
  // broker on it, and that word for every running one on a new connection.
  void OnTaskInput(const TaskInput& input);
  void SendInputCredit(const RunningTask& task, bool resume, bool closed);
  // After the last piece, once the child has all of it: `closed`.
  void MaybeInputDone(RunningTask& task);
  void ResumeInputs();

  // Applies options_.policy to a task about to start: an error (the step's
  // failure reason) if the worker refuses it; else sets spec->program to the
  // vetted file when there is an allow-list.
  Status Vet(SpawnSpec* spec, const Task& task) const;
  std::vector<std::string> ChildEnv(const Task& task, const Grant& grant) const;

  // What goes to the broker.
  // Whether to read the children's pipes now: false pushes back on them.
  bool WantOutput() const;
  // Sends queued output (resent first, then queued) while the window allows.
  void DrainOutput();
  bool OutputWaiting() const { return !resend_.empty() || !output_queue_.empty(); }
  void SendOutput(std::shared_ptr<const std::string> message, uint64_t data_bytes);
  // Sends the results the core hands out (all that are unsent if `force`).
  void FlushResults(Time now, bool force);
  // Stops every child, waits for them (bounded), then sends Goodbye.
  void ShutDown();
  // Takes no new steps from now on and leaves once it holds nothing.
  void StartDraining(Time now, const std::string& reason);
  // Whether it is time to go: drained, or at its time limit. Says why.
  bool TimeToLeave(Time now);

  AgentOptions options_;
  zmq::context_t* ctx_;
  SignalFd* signals_;
  Time leave_at_ = -1;     // its time limit, less the time to stop (-1: none)
  Time idle_since_ = -1;   // nothing held since then (-1: something is)
  std::string drain_reason_;
  bool drain_confirmed_ = false;  // the broker sent Drain: it knows
  std::unique_ptr<ClientSocket> socket_;  // null while waiting to reconnect
  std::unique_ptr<ProcessSet> processes_;
  LocalScheduler core_;
  std::vector<std::string> base_env_;  // the worker's environment, "NAME=value"

  // Output. Sent at once while in touch and nothing is waiting; otherwise
  // queued (in order). What was sent but not yet credited is kept, to send
  // again on the next connection should this one break (the broker drops
  // what it already has, by offset).
  struct SentOutput {
    std::shared_ptr<const std::string> message;
    uint64_t data_bytes;
    uint64_t end;  // output_sent_ after it
  };
  std::deque<SentOutput> in_flight_;
  std::deque<SentOutput> resend_;  // from a broken connection; before output_queue_
  OutputQueue output_queue_;
  bool spill_failed_ = false;  // pipes are not read until the queue drains

  // Link state.
  bool welcomed_ = false;      // the broker answered our hello on this socket
  int fatal_status_ = 1;       // what Run() returns when HandleMessage says stop
  ConnectAttempt told_unreachable_ = ConnectAttempt::kNone;  // SayWhyUnreachable's last
  WorkerId id_;
  uint32_t heartbeat_ms_ = kHeartbeatMs;
  uint32_t liveness_ = kHeartbeatLiveness;
  Time last_heard_ = 0;        // from the broker, on any connection
  Time connected_at_ = 0;      // this socket's
  Time last_sent_ = 0;
  Time next_connect_at_ = -1;  // while disconnected
  int64_t backoff_ms_ = kFirstBackoffMs;
  uint64_t output_sent_ = 0;      // TaskOutput data bytes sent on this connection
  uint64_t output_credited_ = 0;  // ... of which the broker has consumed
};

}  // namespace drover::worker
