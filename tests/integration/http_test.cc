// The broker's HTTP side (`broker --http`) against a real run on two
// workers: the dashboard's JSON API, /metrics, and who may read them.
// The page itself is dashboard_test's; a real Prometheus scraping
// /metrics is prometheus_test's.

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>
#include <set>

#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// GET `path` from the broker's HTTP side; status 0 if it did not answer.
struct Reply {
  int status = 0;
  std::string body;
};
Reply Get(int port, const std::string& path, const httplib::Headers& headers = {}) {
  httplib::Client http("127.0.0.1", port);
  http.set_read_timeout(10, 0);
  auto res = http.Get(path.c_str(), headers);
  if (!res) return {};
  return {res->status, res->body};
}

std::vector<std::string> HttpArgs(int port) {
  return {"--http", "127.0.0.1:" + std::to_string(port)};
}

// prep, then two at once, then `bad` (which fails twice, printing two
// lines each time) and `after-bad`, skipped for it.
json FailingGraph() {
  return {{"name", "sweep"},
          {"steps",
           {{{"id", "prep"}, {"cmd", "true"}},
            {{"id", "left"}, {"cmd", "sleep 0.3"}, {"after", {"prep"}}},
            {{"id", "right"}, {"cmd", "sleep 0.3"}, {"after", {"prep"}}},
            {{"id", "bad"},
             {"cmd", "echo starting; echo 'boom: no such input' >&2; exit 3"},
             {"retries", 1},
             {"after", {"prep"}}},
            {{"id", "after-bad"}, {"cmd", "true"}, {"after", {"bad"}}}}}};
}

TEST_CASE("http: the API shows the workers, a job's steps, attempts, lanes and failed output") {
  const int port = FreePort();
  Cluster c({.broker_args = HttpArgs(port)});
  c.AddWorker("a", 2);
  c.AddWorker("b", 1);
  const Run run = c.Submit(c.dir().Write("sweep.json", FailingGraph().dump()));
  REQUIRE_MESSAGE(run.exit_code == 1, run.err);

  const Reply overview = Get(port, "/api/overview");
  REQUIRE_MESSAGE(overview.status == 200, overview.body);
  const json o = json::parse(overview.body);
  std::set<std::string> workers;
  for (const json& w : o["workers"]) {
    workers.insert(w["name"].get<std::string>());
    CHECK(w["state"] == "connected");
    CHECK(w["slots_used"] == 0);
  }
  CHECK(workers == std::set<std::string>{"a", "b"});
  REQUIRE(o["jobs"].size() == 1);
  const json& summary = o["jobs"][0];
  CHECK(summary["id"] == 1);
  CHECK(summary["name"] == "sweep");
  CHECK(summary["state"] == "failed");
  CHECK(summary["steps"] == 5);
  CHECK(summary["counts"]["succeeded"] == 3);
  CHECK(summary["counts"]["failed"] == 1);
  CHECK(summary["counts"]["skipped"] == 1);
  CHECK(summary["counts"]["running"] == 0);
  CHECK(summary["submitted_ms"] > 0);
  CHECK(summary["ended_ms"] >= summary["submitted_ms"]);

  const Reply detail = Get(port, "/api/jobs/1");
  REQUIRE_MESSAGE(detail.status == 200, detail.body);
  const json j = json::parse(detail.body);
  REQUIRE(j["steps"].size() == 5);
  const json& bad = j["steps"][3];
  CHECK(bad["id"] == "bad");
  CHECK(bad["after"] == json::array({0}));
  CHECK(bad["state"] == "failed");
  CHECK(bad["attempts"] == 2);
  CHECK(bad["outcome"] == "exited");
  CHECK(bad["exit_code"] == 3);
  CHECK(j["steps"][4]["state"] == "skipped");
  CHECK(j["steps"][4]["attempts"] == 0);
  CHECK(j["steps"][1]["duration_ms"] >= 250);
  // One attempt each for prep, left and right; two for bad.
  REQUIRE(j["attempts"].size() == 5);
  int bad_attempts = 0;
  for (const json& a : j["attempts"]) {
    CHECK(a["end_ms"] >= a["start_ms"]);
    CHECK(a["start_ms"] > 0);
    if (a["step"] == 3) {
      ++bad_attempts;
      CHECK(a["exit_code"] == 3);
      CHECK(a["state"] == (a["attempt"] == 1 ? "queued" : "failed"));  // retried, then not
    }
  }
  CHECK(bad_attempts == 2);
  // left and right ran at once: their bars overlap, so they are on
  // different rows (workers or lanes) of the timeline.
  const json* left = nullptr;
  const json* right = nullptr;
  for (const json& a : j["attempts"]) {
    if (a["step_id"] == "left") left = &a;
    if (a["step_id"] == "right") right = &a;
  }
  REQUIRE(left != nullptr);
  REQUIRE(right != nullptr);
  CHECK((*left)["start_ms"] < (*right)["end_ms"]);
  CHECK((*right)["start_ms"] < (*left)["end_ms"]);
  CHECK(((*left)["worker"] != (*right)["worker"] || (*left)["lane"] != (*right)["lane"]));
  for (const json& l : j["lanes"]) CHECK(l["lanes"] <= (l["worker"] == "a" ? 2 : 1));
  const json tail = j["output"]["3"];
  REQUIRE_MESSAGE(tail.is_array(), detail.body);
  CHECK(tail.back() == "boom: no such input");
  CHECK(Has(tail.dump(), "starting"));
  CHECK_FALSE(j["output"].contains("0"));  // only failed steps'

  const Reply metrics = Get(port, "/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(Has(metrics.body, "\ndrover_steps{state=\"succeeded\"} 3\n"));
  CHECK(Has(metrics.body, "\ndrover_jobs{state=\"failed\"} 1\n"));
  CHECK(Has(metrics.body, "\ndrover_workers{state=\"connected\"} 2\n"));
  CHECK(Has(metrics.body, "\ndrover_dispatches_total 5\n"));
  CHECK(Has(metrics.body, "\ndrover_results_total{outcome=\"exited\"} 5\n"));
  CHECK(Has(metrics.body, "\ndrover_step_duration_seconds_count 5\n"));
  CHECK(Has(metrics.body, "\ndrover_worker_slots{worker=\"a\"} 2\n"));
  CHECK_FALSE(Has(metrics.body, "\ndrover_spool_bytes 0\n"));
  CHECK_FALSE(Has(metrics.body, "\nprocess_resident_memory_bytes 0\n"));

  // Mistakes get answers that name them; nothing can be changed.
  const Reply missing = Get(port, "/api/jobs/99");
  CHECK(missing.status == 404);
  CHECK(Has(missing.body, "no job 99"));
  const Reply bogus = Get(port, "/api/overview?state=bogus");
  CHECK(bogus.status == 400);
  CHECK(Has(bogus.body, "state=bogus: not a job state"));
  CHECK(json::parse(Get(port, "/api/overview?state=succeeded").body)["jobs"].empty());
  httplib::Client http("127.0.0.1", port);
  auto post = http.Post("/api/overview", "{}", "application/json");
  REQUIRE(post);
  CHECK(post->status == 405);
  // A page elsewhere whose name was pointed at 127.0.0.1 sends that name.
  const Reply rebound = Get(port, "/api/overview", {{"Host", "rebind.example.org:80"}});
  CHECK(rebound.status == 403);
  CHECK(Has(rebound.body, "only to a loopback name"));
}

