// /metrics as a real Prometheus sees it: Debian's prometheus, started on a
// free port with a generated config, scrapes a broker that ran a graph,
// and a PromQL query through its HTTP API returns the graph's succeeded
// steps. Debian's promtool checks the exposition too.
//
// Without prometheus installed the test says "skipped: <why>" and passes,
// unless DROVER_REQUIRE_PROMETHEUS is set (scripts/test sets it as root,
// where it installs the package), which makes that a failure.

#include <doctest/doctest.h>
#include <httplib.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

// True (and the test should return) if there is no `tool`: says so, or
// fails when DROVER_REQUIRE_PROMETHEUS is set.
bool Missing(const std::string& path, const std::string& tool) {
  if (!path.empty()) return false;
  const std::string why = tool + " is not installed (Debian's prometheus package)";
  if (std::getenv("DROVER_REQUIRE_PROMETHEUS")) FAIL("prometheus is required: " << why);
  MESSAGE("skipped: " << why);
  return true;
}

std::string Scrape(int port) {
  httplib::Client http("127.0.0.1", port);
  auto res = http.Get("/metrics");
  return res && res->status == 200 ? res->body : "";
}

// The value of the one series `query` returns from Prometheus at `port`;
// "" while it has none.
std::string Query(int port, const std::string& query) {
  httplib::Client http("127.0.0.1", port);
  auto res = http.Get("/api/v1/query", httplib::Params{{"query", query}}, httplib::Headers{});
  if (!res || res->status != 200) return "";
  const json reply = json::parse(res->body, nullptr, false);
  if (reply.is_discarded() || reply["status"] != "success") return "";
  const json& result = reply["data"]["result"];
  if (result.size() != 1) return "";
  return result[0]["value"][1].get<std::string>();
}

TEST_CASE("prometheus: a real server scrapes /metrics and counts the graph's succeeded steps") {
  const std::string prometheus = FindTool("prometheus");
  const std::string promtool = FindTool("promtool");
  if (Missing(prometheus, "prometheus") || Missing(promtool, "promtool")) return;

  const int http_port = FreePort();
  Cluster c({.broker_args = {"--http", "127.0.0.1:" + std::to_string(http_port)}});
  c.AddWorker("a", 2);
  c.AddWorker("b", 2);
  json steps = json::array();
  for (int i = 0; i < 7; ++i) steps.push_back({{"id", "s" + std::to_string(i)}, {"cmd", "true"}});
  steps.push_back({{"id", "broken"}, {"cmd", "exit 1"}});
  const Run run = c.Submit(c.dir().Write("g.json", json{{"steps", steps}}.dump()));
  REQUIRE_MESSAGE(run.exit_code == 1, run.err);

  // The exposition itself, as Prometheus' own linter reads it.
  const std::string text = Scrape(http_port);
  REQUIRE_FALSE(text.empty());
  const std::string metrics_file = c.dir().Write("metrics.txt", text);
  const Run lint = RunCommand({"/bin/sh", "-c", promtool + " check metrics < " + metrics_file},
                              c.dir(), seconds(30));
  CHECK_MESSAGE(lint.exit_code == 0, lint.out << lint.err);

  const int prom_port = FreePort();
  std::ostringstream config;
  config << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
         << "scrape_configs:\n  - job_name: drover\n    static_configs:\n"
         << "      - targets: ['127.0.0.1:" << http_port << "']\n";
  const std::string config_file = c.dir().Write("prometheus.yml", config.str());
  Process server(
      {prometheus, "--config.file=" + config_file,
       "--storage.tsdb.path=" + c.dir().path() + "/tsdb",
       "--web.listen-address=127.0.0.1:" + std::to_string(prom_port), "--log.level=warn"},
      c.dir().path() + "/prometheus.out", c.dir().path() + "/prometheus.err");

  std::string succeeded;
  const bool scraped = WaitUntil(seconds(60), [&] {
    succeeded = Query(prom_port, "sum(drover_steps{state=\"succeeded\"})");
    return !succeeded.empty() || !server.running();
  });
  REQUIRE_MESSAGE(scraped, "prometheus did not scrape the broker within 60 s:\n" << server.err());
  REQUIRE_MESSAGE(server.running(), "prometheus stopped:\n" << server.err());
  CHECK(succeeded == "7");
  CHECK(Query(prom_port, "drover_steps{state=\"failed\"}") == "1");
  CHECK(Query(prom_port, "drover_jobs{state=\"failed\"}") == "1");
  CHECK(Query(prom_port, "sum(drover_worker_slots)") == "4");
  CHECK(Query(prom_port, "up{job=\"drover\"}") == "1");
}

}  // namespace
}  // namespace drover::testing
