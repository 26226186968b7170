// ResultLog (worker/core/result_log.h): numbering, batching, acknowledgement
// and sending again after a reconnection.

#include <doctest/doctest.h>

#include "worker/core/result_log.h"

namespace drover::worker {
namespace {

TaskResult ResultOf(uint32_t step) {
  TaskResult r;
  r.key = TaskKey{JobId(1), StepIndex(step), Attempt(1)};
  return r;
}

// The steps in `batches`, in order.
std::vector<uint32_t> Steps(const std::vector<TaskResults>& batches) {
  std::vector<uint32_t> steps;
  for (const TaskResults& b : batches) {
    for (const TaskResult& r : b.results) steps.push_back(r.key.step.value);
  }
  return steps;
}

TEST_CASE("results are held up to kDelayMs while work is queued, and go at once when it runs low") {
  ResultLog log;
  log.Add(ResultOf(0), 1000);
  log.CheckInvariants();
  CHECK(log.due() == 1000 + ResultLog::kDelayMs);
  CHECK(log.Take(1005, /*force=*/false, /*running_low=*/false).empty());
  log.Add(ResultOf(1), 1010);
  auto batches = log.Take(1000 + ResultLog::kDelayMs, false, false);
  REQUIRE(batches.size() == 1);
  CHECK(batches[0].first_seq == 1);
  CHECK(Steps(batches) == std::vector<uint32_t>{0, 1});
  CHECK(log.due() == -1);
  log.Add(ResultOf(2), 2000);
  CHECK(Steps(log.Take(2000, false, /*running_low=*/true)) == std::vector<uint32_t>{2});
  log.CheckInvariants();
}

TEST_CASE("an urgent result goes at once, and takes those held with it") {
  ResultLog log;
  log.Add(ResultOf(0), 1000);
  log.Add(ResultOf(1), 1001, /*urgent=*/true);
  CHECK(Steps(log.Take(1001, false, false)) == std::vector<uint32_t>{0, 1});
  log.Add(ResultOf(2), 1002);
  CHECK(log.Take(1002, false, false).empty());  // urgency went with its batch
  log.CheckInvariants();
}

TEST_CASE("a full batch goes at once, a very long backlog goes in several messages") {
  ResultLog log;
  for (uint32_t i = 0; i < ResultLog::kMaxBatch; ++i) log.Add(ResultOf(i), 1000);
  CHECK(Steps(log.Take(1000, false, false)).size() == ResultLog::kMaxBatch);
  for (uint32_t i = 0; i < ResultLog::kMaxPerMessage + 10; ++i) log.Add(ResultOf(i), 2000);
  auto batches = log.Take(2000, /*force=*/true, false);
  REQUIRE(batches.size() == 2);
  CHECK(batches[0].results.size() == ResultLog::kMaxPerMessage);
  CHECK(batches[1].first_seq == batches[0].first_seq + ResultLog::kMaxPerMessage);
  log.CheckInvariants();
}

TEST_CASE("unacknowledged results go again on a new connection, acknowledged ones never") {
  ResultLog log;
  for (uint32_t i = 0; i < 3; ++i) log.Add(ResultOf(i), 1000);
  CHECK(Steps(log.Take(1000, true, false)) == std::vector<uint32_t>{0, 1, 2});
  log.Acknowledged(1);
  CHECK(log.kept() == 2);
  CHECK(log.Take(1000, true, false).empty());  // all sent on this connection
  log.Reconnected();
  auto again = log.Take(1000, true, false);
  REQUIRE(again.size() == 1);
  CHECK(again[0].first_seq == 2);
  CHECK(Steps(again) == std::vector<uint32_t>{1, 2});
  // An acknowledgement beyond what exists does not make future ones sent.
  log.Acknowledged(99);
  log.CheckInvariants();
  log.Add(ResultOf(3), 1000);
  CHECK(Steps(log.Take(1000, true, false)) == std::vector<uint32_t>{3});
  log.CheckInvariants();
}

TEST_CASE("a long reason is cut to kMaxErrorBytes") {
  ResultLog log;
  TaskResult r = ResultOf(0);
  r.run.error = std::string(100'000, 'x');
  log.Add(std::move(r), 1000);
  auto batches = log.Take(1000, true, false);
  REQUIRE(batches.size() == 1);
  CHECK(batches[0].results[0].run.error.size() == ResultLog::kMaxErrorBytes + 3);
}

}  // namespace
}  // namespace drover::worker
