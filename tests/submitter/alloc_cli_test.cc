// submitter/alloc_cli.h: `submit alloc` command lines as CLI11 parses them
// (what lands after `--`, which request each command makes) and their help
// as a user sees it, in 80 columns.

#include "submitter/alloc_cli.h"

#include <doctest/doctest.h>

#include <CLI/CLI.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "shared/help_format.h"

namespace drover::submit {
namespace {

// `submit` with its alloc commands, as main.cc builds it (less the options
// for the broker and the keys).
struct Cli {
  CLI::App app{"submit"};
  AllocCli alloc;
  CLI::App* alloc_app = alloc.AddTo(&app);

  // Parses `submit ARGS...`; the CLI11 error's text, or "" if none.
  std::string Parse(std::vector<std::string> args) {
    args.insert(args.begin(), "submit");
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    try {
      app.parse(static_cast<int>(argv.size()), argv.data());
    } catch (const CLI::ParseError& e) {
      return e.what();
    }
    return "";
  }
  AllocRequest Request() {
    REQUIRE(alloc.parsed());
    Result<AllocRequest> r = alloc.Request();
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.status().message()));
    return r.value();
  }
};

using Args = std::vector<std::string>;

TEST_CASE("alloc add: what follows -- is sbatch's, as given") {
  Cli cli;
  REQUIRE(cli.Parse({"alloc", "add", "slurm", "--time-limit", "1h", "--", "--partition", "debug",
                     "-N", "2"}) == "");
  const AllocRequest r = cli.Request();
  CHECK(r.op == AllocOp::kAdd);
  CHECK(r.params.manager == "slurm");
  CHECK(r.params.time_limit_ms == 3'600'000);
  CHECK(r.params.sbatch_args == Args{"--partition", "debug", "-N", "2"});
  CHECK(cli.alloc.command_name() == "alloc add");
}

TEST_CASE("alloc add: a repeated option just before -- leaves it alone") {
  // CLI11 lets a list option end at -- and swallows the --; then sbatch's
  // options would be taken for submit's. Each repeat takes one value.
  for (const char* last : {"--label", "--resource", "--worker-arg"}) {
    CAPTURE(last);
    Cli cli;
    const std::string value = std::string(last) == "--resource" ? "mem=4G" : "x";
    REQUIRE(cli.Parse({"alloc", "add", "slurm", "--time-limit", "1h", last, value, "--",
                       "--partition", "debug"}) == "");
    CHECK(cli.Request().params.sbatch_args == Args{"--partition", "debug"});
  }
}

TEST_CASE("alloc add: every option on the command line") {
  Cli cli;
  REQUIRE(cli.Parse({"alloc", "add", "--name", "gpu", "slurm", "--time-limit", "1-00:00:00",
                     "--max-workers", "8", "--workers-per-alloc", "2", "--backlog", "3",
                     "--idle-timeout", "10m", "--slots", "16", "--label", "gpu", "--label",
                     "zone=a", "--resource", "gpus=4", "--resource", "mem=500G", "--worker-arg",
                     "--key", "--worker-arg", "/k/w.key", "--worker-arg=--broker-key=/k/b.pub",
                     "--", "-p", "gpu", "--gres=gpu:4"}) == "");
  CHECK(cli.Request().params ==
        AllocQueueParams{.name = "gpu",
                         .manager = "slurm",
                         .time_limit_ms = 86'400'000,
                         .max_workers = 8,
                         .workers_per_alloc = 2,
                         .backlog = 3,
                         .idle_timeout_ms = 600'000,
                         .slots = 16,
                         .labels = {"gpu", "zone=a"},
                         .resources = {{"gpus", 4}, {"mem", 500ull << 30}},
                         .worker_args = {"--key", "/k/w.key", "--broker-key=/k/b.pub"},
                         .sbatch_args = {"-p", "gpu", "--gres=gpu:4"}});
}

TEST_CASE("alloc add: mistakes on the command line") {
  CHECK(Cli().Parse({"alloc", "add", "--time-limit", "1h"}).find("manager") != std::string::npos);
  CHECK(Cli().Parse({"alloc", "add", "slurm"}).find("--time-limit") != std::string::npos);
  CHECK(Cli().Parse({"alloc", "add", "slurm", "--time-limit", "1h", "--slots", "0"}) != "");
  CHECK(Cli().Parse({"alloc", "add", "slurm", "--time-limit", "1h", "--backlog", "-1"}) != "");
  CHECK(Cli().Parse({"alloc", "add", "slurm", "--time-limit", "1h", "--partition", "x"}) != "");
  // A word out of place lands among sbatch's arguments; the request says so.
  Cli stray;
  REQUIRE(stray.Parse({"alloc", "add", "slurm", "debug", "--time-limit", "1h"}) == "");
  CHECK(stray.alloc.Request().status().message().starts_with("sbatch arguments: \"debug\""));
  Cli bad;
  REQUIRE(bad.Parse({"alloc", "add", "slurm", "--time-limit", "soon"}) == "");
  CHECK(bad.alloc.Request().status().message().starts_with("--time-limit: "));
}

TEST_CASE("alloc list, info, remove and resume") {
  Cli list;
  REQUIRE(list.Parse({"alloc", "list"}) == "");
  CHECK(list.Request().op == AllocOp::kList);
  Cli info;
  REQUIRE(info.Parse({"alloc", "info", "3"}) == "");
  CHECK(info.Request().op == AllocOp::kInfo);
  CHECK(info.Request().queue == 3);
  Cli remove;
  REQUIRE(remove.Parse({"alloc", "remove", "4"}) == "");
  CHECK(remove.Request().op == AllocOp::kRemove);
  CHECK(remove.Request().queue == 4);
  CHECK_FALSE(remove.Request().now);
  Cli now;
  REQUIRE(now.Parse({"alloc", "remove", "4", "--now"}) == "");
  CHECK(now.Request().now);
  Cli resume;
  REQUIRE(resume.Parse({"alloc", "resume", "5"}) == "");
  CHECK(resume.Request().op == AllocOp::kResume);
  CHECK(resume.Request().queue == 5);
  CHECK(resume.alloc.command_name() == "alloc resume");

  CHECK(Cli().Parse({"alloc"}) != "");
  CHECK(Cli().Parse({"alloc", "info"}) != "");
  CHECK(Cli().Parse({"alloc", "info", "0"}) != "");
  CHECK(Cli().Parse({"alloc", "info", "three"}) != "");
  CHECK(Cli().Parse({"alloc", "resume", "1", "--now"}) != "");
}

TEST_CASE("alloc help fits 80 columns") {
  Cli cli;
  std::vector<const CLI::App*> apps = {cli.alloc_app};
  for (CLI::App* sub : cli.alloc.commands()) apps.push_back(sub);
  for (const CLI::App* app : apps) {
    const std::string help = app->help();
    CAPTURE(help);
    std::istringstream lines(help);
    for (std::string line; std::getline(lines, line);) CHECK(line.size() <= kHelpColumns);
  }
}

}  // namespace
}  // namespace drover::submit
