#include "broker/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "broker/background_sync.h"
#include "shared/crc32c.h"
#include "shared/file_io.h"
#include "shared/scoped_fd.h"

namespace drover::broker {
namespace {

// [u32 length][u32 CRC-32C of the length bytes and the payload].
constexpr size_t kFrameBytes = 8;
// A longer length is corruption, not a record: a damaged length must never
// turn into a huge allocation or a huge read.
constexpr uint32_t kMaxRecordBytes = uint32_t{1} << 30;
// Files are read, and snapshots written, in blocks of this size.
constexpr size_t kBlockBytes = size_t{1} << 20;
// A write buffer grown past this is given back after the write. A turn's
// records fit well within it; a job's record (its whole file, tens of MB for
// a million steps) does not, and keeping that much would cost the broker
// tens of bytes per step of memory for nothing.
constexpr size_t kMaxIdleBuffer = size_t{4} << 20;

// The snapshot's first record: magic, version, the number of the first
// journal file it does not cover, and how many records follow (so losing
// whole records off its end is noticed too).
constexpr std::string_view kSnapshotMagic = "DROVSNAP";
constexpr uint32_t kSnapshotVersion = 1;
constexpr size_t kSnapshotHeaderBytes = 8 + 4 + 8 + 8;

void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void PutU64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

// REQUIRES: record.size() <= kMaxRecordBytes.
void AppendFramed(std::string_view record, std::string* out) {
  char frame[kFrameBytes];
  PutU32(frame, static_cast<uint32_t>(record.size()));
  PutU32(frame + 4, Crc32cExtend(Crc32cExtend(0, frame, 4), record.data(), record.size()));
  out->append(frame, kFrameBytes);
  out->append(record);
}

std::string SnapshotHeader(uint64_t first_journal, uint64_t records) {
  std::string header(kSnapshotHeaderBytes, '\0');
  std::memcpy(header.data(), kSnapshotMagic.data(), kSnapshotMagic.size());
  PutU32(header.data() + 8, kSnapshotVersion);
  PutU64(header.data() + 12, first_journal);
  PutU64(header.data() + 20, records);
  return header;
}

Status RecordTooLarge(size_t size) {
  return Status::Error("journal record of " + std::to_string(size) +
                       " bytes is over the limit of " + std::to_string(kMaxRecordBytes));
}

Status FileSize(int fd, const std::string& path, uint64_t* size) {
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoStatus("stat " + path, errno);
  *size = static_cast<uint64_t>(st.st_size);
  return Status::Ok();
}

// Each missing component of `dir` is created; only the last one's failure
// counts (an earlier one may exist already, or be unwritable yet present).
Status MakeDirs(const std::string& dir) {
  if (dir.empty()) return Status::Error("journal directory: empty path");
  for (size_t slash = dir.find('/', 1); slash != std::string::npos;
       slash = dir.find('/', slash + 1)) {
    mkdir(dir.substr(0, slash).c_str(), 0750);
  }
  if (mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) return ErrnoStatus("mkdir " + dir, errno);
  return Status::Ok();
}

// "journal-<N>", N decimal without leading zeros and at least 1: the only
// spelling this file writes, so any other name is not ours.
bool ParseJournalName(std::string_view name, uint64_t* number) {
  constexpr std::string_view kPrefix = "journal-";
  if (!name.starts_with(kPrefix)) return false;
  name.remove_prefix(kPrefix.size());
  if (name.empty() || name.size() > 18 || name[0] == '0') return false;
  uint64_t n = 0;
  for (char c : name) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  *number = n;
  return true;
}

// Reads framed records from the front of a file to its end, in big blocks,
// holding at most a block or one record in memory.
class RecordReader {
 public:
  enum class Outcome {
    kRecord,   // *record is the next record, valid until the next call
    kEnd,      // the file ends after the last record
    kTorn,     // the file ends inside a record
    kCorrupt,  // a record fails its checksum or has an impossible length
  };

  RecordReader(int fd, uint64_t size, const std::string& path)
      : fd_(fd), size_(size), path_(path) {}

