#include "worker/core/resource_book.h"

#include <algorithm>
#include <stdexcept>

namespace drover::worker {

ResourceBook::ResourceBook(std::vector<WorkerResource> resources)
    : declared_(std::move(resources)), accounts_(declared_.size()) {
  std::sort(declared_.begin(), declared_.end(),
            [](const WorkerResource& a, const WorkerResource& b) { return a.name < b.name; });
  for (size_t i = 0; i < declared_.size(); ++i) {
    accounts_[i].device_used.assign(declared_[i].devices.size(), false);
  }
}

const WorkerResource* ResourceBook::Find(const std::string& name, size_t* index) const {
  auto it = std::lower_bound(declared_.begin(), declared_.end(), name,
                             [](const WorkerResource& r, const std::string& n) { return r.name < n; });
  if (it == declared_.end() || it->name != name) return nullptr;
  *index = static_cast<size_t>(it - declared_.begin());
  return &*it;
}

bool ResourceBook::Free(const ResourceList& request) const {
  for (const ResourceAmount& want : request) {
    size_t i = 0;
    const WorkerResource* r = Find(want.name, &i);
    if (r == nullptr || r->amount - accounts_[i].used < want.amount) return false;
  }
  return true;
}

std::string ResourceBook::NeverFits(const ResourceList& request) const {
  for (const ResourceAmount& want : request) {
    size_t i = 0;
    const WorkerResource* r = Find(want.name, &i);
    if (r == nullptr) return "this worker has no " + want.name;
    if (r->amount < want.amount) {
      return "this worker has " + FormatResource(ResourceAmount{r->name, r->amount});
    }
  }
  return "";
}

Grant ResourceBook::Take(const ResourceList& request) {
  Grant grant;
  for (const ResourceAmount& want : request) {
    size_t i = 0;
    const WorkerResource* r = Find(want.name, &i);
    Account& a = accounts_[i];
    a.used += want.amount;
    if (r->devices.empty()) continue;
    std::vector<std::string>& ids = grant.devices.emplace_back(r->name, std::vector<std::string>{}).second;
    for (size_t d = 0; d < r->devices.size() && ids.size() < want.amount; ++d) {
      if (a.device_used[d]) continue;
      a.device_used[d] = true;
      ids.push_back(r->devices[d]);
    }
  }
  return grant;
}

void ResourceBook::Give(const ResourceList& request, const Grant& grant) {
  for (const ResourceAmount& want : request) {
    size_t i = 0;
    if (Find(want.name, &i) == nullptr) continue;
    accounts_[i].used -= std::min(accounts_[i].used, want.amount);
  }
  for (const auto& [name, ids] : grant.devices) {
    size_t i = 0;
    const WorkerResource* r = Find(name, &i);
    if (r == nullptr) continue;
    for (const std::string& id : ids) {
      auto it = std::find(r->devices.begin(), r->devices.end(), id);
      if (it != r->devices.end()) accounts_[i].device_used[static_cast<size_t>(it - r->devices.begin())] = false;
    }
  }
}

uint64_t ResourceBook::Used(const std::string& name) const {
  size_t i = 0;
  return Find(name, &i) == nullptr ? 0 : accounts_[i].used;
}

void ResourceBook::CheckInvariants() const {
  for (size_t i = 0; i < declared_.size(); ++i) {
    const Account& a = accounts_[i];
    if (a.used > declared_[i].amount) throw std::logic_error("resources: more used than declared");
    if (!declared_[i].devices.empty()) {
      const auto in_use = static_cast<uint64_t>(std::count(a.device_used.begin(), a.device_used.end(), true));
      if (in_use != a.used) throw std::logic_error("resources: devices in use");
    }
  }
}

}  // namespace drover::worker
