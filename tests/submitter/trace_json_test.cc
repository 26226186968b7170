#include "submitter/trace_json.h"

#include <doctest/doctest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace drover::submit {
namespace {

using nlohmann::json;

constexpr int64_t kT = 1'700'000'000'000;

RunResult Exited(int code, int64_t started, int64_t ended) {
  RunResult run;
  run.exit_code = code;
  run.started_ms = started;
  run.ended_ms = ended;
  run.user_cpu_us = 12'500;
  run.sys_cpu_us = 500;
  run.max_rss_kb = 3072;
  return run;
}

std::vector<json> Of(const json& trace, const std::string& ph) {
  std::vector<json> out;
  for (const json& e : trace["traceEvents"]) {
    if (e["ph"] == ph) out.push_back(e);
  }
  return out;
}

// A job of three steps: "fetch" on w1; "train" fails on w1 beside it and
// is retried on w2, where it still runs; "report" is skipped.
JobHistory Sample() {
  JobHistory h(3);
  h.Apply(StepStarted{StepIndex(0), Attempt(1), "w1", kT});
  h.Apply(StepStarted{StepIndex(1), Attempt(1), "w1", kT});
  h.Apply(StepEnded{StepIndex(0), Attempt(1), StepState::kSucceeded, "", "w1",
                    Exited(0, kT + 5, kT + 1005)});
  h.Apply(StepEnded{StepIndex(1), Attempt(1), StepState::kReady,
                    "exited with code 3; retrying (retry 1 of 1)", "w1",
                    Exited(3, kT + 6, kT + 506)});
  h.Apply(StepStarted{StepIndex(1), Attempt(2), "w2", kT + 600});
  return h;
}

const TraceSubject kJob{7, "pipeline", {"fetch", "train", "report"}};

TEST_CASE("trace: a process per worker, a named thread per lane, a slice per attempt") {
  JobHistory h = Sample();
  const json trace = TraceJson(h, kJob, kT + 2000);
  CHECK(trace["displayTimeUnit"] == "ms");
  CHECK(trace["otherData"]["job"] == 7);
  CHECK(trace["otherData"]["name"] == "pipeline");
  CHECK(trace["otherData"]["state"] == "running");
  CHECK_FALSE(trace["otherData"].contains("attempts_not_drawn"));

  std::map<int, std::string> processes;
  std::map<std::pair<int, int>, std::string> threads;
  for (const json& m : Of(trace, "M")) {
    const std::string name = m["args"].value("name", "");
    if (m["name"] == "process_name") processes[m["pid"].get<int>()] = name;
    if (m["name"] == "thread_name") threads[{m["pid"].get<int>(), m["tid"].get<int>()}] = name;
  }
  CHECK(processes == std::map<int, std::string>{{1, "w1"}, {2, "w2"}});
  CHECK(threads == std::map<std::pair<int, int>, std::string>{
                       {{1, 1}, "slot 1"}, {{1, 2}, "slot 2"}, {{2, 1}, "slot 1"}});

  const std::vector<json> slices = Of(trace, "X");
  REQUIRE(slices.size() == 3);
  const json& fetch = slices[0];
  CHECK(fetch["name"] == "fetch");
  CHECK(fetch["ts"] == (kT + 5) * 1000);  // microseconds, the worker's times
  CHECK(fetch["dur"] == 1000 * 1000);
  CHECK(fetch["pid"] == 1);
  CHECK(fetch["tid"] == 1);
  CHECK(fetch["cat"] == "exited");
  CHECK(fetch["cname"] == "good");
  CHECK(fetch["args"]["step"] == "fetch");
  CHECK(fetch["args"]["attempt"] == 1);
  CHECK(fetch["args"]["outcome"] == "exited");
  CHECK(fetch["args"]["exit_code"] == 0);
  CHECK_FALSE(fetch["args"].contains("signal"));
  CHECK(fetch["args"]["state_after"] == "succeeded");
  CHECK(fetch["args"]["user_cpu_ms"] == 12.5);
  CHECK(fetch["args"]["sys_cpu_ms"] == 0.5);
  CHECK(fetch["args"]["max_rss_kb"] == 3072);

  const json& failed = slices[1];
  CHECK(failed["name"] == "train");
  CHECK(failed["tid"] == 2);  // beside fetch on w1
  CHECK(failed["args"]["exit_code"] == 3);
  CHECK(failed["args"]["state_after"] == "queued");  // to be tried again
  CHECK(failed["args"]["reason"] == "exited with code 3; retrying (retry 1 of 1)");
  CHECK(failed["cname"] == "bad");

  const json& running = slices[2];
  CHECK(running["name"] == "train");
  CHECK(running["pid"] == 2);
  CHECK(running["tid"] == 1);
  CHECK(running["args"]["attempt"] == 2);
  CHECK(running["args"]["outcome"] == "running");
  CHECK(running["cat"] == "running");
  CHECK(running["ts"] == (kT + 600) * 1000);  // the broker's dispatch
  CHECK(running["dur"] == 1400 * 1000);       // until now
  CHECK_FALSE(running["args"].contains("exit_code"));
  CHECK_FALSE(running.contains("cname"));
}

TEST_CASE("trace: signals, lost attempts and the job's end are in the args") {
  JobHistory h(3);
  h.Apply(StepStarted{StepIndex(0), Attempt(1), "w1", kT});
  RunResult killed = Exited(0, kT + 1, kT + 50);
  killed.outcome = Outcome::kSignaled;
  killed.signal = 9;
  h.Apply(StepEnded{StepIndex(0), Attempt(1), StepState::kFailed, "killed by signal 9", "w1",
                    killed});
  h.Apply(StepStarted{StepIndex(1), Attempt(1), "w2", kT + 10});
  RunResult lost;
  lost.outcome = Outcome::kLost;
  lost.error = "worker \"w2\" went silent";
  lost.ended_ms = kT + 4010;
  h.Apply(StepEnded{StepIndex(1), Attempt(1), StepState::kFailed, "lost", "w2", lost});
  h.Apply(StepStarted{StepIndex(2), Attempt(1), "w2", kT + 20});
  RunResult back;
  back.outcome = Outcome::kRetracted;
  h.Apply(StepEnded{StepIndex(2), Attempt(1), StepState::kReady, "given back", "w2", back});
  h.Apply(JobEnded{JobState::kFailed, {}});
  const json trace = TraceJson(h, TraceSubject{3, "", {"a", "b", "c"}}, kT + 9000);
  CHECK(trace["otherData"]["state"] == "failed");
  const std::vector<json> slices = Of(trace, "X");
  REQUIRE(slices.size() == 3);
  // Given back before it started: an instant, in a lane of its own.
  CHECK(slices[2]["args"]["outcome"] == "retracted");
  CHECK(slices[2]["dur"] == 0);
  CHECK(slices[2]["tid"] == 2);
  CHECK_FALSE(slices[2].contains("cname"));
  CHECK(slices[0]["args"]["signal"] == 9);
  CHECK_FALSE(slices[0]["args"].contains("exit_code"));
  CHECK(slices[0]["cname"] == "terrible");
  CHECK(slices[1]["args"]["outcome"] == "lost");
  CHECK(slices[1]["args"]["error"] == "worker \"w2\" went silent");
  CHECK(slices[1]["ts"] == (kT + 10) * 1000);
  CHECK(slices[1]["dur"] == 4000 * 1000);
}

TEST_CASE("trace: an attempt without a known start is counted, not drawn") {
  JobHistory h(1);
  h.Apply(StepStarted{StepIndex(0), Attempt(1), "w1"});  // an older broker's log
  const json trace = TraceJson(h, TraceSubject{1, "old", {"a"}}, kT);
  CHECK(Of(trace, "X").empty());
  CHECK(trace["otherData"]["attempts_not_drawn"] == 1);
}

TEST_CASE("trace text: valid JSON, an event a line, bad UTF-8 replaced") {
  JobHistory h = Sample();
  const json trace = TraceJson(h, TraceSubject{7, "bad \xff name", kJob.step_ids}, kT + 2000);
  const std::string text = TraceText(trace);
  CHECK(text.starts_with("{\"traceEvents\":[\n{"));
  CHECK(text.ends_with("}\n"));
  const json back = json::parse(text);
  CHECK(back["traceEvents"].size() == trace["traceEvents"].size());
  CHECK(back["displayTimeUnit"] == "ms");
  CHECK(back["otherData"]["name"] == "bad \xef\xbf\xbd name");
  size_t lines = 0;
  for (char c : text) lines += c == '\n';
  CHECK(lines == trace["traceEvents"].size() + 4);

  // A job that never ran: no events, still a trace.
  JobHistory none(1);
  const json empty = json::parse(TraceText(TraceJson(none, TraceSubject{2, "", {"a"}}, kT)));
  CHECK(empty["traceEvents"].empty());
}

}  // namespace
}  // namespace drover::submit
