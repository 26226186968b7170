// WorkerPool: the broker's view of its connected workers, for the scheduler:
// who they are, how many slots each has free, which labels they carry, and
// which attempts each is running. Plain data; no sockets, no clock.
//
// Placement picks, among the workers that fit a step (enough free slots, all
// its labels), the one with the most free slots (lowest id on ties), which
// spreads a graph's parallel steps across machines.
//
// Invariants (CheckInvariants):
//   1. For each worker, free + sum(slots of its running attempts) == slots.
//   2. by_free_ holds exactly one entry per worker, keyed by its free slots.
//   3. free_total_ is the sum of free over all workers.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "shared/ids.h"

namespace drover::broker {

using Time = int64_t;     // milliseconds on the shell's monotonic clock
using LabelId = uint32_t;
using LabelSet = std::vector<LabelId>;  // sorted, unique

struct WorkerInfo {
  std::string name;
  std::string host;
  uint32_t slots = 1;
  std::vector<std::string> labels;
};

struct Worker {
  WorkerId id;
  WorkerInfo info;
  LabelSet labels;
  uint32_t free = 0;
  Time last_heard = 0;
  std::map<TaskKey, uint32_t> running;  // attempt -> slots it holds
};

class WorkerPool {
 public:
  // Interns a label; the same string always gives the same id.
  LabelId Intern(std::string_view label);
  LabelSet InternAll(const std::vector<std::string>& labels);

  WorkerId Add(WorkerInfo info, Time now);
  // REQUIRES: the worker runs nothing (the scheduler settles its attempts first).
  void Remove(WorkerId id);

  Worker* Find(WorkerId id);
  const Worker* Find(WorkerId id) const;
  const std::unordered_map<WorkerId, Worker>& all() const { return workers_; }

  // The best worker for a step needing `slots` and `labels`, or nullptr.
  Worker* Pick(uint32_t slots, const LabelSet& labels);

  // REQUIRES: `worker` has at least `slots` free.
  void Assign(Worker* worker, const TaskKey& key, uint32_t slots);
  // Returns false (and changes nothing) if `worker` is not running `key`.
  bool Release(Worker* worker, const TaskKey& key);

  uint32_t free_total() const { return free_total_; }

  void CheckInvariants() const;

 private:
  struct ByFree {
    bool operator()(const std::pair<uint32_t, WorkerId>& a,
                    const std::pair<uint32_t, WorkerId>& b) const {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    }
  };
  void SetFree(Worker* worker, uint32_t free);

  std::unordered_map<WorkerId, Worker> workers_;
  std::set<std::pair<uint32_t, WorkerId>, ByFree> by_free_;
  std::unordered_map<std::string, LabelId> label_ids_;
  uint32_t next_worker_ = 1;
  uint32_t free_total_ = 0;
};

}  // namespace drover::broker
