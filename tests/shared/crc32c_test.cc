// CRC-32C against published check values (RFC 3720, B.4) and against itself
// when computed in pieces.
#include "shared/crc32c.h"

#include <doctest/doctest.h>

#include <string>

namespace drover {
namespace {

TEST_CASE("crc32c matches the published check values") {
  CHECK(Crc32c("") == 0u);
  CHECK(Crc32c("123456789") == 0xE3069283u);
  CHECK(Crc32c(std::string(32, '\0')) == 0x8A9136AAu);
  CHECK(Crc32c(std::string(32, '\xff')) == 0x62A8AB43u);
  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) {
    ascending += static_cast<char>(i);
    descending += static_cast<char>(31 - i);
  }
  CHECK(Crc32c(ascending) == 0x46DD794Eu);
  CHECK(Crc32c(descending) == 0x113FDB5Cu);
}

TEST_CASE("crc32c extended piece by piece equals the whole") {
  std::string data;
  for (int i = 0; i < 1000; ++i) data += static_cast<char>(i * 7 + i / 13);
  const uint32_t whole = Crc32c(data);
  // Every split point, so both the eight-byte loop and the tail loop see
  // every alignment.
  for (size_t split = 0; split <= data.size(); ++split) {
    const uint32_t first = Crc32c(std::string_view(data).substr(0, split));
    REQUIRE(Crc32cExtend(first, data.data() + split, data.size() - split) == whole);
  }
}

TEST_CASE("crc32c: the CPU's instruction and the table agree") {
  // On a CPU without the instruction both calls take the table, and this
  // passes trivially; CI's x86-64 machines have it.
  std::string data;
  for (int i = 0; i < 300; ++i) data += static_cast<char>(i * 31 + i / 7);
  for (size_t start = 0; start < 9; ++start) {
    for (size_t size = 0; start + size <= data.size(); size += 13) {
      REQUIRE(Crc32cExtend(0x1234567u, data.data() + start, size) ==
              Crc32cExtendPortable(0x1234567u, data.data() + start, size));
    }
  }
}

}  // namespace
}  // namespace drover
