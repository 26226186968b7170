// Broker addresses end to end: the three programs check every address they
// are given before using one (shared/endpoint.h).

#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

using std::chrono::seconds;

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

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

}  // namespace
}  // namespace drover::testing