  Status Next(Outcome* outcome, std::string_view* record) {
    const uint64_t remaining = size_ - offset_;
    if (remaining == 0) {
      *outcome = Outcome::kEnd;
      return Status::Ok();
    }
    if (remaining < kFrameBytes) return Bad(Outcome::kTorn, "incomplete record header", outcome);
    if (Status s = Fill(kFrameBytes); !s.ok()) return s;
    const char* frame = buffer_.get() + begin_;
    const uint32_t length = GetU32(frame);
    if (length > kMaxRecordBytes) {
      return Bad(Outcome::kCorrupt, "impossible record length " + std::to_string(length), outcome);
    }
    // Checked against the file before anything is read, so a damaged length
    // costs no memory.
    if (length > remaining - kFrameBytes) {
      return Bad(Outcome::kTorn, "incomplete record", outcome);
    }
    if (Status s = Fill(kFrameBytes + length); !s.ok()) return s;
    frame = buffer_.get() + begin_;
    if (Crc32cExtend(Crc32cExtend(0, frame, 4), frame + kFrameBytes, length) != GetU32(frame + 4)) {
      return Bad(Outcome::kCorrupt, "checksum mismatch", outcome);
    }
    *record = std::string_view(frame + kFrameBytes, length);
    begin_ += kFrameBytes + length;
    offset_ += kFrameBytes + length;
    *outcome = Outcome::kRecord;
    return Status::Ok();
  }

  // Where the records read so far end: the good length of the file.
  uint64_t offset() const { return offset_; }
  // What is wrong, after kTorn or kCorrupt.
  const std::string& problem() const { return problem_; }

 private:
  Status Bad(Outcome what, std::string problem, Outcome* outcome) {
    problem_ = std::move(problem) + " at byte " + std::to_string(offset_);
    *outcome = what;
    return Status::Ok();
  }

  // Makes `n` unread bytes available at begin_. REQUIRES: the file has them.
  Status Fill(size_t n) {
    const size_t unread = end_ - begin_;
    if (unread >= n) return Status::Ok();
    if (capacity_ - begin_ < n) {
      if (capacity_ < n) {
        const size_t capacity = std::max(n, kBlockBytes);
        auto bigger = std::make_unique_for_overwrite<char[]>(capacity);
        // Not with unread == 0: the first buffer_ is null, and memcpy from
        // null is undefined even for no bytes (UBSan).
        if (unread > 0) std::memcpy(bigger.get(), buffer_.get() + begin_, unread);
        buffer_ = std::move(bigger);
        capacity_ = capacity;
      } else {
        std::memmove(buffer_.get(), buffer_.get() + begin_, unread);
      }
      begin_ = 0;
      end_ = unread;
    }
    while (end_ - begin_ < n) {
      const ssize_t got = read(fd_, buffer_.get() + end_, capacity_ - end_);
      if (got < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("read " + path_, errno);
      }
      if (got == 0) return Status::Error("read " + path_ + ": file shrank while being read");
      end_ += static_cast<size_t>(got);
    }
    return Status::Ok();
  }

