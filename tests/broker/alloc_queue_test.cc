// AllocQueues: when the broker asks Slurm for allocations, how failures back
// off and pause a queue, removal, and replay of the journaled records. Every
// event goes through a bench that checks the invariants after it and keeps
// the records, so that each test can end by replaying them.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "broker/core/alloc_queue.h"
#include "scheduler_fixture.h"

namespace drover::broker {
namespace {

AllocQueueParams Params(uint32_t slots = 4) {
  return AllocQueueParams{.name = "cpu", .time_limit_ms = 3'600'000, .slots = slots};
}

struct Bench {
  AllocQueues q;
  Time now = 1'000'000;
  std::vector<AllocRecord> journal;

  void Check() {
    q.CheckInvariants();
    for (AllocRecord& r : q.TakeRecords()) {
      // Every record goes through the real encoding, as the journal will.
      std::string bytes;
      EncodeAllocRecord(r, &bytes);
      Result<AllocRecord> back = DecodeAllocRecord(bytes);
      REQUIRE(back.ok());
      journal.push_back(std::move(*back));
    }
  }
  AllocQueueId Add(AllocQueueParams p) {
    Result<AllocQueueId> id = q.Add(std::move(p));
    REQUIRE(id.ok());
    Check();
    return *id;
  }
  std::vector<AllocAction> Tick(const AllocDemand& demand) {
    std::vector<AllocAction> actions = q.Tick(now, demand);
    Check();
    return actions;
  }
  // Ticks with `demand` and expects exactly one Submit; returns its seq.
  uint32_t ExpectSubmit(AllocQueueId queue, uint64_t demand) {
    std::vector<AllocAction> actions = Tick({{queue, demand}});
    REQUIRE(actions.size() == 1);
    const auto* submit = std::get_if<AllocSubmit>(&actions[0]);
    REQUIRE(submit != nullptr);
    CHECK(submit->queue == queue);
    return submit->seq;
  }
  void Submitted(AllocQueueId queue, uint32_t seq, SlurmJobId job) {
    q.OnSubmitted(queue, seq, job, now);
    Check();
  }
  void SubmitFailed(AllocQueueId queue, uint32_t seq, const std::string& message) {
    q.OnSubmitFailed(queue, seq, message, now);
    Check();
  }
  void Slurm(SlurmJobId job, SlurmJobState state, const std::string& reason = "") {
    q.OnSlurmState(job, state, reason, now);
    Check();
  }
  void Joined(SlurmJobId job, const std::string& worker) {
    q.OnWorkerJoined(job, worker, now);
    Check();
  }
  void Left(SlurmJobId job, const std::string& worker) {
    q.OnWorkerLeft(job, worker, now);
    Check();
  }
  const AllocQueue& Queue(AllocQueueId id) {
    const AllocQueue* found = q.Find(id);
    REQUIRE(found != nullptr);
    return *found;
  }
  const Allocation& Alloc(AllocQueueId id, uint32_t seq) {
    const Allocation* a = Queue(id).Find(seq);
    REQUIRE(a != nullptr);
    return *a;
  }
  // Replaying the journal gives back the same durable state.
  void CheckReplay() {
    AllocQueues replayed;
    for (const AllocRecord& r : journal) {
      replayed.Apply(r);
      replayed.CheckInvariants();
    }
    CHECK(replayed.DurablyEqual(q));
    CHECK(replayed.TakeRecords().empty());
    // A snapshot, through its encoding, gives it back too, over any state.
    std::string bytes;
    EncodeAllocRecord(q.Snapshot(), &bytes);
    CHECK(IsAllocRecord(bytes));
    Result<AllocRecord> decoded = DecodeAllocRecord(bytes);
    REQUIRE(decoded.ok());
    AllocQueues restored;
    REQUIRE(restored.Add(AllocQueueParams{.time_limit_ms = 1000}).ok());
    restored.Apply(*decoded);
    restored.CheckInvariants();
    CHECK(restored.DurablyEqual(q));
  }
};

TEST_CASE("alloc queue: parameters are checked") {
  AllocQueues q;
  AllocQueueParams p = Params();
  p.time_limit_ms = 0;
  Result<AllocQueueId> r = q.Add(p);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("time limit") != std::string::npos);
  p = Params();
  p.workers_per_alloc = 4;
  p.max_workers = 2;
  CHECK_FALSE(q.Add(p).ok());
  p = Params();
  p.manager = "pbs";
  CHECK_FALSE(q.Add(p).ok());
  CHECK(q.queues().empty());
  CHECK(q.Add(Params()).ok());
}

TEST_CASE("alloc queue: an sbatch answer it cannot follow ends the allocation, uncounted") {
  Bench b;
  AllocQueueParams p = Params();
  p.backlog = 2;
  const AllocQueueId id = b.Add(p);
  const uint32_t first = b.ExpectSubmit(id, 100);
  b.Submitted(id, first, 42);
  const uint32_t second = b.ExpectSubmit(id, 100);
  b.Submitted(id, second, 42);  // the same job id again: a confused sbatch
  CHECK(b.Alloc(id, second).state == AllocState::kFailed);
  CHECK_FALSE(b.Alloc(id, second).counted);
  CHECK(b.Alloc(id, second).reason.find("42") != std::string::npos);
  CHECK(b.Alloc(id, first).state == AllocState::kQueued);
  b.CheckReplay();
}

TEST_CASE("alloc queue: no submit without demand, one per tick with it") {
  Bench b;
  const AllocQueueId id = b.Add(Params());
  CHECK(id == 1);
  CHECK(b.Tick({}).empty());
  CHECK(b.Tick({{id, 0}}).empty());
  CHECK(b.Tick({{id + 1, 100}}).empty());  // another queue's demand

  AllocQueueParams p = Params();
  p.backlog = 3;
  const AllocQueueId many = b.Add(p);
  // 100 slot units waiting: still one Submit per tick.
  CHECK(b.ExpectSubmit(many, 100) == 1);
  CHECK(b.ExpectSubmit(many, 100) == 2);
  CHECK(b.ExpectSubmit(many, 100) == 3);
  CHECK(b.Tick({{many, 100}}).empty());  // backlog 3 reached
  CHECK(b.Queue(many).Waiting() == 3);
  CHECK(b.Alloc(many, 1).state == AllocState::kSubmitting);
  CHECK(b.Alloc(many, 1).asked_at == b.now);
  b.CheckReplay();
}

TEST_CASE("alloc queue: demand covered by pending allocations submits no more") {
  Bench b;
  AllocQueueParams p = Params(4);
  p.backlog = 10;
  p.workers_per_alloc = 2;  // each allocation brings 8 slots
  const AllocQueueId id = b.Add(p);
  CHECK(b.ExpectSubmit(id, 9) == 1);
  CHECK(b.Queue(id).ComingSlots(b.now) == 8);
  CHECK(b.ExpectSubmit(id, 9) == 2);  // 9 > 8
  CHECK(b.Tick({{id, 16}}).empty());  // 16 covered by 16 coming
  b.Submitted(id, 1, 501);
  b.Slurm(501, SlurmJobState::kRunning, "RUNNING");
  CHECK(b.Alloc(id, 1).state == AllocState::kRunning);
  CHECK(b.Alloc(id, 1).started_at == b.now);
  // One of its two workers connected: 4 slots of it still coming.
  b.Joined(501, "node1");
  CHECK(b.Queue(id).ComingSlots(b.now) == 12);
  CHECK(b.Tick({{id, 12}}).empty());
  CHECK(b.ExpectSubmit(id, 13) == 3);
  // A worker leaving does not make it "coming" again.
  b.Left(501, "node1");
  CHECK(b.Queue(id).ComingSlots(b.now) == 20);
  // Past the connect timeout, the missing worker is not coming either.
  b.now += kConnectTimeoutMs;
  CHECK(b.Queue(id).ComingSlots(b.now) == 16);
  b.CheckReplay();
}

TEST_CASE("alloc queue: max_workers counts every node not ended") {
  Bench b;
  AllocQueueParams p = Params(1);
  p.backlog = 5;
  p.workers_per_alloc = 2;
  p.max_workers = 5;
  const AllocQueueId id = b.Add(p);
  CHECK(b.ExpectSubmit(id, 100) == 1);
  CHECK(b.ExpectSubmit(id, 100) == 2);
  CHECK(b.Tick({{id, 100}}).empty());  // 4 + 2 > 5
  b.Submitted(id, 1, 11);
  b.Slurm(11, SlurmJobState::kRunning);
  b.Joined(11, "a");
  b.Joined(11, "b");
  CHECK(b.Tick({{id, 100}}).empty());  // running nodes count too
  b.Slurm(11, SlurmJobState::kEnded, "COMPLETED");
  CHECK(b.Alloc(id, 1).state == AllocState::kFinished);
  CHECK(b.Alloc(id, 1).workers.empty());
  CHECK(b.ExpectSubmit(id, 100) == 3);
  b.CheckReplay();
}

TEST_CASE("alloc queue: a removed queue with nothing left is dropped at once") {
  Bench b;
  const AllocQueueId id = b.Add(Params());
  CHECK(b.q.Remove(id, false));
  b.Check();
  // Nothing was left: dropped at once.
  CHECK(b.q.Find(id) == nullptr);
  CHECK(b.Tick({{id, 100}}).empty());
  CHECK_FALSE(b.q.Remove(id, false));
  CHECK_FALSE(b.q.Resume(id));
  b.CheckReplay();
}

TEST_CASE("alloc queue: failures back off, doubling, and pause the queue after 5") {
  Bench b;
  const AllocQueueId id = b.Add(Params());
  CHECK(FailureBackoffMs(1) == 10'000);
  CHECK(FailureBackoffMs(2) == 20'000);
  CHECK(FailureBackoffMs(3) == 40'000);
  CHECK(FailureBackoffMs(6) == 320'000);
  CHECK(FailureBackoffMs(7) == 600'000);  // 640 s, capped at 10 min
  CHECK(FailureBackoffMs(30) == kFailureBackoffMaxMs);
  CHECK(FailureBackoffMs(2, 100) == 200);  // shortened, for tests of the programs
  CHECK(FailureBackoffMs(30, 100) == 6'000);

  const int64_t waits[] = {10'000, 20'000, 40'000, 80'000};
  for (int i = 0; i < 4; ++i) {
    const uint32_t seq = b.ExpectSubmit(id, 4);
    b.SubmitFailed(id, seq, "error: invalid partition specified: nope");
    CHECK(b.Alloc(id, seq).state == AllocState::kFailed);
    CHECK(b.Alloc(id, seq).reason == "sbatch: error: invalid partition specified: nope");
    CHECK(b.Queue(id).failures_in_row == static_cast<uint32_t>(i + 1));
    // Exactly the backoff: nothing a millisecond before, a submit at it.
    b.now += waits[i] - 1;
    CHECK(b.Tick({{id, 4}}).empty());
    b.now += 1;
  }
  // The fifth: an allocation that ended before any worker connected.
  const uint32_t seq = b.ExpectSubmit(id, 4);
  b.Submitted(id, seq, 77);
  b.Slurm(77, SlurmJobState::kPending, "PENDING (Priority)");
  b.Slurm(77, SlurmJobState::kEnded, "FAILED (NonZeroExitCode)");
  const AllocQueue& q = b.Queue(id);
  CHECK(q.state == AllocQueueState::kPaused);
  CHECK(q.paused_reason ==
        "5 allocations in a row failed; the last: ended before any of its workers connected: "
        "FAILED (NonZeroExitCode)");
  b.now += kFailureBackoffMaxMs * 10;
  CHECK(b.Tick({{id, 4}}).empty());
  CHECK(b.q.DescribeAll(b.now).find("paused") != std::string::npos);
  CHECK(b.q.Describe(id, b.now).find("FAILED (NonZeroExitCode)") != std::string::npos);

  CHECK(b.q.Resume(id));
  b.Check();
  CHECK_FALSE(b.q.Resume(id));
  CHECK(b.Queue(id).failures_in_row == 0);
  CHECK(b.ExpectSubmit(id, 4) == 6);
  b.CheckReplay();
}

TEST_CASE("alloc queue: a worker connecting resets the failures") {
  Bench b;
  AllocQueueParams p = Params();
  p.backlog = 2;
  const AllocQueueId id = b.Add(p);
  uint32_t seq = b.ExpectSubmit(id, 8);
  b.SubmitFailed(id, seq, "Socket timed out");
  b.now += 10'000;
  seq = b.ExpectSubmit(id, 8);
  b.SubmitFailed(id, seq, "Socket timed out");
  CHECK(b.Queue(id).failures_in_row == 2);
  CHECK(b.q.DescribeAll(b.now).find("2 failed in a row, next try in 20s") != std::string::npos);
  b.now += 20'000;
  seq = b.ExpectSubmit(id, 8);
  b.Submitted(id, seq, 900);
  // Slurm not polled yet: the worker's hello is the first news of it.
  b.Joined(900, "node7");
  CHECK(b.Queue(id).failures_in_row == 0);
  CHECK(b.Alloc(id, seq).state == AllocState::kRunning);
  CHECK(b.Alloc(id, seq).worker_joined);
  CHECK(b.q.Describe(id, b.now).find("workers node7") != std::string::npos);
  // Ending after a worker connected is no failure, whatever Slurm says.
  b.Slurm(900, SlurmJobState::kEnded, "TIMEOUT");
  CHECK(b.Alloc(id, seq).state == AllocState::kFinished);
  CHECK(b.Queue(id).failures_in_row == 0);
  CHECK(b.ExpectSubmit(id, 8) == seq + 1);  // no backoff
  b.CheckReplay();
}

TEST_CASE("alloc queue: an allocation whose workers never connect is cancelled as a failure") {
  Bench b;
  const AllocQueueId id = b.Add(Params());
  const uint32_t seq = b.ExpectSubmit(id, 4);
  b.Submitted(id, seq, 31);
  b.Slurm(31, SlurmJobState::kRunning, "RUNNING");
  b.now += kConnectTimeoutMs - 1;
  CHECK(b.Tick({}).empty());
  b.now += 1;
  std::vector<AllocAction> actions = b.Tick({{id, 4}});
  REQUIRE(actions.size() == 1);  // the cancel; no submit while backing off
  REQUIRE(std::holds_alternative<AllocCancel>(actions[0]));
  CHECK(std::get<AllocCancel>(actions[0]).slurm_job_id == 31);
  CHECK(b.Alloc(id, seq).state == AllocState::kFailed);
  CHECK(b.Alloc(id, seq).reason.find("no worker connected within 5m") != std::string::npos);
  CHECK(b.Queue(id).failures_in_row == 1);
  // What Slurm says of it afterwards changes nothing.
  b.Slurm(31, SlurmJobState::kEnded, "CANCELLED");
  b.Joined(31, "late");
  CHECK(b.Alloc(id, seq).state == AllocState::kFailed);
  CHECK(b.Alloc(id, seq).workers.empty());
  CHECK(b.q.Following().empty());
  b.CheckReplay();
}

TEST_CASE("alloc queue: removal cancels what has not started and lets running ones finish") {
  Bench b;
  AllocQueueParams p = Params();
  p.backlog = 2;
  const AllocQueueId id = b.Add(p);
  CHECK(b.ExpectSubmit(id, 100) == 1);
  CHECK(b.ExpectSubmit(id, 100) == 2);
  b.Submitted(id, 1, 41);
  b.Submitted(id, 2, 42);
  b.Slurm(41, SlurmJobState::kRunning);
  b.Joined(41, "n1");
  CHECK(b.ExpectSubmit(id, 100) == 3);  // one waits in Slurm: room for one more

  REQUIRE(b.q.Remove(id, false));
  b.Check();
  CHECK_FALSE(b.q.Remove(id, true));  // already being removed
  std::vector<AllocAction> actions = b.Tick({{id, 100}});
  REQUIRE(actions.size() == 1);  // the queued one; not the running one, no submit
  CHECK(std::get<AllocCancel>(actions[0]).slurm_job_id == 42);
  CHECK(b.Tick({{id, 100}}).empty());  // asked once
  // sbatch answers for the third after the removal: cancelled next tick.
  b.Submitted(id, 3, 43);
  actions = b.Tick({});
  REQUIRE(actions.size() == 1);
  CHECK(std::get<AllocCancel>(actions[0]).slurm_job_id == 43);
  b.Slurm(42, SlurmJobState::kEnded, "CANCELLED by 1000");
  b.Slurm(43, SlurmJobState::kEnded, "CANCELLED by 1000");
  CHECK(b.Alloc(id, 2).state == AllocState::kFinished);
  CHECK(b.Alloc(id, 2).reason == "cancelled: queue removed (CANCELLED by 1000)");
  CHECK(b.Queue(id).failures_in_row == 0);
  CHECK(b.Queue(id).state == AllocQueueState::kRemoving);
  CHECK(b.q.DescribeAll(b.now).find("removing") != std::string::npos);
  // The running one finishes by itself (its workers' idle timeout).
  b.Left(41, "n1");
  b.Slurm(41, SlurmJobState::kEnded, "COMPLETED");
  CHECK(b.q.Find(id) == nullptr);
  CHECK(b.q.Following().empty());
  b.CheckReplay();
}

TEST_CASE("alloc queue: removal --now cancels running allocations too") {
  Bench b;
  const AllocQueueId id = b.Add(Params());
  CHECK(b.ExpectSubmit(id, 4) == 1);
  b.Submitted(id, 1, 51);
  b.Joined(51, "n1");
  REQUIRE(b.q.Remove(id, true));
  b.Check();
  std::vector<AllocAction> actions = b.Tick({});
  REQUIRE(actions.size() == 1);
  CHECK(std::get<AllocCancel>(actions[0]).slurm_job_id == 51);
  b.Left(51, "n1");
  b.Slurm(51, SlurmJobState::kEnded, "CANCELLED by 1000");
  CHECK(b.q.Find(id) == nullptr);
  b.CheckReplay();
}

TEST_CASE("alloc queue: replay rebuilds the same state, and a restart fails sbatch calls in flight") {
  Bench b;
  AllocQueueParams p = Params(2);
  p.backlog = 3;
  p.labels = {"gpu"};
  p.resources = {ResourceAmount{.name = "gpus", .amount = 2}};
  p.sbatch_args = {"--partition=gpu", "--account=lab"};
  p.worker_args = {"--prefetch", "4"};
  const AllocQueueId a = b.Add(p);
  const AllocQueueId c = b.Add(Params());
  CHECK(b.ExpectSubmit(a, 10) == 1);
  CHECK(b.ExpectSubmit(a, 10) == 2);
  b.Submitted(a, 1, 61);
  b.Slurm(61, SlurmJobState::kRunning);
  b.Joined(61, "g1");
  b.SubmitFailed(a, 2, "Batch job submission failed: Invalid account");
  const uint32_t seq = b.ExpectSubmit(c, 1);  // left unanswered
  CHECK(seq == 1);
  b.CheckReplay();

  // The broker restarts (on the same boot: its clock goes on).
  AllocQueues after;
  for (const AllocRecord& r : b.journal) after.Apply(r);
  after.CheckInvariants();
  CHECK(after.queues().at(a).params == p);
  CHECK(after.Find(a)->Find(1)->workers.empty());  // until they say hello again
  CHECK(after.Find(a)->failures_in_row == 1);
  CHECK(after.Find(a)->BackoffUntil() == b.now + 10'000);
  b.now += 5'000;
  after.AfterReplay(b.now);
  after.CheckInvariants();
  const Allocation* lost = after.Find(c)->Find(1);
  CHECK(lost->state == AllocState::kFailed);
  CHECK_FALSE(lost->counted);
  CHECK(lost->reason.find("squeue --name drover-q2-1") != std::string::npos);
  CHECK(after.Find(c)->failures_in_row == 0);
  CHECK(after.TakeRecords().size() == 1);  // journaled like any end
  after.OnWorkerJoined(61, "g1", b.now);
  CHECK(after.Find(a)->Find(1)->workers.size() == 1);
  CHECK(after.Following() == std::vector<SlurmJobId>{61});
  // Ids go on from the replayed ones.
  Result<AllocQueueId> next = after.Add(Params());
  REQUIRE(next.ok());
  CHECK(*next == 3);
  after.CheckInvariants();
}

TEST_CASE("alloc queue: replay after a reboot brings future times back to now") {
  Bench b;
  const AllocQueueId id = b.Add(Params());
  b.SubmitFailed(id, b.ExpectSubmit(id, 4), "down");
  AllocQueues after;
  for (const AllocRecord& r : b.journal) after.Apply(r);
  after.AfterReplay(5'000);  // the new boot's clock is far behind
  after.CheckInvariants();
  CHECK(after.Find(id)->last_failure_at == 5'000);
  CHECK(after.Tick(5'000 + 9'999, {{id, 4}}).empty());
  CHECK(after.Tick(5'000 + 10'000, {{id, 4}}).size() == 1);
}

TEST_CASE("alloc queue: records round-trip through their encoding") {
  AllocEndedRecord r{.queue = 3,
                     .seq = 9,
                     .state = AllocState::kFailed,
                     .counted = true,
                     .reason = "NODE_FAIL",
                     .at = 123};
  std::string bytes;
  EncodeAllocRecord(r, &bytes);
  Result<AllocRecord> back = DecodeAllocRecord(bytes);
  REQUIRE(back.ok());
  const auto* e = std::get_if<AllocEndedRecord>(&*back);
  REQUIRE(e != nullptr);
  CHECK(e->seq == 9);
  CHECK(e->state == AllocState::kFailed);
  CHECK(e->reason == "NODE_FAIL");
  CHECK(e->at == 123);
  bytes.back() = static_cast<char>(0xc1);  // a byte MessagePack never uses
  CHECK_FALSE(DecodeAllocRecord(bytes).ok());
}

TEST_CASE("alloc demand: ready steps a queue's workers could run and no worker has room for") {
  Fixture f;
  AllocQueues queues;
  AllocQueueParams cpu = Params(4);
  AllocQueueParams gpu = Params(2);
  gpu.labels = {"gpu"};
  gpu.resources = {ResourceAmount{.name = "gpus", .amount = 1}};
  gpu.time_limit_ms = 600'000;
  const AllocQueueId cpu_id = queues.Add(cpu).value();
  const AllocQueueId gpu_id = queues.Add(gpu).value();

  GraphBuilder g = Independent(6);          // 6 one-slot steps
  g.Step("wide").last().slots = 3;         // 3 slots: both fit cpu, not gpu (2)
  g.Step("g1").last().requires_labels = {"gpu"};
  g.Step("g2").last().requires_labels = {"gpu"};
  g.last().resources = 1;                  // gpus 1
  g.Step("long").last().requires_labels = {"gpu"};
  g.last().time_request_ms = 3'600'000;    // longer than the gpu queue's limit
  JobSpec spec = g.Build();
  spec.resource_requests = {ResourceList{ResourceAmount{.name = "gpus", .amount = 1}}};
  f.Submit(spec);
  CHECK(f.Schedule().empty());  // no workers at all

  AllocDemand d = ComputeDemand(queues, f.sched.jobs(), f.sched.pool());
  CHECK(d[cpu_id] == 6 + 3);
  CHECK(d[gpu_id] == 6 + 1 + 1);  // the gpus step fits: its queue has gpus 1

  // A worker takes 2 one-slot steps: they no longer count.
  f.AddWorker("w", 2);
  CHECK(f.Schedule().size() == 2);
  d = ComputeDemand(queues, f.sched.jobs(), f.sched.pool());
  CHECK(d[cpu_id] == 4 + 3);

  // A paused or removing queue has no demand.
  REQUIRE(queues.Remove(gpu_id, false));
  d = ComputeDemand(queues, f.sched.jobs(), f.sched.pool());
  CHECK(d.count(gpu_id) == 0);
  f.out.dispatches.clear();
}

TEST_CASE("alloc demand: max_parallel bounds what more workers could start") {
  Fixture f;
  AllocQueues queues;
  const AllocQueueId id = queues.Add(Params(1)).value();
  f.Submit(Independent(10).MaxParallel(3).Build());
  f.AddWorker("w", 1);
  CHECK(f.Schedule().size() == 1);
  AllocDemand d = ComputeDemand(queues, f.sched.jobs(), f.sched.pool());
  CHECK(d[id] == 2);  // 3 at once, 1 running
}

}  // namespace
}  // namespace drover::broker
