// Drover under a real Slurm (slurm.h): the scripts in deploy/slurm/ submitted
// with sbatch to a two-node cluster, as a user would. They need root and
// slurm-wlm; without them each test says "skipped: <why>" and passes (set
// DROVER_REQUIRE_SLURM=1 to fail instead).

#include <sys/stat.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tests/integration/harness.h"
#include "tests/integration/lab_programs.h"
#include "tests/integration/slurm.h"

namespace drover::testing {
namespace {

using std::chrono::seconds;

// What every job of these tests gets in its environment (sbatch passes the
// submitter's on): Drover's programs, and a TMPDIR of the cluster's own, the
// "local disk" of its nodes, which the scripts must leave empty.
std::map<std::string, std::string> JobEnv(SlurmCluster& slurm) {
  const std::string tmp = slurm.dir().path() + "/node-tmp";
  mkdir(tmp.c_str(), 0700);
  return {{"DROVER_BIN", BinDir()}, {"TMPDIR", tmp}};
}

TEST_CASE("slurm: the test cluster runs a job on every node, and leaves nothing behind") {
  std::string prefix, dir;
  {
    std::unique_ptr<SlurmCluster> slurm = StartSlurmOrSkip();
    if (!slurm) return;
    prefix = slurm->lab().prefix();
    dir = slurm->dir().path();
    const std::string script =
        slurm->dir().Write("hosts.sh", "#!/bin/sh\nsrun --ntasks-per-node=1 uname -n | sort\n");
    const std::string id =
        slurm->Sbatch({"-N", "2", "--output", dir + "/hosts.out", script}, JobEnv(*slurm));
    SlurmJob job = slurm->WaitForEnd(id);
    CHECK(job.state() == "COMPLETED");
    CHECK(ReadFile(dir + "/hosts.out") == "node1\nnode2\n");
    // A job still running when the cluster goes is cancelled with it.
    slurm->Sbatch({"-N", "1", "--wrap", "sleep 300"});
    CHECK(slurm->Squeue().size() == 1);
  }
  for (const std::string& ns : NetLab::Namespaces()) CHECK(ns.rfind(prefix, 0) != 0);
  CHECK(!std::filesystem::exists(dir));
}

}  // namespace
}  // namespace drover::testing
