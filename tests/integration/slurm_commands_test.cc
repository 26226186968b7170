// The broker's Slurm commands (broker/slurm_commands.h) against a real
// Slurm (slurm.h), run by its CommandRunner as the broker runs them: an
// allocation's batch script submitted with sbatch and followed with squeue
// until it ends, and what Slurm says when it refuses one. The workers are
// a stand-in that records how it was started, so no broker is needed. The
// test process cannot reach the cluster's controller (its nodes are network
// namespaces), so each command runs in node1 through `ip netns exec`, as on
// a login node. Skipped without root and slurm-wlm, as slurm_test.cc is.

#include <poll.h>
#include <sys/stat.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <thread>

#include "broker/command_runner.h"
#include "broker/slurm_commands.h"
#include "tests/integration/harness.h"
#include "tests/integration/lab_programs.h"
#include "tests/integration/slurm.h"

namespace drover::testing {
namespace {

using broker::CommandResult;
using broker::CommandRunner;
using broker::SlurmJobId;
using broker::SlurmJobReport;
using broker::SlurmJobState;
using Argv = std::vector<std::string>;
using std::chrono::seconds;

// Runs Slurm's commands as the broker would, on node1 with the cluster's
// slurm.conf.
class SlurmShell {
 public:
  explicit SlurmShell(SlurmCluster& slurm, const std::string& node_tmp)
      : prefix_{FindTool("ip"),        "netns", "exec",
                slurm.node(0).netns(), "env",   "SLURM_CONF=" + slurm.env().at("SLURM_CONF"),
                "TMPDIR=" + node_tmp} {}