  const int fd_;
  const uint64_t size_;
  const std::string& path_;
  std::unique_ptr<char[]> buffer_;
  size_t capacity_ = 0;
  size_t begin_ = 0;     // first unread byte in buffer_
  size_t end_ = 0;       // end of what was read into buffer_
  uint64_t offset_ = 0;  // the file offset of begin_
  std::string problem_;
};

// Replays the snapshot at `path`, which must be whole; `*first_journal` is
// the first journal file it does not cover.
Status ReplaySnapshot(const std::string& path, const Journal::ReplayFn& replay,
                      uint64_t* first_journal, uint64_t* replayed) {
  ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus("open " + path, errno);
  uint64_t size = 0;
  if (Status s = FileSize(fd.get(), path, &size); !s.ok()) return s;
  RecordReader reader(fd.get(), size, path);
  // Damage here is the disk's doing, not a crash's: the file was renamed
  // into place only after it was complete and synced.
  auto damaged = [&](const std::string& problem) {
    return Status::Error(path + ": damaged snapshot: " + problem);
  };
  RecordReader::Outcome outcome;
  std::string_view record;
  if (Status s = reader.Next(&outcome, &record); !s.ok()) return s;
  if (outcome != RecordReader::Outcome::kRecord) {
    return damaged(outcome == RecordReader::Outcome::kEnd ? "empty file" : reader.problem());
  }
  if (record.size() != kSnapshotHeaderBytes || !record.starts_with(kSnapshotMagic)) {
    return damaged("no snapshot header");
  }
  if (const uint32_t version = GetU32(record.data() + 8); version != kSnapshotVersion) {
    return Status::Error(path + ": snapshot format version " + std::to_string(version) +
                         " is not supported (this broker reads version " +
                         std::to_string(kSnapshotVersion) + ")");
  }
  *first_journal = GetU64(record.data() + 12);
  const uint64_t expected = GetU64(record.data() + 20);
  if (*first_journal == 0) return damaged("header names journal-0");
  uint64_t count = 0;
  for (;;) {
    if (Status s = reader.Next(&outcome, &record); !s.ok()) return s;
    if (outcome == RecordReader::Outcome::kEnd) break;
    if (outcome != RecordReader::Outcome::kRecord) return damaged(reader.problem());
    if (Status s = replay(record); !s.ok()) return s;
    ++count;
  }
  if (count != expected) {
    return damaged("holds " + std::to_string(count) + " records, its header says " +
                   std::to_string(expected));
  }
  *replayed = count;
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Journal>> Journal::Open(const std::string& dir, const ReplayFn& replay) {
  if (Status s = MakeDirs(dir); !s.ok()) return s;
  std::unique_ptr<Journal> journal(new Journal(dir));
  if (Status s = journal->Recover(replay); !s.ok()) return s;
  journal->syncer_ = std::make_unique<BackgroundSync>();
  return journal;
}

Journal::Journal(std::string dir) : dir_(std::move(dir)) {}

Journal::~Journal() {
  syncer_.reset();  // finishes a sync under way first
  if (fd_ >= 0) close(fd_);
  if (dir_fd_ >= 0) close(dir_fd_);
}

std::string Journal::JournalPath(uint64_t number) const {
  return dir_ + "/journal-" + std::to_string(number);
}

// Nothing on disk changes until everything has been replayed, so a failed
// Open() leaves the files as it found them.
Status Journal::Recover(const ReplayFn& replay) {
  dir_fd_ = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd_ < 0) return ErrnoStatus("open " + dir_, errno);
  // Two brokers appending to one journal would interleave their records.
  if (flock(dir_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return Status::Error(dir_ + ": in use by another process");
    return ErrnoStatus("lock " + dir_, errno);
  }

  std::vector<uint64_t> journals;
  bool has_snapshot = false;
  {
    DIR* listing = opendir(dir_.c_str());
    if (listing == nullptr) return ErrnoStatus("list " + dir_, errno);
    errno = 0;
    while (const dirent* entry = readdir(listing)) {
      uint64_t number = 0;
      if (std::strcmp(entry->d_name, "snapshot") == 0) has_snapshot = true;
      if (ParseJournalName(entry->d_name, &number)) journals.push_back(number);
    }
    const int err = errno;
    closedir(listing);
    if (err != 0) return ErrnoStatus("list " + dir_, err);
  }
  std::sort(journals.begin(), journals.end());

  uint64_t first = 1;  // the first journal file the snapshot does not cover
  if (has_snapshot) {
    Status s = ReplaySnapshot(SnapshotPath(), replay, &first, &recovered_.snapshot_records);
    if (!s.ok()) return s;
    struct stat st;
    if (stat(SnapshotPath().c_str(), &st) == 0) snapshot_bytes_ = static_cast<uint64_t>(st.st_size);
  }
  const auto live_begin = std::lower_bound(journals.begin(), journals.end(), first);
  const std::vector<uint64_t> live(live_begin, journals.end());
  // Journal files are made one after another, each only once the one before
  // is covered or complete, so a gap means a file was lost, and with it
  // records that later ones depend on.
  for (size_t i = 0; i < live.size(); ++i) {
    const uint64_t expected = i == 0 ? first : live[i - 1] + 1;
    if (live[i] != expected) {
      return Status::Error(JournalPath(expected) + ": missing, but " + JournalPath(live[i]) +
                           " exists; records would be lost");
    }
  }

  // Replay; stop at the first bad record, which marks where the process died.
  size_t torn = live.size();  // index into live of the file with the bad record
  uint64_t good_bytes = 0;    // of that file
  uint64_t last_size = 0;     // of the last file read
  for (size_t i = 0; i < live.size() && torn == live.size(); ++i) {
    const std::string path = JournalPath(live[i]);
    ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return ErrnoStatus("open " + path, errno);
    if (Status s = FileSize(fd.get(), path, &last_size); !s.ok()) return s;
    RecordReader reader(fd.get(), last_size, path);
    for (;;) {
      RecordReader::Outcome outcome;
      std::string_view record;
      if (Status s = reader.Next(&outcome, &record); !s.ok()) return s;
      if (outcome == RecordReader::Outcome::kEnd) break;
      if (outcome != RecordReader::Outcome::kRecord) {
        torn = i;
        good_bytes = reader.offset();
        recovered_.torn_bytes = last_size - good_bytes;
        break;
      }
      if (Status s = replay(record); !s.ok()) return s;
      ++recovered_.journal_records;
    }
  }

  // Replay succeeded; now tidy up. A leftover snapshot.tmp is from a
  // WriteSnapshot() that never reached its rename: the old files are whole
  // without it. Journals before `first` are covered by the snapshot.
  // Neither needs a directory fsync: if the removals are lost, the next
  // Open() repeats them.
  unlink(SnapshotTmpPath().c_str());
  for (auto it = journals.begin(); it != live_begin; ++it) unlink(JournalPath(*it).c_str());

  if (torn < live.size()) {
    // A file after the torn one can only have been started by a
    // WriteSnapshot() that had already written everything before it, so it
    // holds nothing; it goes first, durably, so that a crash from here on
    // never finds records after the torn one.
    for (size_t i = torn + 1; i < live.size(); ++i) {
      const std::string path = JournalPath(live[i]);
      struct stat st;
      if (stat(path.c_str(), &st) == 0) recovered_.torn_bytes += static_cast<uint64_t>(st.st_size);
      if (unlink(path.c_str()) != 0) return ErrnoStatus("remove " + path, errno);
    }
    if (torn + 1 < live.size() && fsync(dir_fd_) != 0) return ErrnoStatus("fsync " + dir_, errno);
  }

  if (live.empty()) {
    oldest_ = first;
    return StartJournal(first);
  }
  const size_t newest = std::min(torn, live.size() - 1);
  number_ = live[newest];
  path_ = JournalPath(number_);
  written_ = torn < live.size() ? good_bytes : last_size;
  oldest_ = live.front();
  fd_ = open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd_ < 0) return ErrnoStatus("open " + path_, errno);
  if (torn < live.size()) {
    // Synced before anything is appended, so a crash cannot leave new
    // records behind the old torn bytes.
    if (ftruncate(fd_, static_cast<off_t>(good_bytes)) != 0) {
      return ErrnoStatus("truncate " + path_, errno);
    }
    if (fsync(fd_) != 0) return ErrnoStatus("fsync " + path_, errno);
  }
  return Status::Ok();
}

Status Journal::StartJournal(uint64_t number) {
  const std::string path = JournalPath(number);
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return ErrnoStatus("create " + path, errno);
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
  number_ = number;
  path_ = path;
  written_ = 0;
  unsynced_ = false;
  // So that records synced into the file are not lost with its name.
  if (fsync(dir_fd_) != 0) return ErrnoStatus("fsync " + dir_, errno);
  return Status::Ok();
}

Status Journal::Fail(Status status) {
  if (failed_.ok()) failed_ = std::move(status);
  return failed_;
}

void Journal::Append(std::string_view record) {
  AppendEncoded([record](std::string* out) { out->append(record); });
}

size_t Journal::BeginRecord() {
  const size_t start = buffer_.size();
  buffer_.append(kFrameBytes, '\0');
  return start;
}

void Journal::EndRecord(size_t start) {
  const size_t size = buffer_.size() - start - kFrameBytes;
  if (size > kMaxRecordBytes) {
    buffer_.resize(start);
    (void)Fail(RecordTooLarge(size));
    return;
  }
  char* frame = buffer_.data() + start;
  PutU32(frame, static_cast<uint32_t>(size));
  PutU32(frame + 4, Crc32cExtend(Crc32cExtend(0, frame, 4), frame + kFrameBytes, size));
  ++appended_;
}

Status Journal::Write() {
  if (!failed_.ok()) return failed_;
  if (buffer_.empty()) return Status::Ok();
  size_t done = 0;
  const Status s = WriteAll(fd_, buffer_, path_, &done);
  if (!s.ok()) {
    // Most likely a full disk. What reached the file may end inside a
    // record; cut it off, so that the file holds whole records only and
    // the buffer can be written again later, or discarded. (Cutting a file
    // shorter needs no space.)
    if (done > 0 && ftruncate(fd_, static_cast<off_t>(written_)) != 0) {
      const Status cut = ErrnoStatus("truncate " + path_, errno);
      return Fail(Status::Error(s.message() + "; and cutting its partial record off failed: " +
                                cut.message()));
    }
    return s;
  }
  written_ += done;
  bytes_written_ += done;
  unsynced_ = true;
  if (buffer_.capacity() > kMaxIdleBuffer) {
    buffer_ = std::string();
  } else {
    buffer_.clear();
  }
  written_records_ = appended_;
  return Status::Ok();
}

void Journal::DiscardUnwritten() {
  buffer_.clear();
  appended_ = written_records_;
}

Status Journal::Sync() {
  if (!failed_.ok()) return failed_;
  if (!unsynced_) return Status::Ok();
  while (fdatasync(fd_) != 0) {
    if (errno != EINTR) return Fail(ErrnoStatus("fdatasync " + path_, errno));
  }
  unsynced_ = false;
  durable_ = written_records_;
  return Status::Ok();
}

Result<bool> Journal::SyncInBackground() {
  if (!failed_.ok()) return failed_;
  if (Status s = syncer_->TakeError(); !s.ok()) return Fail(s);
  if (!unsynced_) return true;
  if (!syncer_->Start(fd_, path_)) return false;
  unsynced_ = false;
  syncing_through_ = written_records_;
  return true;
}

uint64_t Journal::last_durable() {
  if (syncing_through_ > 0 && !syncer_->busy()) {
    // Finished: it made durable what was written when it started, unless it
    // failed (kept for SyncInBackground() to report, and permanent).
    if (Status s = syncer_->TakeError(); !s.ok()) {
      (void)Fail(s);
    } else {
      durable_ = std::max(durable_, syncing_through_);
    }
    syncing_through_ = 0;
  }
  return failed_.ok() ? durable_ : 0;
}

int Journal::sync_done_fd() const { return syncer_->done_fd(); }

void Journal::ClearSyncDone() { syncer_->ClearDone(); }

std::vector<int64_t> Journal::TakeSyncDurations() { return syncer_->TakeDurations(); }

bool Journal::has_unsynced() const { return unsynced_ || !buffer_.empty() || syncer_->busy(); }

uint64_t Journal::journal_bytes() const { return written_ + buffer_.size(); }

// The steps, and what Recover() finds if the process or the machine dies
// after each (N is number_, M = N + 1):
//  1. snapshot.tmp is written and fsynced. Recovery deletes it and replays
//     the old snapshot and journal-N, which still hold everything.
//  2. journal-M is created, empty. Recovery replays the old snapshot,
//     journal-N, then the empty journal-M, and appends to journal-M: the
//     same records, in the same order.
//  3. snapshot.tmp is renamed to snapshot: the commit point, atomic. Until
//     the directory fsync below, a power loss may undo the rename (back to
//     2) or keep it; kept, the snapshot names journal-M as its first, so
//     recovery deletes journal-N and older unread, and creates journal-M if
//     its creation was lost (it is empty either way: nothing is appended
//     before this returns). The directory fsync makes the rename and
//     journal-M durable together, before any record goes into journal-M.
//  4. journal-N and older are deleted, without a directory fsync: if the
//     deletions are lost, recovery repeats them.
Status Journal::WriteSnapshot(const ProduceFn& produce) {
  if (!failed_.ok()) return failed_;
  if (!buffer_.empty()) {
    return Status::Error("journal " + dir_ + ": snapshot with " + std::to_string(buffer_.size()) +
                         " bytes not written; Write() first");
  }
  const uint64_t next = number_ + 1;
  const std::string tmp = SnapshotTmpPath();
  const std::string next_path = JournalPath(next);

  ScopedFd snapshot(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  if (snapshot.get() < 0) return ErrnoStatus("create " + tmp, errno);
  uint64_t size = 0;
  Status s = [&] {
    std::string out;
    out.reserve(kBlockBytes + kFrameBytes);
    // The record count is not known yet; the header is rewritten at the end.
    AppendFramed(SnapshotHeader(next, 0), &out);
    uint64_t count = 0;
    Status error;
    size_t done = 0;
    produce([&](std::string_view record) {
      if (!error.ok()) return;
      if (record.size() > kMaxRecordBytes) {
        error = RecordTooLarge(record.size());
        return;
      }
      AppendFramed(record, &out);
      ++count;
      if (out.size() >= kBlockBytes) {
        error = WriteAll(snapshot.get(), out, tmp, &done);
        out.clear();
      }
    });
    if (!error.ok()) return error;
    if (Status w = WriteAll(snapshot.get(), out, tmp, &done); !w.ok()) return w;
    out.clear();
    AppendFramed(SnapshotHeader(next, count), &out);
    if (Status w = PwriteAll(snapshot.get(), out, 0, tmp); !w.ok()) return w;
    if (fsync(snapshot.get()) != 0) return ErrnoStatus("fsync " + tmp, errno);
    struct stat st;
    if (fstat(snapshot.get(), &st) == 0) size = static_cast<uint64_t>(st.st_size);
    bytes_written_ += size;
    if (close(snapshot.release()) != 0) return ErrnoStatus("close " + tmp, errno);
    return Status::Ok();
  }();
  if (!s.ok()) {
    unlink(tmp.c_str());
    return s;
  }

  ScopedFd journal(
      open(next_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640));
  if (journal.get() < 0) {
    s = ErrnoStatus("create " + next_path, errno);
    unlink(tmp.c_str());
    return s;
  }
  if (rename(tmp.c_str(), SnapshotPath().c_str()) != 0) {
    s = ErrnoStatus("rename " + tmp + " to snapshot", errno);
    unlink(next_path.c_str());
    unlink(tmp.c_str());
    return s;
  }

  // Committed: the snapshot in place names journal-<next> as its first, so
  // appends must go there whatever happens below.
  close(fd_);
  fd_ = journal.release();
  const uint64_t old = number_;
  number_ = next;
  path_ = next_path;
  written_ = 0;
  snapshot_bytes_ = size;
  // What was written to the old journal and not synced is in the snapshot,
  // which is durable once the directory is.
  unsynced_ = false;
  if (fsync(dir_fd_) != 0) {
    // The old journal is kept: if the rename is lost, it is still needed.
    return Fail(ErrnoStatus("fsync " + dir_, errno));
  }
  durable_ = appended_;
  for (uint64_t n = oldest_; n <= old; ++n) unlink(JournalPath(n).c_str());
  oldest_ = next;
  return Status::Ok();
}

}  // namespace drover::broker
