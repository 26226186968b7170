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

#include <array>
#include <filesystem>
#include <map>
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
  spec.steps[1].after = {StepIndex(0)};
  spec.steps[1].stdin_from_count = 1;
  return spec;
}

// A worker's output as it sends it: each chunk of an attempt's stream at
// the offset where the one before ended.
class Printer {
 public:
  StepStarted Start(uint32_t step, uint32_t attempt) {
    attempt_[step] = attempt;
    next_[step][0] = next_[step][1] = 0;
    return StepStarted{StepIndex(step), Attempt(attempt), "w"};
  }
  StepOutput Out(uint32_t step, Stream stream, std::string data) {
    uint64_t& at = next_[step][stream == Stream::kStdout ? 0 : 1];
    StepOutput out{StepIndex(step), Attempt(attempt_[step]), stream, Blob{std::move(data)}, at};
    at += out.data.bytes.size();
    return out;
  }

 private:
  std::map<uint32_t, uint32_t> attempt_;
  std::map<uint32_t, std::array<uint64_t, 2>> next_;
};

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
  Printer p;
  REQUIRE(spool->Record(kJob, p.Start(1, 1)).ok());
  REQUIRE(spool->Record(kJob, p.Out(1, Stream::kStderr, "before\n")).ok());
  spool->set_disk_level(Level::kShort);
  const std::string chunk(DiskSpace::kShortOutputBytes / 4, 'x');
  for (int i = 0; i < 4; ++i) REQUIRE(spool->Record(kJob, p.Out(1, Stream::kStderr, chunk)).ok());
  // Past the allowance; the last byte kept was no newline, so the marker
  // starts a line of its own.
  for (int i = 0; i < 10; ++i) {
    REQUIRE(spool->Record(kJob, p.Out(1, Stream::kStderr, "more\n")).ok());
  }
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
    REQUIRE(spool->Record(kJob, p.Start(1, 2)).ok());
    REQUIRE(spool->Record(kJob, p.Out(1, Stream::kStdout, std::string(1 << 20, 'y'))).ok());
    REQUIRE(spool->FlushAll().ok());
    CHECK(OutputOf(LogOf(*spool), 1, Stream::kStdout).size() == (1 << 20));
  }
  SUBCASE("full: a new attempt keeps nothing, the marker is its only output") {
    spool->set_disk_level(Level::kFull);
    REQUIRE(spool->Record(kJob, p.Start(1, 2)).ok());
    const size_t before = OutputOf(LogOf(*spool), 1, Stream::kStdout).size();
    REQUIRE(spool->Record(kJob, p.Out(1, Stream::kStdout, "a\n")).ok());
    REQUIRE(spool->Record(kJob, p.Out(1, Stream::kStdout, "b\n")).ok());
    CHECK(OutputOf(LogOf(*spool), 1, Stream::kStdout).substr(before) == kOutputNotKeptMarker);
  }
}

