#include "tests/integration/netns.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace drover::testing {
namespace {

using Clock = std::chrono::steady_clock;

const std::string& IpPath() {
  static const std::string path = FindTool("ip");
  return path;
}

const std::string& UnsharePath() {
  static const std::string path = FindTool("unshare");
  return path;
}

const std::string& TcPath() {
  static const std::string path = FindTool("tc");
  return path;
}

const std::string& NsenterPath() {
  static const std::string path = FindTool("nsenter");
  return path;
}

std::string Join(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

// Runs a tool to completion, its stdout and stderr together. Tools here (ip,
// tc) never wait for anything, so there is no timeout.
Status RunTool(const std::vector<std::string>& argv, std::string* output = nullptr) {
  if (argv[0].empty()) return Status::Error("not found: " + Join(argv));
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus("pipe2", errno);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int err = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (err != 0) {
    close(fds[0]);
    return ErrnoStatus("spawn " + argv[0], err);
  }
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n > 0) {
      text.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (output) *output = text;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return Status::Error(Join(argv) + ": " + (text.empty() ? "failed" : text));
}

Status Ip(std::vector<std::string> args) {
  args.insert(args.begin(), IpPath());
  return RunTool(args);
}

void Check(const Status& s) {
  if (!s.ok()) throw std::runtime_error(s.message());
}

// A process's start time in clock ticks since boot (field 22 of
// /proc/PID/stat): with the pid, it names a process for good.
std::optional<unsigned long long> StartTicks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');  // the command name may hold spaces
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(paren + 1));
  std::string field;
  for (int i = 3; i <= 22; ++i) {
    if (!(fields >> field)) return std::nullopt;
  }
  return std::stoull(field);
}

// "drover-<pid>-<start>-": what every namespace of this process starts with.
const std::string& ProcessTag() {
  static const std::string tag = "drover-" + std::to_string(getpid()) + "-" +
                                 std::to_string(StartTicks(getpid()).value_or(0)) + "-";
  return tag;
}

// Every process whose network namespace is `netns`, found the way
// `ip netns pids` does: by the namespace file's device and inode.
std::vector<pid_t> PidsIn(const std::string& netns) {
  struct stat ns {};
  if (stat(("/var/run/netns/" + netns).c_str(), &ns) != 0 &&
      stat(("/run/netns/" + netns).c_str(), &ns) != 0) {
    return {};
  }
  std::vector<pid_t> pids;
  DIR* proc = opendir("/proc");
  if (!proc) return pids;
  while (const dirent* e = readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    struct stat st {};
    const std::string path = std::string("/proc/") + e->d_name + "/ns/net";
    if (stat(path.c_str(), &st) == 0 && st.st_dev == ns.st_dev && st.st_ino == ns.st_ino) {
      pids.push_back(static_cast<pid_t>(pid));
    }
  }
  closedir(proc);
  return pids;
}

