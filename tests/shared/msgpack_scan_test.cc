// ScanMsgpack against hand-made hostile bytes (each refusal names what and
// where) and against msgpack-c itself: on every input of up to two bytes, and
// on many random short ones, the scan accepts exactly what msgpack-c decodes
// whole without ext values.
#include "shared/msgpack_scan.h"

#include <doctest/doctest.h>

#include <msgpack.hpp>
#include <random>
#include <string>

namespace drover {
namespace {

std::string Bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out.push_back(static_cast<char>(v));
  return out;
}

std::string ScanError(const std::string& bytes, const DecodeLimits& limits = {}) {
  const Status s = ScanMsgpack(bytes, limits);
  return s.ok() ? "ok" : s.message();
}

bool HasExt(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::EXT:
      return true;
    case msgpack::type::ARRAY:
      for (uint32_t i = 0; i < o.via.array.size; ++i) {
        if (HasExt(o.via.array.ptr[i])) return true;
      }
      return false;
    case msgpack::type::MAP:
      for (uint32_t i = 0; i < o.via.map.size; ++i) {
        if (HasExt(o.via.map.ptr[i].key) || HasExt(o.via.map.ptr[i].val)) return true;
      }
      return false;
    default:
      return false;
  }
}

// What msgpack-c says about `bytes` under the same limits: one whole value
// with no ext in it.
bool MsgpackAccepts(const std::string& bytes, const DecodeLimits& limits) {
  try {
    const msgpack::unpack_limit limit(limits.max_array, limits.max_map, limits.max_str,
                                      limits.max_bin, /*ext=*/0xffffffff, limits.max_depth);
    size_t offset = 0;
    const msgpack::object_handle handle =
        msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, limit);
    return offset == bytes.size() && !HasExt(handle.get());
  } catch (const std::exception&) {
    return false;
  }
}

TEST_CASE("well-formed values of every kind pass, and the scan says where they end") {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> p(buffer);
  p.pack_array(14);
  p.pack_nil();
  p.pack(true);
  p.pack(7);
  p.pack(-3);
  p.pack(200);
  p.pack(70000);
  p.pack(uint64_t{1} << 40);
  p.pack(-200000);
  p.pack(1.5);
  p.pack(1.5f);
  p.pack(std::string(300, 'x'));
  p.pack_bin(3);
  p.pack_bin_body("a\0b", 3);
  p.pack_map(1);
  p.pack(std::string("k"));
  p.pack_array(0);
  p.pack_map(0);
  const std::string value(buffer.data(), buffer.size());
  CHECK(ScanError(value) == "ok");
  size_t end = 0;
  REQUIRE(ScanMsgpackValue(value + "\x01\x02", {}, &end).ok());
  CHECK(end == value.size());
  CHECK(ScanError(value + "\x01\x02") ==
        "2 stray bytes after the value, from offset " + std::to_string(value.size()));
}

TEST_CASE("a count or length longer than the bytes left is refused before anything is built") {
  CHECK(ScanError(Bytes({0xdd, 0x00, 0x0f, 0xff, 0xff})) ==
        "the array at offset 0 declares 1048575 elements but only 0 bytes remain");
  CHECK(ScanError(Bytes({0xdd, 0xff, 0xff, 0xff, 0xff})) ==
        "the array at offset 0 declares 4294967295 elements but only 0 bytes remain");
  CHECK(ScanError(Bytes({0xdf, 0xff, 0xff, 0xff, 0xff})) ==
        "the map at offset 0 declares 4294967295 pairs but only 0 bytes remain");
  CHECK(ScanError(Bytes({0x91, 0x91, 0xdc, 0x00, 0x03, 0x01, 0x02})) ==
        "the array at offset 2 declares 3 elements but only 2 bytes remain");
  // A pair takes two bytes at least: two pairs cannot fit in three.
  CHECK(ScanError(Bytes({0x82, 0x01, 0x02, 0x03})) ==
        "the map at offset 0 declares 2 pairs but only 3 bytes remain");
  CHECK(ScanError(Bytes({0xc6, 0xff, 0xff, 0xff, 0xff})) ==
        "the bin at offset 0 declares 4294967295 bytes but only 0 remain");
  CHECK(ScanError(Bytes({0xdb, 0x00, 0x00, 0x00, 0x05, 'a', 'b'})) ==
        "the str at offset 0 declares 5 bytes but only 2 remain");
  CHECK(ScanError(Bytes({0xa3, 'a'})) == "the str at offset 0 declares 3 bytes but only 1 remain");
  // Sixteen levels of "1M elements" in 80 bytes (16 MB a level to msgpack-c)
  // stop at the first.
  std::string nested;
  for (int i = 0; i < 16; ++i) nested += Bytes({0xdd, 0x00, 0x0f, 0xff, 0xff});
  CHECK(ScanError(nested) ==
        "the array at offset 0 declares 1048575 elements but only 75 bytes remain");
}

