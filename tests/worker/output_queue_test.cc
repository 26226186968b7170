// The output queue keeps order across memory and its spill file, and gives
// the spill file back when it is read to its end.

#include "worker/output_queue.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace drover::worker {
namespace {

std::string SpillPath() {
  return std::filesystem::temp_directory_path().string() + "/drover-spill-test-" +
         std::to_string(getpid());
}

TEST_CASE("output keeps its order through memory and the spill file") {
  const std::string path = SpillPath();
  {
    OutputQueue q(path, /*memory_bytes=*/100, /*max_bytes=*/1'000'000);
    CHECK(q.empty());
    for (int i = 0; i < 50; ++i) {
      REQUIRE(q.Push("message-" + std::to_string(i), 10).ok());
    }
    CHECK(q.bytes() == 500);
    CHECK(std::filesystem::exists(path));  // past 100 bytes it spilled
    // Interleave pushes with pops: later pushes still come out last.
    std::string m;
    uint64_t n = 0;
    for (int i = 0; i < 20; ++i) {
      REQUIRE(q.Pop(&m, &n).ok());
      CHECK(m == "message-" + std::to_string(i));
      CHECK(n == 10);
    }
    for (int i = 50; i < 60; ++i) REQUIRE(q.Push("message-" + std::to_string(i), 10).ok());
    for (int i = 20; i < 60; ++i) {
      REQUIRE(q.Pop(&m, &n).ok());
      CHECK(m == "message-" + std::to_string(i));
    }
    CHECK(q.empty());
    CHECK(q.bytes() == 0);
    CHECK(std::filesystem::file_size(path) == 0);  // read to its end: given back
    REQUIRE(q.Push("again", 1).ok());
    REQUIRE(q.Pop(&m, &n).ok());
    CHECK(m == "again");
  }
  CHECK_FALSE(std::filesystem::exists(path));  // removed with the queue
}

TEST_CASE("the queue is full at its limit") {
  OutputQueue q(SpillPath(), 1 << 20, /*max_bytes=*/100);
  REQUIRE(q.Push(std::string(10, 'x'), 60).ok());
  CHECK_FALSE(q.full());
  REQUIRE(q.Push(std::string(10, 'y'), 60).ok());
  CHECK(q.full());
}

}  // namespace
}  // namespace drover::worker
