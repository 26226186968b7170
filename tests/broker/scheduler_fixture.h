// The scheduler tests' bench: a recording Outbox, a graph builder and a
// fixture that drives the core with plain calls and a clock of its own.
// Every event the core publishes goes through the real codec and back, and a
// test fails if it leaves a dispatch or a kill unexamined.
#pragma once

#include <doctest/doctest.h>

#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "broker/core/scheduler.h"
#include "shared/codec.h"

namespace drover::broker {

// Records effects. Dispatches, kills and retracts must all be taken by the test.
class RecordingOutbox : public Outbox {
 public:
  struct Sent {
    WorkerId worker;
    TaskKey key;
    std::optional<TaskKey> after;
  };
  void Dispatch(WorkerId worker, const TaskKey& key, std::optional<TaskKey> after) override {
    dispatches.push_back({worker, key, after});
  }
  void Kill(WorkerId worker, const TaskKey& key) override { kills.push_back({worker, key, {}}); }
  void Retract(WorkerId worker, const TaskKey& key) override {
    retracts.push_back({worker, key, {}});
  }
  void CloseOutput(WorkerId worker, const TaskKey& key) override {
    closes.push_back({worker, key, {}});
  }
  void AttemptLost(const TaskKey& key, const std::string& reason) override {
    lost.emplace_back(key, reason);
  }
  void Publish(JobId job, const Event& event) override {
    std::string record;
    AppendEventRecord(event, &record);
    Result<std::vector<Event>> back = DecodeEventRecords(record);
    REQUIRE(back.ok());
    REQUIRE(back->size() == 1);
    events.emplace_back(job, std::move(back->front()));
  }

  std::deque<Sent> dispatches;
  std::deque<Sent> kills;
  std::deque<Sent> retracts;  // attempts asked back
  std::deque<Sent> closes;    // stdouts closed (streams)
  std::vector<std::pair<JobId, Event>> events;
  std::vector<std::pair<TaskKey, std::string>> lost;  // journaled decisions
};

// Builds a JobSpec by step ids, the way a validated job file would look.
class GraphBuilder {
 public:
  GraphBuilder& Step(const std::string& id, std::vector<std::string> after = {},
                     When when = When::kSuccess) {
    StepSpec s;
    s.id = id;
    s.argv = {"run " + id};
    s.shell = true;
    s.when = when;
    after_.push_back(std::move(after));
    spec_.steps.push_back(std::move(s));
    return *this;
  }
  StepSpec& last() { return spec_.steps.back(); }
  GraphBuilder& MaxParallel(uint32_t n) {
    spec_.max_parallel = n;
    return *this;
  }
  JobSpec Build() {
    std::map<std::string, uint32_t> index;
    for (uint32_t i = 0; i < spec_.steps.size(); ++i) index[spec_.steps[i].id] = i;
    for (size_t i = 0; i < spec_.steps.size(); ++i) {
      for (const std::string& a : after_[i]) spec_.steps[i].after.push_back(StepIndex(index.at(a)));
    }
    return spec_;
  }

 private:
  JobSpec spec_;
  std::vector<std::vector<std::string>> after_;
};

struct Fixture {
  RecordingOutbox out;
  Scheduler sched{&out};
  Time now = 1000;
  uint64_t next_job = 1;

  ~Fixture() {
    CHECK_MESSAGE(out.dispatches.empty(), "test left dispatches unexamined");
    CHECK_MESSAGE(out.kills.empty(), "test left kills unexamined");
    CHECK_MESSAGE(out.retracts.empty(), "test left retracts unexamined");
  }

