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
// Results finished during a loop turn leave together in one TaskResults.
#pragma once

#include <cstdint>
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
};

class Agent : private ProcessObserver {
 public:
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
  void StartTask(Task& task, Time now);
  std::vector<std::string> ChildEnv(const Task& task) const;
  void Send(const Message& msg);
  // Sends Goodbye, stops every child, waits for them (bounded), returns.
  void ShutDown();

  AgentOptions options_;
  zmq::context_t* ctx_;
  SignalFd* signals_;
  std::unique_ptr<zmq::socket_t> socket_;
  std::unique_ptr<ProcessSet> processes_;
  std::map<std::string, std::string> base_env_;  // the worker's own environment

  std::unordered_map<Id, TaskKey> tasks_;  // running children
  std::map<TaskKey, Id> by_key_;
  std::vector<TaskResult> results_;  // finished this turn

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
