// Worker restrictions end to end: `worker --allow PREFIX` and the loader
// variables, with a real broker, worker and `submit`. A refused step fails
// with the worker's reason; the worker carries on.

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

std::string Script(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.Write(name, "#!/bin/sh\necho " + text + "\n");
  REQUIRE(chmod(path.c_str(), 0755) == 0);
  return path;
}

std::string Reason(const std::map<std::string, nlohmann::json>& states, const std::string& step) {
  REQUIRE_MESSAGE(states.count(step), step);
  return states.at(step).at("reason").get<std::string>();
}

TEST_CASE("worker --allow runs only programs under its prefixes, resolved as exec finds them") {
  Cluster c;
  const TempDir& d = c.dir();
  REQUIRE(mkdir((d.path() + "/jobs").c_str(), 0755) == 0);
  REQUIRE(mkdir((d.path() + "/jobsX").c_str(), 0755) == 0);
  const std::string ok = Script(d, "jobs/ok.sh", "allowed");
  const std::string evil = Script(d, "jobsX/evil.sh", "evil");
  REQUIRE(symlink("/bin/echo", (d.path() + "/jobs/echo-link").c_str()) == 0);
  // A directory of the allow-list reached through a symlink still counts.
  REQUIRE(symlink((d.path() + "/jobs").c_str(), (d.path() + "/jobs-alias").c_str()) == 0);
  c.AddWorker("w1", 2, {}, {"--allow", d.path() + "/jobs"});

  const std::string file = d.Write("job.json", R"({"defaults": {"retries": 0}, "steps": [
    {"id": "ok", "argv": [")" + ok + R"("]},
    {"id": "alias", "argv": [")" + d.path() + R"(/jobs-alias/ok.sh"]},
    {"id": "on-path", "argv": ["ok.sh"], "env": {"PATH": ")" +
                                                   d.path() + R"(/jobs"}},
    {"id": "sibling", "argv": [")" + evil + R"("]},
    {"id": "dotdot", "argv": [")" + d.path() + R"(/jobs/../jobsX/evil.sh"]},
    {"id": "symlink", "argv": [")" + d.path() + R"(/jobs/echo-link", "out"]},
    {"id": "rm", "argv": ["rm", "-f", "/nonexistent"]},
    {"id": "shell", "cmd": "echo from a shell"},
    {"id": "loader", "argv": [")" + ok + R"("], "env": {"LD_PRELOAD": "/nonexistent.so"}}
  ]})");
  int exit_code = 0;
  const auto events = c.SubmitJson(file, &exit_code);
  CHECK(exit_code != 0);
  const auto states = FinalStates(events);
  for (const char* step : {"ok", "alias", "on-path"}) {
    CHECK_MESSAGE(states.at(step).at("state") == "succeeded", step, " ", states.at(step).dump());
  }
  const std::string prefix = "(" + d.path() + "/jobs/)";
  for (const char* step : {"sibling", "dotdot", "symlink", "rm", "shell", "loader"}) {
    CHECK_MESSAGE(states.at(step).at("state") == "failed", step);
    CHECK_MESSAGE(Reason(states, step).find("refused by worker w1: ") != std::string::npos, step,
                  ": ", Reason(states, step));
  }
  CHECK(Reason(states, "sibling")
            .find(d.path() + "/jobsX/evil.sh is not under an allowed prefix " + prefix) !=
        std::string::npos);
  CHECK(Reason(states, "dotdot").find("(" + d.path() + "/jobsX/evil.sh) is not under") !=
        std::string::npos);
  CHECK(Reason(states, "rm").find("\"rm\" (") != std::string::npos);
  CHECK(Reason(states, "shell").find("\"/bin/sh\" (") != std::string::npos);
  CHECK(Reason(states, "loader").find("LD_PRELOAD") != std::string::npos);
  // Nothing refused ran: no output from them.
  for (const auto& e : EventsOf(events, "output")) {
    CHECK_MESSAGE(e.at("data").get<std::string>().find("evil") == std::string::npos, e.dump());
  }
}

TEST_CASE("allowing the shell lets cmd steps run and --allow-loader-env lets loader variables in") {
  Cluster c;
  c.AddWorker("w1", 1, {}, {"--allow", "/bin/sh", "--allow-loader-env"});
  const std::string file = c.dir().Write("job.json", R"({"steps": [
    {"id": "shell", "cmd": "echo from a shell"},
    {"id": "loader", "cmd": "echo bound $LD_BIND_NOW", "env": {"LD_BIND_NOW": "1"}}
  ]})");
  Run r = c.Submit(file);
  CHECK_MESSAGE(r.exit_code == 0, r.out, r.err);
  CHECK(r.out.find("[shell] from a shell") != std::string::npos);
  CHECK(r.out.find("[loader] bound 1") != std::string::npos);
}

TEST_CASE("a worker refuses an --allow that does not exist, naming it") {
  TempDir d;
  Run r = RunCommand({BinDir() + "/worker", "--broker", "tcp://127.0.0.1:1", "--state-dir",
                      d.path() + "/state", "--allow", d.path() + "/no-such-dir"},
                     d, std::chrono::seconds(30));
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--allow " + d.path() + "/no-such-dir") != std::string::npos);
}

}  // namespace
}  // namespace drover::testing