  JobId Submit(JobSpec spec) {
    const JobId id(next_job++);
    sched.OnSubmit(id, std::move(spec), now);
    sched.CheckInvariants();
    return id;
  }
  WorkerId AddWorker(const std::string& name, uint32_t slots, std::vector<std::string> labels = {},
                     uint32_t prefetch = 0) {
    WorkerId id = sched.OnWorkerJoined(
        WorkerInfo{name, "host-" + name, slots, labels, prefetch, "instance-" + name}, now);
    sched.CheckInvariants();
    return id;
  }
  WorkerId AddWorkerWith(const std::string& name, uint32_t slots, ResourceList resources,
                         std::vector<std::string> labels = {}) {
    WorkerId id = sched.OnWorkerJoined(WorkerInfo{.name = name,
                                                  .host = "host-" + name,
                                                  .slots = slots,
                                                  .labels = std::move(labels),
                                                  .prefetch = 0,
                                                  .instance = "instance-" + name,
                                                  .resources = std::move(resources)},
                                       now);
    sched.CheckInvariants();
    return id;
  }
  // One placement pass; returns what it dispatched, in order.
  std::vector<RecordingOutbox::Sent> Schedule() {
    sched.Schedule(now);
    sched.CheckInvariants();
    std::vector<RecordingOutbox::Sent> sent(out.dispatches.begin(), out.dispatches.end());
    out.dispatches.clear();
    return sent;
  }
  void Exit(const RecordingOutbox::Sent& d, int code, int64_t ran_ms = 10) {
    RunResult run;
    run.exit_code = code;
    run.started_ms = 1'700'000'000'000;
    run.ended_ms = run.started_ms + ran_ms;
    sched.OnStepExited(d.worker, TaskResult{d.key, run}, now);
    sched.CheckInvariants();
  }
  std::string IdOf(JobId job, const TaskKey& key) const {
    return sched.FindJob(job)->StepId(key.step);
  }
  std::vector<std::string> Ids(JobId job, const std::vector<RecordingOutbox::Sent>& sent) const {
    std::vector<std::string> ids;
    for (const auto& d : sent) ids.push_back(IdOf(job, d.key));
    return ids;
  }
  // A worker whose steps have proved short, so its prefetch (and following) is open.
  WorkerId WarmWorker(const std::string& name, uint32_t slots, uint32_t prefetch = 2) {
    WorkerId w = AddWorker(name, slots, {}, prefetch);
    JobId warm = Submit(GraphBuilder().Step("warm-up").Build());
    auto sent = Schedule();
    REQUIRE(sent.size() == 1);
    Exit(sent[0], 0, /*ran_ms=*/5);
    REQUIRE(Ended(warm));
    return w;
  }
  StepIndex IndexOf(JobId job, const std::string& id) const {
    const Job* j = sched.FindJob(job);
    for (uint32_t i = 0; i < j->size(); ++i) {
      if (j->StepId(StepIndex(i)) == id) return StepIndex(i);
    }
    FAIL("no step " << id);
    return StepIndex();
  }
  StepState StateOf(JobId job, const std::string& id) const {
    const Job* j = sched.FindJob(job);
    for (uint32_t i = 0; i < j->size(); ++i) {
      if (j->StepId(StepIndex(i)) == id) return j->run(StepIndex(i)).state;
    }
    FAIL("no step " << id);
    return StepState::kWaiting;
  }
  // The last StepEnded published for step `id`.
  StepEnded LastEnded(JobId job, const std::string& id) const {
    const Job* j = sched.FindJob(job);
    for (auto it = out.events.rbegin(); it != out.events.rend(); ++it) {
      if (it->first != job) continue;
      if (auto* e = std::get_if<StepEnded>(&it->second); e && j->StepId(e->step) == id) return *e;
    }
    FAIL("no StepEnded for " << id);
    return {};
  }
  std::optional<JobEnded> Ended(JobId job) const {
    for (const auto& [j, e] : out.events) {
      if (j == job && std::holds_alternative<JobEnded>(e)) return std::get<JobEnded>(e);
    }
    return std::nullopt;
  }
  // Runs every dispatched step to `code` (0 unless listed) until nothing is left.
  void Drain(JobId job, const std::map<std::string, int>& codes = {}) {
    for (int guard = 0; guard < 100000; ++guard) {
      auto sent = Schedule();
      if (sent.empty()) return;
      for (const auto& d : sent) {
        auto it = codes.find(IdOf(job, d.key));
        Exit(d, it == codes.end() ? 0 : it->second);
      }
    }
    FAIL("Drain did not finish");
  }
};

// The StepWaiting events published for `job`, in order.
inline std::vector<StepWaiting> Waiting(const Fixture& f, JobId job) {
  std::vector<StepWaiting> out;
  for (const auto& [j, e] : f.out.events) {
    if (j == job && std::holds_alternative<StepWaiting>(e)) out.push_back(std::get<StepWaiting>(e));
  }
  return out;
}

// n steps s0..s(n-1), none after another.
inline GraphBuilder Independent(int n) {
  GraphBuilder g;
  for (int i = 0; i < n; ++i) g.Step("s" + std::to_string(i));
  return g;
}

// n steps s0..s(n-1), each after the one before.
inline GraphBuilder Chain(int n) {
  GraphBuilder g;
  g.Step("s0");
  for (int i = 1; i < n; ++i) g.Step("s" + std::to_string(i), {"s" + std::to_string(i - 1)});
  return g;
}

}  // namespace drover::broker
