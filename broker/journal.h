// Journal: the broker's durable record of its state, as an append-only log of
// opaque records plus an occasional snapshot that bounds it. What a record
// means is the broker's business (broker/recovery.h); this file only promises
// that what was appended and synced comes back, in order, after any crash.
//
// On disk, in one directory (docs/reliability.md describes it for operators):
//   snapshot       records that reproduce the whole state at some moment,
//                  preceded by a header naming the first journal file not
//                  covered by it. Replaced atomically (written to
//                  snapshot.tmp, fsynced, renamed, directory fsynced).
//   journal-<N>    records appended since the snapshot, N a decimal number.
//                  Only the newest is appended to; older ones are covered by
//                  the snapshot and deleted once it is durable.
// Each record is framed [u32 length][u32 CRC-32C of length and payload]
// [payload], integers little-endian, so a reader can tell a complete record
// from a torn or corrupt one. The snapshot's first record is its header:
// "DROVSNAP", u32 version (1), u64 first journal number not covered, u64
// number of records after the header.
//
// Durability: Append() buffers; Write() hands the buffer to the kernel with
// one write(), which survives the broker being killed; Sync() fdatasyncs,
// which survives the machine losing power. The broker writes every turn
// before it sends anything that depends on the records, and syncs every few
// milliseconds (group commit), or at once when a submission waits to be
// acknowledged, with SyncInBackground(), whose fdatasync runs on a thread
// of its own so that the loop does not wait for the disk; last_durable()
// says which records a finished sync covered.
//
// Recovery stops at the first record that is incomplete or fails its
// checksum (a torn tail: the broker died mid-write), truncates the journal
// there, and carries on from it; everything before it is replayed. A snapshot
// that cannot be read whole is an error: it was renamed into place complete,
// so damage there means the disk itself is at fault.
//
// Not thread-safe; one loop owns it. (The background sync thread touches
// only a duplicate of the journal's descriptor: broker/background_sync.h.)
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/status.h"

namespace drover::broker {

class BackgroundSync;

class Journal {
 public:
  // Called with each recovered record, in order: the snapshot's, then the
  // journal's. An error stops recovery and fails Open() with that error.
  using ReplayFn = std::function<Status(std::string_view record)>;
  // Produces a snapshot's records by calling `emit` for each, in order.
  using ProduceFn = std::function<void(const std::function<void(std::string_view)>& emit)>;

  // Opens (creating if needed) the journal in `dir`, replaying what it holds.
  // Afterwards appends go to the newest journal file, truncated to its last
  // good record. The error names the file and the problem.
  static Result<std::unique_ptr<Journal>> Open(const std::string& dir, const ReplayFn& replay);
  // Closes the files. What is still buffered is dropped: Write() first.
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // A record over 1 GiB is refused: Write() fails from then on, since the
  // journal no longer matches the broker's state.
  void Append(std::string_view record);
  // The same for a record that `encode(std::string* out)` appends to *out:
  // it is encoded straight into the journal's buffer, saving a copy of
  // every record (the broker appends two per step).
  template <typename Encode>
  void AppendEncoded(Encode&& encode) {
    if (!failed_.ok()) return;
    const size_t start = BeginRecord();
    encode(&buffer_);
    EndRecord(start);
  }
  // Writes everything appended so far (no-op if nothing is). A write that
  // fails (a full disk) is undone: the file is cut back to the records it
  // held before, and everything appended stays buffered for the next
  // Write(), or for DiscardUnwritten(). If even the cut fails, the journal
  // fails for good (broken()): its file may end inside a record, and records
  // after that would be lost to replay.
  Status Write();
  // Drops every record appended since the last Write() that succeeded, as
  // if it had never been appended (the numbers of last_appended() are
  // handed out again): a submission whose record cannot be written is
  // refused, and nothing of it may reach the file later.
  void DiscardUnwritten();
  // Makes everything written so far durable (no-op if it already is).
  // REQUIRES: Write() was called after the last Append().
  // An fdatasync error is permanent (every later call returns it): the
  // kernel may have dropped the pages it failed to write, so a retry that
  // succeeds would prove nothing.
  Status Sync();
  // Starts making everything written so far durable, on the sync thread, and
  // returns at once; false (and nothing started) if the thread is still busy
  // with the previous one: try again later. An error of an earlier background
  // sync is returned here (and is permanent, as in Sync()).
  // REQUIRES: Write() was called after the last Append().
  Result<bool> SyncInBackground();
  // Whether anything appended is not durable yet, or on its way (buffered,
  // or written and not synced, or its background sync still running).
  bool has_unsynced() const;

