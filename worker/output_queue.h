// OutputQueue: children's output read while it cannot go to the broker (the
// worker is out of touch, or still sending what piled up), kept in order
// until it can. Entries are encoded TaskOutput messages. They stay in memory
// up to `memory_bytes`, then go to a spill file on local disk, up to
// `max_bytes` in all; when full, the worker stops reading its children's
// pipes (they block in write), as it does when the broker pushes back.
//
// Invariant: every entry in the spill file is newer than every entry in
// memory (once spilling starts, new entries go to the file until it has been
// read back to its end), so Pop() returns entries in the order pushed.
//
// Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include "shared/status.h"

namespace drover::worker {

class OutputQueue {
 public:
  OutputQueue(std::string spill_path, uint64_t memory_bytes, uint64_t max_bytes);
  ~OutputQueue();
  OutputQueue(const OutputQueue&) = delete;
  OutputQueue& operator=(const OutputQueue&) = delete;

  bool empty() const { return entries_ == 0; }
  bool full() const { return bytes_ >= max_bytes_; }
  uint64_t bytes() const { return bytes_; }  // of data, in memory and spilled

  // Appends one encoded message carrying `data_bytes` of output.
  Status Push(std::string message, uint64_t data_bytes);
  // Takes the oldest message. REQUIRES: !empty().
  Status Pop(std::string* message, uint64_t* data_bytes);
  // Forgets every entry (after the spill file failed, say).
  void Clear();

 private:
  Status OpenSpill();

  std::string spill_path_;
  uint64_t memory_limit_;
  uint64_t max_bytes_;
  std::deque<std::pair<std::string, uint64_t>> memory_;
  uint64_t memory_bytes_ = 0;
  int spill_fd_ = -1;
  uint64_t spill_write_ = 0;  // file offsets: entries lie in [spill_read_, spill_write_)
  uint64_t spill_read_ = 0;
  uint64_t entries_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace drover::worker
