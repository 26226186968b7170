// StringSink: where msgpack::packer writes when Drover encodes into a
// std::string (anything with write(const char*, size_t) will do for it).
//
// The packer hands over a value a few bytes at a time (a type byte, then a
// big-endian integer, ...), and one std::string::append per piece was the
// largest single cost of encoding a small message: ~50 calls per journal
// record. The sink gathers the pieces in a buffer of its own and appends
// them to the string in larger runs.
//
// The string is complete only once the sink is flushed or destroyed: do not
// read or append to it while a sink writing to it is alive.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>

namespace drover {

class StringSink {
 public:
  explicit StringSink(std::string* out) : out_(out) {}
  ~StringSink() { Flush(); }
  StringSink(const StringSink&) = delete;
  StringSink& operator=(const StringSink&) = delete;

  // Inlined on purpose: the packer's pieces have sizes known at compile
  // time, so the copy becomes a move or two instead of a call to memcpy.
  [[gnu::always_inline]] void write(const char* data, size_t size) {
    if (size <= kBufferBytes - used_) {
      std::memcpy(buffer_ + used_, data, size);
      used_ += size;
      return;
    }
    WriteSlow(data, size);
  }

  void Flush() {
    if (used_ == 0) return;
    out_->append(buffer_, used_);
    used_ = 0;
  }

 private:
  static constexpr size_t kBufferBytes = 256;

  [[gnu::noinline]] void WriteSlow(const char* data, size_t size) {
    Flush();
    if (size >= kBufferBytes) {
      out_->append(data, size);  // bulk (a bin or a long str): no detour
    } else {
      std::memcpy(buffer_, data, size);
      used_ = size;
    }
  }

  std::string* out_;
  size_t used_ = 0;
  char buffer_[kBufferBytes];
};

}  // namespace drover