  // Records are numbered 1, 2, 3, ... in the order appended, over the
  // journal's life (across its files). The last one appended:
  uint64_t last_appended() const { return appended_; }
  // The last one known durable: synced by Sync(), by a background sync that
  // has finished (noticed here), or held by a snapshot taken after it.
  uint64_t last_durable();
  // Readable once a background sync has finished since ClearSyncDone(): a
  // poll loop waiting for a record to become durable wakes on it.
  int sync_done_fd() const;
  void ClearSyncDone();
  // How long each background sync finished since the last call took (us).
  std::vector<int64_t> TakeSyncDurations();

  // Bytes in the current journal file, written or buffered: when this grows
  // large the broker takes a snapshot.
  uint64_t journal_bytes() const;
  // Bytes appended and not written yet.
  uint64_t unwritten_bytes() const { return buffer_.size(); }
  // Bytes written to disk over the journal's life (its files and
  // snapshots), for the broker's watch on free space.
  uint64_t bytes_written() const { return bytes_written_; }
  // Whether the journal failed for good: every Write, Sync and
  // WriteSnapshot returns the same error from then on.
  bool broken() const { return !failed_.ok(); }
  // Bytes in the snapshot in use (0 if there is none).
  uint64_t snapshot_bytes() const { return snapshot_bytes_; }

  // Replaces snapshot and journal with a new snapshot holding `produce`'s
  // records, then starts a new, empty journal file. REQUIRES: nothing is
  // buffered (Write() first). On failure the old snapshot and journal are
  // still intact and still in use; the one exception is an fsync error on
  // the directory once the new snapshot is in place, which is permanent as
  // in Sync().
  Status WriteSnapshot(const ProduceFn& produce);

  // Statistics from Open(), for the broker's log.
  struct Recovered {
    uint64_t snapshot_records = 0;
    uint64_t journal_records = 0;
    uint64_t torn_bytes = 0;  // cut off the journal's tail
  };
  const Recovered& recovered() const { return recovered_; }

 private:
  explicit Journal(std::string dir);

  // Open()'s work once the directory exists.
  Status Recover(const ReplayFn& replay);
  // Makes journal-<number> (empty) the file appends go to.
  Status StartJournal(uint64_t number);
  // Records `status` as permanent and returns it.
  Status Fail(Status status);
  // AppendEncoded()'s halves: room for the frame, then the frame filled in
  // once the record's bytes follow it (or the record dropped and the journal
  // failed, if it is too large).
  size_t BeginRecord();
  void EndRecord(size_t start);


  std::string JournalPath(uint64_t number) const;
  std::string SnapshotPath() const { return dir_ + "/snapshot"; }
  std::string SnapshotTmpPath() const { return dir_ + "/snapshot.tmp"; }

  const std::string dir_;
  int dir_fd_ = -1;        // held for fsync and for the lock on the directory
  int fd_ = -1;            // journal-<number_>, opened O_APPEND
  uint64_t number_ = 0;    // of the file appends go to
  uint64_t oldest_ = 0;    // the oldest journal file that may still exist
  std::string path_;       // journal-<number_>
  uint64_t written_ = 0;   // bytes in journal-<number_>
  uint64_t snapshot_bytes_ = 0;
  uint64_t bytes_written_ = 0;
  std::string buffer_;     // framed records not yet written
  bool unsynced_ = false;  // written since the last fdatasync
  uint64_t appended_ = 0;  // records appended (their numbers: 1..appended_)
  uint64_t written_records_ = 0;  // ... of which written
  uint64_t durable_ = 0;          // ... of which durable
  uint64_t syncing_through_ = 0;  // the background sync under way covers 1..this (0: none)
  Status failed_;          // once not ok, every Write/Sync/WriteSnapshot returns it
  Recovered recovered_;
  std::unique_ptr<BackgroundSync> syncer_;  // started when the journal opens
};

}  // namespace drover::broker
