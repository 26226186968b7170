// loadgen: simulated workers and clients for benchmarking a real broker.
// Every message goes through the shared codec and a real ZeroMQ socket; only
// the processes are missing (a simulated worker "runs" a task by answering
// it, at once or after --task-ms). Prints one JSON object with the results.
//
//   loadgen throughput   --broker E --broker-pid P --steps N [--shape independent|mixed|array]
//                        [--workers W --slots S]
//       Submits one graph with no workers connected (to measure the broker's
//       memory per queued step), then connects W simulated workers that
//       complete every task instantly, and times the graph to its end.
//   loadgen latency      --broker E --count N
//       With a real worker connected: submits N one-step graphs (/bin/true)
//       one after another, timing each from SubmitJob to its JobEnded.
//   loadgen many-workers --broker E --broker-pid P --workers W --steps N
//                        [--task-ms T] [--idle-seconds S]
//       Connects W one-slot workers, idles S seconds (broker CPU, heartbeat
//       gaps), then runs N tasks of T ms each and reports how evenly they
//       were spread.

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <msgpack.hpp>
#include <memory>
#include <sstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "shared/clock.h"
#include "shared/codec.h"
#include "shared/os_limits.h"
#include "shared/transport.h"

namespace drover::bench {
namespace {

using nlohmann::json;

[[noreturn]] void Die(const std::string& message) {
  fprintf(stderr, "loadgen: %s\n", message.c_str());
  exit(1);
}

// ---- The broker process, seen from /proc ----

double CpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may hold spaces.
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long StatusKb(int pid, const char* key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key, 0) == 0) return std::stol(line.substr(strlen(key)));
  }
  return -1;
}

// ---- Graphs, written straight to MessagePack (a million steps in JSON would
// make the generator the bottleneck) ----

struct StringSink {
  std::string* out;
  void write(const char* data, size_t size) { out->append(data, size); }
};

// `shape` independent: N steps running /bin/true, no edges.
// `shape` mixed: blocks of 20 steps: a chain of 10, then 9 steps after the
// chain's end (fan-out), then one step after those 9 (fan-in).
// `shape` array: the independent graph as one array step of N elements
// (`each`), a few dozen bytes however large.
std::string MakeGraph(size_t steps, const std::string& shape) {
  std::string out;
  StringSink sink{&out};
  msgpack::packer<StringSink> p(sink);
  p.pack_map(2);
  p.pack("name");
  p.pack("loadgen-" + shape);
  p.pack("steps");
  if (shape == "array") {
    p.pack_array(1);
    p.pack_map(3);
    p.pack("id");
    p.pack("s");
    p.pack("argv");
    p.pack_array(1);
    p.pack("/bin/true");
    p.pack("each");
    p.pack_map(1);
    p.pack("i");
    p.pack_map(1);
    p.pack("range");
    p.pack_array(2);
    p.pack(0);
    p.pack(static_cast<uint64_t>(steps));
    return out;
  }
  p.pack_array(static_cast<uint32_t>(steps));
  auto id = [](size_t i) { return "s" + std::to_string(i); };
  for (size_t i = 0; i < steps; ++i) {
    std::vector<std::string> after;
    if (shape == "mixed") {
      const size_t block = i / 20 * 20, k = i % 20;
      if (k >= 1 && k <= 9) after.push_back(id(block + k - 1));  // chain
      if (k >= 10 && k <= 18) after.push_back(id(block + 9));    // fan-out
      if (k == 19) {
        for (size_t j = 10; j <= 18; ++j) after.push_back(id(block + j));  // fan-in
      }
    }
    p.pack_map(after.empty() ? 2 : 3);
    p.pack("id");
    p.pack(id(i));
    p.pack("argv");
    p.pack_array(1);
    p.pack("/bin/true");
    if (!after.empty()) {
      p.pack("after");
      p.pack(after);
    }
  }
  return out;
}

// ---- Peers ----

