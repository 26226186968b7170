// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of the
// broker's journal records. Software only (slicing-by-8, about 1-2 bytes per
// cycle): records are small and disks are slower than this.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace drover {

// The CRC-32C of the bytes whose CRC-32C is `crc`, followed by `data`:
// Crc32cExtend(Crc32c(a), b) == Crc32c(a + b). Crc32cExtend(0, ...) starts.
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);

inline uint32_t Crc32c(std::string_view data) { return Crc32cExtend(0, data.data(), data.size()); }

}  // namespace drover
