// Typed identifiers. Each id is a distinct type so a step index can never be
// passed where a worker id is expected; all are plain integers underneath.
//
//   JobId      a graph accepted by the broker; assigned by the broker, never reused.
//   StepIndex  a step's position in its graph's `steps` array (stable once accepted).
//   Attempt    1 for a step's first run; every re-dispatch gets the next number, so
//              anything that arrives for an older attempt can be recognised and dropped.
//   WorkerId   a worker (one run of the worker program) as the broker numbers it; it
//              keeps its number when it reconnects while the broker still knows it.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <string>

namespace drover {

template <typename Tag, typename Rep>
struct StrongId {
  using rep_type = Rep;
  Rep value{};

  constexpr StrongId() = default;
  constexpr explicit StrongId(Rep v) : value(v) {}
  auto operator<=>(const StrongId&) const = default;
};

using JobId = StrongId<struct JobIdTag, uint64_t>;
using StepIndex = StrongId<struct StepIndexTag, uint32_t>;
using Attempt = StrongId<struct AttemptTag, uint32_t>;
using WorkerId = StrongId<struct WorkerIdTag, uint32_t>;

// One run of one step: what a dispatch, its output and its result all carry.
struct TaskKey {
  JobId job;
  StepIndex step;
  Attempt attempt;
  auto operator<=>(const TaskKey&) const = default;
};

inline std::string ToString(const TaskKey& k) {
  return std::to_string(k.job.value) + "/" + std::to_string(k.step.value) + "#" +
         std::to_string(k.attempt.value);
}

}  // namespace drover

template <typename Tag, typename Rep>
struct std::hash<drover::StrongId<Tag, Rep>> {
  size_t operator()(const drover::StrongId<Tag, Rep>& id) const noexcept {
    return std::hash<Rep>()(id.value);
  }
};

template <>
struct std::hash<drover::TaskKey> {
  size_t operator()(const drover::TaskKey& k) const noexcept {
    uint64_t h = k.job.value * 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t{k.step.value} << 32 | k.attempt.value) + 0x632BE59BD9B4E019ull + (h << 6) + (h >> 2);
    return static_cast<size_t>(h);
  }
};