TEST_CASE("spool: captured stdout that lost a piece is lost whole, and the reader is told why") {
  TempDir dir;
  std::unique_ptr<Spool> spool = NewSpool(dir);
  spool->OpenJob(kJob, PipeSpec());
  Printer p;
  const std::string capture = dir.path() + "/spool/1.stdout.0";
  REQUIRE(spool->Record(kJob, p.Start(0, 1)).ok());
  REQUIRE(spool->Record(kJob, p.Out(0, Stream::kStdout, "part one\n")).ok());

  SUBCASE("short, within the allowance: kept") {
    spool->set_disk_level(Level::kShort);
    REQUIRE(spool->Record(kJob, p.Out(0, Stream::kStdout, "part two\n")).ok());
    Result<std::string> read = spool->ReadCapturedStdout(kJob, StepIndex(0), 1 << 20);
    REQUIRE(read.ok());
    CHECK(read.value() == "part one\npart two\n");
  }
  SUBCASE("full: the capture is deleted, and the next attempt starts afresh") {
    spool->set_disk_level(Level::kFull);
    REQUIRE(spool->Record(kJob, p.Out(0, Stream::kStdout, "part two\n")).ok());
    CHECK_FALSE(std::filesystem::exists(capture));
    Result<std::string> read = spool->ReadCapturedStdout(kJob, StepIndex(0), 1 << 20);
    REQUIRE_FALSE(read.ok());
    CHECK(read.status().message() == "its output was not kept: the broker's state disk was full");
    // Room again: more output does not revive a capture with a hole in it.
    spool->set_disk_level(Level::kRoomy);
    REQUIRE(spool->Record(kJob, p.Out(0, Stream::kStdout, "part three\n")).ok());
    CHECK_FALSE(spool->ReadCapturedStdout(kJob, StepIndex(0), 1 << 20).ok());
    REQUIRE(spool->Record(kJob, p.Start(0, 2)).ok());
    REQUIRE(spool->Record(kJob, p.Out(0, Stream::kStdout, "again\n")).ok());
    read = spool->ReadCapturedStdout(kJob, StepIndex(0), 1 << 20);
    REQUIRE(read.ok());
    CHECK(read.value() == "again\n");
  }
  SUBCASE("a cut of stderr alone leaves the capture whole until stdout loses a piece") {
    spool->set_disk_level(Level::kFull);
    REQUIRE(spool->Record(kJob, p.Out(0, Stream::kStderr, "noise\n")).ok());
    CHECK(spool->ReadCapturedStdout(kJob, StepIndex(0), 1 << 20).ok());
    REQUIRE(spool->Record(kJob, p.Out(0, Stream::kStdout, "part two\n")).ok());
    CHECK_FALSE(spool->ReadCapturedStdout(kJob, StepIndex(0), 1 << 20).ok());
  }
}

StepEnded Succeeded(uint32_t step, uint32_t attempt, int64_t stdout_bytes) {
  RunResult run;
  run.stdout_bytes = stdout_bytes;
  return StepEnded{StepIndex(step), Attempt(attempt), StepState::kSucceeded, "", "w", run};
}

std::string Captured(Spool& spool, uint32_t step) {
  Result<std::string> read = spool.ReadCapturedStdout(kJob, StepIndex(step), 1 << 20);
  REQUIRE_MESSAGE(read.ok(), read.status().message());
  return read.value();
}

StepOutput At(uint32_t step, uint64_t offset, std::string data) {
  return StepOutput{StepIndex(step), Attempt(1), Stream::kStdout, Blob{std::move(data)}, offset};
}

TEST_CASE("spool: output sent again is kept once, in the log and in the capture") {
  TempDir dir;
  std::unique_ptr<Spool> spool = NewSpool(dir);
  spool->OpenJob(kJob, PipeSpec());
  Printer p;
  REQUIRE(spool->Record(kJob, p.Start(0, 1)).ok());
  REQUIRE(spool->Record(kJob, At(0, 0, "one\n")).ok());
  REQUIRE(spool->Record(kJob, At(0, 4, "two\n")).ok());
  REQUIRE(spool->Record(kJob, At(0, 0, "one\n")).ok());             // all of it here
  REQUIRE(spool->Record(kJob, At(0, 4, "two\nthree\n")).ok());      // part of it
  REQUIRE(spool->Record(kJob, At(0, 8, "three\n")).ok());
  REQUIRE(spool->Record(kJob, At(0, 14, "four\n")).ok());
  REQUIRE(spool->Record(kJob, Succeeded(0, 1, 19)).ok());
  REQUIRE(spool->FlushAll().ok());
  CHECK(OutputOf(LogOf(*spool), 0, Stream::kStdout) == "one\ntwo\nthree\nfour\n");
  CHECK(Captured(*spool, 0) == "one\ntwo\nthree\nfour\n");
}

