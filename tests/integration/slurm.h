// SlurmCluster: a real Slurm (Debian's slurm-wlm and munge) for tests, on the
// hosts of a NetLab (netns.h) named node1, node2, ...: munged, slurmctld and a
// slurmd on node1, a slurmd on every other node, one partition with every node
// in it, from a slurm.conf written for them in the lab's directory. Like a
// cluster's nodes, the hosts share the filesystem (the lab's directory stands
// for a shared /home) and each has its own network address, host name and
// port space, so clusters in concurrent test processes cannot meet.
//
// The constructor returns once every node is idle. Client commands (sbatch,
// squeue, scontrol, scancel) run on node1 through Exec, with env() naming the
// slurm.conf. The destructor cancels every job and stops the daemons; the lab
// then kills whatever is left in the nodes' namespaces (job steps too) and
// removes the directory: pass or fail, nothing of Slurm outlives the object.
//
// Needs root, slurm-wlm and munge (scripts/install-deps --test) and what
// NetLab needs; tests start one with StartSlurmOrSkip. Not thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/harness.h"
#include "tests/integration/netns.h"

namespace drover::testing {

struct SlurmOptions {
  int nodes = 2;  // 1 to 9
  // CPUs each node declares (the machine's, at most this many).
  int cpus_per_node = 2;
  // Memory each node declares, in MB (Slurm's RealMemory).
  int memory_mb = 1000;
};

// What `scontrol show job` says of a job, the fields it prints as Key=Value.
struct SlurmJob {
  std::map<std::string, std::string> fields;
  const std::string& state() const { return fields.at("JobState"); }  // "COMPLETED", ...
  // The batch script's exit code: the first half of ExitCode=CODE:SIGNAL.
  int exit_code() const;
};

class SlurmCluster {
 public:
  // Whether Slurm can run here; if not, *why says what is missing.
  static bool Available(std::string* why);

  // Starts the daemons and waits until every node is idle. Throws
  // std::runtime_error, with the failing daemon's log, if one does not come up.
  // REQUIRES: Available()
  explicit SlurmCluster(SlurmOptions options = {});
  ~SlurmCluster();
  SlurmCluster(const SlurmCluster&) = delete;
  SlurmCluster& operator=(const SlurmCluster&) = delete;

  NetLab& lab() { return lab_; }
  const TempDir& dir() const { return lab_.dir(); }
  Host& node(size_t i) { return *nodes_.at(i); }  // node(0) is "node1"
  size_t size() const { return nodes_.size(); }

  // The environment every client command needs: SLURM_CONF.
  const std::map<std::string, std::string>& env() const { return env_; }

  // Runs a Slurm client command (or anything else) on node1 with env() and
  // `extra`, to completion; `argv[0]` is looked up with FindTool.
  Run Exec(std::vector<std::string> argv, const std::map<std::string, std::string>& extra = {},
           std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // `sbatch --parsable ARGS...`: the job id. Fails the test if sbatch does.
  std::string Sbatch(const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& extra = {});
  // `scontrol show job ID`, while Slurm keeps the job (MinJobAge, 300 s).
  SlurmJob ShowJob(const std::string& id);
  // Polls ShowJob until the job has ended (any state but pending, running,
  // configuring, completing); fails the test after `within`.
  SlurmJob WaitForEnd(const std::string& id,
                      std::chrono::milliseconds within = std::chrono::seconds(60));
  // Job ids squeue lists (pending, running, completing).
  std::vector<std::string> Squeue();
  // `scancel ID`, or with a signal `scancel --signal=SIGNAL ID` (to the
  // job's steps, not its batch script).
  void Scancel(const std::string& id, const std::string& signal = "");

  // Every daemon's log, for failure messages.
  std::string Logs() const;

 private:
  void StartMunge();
  void WriteConfig(const SlurmOptions& options);
  // Throws unless every node is idle within `within`.
  void WaitForIdleNodes(std::chrono::milliseconds within);
  // Cancels every job, waits a little for them to go, stops the daemons.
  void Stop();

  NetLab lab_;  // first: destroyed last, killing what is left in its hosts
  std::vector<Host*> nodes_;
  std::string conf_;
  std::map<std::string, std::string> env_;
  struct Daemon {
    std::string name;  // "slurmd on node2"
    Process* process;  // owned by its host
  };
  Process& StartDaemon(Host& host, const std::vector<std::string>& argv,
                       Host::Entry entry = Host::Entry::kIpNetnsExec);
  std::vector<Daemon> daemons_;  // munged, slurmctld, then each slurmd
};

// A SlurmCluster for a test, or null when Slurm cannot run here: then the test
// reports "skipped: <why>", or fails if DROVER_REQUIRE_SLURM is set. A daemon
// that does not come up counts as "cannot run here" too.
std::unique_ptr<SlurmCluster> StartSlurmOrSkip(SlurmOptions options = {});

}  // namespace drover::testing
