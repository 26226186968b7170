// The dashboard page in a real browser: a broker with --http and two
// workers runs a graph with a retried step and a failing one, then headless
// Chromium (Debian's chromium) loads the job's page from the broker and the
// test reads the DOM the page's scripts built: both workers, the job's
// counts, the failed step and its last output line, one timeline bar per
// attempt. A screenshot goes to <build>/test-artifacts/dashboard.png.
//
// Console: Chromium's --enable-logging prints every console message, of any
// level, as "INFO:CONSOLE" (an uncaught exception too, as "Uncaught ..."),
// so levels cannot be told apart there. The page logs nothing on purpose,
// so any console line fails the test.
//
// Without chromium the test says "skipped: <why>" and passes, unless
// DROVER_REQUIRE_CHROMIUM is set (scripts/test sets it once chromium is
// installed), which makes that a failure.

#include <doctest/doctest.h>
#include <httplib.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

// The browser, or "" after saying why the test is skipped (or failing, when
// DROVER_REQUIRE_CHROMIUM is set).
std::string ChromiumOrSkip() {
  std::string path = FindTool("chromium");
  if (!path.empty()) return path;
  const std::string why = "no chromium on $PATH (Debian's package chromium)";
  if (std::getenv("DROVER_REQUIRE_CHROMIUM")) FAIL("chromium is required: " << why);
  MESSAGE("skipped: " << why);
  return "";
}

// GET `path` from the broker's HTTP side; status 0 if it did not answer.
struct HttpAnswer {
  int status = 0;
  std::string body;
};
HttpAnswer HttpGet(int port, const std::string& path) {
  httplib::Client http("127.0.0.1", port);
  http.set_read_timeout(10, 0);
  auto res = http.Get(path.c_str());
  if (!res) return {};
  return {res->status, res->body};
}

// Chromium, headless, on `url`; `mode` its output flags (--dump-dom, or
// --screenshot=FILE). A fresh profile each run; killed if it hangs.
Run Chromium(const std::string& chromium, const TempDir& dir, const std::string& url,
             const std::vector<std::string>& mode) {
  static int runs = 0;
  const std::string profile = dir.path() + "/chromium-profile-" + std::to_string(++runs);
  std::vector<std::string> argv = {
      chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--user-data-dir=" + profile, "--hide-scrollbars", "--window-size=1280,1400",
      "--enable-logging=stderr", "--v=0",
      // The page polls once a second: 6 s of the page's own (virtual) time
      // lets it draw, poll a few times and settle; a request in flight holds
      // that clock, so a slow broker only makes the run take longer.
      "--virtual-time-budget=6000"};
  argv.insert(argv.end(), mode.begin(), mode.end());
  argv.push_back(url);
  return RunCommand(argv, dir, seconds(90), {{"HOME", dir.path()}});
}

// The console messages in Chromium's log (see the top of this file), a
// line each; "" if there are none.
std::string Console(const std::string& log) {
  std::string lines;
  for (const std::string& line : Lines(log)) {
    if (line.find(":CONSOLE") != std::string::npos) lines += line + "\n";
  }
  return lines;
}

// The opening tag of the first element with `attribute` (e.g.
// `data-worker="wa"`), or "" if there is none.
std::string TagWith(const std::string& dom, const std::string& attribute) {
  const size_t at = dom.find(attribute);
  if (at == std::string::npos) return "";
  const size_t open = dom.rfind('<', at);
  return dom.substr(open, dom.find('>', at) - open + 1);
}

