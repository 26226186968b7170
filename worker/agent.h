// Agent: the worker's broker-facing side. It connects to the broker, says
// hello (slots, labels, what it holds), starts each dispatched task through
// the ProcessSet, streams the children's output back while they run, and
// reports each exit.
//
// One event loop (zmq_poll) watches the DEALER socket, the signalfd (SIGCHLD,
// SIGINT, SIGTERM) and the children's pipes; nothing in it blocks. Output is
// sent as it is read, but only while the broker has credited all but
// kOutputWindowBytes of it (protocol.h): past that the pipes are not read,
// so a child that prints faster than the network drains blocks in write()
// instead of growing this process.
//
// Tasks the broker sends beyond the free slots (up to `prefetch` slot units)
// wait in a local FIFO queue and start the moment a slot frees, so no slot
// sits idle for a round trip to the broker. While more than a slot's worth
// of work per slot waits here, finished results are held back (up to
// kResultDelayMs) and sent together: with short steps, every message costs
// the broker, the client and both ends' ZeroMQ threads a wake-up on the
// same cores the steps need, so a few large batches leave those cores to
// the steps. With little left to start, results go at once, since the
// broker sends more work (or starts dependents elsewhere) only on hearing
// them.
//
// A task that follows another (Task::follows) waits apart until that one
// ends: if it exited 0 the follower goes to the front of the queue, into the
// slot it freed; if not, the follower is reported kNotRun without being
// started. Every task sent here gets exactly one result.
//
// Staying in touch (docs/reliability.md):
//   - A broker silent for liveness × heartbeat is out of touch: the worker
//     drops the socket and says hello again on a fresh one, after 1 s, then
//     2, 4, ... up to 32 s (with jitter), telling the broker what it holds.
//   - Meanwhile its children run on. Their output goes to an OutputQueue
//     (spilling to local disk, bounded) and their results are kept; both are
//     sent, output first, once the broker answers. Queued tasks wait.
//   - Results are numbered and kept until the broker acknowledges them
//     (ResultsAck, or in a Dispatch), so none is lost with a connection or a
//     broker restart.
//   - A handshake the broker refuses (this worker's key is not on its
//     workers' list, or the keys do not match) is logged as such and
//     counts as out of touch: it tries again with the same backoff, so a
//     key added to the list later gets in without a restart. A key taken
//     off the list while connected gets ErrorReply{kForbidden}: the same.
//   - A child whose lease is about to run out (out of touch for its lease,
//     less the kill grace and a margin) is stopped, reported lost: by the
//     end of the lease the broker may run its step elsewhere, and it must
//     not run twice.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>
#include <zmq.hpp>

#include "shared/handshake_watch.h"
#include "shared/keys.h"
#include "shared/protocol.h"
#include "shared/signal_fd.h"
#include "shared/transport.h"
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
  int64_t kill_grace_ms = 5000;  // SIGTERM to SIGKILL, for timeouts and cancels
  uint32_t prefetch = 0;         // slot units of tasks to queue beyond `slots`
  std::string instance;          // this run's (worker_state.h)
  std::string previous_instance;
  std::string state_dir;         // for the spill file
  uint64_t spill_max_bytes = 1ull << 30;  // output kept while out of touch
  RunPolicy policy;                       // what this worker agrees to run
  int64_t max_message_bytes = kDefaultMaxMessageBytes;  // largest message taken from the broker
  std::optional<ClientKeys> keys;         // CURVE (docs/security.md); none: plain
};

class Agent : private ProcessObserver {
 public:
  static constexpr int64_t kResultDelayMs = 20;
  static constexpr size_t kMaxResultBatch = 256;
  // Results in one TaskResults message: each is about 100 bytes plus its
  // reason (at most kMaxErrorBytes), so a message stays within 17 MiB.
  static constexpr size_t kMaxResultsPerMessage = 4096;
  static constexpr size_t kMaxErrorBytes = 4096;  // of a result's reason
  static constexpr int64_t kFirstBackoffMs = 1000;
  static constexpr int64_t kMaxBackoffMs = 32'000;

  // `signals` must report SIGCHLD, SIGINT and SIGTERM.
  Agent(AgentOptions options, zmq::context_t* ctx, SignalFd* signals);
  ~Agent() override;

  // Serves until SIGINT/SIGTERM (returns 0) or a fatal error such as a
  // protocol version mismatch (returns 1).
  int Run();

 private:
  // ProcessObserver
  void OnOutput(Id id, Stream stream, std::string_view data) override;
  void OnExit(Id id, const RunResult& run) override;

