// A pre-scan of untrusted MessagePack: one cheap linear walk over the bytes
// that proves their structure sound before msgpack-c sees them.
//
// Why: msgpack-c allocates an array's or map's object storage as soon as it
// reads the header, before it knows the elements exist, so five bytes
// (`dd 00 0f ff ff`) can make it allocate 16 MB, and the same nested can ask
// for gigabytes. ScanMsgpack() allocates nothing and refuses, before any
// decoder runs:
//   - an array or map whose declared count cannot fit in the bytes that
//     remain (every element takes at least one byte, every pair two);
//   - a str or bin whose declared length is longer than the bytes that remain;
//   - any ext value (Drover sends none), and the never-used byte 0xc1;
//   - nesting deeper than the limit, and counts or lengths over the limits;
//   - a value cut short (truncation).
// Once it passes, the objects msgpack-c builds number at most one per input
// byte. Every decoder that takes bytes from outside (the network, the
// journal, event logs, job files) runs it first: shared/codec_typed.h and
// shared/job_load.cc.
//
// Errors name what was wrong and the byte offset where it starts:
// "the map at offset 0 declares 4294967295 pairs but only 0 bytes remain".
// Thread-safe: pure functions.
#pragma once

#include <cstddef>
#include <string_view>

#include "shared/status.h"

namespace drover {

// Upper bounds applied while decoding bytes from the network or a file.
struct DecodeLimits {
  size_t max_depth = 16;       // arrays and maps nested in each other (at most kMaxScanDepth)
  size_t max_array = 1 << 20;  // elements in one array
  size_t max_map = 1 << 16;    // pairs in one map
  size_t max_str = 64 << 20;   // bytes in one str
  size_t max_bin = 256 << 20;  // bytes in one bin
};

// The deepest nesting any limit can allow: the scan keeps one counter per
// open container on its stack, never on the heap.
inline constexpr size_t kMaxScanDepth = 64;

// Checks the one value that starts at bytes[0]; on success sets *end to the
// offset just past it (bytes after it are the caller's business).
Status ScanMsgpackValue(std::string_view bytes, const DecodeLimits& limits, size_t* end);

// Checks that `bytes` hold exactly one value: trailing bytes are an error.
Status ScanMsgpack(std::string_view bytes, const DecodeLimits& limits);

}  // namespace drover
