// submit's conveniences for a person at a terminal (docs/submit.md):
// tcp://127.0.0.1:7700 when no broker is given to a question, several jobs
// to --cancel at once, a job file on stdin (`submit -`), --no-key for a
// broker without keys when ~/.config/drover has a key, and choosing what is
// shown (--quiet, --show, --color).

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

using std::chrono::seconds;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Whether nothing listens on 127.0.0.1:`port` (a bind there succeeds).
bool PortFree(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool free = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return free;
}

const char* kHello = R"({"steps": [{"id": "a", "argv": ["echo", "hello"]}]})";
const char* kLong = R"({"steps": [{"id": "long", "argv": ["sleep", "60"]}]})";

}  // namespace

TEST_CASE("submit: with no broker given, status and --watch ask tcp://127.0.0.1:7700") {
  if (!PortFree(7700)) {
    MESSAGE("skipped: something listens on 127.0.0.1:7700");
    return;
  }
  TempDir dir;
  // env -u: a DROVER_BROKER of the test's own environment must not count.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"status"}, {"--watch", "1"}, {"forget", "1"}}) {
    std::vector<std::string> argv = {
        "/usr/bin/env", "-u", "DROVER_BROKER", BinDir() + "/submit", "--connect-timeout", "2"};
    argv.insert(argv.end(), args.begin(), args.end());
    Run r = RunCommand(argv, dir, seconds(60));
    INFO(args[0] << ": " << r.err);
    CHECK(r.exit_code == 3);  // unreachable, not a usage error
    CHECK(Contains(r.err, "tcp://127.0.0.1:7700"));
    CHECK(Contains(r.err, "connection refused"));
    CHECK(Contains(r.err, "neither --broker nor DROVER_BROKER"));
    CHECK(!Contains(r.err, "needs a broker"));
  }
}

TEST_CASE("submit: --cancel takes several jobs, a line each, and names those it could not") {
  Cluster c;
  c.AddWorker("w", 2);
  const std::string job = c.dir().Write("long.json", kLong);
  Run first = c.Submit(job, {"--detach"});
  Run second = c.Submit(job, {"--detach"});
  REQUIRE(first.exit_code == 0);
  REQUIRE(second.exit_code == 0);
  const std::string a = first.out.substr(0, first.out.find('\n'));
  const std::string b = second.out.substr(0, second.out.find('\n'));
  Run both = RunCommand({BinDir() + "/submit", "--cancel", a, b, "--broker", c.endpoint()}, c.dir(),
                        seconds(60));
  CHECK_MESSAGE(both.exit_code == 0, both.err);
  CHECK(both.out == "job " + a + " is being cancelled\njob " + b + " is being cancelled\n");
  // An id the broker never gave among them: the others still go, and it is named.
  Run mixed = RunCommand({BinDir() + "/submit", "--cancel", a, "999", b, "--broker", c.endpoint()},
                         c.dir(), seconds(60));
  INFO(mixed.err);
  CHECK(mixed.exit_code == 2);
  CHECK(mixed.out == "job " + a + " is being cancelled\njob " + b + " is being cancelled\n");
  CHECK(Contains(mixed.err, "not cancelled: job 999"));
}

TEST_CASE("submit: - reads the job file from stdin, JSON or MessagePack") {
  Cluster c;
  c.AddWorker("w", 1);
  const std::string json = c.dir().Write("hello.json", kHello);
  const std::string packed = c.dir().path() + "/hello.msgpack";
  REQUIRE(
      RunCommand({BinDir() + "/submit", "convert", json, packed}, c.dir(), seconds(30)).exit_code ==
      0);
  for (const std::string& file : {json, packed}) {
    Run r = RunCommand({"/bin/sh", "-c", "exec \"$0\" - --broker \"$1\" < \"$2\"",
                        BinDir() + "/submit", c.endpoint(), file},
                       c.dir(), seconds(60));
    INFO(file << ": " << r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out == "[a] hello\n");
  }
  // Its problems are stdin's.
  const std::string bad = c.dir().Write("bad.json", R"({"steps": [{"id": "a"}]})");
  Run r = RunCommand({"/bin/sh", "-c", "exec \"$0\" - --broker \"$1\" < \"$2\"",
                      BinDir() + "/submit", c.endpoint(), bad},
                     c.dir(), seconds(60));
  CHECK(r.exit_code == 2);
  CHECK_MESSAGE(Contains(r.err, "stdin has "), r.err);
}

