// The real `submit` with a job file of many problems: it prints the first
// kProblemsShown (submitter/shown_problems.h) and counts the rest, whether
// it found them itself or the broker did; `submit validate --all` prints
// them all.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "submitter/shown_problems.h"
#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

using std::chrono::seconds;
using submit::kProblemsShown;

// A job of `count` steps, each with `bad` among its fields.
std::string StepsWith(size_t count, const std::string& bad) {
  std::string json = R"({"steps": [)";
  for (size_t i = 0; i < count; ++i) {
    json += (i ? ",\n" : "\n") + std::string(R"({"id": "s)") + std::to_string(i) +
            R"(", "cmd": "true", )" + bad + "}";
  }
  return json + "]}";
}

TEST_CASE("submit validate prints the first 50 of 200,000 problems, and --all every one") {
  TempDir d;
  const std::string file = d.Write("job.json", StepsWith(200'000, R"("slots": 0)"));
  const Run cut = RunCommand({BinDir() + "/submit", "validate", file}, d, seconds(120));
  CHECK(cut.exit_code == 2);
  const std::vector<std::string> lines = Lines(cut.err);
  REQUIRE_MESSAGE(lines.size() == kProblemsShown + 2, cut.err.substr(0, 2000));
  CHECK(lines[0] == "submit: " + file + " has 200000 problems:");
  CHECK(lines[1] == "  steps[0] (id \"s0\").slots: must be between 1 and 65536, got 0");
  CHECK(lines[kProblemsShown] ==
        "  steps[49] (id \"s49\").slots: must be between 1 and 65536, got 0");
  CHECK(lines.back() == "  ... and 199950 more problems (--all lists them all)");

  const Run all = RunCommand({BinDir() + "/submit", "validate", "--all", file}, d, seconds(120));
  CHECK(all.exit_code == 2);
  const std::vector<std::string> every = Lines(all.err);
  CHECK(every.size() == 200'001);
  CHECK(every.back() ==
        "  steps[199999] (id \"s199999\").slots: must be between 1 and 65536, got 0");
}

TEST_CASE("submit FILE prints the first 50 problems it finds before sending") {
  TempDir d;
  const std::string file = d.Write("job.json", StepsWith(60, R"("retries": -1)"));
  // No broker is needed: the file never leaves.
  const Run r =
      RunCommand({BinDir() + "/submit", file, "--broker", "tcp://127.0.0.1:1"}, d, seconds(30));
  CHECK(r.exit_code == 2);
  const std::vector<std::string> lines = Lines(r.err);
  REQUIRE_MESSAGE(lines.size() == kProblemsShown + 2, r.err);
  CHECK(lines[0] == "submit: " + file + " has 60 problems:");
  CHECK(lines.back() == "  ... and 10 more problems (`submit validate --all` lists them all)");
}

TEST_CASE("submit prints the first 50 problems of the broker's, counting the rest it left out") {
  // The broker allows one variable a step; submit, by default, 4096.
  Cluster c({.broker_args = {"--max-env-vars", "1"}});
  const std::string file =
      c.dir().Write("job.json", StepsWith(3000, R"("env": {"A": "1", "B": "2"})"));
  const Run r = c.Submit(file);
  CHECK(r.exit_code == 2);
  const std::vector<std::string> lines = Lines(r.err);
  REQUIRE_MESSAGE(lines.size() == kProblemsShown + 2, r.err.substr(0, 2000));
  CHECK(lines[0] == "submit: the broker rejected " + file + ":");
  CHECK(lines[1] == "  steps[0] (id \"s0\").env: has 2 variables, more than the limit of 1");
  // The broker sent 1000 and a count of the other 2000.
  CHECK(lines.back() == "  ... and 2950 more problems (`submit validate --all` lists them all)");
}

}  // namespace
}  // namespace drover::testing
