#include "tests/integration/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace drover::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> MergedEnv(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string entry(*e);
    const size_t eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  env.erase("DROVER_BROKER");  // tests say where the broker is
  env.erase("DROVER_KEY");     // ... and which keys to use
  env.erase("DROVER_BROKER_KEY");
  for (const auto& [k, v] : extra) env[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

}  // namespace

std::string BinDir() {
  const char* dir = std::getenv("DROVER_TEST_BIN_DIR");
  return dir != nullptr && *dir != '\0' ? dir : DROVER_BIN_DIR;
}

bool SanitizedPrograms() {
  const char* set = std::getenv("DROVER_TEST_SANITIZED");
  return kSanitizerBuild || (set != nullptr && *set != '\0');
}

TempDir::TempDir() {
  std::string tmpl = std::filesystem::temp_directory_path().string() + "/drover-test-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::Write(const std::string& name, const std::string& content) const {
  const std::string path = path_ + "/" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

std::string FindTool(const std::string& tool) {
  std::string dirs = "/usr/sbin:/sbin:/usr/bin:/bin";
  if (const char* path = std::getenv("PATH")) dirs = std::string(path) + ":" + dirs;
  std::istringstream in(dirs);
  for (std::string dir; std::getline(in, dir, ':');) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + tool;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    throw std::runtime_error("cannot bind a loopback port");
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Process::Process(std::vector<std::string> argv, const std::string& out_path,
                 const std::string& err_path, const std::map<std::string, std::string>& env)
    : out_path_(out_path), err_path_(err_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  std::vector<std::string> env_strings = MergedEnv(env);
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const int err = posix_spawn(&pid_, args[0], &actions, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + strerror(err));
}

Process::~Process() {
  // Only while the leader is unreaped: afterwards its pgid may be reused.
  if (!status_) {
    kill(-pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

void Process::Signal(int sig) {
  if (!status_) kill(pid_, sig);
}

std::optional<int> Process::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!status_) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      status_ = status;
      break;
    }
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return status_;
}

std::optional<int> Process::ExitCode() const {
  if (!status_) return std::nullopt;
  if (WIFEXITED(*status_)) return WEXITSTATUS(*status_);
  return -WTERMSIG(*status_);
}

long Process::PeakRssKb() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

Run RunCommand(const std::vector<std::string>& argv, const TempDir& dir,
               std::chrono::seconds timeout, const std::map<std::string, std::string>& env) {
  // Tests run commands from several threads at once (two submitters); each
  // needs output files of its own. (ThreadSanitizer found the plain int.)
  static std::atomic<int> counter = 0;
  const std::string base = dir.path() + "/cmd" + std::to_string(++counter);
  Process p(argv, base + ".out", base + ".err", env);
  Run run;
  if (!p.Wait(timeout)) {
    p.Signal(SIGKILL);
    p.Wait(std::chrono::seconds(10));
    FAIL("command timed out after " << timeout.count() << " s: " << argv[0] << " ...\n"
                                    << p.err());
  }
  run.exit_code = *p.ExitCode();
  run.out = p.out();
  run.err = p.err();
  return run;
}

bool Alive(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

bool WaitUntil(std::chrono::milliseconds within, const std::function<bool()>& done) {
  const auto deadline = Clock::now() + within;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

pid_t SleeperPid(const std::string& pid_file, std::chrono::milliseconds within) {
  pid_t pid = 0;
  WaitUntil(within, [&] {
    std::ifstream in(pid_file);
    std::string text;
    if (!std::getline(in, text) || text.empty()) return false;
    pid = std::stoi(text);
    std::string comm;
    std::getline(std::ifstream("/proc/" + std::to_string(pid) + "/comm"), comm);
    return comm == "sleep";
  });
  return pid;
}

Cluster::Cluster(ClusterOptions options)
    : broker_args_(std::move(options.broker_args)),
      heartbeat_ms_(options.heartbeat_ms),
      state_dir_(options.state_dir.empty() ? dir_.path() + "/state" : options.state_dir),
      keys_(options.keys) {
  endpoint_ = "tcp://127.0.0.1:" + std::to_string(FreePort());
  if (keys_) {
    REQUIRE(mkdir(key_dir().c_str(), 0700) == 0);
    MakeKey("keys/broker");
    const std::string worker = MakeKey("worker"), user = MakeKey("user");
    dir_.Write("keys/workers.allow", "# the test's workers\n" + ReadFile(worker + ".pub"));
    dir_.Write("keys/submitters.allow", ReadFile(user + ".pub"));
    worker_env_ = KeyEnv(worker);
    user_env_ = KeyEnv(user);
  }
  RestartBroker();
}

std::string Cluster::MakeKey(const std::string& name) const {
  const std::string base = dir_.path() + "/" + name;
  Run r = RunCommand({BinDir() + "/submit", "keygen", base, "--comment", name}, dir_,
                     std::chrono::seconds(30));
  REQUIRE_MESSAGE(r.exit_code == 0, "submit keygen: " << r.err);
  return base;
}

std::map<std::string, std::string> Cluster::KeyEnv(const std::string& base) const {
  return {{"DROVER_KEY", base + ".key"}, {"DROVER_BROKER_KEY", key_dir() + "/broker.pub"}};
}

Cluster::~Cluster() {
  workers_.clear();
  brokers_.clear();
}

void Cluster::KillBroker() {
  broker().Signal(SIGKILL);
  broker().Wait(std::chrono::seconds(10));
}

Process& Cluster::RestartBroker() {
  const std::string log = dir_.path() + "/broker-" + std::to_string(brokers_.size() + 1);
  std::vector<std::string> argv = {
      BinDir() + "/broker", "--bind",         endpoint_, "--state-dir",
      state_dir_,           "--heartbeat-ms", std::to_string(heartbeat_ms_)};
  argv.insert(argv.end(), broker_args_.begin(), broker_args_.end());
  if (keys_) argv.insert(argv.end(), {"--key-dir", key_dir()});
  brokers_.push_back(std::make_unique<Process>(argv, log + ".out", log + ".err"));
  return *brokers_.back();
}

std::string Cluster::BrokerLogs() const {
  std::string all;
  for (size_t i = 0; i < brokers_.size(); ++i) {
    all += "--- broker run " + std::to_string(i + 1) + " ---\n" + brokers_[i]->err();
  }
  return all;
}

Process& Cluster::AddWorker(const std::string& name, int slots,
                            const std::vector<std::string>& labels,
                            const std::vector<std::string>& extra_args) {
  Process& worker = StartWorker(name, slots, labels, extra_args);
  WaitForWorkers(workers_.size());
  return worker;
}

Process& Cluster::StartWorker(const std::string& name, int slots,
                              const std::vector<std::string>& labels,
                              const std::vector<std::string>& extra_args) {
  std::vector<std::string> argv = {BinDir() + "/worker", "--broker", endpoint_, "--name", name,
                                   "--slots", std::to_string(slots), "--kill-grace", "1",
                                   "--state-dir", dir_.path() + "/worker-state"};
  for (const std::string& l : labels) {
    argv.push_back("--label");
    argv.push_back(l);
  }
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  const std::string log = dir_.path() + "/worker-" + name + "-" + std::to_string(workers_.size());
  workers_.push_back(std::make_unique<Process>(argv, log + ".out", log + ".err", worker_env_));
  return *workers_.back();
}

void Cluster::WaitForWorkers(size_t n) {
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  const std::string want = std::to_string(n) + " worker(s)";
  for (;;) {
    Run r = RunCommand({BinDir() + "/submit", "status", "--broker", endpoint_}, dir_,
                       std::chrono::seconds(30), user_env_);
    if (r.exit_code == 0 && r.out.rfind(want, 0) == 0) return;
    if (Clock::now() > deadline) {
      FAIL("the broker never listed " << n << " workers; last status:\n"
                                      << r.out << r.err << "\nbroker logs:\n" << BrokerLogs());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Run Cluster::Submit(const std::string& job_file, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {BinDir() + "/submit", job_file, "--broker", endpoint_};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, dir_, std::chrono::seconds(120), user_env_);
}

std::vector<nlohmann::json> Cluster::SubmitJson(const std::string& job_file, int* exit_code) {
  Run r = Submit(job_file, {"--json"});
  if (exit_code) *exit_code = r.exit_code;
  INFO("submit stderr: " << r.err);
  return JsonLines(r.out);
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<nlohmann::json> JsonLines(const std::string& text) {
  std::vector<nlohmann::json> events;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) events.push_back(nlohmann::json::parse(line));
  }
  return events;
}

std::vector<nlohmann::json> EventsOf(const std::vector<nlohmann::json>& events,
                                     const std::string& type) {
  std::vector<nlohmann::json> out;
  for (const auto& e : events) {
    if (e.at("event") == type) out.push_back(e);
  }
  return out;
}

std::map<std::string, nlohmann::json> FinalStates(const std::vector<nlohmann::json>& events) {
  std::map<std::string, nlohmann::json> out;
  for (const auto& e : EventsOf(events, "step_finished")) out[e.at("step")] = e;
  return out;
}

bool Overlapped(const nlohmann::json& a, const nlohmann::json& b) {
  auto ms = [](const nlohmann::json& e, const char* field) { return e.at(field).get<int64_t>(); };
  return ms(a, "started_ms") < ms(b, "ended_ms") && ms(b, "started_ms") < ms(a, "ended_ms");
}

}  // namespace drover::testing
