// The journal against real files in a temporary directory: round trips, torn
// and corrupt tails at every byte, damaged snapshots, and the on-disk states a
// crash can leave in the middle of WriteSnapshot(), made by hand.
#include "broker/journal.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "shared/crc32c.h"
#include "tests/broker/file_size_limit.h"
#include "tests/temp_dir.h"

namespace drover::broker {
namespace {

using Records = std::vector<std::string>;

using testing::TempDir;

struct Opened {
  std::unique_ptr<Journal> journal;
  Records records;
};

Opened OpenOk(const std::string& dir) {
  Opened opened;
  Result<std::unique_ptr<Journal>> journal = Journal::Open(dir, [&](std::string_view record) {
    opened.records.emplace_back(record);
    return Status::Ok();
  });
  REQUIRE_MESSAGE(journal.ok(), journal.status().message());
  opened.journal = std::move(journal).value();
  return opened;
}

Records Reopen(const std::string& dir) { return OpenOk(dir).records; }

std::string OpenError(const std::string& dir) {
  Result<std::unique_ptr<Journal>> journal =
      Journal::Open(dir, [](std::string_view) { return Status::Ok(); });
  REQUIRE_FALSE(journal.ok());
  return journal.status().message();
}

void AppendAll(Journal& journal, const Records& records) {
  for (const std::string& record : records) journal.Append(record);
  REQUIRE(journal.Write().ok());
}

Journal::ProduceFn Producing(const Records& records) {
  return [records](const std::function<void(std::string_view)>& emit) {
    for (const std::string& record : records) emit(record);
  };
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  REQUIRE(out.good());
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// A record framed by hand, as journal.h describes it.
std::string Frame(std::string_view payload) {
  std::string frame(8, '\0');
  const uint32_t length = static_cast<uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) frame[i] = static_cast<char>(length >> (8 * i));
  const uint32_t crc = Crc32cExtend(Crc32c(frame.substr(0, 4)), payload.data(), payload.size());
  for (int i = 0; i < 4; ++i) frame[4 + i] = static_cast<char>(crc >> (8 * i));
  return frame + std::string(payload);
}

// A payload whose bytes depend on its seed, so swapped records show.
std::string Pattern(size_t size, int seed) {
  std::string payload(size, '\0');
  for (size_t i = 0; i < size; ++i) payload[i] = static_cast<char>((i * 131 + seed * 7) >> 3);
  return payload;
}

TEST_CASE("an empty directory opens with nothing to replay") {
  TempDir tmp;
  const std::string dir = tmp / "state/journal";  // missing, two levels deep
  Opened opened = OpenOk(dir);
  CHECK(opened.records.empty());
  CHECK(opened.journal->recovered().snapshot_records == 0);
  CHECK(opened.journal->recovered().journal_records == 0);
  CHECK(opened.journal->recovered().torn_bytes == 0);
  CHECK(opened.journal->journal_bytes() == 0);
  CHECK_FALSE(opened.journal->has_unsynced());
  CHECK(ListDir(dir) == std::vector<std::string>{"journal-1"});
  opened.journal.reset();
  CHECK(Reopen(dir).empty());
}

TEST_CASE("appended records come back in order, across several opens") {
  TempDir tmp;
  {
    Opened opened = OpenOk(tmp.path());
    AppendAll(*opened.journal, {"alpha", "bravo", "charlie"});
    CHECK(opened.journal->journal_bytes() == 3 * 8 + 5 + 5 + 7);
  }
  {
    Opened opened = OpenOk(tmp.path());
    CHECK(opened.records == Records{"alpha", "bravo", "charlie"});
    CHECK(opened.journal->recovered().journal_records == 3);
    CHECK(opened.journal->journal_bytes() == 3 * 8 + 5 + 5 + 7);
    AppendAll(*opened.journal, {"delta"});
  }
  CHECK(Reopen(tmp.path()) == Records{"alpha", "bravo", "charlie", "delta"});
  // The bytes are exactly the documented framing.
  CHECK(ReadFile(tmp / "journal-1") ==
        Frame("alpha") + Frame("bravo") + Frame("charlie") + Frame("delta"));
}

TEST_CASE("a record encoded in place is framed like an appended one") {
  TempDir tmp;
  {
    Opened opened = OpenOk(tmp.path());
    opened.journal->Append("alpha");
    opened.journal->AppendEncoded([](std::string* out) { out->append("bravo"); });
    opened.journal->AppendEncoded([](std::string*) {});  // an empty record is still one
    REQUIRE(opened.journal->Write().ok());
  }
  CHECK(ReadFile(tmp / "journal-1") == Frame("alpha") + Frame("bravo") + Frame(""));
  CHECK(Reopen(tmp.path()) == Records{"alpha", "bravo", ""});
}

TEST_CASE("snapshot_bytes is the size of the snapshot in use, after writing and reopening") {
  TempDir tmp;
  uint64_t size = 0;
  {
    Opened opened = OpenOk(tmp.path());
    CHECK(opened.journal->snapshot_bytes() == 0);
    REQUIRE(
        opened.journal->WriteSnapshot([](const auto& emit) { emit(std::string(1000, 'x')); }).ok());
    size = opened.journal->snapshot_bytes();
    CHECK(size == std::filesystem::file_size(tmp / "snapshot"));
    CHECK(size > 1000);
  }
  CHECK(OpenOk(tmp.path()).journal->snapshot_bytes() == size);
}

TEST_CASE("records of 0 bytes to 5 MiB round-trip, in the journal and the snapshot") {
  TempDir tmp;
  const Records records = {Pattern(0, 1),       Pattern(1, 2), Pattern(100 << 10, 3),
                           Pattern(5 << 20, 4), Pattern(0, 5), Pattern(3 << 20, 6)};
  {
    Opened opened = OpenOk(tmp.path());
    AppendAll(*opened.journal, records);
    REQUIRE(opened.journal->Sync().ok());
  }
  CHECK(Reopen(tmp.path()) == records);
  {
    Opened opened = OpenOk(tmp.path());
    REQUIRE(opened.journal->WriteSnapshot(Producing(records)).ok());
    AppendAll(*opened.journal, records);
  }
  Opened opened = OpenOk(tmp.path());
  CHECK(opened.journal->recovered().snapshot_records == records.size());
  CHECK(opened.journal->recovered().journal_records == records.size());
  Records both = records;
  both.insert(both.end(), records.begin(), records.end());
  CHECK(opened.records == both);
}

TEST_CASE("has_unsynced follows appends, writes and syncs") {
  TempDir tmp;
  Opened opened = OpenOk(tmp.path());
  Journal& journal = *opened.journal;
  CHECK_FALSE(journal.has_unsynced());
  CHECK(journal.Sync().ok());   // nothing written: no fdatasync
  CHECK(journal.Write().ok());  // nothing buffered: no write
  CHECK_FALSE(journal.has_unsynced());
  journal.Append("one");
  CHECK(journal.has_unsynced());
  CHECK(journal.journal_bytes() == 8 + 3);
  CHECK(journal.Write().ok());
  CHECK(journal.has_unsynced());
  CHECK(journal.Sync().ok());
  CHECK_FALSE(journal.has_unsynced());
  CHECK(journal.Sync().ok());
  CHECK_FALSE(journal.has_unsynced());
  CHECK(journal.journal_bytes() == 8 + 3);
}

TEST_CASE("a background sync runs off the caller, one at a time, and is waited for on close") {
  TempDir tmp;
  {
    Opened opened = OpenOk(tmp.path());
    Journal& journal = *opened.journal;
    Result<bool> nothing = journal.SyncInBackground();  // nothing written: nothing to start
    REQUIRE(nothing.ok());
    CHECK(nothing.value());
    CHECK_FALSE(journal.has_unsynced());
    for (int round = 0; round < 50; ++round) {
      journal.Append("record " + std::to_string(round));
      REQUIRE(journal.Write().ok());
      Result<bool> started = journal.SyncInBackground();
      REQUIRE(started.ok());
      // Until its fdatasync is done (or, if the last one still ran, until it
      // is started), the record is not known to be durable.
      if (!started.value()) CHECK(journal.has_unsynced());
    }
    // Settles: the last records are started and synced.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (journal.has_unsynced() && std::chrono::steady_clock::now() < deadline) {
      REQUIRE(journal.SyncInBackground().ok());
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    CHECK_FALSE(journal.has_unsynced());
    journal.Append("last");
    REQUIRE(journal.Write().ok());
    REQUIRE(journal.SyncInBackground().ok());
  }  // closing waits for a sync under way
  Records want;
  for (int round = 0; round < 50; ++round) want.push_back("record " + std::to_string(round));
  want.push_back("last");
  CHECK(Reopen(tmp.path()) == want);
}

// Waits (up to 30 s) for sync_done_fd to become readable.
bool WaitSyncDone(Journal& journal) {
  pollfd p{journal.sync_done_fd(), POLLIN, 0};
  const bool done = poll(&p, 1, 30'000) == 1;
  journal.ClearSyncDone();
  return done;
}

TEST_CASE("records become durable by a finished sync that started after their write, or a snapshot") {
  TempDir tmp;
  Opened opened = OpenOk(tmp.path());
  Journal& journal = *opened.journal;
  CHECK(journal.last_appended() == 0);
  CHECK(journal.last_durable() == 0);
  for (int i = 0; i < 3; ++i) journal.Append("r" + std::to_string(i));
  CHECK(journal.last_appended() == 3);
  REQUIRE(journal.Write().ok());
  CHECK(journal.last_durable() == 0);  // written is not durable
  Result<bool> started = journal.SyncInBackground();
  REQUIRE(started.ok());
  REQUIRE(started.value());
  // Appended and written while that sync runs: not covered by it.
  journal.Append("r3");
  REQUIRE(journal.Write().ok());
  REQUIRE(WaitSyncDone(journal));
  CHECK(journal.last_durable() == 3);
  // The next sync covers it.
  started = journal.SyncInBackground();
  REQUIRE(started.ok());
  REQUIRE(started.value());
  REQUIRE(WaitSyncDone(journal));
  CHECK(journal.last_durable() == 4);
  // Sync() on the caller's thread.
  journal.Append("r4");
  REQUIRE(journal.Write().ok());
  REQUIRE(journal.Sync().ok());
  CHECK(journal.last_durable() == 5);
  // A snapshot holds everything appended before it.
  journal.Append("r5");
  REQUIRE(journal.Write().ok());
  REQUIRE(journal.WriteSnapshot([](const auto& emit) { emit("state"); }).ok());
  CHECK(journal.last_appended() == 6);
  CHECK(journal.last_durable() == 6);
}

TEST_CASE("a tail torn at any byte is cut off and appends carry on after it") {
  TempDir tmp;
  const Records kept = {"first record", Pattern(300, 1)};
  const std::string last = Pattern(40, 2);
  const std::string good = Frame(kept[0]) + Frame(kept[1]);
  const std::string full = good + Frame(last);
  const std::string path = tmp / "journal-1";
  // From "the last record is missing entirely" to "one byte short".
  for (size_t cut = good.size(); cut < full.size(); ++cut) {
    CAPTURE(cut);
    WriteFile(path, full.substr(0, cut));
    {
      Opened opened = OpenOk(tmp.path());
      REQUIRE(opened.records == kept);
      CHECK(opened.journal->recovered().torn_bytes == cut - good.size());
      CHECK(std::filesystem::file_size(path) == good.size());
      CHECK(opened.journal->journal_bytes() == good.size());
      AppendAll(*opened.journal, {"after"});
    }
    Opened opened = OpenOk(tmp.path());
    CHECK(opened.records == Records{kept[0], kept[1], "after"});
    CHECK(opened.journal->recovered().torn_bytes == 0);
  }
  WriteFile(path, full);
  CHECK(Reopen(tmp.path()) == Records{kept[0], kept[1], last});
}

TEST_CASE("a zero-filled tail, as a crash can leave one, is torn bytes") {
  TempDir tmp;
  WriteFile(tmp / "journal-1", Frame("a") + Frame("b") + std::string(4096, '\0'));
  Opened opened = OpenOk(tmp.path());
  CHECK(opened.records == Records{"a", "b"});
  CHECK(opened.journal->recovered().torn_bytes == 4096);
}

// Replay stops at the first bad record, so a damaged record in the middle
// costs the records after it too: they cannot be told from a torn tail's
// leftovers. Acceptable because only a torn write (at the tail) happens in
// practice; a bit flip mid-file means the disk is failing.
TEST_CASE("a flipped bit anywhere in a middle record stops replay there") {
  TempDir tmp;
  const std::string first = Frame("first");
  const std::string middle = Frame(Pattern(64, 1));
  const std::string full = first + middle + Frame("last");
  const std::string path = tmp / "journal-1";
  for (size_t byte = first.size(); byte < first.size() + middle.size(); ++byte) {
    CAPTURE(byte);
    std::string damaged = full;
    damaged[byte] = static_cast<char>(damaged[byte] ^ (1 << (byte % 8)));
    WriteFile(path, damaged);
    {
      Opened opened = OpenOk(tmp.path());
      REQUIRE(opened.records == Records{"first"});
      CHECK(opened.journal->recovered().torn_bytes == full.size() - first.size());
      AppendAll(*opened.journal, {"after"});
    }
    CHECK(Reopen(tmp.path()) == Records{"first", "after"});
  }
}

TEST_CASE("a huge corrupt length is corruption, not an allocation") {
  TempDir tmp;
  const std::string path = tmp / "journal-1";
  for (uint32_t length : {0xFFFFFFF0u, 0x40000001u, 0x3FFFFFFFu, 0x10000000u}) {
    CAPTURE(length);
    std::string bad = Frame(Pattern(32, 1));
    for (int i = 0; i < 4; ++i) bad[i] = static_cast<char>(length >> (8 * i));
    WriteFile(path, Frame("kept") + bad + Frame("lost"));
    Opened opened = OpenOk(tmp.path());
    CHECK(opened.records == Records{"kept"});
    CHECK(opened.journal->recovered().torn_bytes == bad.size() + Frame("lost").size());
  }
}

TEST_CASE("a snapshot replaces the journal and later records follow it") {
  TempDir tmp;
  {
    Opened opened = OpenOk(tmp.path());
    AppendAll(*opened.journal, {"j1", "j2", "j3"});
    REQUIRE(opened.journal->WriteSnapshot(Producing({"s1", "s2"})).ok());
    CHECK(opened.journal->journal_bytes() == 0);
    CHECK_FALSE(opened.journal->has_unsynced());
    CHECK(ListDir(tmp.path()) == std::vector<std::string>{"journal-2", "snapshot"});
    AppendAll(*opened.journal, {"j4", "j5"});
  }
  {
    Opened opened = OpenOk(tmp.path());
    CHECK(opened.records == Records{"s1", "s2", "j4", "j5"});
    CHECK(opened.journal->recovered().snapshot_records == 2);
    CHECK(opened.journal->recovered().journal_records == 2);
    AppendAll(*opened.journal, {"j6"});
    REQUIRE(opened.journal->WriteSnapshot(Producing({"t1"})).ok());
    AppendAll(*opened.journal, {"j7"});
  }
  CHECK(Reopen(tmp.path()) == Records{"t1", "j7"});
  CHECK(ListDir(tmp.path()) == std::vector<std::string>{"journal-3", "snapshot"});
}

TEST_CASE("a snapshot of no records") {
  TempDir tmp;
  {
    Opened opened = OpenOk(tmp.path());
    AppendAll(*opened.journal, {"gone"});
    REQUIRE(opened.journal->WriteSnapshot(Producing({})).ok());
  }
  {
    Opened opened = OpenOk(tmp.path());
    CHECK(opened.records.empty());
    AppendAll(*opened.journal, {"new"});
  }
  CHECK(Reopen(tmp.path()) == Records{"new"});
}

TEST_CASE("WriteSnapshot refuses while records are buffered") {
  TempDir tmp;
  Opened opened = OpenOk(tmp.path());
  opened.journal->Append("pending");
  CHECK_FALSE(opened.journal->WriteSnapshot(Producing({"s"})).ok());
  CHECK(ListDir(tmp.path()) == std::vector<std::string>{"journal-1"});
  REQUIRE(opened.journal->Write().ok());
  REQUIRE(opened.journal->WriteSnapshot(Producing({"s"})).ok());
  opened.journal.reset();
  CHECK(Reopen(tmp.path()) == Records{"s"});
}

TEST_CASE("a WriteSnapshot that fails before its rename leaves the old files in use") {
  TempDir tmp;
  Opened opened = OpenOk(tmp.path());
  AppendAll(*opened.journal, {"a"});

  SUBCASE("snapshot.tmp cannot be created") {
    REQUIRE(mkdir((tmp / "snapshot.tmp").c_str(), 0700) == 0);
    const Status s = opened.journal->WriteSnapshot(Producing({"s"}));
    REQUIRE_FALSE(s.ok());
    CHECK(s.message().find("snapshot.tmp") != std::string::npos);
    REQUIRE(rmdir((tmp / "snapshot.tmp").c_str()) == 0);
  }
  SUBCASE("the rename fails") {
    REQUIRE(mkdir((tmp / "snapshot").c_str(), 0700) == 0);
    WriteFile(tmp / "snapshot/keep", "x");  // a non-empty directory
    REQUIRE_FALSE(opened.journal->WriteSnapshot(Producing({"s"})).ok());
    std::filesystem::remove_all(tmp / "snapshot");
  }
  CHECK(ListDir(tmp.path()) == std::vector<std::string>{"journal-1"});
  AppendAll(*opened.journal, {"b"});
  opened.journal.reset();
  CHECK(Reopen(tmp.path()) == Records{"a", "b"});
}

using testing::FileSizeLimit;

TEST_CASE("a Write that fails part way is undone, and the next one writes it all") {
  TempDir tmp;
  Records records;
  for (int i = 0; i < 50; ++i) records.push_back(Pattern(30, i));
  {
    Opened opened = OpenOk(tmp.path());
    AppendAll(*opened.journal, {"before"});
    for (const std::string& record : records) opened.journal->Append(record);
    const uint64_t total = opened.journal->journal_bytes();
    const uint64_t written = opened.journal->bytes_written();
    {
      FileSizeLimit limit(Frame("before").size() + 100);  // mid-record
      const Status s = opened.journal->Write();
      REQUIRE_FALSE(s.ok());
      CHECK(s.error_number() == EFBIG);
      CHECK(s.message().find("journal-1") != std::string::npos);
      // Cut back to whole records: a crash now replays cleanly.
      CHECK(std::filesystem::file_size(tmp / "journal-1") == Frame("before").size());
      CHECK(opened.journal->journal_bytes() == total);
      CHECK(opened.journal->unwritten_bytes() == total - Frame("before").size());
      CHECK(opened.journal->bytes_written() == written);
      CHECK(opened.journal->has_unsynced());
      CHECK_FALSE(opened.journal->broken());
    }
    REQUIRE(opened.journal->Write().ok());
    REQUIRE(opened.journal->Sync().ok());
    CHECK(opened.journal->bytes_written() == written + total - Frame("before").size());
  }
  records.insert(records.begin(), "before");
  CHECK(Reopen(tmp.path()) == records);
}

TEST_CASE("records that could not be written can be discarded, as if never appended") {
  TempDir tmp;
  {
    Opened opened = OpenOk(tmp.path());
    AppendAll(*opened.journal, {"a", "b"});
    const uint64_t last = opened.journal->last_appended();
    opened.journal->Append("refused");
    {
      FileSizeLimit limit(Frame("a").size() + Frame("b").size() + 3);
      REQUIRE_FALSE(opened.journal->Write().ok());
    }
    opened.journal->DiscardUnwritten();
    CHECK(opened.journal->last_appended() == last);
    CHECK(opened.journal->unwritten_bytes() == 0);
    AppendAll(*opened.journal, {"c"});
    CHECK(opened.journal->last_appended() == last + 1);
  }
  CHECK(Reopen(tmp.path()) == Records{"a", "b", "c"});
}

TEST_CASE("a WriteSnapshot that cannot finish its file leaves the old files in use") {
  TempDir tmp;
  Opened opened = OpenOk(tmp.path());
  AppendAll(*opened.journal, {"a"});
  {
    // Room for the journal, not for a snapshot of many blocks.
    FileSizeLimit limit(3 << 20);
    const Status s = opened.journal->WriteSnapshot([](const auto& emit) {
      for (int i = 0; i < 100; ++i) emit(Pattern(100 << 10, i));
    });
    REQUIRE_FALSE(s.ok());
    CHECK(s.message().find("snapshot.tmp") != std::string::npos);
  }
  CHECK(ListDir(tmp.path()) == std::vector<std::string>{"journal-1"});
  AppendAll(*opened.journal, {"b"});
  opened.journal.reset();
  CHECK(Reopen(tmp.path()) == Records{"a", "b"});
}

// The states a crash leaves between WriteSnapshot()'s steps (see journal.cc),
// built from the files of a real run.
TEST_CASE("a crash at any point of WriteSnapshot recovers the right records") {
  TempDir tmp;
  const std::string dir = tmp.path();
  std::string journal1, snapshot2, journal2;
  {
    Opened opened = OpenOk(dir);
    AppendAll(*opened.journal, {"j1", "j2"});
    journal1 = ReadFile(tmp / "journal-1");
    REQUIRE(opened.journal->WriteSnapshot(Producing({"s1", "s2", "s3"})).ok());
    snapshot2 = ReadFile(tmp / "snapshot");
    AppendAll(*opened.journal, {"j3"});
    journal2 = ReadFile(tmp / "journal-2");
  }
  auto reset = [&](const std::vector<std::pair<std::string, std::string>>& files) {
    for (const std::string& name : ListDir(dir)) std::filesystem::remove(tmp / name);
    for (const auto& [name, contents] : files) WriteFile(tmp / name, contents);
  };

  SUBCASE("snapshot.tmp written, not renamed") {
    reset({{"journal-1", journal1}, {"snapshot.tmp", snapshot2}});
    CHECK(Reopen(dir) == Records{"j1", "j2"});
    CHECK(ListDir(dir) == std::vector<std::string>{"journal-1"});
  }
  SUBCASE("snapshot.tmp half written") {
    reset({{"journal-1", journal1}, {"snapshot.tmp", snapshot2.substr(0, 20)}});
    CHECK(Reopen(dir) == Records{"j1", "j2"});
  }
  SUBCASE("journal-2 created, snapshot not renamed") {
    reset({{"journal-1", journal1}, {"journal-2", ""}, {"snapshot.tmp", snapshot2}});
    {
      Opened opened = OpenOk(dir);
      CHECK(opened.records == Records{"j1", "j2"});
      AppendAll(*opened.journal, {"j3"});
    }
    CHECK(Reopen(dir) == Records{"j1", "j2", "j3"});
    CHECK(ReadFile(tmp / "journal-2") == Frame("j3"));
    // The next snapshot covers both files.
    {
      Opened opened = OpenOk(dir);
      REQUIRE(opened.journal->WriteSnapshot(Producing({"t"})).ok());
    }
    CHECK(ListDir(dir) == std::vector<std::string>{"journal-3", "snapshot"});
  }
  SUBCASE("snapshot renamed, journal-2 not created") {
    reset({{"journal-1", journal1}, {"snapshot", snapshot2}});
    {
      Opened opened = OpenOk(dir);
      CHECK(opened.records == Records{"s1", "s2", "s3"});
      CHECK(ListDir(dir) == std::vector<std::string>{"journal-2", "snapshot"});
      AppendAll(*opened.journal, {"j3"});
    }
    CHECK(Reopen(dir) == Records{"s1", "s2", "s3", "j3"});
  }
  SUBCASE("snapshot renamed, journal-1 not deleted yet") {
    reset({{"journal-1", journal1}, {"journal-2", journal2}, {"snapshot", snapshot2}});
    CHECK(Reopen(dir) == Records{"s1", "s2", "s3", "j3"});
    CHECK(ListDir(dir) == std::vector<std::string>{"journal-2", "snapshot"});
  }
  SUBCASE("the second snapshot: journal-3 created, not renamed") {
    // A later snapshot's file as snapshot.tmp, beside the first snapshot.
    TempDir other;
    {
      Opened opened = OpenOk(other.path());
      AppendAll(*opened.journal, {"x"});
      REQUIRE(opened.journal->WriteSnapshot(Producing({"x"})).ok());
      REQUIRE(opened.journal->WriteSnapshot(Producing({"u"})).ok());
    }
    reset({{"snapshot", snapshot2},
           {"journal-2", journal2},
           {"journal-3", ""},
           {"snapshot.tmp", ReadFile(other / "snapshot")}});
    {
      Opened opened = OpenOk(dir);
      CHECK(opened.records == Records{"s1", "s2", "s3", "j3"});
      AppendAll(*opened.journal, {"j4"});
    }
    CHECK(Reopen(dir) == Records{"s1", "s2", "s3", "j3", "j4"});
    CHECK(ListDir(dir) == std::vector<std::string>{"journal-2", "journal-3", "snapshot"});
  }
}

TEST_CASE("journal files after a torn one are garbage and removed") {
  TempDir tmp;
  WriteFile(tmp / "journal-1", Frame("a") + Frame("b").substr(0, 5));
  WriteFile(tmp / "journal-2", Frame("never written after a torn tail"));
  {
    Opened opened = OpenOk(tmp.path());
    CHECK(opened.records == Records{"a"});
    CHECK(opened.journal->recovered().torn_bytes ==
          5 + Frame("never written after a torn tail").size());
    CHECK(ListDir(tmp.path()) == std::vector<std::string>{"journal-1"});
    AppendAll(*opened.journal, {"c"});
  }
  CHECK(Reopen(tmp.path()) == Records{"a", "c"});
}

TEST_CASE("a missing journal file fails Open") {
  TempDir tmp;
  SUBCASE("a gap") {
    WriteFile(tmp / "journal-1", Frame("a"));
    WriteFile(tmp / "journal-3", Frame("c"));
    CHECK(OpenError(tmp.path()).find("journal-2") != std::string::npos);
  }
  SUBCASE("the first") {
    WriteFile(tmp / "journal-2", Frame("b"));
    CHECK(OpenError(tmp.path()).find("journal-1") != std::string::npos);
  }
}

TEST_CASE("a damaged snapshot fails Open, names the file and changes nothing") {
  TempDir tmp;
  {
    Opened opened = OpenOk(tmp.path());
    AppendAll(*opened.journal, {"j"});
    REQUIRE(opened.journal->WriteSnapshot(Producing({"s1", Pattern(50, 1), "s3"})).ok());
    AppendAll(*opened.journal, {"k"});
  }
  const std::string snapshot = ReadFile(tmp / "snapshot");
  const std::string journal = ReadFile(tmp / "journal-2");
  auto expect_failure = [&](const std::string& contents) {
    WriteFile(tmp / "snapshot", contents);
    const std::string message = OpenError(tmp.path());
    CHECK_MESSAGE(message.find(tmp / "snapshot") != std::string::npos, message);
    CHECK(ListDir(tmp.path()) == std::vector<std::string>{"journal-2", "snapshot"});
    CHECK(ReadFile(tmp / "journal-2") == journal);
  };
  SUBCASE("a flipped bit anywhere") {
    for (size_t byte = 0; byte < snapshot.size(); ++byte) {
      CAPTURE(byte);
      std::string damaged = snapshot;
      damaged[byte] = static_cast<char>(damaged[byte] ^ (1 << (byte % 8)));
      expect_failure(damaged);
    }
  }
  SUBCASE("cut short anywhere, record boundaries included") {
    for (size_t cut = 0; cut < snapshot.size(); ++cut) {
      CAPTURE(cut);
      expect_failure(snapshot.substr(0, cut));
    }
  }
  SUBCASE("not a snapshot") { expect_failure(Frame("hello") + Frame("world")); }
  SUBCASE("an extra record") { expect_failure(snapshot + Frame("extra")); }
  WriteFile(tmp / "snapshot", snapshot);
  CHECK(Reopen(tmp.path()) == Records{"s1", Pattern(50, 1), "s3", "k"});
}

TEST_CASE("an error from the replay callback fails Open and changes nothing") {
  TempDir tmp;
  {
    Opened opened = OpenOk(tmp.path());
    AppendAll(*opened.journal, {"s"});
    REQUIRE(opened.journal->WriteSnapshot(Producing({"s1", "s2"})).ok());
    AppendAll(*opened.journal, {"a", "b", "c"});
  }
  for (const std::string bad : {"s2", "b"}) {
    CAPTURE(bad);
    Records seen;
    Result<std::unique_ptr<Journal>> journal =
        Journal::Open(tmp.path(), [&](std::string_view record) {
          seen.emplace_back(record);
          return record == bad ? Status::Error("cannot apply " + bad) : Status::Ok();
        });
    REQUIRE_FALSE(journal.ok());
    CHECK(journal.status().message() == "cannot apply " + bad);
    CHECK(seen.back() == bad);
  }
  CHECK(Reopen(tmp.path()) == Records{"s1", "s2", "a", "b", "c"});
}

TEST_CASE("one journal directory, one owner") {
  TempDir tmp;
  Opened first = OpenOk(tmp.path());
  CHECK(OpenError(tmp.path()).find("in use") != std::string::npos);
  first.journal.reset();
  OpenOk(tmp.path());
}

// Not a benchmark: a sanity check that a broker-sized burst is cheap and
// comes back whole. The time is printed, not asserted.
TEST_CASE("a million small records, written a thousand at a time") {
  TempDir tmp;
  constexpr int kRecords = 1'000'000;
  auto record = [](int i) {
    char text[48];
    const int n = std::snprintf(text, sizeof text, "step-ended job=%09d step=%06d ok", i, i % 1000);
    return std::string(text, static_cast<size_t>(n));
  };
  const auto start = std::chrono::steady_clock::now();
  {
    Opened opened = OpenOk(tmp.path());
    for (int i = 0; i < kRecords; ++i) {
      opened.journal->Append(record(i));
      if (i % 1000 == 999) REQUIRE(opened.journal->Write().ok());
    }
    REQUIRE(opened.journal->Write().ok());
    REQUIRE(opened.journal->Sync().ok());
  }
  const auto written = std::chrono::steady_clock::now();
  int count = 0;
  bool in_order = true;
  Result<std::unique_ptr<Journal>> journal = Journal::Open(tmp.path(), [&](std::string_view r) {
    if (count % 9973 == 0 && r != record(count)) in_order = false;
    ++count;
    return Status::Ok();
  });
  REQUIRE(journal.ok());
  const auto read = std::chrono::steady_clock::now();
  CHECK(count == kRecords);
  CHECK(in_order);
  using Ms = std::chrono::duration<double, std::milli>;
  MESSAGE("1M records: append+write+sync " << Ms(written - start).count() << " ms, replay "
                                           << Ms(read - written).count() << " ms");
}

}  // namespace
}  // namespace drover::broker
