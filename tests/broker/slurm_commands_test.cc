// What the broker says to Slurm and how it reads the answers. The outputs
// quoted here were printed by Slurm 22.05 (Debian's slurm-wlm) under
// tests/integration/slurm.h, and sacct's by the same Slurm with slurmdbd
// and MariaDB; tests/integration/slurm_commands_test.cc runs the commands
// against the real thing. The batch script is run here too, with a
// stand-in for srun and for the worker.
#include "broker/slurm_commands.h"

#include <stdlib.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "broker/command_runner.h"

namespace drover::broker {
namespace {

using Argv = std::vector<std::string>;

AllocQueueParams Params() {
  AllocQueueParams p;
  p.time_limit_ms = 90 * 60'000;
  p.workers_per_alloc = 2;
  p.slots = 4;
  p.labels = {"gpu", "site=a"};
  p.resources = {{"gpus", 2}, {"mem", uint64_t{4} << 30}};
  p.idle_timeout_ms = 300'000;
  return p;
}

const AllocScriptContext kContext = {.worker_path = "/opt/drover/bin/worker",
                                     .broker_address = "tcp://head.example.org:7700"};

TEST_CASE("slurm commands: the job name and sbatch's command line") {
  CHECK(AllocJobName(3, 7) == "drover-q3-7");
  AllocQueueParams p = Params();
  p.sbatch_args = {"--partition=gpu", "--account", "my project"};
  CHECK(SbatchArgv(p, 3, 7, "/state/alloc/q3-7.sh", "/state/alloc/q3-7.out") ==
        Argv{"sbatch", "--parsable", "--job-name=drover-q3-7", "--nodes=2", "--time=0-01:30:00",
             "--output=/state/alloc/q3-7.out", "--ntasks-per-node=1", "--cpus-per-task=4",
             "--mem=4096M", "--partition=gpu", "--account", "my project",
             "/state/alloc/q3-7.sh"});
  // Memory rounds up to whole MiB; without a declared mem, Slurm's default.
  p.resources = {{"mem", (uint64_t{1} << 20) + 1}};
  CHECK(SbatchArgv(p, 3, 7, "s", "o")[8] == "--mem=2M");
  p.resources = {};
  CHECK(SbatchArgv(p, 3, 7, "s", "o")[8] == "--partition=gpu");
}

TEST_CASE("slurm commands: time limits as D-HH:MM:SS, rounded up to the second") {
  CHECK(SlurmDuration(59'000) == "0-00:00:59");
  CHECK(SlurmDuration(59'001) == "0-00:01:00");
  CHECK(SlurmDuration(90 * 60'000) == "0-01:30:00");
  CHECK(SlurmDuration(2 * 86'400'000 + 1'000) == "2-00:00:01");
  CHECK(SlurmDuration(400 * 86'400'000LL) == "400-00:00:00");
  CHECK(SlurmDuration(1) == "0-00:00:01");
  AllocQueueParams p = Params();
  p.time_limit_ms = 2 * 86'400'000 + 1'000;
  CHECK(SbatchArgv(p, 1, 1, "s", "o")[4] == "--time=2-00:00:01");
  // Slurm itself rounds up to the minute: scontrol showed TimeLimit=00:01:00
  // for --time=0-00:00:59 and 2-00:01:00 for --time=2-00:00:01.
}

TEST_CASE("slurm commands: sbatch --parsable's answer") {
  // Printed by sbatch --parsable: "1\n". With several clusters it adds
  // ";CLUSTER" (sbatch(1)).
  CHECK(ParseSbatch("1\n").value() == 1);
  CHECK(ParseSbatch("4242;drover\n").value() == 4242);
  CHECK(ParseSbatch("  17 \r\n").value() == 17);
  // A site's wrapper may print before it.
  CHECK(ParseSbatch("using account x\n99\n").value() == 99);

  auto error = [](std::string_view out) {
    Result<SlurmJobId> r = ParseSbatch(out);
    REQUIRE(!r.ok());
    return r.status().message();
  };
  CHECK(error("") == "expected a job id from sbatch --parsable, got \"\"");
  CHECK(error("Submitted batch job 12\n") ==
        "expected a job id from sbatch --parsable, got \"Submitted batch job 12\\n\"");
  CHECK(error("0\n") == "expected a job id from sbatch --parsable, got \"0\\n\"");
  CHECK(error("12x\n") == "expected a job id from sbatch --parsable, got \"12x\\n\"");
  CHECK(error("99999999999999999999\n").find("expected a job id") == 0);
}

TEST_CASE("slurm commands: squeue, every job of the user in every state") {
  CHECK(SqueueArgv({3, 4}) ==
        Argv{"squeue", "--noheader", "--me", "--states=all", "--format=%i|%T|%r"});
  // squeue --noheader --states=all --format=%i|%T|%r, jobs 1 to 7 a few
  // seconds after 3 was cancelled while it waited; 7 asked for 5 of the 2
  // nodes there are.
  const std::string out =
      "3|CANCELLED|Resources\n"
      "1|COMPLETED|None\n"
      "2|FAILED|NonZeroExitCode\n"
      "6|PENDING|Resources\n"
      "7|PENDING|PartitionConfig\n"
      "4|RUNNING|None\n"
      "5|RUNNING|None\n";
  CHECK(ParseSqueue(out) ==
        std::vector<SlurmJobReport>{{3, SlurmJobState::kEnded, "CANCELLED"},
                                    {1, SlurmJobState::kEnded, "COMPLETED"},
                                    {2, SlurmJobState::kEnded, "FAILED (NonZeroExitCode)"},
                                    {6, SlurmJobState::kPending, "PENDING (Resources)"},
                                    {7, SlurmJobState::kPending, "PENDING (PartitionConfig)"},
                                    {4, SlurmJobState::kRunning, "RUNNING"},
                                    {5, SlurmJobState::kRunning, "RUNNING"}});
  // Later: 4 ran past its --time=1; 2 was cancelled while it ran.
  CHECK(ParseSqueue("4|TIMEOUT|TimeLimit\n2|CANCELLED|None\n") ==
        std::vector<SlurmJobReport>{{4, SlurmJobState::kEnded, "TIMEOUT"},
                                    {2, SlurmJobState::kEnded, "CANCELLED"}});
  // Nothing at all (exit 0) once Slurm has forgotten every job.
  CHECK(ParseSqueue("").empty());
  // Output cut at the runner's cap: the cut line is no RUNN state.
  CHECK(ParseSqueue("1|RUNNING|None\n2|RUNN") ==
        std::vector<SlurmJobReport>{{1, SlurmJobState::kRunning, "RUNNING"}});
  CHECK(ParseSqueue("2|RUNN").empty());
  // Array and heterogeneous jobs of the same user are none of ours; a
  // reason may hold spaces and commas.
  CHECK(ParseSqueue("12_[1-10]|PENDING|Priority\n13_4|RUNNING|None\n14+0|RUNNING|None\n"
                    "15|PENDING|ReqNodeNotAvail, UnavailableNodes:node2\n") ==
        std::vector<SlurmJobReport>{
            {15, SlurmJobState::kPending, "PENDING (ReqNodeNotAvail, UnavailableNodes:node2)"}});
}

TEST_CASE("slurm commands: sacct, for jobs squeue has forgotten") {
  CHECK(EndedArgv({1, 2, 30}) == Argv{"sacct", "--noheader", "--parsable2", "--allocations",
                                      "--jobs=1,2,30", "--format=JobID,State,Reason,ExitCode"});
  // Printed by sacct with slurmdbd for jobs 1 to 6 (2 ran `exit 3`; 3 was
  // cancelled while it ran, 4 while it waited; 6 asked for 2 of 1 node).
  const std::string out =
      "1|COMPLETED|None|0:0\n"
      "2|FAILED|None|3:0\n"
      "3|CANCELLED by 0|None|0:0\n"
      "4|CANCELLED by 0|None|0:0\n"
      "5|RUNNING|None|0:0\n"
      "6|PENDING|PartitionConfig|0:0\n";
  CHECK(ParseEnded(out) ==
        std::vector<SlurmJobReport>{{1, SlurmJobState::kEnded, "COMPLETED"},
                                    {2, SlurmJobState::kEnded, "FAILED (ExitCode 3:0)"},
                                    {3, SlurmJobState::kEnded, "CANCELLED by 0"},
                                    {4, SlurmJobState::kEnded, "CANCELLED by 0"},
                                    {5, SlurmJobState::kRunning, "RUNNING"},
                                    {6, SlurmJobState::kPending, "PENDING (PartitionConfig)"}});
  // Without --allocations sacct adds each job's steps; they are skipped.
  CHECK(ParseEnded("1|COMPLETED|None|0:0\n1.batch|COMPLETED||0:0\n") ==
        std::vector<SlurmJobReport>{{1, SlurmJobState::kEnded, "COMPLETED"}});
  // Ids it does not know print nothing (exit 0).
  CHECK(ParseEnded("").empty());
  CHECK(ParseEnded("1|COMPLETED|None|0:0\n2|FAI").size() == 1);
  CHECK(UnknownEnd(9) == SlurmJobReport{9, SlurmJobState::kEnded, "no longer known to Slurm"});
}

TEST_CASE("slurm commands: scancel, and Slurm's states") {
  CHECK(ScancelArgv(12) == Argv{"scancel", "12"});
  for (const char* s : {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
                        "RESV_DEL_HOLD", "SPECIAL_EXIT"}) {
    CHECK_MESSAGE(SlurmStateOf(s) == SlurmJobState::kPending, s);
  }
  for (const char* s :
       {"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING"}) {
    CHECK_MESSAGE(SlurmStateOf(s) == SlurmJobState::kRunning, s);
  }
  for (const char* s : {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED",
                        "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY", "REVOKED", "", "running"}) {
    CHECK_MESSAGE(SlurmStateOf(s) == SlurmJobState::kEnded, s);
  }
}

TEST_CASE("slurm commands: the batch script's worker options") {
  const std::string script = AllocScript(Params(), 3, 7, kContext);
  INFO(script);
  CHECK(script.rfind("#!/bin/sh\n# drover-q3-7: ", 0) == 0);
  CHECK(script.find("exec srun --ntasks=\"$SLURM_JOB_NUM_NODES\" --ntasks-per-node=1 \\\n"
                    // srun does not take sbatch's -c since Slurm 22.05.
                    "  ${SLURM_CPUS_PER_TASK:+--cpus-per-task=\"$SLURM_CPUS_PER_TASK\"} \\\n"
                    "  sh -c \"$node_script\" drover-worker \\\n"
                    "  '/opt/drover/bin/worker' \\\n"
                    "  --broker 'tcp://head.example.org:7700' \\\n"
                    "  --slots '4' \\\n"
                    "  --label 'gpu' \\\n"
                    "  --label 'site=a' \\\n"
                    "  --resource 'gpus=2' \\\n"
                    "  --resource 'mem=4G' \\\n"
                    "  --idle-timeout '300s'\n") != std::string::npos);
  CHECK(script.find("--key") == std::string::npos);

  // An amount that does not read back exactly from "1.5G" goes as a number;
  // the idle timeout is rounded up to the second; keys when given.
  AllocQueueParams p = Params();
  p.resources = {{"mem", (uint64_t{3} << 29) + 1}};
  p.idle_timeout_ms = 1'500;
  AllocScriptContext ctx = kContext;
  ctx.key_file = "/home/u/.drover/worker.key";
  ctx.broker_key_file = "/home/u/.drover/broker.pub";
  const std::string other = AllocScript(p, 1, 2, ctx);
  CHECK(other.find("--resource 'mem=1610612737' \\\n"
                   "  --idle-timeout '2s' \\\n"
                   "  --key '/home/u/.drover/worker.key' \\\n"
                   "  --broker-key '/home/u/.drover/broker.pub'\n") != std::string::npos);
}

// A directory with a stand-in `srun` (it drops its options and runs the
// rest once, as on one node) and a stand-in worker (it writes its
// arguments, NUL-separated, and whether its state directory exists).
struct FakeNode {
  FakeNode() {
    std::string pattern = std::filesystem::temp_directory_path() / "drover-slurm-XXXXXX";
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    dir = pattern;
    std::filesystem::create_directories(dir + "/bin");
    std::filesystem::create_directories(dir + "/tmp");
    Write("bin/srun",
          "#!/bin/sh\nwhile [ $# -gt 0 ]; do case $1 in --*) shift ;; *) break ;; esac; "
          "done\nexec \"$@\"\n");
    Write("worker", "#!/bin/sh\nprintf '%s\\0' \"$@\" > " + dir +
                        "/args\n[ -d \"$4\" ] && echo yes > " + dir + "/had-state\nexit 5\n");
  }
  ~FakeNode() { std::filesystem::remove_all(dir); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name) << text;
    std::filesystem::permissions(dir + "/" + name, std::filesystem::perms::owner_all);
  }
  Argv Args() const {
    std::ifstream in(dir + "/args");
    const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Argv args;
    for (size_t start = 0; start < all.size();) {
      const size_t end = all.find('\0', start);
      args.push_back(all.substr(start, end - start));
      start = end + 1;
    }
    return args;
  }
  // Runs `argv` to its end with the runner, as the broker would.
  CommandResult Run(Argv argv) {
    CommandRunner runner;
    runner.Run(1, std::move(argv), 20'000);
    for (int i = 0; i < 400 && runner.pending() > 0; ++i) usleep(50'000);
    std::vector<CommandResult> results = runner.Take();
    REQUIRE(results.size() == 1);
    return results[0];
  }
  std::string dir;
};

std::string ShortHostName() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  const std::string host = name;
  return host.substr(0, host.find('.'));
}

TEST_CASE("slurm commands: the batch script runs each worker with every value as given") {
  FakeNode node;
  AllocQueueParams p = Params();
  // Values that a shell would split, expand or choke on.
  p.worker_args = {"--allow", "/opt/my tools/it's \"here\"", "--label", "$HOME`id`\\", "a\nb", ""};
  AllocScriptContext ctx = kContext;
  ctx.worker_path = node.dir + "/worker";
  ctx.broker_address = "tcp://head:7700 ';exit 9;'";
  node.Write("alloc.sh", AllocScript(p, 3, 7, ctx));

  CommandResult syntax = node.Run({"sh", "-n", node.dir + "/alloc.sh"});
  CHECK(syntax.exit_code == 0);
  CHECK(syntax.err == "");

  CommandResult r =
      node.Run({"env", "PATH=" + node.dir + "/bin:" + getenv("PATH"), "TMPDIR=" + node.dir + "/tmp",
                "SLURM_JOB_ID=42", "SLURM_JOB_NUM_NODES=1", "sh", node.dir + "/alloc.sh"});
  INFO(r.out << r.err << r.failure);
  CHECK(r.exit_code == 5);  // the worker's own
  const std::string host = ShortHostName();
  const std::string state = node.dir + "/tmp/drover-worker-42-" + host;
  CHECK(node.Args() == Argv{"--name",         host + "-42",
                            "--state-dir",    state,
                            "--broker",       "tcp://head:7700 ';exit 9;'",
                            "--slots",        "4",
                            "--label",        "gpu",
                            "--label",        "site=a",
                            "--resource",     "gpus=2",
                            "--resource",     "mem=4G",
                            "--idle-timeout", "300s",
                            "--allow",        "/opt/my tools/it's \"here\"",
                            "--label",        "$HOME`id`\\",
                            "a\nb",           ""});
  // Its state directory was there while it ran, and is gone.
  CHECK(std::filesystem::exists(node.dir + "/had-state"));
  CHECK(!std::filesystem::exists(state));
  CHECK(std::filesystem::is_empty(node.dir + "/tmp"));
}

}  // namespace
}  // namespace drover::broker
