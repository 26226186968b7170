// NetLab: a throwaway network of "hosts" for fault tests. Each host is a Linux
// network namespace with loopback and one interface, eth0, whose veth peer is a
// port on a bridge in a separate "switch" namespace:
//
//   host ns "<prefix>broker"  eth0 10.213.X.1 ──veth── h1 ┐
//   host ns "<prefix>w1"      eth0 10.213.X.2 ──veth── h2 ├─ br0   switch ns "<prefix>switch"
//   host ns "<prefix>w2"      eth0 10.213.X.3 ──veth── h3 ┘
//
// Nothing is created in the machine's own network namespace: every interface
// lives in a namespace the lab made, so labs in concurrent test processes
// cannot see each other (X, derived from the pid, only makes logs readable),
// and the test process itself cannot reach the hosts: run clients with
// Host::Exec. Each host has its own port space, so fixed ports are fine.
//
// Names: every namespace is "drover-<pid>-<start>-<lab>-<host>", where <pid> and
// <start> (its start time in clock ticks since boot) identify the test process.
// Namespaces whose process no longer exists (or whose pid was reused) are
// stale: the first NetLab in a process removes them, killing what still runs
// in them, so a test run killed midway leaks nothing into the next one.
//
// Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN), `ip` from iproute2, `unshare`
// (and for Entry::kNetworkOnly `nsenter`) from util-linux, and veth and bridge
// support in the kernel; SetLatency also needs `tc` and the sch_netem qdisc,
// SetRateLimit `tc` and sch_tbf. Tests call Available() first and skip with
// its reason when it is false.
//
// Not thread-safe: one thread drives a lab (Host::Exec may run from several).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "shared/status.h"
#include "tests/integration/harness.h"

namespace drover::testing {

class NetLab;

// One host of a NetLab. Owned by its lab, which outlives every reference.
class Host {
 public:
  ~Host();  // kills what runs in the host, then deletes its namespace
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  const std::string& name() const { return name_; }
  const std::string& ip() const { return ip_; }        // "10.213.X.N", on eth0
  const std::string& netns() const { return netns_; }  // for `ip netns exec`

  // How a program enters the host's network namespace.
  enum class Entry {
    // `ip netns exec`, which also gives the program a mount namespace of its
    // own with a /sys for the host's network (/sys/class/net lists its eth0)
    // and none of the machine's mounts under /sys (no /sys/fs/cgroup).
    kIpNetnsExec,
    // `nsenter --net`: the network namespace only; the program sees the
    // machine's mounts, /sys/fs/cgroup included, which slurmd will not start
    // without (slurm.h).
    kNetworkOnly,
  };

  // Starts `argv` inside this host: in its network namespace, and in a UTS
  // namespace where the host name (`uname -n`, a worker's default --name) is
  // name(). `ip netns exec` (or `nsenter`), `unshare --uts` and a shell each
  // exec the next, so pid() is the program's. It runs in its own process
  // group, stdout and stderr going to files in the lab's directory, with the
  // test's environment plus `env`. The host keeps the Process until the lab
  // ends.
  // REQUIRES: argv[0] is a path, or a program on $PATH.
  // Throws std::runtime_error if it cannot be spawned.
  Process& Start(const std::vector<std::string>& argv,
                 const std::map<std::string, std::string>& env = {},
                 Entry entry = Entry::kIpNetnsExec);

  // Runs `argv` inside this host, as Start does, to completion. After `timeout` its group is
  // killed and the result has exit_code -SIGKILL and "timed out" in err.
  // Safe to call from several threads at once.
  Run Exec(const std::vector<std::string>& argv,
           std::chrono::milliseconds timeout = std::chrono::seconds(30),
           const std::map<std::string, std::string>& env = {});

  // Pids of every process now in this host's network namespace, whoever
  // started them (a worker's steps, daemons, ...). Zombies are not listed.
  std::vector<pid_t> Pids() const;

 private:
  friend class NetLab;
  Host(const NetLab* lab, std::string name, std::string netns, std::string ip, std::string port);
  // SIGKILLs every Process started here (their groups) and anything else in
  // the namespace, then reaps the Processes.
  void KillAll();
  // The command line that runs `argv` in this host.
  std::vector<std::string> InHost(const std::vector<std::string>& argv,
                                  Entry entry = Entry::kIpNetnsExec) const;

  const NetLab* lab_;
  std::string name_, netns_, ip_;
  std::string port_;  // the veth end on the bridge, in the switch namespace
  bool created_ = false;
  bool shaped_ = false;  // a root qdisc (latency or rate limit) is on eth0
  std::vector<std::unique_ptr<Process>> processes_;
};

// A switch and the hosts plugged into it. The destructor kills everything it
// started (and everything else in its namespaces) and deletes every namespace,
// and with them every veth and the bridge, pass or fail.
class NetLab {
 public:
  // Whether labs can be built here; if not, *why says what is missing.
  // Probes once per process (creates and deletes a namespace, bridge, veth).
  static bool Available(std::string* why);

  // Builds the switch. Removes stale namespaces first (once per process).
  // Throws std::runtime_error, with `ip`'s message, if something fails.
  // REQUIRES: Available()
  NetLab();
  ~NetLab();
  NetLab(const NetLab&) = delete;
  NetLab& operator=(const NetLab&) = delete;

  // Adds a host, its link up. `name`: 1-20 of [a-z0-9-], unique in the lab,
  // not "switch". Hosts get addresses .1, .2, ... in the order added; at most
  // 200 hosts. Throws std::runtime_error on failure.
  Host& AddHost(const std::string& name);

  // Cuts the host's cable: its port on the bridge goes down. Both ends lose
  // carrier, so the kernel drops every frame in both directions, silently: no
  // RST, no ICMP, established TCP connections stay open and retransmit, as
  // when a cable is pulled. RestoreLink plugs it back in; traffic flows again
  // at once (the bridge runs no STP, so the port forwards straight away) and
  // TCP recovers at its next retransmission.
  Status CutLink(const Host& host);
  Status RestoreLink(const Host& host);

  // Delays every packet the host sends by `delay` (netem on its eth0), so each
  // round trip with the host takes that much longer; zero removes the delay.
  // An error (e.g. "Specified qdisc kind is unknown" without sch_netem) leaves
  // the link as it was: tests skip what needs latency.
  Status SetLatency(Host& host, std::chrono::milliseconds delay);

  // Caps what the host sends at `kbit_per_s` (tbf on its eth0), as a slow link
  // would; 0 removes the cap. Replaces any latency, and SetLatency replaces it.
  Status SetRateLimit(Host& host, int kbit_per_s);

  // SIGKILLs every process in the host (as Host's destructor does) and reaps
  // the ones it started; their Process objects stay, showing -SIGKILL. The
  // host's network stays up and it can Start programs again.
  void KillHost(Host& host);

  // Where logs and state go; removed with the lab (after its processes die).
  const TempDir& dir() const { return dir_; }
  // Every namespace of this lab starts with this.
  const std::string& prefix() const { return prefix_; }

  // The names `ip netns list` shows, on the whole machine.
  static std::vector<std::string> Namespaces();
  // Removes stale namespaces (see the top of this file); returns how many.
  static int RemoveStale();

 private:
  TempDir dir_;  // first: destroyed last
  std::string prefix_;
  std::string subnet_;  // "10.213.X."
  std::string switch_ns_;
  bool switch_created_ = false;
  std::vector<std::unique_ptr<Host>> hosts_;  // destroyed before the switch
};

}  // namespace drover::testing
