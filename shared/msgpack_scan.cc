// ScanMsgpack: the walk is iterative, one counter per open container in a
// fixed array on the stack, so neither deep nesting nor a huge declared count
// costs memory; each byte of the input is looked at once at most.

#include "shared/msgpack_scan.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

namespace drover {
namespace {

enum class Kind { kScalar, kStr, kBin, kArray, kMap };

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kScalar:
      return "value";
    case Kind::kStr:
      return "str";
    case Kind::kBin:
      return "bin";
    case Kind::kArray:
      return "array";
    case Kind::kMap:
      return "map";
  }
  return "value";
}

std::string Hex(unsigned char byte) {
  char text[8];
  std::snprintf(text, sizeof text, "0x%02x", byte);
  return text;
}

uint64_t LoadBigEndian(const unsigned char* p, size_t n) {
  uint64_t value = 0;
  for (size_t i = 0; i < n; ++i) value = value << 8 | p[i];
  return value;
}

// "the array at offset 3"
std::string What(Kind kind, size_t offset) {
  return std::string("the ") + KindName(kind) + " at offset " + std::to_string(offset);
}

Status Truncated(Kind kind, unsigned char type, size_t offset, size_t needed, size_t remaining) {
  return Status::Error("truncated: " + What(kind, offset) + " (type byte " + Hex(type) +
                       ") needs " + std::to_string(needed) + " more bytes, " +
                       std::to_string(remaining) + " remain");
}

Status OverLimit(Kind kind, size_t offset, uint64_t count, const char* unit, size_t limit) {
  return Status::Error(What(kind, offset) + " has " + std::to_string(count) + " " + unit +
                       ", more than the limit of " + std::to_string(limit));
}

}  // namespace

Status ScanMsgpackValue(std::string_view bytes, const DecodeLimits& limits, size_t* end) {
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t size = bytes.size();
  const size_t max_depth = std::min(limits.max_depth, kMaxScanDepth);
  uint64_t due[kMaxScanDepth];  // values still to come in each open container
  size_t depth = 0;
  size_t pos = 0;
  for (;;) {
    if (pos == size) {
      return Status::Error("truncated: a value should start at offset " + std::to_string(pos));
    }
    const size_t start = pos;
    const unsigned char type = data[pos++];
    Kind kind = Kind::kScalar;
    size_t fixed = 0;         // scalars: bytes after the type byte
    size_t length_bytes = 0;  // str, bin, array, map: bytes of the count after the type byte
    uint64_t count = 0;       // str, bin: bytes; array: elements; map: pairs
    if (type <= 0x7f || type >= 0xe0) {
      // positive or negative fixint: the type byte is the value
    } else if (type <= 0x8f) {
      kind = Kind::kMap, count = type & 0x0f;
    } else if (type <= 0x9f) {
      kind = Kind::kArray, count = type & 0x0f;
    } else if (type <= 0xbf) {
      kind = Kind::kStr, count = type & 0x1f;
    } else {
      switch (type) {
        // One line per type byte, as the spec's table.
        // clang-format off
        case 0xc0: case 0xc2: case 0xc3: break;  // nil, false, true
        case 0xcc: case 0xd0: fixed = 1; break;
        case 0xcd: case 0xd1: fixed = 2; break;
        case 0xca: case 0xce: case 0xd2: fixed = 4; break;
        case 0xcb: case 0xcf: case 0xd3: fixed = 8; break;
        case 0xc4: kind = Kind::kBin, length_bytes = 1; break;
        case 0xc5: kind = Kind::kBin, length_bytes = 2; break;
        case 0xc6: kind = Kind::kBin, length_bytes = 4; break;
        case 0xd9: kind = Kind::kStr, length_bytes = 1; break;
        case 0xda: kind = Kind::kStr, length_bytes = 2; break;
        case 0xdb: kind = Kind::kStr, length_bytes = 4; break;
        case 0xdc: kind = Kind::kArray, length_bytes = 2; break;
        case 0xdd: kind = Kind::kArray, length_bytes = 4; break;
        case 0xde: kind = Kind::kMap, length_bytes = 2; break;
        case 0xdf: kind = Kind::kMap, length_bytes = 4; break;
        case 0xc7: case 0xc8: case 0xc9:
        case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
          return Status::Error("an ext value (type byte " + Hex(type) + ") at offset " +
                               std::to_string(start) + ": ext types are not accepted");
        // clang-format on
        default:  // 0xc1, the one byte MessagePack never uses
          return Status::Error("invalid byte " + Hex(type) + " at offset " + std::to_string(start));
      }
    }
    if (size - pos < fixed + length_bytes) {
      return Truncated(kind, type, start, fixed + length_bytes, size - pos);
    }
    if (length_bytes > 0) {
      count = LoadBigEndian(data + pos, length_bytes);
      pos += length_bytes;
    }
    const size_t remaining = size - pos;
    switch (kind) {
      case Kind::kScalar:
        pos += fixed;
        break;
      case Kind::kStr:
      case Kind::kBin: {
        if (count > remaining) {
          return Status::Error(What(kind, start) + " declares " + std::to_string(count) +
                               " bytes but only " + std::to_string(remaining) + " remain");
        }
        const size_t limit = kind == Kind::kStr ? limits.max_str : limits.max_bin;
        if (count > limit) return OverLimit(kind, start, count, "bytes", limit);
        pos += count;
        break;
      }
      case Kind::kArray:
      case Kind::kMap: {
        const bool map = kind == Kind::kMap;
        // Every element takes at least one byte; every pair, two.
        if (count > (map ? remaining / 2 : remaining)) {
          return Status::Error(What(kind, start) + " declares " + std::to_string(count) +
                               (map ? " pairs" : " elements") + " but only " +
                               std::to_string(remaining) + " bytes remain");
        }
        const size_t limit = map ? limits.max_map : limits.max_array;
        if (count > limit) return OverLimit(kind, start, count, map ? "pairs" : "elements", limit);
        if (depth + 1 > max_depth) {
          return Status::Error("nested more than " + std::to_string(max_depth) +
                               " levels deep at offset " + std::to_string(start));
        }
        if (count > 0) {
          due[depth++] = map ? 2 * count : count;
          continue;  // its first element comes next
        }
        break;
      }
    }
    // A value is complete: it counts against its container, which may be
    // complete in turn.
    for (;;) {
      if (depth == 0) {
        *end = pos;
        return Status::Ok();
      }
      if (--due[depth - 1] > 0) break;
      --depth;
    }
  }
}

Status ScanMsgpack(std::string_view bytes, const DecodeLimits& limits) {
  size_t end = 0;
  if (Status s = ScanMsgpackValue(bytes, limits, &end); !s.ok()) return s;
  if (end != bytes.size()) {
    return Status::Error(std::to_string(bytes.size() - end) +
                         " stray bytes after the value, from offset " + std::to_string(end));
  }
  return Status::Ok();
}

}  // namespace drover