// SIGKILLs everything in `netns` until nothing is left (processes may fork
// while we look), for up to a few seconds.
void KillEverythingIn(const std::string& netns) {
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  for (;;) {
    const std::vector<pid_t> pids = PidsIn(netns);
    if (pids.empty() || Clock::now() > deadline) return;
    for (pid_t pid : pids) kill(pid, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// Kills what runs in the namespace and deletes it, with its interfaces.
void DeleteNamespace(const std::string& netns) {
  KillEverythingIn(netns);
  (void)Ip({"netns", "del", netns});  // best effort: nothing to do about a failure here
}

bool ValidHostName(const std::string& name) {
  if (name.empty() || name.size() > 20 || name == "switch") return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

std::atomic<int> log_counter{0};

// Log files for one program started in `host`.
std::pair<std::string, std::string> LogPaths(const std::string& dir, const std::string& host,
                                             const std::string& program) {
  const std::string base = dir + "/" + host + "." + std::to_string(++log_counter) + "." +
                           program.substr(program.rfind('/') + 1);
  return {base + ".out", base + ".err"};
}

}  // namespace

// --- Host ---

Host::Host(const NetLab* lab, std::string name, std::string netns, std::string ip, std::string port)
    : lab_(lab),
      name_(std::move(name)),
      netns_(std::move(netns)),
      ip_(std::move(ip)),
      port_(std::move(port)) {}

std::vector<std::string> Host::InHost(const std::vector<std::string>& argv, Entry entry) const {
  // Each step execs the next, so the pid stays the program's: `ip netns exec`
  // (or nsenter) enters the namespace, `unshare --uts` gives it a host name of
  // its own.
  const char* set_name_and_exec = "echo \"$0\" > /proc/sys/kernel/hostname && exec \"$@\"";
  std::vector<std::string> full;
  if (entry == Entry::kNetworkOnly) {
    if (NsenterPath().empty()) throw std::runtime_error("`nsenter` (util-linux) not found");
    full = {NsenterPath(), "--net=/var/run/netns/" + netns_, "--", UnsharePath(), "--uts"};
  } else {
    full = {IpPath(), "netns", "exec", netns_, UnsharePath(), "--uts"};
  }
  full.insert(full.end(), {"--", "/bin/sh", "-c", set_name_and_exec, name_});
  full.insert(full.end(), argv.begin(), argv.end());
  return full;
}

Host::~Host() {
  KillAll();
  processes_.clear();
  if (created_) DeleteNamespace(netns_);
}

Process& Host::Start(const std::vector<std::string>& argv,
                     const std::map<std::string, std::string>& env, Entry entry) {
  const auto [out, err] = LogPaths(lab_->dir().path(), name_, argv.at(0));
  processes_.push_back(std::make_unique<Process>(InHost(argv, entry), out, err, env));
  return *processes_.back();
}

Run Host::Exec(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
               const std::map<std::string, std::string>& env) {
  const auto [out, err] = LogPaths(lab_->dir().path(), name_, argv.at(0));
  Process p(InHost(argv), out, err, env);
  Run run;
  if (!p.Wait(timeout)) {
    kill(-p.pid(), SIGKILL);
    p.Wait(std::chrono::seconds(10));
    run.exit_code = -SIGKILL;
    run.out = p.out();
    run.err = p.err() + "\n[" + Join(argv) + ": timed out after " +
              std::to_string(timeout.count()) + " ms]\n";
    return run;
  }
  run.exit_code = *p.ExitCode();
  run.out = p.out();
  run.err = p.err();
  return run;
}

std::vector<pid_t> Host::Pids() const { return PidsIn(netns_); }

void Host::KillAll() {
  // A group may be signalled only while its leader is unreaped (a zombie
  // leader keeps the pgid from being reused); Wait() below reaps.
  for (const auto& p : processes_) {
    if (p->running()) kill(-p->pid(), SIGKILL);
  }
  KillEverythingIn(netns_);  // what left its group: a worker's steps, daemons
  for (const auto& p : processes_) p->Wait(std::chrono::seconds(5));
}

// --- NetLab ---

bool NetLab::Available(std::string* why) {
  static std::string reason = [] {
    if (geteuid() != 0) return std::string("not root (network namespaces need CAP_SYS_ADMIN)");
    if (IpPath().empty()) return std::string("`ip` (iproute2) not found");
    if (UnsharePath().empty()) return std::string("`unshare` (util-linux) not found");
    const std::string probe = ProcessTag() + "probe";
    if (Status s = Ip({"netns", "add", probe}); !s.ok()) return s.message();
    Status s = Ip({"-n", probe, "link", "add", "br0", "type", "bridge"});
    if (s.ok()) s = Ip({"-n", probe, "link", "add", "v0", "type", "veth", "peer", "name", "v1"});
    if (s.ok()) s = Ip({"-n", probe, "link", "set", "lo", "up"});
    if (s.ok()) {
      s = RunTool({IpPath(), "netns", "exec", probe, UnsharePath(), "--uts", "--", "/bin/sh", "-c",
                   "echo probe > /proc/sys/kernel/hostname"});
    }
    DeleteNamespace(probe);
    if (!s.ok()) return s.message();
    for (const std::string& ns : Namespaces()) {
      if (ns == probe) return "cannot delete namespace " + probe;
    }
    return std::string();
  }();
  if (why) *why = reason;
  return reason.empty();
}

NetLab::NetLab() {
  static std::once_flag stale_once;
  std::call_once(stale_once, [] { RemoveStale(); });
  static std::atomic<int> labs{0};
  prefix_ = ProcessTag() + std::to_string(++labs) + "-";
  subnet_ = "10.213." + std::to_string(getpid() % 250 + 1) + ".";
  switch_ns_ = prefix_ + "switch";
  try {
    Check(Ip({"netns", "add", switch_ns_}));
    switch_created_ = true;
    Check(Ip({"-n", switch_ns_, "link", "add", "br0", "type", "bridge"}));
    Check(Ip({"-n", switch_ns_, "link", "set", "br0", "up"}));
  } catch (...) {
    if (switch_created_) DeleteNamespace(switch_ns_);
    throw;
  }
}

NetLab::~NetLab() {
  hosts_.clear();
  if (switch_created_) DeleteNamespace(switch_ns_);
}

Host& NetLab::AddHost(const std::string& name) {
  if (!ValidHostName(name)) throw std::runtime_error("bad host name \"" + name + "\"");
  for (const auto& h : hosts_) {
    if (h->name() == name) throw std::runtime_error("host \"" + name + "\" already exists");
  }
  const size_t n = hosts_.size() + 1;
  if (n > 200) throw std::runtime_error("too many hosts");
  // Not make_unique: the constructor is private. If a step below throws, the
  // Host's destructor deletes what was made.
  std::unique_ptr<Host> host(
      new Host(this, name, prefix_ + name, subnet_ + std::to_string(n), "h" + std::to_string(n)));
  const std::string& ns = host->netns_;
  Check(Ip({"netns", "add", ns}));
  host->created_ = true;
  // Made from inside the switch namespace, so the pair never exists in the
  // machine's own namespace, not even for a moment.
  Check(Ip({"-n", switch_ns_, "link", "add", host->port_, "type", "veth", "peer", "name", "eth0",
            "netns", ns}));
  Check(Ip({"-n", ns, "link", "set", "lo", "up"}));
  Check(Ip({"-n", ns, "addr", "add", host->ip_ + "/24", "dev", "eth0"}));
  Check(Ip({"-n", ns, "link", "set", "eth0", "up"}));
  Check(Ip({"-n", switch_ns_, "link", "set", host->port_, "master", "br0", "up"}));
  hosts_.push_back(std::move(host));
  return *hosts_.back();
}

Status NetLab::CutLink(const Host& host) {
  if (host.lab_ != this) return Status::Error("host " + host.name() + " is not in this lab");
  return Ip({"-n", switch_ns_, "link", "set", host.port_, "down"});
}

Status NetLab::RestoreLink(const Host& host) {
  if (host.lab_ != this) return Status::Error("host " + host.name() + " is not in this lab");
  return Ip({"-n", switch_ns_, "link", "set", host.port_, "up"});
}

Status NetLab::SetLatency(Host& host, std::chrono::milliseconds delay) {
  if (host.lab_ != this) return Status::Error("host " + host.name() + " is not in this lab");
  if (TcPath().empty()) return Status::Error("`tc` (iproute2) not found");
  if (delay.count() <= 0) {
    if (!host.shaped_) return Status::Ok();
    Status s = RunTool({TcPath(), "-n", host.netns_, "qdisc", "del", "dev", "eth0", "root"});
    if (s.ok()) host.shaped_ = false;
    return s;
  }
  Status s = RunTool({TcPath(), "-n", host.netns_, "qdisc", "replace", "dev", "eth0", "root",
                      "netem", "delay", std::to_string(delay.count()) + "ms"});
  if (s.ok()) host.shaped_ = true;
  return s;
}

Status NetLab::SetRateLimit(Host& host, int kbit_per_s) {
  if (host.lab_ != this) return Status::Error("host " + host.name() + " is not in this lab");
  if (TcPath().empty()) return Status::Error("`tc` (iproute2) not found");
  if (kbit_per_s <= 0) {
    if (!host.shaped_) return Status::Ok();
    Status s = RunTool({TcPath(), "-n", host.netns_, "qdisc", "del", "dev", "eth0", "root"});
    if (s.ok()) host.shaped_ = false;
    return s;
  }
  // A token bucket: a burst of 64 KiB, and at most 100 ms of packets waiting
  // in the qdisc, past which TCP backs off (as it would behind a slow link).
  Status s = RunTool({TcPath(), "-n", host.netns_, "qdisc", "replace", "dev", "eth0", "root",
                      "tbf", "rate", std::to_string(kbit_per_s) + "kbit", "burst", "64kb",
                      "latency", "100ms"});
  if (s.ok()) host.shaped_ = true;
  return s;
}

void NetLab::KillHost(Host& host) { host.KillAll(); }

std::vector<std::string> NetLab::Namespaces() {
  std::string out;
  std::vector<std::string> names;
  if (!RunTool({IpPath(), "netns", "list"}, &out).ok()) return names;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    const std::string name = line.substr(0, line.find(' '));  // "NAME (id: 3)"
    if (!name.empty()) names.push_back(name);
  }
  return names;
}

int NetLab::RemoveStale() {
  int removed = 0;
  for (const std::string& ns : Namespaces()) {
    // "drover-<pid>-<start>-...": stale unless that very process still runs.
    unsigned long long pid = 0, start = 0;
    int used = 0;
    if (std::sscanf(ns.c_str(), "drover-%llu-%llu-%n", &pid, &start, &used) != 2 || used == 0) {
      continue;
    }
    if (pid > 0 && StartTicks(static_cast<pid_t>(pid)) == start) continue;
    DeleteNamespace(ns);
    ++removed;
  }
  return removed;
}

}  // namespace drover::testing
