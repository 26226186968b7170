#include "worker/resources.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace drover::worker {
namespace {

// The value of "NAME: N kB" in /proc/meminfo, in bytes; 0 if not there.
uint64_t MemInfoBytes(const std::string& path, std::string_view field) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(field) || line.size() <= field.size() || line[field.size()] != ':') {
      continue;
    }
    std::istringstream fields(line.substr(field.size() + 1));
    uint64_t kb = 0;
    fields >> kb;
    return kb * 1024;
  }
  return 0;
}

// cgroup v2's memory.max for this process's cgroup; 0 for none ("max") or
// unknown.
uint64_t CgroupMemoryMax() {
  std::ifstream cgroup("/proc/self/cgroup");
  for (std::string line; std::getline(cgroup, line);) {
    if (!line.starts_with("0::")) continue;  // the unified (v2) hierarchy
    std::ifstream max("/sys/fs/cgroup" + line.substr(3) + "/memory.max");
    std::string value;
    if (!(max >> value) || value == "max") return 0;
    try {
      return std::stoull(value);
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

}  // namespace

uint64_t DetectMemoryBytes() {
  const uint64_t total = MemInfoBytes("/proc/meminfo", "MemTotal");
  const uint64_t limit = CgroupMemoryMax();
  if (limit > 0 && (total == 0 || limit < total)) return limit;
  return total;
}

Result<std::vector<WorkerResource>> DeclaredResources(const std::vector<std::string>& flags) {
  std::vector<WorkerResource> out;
  for (const std::string& flag : flags) {
    Result<WorkerResource> r = ParseResourceFlag(flag);
    if (!r.ok()) return r.status();
    if (std::any_of(out.begin(), out.end(), [&](const auto& o) { return o.name == r->name; })) {
      return Status::Error("--resource " + r->name + " is given twice");
    }
    out.push_back(std::move(r).value());
  }
  if (std::none_of(out.begin(), out.end(), [](const auto& r) { return r.name == kMemResource; })) {
    out.push_back(WorkerResource{std::string(kMemResource), DetectMemoryBytes(), {}});
  }
  std::erase_if(out, [](const WorkerResource& r) { return r.amount == 0; });
  if (out.size() > kMaxResources) {
    return Status::Error("more than " + std::to_string(kMaxResources) +
                         " resources, mem (found on its own unless given) among them");
  }
  std::sort(out.begin(), out.end(),
            [](const WorkerResource& a, const WorkerResource& b) { return a.name < b.name; });
  return out;
}

ResourceList Amounts(const std::vector<WorkerResource>& resources) {
  ResourceList list;
  for (const WorkerResource& r : resources) list.push_back(ResourceAmount{r.name, r.amount});
  return list;
}

void ResourceEnv(const std::vector<WorkerResource>& declared, const ResourceList& asked,
                 const Grant& grant, std::vector<std::string>* env) {
  auto devices_of = [&](const std::string& name) -> const std::vector<std::string>* {
    for (const auto& [n, ids] : grant.devices) {
      if (n == name) return &ids;
    }
    return nullptr;
  };
  auto join = [](const std::vector<std::string>& ids) {
    std::string out;
    for (const std::string& id : ids) out += (out.empty() ? "" : ",") + id;
    return out;
  };
  for (const ResourceAmount& r : asked) {
    const std::vector<std::string>* ids = devices_of(r.name);
    env->push_back(ResourceEnvName(r.name) + "=" + (ids ? join(*ids) : std::to_string(r.amount)));
  }
  const bool has_gpus = std::any_of(declared.begin(), declared.end(),
                                    [](const WorkerResource& r) { return r.name == kGpusResource; });
  if (!has_gpus) return;
  const std::vector<std::string>* gpus = devices_of(std::string(kGpusResource));
  const std::string ids = gpus ? join(*gpus) : "";
  env->push_back("CUDA_VISIBLE_DEVICES=" + ids);
  env->push_back("DROVER_GPUS=" + ids);
}

}  // namespace drover::worker
