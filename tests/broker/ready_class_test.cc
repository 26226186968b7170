// ReadyClass: the run order of ready steps (priority, then the order they
// became ready), checked against a sort of the same entries, through its
// FIFO form, the switch to a heap and back.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "broker/core/job.h"

namespace drover::broker {
namespace {

// Pops everything; REQUIRE-checks the order form on the way.
std::vector<uint32_t> Drain(ReadyClass& c) {
  std::vector<uint32_t> steps;
  while (!c.empty()) {
    REQUIRE(c.Ordered());
    steps.push_back(c.Pop().step.value);
  }
  return steps;
}

std::vector<uint32_t> Expected(std::vector<ReadyEntry> entries) {
  std::sort(entries.begin(), entries.end(), ReadyClass::Before);
  std::vector<uint32_t> steps;
  for (const ReadyEntry& e : entries) steps.push_back(e.step.value);
  return steps;
}

}  // namespace

TEST_CASE("a ready class with one priority runs its steps in the order they became ready") {
  ReadyClass c(1, {}, {});
  uint64_t seq = 0;
  std::vector<uint32_t> expected;
  // Interleaved pushes and pops, long enough to make the FIFO compact.
  for (uint32_t i = 0; i < 20000; ++i) {
    c.Push(ReadyEntry{.seq = seq++, .priority = 0, .step = StepIndex(i)});
    expected.push_back(i);
    if (i % 3 == 2) {
      CHECK(c.Pop().step.value == expected.front());
      expected.erase(expected.begin());
    }
  }
  CHECK(c.size() == expected.size());
  CHECK(Drain(c) == expected);
}

TEST_CASE("a ready class runs higher priority first, switching from FIFO to heap and back") {
  ReadyClass c(1, {}, {});
  uint64_t seq = 0;
  std::vector<ReadyEntry> pushed;
  auto push = [&](int32_t priority, uint32_t step) {
    pushed.push_back(ReadyEntry{.seq = seq++, .priority = priority, .step = StepIndex(step)});
    c.Push(pushed.back());
  };
  // Falling priorities keep the order; a rise breaks it.
  push(5, 0);
  push(5, 1);
  push(1, 2);
  CHECK(c.top().step.value == 0);
  push(9, 3);
  CHECK(c.top().step.value == 3);
  push(5, 4);
  CHECK(Drain(c) == Expected(pushed));
  // Empty again: a FIFO again, in push order.
  pushed.clear();
  for (uint32_t i = 10; i < 15; ++i) push(0, i);
  CHECK(Drain(c) == std::vector<uint32_t>{10, 11, 12, 13, 14});
}

TEST_CASE("a ready class pops random priorities in sorted order") {
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    ReadyClass c(1, {}, {});
    uint64_t seq = 0;
    std::vector<ReadyEntry> live;
    std::vector<uint32_t> popped, expected;
    std::uniform_int_distribution<int> priority(-2, 2), action(0, 3);
    for (uint32_t i = 0; i < 500; ++i) {
      if (action(rng) == 0 && !live.empty()) {
        // What should run next among what is queued.
        auto first = std::min_element(live.begin(), live.end(), ReadyClass::Before);
        expected.push_back(first->step.value);
        live.erase(first);
        REQUIRE(c.Ordered());
        popped.push_back(c.Pop().step.value);
      } else {
        live.push_back(
            ReadyEntry{.seq = seq++, .priority = round % 5 == 0 ? 0 : priority(rng), .step = StepIndex(i)});
        c.Push(live.back());
      }
    }
    CHECK(popped == expected);
    CHECK(Drain(c) == Expected(live));
  }
}

}  // namespace drover::broker
