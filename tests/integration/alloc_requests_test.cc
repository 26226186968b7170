// `submit alloc` against a real broker, without Slurm: what the broker keeps
// of its allocation queues across restarts, and how it answers mistakes.
// Queues here never ask Slurm for anything (no step waits); slurm_test.cc
// has the allocations themselves.

#include <signal.h>

#include <doctest/doctest.h>

#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

using std::chrono::seconds;

Run Alloc(Cluster& c, std::vector<std::string> args) {
  args.insert(args.begin(), {BinDir() + "/submit", "alloc"});
  args.insert(args.begin() + 3, {"--broker", c.endpoint()});
  return RunCommand(args, c.dir(), seconds(30));
}

TEST_CASE("submit alloc: queues come back after a restart, and a queue's id is never reused") {
  Cluster c;
  Run added = Alloc(c, {"add", "slurm", "--time-limit", "1h", "--label", "nobody", "--name",
                        "first"});
  REQUIRE_MESSAGE(added.exit_code == 0, added.err);
  CHECK(added.out.find("added allocation queue 1") != std::string::npos);
  REQUIRE(Alloc(c, {"add", "slurm", "--time-limit", "2h", "--label", "nobody", "--name",
                    "second", "--", "--partition", "debug"}).exit_code == 0);
  Run removed = Alloc(c, {"remove", "1"});
  CHECK(removed.exit_code == 0);
  CHECK(removed.out.find("it had no allocations left") != std::string::npos);

  // Stopped (a snapshot is taken), then killed (the journal alone).
  c.broker().Signal(SIGTERM);
  REQUIRE(c.broker().Wait(seconds(10)).has_value());
  c.RestartBroker();
  Run list = Alloc(c, {"list"});
  CHECK(list.out == "2  second  slurm  active  0 running, 0 waiting, 0 workers\n");
  Run info = Alloc(c, {"info", "2"});
  CHECK(info.out.find("sbatch options: --partition debug") != std::string::npos);
  CHECK(Alloc(c, {"remove", "2"}).exit_code == 0);
  c.KillBroker();
  c.RestartBroker();
  CHECK(Alloc(c, {"list"}).out == "no allocation queues\n");
  added = Alloc(c, {"add", "slurm", "--time-limit", "1h"});
  CHECK(added.out.find("added allocation queue 3") != std::string::npos);
  INFO(c.BrokerLogs());
  CHECK(c.broker().running());
}

TEST_CASE("submit alloc: mistakes are named, locally or by the broker") {
  Cluster c;
  Run unknown = Alloc(c, {"info", "7"});
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err == "submit: no allocation queue 7 (`submit alloc list` shows them)\n");
  CHECK(Alloc(c, {"resume", "7"}).exit_code == 2);
  Run no_limit = Alloc(c, {"add", "slurm"});
  CHECK(no_limit.exit_code == 2);
  CHECK(no_limit.err.find("--time-limit") != std::string::npos);
  Run named = Alloc(c, {"add", "slurm", "--time-limit", "1h", "--worker-arg=--name=x"});
  CHECK(named.exit_code == 2);
  CHECK(named.err.find("--worker-arg --name") != std::string::npos);
  // Loopback: the broker says its workers could not reach it from a node.
  Run added = Alloc(c, {"add", "slurm", "--time-limit", "1h"});
  CHECK(added.exit_code == 0);
  CHECK(added.out.find("warning: that is a loopback address") != std::string::npos);
  Run resumed = Alloc(c, {"resume", "1"});
  CHECK(resumed.exit_code == 0);
  CHECK(resumed.out == "allocation queue 1 is not paused: nothing to do\n");
}

}  // namespace
}  // namespace drover::testing
