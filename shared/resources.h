// Resources: what a worker has and a step asks for besides slots. `mem` is
// memory in bytes, `gpus` a number of devices, and any other name a plain
// counter (licences, scratch space). A step goes only to a worker with every
// amount it asks for free, and holds it while it runs (docs/jobs.md,
// "resources"); the broker only counts, it enforces nothing on the process.
//
// One home for their grammar, for reading amounts (job files, `worker
// --resource`, `submit alloc add --resource`) and for how they read to
// people.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shared/msgpack_adaptors.h"
#include "shared/status.h"

namespace drover {

struct ResourceAmount {
  std::string name;
  uint64_t amount = 0;
  bool operator==(const ResourceAmount&) const = default;
  auto operator<=>(const ResourceAmount&) const = default;
  MSGPACK_DEFINE(name, amount)
};
// Sorted by name, each name once, every amount above 0.
using ResourceList = std::vector<ResourceAmount>;

inline constexpr std::string_view kMemResource = "mem";
inline constexpr std::string_view kGpusResource = "gpus";
inline constexpr size_t kMaxResourceName = 32;
// Resources one step may ask for, or one worker declare.
inline constexpr size_t kMaxResources = 16;
// The largest amount: sizes up to 8 EiB, counts beyond any need.
inline constexpr uint64_t kMaxResourceAmount = uint64_t{1} << 63;

// A lowercase letter, then lowercase letters, digits and _; at most
// kMaxResourceName. (The name becomes part of an environment variable.)
bool IsResourceName(std::string_view name);
inline const char* kResourceNameRule =
    "a lowercase letter, then lowercase letters, digits or _ (at most 32)";

// An amount as people write it: a whole number ("2", "1000000"), or a size
// with a unit of K, M, G, T or P, powers of 1024 as in Slurm, optionally
// followed by "B" or "iB" ("4G", "1.5G", "512MiB", "64GB" are all powers of
// 1024). The error says what was expected.
Result<uint64_t> ParseAmount(std::string_view text);

// A resource as a worker declares it (`worker --resource`): an amount, or a
// list of device ids whose count is the amount.
struct WorkerResource {
  std::string name;
  uint64_t amount = 0;
  std::vector<std::string> devices;  // a device list: its ids (amount == their count)
  bool operator==(const WorkerResource&) const = default;
};

// One `--resource` value, as `worker --resource` and `submit alloc add
// --resource` take it: "NAME=AMOUNT" ("mem=64G", "licence=2"), or
// "NAME=ID,ID,..." / "NAME=[ID,...]" for devices ("gpus=0,1", "gpus=[3]").
// `gpus=N` means devices 0 to N-1. The error names what is wrong.
Result<WorkerResource> ParseResourceFlag(std::string_view text);

// How an amount reads: memory as a size ("4G", "1.5G", "512M", "100B"),
// anything else as a number.
std::string FormatAmount(std::string_view name, uint64_t amount);
// "mem 4G", "gpus 2"
std::string FormatResource(const ResourceAmount& r);
// "mem 4G, gpus 2"; "" for none.
std::string FormatResources(const ResourceList& list);

// The environment variable that hands a step what it was given of
// resource `name`: DROVER_RESOURCE_<NAME>.
std::string ResourceEnvName(std::string_view name);

// What is wrong with a list that came from elsewhere (a worker's hello): ""
// if it is a ResourceList (names, order, amounts, size).
std::string CheckResourceList(const ResourceList& list);

// The amount of `name` in `list`, 0 if it is not there.
uint64_t AmountOf(const ResourceList& list, std::string_view name);

}  // namespace drover
