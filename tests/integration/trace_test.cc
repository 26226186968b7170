// `submit trace` against a real broker and two workers: the Chrome trace of
// a run with parallel steps and a retried failing step has one slice per
// attempt, slices on one track never overlap, and each slice names its
// step and carries its exit code.

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

// `submit ARGS... --broker ENDPOINT`.
Run Ask(Cluster& c, std::vector<std::string> args) {
  std::vector<std::string> argv = {BinDir() + "/submit"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--broker", c.endpoint()});
  return RunCommand(argv, c.dir(), seconds(60), c.user_env());
}

TEST_CASE("trace: one slice per attempt, none overlapping on a track, with exits and step ids") {
  Cluster c;
  c.AddWorker("w1", 2);
  c.AddWorker("w2", 2);
  // Four in parallel on four slots, a step after two of them, and one that
  // fails three times (two retries).
  json steps = json::array();
  for (const char* id : {"p1", "p2", "p3", "p4"}) {
    steps.push_back({{"id", id}, {"cmd", "sleep 0.4"}});
  }
  steps.push_back({{"id", "join"}, {"cmd", "true"}, {"after", {"p1", "p2"}}});
  steps.push_back({{"id", "flaky"}, {"cmd", "echo trying; exit 3"}, {"retries", 2}});
  const json spec = {{"name", "traced"}, {"steps", steps}};
  int exit_code = 0;
  const std::vector<json> events = c.SubmitJson(c.dir().Write("t.json", spec.dump()), &exit_code);
  CHECK(exit_code == 1);  // flaky failed for good
  // Every attempt, also one a worker gave back unstarted (so that another
  // with room ran it): that one is a slice too, of no length.
  const std::vector<json> started = EventsOf(events, "step_started");
  std::map<std::string, int> attempts;
  for (const json& e : started) ++attempts[e["step"].get<std::string>()];

  const std::string file = c.dir().path() + "/run.json";
  const Run trace = Ask(c, {"trace", "1", "-o", file});
  REQUIRE_MESSAGE(trace.exit_code == 0, trace.err);
  CHECK(trace.out.empty());
  const json j = json::parse(ReadFile(file));
  CHECK(j["otherData"]["job"] == 1);
  CHECK(j["otherData"]["name"] == "traced");
  CHECK(j["otherData"]["state"] == "failed");
  // The same on stdout.
  const Run out = Ask(c, {"trace", "1"});
  REQUIRE_MESSAGE(out.exit_code == 0, out.err);
  CHECK(json::parse(out.out)["traceEvents"].size() == j["traceEvents"].size());

  std::map<int, std::string> workers;
  std::map<std::pair<int, int>, std::string> slots;
  std::vector<json> slices;
  for (const json& e : j["traceEvents"]) {
    if (e["ph"] == "X") slices.push_back(e);
    if (e["name"] == "process_name") workers[e["pid"].get<int>()] = e["args"]["name"];
    if (e["name"] == "thread_name") {
      slots[{e["pid"].get<int>(), e["tid"].get<int>()}] = e["args"]["name"];
    }
  }
  // One slice per attempt the run made.
  CHECK(slices.size() == started.size());
  CHECK(slices.size() >= 8);
  std::set<std::string> names;
  for (const auto& w : workers) names.insert(w.second);
  CHECK(names == std::set<std::string>{"w1", "w2"});

  std::map<std::string, int> sliced;
  int failures = 0;  // flaky's, in start order
  std::set<std::string> step_ids;
  std::map<std::pair<int, int>, std::vector<std::pair<int64_t, int64_t>>> tracks;
  for (const json& s : slices) {
    const std::string step = s["name"];
    CAPTURE(s.dump());
    ++sliced[step];
    step_ids.insert(step);
    CHECK(s["args"]["step"] == step);
    const std::pair<int, int> track{s["pid"].get<int>(), s["tid"].get<int>()};
    REQUIRE(slots.count(track) == 1);  // every track is a named slot
    CHECK(slots[track] == "slot " + std::to_string(track.second));
    CHECK(s["args"]["worker"] == workers[track.first]);
    CHECK(s["dur"].get<int64_t>() >= 0);
    const int64_t ts = s["ts"];
    tracks[track].push_back({ts, ts + s["dur"].get<int64_t>()});
    if (s["args"]["outcome"] == "retracted") {
      CHECK(s["dur"] == 0);
      continue;
    }
    CHECK(s["args"]["outcome"] == "exited");
    CHECK(s["args"]["max_rss_kb"].get<int64_t>() > 0);
    CHECK(s["args"].contains("user_cpu_ms"));
    if (step == "flaky") {
      ++failures;
      CHECK(s["args"]["exit_code"] == 3);
      CHECK(s["args"]["state_after"] == (failures == 3 ? "failed" : "queued"));
    } else {
      CHECK(s["args"]["exit_code"] == 0);
      CHECK(s["args"]["state_after"] == "succeeded");
    }
    if (step.starts_with("p")) CHECK(s["dur"].get<int64_t>() >= 350'000);  // 0.4 s, in µs
  }
  CHECK(failures == 3);  // the first run and two retries
  CHECK(sliced == attempts);
  CHECK(step_ids == std::set<std::string>{"p1", "p2", "p3", "p4", "join", "flaky"});
  // (No structured binding: CHECK's lambda may not capture one in clang 14.)
  for (auto& track : tracks) {
    std::vector<std::pair<int64_t, int64_t>>& spans = track.second;
    std::sort(spans.begin(), spans.end());
    for (size_t i = 1; i < spans.size(); ++i) {
      CHECK_MESSAGE(spans[i - 1].second <= spans[i].first,
                    "pid " << track.first.first << " tid " << track.first.second << " overlaps");
    }
  }
  // Five steps ready at once for four slots: a worker ran two side by side.
  std::map<int, int> tracks_of;
  for (const auto& track : tracks) ++tracks_of[track.first.first];
  CHECK(std::any_of(tracks_of.begin(), tracks_of.end(), [](auto& t) { return t.second >= 2; }));
}

TEST_CASE("trace: no such job, and a file that cannot be written, are the user's to mend") {
  Cluster c;
  const Run none = Ask(c, {"trace", "7"});
  CHECK(none.exit_code == 2);
  CHECK_MESSAGE(none.err.find("no job 7") != std::string::npos, none.err);
  c.AddWorker("w1", 1);
  const json spec = {{"steps", {{{"id", "a"}, {"cmd", "true"}}}}};
  CHECK(c.Submit(c.dir().Write("a.json", spec.dump())).exit_code == 0);
  const Run bad = Ask(c, {"trace", "1", "-o", c.dir().path() + "/no/such/dir/run.json"});
  CHECK(bad.exit_code == 2);
  CHECK_MESSAGE(bad.err.find("cannot write") != std::string::npos, bad.err);
}

}  // namespace
}  // namespace drover::testing
