// Server (server.h): the state disk's free space. What to do is decided by
// DiskSpace (broker/core/disk_space.h); here it is measured, told, logged
// once per change, and turned into refusals.

#include <spdlog/spdlog.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "broker/server.h"

namespace drover::broker {
namespace {

// A submission's job file is kept twice (its journal record and the spool's
// copy), with a little more for the record's other fields.
constexpr uint64_t kSubmissionOverheadBytes = 4 << 10;

std::string Mib(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return text;
}

}  // namespace

void Server::MeasureDisk() {
  uint64_t least = UINT64_MAX;
  for (const std::string* dir : {&std::as_const(journal_dir_), &spool_->dir()}) {
    struct statvfs st;
    if (dir->empty() || statvfs(dir->c_str(), &st) != 0) continue;
    least = std::min<uint64_t>(least, uint64_t{st.f_bavail} * st.f_frsize);
  }
  if (least == UINT64_MAX) return;  // cannot tell: judge by the writes
  disk_written_ = journal_->bytes_written() + spool_->bytes_written();
  const DiskSpace::Change change = disk_.OnMeasured(least);
  if (!change.changed) return;
  spool_->set_disk_level(change.to);
  const std::string& dir = options_.state_dir.empty() ? journal_dir_ : options_.state_dir;
  if (change.to == DiskSpace::Level::kShort) {
    spdlog::warn(
        "state disk {}: {} free, under the {} kept for running jobs "
        "(--min-free-mb): new submissions are refused, and steps' output past {} KiB "
        "is not kept, until there is room again",
        dir, Mib(least), Mib(disk_.reserve()), DiskSpace::kShortOutputBytes >> 10);
  } else if (change.to == DiskSpace::Level::kRoomy) {
    const uint64_t cuts = spool_->TakeCuts();
    spdlog::info("state disk {}: room again ({} free): submissions are taken and output kept{}",
                 dir, Mib(least),
                 cuts ? " (the output of " + std::to_string(cuts) + " step(s) was cut meanwhile)"
                      : std::string());
  }
}

void Server::WatchDisk() {
  const uint64_t written = journal_->bytes_written() + spool_->bytes_written();
  disk_.OnWritten(written - disk_written_);
  disk_written_ = written;
  if ((disk_.reserve() > 0 || disk_.level() != DiskSpace::Level::kRoomy) && disk_.MeasureDue()) {
    MeasureDisk();
  }
}

void Server::NoteWriteFailure(std::string_view what, const Status& s) {
  if (!IsNoSpaceError(s.error_number())) {
    spdlog::error("{}: {}", what, s.message());
    return;
  }
  const DiskSpace::Change change = disk_.OnWriteFailed();
  if (!change.changed) return;
  spool_->set_disk_level(change.to);
  spdlog::error(
      "{} ({}: {}): new submissions are refused, and steps' output is not kept, until "
      "there is room again",
      DiskFullMessage(), what, s.message());
  MeasureDisk();  // where free space stands now: it must grow from there
}

std::string Server::DiskFullMessage() const {
  const std::string& dir = options_.state_dir.empty() ? journal_dir_ : options_.state_dir;
  return "broker's state disk is full: " + dir + ": " + std::strerror(ENOSPC);
}

std::string Server::DiskRefusal(uint64_t file_bytes) {
  if (disk_.reserve() > 0 || disk_.level() != DiskSpace::Level::kRoomy) MeasureDisk();
  if (disk_.Admits(2 * file_bytes + kSubmissionOverheadBytes)) return std::string();
  if (disk_.level() == DiskSpace::Level::kFull || !disk_.measured()) return DiskFullMessage();
  // On a line of its own: `submit` prints the message as it is.
  return DiskFullMessage() + "\n  (" + Mib(disk_.free_bytes()) + " free; it keeps " +
         Mib(disk_.reserve()) + " for the jobs running: broker --min-free-mb)";
}

Status Server::CatchUpJournal() {
  if (!journal_stalled_) return Status::Ok();
  Status s = journal_->Write();
  if (s.ok()) {
    JournalWrittenAgain();
  } else if (IsNoSpaceError(s.error_number())) {
    // Said when it stalled; only a disk that looked roomy again and still
    // refuses (a quota) changes anything.
    NoteWriteFailure("journal", s);
  }
  return s;
}

void Server::JournalStalled(const Status& s) {
  if (journal_stalled_) {
    if (IsNoSpaceError(s.error_number())) NoteWriteFailure("journal", s);
    return;
  }
  journal_stalled_ = true;
  NoteWriteFailure("journal", s);
  spdlog::critical(
      "journal: cannot write its records ({}); they are held in memory, NOT "
      "DURABLE: a broker stopped now loses them. Nothing new is dispatched and no "
      "result acknowledged until they are written",
      s.message());
}

void Server::JournalWrittenAgain() {
  if (!std::exchange(journal_stalled_, false)) return;
  spdlog::warn(
      "journal: the records held in memory are written; dispatching and acknowledging "
      "results again");
}

}  // namespace drover::broker
