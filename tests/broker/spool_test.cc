// The spool against real files in a temporary directory, on a disk that is
// short or full: what it keeps of a step's output, the marker in its place,
// captured stdout that is lost rather than cut short, and flushes that fail
// without leaving part of a record behind.
#include "broker/spool.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "shared/codec.h"
#include "tests/broker/file_size_limit.h"
#include "tests/temp_dir.h"

namespace drover::broker {
namespace {

using Level = DiskSpace::Level;

using testing::TempDir;

const JobId kJob(1);

// Two steps; the second reads the first's stdout.
JobSpec PipeSpec() {
  JobSpec spec;
  spec.steps.resize(2);
  spec.steps[0].id = "make";
  spec.steps[1].id = "take";
  spec.steps[1].stdin_from = {StepIndex(0)};
  return spec;
}

StepOutput Out(uint32_t step, Stream stream, std::string data) {
  return StepOutput{StepIndex(step), Attempt(1), stream, Blob{std::move(data)}};
}

// Everything in the job's log, decoded.
std::vector<Event> LogOf(Spool& spool) {
  EventLog* log = spool.Log(kJob);
  REQUIRE(log != nullptr);
  // From disk up to what was flushed, then from memory.
  std::string all, scratch;
  while (all.size() < log->size()) {
    Result<std::string_view> bytes = log->Read(all.size(), 1 << 30, &scratch);
    REQUIRE(bytes.ok());
    REQUIRE(!bytes->empty());
    all += bytes.value();
  }
  Result<std::vector<Event>> events = DecodeEventRecords(all);
  REQUIRE(events.ok());
  return std::move(events).value();
}

// The output of `step` in the log, as one string per stream.
std::string OutputOf(const std::vector<Event>& events, uint32_t step, Stream stream) {
  std::string text;
  for (const Event& e : events) {
    const auto* out = std::get_if<StepOutput>(&e);
    if (out != nullptr && out->step.value == step && out->stream == stream) text += out->data.bytes;
  }
  return text;
}

std::unique_ptr<Spool> NewSpool(const TempDir& dir) {
  Result<std::unique_ptr<Spool>> spool = Spool::Create(dir.path() + "/spool");
  REQUIRE(spool.ok());
  return std::move(spool).value();
}

TEST_CASE("spool: on a short disk a step keeps a bounded part of its output, then one marker") {
  TempDir dir;
  std::unique_ptr<Spool> spool = NewSpool(dir);
  spool->OpenJob(kJob, PipeSpec());
  REQUIRE(spool->Record(kJob, StepStarted{StepIndex(1), Attempt(1), "w"}).ok());
  REQUIRE(spool->Record(kJob, Out(1, Stream::kStderr, "before\n")).ok());
  spool->set_disk_level(Level::kShort);
  const std::string chunk(DiskSpace::kShortOutputBytes / 4, 'x');
  for (int i = 0; i < 4; ++i) REQUIRE(spool->Record(kJob, Out(1, Stream::kStderr, chunk)).ok());
  // Past the allowance; the last byte kept was no newline, so the marker
  // starts a line of its own.
  for (int i = 0; i < 10; ++i) REQUIRE(spool->Record(kJob, Out(1, Stream::kStderr, "more\n")).ok());
  REQUIRE(spool
              ->Record(kJob, StepEnded{StepIndex(1), Attempt(1), StepState::kSucceeded, "", "",
                                       std::nullopt})
              .ok());
  REQUIRE(spool->FlushAll().ok());
  CHECK(spool->TakeCuts() == 1);

  std::vector<Event> events = LogOf(*spool);
  CHECK(OutputOf(events, 1, Stream::kStderr) ==
        "before\n" + std::string(DiskSpace::kShortOutputBytes, 'x') + "\n" + kOutputNotKeptMarker);
  CHECK(std::holds_alternative<StepEnded>(events.back()));

  SUBCASE("room again: the next attempt's output is kept whole") {
    spool->set_disk_level(Level::kRoomy);
    REQUIRE(spool->Record(kJob, StepStarted{StepIndex(1), Attempt(2), "w"}).ok());
    REQUIRE(spool->Record(kJob, Out(1, Stream::kStdout, std::string(1 << 20, 'y'))).ok());
    REQUIRE(spool->FlushAll().ok());
    CHECK(OutputOf(LogOf(*spool), 1, Stream::kStdout).size() == (1 << 20));
  }
  SUBCASE("full: a new attempt keeps nothing, the marker is its only output") {
    spool->set_disk_level(Level::kFull);
    REQUIRE(spool->Record(kJob, StepStarted{StepIndex(1), Attempt(2), "w"}).ok());
    const size_t before = OutputOf(LogOf(*spool), 1, Stream::kStdout).size();
    REQUIRE(spool->Record(kJob, Out(1, Stream::kStdout, "a\n")).ok());
    REQUIRE(spool->Record(kJob, Out(1, Stream::kStdout, "b\n")).ok());
    CHECK(OutputOf(LogOf(*spool), 1, Stream::kStdout).substr(before) == kOutputNotKeptMarker);
  }
}

TEST_CASE("spool: captured stdout that lost a piece is lost whole, and the reader is told why") {
  TempDir dir;
  std::unique_ptr<Spool> spool = NewSpool(dir);
  spool->OpenJob(kJob, PipeSpec());
  const std::string capture = dir.path() + "/spool/1.stdout.0";
  REQUIRE(spool->Record(kJob, StepStarted{StepIndex(0), Attempt(1), "w"}).ok());
  REQUIRE(spool->Record(kJob, Out(0, Stream::kStdout, "part one\n")).ok());

  SUBCASE("short, within the allowance: kept") {
    spool->set_disk_level(Level::kShort);
    REQUIRE(spool->Record(kJob, Out(0, Stream::kStdout, "part two\n")).ok());
    Result<std::string> read = spool->ReadCapturedStdout(kJob, StepIndex(0), 1 << 20);
    REQUIRE(read.ok());
    CHECK(read.value() == "part one\npart two\n");
  }
  SUBCASE("full: the capture is deleted, and the next attempt starts afresh") {
    spool->set_disk_level(Level::kFull);
    REQUIRE(spool->Record(kJob, Out(0, Stream::kStdout, "part two\n")).ok());
    CHECK_FALSE(std::filesystem::exists(capture));
    Result<std::string> read = spool->ReadCapturedStdout(kJob, StepIndex(0), 1 << 20);
    REQUIRE_FALSE(read.ok());
    CHECK(read.status().message() == "its output was not kept: the broker's state disk was full");
    // Room again: more output does not revive a capture with a hole in it.
    spool->set_disk_level(Level::kRoomy);
    REQUIRE(spool->Record(kJob, Out(0, Stream::kStdout, "part three\n")).ok());
    CHECK_FALSE(spool->ReadCapturedStdout(kJob, StepIndex(0), 1 << 20).ok());
    REQUIRE(spool->Record(kJob, StepStarted{StepIndex(0), Attempt(2), "w"}).ok());
    REQUIRE(spool->Record(kJob, Out(0, Stream::kStdout, "again\n")).ok());
    read = spool->ReadCapturedStdout(kJob, StepIndex(0), 1 << 20);
    REQUIRE(read.ok());
    CHECK(read.value() == "again\n");
  }
  SUBCASE("a cut of stderr alone leaves the capture whole until stdout loses a piece") {
    spool->set_disk_level(Level::kFull);
    REQUIRE(spool->Record(kJob, Out(0, Stream::kStderr, "noise\n")).ok());
    CHECK(spool->ReadCapturedStdout(kJob, StepIndex(0), 1 << 20).ok());
    REQUIRE(spool->Record(kJob, Out(0, Stream::kStdout, "part two\n")).ok());
    CHECK_FALSE(spool->ReadCapturedStdout(kJob, StepIndex(0), 1 << 20).ok());
  }
}

using testing::FileSizeLimit;

TEST_CASE("spool: a flush failing part way leaves whole records, the next writes the rest") {
  TempDir dir;
  std::unique_ptr<Spool> spool = NewSpool(dir);
  spool->OpenJob(kJob, PipeSpec());
  REQUIRE(spool->Record(kJob, StepStarted{StepIndex(1), Attempt(1), "w"}).ok());
  REQUIRE(spool->FlushAll().ok());
  const uint64_t flushed = spool->Log(kJob)->size();
  for (int i = 0; i < 20; ++i) {
    REQUIRE(spool->Record(kJob, Out(1, Stream::kStdout, std::to_string(i) + "\n")).ok());
  }
  const std::string log = dir.path() + "/spool/1.events";
  {
    FileSizeLimit limit(flushed + 30);  // inside the records
    CHECK_FALSE(spool->FlushAll().ok());
    CHECK(std::filesystem::file_size(log) == flushed);
    // What is not on disk is still read, from memory.
    CHECK(OutputOf(LogOf(*spool), 1, Stream::kStdout).size() == 50);
  }
  // A job closed meanwhile waits for its last events to reach the file.
  {
    FileSizeLimit limit(flushed);
    spool->CloseJob(kJob);
    CHECK(std::filesystem::file_size(log) == flushed);
  }
  REQUIRE(spool->FlushAll().ok());
  CHECK(std::filesystem::file_size(log) == spool->Log(kJob)->size());
  // Read back from disk, by a spool that never held it.
  std::unique_ptr<Spool> again = NewSpool(dir);
  std::string text;
  for (int i = 0; i < 20; ++i) text += std::to_string(i) + "\n";
  CHECK(OutputOf(LogOf(*again), 1, Stream::kStdout) == text);
}

TEST_CASE("spool: a job file that cannot be written whole is not left in part") {
  TempDir dir;
  std::unique_ptr<Spool> spool = NewSpool(dir);
  {
    FileSizeLimit limit(100);
    CHECK_FALSE(spool->WriteJobFile(kJob, std::string(1000, 'j')).ok());
  }
  CHECK_FALSE(std::filesystem::exists(dir.path() + "/spool/1.job"));
  REQUIRE(spool->WriteJobFile(kJob, std::string(1000, 'j')).ok());
  CHECK(spool->ReadJobFile(kJob).value() == std::string(1000, 'j'));
}

}  // namespace
}  // namespace drover::broker
