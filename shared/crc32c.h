// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of the
// broker's journal records. On x86-64 CPUs with SSE 4.2 (all since 2008) it
// uses the CPU's crc32 instruction, eight bytes at a time; elsewhere a table
// (slicing-by-8, about 1-2 bytes per cycle). The broker checksums two small
// records per step, so the table's per-record cost showed in its profile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace drover {

// The CRC-32C of the bytes whose CRC-32C is `crc`, followed by `data`:
// Crc32cExtend(Crc32c(a), b) == Crc32c(a + b). Crc32cExtend(0, ...) starts.
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);

// The table-driven version, whatever the CPU: for tests, which compare the two.
uint32_t Crc32cExtendPortable(uint32_t crc, const void* data, size_t size);

inline uint32_t Crc32c(std::string_view data) { return Crc32cExtend(0, data.data(), data.size()); }

}  // namespace drover
