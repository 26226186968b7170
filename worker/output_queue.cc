#include "worker/output_queue.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "shared/file_io.h"

namespace drover::worker {
namespace {

// Each spilled entry: [u64 data bytes][u32 message length][message].
constexpr size_t kHeader = 12;

}  // namespace

OutputQueue::OutputQueue(std::string spill_path, uint64_t memory_bytes, uint64_t max_bytes)
    : spill_path_(std::move(spill_path)), memory_limit_(memory_bytes), max_bytes_(max_bytes) {}

OutputQueue::~OutputQueue() { Clear(); }

void OutputQueue::Clear() {
  if (spill_fd_ >= 0) {
    close(spill_fd_);
    unlink(spill_path_.c_str());
    spill_fd_ = -1;
  }
  memory_.clear();
  memory_bytes_ = spill_write_ = spill_read_ = entries_ = bytes_ = 0;
}

Status OutputQueue::OpenSpill() {
  if (spill_fd_ >= 0) return Status::Ok();
  spill_fd_ = open(spill_path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (spill_fd_ < 0) return ErrnoStatus("create " + spill_path_, errno);
  return Status::Ok();
}

Status OutputQueue::Push(std::string message, uint64_t data_bytes) {
  const bool spilling = spill_write_ > spill_read_;
  if (!spilling && memory_bytes_ + message.size() <= memory_limit_) {
    memory_bytes_ += message.size();
    memory_.emplace_back(std::move(message), data_bytes);
  } else {
    if (Status s = OpenSpill(); !s.ok()) return s;
    char header[kHeader];
    const auto length = static_cast<uint32_t>(message.size());
    std::memcpy(header, &data_bytes, 8);
    std::memcpy(header + 8, &length, 4);
    if (Status s = PwriteAll(spill_fd_, std::string_view(header, kHeader), spill_write_, spill_path_); !s.ok()) {
      return s;
    }
    if (Status s = PwriteAll(spill_fd_, message, spill_write_ + kHeader,
                             spill_path_);
        !s.ok()) {
      return s;
    }
    spill_write_ += kHeader + message.size();
  }
  ++entries_;
  bytes_ += data_bytes;
  return Status::Ok();
}

Status OutputQueue::Pop(std::string* message, uint64_t* data_bytes) {
  if (!memory_.empty()) {
    *message = std::move(memory_.front().first);
    *data_bytes = memory_.front().second;
    memory_bytes_ -= message->size();
    memory_.pop_front();
  } else {
    char header[kHeader];
    if (Status s = PreadAll(spill_fd_, header, kHeader, spill_read_, spill_path_); !s.ok()) {
      return s;
    }
    uint32_t length = 0;
    std::memcpy(data_bytes, header, 8);
    std::memcpy(&length, header + 8, 4);
    message->resize(length);
    if (Status s = PreadAll(spill_fd_, message->data(), length, spill_read_ + kHeader, spill_path_);
        !s.ok()) {
      return s;
    }
    spill_read_ += kHeader + length;
    if (spill_read_ == spill_write_) {  // read back to the end: start the file over
      spill_read_ = spill_write_ = 0;
      if (ftruncate(spill_fd_, 0) != 0) return ErrnoStatus("truncate " + spill_path_, errno);
    }
  }
  --entries_;
  bytes_ -= *data_bytes;
  return Status::Ok();
}

}  // namespace drover::worker