class Peer {
 public:
  Peer(zmq::context_t& ctx, const std::string& endpoint)
      : socket_(ConnectDealer(ctx, endpoint, 0)) {}
  zmq::socket_t& socket() { return socket_; }
  void Send(const Message& msg) {
    if (!SendMessage(socket_, msg)) Die("send failed");
  }
  // One message if any is waiting.
  bool TryReceive(Message* out) {
    zmq::message_t frame;
    if (ReceiveFrame(socket_, nullptr, &frame) != Received::kFrame) return false;
    Result<Message> msg = DecodeMessage(std::string_view(frame.data<char>(), frame.size()));
    if (!msg.ok()) Die("undecodable message from the broker: " + msg.status().message());
    *out = std::move(msg).value();
    return true;
  }
  // The next message other than a heartbeat, waiting up to `timeout_ms`.
  Message Receive(int64_t timeout_ms) {
    const int64_t deadline = MonotonicMs() + timeout_ms;
    Message msg;
    for (;;) {
      while (TryReceive(&msg)) {
        if (!std::holds_alternative<Heartbeat>(msg)) return msg;
      }
      const int64_t left = deadline - MonotonicMs();
      if (left <= 0) Die("no answer from the broker");
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(left));
    }
  }

 private:
  zmq::socket_t socket_;
};

