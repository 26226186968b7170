#include "tests/integration/slurm.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace drover::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Inside the lab every host has a port space of its own, so Slurm's own
// default ports are free on each.
constexpr int kSlurmctldPort = 6817;
constexpr int kSlurmdPort = 6818;

// scancel sends SIGTERM, then SIGKILL after KillWait seconds (30 by
// default): long enough for a worker's goodbye, short enough that a job
// whose steps ignore SIGTERM does not hold up the test.
constexpr int kKillWaitSeconds = 2;

const std::vector<std::string> kPrograms = {"munged", "slurmctld", "slurmd",  "sbatch", "srun",
                                            "squeue", "scontrol",  "scancel", "sinfo",  "nsenter"};

// States after which a job does nothing more (squeue's long names).
const std::set<std::string> kEndStates = {"COMPLETED",     "FAILED",    "CANCELLED", "TIMEOUT",
                                          "NODE_FAIL",     "PREEMPTED", "BOOT_FAIL", "DEADLINE",
                                          "OUT_OF_MEMORY", "REVOKED"};

std::string Tool(const std::string& name) {
  const std::string path = FindTool(name);
  if (path.empty()) throw std::runtime_error("`" + name + "` not found");
  return path;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::vector<std::string> Words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

}  // namespace

int SlurmJob::exit_code() const {
  const std::string& code = fields.at("ExitCode");
  return std::stoi(code.substr(0, code.find(':')));
}

bool SlurmCluster::Available(std::string* why) {
  static const std::string reason = [] {
    if (geteuid() != 0) return std::string("not root (slurmd and munged run as root here)");
    for (const std::string& p : kPrograms) {
      if (FindTool(p).empty()) {
        return "`" + p + "` not found (scripts/install-deps --test installs slurm-wlm and munge)";
      }
    }
    std::string netns;
    if (!NetLab::Available(&netns)) return "Slurm's nodes are network namespaces: " + netns;
    return std::string();
  }();
  if (why) *why = reason;
  return reason.empty();
}

SlurmCluster::SlurmCluster(SlurmOptions options) {
  if (options.nodes < 1 || options.nodes > 9) throw std::runtime_error("1 to 9 nodes");
  for (int i = 1; i <= options.nodes; ++i) {
    nodes_.push_back(&lab_.AddHost("node" + std::to_string(i)));
  }
  conf_ = dir().path() + "/slurm.conf";
  env_ = {{"SLURM_CONF", conf_}};
  StartMunge();
  WriteConfig(options);
  StartDaemon(node(0), {Tool("slurmctld"), "-D"});
  for (Host* n : nodes_) {
    // slurmd looks for the machine's cgroup mounts even when no plugin uses
    // them, and `ip netns exec` leaves them out of its /sys.
    StartDaemon(*n, {Tool("slurmd"), "-D", "-N", n->name()}, Host::Entry::kNetworkOnly);
  }
  WaitForIdleNodes(seconds(30));
}

Process& SlurmCluster::StartDaemon(Host& host, const std::vector<std::string>& argv,
                                   Host::Entry entry) {
  Process& p = host.Start(argv, env_, entry);
  daemons_.push_back({argv[0].substr(argv[0].rfind('/') + 1) + " on " + host.name(), &p});
  return p;
}

SlurmCluster::~SlurmCluster() { Stop(); }

void SlurmCluster::StartMunge() {
  // munged wants a key of at least 32 bytes that only its user can read.
  const std::string key = dir().path() + "/munge.key";
  {
    std::ifstream random("/dev/urandom", std::ios::binary);
    std::string bytes(1024, '\0');
    random.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    std::ofstream(key, std::ios::binary) << bytes;
  }
  chmod(key.c_str(), 0400);
  const std::string d = dir().path();
  const std::string socket = d + "/munge.sock";
  Process& munged = StartDaemon(
      node(0), {Tool("munged"), "--foreground", "--force", "--key-file=" + key,
                "--socket=" + socket, "--pid-file=" + d + "/munged.pid",
                "--log-file=" + d + "/munged.log", "--seed-file=" + d + "/munged.seed"});
  struct stat st {};
  if (!WaitUntil(seconds(10),
                 [&] { return stat(socket.c_str(), &st) == 0 || !munged.running(); }) ||
      !munged.running()) {
    throw std::runtime_error("munged did not start:\n" + munged.err());
  }
}

