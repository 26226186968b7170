// Whole reads and writes on file descriptors: each call loops over short
// transfers and EINTR, and names the file in its error ("write PATH: ...").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "shared/status.h"

namespace drover {

// Writes all of `data` at the file's offset. If `done` is given, it is set to
// how much reached the file, error or not (a caller may keep the rest).
Status WriteAll(int fd, std::string_view data, const std::string& path, size_t* done = nullptr);

// Writes all of `data` at `offset`.
Status PwriteAll(int fd, std::string_view data, uint64_t offset, const std::string& path);

// Reads exactly `size` bytes at `offset`; the end of the file first is an error.
Status PreadAll(int fd, char* data, size_t size, uint64_t offset, const std::string& path);

// The whole file at `path`; an error names it, and a file of more than
// `max_bytes` is one ("PATH: over N bytes").
Result<std::string> ReadWholeFile(const std::string& path, size_t max_bytes = SIZE_MAX);

}  // namespace drover