// The text inside the first element with `attribute`, up to its end tag
// (elements without the same tag name inside them).
std::string ElementWith(const std::string& dom, const std::string& attribute) {
  const std::string tag = TagWith(dom, attribute);
  if (tag.empty()) return "";
  const std::string name = tag.substr(1, tag.find_first_of(" >") - 1);
  const size_t start = dom.find(tag);
  const size_t end = dom.find("</" + name + ">", start);
  return dom.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// A graph a screenshot can show: parallel compiles, a download that fails
// once and is retried, a test that fails with a known last line, a package
// step skipped for it and a cleanup that runs anyway.
json NightlyJob(const std::string& flag) {
  auto step = [](const std::string& id, const std::string& cmd, std::vector<std::string> after) {
    json s = {{"id", id}, {"cmd", cmd}};
    if (!after.empty()) s["after"] = after;
    return s;
  };
  json flaky = step("download",
                    "if [ -e " + flag + " ]; then sleep 0.4; else touch " + flag +
                        "; echo 'connection reset' >&2; sleep 0.2; exit 3; fi",
                    {"fetch"});
  flaky["retries"] = 1;
  json cleanup = step("cleanup", "sleep 0.1", {"package"});
  cleanup["when"] = "always";
  return {
      {"name", "nightly-build"},
      {"steps",
       {step("fetch", "echo fetching; sleep 0.3", {}), step("compile-core", "sleep 0.9", {"fetch"}),
        step("compile-plugins", "sleep 0.7", {"fetch"}),
        step("compile-docs", "sleep 0.5", {"fetch"}), flaky,
        step("link", "sleep 0.3", {"compile-core", "compile-plugins"}),
        step("test",
             "echo running 48 tests; sleep 0.4; echo 'test_queue ... ok'; "
             "echo 'test_scheduler ... FAILED'; echo 'FAILED: 1 of 48 tests (expected 3, got 4)'; "
             "exit 1",
             {"link", "download"}),
        step("package", "true", {"test", "compile-docs"}), cleanup}}};
}

// The DOM of the job's page (`dom`, after its scripts ran) against the
// job as /api/jobs/1 gives it.
void CheckJobPage(const std::string& dom, const json& job) {
  INFO("the DOM: " << dom);
  size_t test_index = 0;
  while (test_index < job["steps"].size() && job["steps"][test_index]["id"] != "test") ++test_index;
  REQUIRE(test_index < job["steps"].size());

  CHECK(TagWith(dom, "<body").find("data-loaded=\"1\"") != std::string::npos);
  CHECK(TagWith(dom, "data-unreachable").empty());
  // Both workers, connected.
  for (const char* worker : {"worker-a", "worker-b"}) {
    const std::string row = TagWith(dom, std::string("data-worker=\"") + worker + "\"");
    CHECK_MESSAGE(row.find("data-state=\"connected\"") != std::string::npos, worker);
  }
  // The job, failed, with its counts.
  CHECK(TagWith(dom, "id=\"job-head\"").find("data-state=\"failed\"") != std::string::npos);
  CHECK(TagWith(dom, "data-count=\"succeeded\"").find("data-n=\"7\"") != std::string::npos);
  CHECK(TagWith(dom, "data-count=\"failed\"").find("data-n=\"1\"") != std::string::npos);
  CHECK(TagWith(dom, "data-count=\"skipped\"").find("data-n=\"1\"") != std::string::npos);
  // The failed step in the table, and its last output line.
  CHECK(TagWith(dom, "<tr data-step=\"test\"").find("data-state=\"failed\"") != std::string::npos);
  const std::string output =
      ElementWith(dom, "data-output-step=\"" + std::to_string(test_index) + "\"");
  CHECK(output.find("FAILED: 1 of 48 tests (expected 3, got 4)") != std::string::npos);
  // One bar per attempt, each (step, attempt) once; the download's first is
  // amber (tried again), the test's red.
  std::set<std::pair<std::string, std::string>> bars;
  const std::regex bar(
      R"re(<rect class="bar k-([a-z]+)"[^>]*data-step="([^"]+)" data-attempt="(\d+)")re");
  std::map<std::string, std::string> kinds;
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), bar); it != std::sregex_iterator();
       ++it) {
    bars.insert({(*it)[2], (*it)[3]});
    kinds[(*it)[2].str() + "/" + (*it)[3].str()] = (*it)[1];
  }
  CHECK(bars.size() == job["attempts"].size());
  for (const json& a : job["attempts"]) {
    const std::string step = job["steps"][a["step"].get<size_t>()]["id"];
    CHECK_MESSAGE(bars.count({step, std::to_string(a["attempt"].get<int>())}) == 1, step);
  }
  CHECK(kinds["download/1"] == "retried");
  CHECK(kinds["download/2"] == "succeeded");
  CHECK(kinds["test/1"] == "failed");
}

TEST_CASE("dashboard: a job's page in headless Chromium: workers, counts, failure, timeline") {
  const std::string chromium = ChromiumOrSkip();
  if (chromium.empty()) return;
  const int port = FreePort();
  const std::string http = "127.0.0.1:" + std::to_string(port);
  Cluster c({.broker_args = {"--http", http}});
  c.AddWorker("worker-a", 2);
  c.AddWorker("worker-b", 2);
  const std::string job_file =
      c.dir().Write("nightly.json", NightlyJob(c.dir().path() + "/flag").dump());
  const Run submitted = c.Submit(job_file);
  REQUIRE_MESSAGE(submitted.exit_code == 1, submitted.err);

  // The HTTP side answers from a snapshot of the broker up to half a second
  // old: wait for one with the job's end in it.
  json job;
  REQUIRE_MESSAGE(WaitUntil(seconds(20),
                            [&] {
                              const HttpAnswer a = HttpGet(port, "/api/jobs/1");
                              if (a.status != 200) return false;
                              job = json::parse(a.body, nullptr, false);
                              return job.is_object() && job.value("state", "") == "failed";
                            }),
                  "GET /api/jobs/1 never said failed: " << job.dump() << "\n"
                                                        << c.BrokerLogs());
  CHECK(job["attempts"].size() == 9);  // 8 steps ran, the download twice
  const std::string url = "http://" + http + "/#/jobs/1";
  const Run dom_run = Chromium(chromium, c.dir(), url, {"--dump-dom"});
  REQUIRE_MESSAGE(dom_run.exit_code == 0, dom_run.err);
  CheckJobPage(dom_run.out, job);
  CHECK_MESSAGE(Console(dom_run.err).empty(), "the page logged:\n" << Console(dom_run.err));

  // The picture, for people (docs/images/dashboard.png is one of these).
  const std::filesystem::path artifacts =
      std::filesystem::path(DROVER_BIN_DIR).parent_path() / "test-artifacts";
  std::filesystem::create_directories(artifacts);
  const std::string png = (artifacts / "dashboard.png").string();
  std::filesystem::remove(png);
  const Run shot = Chromium(chromium, c.dir(), url, {"--screenshot=" + png});
  REQUIRE_MESSAGE(shot.exit_code == 0, shot.err);
  CHECK(std::filesystem::file_size(png) > 10000);
  CHECK(ReadFile(png).starts_with("\x89PNG"));
  CHECK_MESSAGE(Console(shot.err).empty(), "the page logged:\n" << Console(shot.err));
  MESSAGE("screenshot: " << png);
}

}  // namespace
}  // namespace drover::testing