void SlurmCluster::WriteConfig(const SlurmOptions& options) {
  const std::string d = dir().path();
  const int cpus = std::max(
      1, std::min(options.cpus_per_node, static_cast<int>(std::thread::hardware_concurrency())));
  std::ostringstream conf;
  conf << "# Written by tests/integration/slurm.cc for one test's cluster.\n"
       << "ClusterName=drover\n"
       << "SlurmctldHost=" << node(0).name() << "(" << node(0).ip() << ")\n"
       << "SlurmctldPort=" << kSlurmctldPort << "\n"
       << "SlurmdPort=" << kSlurmdPort << "\n"
       << "AuthType=auth/munge\n"
       << "AuthInfo=socket=" << d << "/munge.sock\n"
       << "CredType=cred/munge\n"
       << "StateSaveLocation=" << d << "/slurmctld\n"
       << "SlurmctldPidFile=" << d << "/slurmctld.pid\n"
       << "SlurmdSpoolDir=" << d << "/slurmd-%n\n"
       << "SlurmdPidFile=" << d << "/slurmd-%n.pid\n"
       << "SlurmUser=root\n"
       << "SlurmdUser=root\n"
       // Nothing that needs systemd or cgroups set up for Slurm.
       << "ProctrackType=proctrack/linuxproc\n"
       << "TaskPlugin=task/none\n"
       << "SelectType=select/cons_tres\n"
       << "SelectTypeParameters=CR_Core_Memory\n"
       << "AccountingStorageType=accounting_storage/none\n"
       << "JobAcctGatherType=jobacct_gather/none\n"
       << "JobCompType=jobcomp/none\n"
       << "MpiDefault=none\n"
       << "ReturnToService=2\n"
       << "KillWait=" << kKillWaitSeconds << "\n"
       << "MailProg=/bin/true\n";
  std::string names;
  for (Host* n : nodes_) {
    conf << "NodeName=" << n->name() << " NodeAddr=" << n->ip() << " CPUs=" << cpus
         << " RealMemory=" << options.memory_mb << "\n";
    names += (names.empty() ? "" : ",") + n->name();
  }
  conf << "PartitionName=debug Nodes=" << names << " Default=YES MaxTime=INFINITE State=UP\n";
  dir().Write("slurm.conf", conf.str());
}

void SlurmCluster::WaitForIdleNodes(milliseconds within) {
  Run last;
  const bool idle = WaitUntil(within, [&] {
    for (const Daemon& d : daemons_) {
      if (!d.process->running()) return true;  // reported below
    }
    last = Exec({"sinfo", "--noheader", "--Node", "--format=%N %t"});
    std::set<std::string> idle_nodes;
    std::istringstream lines(last.out);
    for (std::string line; std::getline(lines, line);) {
      const std::vector<std::string> w = Words(line);
      if (w.size() == 2 && w[1] == "idle") idle_nodes.insert(w[0]);
    }
    return idle_nodes.size() == nodes_.size();
  });
  for (const Daemon& d : daemons_) {
    if (!d.process->running()) throw std::runtime_error(d.name + " stopped:\n" + Logs());
  }
  if (!idle) {
    throw std::runtime_error("Slurm's nodes were not idle within " +
                             std::to_string(within.count()) + " ms; sinfo:\n" + last.out +
                             last.err + "\n" + Logs());
  }
}