Peer Client(zmq::context_t& ctx, const std::string& endpoint) {
  Peer client(ctx, endpoint);
  client.Send(ClientHello{kProtocolVersion, "loadgen"});
  if (!std::holds_alternative<Welcome>(client.Receive(10'000))) Die("client hello refused");
  return client;
}

// Simulated workers, all served by one poll loop.
class WorkerFleet {
 public:
  WorkerFleet(zmq::context_t& ctx, const std::string& endpoint, int count, uint32_t slots,
              uint32_t prefetch) {
    for (int i = 0; i < count; ++i) {
      peers_.push_back(std::make_unique<Peer>(ctx, endpoint));
      WorkerHello hello;
      hello.name = "sim-" + std::to_string(i);
      hello.host = "loadgen";
      hello.slots = slots;
      hello.prefetch = prefetch;
      hello.pid = static_cast<int32_t>(getpid());
      hello.instance = "loadgen-" + std::to_string(getpid()) + "-" + std::to_string(i);
      hello.reads_dispatch_acks = true;  // as real workers say (the fleet needs no acks)
      peers_.back()->Send(hello);
    }
    for (auto& peer : peers_) {
      if (!std::holds_alternative<Welcome>(peer->Receive(30'000))) Die("worker hello refused");
    }
    tasks_.assign(peers_.size(), 0);
    next_seq_.assign(peers_.size(), 1);
    last_heartbeat_.assign(peers_.size(), MonotonicMs());
    max_gap_ms_.assign(peers_.size(), 0);
    last_sent_.assign(peers_.size(), MonotonicMs());
  }

  // Serves the fleet until `done()` or `until_ms`; tasks finish after task_ms.
  template <typename Stop>
  void Serve(int64_t task_ms, int64_t until_ms, Stop done) {
    std::vector<zmq::pollitem_t> items;
    for (auto& peer : peers_) items.push_back({peer->socket().handle(), 0, ZMQ_POLLIN, 0});
    Message msg;
    while (!done() && MonotonicMs() < until_ms) {
      int64_t wait = 100;
      if (!pending_.empty()) wait = std::max<int64_t>(0, pending_.front().due - MonotonicMs());
      zmq::poll(items, std::chrono::milliseconds(std::min<int64_t>(wait, 100)));
      const int64_t now = MonotonicMs();
      for (size_t i = 0; i < items.size(); ++i) {
        if (!(items[i].revents & ZMQ_POLLIN)) continue;
        while (peers_[i]->TryReceive(&msg)) {
          if (std::holds_alternative<Heartbeat>(msg)) {
            max_gap_ms_[i] = std::max(max_gap_ms_[i], now - last_heartbeat_[i]);
            last_heartbeat_[i] = now;
          } else if (auto* d = std::get_if<Dispatch>(&msg)) {
            TaskResults results;
            for (const Task& t : d->tasks) {
              ++tasks_[i];
              if (task_ms == 0) {
                results.results.push_back(Succeeded(t.key, now));
              } else {
                pending_.push_back({now + task_ms, i, t.key});
              }
            }
            if (!results.results.empty()) SendResults(i, std::move(results));
          }
        }
      }
      // Tasks with a duration, due in order (all have the same length).
      std::map<size_t, TaskResults> due;
      while (!pending_.empty() && pending_.front().due <= now) {
        due[pending_.front().worker].results.push_back(Succeeded(pending_.front().key, now));
        pending_.pop_front();
      }
      for (auto& [worker, results] : due) SendResults(worker, std::move(results));
      // Workers say they are alive, as real ones do.
      for (size_t i = 0; i < peers_.size(); ++i) {
        if (now - last_sent_[i] >= kHeartbeatMs) Send(i, Heartbeat{});
      }
    }
  }

  void ResetGaps() {
    const int64_t now = MonotonicMs();
    std::fill(last_heartbeat_.begin(), last_heartbeat_.end(), now);
    std::fill(max_gap_ms_.begin(), max_gap_ms_.end(), 0);
  }
  int64_t MaxHeartbeatGapMs() const {
    return *std::max_element(max_gap_ms_.begin(), max_gap_ms_.end());
  }
  const std::vector<uint64_t>& tasks() const { return tasks_; }
  uint64_t completed() const { return completed_; }

 private:
  // Numbered as a real worker numbers them, so the broker acknowledges them.
  void SendResults(size_t worker, TaskResults results) {
    completed_ += results.results.size();
    results.first_seq = next_seq_[worker];
    next_seq_[worker] += results.results.size();
    Send(worker, results);
  }

  struct PendingTask {
    int64_t due;
    size_t worker;
    TaskKey key;
  };
  static TaskResult Succeeded(const TaskKey& key, int64_t now) {
    RunResult run;
    run.started_ms = run.ended_ms = now;
    return TaskResult{key, run};
  }
  void Send(size_t i, const Message& msg) {
    peers_[i]->Send(msg);
    last_sent_[i] = MonotonicMs();
  }

  std::vector<std::unique_ptr<Peer>> peers_;
  std::deque<PendingTask> pending_;
  std::vector<uint64_t> tasks_;
  std::vector<uint64_t> next_seq_;  // each worker's next result number
  std::vector<int64_t> last_heartbeat_, max_gap_ms_, last_sent_;
  uint64_t completed_ = 0;
};

// Waits until the broker reports job `id` over (polling its status).
JobState WaitForEnd(Peer& client, JobId id, int64_t timeout_ms) {
  const int64_t deadline = MonotonicMs() + timeout_ms;
  while (MonotonicMs() < deadline) {
    client.Send(StatusRequest{});
    Message reply = client.Receive(60'000);
    if (auto* status = std::get_if<StatusReply>(&reply)) {
      for (const JobStatus& j : status->jobs) {
        if (j.id == id && j.state != JobState::kRunning) return j.state;
      }
    } else if (auto* error = std::get_if<ErrorReply>(&reply)) {
      // The client says nothing while the fleet runs, so on a slow run the
      // broker may have dropped it as silent: say hello again.
      if (error->code != ErrorCode::kNeedHello) Die("the broker refused: " + error->message);
      client.Send(ClientHello{kProtocolVersion, "loadgen"});
      if (!std::holds_alternative<Welcome>(client.Receive(10'000))) Die("client hello refused");
    }
    usleep(2000);
  }
  Die("the job did not end in time");
}

// ---- Modes ----

struct Args {
  std::string mode, broker, shape = "independent";
  int broker_pid = 0, workers = 8, count = 200;
  uint32_t slots = 64;
  uint64_t steps = 100'000;
  int64_t task_ms = 20, idle_seconds = 10;
};

json Throughput(const Args& a, zmq::context_t& ctx) {
  Peer client = Client(ctx, a.broker);
  const std::string graph = MakeGraph(a.steps, a.shape);
  const long rss_before = StatusKb(a.broker_pid, "VmRSS:");
  const int64_t t_submit = MonotonicMs();
  client.Send(SubmitJob{Blob{graph}, /*follow=*/false, ""});
  Message reply = client.Receive(600'000);
  auto* accepted = std::get_if<JobAccepted>(&reply);
  if (accepted == nullptr) Die("the graph was not accepted");
  const int64_t t_accepted = MonotonicMs();
  usleep(200'000);  // let the broker settle before reading its memory
  const long rss_queued = StatusKb(a.broker_pid, "VmRSS:");

  const double cpu0 = CpuSeconds(a.broker_pid);
  const int64_t t0 = MonotonicMs();
  WorkerFleet fleet(ctx, a.broker, a.workers, a.slots, a.slots);
  fleet.Serve(0, t0 + 3'600'000, [&] { return fleet.completed() >= a.steps; });
  const JobState state = WaitForEnd(client, accepted->job, 600'000);
  const int64_t t1 = MonotonicMs();
  const double cpu1 = CpuSeconds(a.broker_pid);
  if (state != JobState::kSucceeded) Die("the job did not succeed");

  const double seconds = (t1 - t0) / 1000.0;
  return {{"mode", "throughput"},
          {"shape", a.shape},
          {"steps", a.steps},
          {"workers", a.workers},
          {"slots", a.slots},
          {"graph_bytes", graph.size()},
          {"accept_s", (t_accepted - t_submit) / 1000.0},
          {"elapsed_s", seconds},
          {"steps_per_s", a.steps / seconds},
          {"broker_cpu_s", cpu1 - cpu0},
          {"broker_cpu_us_per_step", (cpu1 - cpu0) * 1e6 / a.steps},
          {"broker_rss_before_kb", rss_before},
          {"broker_rss_queued_kb", rss_queued},
          {"bytes_per_queued_step", (rss_queued - rss_before) * 1024.0 / a.steps},
          {"broker_peak_rss_kb", StatusKb(a.broker_pid, "VmHWM:")}};
}

json Latency(const Args& a, zmq::context_t& ctx) {
  Peer client = Client(ctx, a.broker);
  const std::string graph = MakeGraph(1, "independent");
  std::vector<double> ms, accepted_ms, started_ms;
  auto since = [](std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  for (int i = 0; i < a.count; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    client.Send(SubmitJob{Blob{graph}, /*follow=*/true, ""});
    bool ended = false;
    while (!ended) {
      Message msg = client.Receive(60'000);
      if (std::holds_alternative<JobAccepted>(msg)) accepted_ms.push_back(since(t0));
      auto* events = std::get_if<JobEvents>(&msg);
      if (events == nullptr) continue;
      Result<std::vector<Event>> decoded = DecodeEventRecords(events->records.bytes);
      if (!decoded.ok()) Die("bad events");
      for (const Event& e : decoded.value()) {
        if (std::holds_alternative<StepStarted>(e)) started_ms.push_back(since(t0));
        if (auto* end = std::get_if<JobEnded>(&e)) {
          if (end->state != JobState::kSucceeded) Die("a latency job failed");
          ended = true;
        }
      }
      if (!ended) continue;
      ms.push_back(since(t0));
      // As submit does: a small job's events are acknowledged once, at its end.
      client.Send(EventsAck{events->job, events->offset + events->records.bytes.size()});
    }
  }
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  return {{"mode", "latency"},
          {"accepted_median_ms", median(accepted_ms)},
          {"started_event_median_ms", median(started_ms)},
          {"count", a.count},
          {"median_ms", sorted[sorted.size() / 2]},
          {"p99_ms", sorted[std::min(sorted.size() - 1, sorted.size() * 99 / 100)]},
          {"min_ms", sorted.front()},
          {"samples_ms", ms}};
}

json ManyWorkers(const Args& a, zmq::context_t& ctx) {
  WorkerFleet fleet(ctx, a.broker, a.workers, 1, 0);
  // Idle: nothing to run; the broker only keeps heartbeats going.
  fleet.ResetGaps();
  const double idle_cpu0 = CpuSeconds(a.broker_pid);
  const int64_t idle0 = MonotonicMs();
  fleet.Serve(0, idle0 + a.idle_seconds * 1000, [] { return false; });
  const double idle_cpu = CpuSeconds(a.broker_pid) - idle_cpu0;
  const double idle_s = (MonotonicMs() - idle0) / 1000.0;
  const int64_t idle_gap = fleet.MaxHeartbeatGapMs();

  // Busy: tasks of task_ms each; fair dispatch spreads them evenly.
  Peer client = Client(ctx, a.broker);
  client.Send(SubmitJob{Blob{MakeGraph(a.steps, "independent")}, /*follow=*/false, ""});
  Message reply = client.Receive(600'000);
  auto* accepted = std::get_if<JobAccepted>(&reply);
  if (accepted == nullptr) Die("the graph was not accepted");
  fleet.ResetGaps();
  const double cpu0 = CpuSeconds(a.broker_pid);
  const int64_t t0 = MonotonicMs();
  fleet.Serve(a.task_ms, t0 + 3'600'000, [&] { return fleet.completed() >= a.steps; });
  const double seconds = (MonotonicMs() - t0) / 1000.0;
  const double cpu = CpuSeconds(a.broker_pid) - cpu0;
  WaitForEnd(client, accepted->job, 600'000);

  const std::vector<uint64_t>& tasks = fleet.tasks();
  const auto [lo, hi] = std::minmax_element(tasks.begin(), tasks.end());
  double mean = 0, var = 0;
  for (uint64_t t : tasks) mean += t;
  mean /= tasks.size();
  for (uint64_t t : tasks) var += (t - mean) * (t - mean);
  return {{"mode", "many-workers"},
          {"workers", a.workers},
          {"steps", a.steps},
          {"task_ms", a.task_ms},
          {"idle_seconds", idle_s},
          {"idle_broker_cpu_percent", 100.0 * idle_cpu / idle_s},
          {"idle_max_heartbeat_gap_ms", idle_gap},
          {"busy_seconds", seconds},
          {"busy_steps_per_s", a.steps / seconds},
          {"busy_broker_cpu_percent", 100.0 * cpu / seconds},
          {"busy_max_heartbeat_gap_ms", fleet.MaxHeartbeatGapMs()},
          {"tasks_per_worker_min", *lo},
          {"tasks_per_worker_max", *hi},
          {"tasks_per_worker_mean", mean},
          {"tasks_per_worker_stddev", std::sqrt(var / tasks.size())},
          {"broker_peak_rss_kb", StatusKb(a.broker_pid, "VmHWM:")}};
}

}  // namespace
}  // namespace drover::bench

int main(int argc, char** argv) {
  using namespace drover::bench;
  Args a;
  if (argc < 2) Die("usage: loadgen throughput|latency|many-workers --broker E [options]");
  a.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--broker") a.broker = value;
    else if (flag == "--broker-pid") a.broker_pid = std::stoi(value);
    else if (flag == "--steps") a.steps = std::stoull(value);
    else if (flag == "--shape") a.shape = value;
    else if (flag == "--workers") a.workers = std::stoi(value);
    else if (flag == "--slots") a.slots = static_cast<uint32_t>(std::stoul(value));
    else if (flag == "--count") a.count = std::stoi(value);
    else if (flag == "--task-ms") a.task_ms = std::stoll(value);
    else if (flag == "--idle-seconds") a.idle_seconds = std::stoll(value);
    else Die("unknown flag " + flag);
  }
  if (a.broker.empty()) Die("--broker is required");
  if (a.mode != "latency" && a.broker_pid == 0) Die("--broker-pid is required");
  if (a.shape != "independent" && a.shape != "mixed" && a.shape != "array") {
    Die("--shape is independent, mixed or array");
  }
  drover::RaiseOpenFileLimit();  // a thousand simulated workers need a thousand sockets
  zmq::context_t ctx(1);
  ctx.set(zmq::ctxopt::max_sockets, 100'000);
  nlohmann::json result;
  if (a.mode == "throughput") result = Throughput(a, ctx);
  else if (a.mode == "latency") result = Latency(a, ctx);
  else if (a.mode == "many-workers") result = ManyWorkers(a, ctx);
  else Die("unknown mode " + a.mode);
  printf("%s\n", result.dump().c_str());
  return 0;
}