  // The connection.
  void Connect(Time now);
  void Disconnect(Time now, const char* why);
  void SayHello(Time now);
  void CheckLink(Time now);
  // Returns false when the worker must stop.
  bool HandleMessage(Message& msg, Time now);
  void Send(const Message& msg);

  // Tasks.
  // Starts queued tasks, in order, while their slots fit (never out of touch).
  void StartQueued(Time now);
  // Takes a dispatched task in: queued, or set aside to follow another.
  void Accept(Task task, Time now);
  void StartTask(Task& task, Time now);
  // Applies options_.policy to a task about to start: an error (the step's
  // failure reason) if the worker refuses it; else sets spec->program to the
  // vetted file when there is an allow-list.
  Status Vet(SpawnSpec* spec, const Task& task) const;
  // The attempt `key` has ended here: its followers go ahead or not.
  void Ended(const TaskKey& key, bool succeeded, Time now);
  void ReportUnstarted(const TaskKey& key, Outcome outcome, Time now, std::string error = "");
  // Out of touch: stops what would outlive its lease. Returns when it next
  // has something to do (-1: nothing).
  Time EnforceLeases(Time now);
  // When a task that last heard from the broker at `heard` must stop.
  Time CutOffTime(uint32_t lease_ms, Time heard) const;
  std::vector<std::string> ChildEnv(const Task& task) const;
  std::vector<TaskKey> Held() const;

  // What goes to the broker.
  // Whether to read the children's pipes now: false pushes back on them.
  bool WantOutput() const;
  // Sends queued output (resent first, then queued) while the window allows.
  void DrainOutput();
  bool OutputWaiting() const { return !resend_.empty() || !output_queue_.empty(); }
  void SendOutput(std::shared_ptr<const std::string> message, uint64_t data_bytes);
  void AddResult(TaskResult result, Time now);
  // The broker has journaled the results numbered up to `through`.
  void Acknowledged(uint64_t through);
  // Sends the results not yet sent, now or a little later to batch them.
  void FlushResults(Time now, bool force);
  // Whether so little waits to start here that results should go at once.
  bool RunningLow() const;
  // Sends Goodbye, stops every child, waits for them (bounded), returns.
  void ShutDown();

  AgentOptions options_;
  zmq::context_t* ctx_;
  SignalFd* signals_;
  std::unique_ptr<zmq::socket_t> socket_;  // null while waiting to reconnect
  HandshakeWatch watch_;                   // socket_'s handshakes
  std::unique_ptr<ProcessSet> processes_;
  std::vector<std::string> base_env_;  // the worker's environment, "NAME=value"

  struct Running {
    TaskKey key;
    uint32_t slots;
    uint32_t lease_ms;
    uint64_t offset[2] = {0, 0};  // bytes read so far from stdout, stderr
    bool cut_off = false;  // stopped because its lease was running out
  };
  std::unordered_map<Id, Running> tasks_;  // running children
  std::map<TaskKey, Id> by_key_;
  std::deque<Task> queued_;    // dispatched, waiting for slots
  std::map<TaskKey, std::vector<Task>> followers_;  // by the attempt they follow
  // How recent attempts ended (exit 0 or not), for a follower that arrives
  // after its predecessor is done; the oldest are forgotten.
  std::map<TaskKey, bool> ended_;
  std::deque<TaskKey> ended_order_;
  uint32_t busy_slots_ = 0;    // held by running children

  // Results, numbered, kept until acknowledged.
  struct NumberedResult {
    uint64_t seq;
    TaskResult result;
  };
  std::deque<NumberedResult> unacked_;
  uint64_t next_seq_ = 1;
  uint64_t unsent_from_ = 1;   // the first result not sent on this connection
  Time results_since_ = -1;    // when the oldest unsent result finished

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
  WorkerId id_;
  uint32_t heartbeat_ms_ = kHeartbeatMs;
  uint32_t liveness_ = kHeartbeatLiveness;
  Time last_heard_ = 0;        // from the broker, on any connection
  Time connected_at_ = 0;      // this socket's
  Time last_sent_ = 0;
  Time next_connect_at_ = -1;  // while disconnected
  int64_t backoff_ms_ = kFirstBackoffMs;
  bool stopping_ = false;      // said goodbye: children are only being stopped
  uint64_t output_sent_ = 0;      // TaskOutput data bytes sent on this connection
  uint64_t output_credited_ = 0;  // ... of which the broker has consumed
};

}  // namespace drover::worker