Run SlurmCluster::Exec(std::vector<std::string> argv,
                       const std::map<std::string, std::string>& extra,
                       std::chrono::milliseconds timeout) {
  if (argv.at(0).find('/') == std::string::npos) argv[0] = Tool(argv[0]);
  std::map<std::string, std::string> env = env_;
  for (const auto& [k, v] : extra) env[k] = v;
  return node(0).Exec(argv, timeout, env);
}

std::string SlurmCluster::Sbatch(const std::vector<std::string>& args,
                                 const std::map<std::string, std::string>& extra) {
  std::vector<std::string> argv = {"sbatch", "--parsable"};
  argv.insert(argv.end(), args.begin(), args.end());
  Run r = Exec(argv, extra);
  REQUIRE_MESSAGE(r.exit_code == 0, "sbatch failed: " << r.out << r.err);
  const std::string out = Trim(r.out);
  return out.substr(0, out.find(';'));  // "ID" or "ID;CLUSTER"
}

SlurmJob SlurmCluster::ShowJob(const std::string& id) {
  Run r = Exec({"scontrol", "--oneliner", "show", "job", id});
  REQUIRE_MESSAGE(r.exit_code == 0, "scontrol show job " << id << ": " << r.out << r.err);
  SlurmJob job;
  for (const std::string& w : Words(r.out)) {
    const size_t eq = w.find('=');
    if (eq != std::string::npos) job.fields.emplace(w.substr(0, eq), w.substr(eq + 1));
  }
  REQUIRE_MESSAGE(job.fields.count("JobState") == 1, "scontrol show job " << id << ": " << r.out);
  return job;
}

SlurmJob SlurmCluster::WaitForEnd(const std::string& id, milliseconds within) {
  SlurmJob job;
  const bool ended = WaitUntil(within, [&] {
    job = ShowJob(id);
    if (kEndStates.count(job.state()) > 0) return true;
    std::this_thread::sleep_for(milliseconds(90));  // with WaitUntil's 10: 10 a second
    return false;
  });
  REQUIRE_MESSAGE(ended, "Slurm job " << id << " still " << job.state() << " after "
                                      << within.count() << " ms");
  return job;
}

std::vector<std::string> SlurmCluster::Squeue() {
  Run r = Exec({"squeue", "--noheader", "--format=%i"});
  if (r.exit_code != 0) throw std::runtime_error("squeue: " + r.err);
  return Words(r.out);
}

void SlurmCluster::Scancel(const std::string& id, const std::string& signal) {
  Run r = signal.empty() ? Exec({"scancel", id}) : Exec({"scancel", "--signal=" + signal, id});
  CHECK_MESSAGE(r.exit_code == 0, "scancel " << id << ": " << r.err);
}

std::string SlurmCluster::Logs() const {
  std::string all;
  for (const Daemon& d : daemons_) {
    all += "--- " + d.name + " ---\n" + d.process->out() + d.process->err();
  }
  return all;
}

void SlurmCluster::Stop() {
  // Best effort: the lab kills whatever this leaves behind.
  try {
    std::vector<std::string> jobs = Squeue();
    if (!jobs.empty()) {
      jobs.insert(jobs.begin(), "scancel");
      Exec(jobs);
      WaitUntil(seconds(kKillWaitSeconds + 3), [&] { return Squeue().empty(); });
    }
  } catch (const std::exception&) {
  }
  // slurmd first, munged last: each may still need the ones before it.
  for (auto it = daemons_.rbegin(); it != daemons_.rend(); ++it) {
    it->process->Signal(SIGTERM);
    it->process->Wait(seconds(5));
  }
}

std::unique_ptr<SlurmCluster> StartSlurmOrSkip(SlurmOptions options) {
  std::string why;
  if (SlurmCluster::Available(&why)) {
    try {
      return std::make_unique<SlurmCluster>(options);
    } catch (const std::exception& e) {
      why = e.what();
    }
  }
  if (std::getenv("DROVER_REQUIRE_SLURM")) FAIL("Slurm is required: " << why);
  MESSAGE("skipped: " << why);
  return nullptr;
}

}  // namespace drover::testing
