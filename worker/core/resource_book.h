// ResourceBook: the worker's own account of its resources (worker/resources.h
// says how they are declared): what each running task holds, which devices
// are free, and whether a task's request fits now. Part of the worker's pure
// core (local_scheduler.h).
//
// The broker counts the same amounts and never sends more than fit, counting
// queued tasks too, so a task at the head of the local queue normally finds
// its resources free. The worker checks anyway: its view is the one that
// holds while the broker's may be stale (a reconnection, a restart).
//
// Not thread-safe.
//
// Invariants (CheckInvariants):
//   1. For each resource, 0 <= used <= amount.
//   2. A device list's used == the number of its devices in use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shared/resources.h"
#include "worker/core/process_runner.h"

namespace drover::worker {

class ResourceBook {
 public:
  explicit ResourceBook(std::vector<WorkerResource> resources);

  // Whether every amount of `request` is free now.
  bool Free(const ResourceList& request) const;
  // Why `request` could never fit this worker, however long it waits: ""
  // if it could. "this worker has no gpus", "this worker has mem 4G".
  std::string NeverFits(const ResourceList& request) const;
  // Takes `request` (REQUIRES: Free(request)): the devices it gets, the
  // lowest free ids of each device list.
  Grant Take(const ResourceList& request);
  // Gives back what Take() gave.
  void Give(const ResourceList& request, const Grant& grant);

  // How much of `name` is taken.
  uint64_t Used(const std::string& name) const;
  const std::vector<WorkerResource>& declared() const { return declared_; }
  void CheckInvariants() const;

 private:
  struct Account {
    uint64_t used = 0;
    std::vector<bool> device_used;  // by index into the resource's devices
  };
  const WorkerResource* Find(const std::string& name, size_t* index) const;

  std::vector<WorkerResource> declared_;  // sorted by name
  std::vector<Account> accounts_;          // one per declared_
};

}  // namespace drover::worker