TEST_CASE("spool: a gap in captured stdout loses the capture, and its log keeps what came") {
  TempDir dir;
  std::unique_ptr<Spool> spool = NewSpool(dir);
  spool->OpenJob(kJob, PipeSpec());
  Printer p;
  REQUIRE(spool->Record(kJob, p.Start(0, 1)).ok());
  REQUIRE(spool->Record(kJob, At(0, 0, "one\n")).ok());
  REQUIRE(spool->Record(kJob, At(0, 8, "three\n")).ok());  // "two\n" never came
  REQUIRE(spool->FlushAll().ok());
  CHECK(OutputOf(LogOf(*spool), 0, Stream::kStdout) == "one\nthree\n");
  CHECK_FALSE(spool->ReadCapturedStdout(kJob, StepIndex(0), 1 << 20).ok());
}

TEST_CASE("spool: reopened after a restart, it keeps once what the worker sends again") {
  TempDir dir;
  {
    std::unique_ptr<Spool> spool = NewSpool(dir);
    spool->OpenJob(kJob, PipeSpec());
    Printer p;
    REQUIRE(spool->Record(kJob, p.Start(0, 1)).ok());
    REQUIRE(spool->Record(kJob, p.Start(1, 1)).ok());  // another attempt running, no output
    REQUIRE(spool->Record(kJob, p.Out(0, Stream::kStdout, "one\n")).ok());
    REQUIRE(spool->Record(kJob, p.Out(0, Stream::kStderr, "warn\n")).ok());
    REQUIRE(spool->Record(kJob, p.Out(0, Stream::kStdout, "two\n")).ok());
    REQUIRE(spool->FlushAll().ok());
    // Killed after writing this to the capture, before the log's flush.
    REQUIRE(spool->Record(kJob, p.Out(0, Stream::kStdout, "three\n")).ok());
  }
  std::unique_ptr<Spool> spool = NewSpool(dir);
  REQUIRE(spool->ReopenJob(kJob, PipeSpec()).ok());
  // The worker sends again all it was not credited for, and goes on.
  REQUIRE(spool->Record(kJob, At(0, 4, "two\nthree\n")).ok());
  REQUIRE(spool->Record(kJob, StepOutput{StepIndex(0), Attempt(1), Stream::kStderr,
                                         Blob{std::string("warn\nmore\n")}, 0})
              .ok());
  REQUIRE(spool->Record(kJob, At(0, 14, "four\n")).ok());
  REQUIRE(spool->Record(kJob, Succeeded(0, 1, 19)).ok());
  REQUIRE(spool->FlushAll().ok());
  const std::vector<Event> events = LogOf(*spool);
  CHECK(OutputOf(events, 0, Stream::kStdout) == "one\ntwo\nthree\nfour\n");
  CHECK(OutputOf(events, 0, Stream::kStderr) == "warn\nmore\n");
  CHECK(Captured(*spool, 0) == "one\ntwo\nthree\nfour\n");
}

TEST_CASE("spool: output sent again for an attempt whose end the log has keeps its capture") {
  // The broker wrote the step's end to the log, then stopped before its
  // journal had it: after the restart the attempt runs as far as the core
  // knows, and its worker sends its last output and result again.
  TempDir dir;
  {
    std::unique_ptr<Spool> spool = NewSpool(dir);
    spool->OpenJob(kJob, PipeSpec());
    Printer p;
    REQUIRE(spool->Record(kJob, p.Start(0, 1)).ok());
    REQUIRE(spool->Record(kJob, p.Out(0, Stream::kStdout, "one\n")).ok());
    REQUIRE(spool->Record(kJob, p.Out(0, Stream::kStdout, "two\n")).ok());
    REQUIRE(spool->Record(kJob, Succeeded(0, 1, 8)).ok());
    REQUIRE(spool->FlushAll().ok());
  }
  std::unique_ptr<Spool> spool = NewSpool(dir);
  REQUIRE(spool->ReopenJob(kJob, PipeSpec()).ok());
  REQUIRE(spool->Record(kJob, At(0, 4, "two\n")).ok());
  REQUIRE(spool->Record(kJob, Succeeded(0, 1, 8)).ok());
  CHECK(Captured(*spool, 0) == "one\ntwo\n");
}