// The file descriptors process `pid` has open.
size_t OpenFds(pid_t pid) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    ++n;
  }
  return n;
}

// A TCP connection to 127.0.0.1:`port` that never sends a byte (connected
// without waiting: past the server's backlog a connect would hang).
struct IdleConnection {
  int fd;
  explicit IdleConnection(int port) : fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  }
  ~IdleConnection() { close(fd); }
};

TEST_CASE("http: a running attempt shows, and idle connections cannot starve the broker") {
  const int port = FreePort();
  Cluster c({.broker_args = HttpArgs(port)});
  c.AddWorker("a", 1);
  const json slow = {{"name", "slow"}, {"steps", {{{"id", "nap"}, {"cmd", "sleep 30"}}}}};
  REQUIRE(c.Submit(c.dir().Write("slow.json", slow.dump()), {"--detach"}).exit_code == 0);
  json j;
  REQUIRE(WaitUntil(seconds(20), [&] {
    const Reply r = Get(port, "/api/jobs/1");
    if (r.status != 200) return false;
    j = json::parse(r.body);
    return j["steps"][0]["state"] == "running" && j["attempts"].size() == 1;
  }));
  CHECK(j["attempts"][0]["end_ms"] == 0);
  CHECK(j["attempts"][0]["start_ms"] > 0);
  CHECK(j["attempts"][0]["start_ms"] <= j["now_ms"]);
  CHECK(j["attempts"][0]["outcome"] == nullptr);
  CHECK(json::parse(Get(port, "/api/overview").body)["workers"][0]["slots_used"] == 1);

  const size_t before = OpenFds(c.broker().pid());
  std::vector<std::unique_ptr<IdleConnection>> idle;
  for (int i = 0; i < 200; ++i) idle.push_back(std::make_unique<IdleConnection>(port));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  // A pool's worth of threads and queued connections, not 200.
  CHECK(OpenFds(c.broker().pid()) <= before + 48);
  const json quick = {{"steps", {{{"id", "q"}, {"cmd", "true"}}}}};
  c.AddWorker("b", 1);
  CHECK(c.Submit(c.dir().Write("quick.json", quick.dump())).exit_code == 0);

  c.broker().Signal(SIGTERM);
  const auto status = c.broker().Wait(std::chrono::seconds(15));
  REQUIRE_MESSAGE(status.has_value(), "the broker did not stop within 15 s of SIGTERM");
  CHECK(c.broker().ExitCode() == 0);
}

TEST_CASE("http: beyond loopback it needs keys and a token, and then every request carries it") {
  TempDir dir;
  const int port = FreePort();
  const std::string open = "0.0.0.0:" + std::to_string(port);
  const Run refused =
      RunCommand({BinDir() + "/broker", "--bind", "tcp://127.0.0.1:" + std::to_string(FreePort()),
                  "--state-dir", dir.path() + "/state", "--http", open},
                 dir, seconds(30));
  CHECK(refused.exit_code == 2);
  CHECK_MESSAGE(Has(refused.err, "without keys (--key-dir) and --http-token-file"), refused.err);

  const std::string token = "7f3a9c0e51d24b86a0c4e2f9d1b7a355";
  const std::string token_file = dir.Write("token", token + "\n");
  Cluster c({.keys = true, .broker_args = {"--http", open, "--http-token-file", token_file}});
  REQUIRE(WaitUntil(seconds(10), [&] { return Get(port, "/metrics").status != 0; }));
  const Reply without = Get(port, "/api/overview");
  CHECK(without.status == 401);
  CHECK(Has(without.body, "needs its token"));
  CHECK(Get(port, "/metrics").status == 401);
  CHECK(
      Get(port, "/api/overview", {{"Authorization", "Bearer wrong-token-of-some-length"}}).status ==
      401);
  CHECK(Get(port, "/api/overview", {{"Authorization", "Bearer " + token}}).status == 200);
  CHECK(Get(port, "/metrics?token=" + token).status == 200);
}

}  // namespace
}  // namespace drover::testing