TEST_CASE("submit: --no-key reaches a broker without keys when ~/.config/drover has one") {
  Cluster c;  // no keys
  const std::string config = c.dir().path() + "/config";
  std::filesystem::create_directories(config + "/drover");
  for (const char* name : {"user", "broker"}) {
    REQUIRE(RunCommand({BinDir() + "/submit", "keygen", config + "/drover/" + name}, c.dir(),
                       seconds(30))
                .exit_code == 0);
  }
  const std::map<std::string, std::string> env = {{"XDG_CONFIG_HOME", config}};
  Run keyed = RunCommand({BinDir() + "/submit", "status", "--broker", c.endpoint()}, c.dir(),
                         seconds(60), env);
  INFO(keyed.err);
  CHECK(keyed.exit_code == 2);
  CHECK(Contains(keyed.err, "found in ~/.config/drover"));
  CHECK(Contains(keyed.err, "give --no-key"));
  Run none = RunCommand({BinDir() + "/submit", "status", "--no-key", "--broker", c.endpoint()},
                        c.dir(), seconds(60), env);
  CHECK_MESSAGE(none.exit_code == 0, none.err);
  CHECK(none.out.starts_with("0 worker(s)"));
  // A job file too; and --no-key with --key is a contradiction.
  c.AddWorker("w", 1);
  const std::string job = c.dir().Write("hello.json", kHello);
  Run run = c.Submit(job, {"--no-key"});
  CHECK_MESSAGE(run.exit_code == 0, run.err);
  Run both =
      RunCommand({BinDir() + "/submit", job, "--no-key", "--key", config + "/drover/user.key"},
                 c.dir(), seconds(60));
  CHECK(both.exit_code == 2);
}

TEST_CASE("submit: --quiet and --show choose whose output is printed, checked before it runs") {
  Cluster c;
  c.AddWorker("w", 2);
  const std::string job = c.dir().Write("three.json", R"({"steps": [
      {"id": "prep", "cmd": "echo preparing"},
      {"id": "train-a", "after": ["prep"], "cmd": "echo a-out; echo a-err >&2"},
      {"id": "train-b", "after": ["prep"], "cmd": "echo b-out; echo boom >&2; exit 4"}]})");
  // --quiet: no step's output, but the failed step's under its failure.
  Run quiet = c.Submit(job, {"--quiet"});
  CHECK(quiet.exit_code == 1);
  CHECK(quiet.out.empty());
  INFO(quiet.err);
  CHECK(Contains(quiet.err, "[train-b] failed: exited with code 4; its output:\n"));
  CHECK(Contains(quiet.err, "[train-b]   boom\n"));
  CHECK(Contains(quiet.err, "[train-b]   b-out\n"));
  CHECK_FALSE(Contains(quiet.err, "a-err"));
  CHECK(Contains(quiet.err, "job 1 failed after "));
  // --show: ids (a comma list) and globs.
  Run some = c.Submit(job, {"--show", "prep,train-a"});
  CHECK(some.out == "[prep] preparing\n[train-a] a-out\n");
  CHECK(Contains(some.err, "[train-a] a-err\n"));
  CHECK(Contains(some.err, "[train-b]   boom\n"));  // hidden, failed: quoted
  Run glob = c.Submit(job, {"--show", "train-*"});
  CHECK_FALSE(Contains(glob.out, "[prep]"));
  CHECK(Contains(glob.out, "[train-a] a-out\n"));
  CHECK(Contains(glob.out, "[train-b] b-out\n"));
  // A step the job does not have: said before anything is sent.
  Run typo = c.Submit(job, {"--show", "trian-a"});
  CHECK(typo.exit_code == 2);
  CHECK(typo.err ==
        "submit: --show: " + job + " has no step \"trian-a\" (did you mean \"train-a\"?)\n");
  Run status = RunCommand({BinDir() + "/submit", "status", "--broker", c.endpoint()}, c.dir(),
                          seconds(30));
  CHECK(Contains(status.out, "\n3 job(s)\n"));
  // --watch learns the steps from the broker; --resume asks before it runs.
  Run watch = RunCommand(
      {BinDir() + "/submit", "--watch", "2", "--show", "train-a", "--broker", c.endpoint()},
      c.dir(), seconds(60));
  CHECK(watch.out == "[train-a] a-out\n");
  Run wrong = RunCommand(
      {BinDir() + "/submit", "--watch", "2", "--show", "eval-*", "--broker", c.endpoint()}, c.dir(),
      seconds(60));
  CHECK(wrong.exit_code == 2);
  CHECK(wrong.err == "submit: --show: no step of job 2 matches \"eval-*\"\n");
  Run resume = RunCommand(
      {BinDir() + "/submit", "--resume", "2", "--show", "nope", "--broker", c.endpoint()}, c.dir(),
      seconds(60));
  CHECK(resume.exit_code == 2);
  CHECK(resume.err == "submit: --show: job 2 has no step \"nope\"\n");
  status = RunCommand({BinDir() + "/submit", "status", "--broker", c.endpoint()}, c.dir(),
                      seconds(30));
  CHECK(Contains(status.out, "\n3 job(s)\n"));
}

