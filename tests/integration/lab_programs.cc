#include "tests/integration/lab_programs.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <sstream>
#include <thread>

namespace drover::testing {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

bool SkipWithoutNetns() {
  std::string why;
  if (NetLab::Available(&why)) return false;
  if (std::getenv("DROVER_REQUIRE_NETNS")) FAIL("network namespaces are required: " << why);
  MESSAGE("skipped: " << why);
  return true;
}

std::string Endpoint(const Host& broker) {
  return "tcp://" + broker.ip() + ":" + std::to_string(kLabPort);
}

Process& StartBroker(NetLab& lab, Host& host, const std::vector<std::string>& extra,
                     const std::map<std::string, std::string>& env) {
  std::vector<std::string> argv = {BinDir() + "/broker", "--bind", Endpoint(host), "--state-dir",
                                   lab.dir().path() + "/state-" + host.name(), "--heartbeat-ms",
                                   "200", "--die-with-parent",
                                   // The lab's addresses exist only in its network namespaces.
                                   "--insecure"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return host.Start(argv, env);
}

Process& StartWorker(NetLab& lab, Host& host, const Host& broker, int slots,
                     const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {BinDir() + "/worker", "--broker", Endpoint(broker), "--name",
                                   host.name(), "--slots", std::to_string(slots), "--kill-grace",
                                   "1", "--die-with-parent", "--state-dir",
                                   lab.dir().path() + "/worker-state-" + host.name()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return host.Start(argv);
}

std::string WaitForWorkers(Host& from, const Host& broker, size_t n, milliseconds within,
                           const std::map<std::string, std::string>& env) {
  const auto deadline = Clock::now() + within;
  const std::string want = std::to_string(n) + " worker(s)";
  for (;;) {
    Run r =
        from.Exec({BinDir() + "/submit", "status", "--broker", Endpoint(broker)}, seconds(10), env);
    if (r.exit_code == 0 && r.out.rfind(want, 0) == 0) return "";
    if (Clock::now() > deadline) {
      return "the broker never listed " + std::to_string(n) + " workers within " +
             std::to_string(within.count()) + " ms; last status (exit " +
             std::to_string(r.exit_code) + "):\n" + r.out + r.err;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
}

std::vector<nlohmann::json> SubmitJson(NetLab& lab, Host& from, const Host& broker,
                                       const std::string& name, const std::string& job,
                                       int* exit_code,
                                       const std::map<std::string, std::string>& env) {
  const std::string file = lab.dir().Write(name, job);
  Run r = from.Exec({BinDir() + "/submit", file, "--broker", Endpoint(broker), "--json"},
                    seconds(60), env);
  *exit_code = r.exit_code;
  INFO("submit stderr: " << r.err);
  return JsonLines(r.out);
}

}  // namespace drover::testing
