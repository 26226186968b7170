// Broker addresses end to end: the three programs check every address they
// are given before using one (shared/endpoint.h), and `submit` says why it
// cannot reach a broker: the host name does not resolve, the connection was
// refused, or no answer came.

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

using std::chrono::seconds;

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

size_t Count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// A TCP port that takes connections (the kernel completes them) and never
// says a word: a broker that does not answer.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(listen(fd_, 16) == 0);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

const char* const kMustLook = "address must look like tcp://HOST:PORT";

TEST_CASE("submit refuses a broker address without a scheme, from --broker or DROVER_BROKER") {
  TempDir d;
  const std::string job = d.Write("job.json", R"({"steps": [{"id": "a", "cmd": "true"}]})");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"status", "--broker", "127.0.0.1:7700"},
        std::vector<std::string>{job, "--broker", "127.0.0.1:7700"},
        std::vector<std::string>{"worker", "drain", "w1", "--broker", "127.0.0.1:7700"}}) {
    std::vector<std::string> argv = {BinDir() + "/submit"};
    argv.insert(argv.end(), args.begin(), args.end());
    Run r = RunCommand(argv, d, seconds(30));
    CAPTURE(args[0]);
    CHECK(r.exit_code == 2);
    CHECK(Has(r.err, std::string("submit: --broker: ") + kMustLook + ", got \"127.0.0.1:7700\""));
    CHECK(Has(r.err, "did you mean tcp://127.0.0.1:7700?"));
  }
  Run env = RunCommand({BinDir() + "/submit", "status"}, d, seconds(30),
                       {{"DROVER_BROKER", "localhost:7700"}});
  CHECK(env.exit_code == 2);
  CHECK(Has(env.err,
            std::string("submit: DROVER_BROKER: ") + kMustLook + ", got \"localhost:7700\""));
  // A command that never talks to a broker does not mind.
  Run validate = RunCommand({BinDir() + "/submit", "validate", job}, d, seconds(30),
                            {{"DROVER_BROKER", "localhost:7700"}});
  CHECK(validate.exit_code == 0);
}

TEST_CASE("worker refuses a broker address without a scheme, from --broker or DROVER_BROKER") {
  TempDir d;
  Run flag = RunCommand(
      {BinDir() + "/worker", "--broker", "127.0.0.1:7700", "--state-dir", d.path() + "/state"}, d,
      seconds(30));
  CHECK(flag.exit_code == 2);
  CHECK(Has(flag.err, std::string("worker: --broker: ") + kMustLook + ", got \"127.0.0.1:7700\""));
  Run env = RunCommand({BinDir() + "/worker", "--state-dir", d.path() + "/state"}, d, seconds(30),
                       {{"DROVER_BROKER", "tcp://head"}});
  CHECK(env.exit_code == 2);
  CHECK(Has(env.err,
            std::string("worker: DROVER_BROKER: ") + kMustLook + ", got \"tcp://head\" (no PORT)"));
}

TEST_CASE("broker refuses --bind and --advertise addresses it could not use, before keys") {
  TempDir d;
  Run bind = RunCommand(
      {BinDir() + "/broker", "--bind", "127.0.0.1:7903", "--state-dir", d.path() + "/state"}, d,
      seconds(30));
  CHECK(bind.exit_code == 2);
  CHECK(Has(bind.err, std::string("broker: --bind: ") + kMustLook + ", got \"127.0.0.1:7903\""));
  CHECK_FALSE(Has(bind.err, "key"));
  Run any_port = RunCommand(
      {BinDir() + "/broker", "--bind", "tcp://127.0.0.1:*", "--state-dir", d.path() + "/state"}, d,
      seconds(30));
  CHECK(any_port.exit_code == 2);
  CHECK(Has(any_port.err, "with * or 0 the broker would listen on any free port"));
  Run advertise = RunCommand(
      {BinDir() + "/broker", "--advertise", "tcp://*:7700", "--state-dir", d.path() + "/state"}, d,
      seconds(30));
  CHECK(advertise.exit_code == 2);
  CHECK(Has(advertise.err, std::string("broker: --advertise: ") + kMustLook));
}

TEST_CASE("submit says the connection was refused when nothing listens on the port") {
  TempDir d;
  const std::string broker = "tcp://127.0.0.1:" + std::to_string(FreePort());
  Run r =
      RunCommand({BinDir() + "/submit", "--connect-timeout", "0.5", "status", "--broker", broker},
                 d, seconds(30));
  CHECK(r.exit_code == 3);
  CHECK(Has(r.err, "submit: cannot reach the broker at " + broker +
                       ": connection refused (is the broker running?)"));
}

TEST_CASE("submit says the host is unknown when its name does not resolve") {
  TempDir d;
  // .invalid never resolves (RFC 6761).
  const std::string broker = "tcp://nohost.invalid:7700";
  Run r = RunCommand({BinDir() + "/submit", "status", "--broker", broker}, d, seconds(30));
  CHECK(r.exit_code == 3);
  const std::string said = "submit: cannot reach the broker at " + broker + ": ";
  // Without a resolver to ask at all, the lookup itself fails.
  CHECK((Has(r.err, said + "unknown host \"nohost.invalid\"") ||
         Has(r.err, said + "cannot look up host \"nohost.invalid\"")));
}

TEST_CASE("submit says no answer came when the port takes the connection and stays silent") {
  TempDir d;
  SilentListener silent;
  const std::string broker = "tcp://127.0.0.1:" + std::to_string(silent.port());
  Run r =
      RunCommand({BinDir() + "/submit", "--connect-timeout", "0.5", "status", "--broker", broker},
                 d, seconds(30));
  CHECK(r.exit_code == 3);
  CHECK(Has(r.err, "submit: cannot reach the broker at " + broker + ": no answer after 0.5s"));
}

TEST_CASE("a worker that cannot connect says why once, and keeps trying") {
  TempDir d;
  const std::string broker = "tcp://127.0.0.1:" + std::to_string(FreePort());
  Process worker({BinDir() + "/worker", "--broker", broker, "--state-dir", d.path() + "/state"},
                 d.path() + "/worker.out", d.path() + "/worker.err");
  const std::string said =
      "cannot reach the broker at " + broker + ": connection refused (is the broker running?)";
  REQUIRE(WaitUntil(std::chrono::milliseconds(10'000), [&] { return Has(worker.err(), said); }));
  // ZeroMQ tries again about ten times a second meanwhile.
  usleep(1'000'000);
  CHECK(worker.running());
  CHECK(Count(worker.err(), said) == 1);
}

}  // namespace
}  // namespace drover::testing
