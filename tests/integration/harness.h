// Test harness for end-to-end tests: the real `broker`, `worker` and `submit`
// run as separate processes on loopback, on free ports, in a temporary
// directory. Everything a test starts is killed and everything it writes is
// removed when the test's objects go out of scope, pass or fail.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace drover::testing {

// The directory of the programs under test: this build's, or
// $DROVER_TEST_BIN_DIR (scripts/test-sanitizers runs these tests against
// the broker, worker and submit of a sanitizer build without building the
// tests there too).
std::string BinDir();

// Built with a sanitizer (scripts/test-sanitizers), a program's resident set
// is mostly the sanitizer's shadow memory and quarantine, so the bounds on
// peak memory are checked by the normal build only.
// gcc says so with __SANITIZE_*__, clang with __has_feature.
#if !defined(__has_feature)
#define DROVER_HAS_FEATURE(x) 0
#else
#define DROVER_HAS_FEATURE(x) __has_feature(x)
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || \
    DROVER_HAS_FEATURE(address_sanitizer) || DROVER_HAS_FEATURE(thread_sanitizer)
inline constexpr bool kSanitizerBuild = true;
#else
inline constexpr bool kSanitizerBuild = false;
#endif
// Whether the programs under test are a sanitizer build: this one, or the
// one $DROVER_TEST_BIN_DIR points at (scripts/test-sanitizers then sets
// DROVER_TEST_SANITIZED). Their memory and speed are not a release's.
bool SanitizedPrograms();
// A fresh directory, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  // Writes `content` to path()/name and returns the full path.
  std::string Write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// The full path of `tool` on $PATH or in the usual system directories (root's
// sbin is often missing from a test runner's $PATH); empty if there is none.
std::string FindTool(const std::string& tool);

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

std::string ReadFile(const std::string& path);

// Whether `pid` runs (exists and is not a zombie).
bool Alive(pid_t pid);

// Polls `done` every 10 ms until it is true (true) or `within` passed (false).
bool WaitUntil(std::chrono::milliseconds within, const std::function<bool()>& done);

// A program running in its own process group, its stdout and stderr going to
// files. The destructor SIGKILLs the group and reaps it.
class Process {
 public:
  Process(std::vector<std::string> argv, const std::string& out_path, const std::string& err_path,
          const std::map<std::string, std::string>& env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // Waits for exit up to `timeout`; the wait status, or nullopt on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // The exit code if it exited normally, else -signal; nullopt while running.
  std::optional<int> ExitCode() const;
  // Whether it still runs (reaps it if it has ended).
  bool running() { return !Wait(std::chrono::milliseconds(0)).has_value(); }
  std::string out() const { return ReadFile(out_path_); }
  std::string err() const { return ReadFile(err_path_); }
  // Peak resident memory (VmHWM) in KiB while it runs; -1 if unknown.
  long PeakRssKb() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string out_path_, err_path_;
};

// What a finished command did.
struct Run {
  int exit_code = -1;  // -signal if it was killed
  std::string out;
  std::string err;
};

// Runs a command to completion (killing it after `timeout`).
Run RunCommand(const std::vector<std::string>& argv, const TempDir& dir,
               std::chrono::seconds timeout = std::chrono::seconds(120),
               const std::map<std::string, std::string>& env = {});

struct ClusterOptions {
  // CURVE on: the broker gets --key-dir DIR/keys, with a key pair for the
  // workers (DIR/worker) and one for submit (DIR/user) on its lists; the
  // cluster's workers and submits use them (DROVER_KEY, DROVER_BROKER_KEY).
  bool keys = false;
  // Given to every run of the broker.
  std::vector<std::string> broker_args = {};
  // The broker's --heartbeat-ms: short, so that tests notice silence within
  // a second (liveness is 5 heartbeats).
  int heartbeat_ms = 200;
  // The broker's --state-dir; empty: DIR/state.
  std::string state_dir = {};
};

// A broker on a free loopback port plus workers, in one temp dir.
class Cluster {
 public:
  explicit Cluster(ClusterOptions options = {});
  ~Cluster();

  const std::string& endpoint() const { return endpoint_; }
  const TempDir& dir() const { return dir_; }
  Process& broker() { return *brokers_.back(); }

  // SIGKILLs the broker and reaps it.
  void KillBroker();
  // Starts a broker again on the same endpoint and state directory (after
  // KillBroker, or after it stopped). Each run logs to its own files; the
  // earlier runs' Process objects stay readable through BrokerLogs().
  Process& RestartBroker();
  // The stderr of every broker run so far, oldest first, with a header each.
  std::string BrokerLogs() const;

  // Starts a worker and waits until the broker lists it.
  Process& AddWorker(const std::string& name, int slots,
                     const std::vector<std::string>& labels = {},
                     const std::vector<std::string>& extra_args = {});
  // Starts a worker without waiting (e.g. to restart one; a worker of the
  // same name must have stopped: they share a state directory).
  Process& StartWorker(const std::string& name, int slots,
                       const std::vector<std::string>& labels = {},
                       const std::vector<std::string>& extra_args = {});
  // Waits until `status` shows `n` workers (throws after a generous deadline).
  void WaitForWorkers(size_t n);

  // `submit FILE --broker ENDPOINT ARGS...`, to completion.
  Run Submit(const std::string& job_file, const std::vector<std::string>& args = {});
  // With keys: the broker's key directory, and a new key pair DIR/NAME.key,
  // DIR/NAME.pub (`submit keygen`), returning DIR/NAME.
  std::string key_dir() const { return dir_.path() + "/keys"; }
  std::string MakeKey(const std::string& name) const;
  // The environment that makes worker and submit use key pair `base`.
  std::map<std::string, std::string> KeyEnv(const std::string& base) const;
  // What the cluster's own submits use (empty without keys).
  const std::map<std::string, std::string>& user_env() const { return user_env_; }

  // Same, with --json; returns the events (one JSON object per line).
  std::vector<nlohmann::json> SubmitJson(const std::string& job_file, int* exit_code = nullptr);

 private:
  TempDir dir_;
  std::string endpoint_;
  std::vector<std::string> broker_args_;
  int heartbeat_ms_;
  std::string state_dir_;
  std::vector<std::unique_ptr<Process>> brokers_;  // every run; the last is current
  std::vector<std::unique_ptr<Process>> workers_;
  bool keys_ = false;
  std::map<std::string, std::string> worker_env_, user_env_;
};

// The lines of `text`, without their newlines.
std::vector<std::string> Lines(const std::string& text);
// Parses one JSON object per line (blank lines skipped): `submit --json`'s output.
std::vector<nlohmann::json> JsonLines(const std::string& text);

// Events of one type ("step_started", "step_finished", ...).
std::vector<nlohmann::json> EventsOf(const std::vector<nlohmann::json>& events,
                                     const std::string& type);
// The final step_finished event of each step, by step id.
std::map<std::string, nlohmann::json> FinalStates(const std::vector<nlohmann::json>& events);
// Whether two steps' runs overlapped in time, from their step_finished
// events (started_ms, ended_ms: one machine's clock in these tests).
bool Overlapped(const nlohmann::json& a, const nlohmann::json& b);

// The pid a step wrote to `pid_file` (`echo $$ > FILE; exec sleep N`), once
// the file is there and that process is the `sleep` the shell became; 0 if
// that does not happen `within`.
pid_t SleeperPid(const std::string& pid_file, std::chrono::milliseconds within);

}  // namespace drover::testing
