// submit's conveniences for a person at a terminal (docs/submit.md):
// tcp://127.0.0.1:7700 when no broker is given to a question, several jobs
// to --cancel at once, a job file on stdin (`submit -`), and --no-key for a
// broker without keys when ~/.config/drover has a key.

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

}  // namespace drover::testing
