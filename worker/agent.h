// Agent: the worker's broker-facing side. It connects to the broker, says
// hello (slots, labels), starts each dispatched task through the ProcessSet,
// streams the children's output back while they run, and reports each exit.
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
// sits idle for a round trip to the broker. A task that follows another
// (Task::follows) waits apart until that one ends: if it exited 0 the
// follower goes to the front of the queue, into the slot it freed; if not,
// the follower is reported kNotRun without being started. Every task sent
// here gets exactly one result. Results leave in one TaskResults
// per loop turn; while the queue still holds work they are held back up to
// kResultDelayMs to share a message, but never when the worker is about to
// run dry (then the broker must hear at once, to send more).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>
#include <zmq.hpp>

#include "shared/protocol.h"
#include "shared/signal_fd.h"
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
};

class Agent : private ProcessObserver {
 public:
  static constexpr int64_t kResultDelayMs = 5;
  static constexpr size_t kMaxResultBatch = 256;

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

  void SayHello();
  // Returns false when the worker must stop.
  bool HandleMessage(Message& msg, Time now);
  // Starts queued tasks, in order, while their slots fit.
  void StartQueued(Time now);
  // Takes a dispatched task in: queued, or set aside to follow another.
  void Accept(Task task);
  // The attempt `key` has ended here: its followers go ahead or not.
  void Ended(const TaskKey& key, bool succeeded);
  void ReportUnstarted(const TaskKey& key, Outcome outcome);
  void StartTask(Task& task, Time now);
  // Sends the finished results now, or waits a little to batch them.
  void FlushResults(Time now, bool force);
  std::vector<std::string> ChildEnv(const Task& task) const;
  void Send(const Message& msg);
  // Sends Goodbye, stops every child, waits for them (bounded), returns.
  void ShutDown();

  AgentOptions options_;
  zmq::context_t* ctx_;
  SignalFd* signals_;
  std::unique_ptr<zmq::socket_t> socket_;
  std::unique_ptr<ProcessSet> processes_;
  std::vector<std::string> base_env_;  // the worker's environment, "NAME=value"

  struct Running {
    TaskKey key;
    uint32_t slots;
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
  std::vector<TaskResult> results_;  // finished, not yet sent
  Time results_since_ = -1;          // when the oldest of them finished

  bool welcomed_ = false;
  bool hello_pending_ = false;
  WorkerId id_;
  uint32_t heartbeat_ms_ = kHeartbeatMs;
  Time last_heard_ = 0;
  Time last_sent_ = 0;
  bool warned_silence_ = false;
  bool stopping_ = false;  // said goodbye: children are only being stopped
  uint64_t output_sent_ = 0;      // TaskOutput data bytes sent
  uint64_t output_credited_ = 0;  // ... of which the broker has consumed
};

}  // namespace drover::worker
