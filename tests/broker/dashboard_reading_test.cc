// How the HTTP side reads what the broker's loop leaves for it: snapshots
// on demand (broker/http/snapshot.h) and a job's files in the spool, read
// incrementally while the loop appends (broker/http/job_reader.h).

#include <doctest/doctest.h>
#include <poll.h>

#include <fstream>
#include <thread>

#include "broker/http/job_reader.h"
#include "broker/http/snapshot.h"
#include "shared/clock.h"
#include "shared/codec.h"
#include "shared/job_load.h"
#include "tests/temp_dir.h"

namespace drover::broker::http {
namespace {

bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) == 1;
}

std::shared_ptr<const Snapshot> TakenNow() {
  auto s = std::make_shared<Snapshot>();
  s->taken_mono_ms = MonotonicMs();
  return s;
}

TEST_CASE("snapshots: asked for when stale, handed over when published, stale if none comes") {
  SnapshotBoard board;
  CHECK_FALSE(Readable(board.want_fd()));
  // Nothing published yet and nobody publishing: nullptr after the wait,
  // and the loop has been asked.
  CHECK(board.Fresh(500, 10) == nullptr);
  CHECK(Readable(board.want_fd()));
  board.Publish(TakenNow());
  CHECK_FALSE(Readable(board.want_fd()));  // the ask is cleared
  const auto fresh = board.Fresh(500, 10);
  REQUIRE(fresh != nullptr);
  CHECK_FALSE(Readable(board.want_fd()));  // fresh enough: not asked again

  // Too old: asked for again; the loop answers while the request waits.
  std::thread loop([&] {
    pollfd p{board.want_fd(), POLLIN, 0};
    REQUIRE(poll(&p, 1, 5000) == 1);
    board.Publish(TakenNow());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const auto newer = board.Fresh(5, 5000);
  loop.join();
  REQUIRE(newer != nullptr);
  CHECK(newer != fresh);

  // A loop that does not answer: the stale one, after the wait.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(board.Fresh(5, 10) == newer);
}

void Append(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST_CASE("job reader: a log read while it grows, a record cut in two included") {
  testing::TempDir dir;
  const std::string job =
      JsonToMsgpack(R"({"steps": [{"id": "a", "cmd": "true"},
                                  {"id": "b", "cmd": "false", "after": ["a"]}]})")
          .value();
  Append(dir.path() + "/4.job", job);
  JobStatus status{JobId(4), "", JobState::kRunning, std::vector<uint32_t>(kStepStateCount, 0)};
  JobReader reader;

  // No events yet: the file is made at the spool's first flush.
  auto empty = reader.Read(dir.path(), status, 1000);
  REQUIRE(empty.ok());
  CHECK(empty.value()["steps"].size() == 2);
  CHECK(empty.value()["attempts"].empty());

  std::string log;
  AppendEventRecord(StepStarted{StepIndex(0), Attempt(1), "w", 100}, &log);
  RunResult ok;
  ok.started_ms = 100;
  ok.ended_ms = 200;
  AppendEventRecord(StepEnded{StepIndex(0), Attempt(1), StepState::kSucceeded, "", "w", ok}, &log);
  const size_t first_two = log.size();
  AppendEventRecord(StepStarted{StepIndex(1), Attempt(1), "w", 300}, &log);
  const std::string events = dir.path() + "/4.events";
  Append(events, std::string_view(log).substr(0, first_two + 3));  // the third cut short

  auto partway = reader.Read(dir.path(), status, 1000);
  REQUIRE(partway.ok());
  CHECK(partway.value()["attempts"].size() == 1);
  CHECK(partway.value()["steps"][0]["state"] == "succeeded");

  Append(events, std::string_view(log).substr(first_two + 3));
  auto whole = reader.Read(dir.path(), status, 1000);
  REQUIRE(whole.ok());
  REQUIRE(whole.value()["attempts"].size() == 2);
  CHECK(whole.value()["attempts"][1]["step_id"] == "b");
  CHECK(whole.value()["attempts"][1]["end_ms"] == 0);
  CHECK(whole.value()["steps"][1]["state"] == "running");

  // A job whose file is not there: the error says which file.
  JobStatus missing = status;
  missing.id = JobId(5);
  auto none = reader.Read(dir.path(), missing, 1000);
  REQUIRE_FALSE(none.ok());
  CHECK(none.status().message().find("5.job") != std::string::npos);
}

}  // namespace
}  // namespace drover::broker::http