  CommandResult Run(const Argv& argv) {
    Argv full = prefix_;
    full.insert(full.end(), argv.begin(), argv.end());
    runner_.Run(++tag_, full, 30'000);
    std::vector<CommandResult> results;
    const auto give_up = std::chrono::steady_clock::now() + seconds(60);
    while (results.empty() && std::chrono::steady_clock::now() < give_up) {
      pollfd p{runner_.fd(), POLLIN, 0};
      if (poll(&p, 1, 100) == 1) results = runner_.Take();
    }
    REQUIRE(results.size() == 1);
    CHECK(results[0].tag == tag_);
    return results[0];
  }

  // Polls squeue (and, for an id it does not list, sacct) until job `id`
  // has ended; every report on the way, the last one the end.
  std::vector<SlurmJobReport> Follow(SlurmJobId id) {
    std::vector<SlurmJobReport> seen;
    const auto give_up = std::chrono::steady_clock::now() + seconds(60);
    while (std::chrono::steady_clock::now() < give_up) {
      CommandResult r = Run(broker::SqueueArgv({id}));
      REQUIRE_MESSAGE(r.exit_code == 0, r.err << r.failure);
      std::optional<SlurmJobReport> report;
      for (const SlurmJobReport& s : broker::ParseSqueue(r.out)) {
        if (s.id == id) report = s;
      }
      if (!report) {
        // Slurm forgot it (MinJobAge): this cluster keeps no accounting.
        CommandResult ended = Run(broker::EndedArgv({id}));
        for (const SlurmJobReport& s : broker::ParseEnded(ended.out)) {
          if (s.id == id) report = s;
        }
        if (!report) report = broker::UnknownEnd(id);
      }
      if (seen.empty() || !(seen.back() == *report)) seen.push_back(*report);
      if (report->state == SlurmJobState::kEnded) return seen;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    FAIL("Slurm job " << id << " did not end within 60 s");
    return seen;
  }

 private:
  Argv prefix_;
  CommandRunner runner_;
  uint64_t tag_ = 0;
};

// The stand-in worker, after `out=FILE-PREFIX`: records its arguments (a
// line each), and its Slurm job's id if its state directory was there.
constexpr const char* kFakeWorker = R"sh(printf '%s\n' "$@" > "$out.args"
[ -d "$4" ] && echo "$SLURM_JOB_ID" > "$out.job"
echo "worker on $(uname -n)"
)sh";

std::string Describe(const std::vector<SlurmJobReport>& reports) {
  std::string out;
  for (const SlurmJobReport& r : reports) out += (out.empty() ? "" : ", ") + r.reason;
  return out;
}

TEST_CASE("slurm: an allocation's script runs a worker per node, squeue follows it to its end") {
  std::unique_ptr<SlurmCluster> slurm = StartSlurmOrSkip();
  if (!slurm) return;
  const std::string dir = slurm->dir().path();
  const std::string node_tmp = dir + "/node-tmp";
  REQUIRE(mkdir(node_tmp.c_str(), 0700) == 0);
  const std::string worker =
      slurm->dir().Write("worker", "#!/bin/sh\nout=" + dir + "/ran-$(uname -n)\n" + kFakeWorker);
  REQUIRE(chmod(worker.c_str(), 0755) == 0);

  AllocQueueParams params;
  params.time_limit_ms = 10 * 60'000;
  params.workers_per_alloc = 2;
  params.slots = 2;
  params.labels = {"slurm"};
  params.resources = {{"licence", 3}};
  params.worker_args = {"--log-level", "debug", "it's \"quoted\""};
  const broker::AllocScriptContext ctx = {.worker_path = worker,
                                          .broker_address = Endpoint(slurm->node(0))};
  const std::string script = slurm->dir().Write("q1-1.sh", broker::AllocScript(params, 1, 1, ctx));
  SlurmShell shell(*slurm, node_tmp);

  CommandResult submitted = shell.Run(broker::SbatchArgv(params, 1, 1, script, dir + "/q1-1.out"));
  REQUIRE_MESSAGE(submitted.exit_code == 0, submitted.err << submitted.failure);
  Result<SlurmJobId> id = broker::ParseSbatch(submitted.out);
  REQUIRE_MESSAGE(id.ok(), (id.ok() ? "" : id.status().message()));

  const std::vector<SlurmJobReport> seen = shell.Follow(*id);
  INFO("seen: " << Describe(seen) << "\nbatch output:\n" << ReadFile(dir + "/q1-1.out"));
  CHECK(seen.back() == SlurmJobReport{*id, SlurmJobState::kEnded, "COMPLETED"});
  SlurmJob job = slurm->ShowJob(std::to_string(*id));
  CHECK(job.fields["JobName"] == "drover-q1-1");
  CHECK(job.fields["NumNodes"] == "2");
  CHECK(job.fields["TimeLimit"] == "00:10:00");

  for (const std::string node : {"node1", "node2"}) {
    CAPTURE(node);
    CHECK(Lines(ReadFile(dir + "/ran-" + node + ".args")) ==
          std::vector<std::string>{"--name", node + "-" + std::to_string(*id), "--state-dir",
                                   node_tmp + "/drover-worker-" + std::to_string(*id) + "-" + node,
                                   "--broker", Endpoint(slurm->node(0)), "--slots", "2", "--label",
                                   "slurm", "--resource", "licence=3", "--idle-timeout", "300s",
                                   "--log-level", "debug", "it's \"quoted\""});
    // It had its state directory and its job's id; the directory is gone.
    CHECK(ReadFile(dir + "/ran-" + node + ".job") == std::to_string(*id) + "\n");
  }
  CHECK(std::filesystem::is_empty(node_tmp));

  // Where Slurm keeps no accounting, as here, sacct says so: the broker
  // then knows only that the job is gone (UnknownEnd).
  CommandResult sacct = shell.Run(broker::EndedArgv({*id}));
  CHECK(sacct.exit_code == 1);
  CHECK(sacct.err == "Slurm accounting storage is disabled\n");

  // scancel of a running allocation: squeue then says CANCELLED.
  const std::string sleeper = slurm->dir().Write("sleeper", "#!/bin/sh\nexec sleep 300\n");
  REQUIRE(chmod(sleeper.c_str(), 0755) == 0);
  params.workers_per_alloc = 1;
  const std::string sleepy = slurm->dir().Write(
      "q1-2.sh", broker::AllocScript(
                     params, 1, 2, {.worker_path = sleeper, .broker_address = ctx.broker_address}));
  submitted = shell.Run(broker::SbatchArgv(params, 1, 2, sleepy, dir + "/q1-2.out"));
  REQUIRE_MESSAGE(submitted.exit_code == 0, submitted.err);
  const SlurmJobId second = broker::ParseSbatch(submitted.out).value();
  CHECK(WaitUntil(seconds(30), [&] {
    for (const SlurmJobReport& r : broker::ParseSqueue(shell.Run(broker::SqueueArgv({})).out)) {
      if (r.id == second) return r.state == SlurmJobState::kRunning;
    }
    return false;
  }));
  CommandResult cancelled = shell.Run(broker::ScancelArgv(second));
  CHECK(cancelled.exit_code == 0);
  const std::vector<SlurmJobReport> ended = shell.Follow(second);
  CHECK_MESSAGE((ended.back() == SlurmJobReport{second, SlurmJobState::kEnded, "CANCELLED"}),
                Describe(ended));
  // Both jobs, ended, are still listed: Slurm keeps them for MinJobAge.
  std::vector<SlurmJobReport> all = broker::ParseSqueue(shell.Run(broker::SqueueArgv({})).out);
  std::sort(all.begin(), all.end(),
            [](const SlurmJobReport& a, const SlurmJobReport& b) { return a.id < b.id; });
  CHECK(all == std::vector<SlurmJobReport>{{*id, SlurmJobState::kEnded, "COMPLETED"},
                                           {second, SlurmJobState::kEnded, "CANCELLED"}});
  // The cancelled script's workers clean up after Slurm has called the job
  // CANCELLED (they drain on its SIGTERM, within KillWait): wait for them.
  const bool cleaned = WaitUntil(seconds(20), [&] { return std::filesystem::is_empty(node_tmp); });
  std::string left;
  for (const auto& e : std::filesystem::recursive_directory_iterator(node_tmp)) {
    left += " " + e.path().string();
  }
  CHECK_MESSAGE(cleaned, "left in the nodes' TMPDIR:" << left);
}

TEST_CASE("slurm: sbatch to a partition that does not exist fails with Slurm's words") {
  std::unique_ptr<SlurmCluster> slurm = StartSlurmOrSkip();
  if (!slurm) return;
  AllocQueueParams params;
  params.time_limit_ms = 60'000;
  params.sbatch_args = {"--partition=nope"};
  const std::string script = slurm->dir().Write(
      "q2-1.sh", broker::AllocScript(params, 2, 1,
                                     {.worker_path = "/bin/true", .broker_address = "tcp://x:1"}));
  SlurmShell shell(*slurm, slurm->dir().path());
  CommandResult r =
      shell.Run(broker::SbatchArgv(params, 2, 1, script, slurm->dir().path() + "/q2-1.out"));
  CHECK(r.exit_code == 1);
  CHECK(r.failure == "");
  CHECK(r.out == "");
  CHECK(r.err ==
        "sbatch: error: invalid partition specified: nope\n"
        "sbatch: error: Batch job submission failed: Invalid partition name specified\n");
  CHECK(!broker::ParseSbatch(r.out).ok());
  CHECK(slurm->Squeue().empty());
}

}  // namespace
}  // namespace drover::testing
