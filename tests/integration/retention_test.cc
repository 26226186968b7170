// Retention: a job that ended is forgotten --forget-after later, or at once
// with `submit forget`: gone from status, from the spool and, across
// restarts, from the journal; its id is never handed out again, and a
// question about it is told it was forgotten.

#include <signal.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

Run Submit(Cluster& c, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {BinDir() + "/submit"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--broker", c.endpoint()});
  return RunCommand(argv, c.dir(), seconds(60));
}

Run StatusOf(Cluster& c) { return Submit(c, {"status"}); }

// Whether `submit status` has a job line starting with `text`.
bool Lists(Cluster& c, const std::string& text) {
  return StatusOf(c).out.find("\n  " + text) != std::string::npos;
}

// The spool's files of job `id` (events, job file, captured stdout).
std::vector<std::string> SpoolFiles(Cluster& c, int id) {
  std::vector<std::string> files;
  const std::string prefix = std::to_string(id) + ".";
  for (const auto& e : std::filesystem::directory_iterator(c.dir().path() + "/state/spool")) {
    const std::string name = e.path().filename().string();
    if (name.starts_with(prefix)) files.push_back(name);
  }
  return files;
}

// A producer whose stdout the spool captures, and its consumer.
const nlohmann::json kPipeJob = {
    {"name", "pipe"},
    {"steps",
     {{{"id", "make"}, {"argv", {"echo", "hello"}}},
      {{"id", "take"}, {"argv", {"cat"}}, {"stdin_from", "make"}, {"after", {"make"}}}}}};

TEST_CASE("retention: a job is forgotten --forget-after it ended, files and all") {
  Cluster c({.broker_args = {"--forget-after", "2s"}});
  c.AddWorker("w1", 2);
  Run first = c.Submit(c.dir().Write("pipe.json", kPipeJob.dump()));
  REQUIRE_MESSAGE(first.exit_code == 0, first.err);
  CHECK(Lists(c, "job 1 (pipe): succeeded,"));
  const std::vector<std::string> files = SpoolFiles(c, 1);
  CHECK(files.size() == 3);  // 1.events, 1.job, 1.stdout.0

  CHECK(WaitUntil(milliseconds(10'000), [&] { return !Lists(c, "job 1 ("); }));
  CHECK(SpoolFiles(c, 1).empty());
  CHECK(c.BrokerLogs().find("forgot job 1 that ended more than 2s ago") != std::string::npos);

  Run watch = Submit(c, {"--watch", "1"});
  CHECK(watch.exit_code == 2);
  CHECK(watch.err.find("job 1 was forgotten: the broker forgets a job 2s after it ends") !=
        std::string::npos);
  Run resume = Submit(c, {"--resume", "1"});
  CHECK(resume.exit_code == 2);
  CHECK(resume.err.find("job 1 was forgotten") != std::string::npos);
  // The id is not handed out again, before or after a restart.
  Run second = c.Submit(c.dir().path() + "/pipe.json", {"--detach"});
  CHECK(second.out == "2\n");
  c.KillBroker();
  c.RestartBroker();
  CHECK(WaitUntil(milliseconds(10'000), [&] { return !Lists(c, "job 2 ("); }));
  CHECK(c.Submit(c.dir().path() + "/pipe.json", {"--detach"}).out == "3\n");
}

TEST_CASE("retention: submit forget forgets ended jobs and says why not for the others") {
  Cluster c;
  c.AddWorker("w1", 2);
  REQUIRE(c.Submit(c.dir().Write("pipe.json", kPipeJob.dump())).exit_code == 0);
  const nlohmann::json slow = {{"name", "slow"},
                               {"steps", {{{"id", "nap"}, {"argv", {"sleep", "30"}}}}}};
  REQUIRE(c.Submit(c.dir().Write("slow.json", slow.dump()), {"--detach"}).exit_code == 0);

  Run forget = Submit(c, {"forget", "1", "2", "9"});
  CHECK(forget.exit_code == 2);
  CHECK(forget.out == "forgot job 1\n");
  CHECK(forget.err.find("job 2 is still running: cancel it first (submit --cancel 2)") !=
        std::string::npos);
  CHECK(forget.err.find("no job 9") != std::string::npos);
  CHECK(SpoolFiles(c, 1).empty());
  Run status = StatusOf(c);
  CHECK(status.out.find("job 1 ") == std::string::npos);
  CHECK(status.out.find("job 2 (slow): running") != std::string::npos);
  // Asking twice is asking once.
  CHECK(Submit(c, {"forget", "1"}).exit_code == 0);

  // Forgotten for good: the journal says so after a crash, and the job's
  // submission key no longer finds it.
  c.KillBroker();
  c.RestartBroker();
  status = StatusOf(c);
  INFO(c.BrokerLogs());
  CHECK(status.out.find("job 1 ") == std::string::npos);
  CHECK(status.out.find("job 2 (slow): running") != std::string::npos);
  Run watch = Submit(c, {"--watch", "1"});
  CHECK(watch.err.find("job 1 was forgotten") != std::string::npos);
  CHECK(Submit(c, {"forget", "1"}).exit_code == 0);
}

TEST_CASE("retention: the time a job ended survives a restart") {
  Cluster c({.broker_args = {"--forget-after", "8s"}});
  c.AddWorker("w1", 1);
  REQUIRE(c.Submit(c.dir().Write("pipe.json", kPipeJob.dump())).exit_code == 0);
  const auto ended = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(seconds(3));
  c.KillBroker();
  c.RestartBroker();
  REQUIRE(Lists(c, "job 1 (pipe): succeeded,"));
  // Forgotten 8 s after it ended, not 8 s after the restart.
  CHECK(WaitUntil(milliseconds(20'000), [&] { return !Lists(c, "job 1 ("); }));
  const auto forgotten = std::chrono::steady_clock::now();
  CHECK(forgotten - ended < milliseconds(10'500));
  CHECK(SpoolFiles(c, 1).empty());
}

}  // namespace
}  // namespace drover::testing
