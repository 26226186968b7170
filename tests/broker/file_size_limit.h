// A test's stand-in for a full disk: while a FileSizeLimit lives, files of
// this process cannot grow past `bytes` (RLIMIT_FSIZE): write() stops
// short, then fails with EFBIG, as it would on a full disk. SIGXFSZ, which
// would kill the process, is ignored meanwhile. Both are restored after.
#pragma once

#include <signal.h>
#include <sys/resource.h>

#include <doctest/doctest.h>

namespace drover::testing {

class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    REQUIRE(getrlimit(RLIMIT_FSIZE, &old_) == 0);
    old_handler_ = signal(SIGXFSZ, SIG_IGN);
    rlimit limit = old_;
    limit.rlim_cur = bytes;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &limit) == 0);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &old_);
    signal(SIGXFSZ, old_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit old_;
  sighandler_t old_handler_;
};

}  // namespace drover::testing
