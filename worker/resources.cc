#include "worker/resources.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace drover::worker {
namespace {

bool IsDeviceChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == ':' || c == '-';
}

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

Result<WorkerResource> ParseResourceFlag(std::string_view text) {
  const std::string quoted = "\"" + std::string(text) + "\"";
  const size_t eq = text.find('=');
  if (eq == std::string_view::npos) {
    return Status::Error(quoted + ": expected NAME=AMOUNT (e.g. mem=64G, gpus=0,1, licence=2)");
  }
  WorkerResource r;
  r.name = std::string(text.substr(0, eq));
  if (!IsResourceName(r.name)) {
    return Status::Error(quoted + ": \"" + r.name + "\" is not a resource name (" +
                         kResourceNameRule + ")");
  }
  std::string_view value = text.substr(eq + 1);
  const bool bracketed = value.starts_with('[') && value.ends_with(']') && value.size() >= 2;
  if (bracketed) value = value.substr(1, value.size() - 2);
  if (bracketed || value.find(',') != std::string_view::npos) {
    // A list of device ids.
    for (size_t start = 0; start <= value.size();) {
      size_t end = value.find(',', start);
      if (end == std::string_view::npos) end = value.size();
      const std::string_view id = value.substr(start, end - start);
      if (id.empty() || !std::all_of(id.begin(), id.end(), IsDeviceChar)) {
        return Status::Error(quoted + ": \"" + std::string(id) +
                             "\" is not a device id (letters, digits and _ . : -)");
      }
      if (std::find(r.devices.begin(), r.devices.end(), id) != r.devices.end()) {
        return Status::Error(quoted + ": device \"" + std::string(id) + "\" is listed twice");
      }
      r.devices.emplace_back(id);
      start = end + 1;
    }
    if (r.devices.size() > 1024) return Status::Error(quoted + ": more than 1024 devices");
    r.amount = r.devices.size();
    return r;
  }
  Result<uint64_t> amount = ParseAmount(value);
  if (!amount.ok()) return Status::Error(quoted + ": " + amount.status().message());
  r.amount = amount.value();
  if (r.name == kGpusResource) {
    if (r.amount > 1024) return Status::Error(quoted + ": more than 1024 gpus");
    for (uint64_t i = 0; i < r.amount; ++i) r.devices.push_back(std::to_string(i));
  }
  return r;
}

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
