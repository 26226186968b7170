// ReadProcessFigures (process_figures.h).

#include "broker/http/process_figures.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

namespace drover::broker::http {
namespace {

uint64_t ResidentBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long size = 0, resident = 0;
  const int got = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  if (got != 2) return 0;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// Calls `each(dir, entry)` for each entry of `path` but . and ..; returns
// how many there were.
template <typename Each>
uint64_t ForEachEntry(const std::string& path, Each&& each) {
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return 0;
  uint64_t n = 0;
  while (const dirent* e = readdir(dir)) {
    const std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    ++n;
    each(dir, e);
  }
  closedir(dir);
  return n;
}

}  // namespace

ProcessFigures ReadProcessFigures() {
  ProcessFigures figures;
  figures.rss_bytes = ResidentBytes();
  // The directory's own descriptor, open while it is read, is left out.
  const uint64_t fds = ForEachEntry("/proc/self/fd", [](DIR*, const dirent*) {});
  figures.open_fds = fds > 0 ? fds - 1 : 0;
  return figures;
}

uint64_t ReadSpoolBytes(const std::string& spool_dir) {
  uint64_t bytes = 0;
  ForEachEntry(spool_dir, [&](DIR* dir, const dirent* e) {
    struct stat st;
    if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
      bytes += static_cast<uint64_t>(st.st_blocks) * 512;
    }
  });
  return bytes;
}

}  // namespace drover::broker::http