TEST_CASE("values cut short are truncated, with the offset of the value") {
  CHECK(ScanError("") == "truncated: a value should start at offset 0");
  CHECK(ScanError(Bytes({0x92, 0x91, 0x01})) == "truncated: a value should start at offset 3");
  CHECK(ScanError(Bytes({0xce, 0x00, 0x00})) ==
        "truncated: the value at offset 0 (type byte 0xce) needs 4 more bytes, 2 remain");
  CHECK(ScanError(Bytes({0x91, 0xdd, 0x00})) ==
        "truncated: the array at offset 1 (type byte 0xdd) needs 4 more bytes, 1 remain");
  CHECK(ScanError(Bytes({0xd9})) ==
        "truncated: the str at offset 0 (type byte 0xd9) needs 1 more bytes, 0 remain");
}

TEST_CASE("ext values and the never-used byte are refused") {
  CHECK(ScanError(Bytes({0xd4, 0x01, 0x00})) ==
        "an ext value (type byte 0xd4) at offset 0: ext types are not accepted");
  CHECK(ScanError(Bytes({0x91, 0xc7, 0x01, 0x05, 0x00})) ==
        "an ext value (type byte 0xc7) at offset 1: ext types are not accepted");
  for (int type : {0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8}) {
    CHECK(ScanError(Bytes({type}) + std::string(20, '\0')).find("ext types are not accepted") !=
          std::string::npos);
  }
  CHECK(ScanError(Bytes({0x92, 0x01, 0xc1})) == "invalid byte 0xc1 at offset 2");
}

TEST_CASE("nesting and sizes past the limits are refused") {
  DecodeLimits limits;
  limits.max_depth = 4;
  CHECK(ScanError(std::string(4, '\x91') + '\x00', limits) == "ok");
  CHECK(ScanError(std::string(3, '\x91') + '\x90', limits) == "ok");
  CHECK(ScanError(std::string(4, '\x91') + '\x90', limits) ==
        "nested more than 4 levels deep at offset 4");
  CHECK(ScanError(std::string(5, '\x91') + '\x00', limits) ==
        "nested more than 4 levels deep at offset 4");
  // However deep the input and whatever the limit, the scan keeps to its
  // fixed stack.
  limits.max_depth = SIZE_MAX;
  CHECK(ScanError(std::string(100000, '\x91') + '\x00', limits) ==
        "nested more than 64 levels deep at offset 64");

  limits = {};
  limits.max_array = 2;
  limits.max_map = 1;
  limits.max_str = 3;
  limits.max_bin = 4;
  CHECK(ScanError(Bytes({0x92, 0x01, 0x02}), limits) == "ok");
  CHECK(ScanError(Bytes({0x93, 0x01, 0x02, 0x03}), limits) ==
        "the array at offset 0 has 3 elements, more than the limit of 2");
  CHECK(ScanError(Bytes({0x82, 0x01, 0x02, 0x03, 0x04}), limits) ==
        "the map at offset 0 has 2 pairs, more than the limit of 1");
  CHECK(ScanError(Bytes({0xa4, 'a', 'b', 'c', 'd'}), limits) ==
        "the str at offset 0 has 4 bytes, more than the limit of 3");
  CHECK(ScanError(Bytes({0xc4, 0x05, 1, 2, 3, 4, 5}), limits) ==
        "the bin at offset 0 has 5 bytes, more than the limit of 4");
}

TEST_CASE("the scan accepts exactly what msgpack-c decodes whole, without ext") {
  DecodeLimits limits;
  limits.max_depth = 3;
  limits.max_array = 5;
  limits.max_map = 2;
  limits.max_str = 6;
  limits.max_bin = 6;
  size_t accepted = 0;
  for (int a = 0; a < 256; ++a) {
    const std::string one = Bytes({a});
    REQUIRE_MESSAGE(ScanMsgpack(one, limits).ok() == MsgpackAccepts(one, limits), a);
    for (int b = 0; b < 256; ++b) {
      const std::string two = Bytes({a, b});
      const bool scanned = ScanMsgpack(two, limits).ok();
      REQUIRE_MESSAGE(scanned == MsgpackAccepts(two, limits), a, " ", b);
      accepted += scanned;
    }
  }
  CHECK(accepted > 500);  // the comparison saw both answers
  // Random short inputs, biased towards container and length bytes.
  std::mt19937 rng(5);
  const int interesting[] = {0x91, 0x92, 0x81, 0xa2, 0xc4, 0xd9, 0xdc, 0xde, 0x00, 0x02, 0xcc};
  for (int round = 0; round < 200000; ++round) {
    std::string bytes;
    const size_t n = 3 + rng() % 8;
    for (size_t i = 0; i < n; ++i) {
      bytes.push_back(static_cast<char>(rng() % 2 ? interesting[rng() % std::size(interesting)]
                                                  : static_cast<int>(rng() % 256)));
    }
    REQUIRE_MESSAGE(ScanMsgpack(bytes, limits).ok() == MsgpackAccepts(bytes, limits), round);
  }
}

}  // namespace
}  // namespace drover
