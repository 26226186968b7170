#include "shared/resources.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

namespace drover {
namespace {

bool IsDeviceChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == ':' || c == '-';
}

}  // namespace

bool IsResourceName(std::string_view name) {
  if (name.empty() || name.size() > kMaxResourceName || !(name[0] >= 'a' && name[0] <= 'z')) {
    return false;
  }
  for (const char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

Result<uint64_t> ParseAmount(std::string_view text) {
  const std::string quoted = "\"" + std::string(text) + "\"";
  auto bad = [&]() {
    return Status::Error("expected a whole number, or a size such as \"4G\" or \"512M\", got " +
                         quoted);
  };
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    ++i;
  }
  const std::string_view number = text.substr(0, i);
  std::string_view unit = text.substr(i);
  if (number.empty() || number.front() == '.' || number.back() == '.' ||
      number.find('.') != number.rfind('.')) {
    return bad();
  }
  int shift = 0;
  if (!unit.empty()) {
    switch (std::toupper(static_cast<unsigned char>(unit[0]))) {
      case 'K': shift = 10; break;
      case 'M': shift = 20; break;
      case 'G': shift = 30; break;
      case 'T': shift = 40; break;
      case 'P': shift = 50; break;
      default: return bad();
    }
    unit.remove_prefix(1);
    if (unit == "iB" || unit == "ib" || unit == "B" || unit == "b") unit = {};
    if (!unit.empty()) return bad();
  }
  const bool fraction = number.find('.') != std::string_view::npos;
  if (fraction && shift == 0) {
    return Status::Error("a count must be a whole number, got " + quoted);
  }
  // Parsed as a decimal with at most 18 significant digits (more are not a
  // real amount): whole part and fraction apart, so "1.5G" is exact.
  if (number.size() > 19) return Status::Error(quoted + " is too large");
  const size_t dot = number.find('.');
  const std::string_view whole = number.substr(0, dot);
  const std::string_view frac = dot == std::string_view::npos ? "" : number.substr(dot + 1);
  unsigned long long w = 0;
  for (const char c : whole) w = w * 10 + static_cast<unsigned>(c - '0');
  if (shift > 0 && w > (kMaxResourceAmount >> shift)) return Status::Error(quoted + " is too large");
  uint64_t value = static_cast<uint64_t>(w) << shift;
  if (!frac.empty()) {
    // The fraction of one unit, rounded up to a whole byte.
    unsigned long long f = 0, scale = 1;
    for (const char c : frac) {
      f = f * 10 + static_cast<unsigned>(c - '0');
      scale *= 10;
    }
    const long double part = std::ceil(static_cast<long double>(f) *
                                       static_cast<long double>(uint64_t{1} << shift) /
                                       static_cast<long double>(scale));
    value += static_cast<uint64_t>(part);
  }
  if (value > kMaxResourceAmount) return Status::Error(quoted + " is too large");
  return value;
}

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

std::string FormatAmount(std::string_view name, uint64_t amount) {
  if (name != kMemResource || amount == 0) return std::to_string(amount);
  static const char kUnits[] = "KMGTP";
  for (int u = 4; u >= 0; --u) {
    const int shift = 10 * (u + 1);
    const uint64_t unit = uint64_t{1} << shift;
    if (amount < unit) continue;
    char buf[32];
    if (amount % unit == 0) {
      snprintf(buf, sizeof buf, "%llu%c", static_cast<unsigned long long>(amount >> shift),
               kUnits[u]);
    } else {
      // One decimal, rounded down: "largest is 3.9G" must not read as 4G.
      const long double v = std::floor(static_cast<long double>(amount) * 10 / unit) / 10;
      snprintf(buf, sizeof buf, "%.1Lf%c", v, kUnits[u]);
    }
    return buf;
  }
  return std::to_string(amount) + "B";
}

std::string FormatResource(const ResourceAmount& r) {
  return r.name + " " + FormatAmount(r.name, r.amount);
}

std::string FormatResources(const ResourceList& list) {
  std::string out;
  for (const ResourceAmount& r : list) out += (out.empty() ? "" : ", ") + FormatResource(r);
  return out;
}

std::string ResourceEnvName(std::string_view name) {
  std::string env = "DROVER_RESOURCE_";
  for (const char c : name) env += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return env;
}

std::string CheckResourceList(const ResourceList& list) {
  if (list.size() > kMaxResources) {
    return std::to_string(list.size()) + " of them, more than " + std::to_string(kMaxResources);
  }
  for (size_t i = 0; i < list.size(); ++i) {
    const ResourceAmount& r = list[i];
    if (!IsResourceName(r.name)) return "\"" + r.name.substr(0, 40) + "\" is not a resource name";
    if (r.amount == 0 || r.amount > kMaxResourceAmount) {
      return r.name + ": amount " + std::to_string(r.amount) + " out of range";
    }
    if (i > 0 && !(list[i - 1].name < r.name)) return "not sorted by name, or a name twice";
  }
  return "";
}

uint64_t AmountOf(const ResourceList& list, std::string_view name) {
  for (const ResourceAmount& r : list) {
    if (r.name == name) return r.amount;
  }
  return 0;
}

}  // namespace drover