TEST_CASE("spool: a full disk's marker read back after a restart is not taken for output") {
  TempDir dir;
  const std::string line(100, 'x');
  {
    std::unique_ptr<Spool> spool = NewSpool(dir);
    spool->OpenJob(kJob, PipeSpec());
    Printer p;
    REQUIRE(spool->Record(kJob, p.Start(1, 1)).ok());
    REQUIRE(spool->Record(kJob, p.Out(1, Stream::kStdout, "a\n")).ok());
    spool->set_disk_level(Level::kFull);
    REQUIRE(spool->Record(kJob, p.Out(1, Stream::kStdout, "b\n")).ok());  // cut: the marker
    REQUIRE(spool->FlushAll().ok());
  }
  std::unique_ptr<Spool> spool = NewSpool(dir);
  REQUIRE(spool->ReopenJob(kJob, PipeSpec()).ok());
  // Sent again from the start: "a\n" is there; what the marker stands in
  // for (at 2) is new to the log, as is what follows.
  REQUIRE(spool->Record(kJob, StepOutput{StepIndex(1), Attempt(1), Stream::kStdout,
                                         Blob{std::string("a\nb\nc\n")}, 0})
              .ok());
  REQUIRE(spool->FlushAll().ok());
  CHECK(OutputOf(LogOf(*spool), 1, Stream::kStdout) ==
        std::string("a\n") + kOutputNotKeptMarker + "b\nc\n");
}

TEST_CASE("spool: a capture other than as long as its worker counted is not read") {
  TempDir dir;
  std::unique_ptr<Spool> spool = NewSpool(dir);
  spool->OpenJob(kJob, PipeSpec());
  Printer p;
  REQUIRE(spool->Record(kJob, p.Start(0, 1)).ok());
  REQUIRE(spool->Record(kJob, p.Out(0, Stream::kStdout, "one\n")).ok());
  SUBCASE("shorter: what the machine lost before the broker wrote it") {
    REQUIRE(spool->Record(kJob, Succeeded(0, 1, 8)).ok());
    Result<std::string> read = spool->ReadCapturedStdout(kJob, StepIndex(0), 1 << 20);
    REQUIRE_FALSE(read.ok());
    CHECK(read.status().message() ==
          "its output was not all kept: the broker has 4 of the 8 bytes it wrote");
  }
  SUBCASE("not counted (a worker from before the count): read as it is") {
    REQUIRE(spool->Record(kJob, Succeeded(0, 1, -1)).ok());
    CHECK(Captured(*spool, 0) == "one\n");
  }
  SUBCASE("a new attempt forgets the old count") {
    REQUIRE(spool->Record(kJob, Succeeded(0, 1, 8)).ok());
    REQUIRE(spool->Record(kJob, p.Start(0, 2)).ok());
    REQUIRE(spool->Record(kJob, p.Out(0, Stream::kStdout, "again\n")).ok());
    CHECK(Captured(*spool, 0) == "again\n");
  }
}

using testing::FileSizeLimit;

TEST_CASE("spool: a flush failing part way leaves whole records, the next writes the rest") {
  TempDir dir;
  std::unique_ptr<Spool> spool = NewSpool(dir);
  spool->OpenJob(kJob, PipeSpec());
  Printer p;
  REQUIRE(spool->Record(kJob, p.Start(1, 1)).ok());
  REQUIRE(spool->FlushAll().ok());
  const uint64_t flushed = spool->Log(kJob)->size();
  for (int i = 0; i < 20; ++i) {
    REQUIRE(spool->Record(kJob, p.Out(1, Stream::kStdout, std::to_string(i) + "\n")).ok());
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
