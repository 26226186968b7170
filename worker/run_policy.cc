#include "worker/run_policy.h"

#include <algorithm>
#include <array>

namespace drover::worker {
namespace {

// Besides LD_*: see IsLoaderEnvName.
constexpr std::array<std::string_view, 6> kLoaderNames = {
    "GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "LOCPATH", "MALLOC_TRACE", "NLSPATH"};

}  // namespace

bool IsUnderPrefix(std::string_view path, std::string_view prefix) {
  // "/" is the one canonical path that ends in a slash.
  while (prefix.size() > 1 && prefix.back() == '/') prefix.remove_suffix(1);
  if (prefix == "/") return path.starts_with('/');
  if (!path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

bool IsLoaderEnvName(std::string_view name) {
  return name.starts_with("LD_") ||
         std::find(kLoaderNames.begin(), kLoaderNames.end(), name) != kLoaderNames.end();
}

std::optional<std::string> RefuseProgram(const RunPolicy& policy, std::string_view program,
                                         std::string_view as_written) {
  if (policy.allow.empty()) return std::nullopt;
  std::string list;
  for (const std::string& prefix : policy.allow) {
    if (IsUnderPrefix(program, prefix)) return std::nullopt;
    list += (list.empty() ? "" : ", ") + prefix;
    if (prefix.back() != '/') list += '/';
  }
  std::string shown(program);
  if (!as_written.empty() && as_written != program) {
    shown = "\"" + std::string(as_written) + "\" (" + shown + ")";
  }
  return shown + " is not under an allowed prefix (" + list + ")";
}

std::optional<std::string> RefuseEnv(const RunPolicy& policy,
                                     const std::vector<std::pair<std::string, std::string>>& env) {
  if (policy.allow_loader_env) return std::nullopt;
  for (const auto& [name, value] : env) {
    if (IsLoaderEnvName(name)) {
      return "its env sets " + name +
             ", which changes the code programs load (the worker allows that only with "
             "--allow-loader-env)";
    }
  }
  return std::nullopt;
}

}  // namespace drover::worker