TEST_CASE("submit: colour only where asked for: --color always, never NO_COLOR's or a pipe's") {
  Cluster c;
  c.AddWorker("w", 1);
  const std::string job =
      c.dir().Write("fails.json", R"({"steps": [{"id": "x", "cmd": "echo out; exit 3"}]})");
  // Not a terminal: none, whatever NO_COLOR says.
  Run plain = c.Submit(job);
  CHECK(plain.exit_code == 1);
  CHECK_FALSE(Contains(plain.out + plain.err, "\033["));
  // --color always: Drover's words, not the step's.
  Run always = RunCommand(
      {BinDir() + "/submit", job, "--broker", c.endpoint(), "--color", "always"}, c.dir(),
      seconds(60), {{"NO_COLOR", "1"}});
  CHECK(always.out == "\033[2m[x]\033[0m out\n");
  CHECK(Contains(always.err, "\033[2m[x]\033[0m \033[31mfailed: exited with code 3\033[0m\n"));
  Run never = RunCommand({BinDir() + "/submit", job, "--broker", c.endpoint(), "--color", "never"},
                         c.dir(), seconds(60));
  CHECK_FALSE(Contains(never.out + never.err, "\033["));
  Run bad = RunCommand({BinDir() + "/submit", job, "--broker", c.endpoint(), "--color", "yes"},
                       c.dir(), seconds(60));
  CHECK(bad.exit_code == 2);
}

TEST_CASE("every program's --help, and each command's, fits an 80-column terminal") {
  TempDir dir;
  const std::vector<std::vector<std::string>> helps = {
      {"broker"},           {"worker"},          {"submit"},
      {"submit", "jobs"},   {"submit", "info"},  {"submit", "logs"},
      {"submit", "workers"}, {"submit", "trace"}, {"submit", "forget"}, {"submit", "status"},
      {"submit", "worker", "drain"}, {"submit", "alloc", "add"}, {"submit", "validate"}};
  for (std::vector<std::string> argv : helps) {
    std::string command;
    for (const std::string& word : argv) command += word + " ";
    CAPTURE(command);
    argv[0] = BinDir() + "/" + argv[0];
    argv.push_back("--help");
    const Run help = RunCommand(argv, dir);
    CHECK(help.exit_code == 0);
    CHECK(help.out.find("Usage:") != std::string::npos);
    for (const std::string& line : Lines(help.out)) CHECK_MESSAGE(line.size() <= 80, line);
  }
}

}  // namespace drover::testing
