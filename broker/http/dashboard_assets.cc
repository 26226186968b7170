#include "broker/http/dashboard_assets.h"

#include <vector>

#include "broker/http/dashboard_files.h"

namespace drover::broker::http {
namespace {

// By the name's extension; the build embeds text files only
// (embed_files.cmake), so every type names its charset.
std::string_view ContentTypeOf(std::string_view name) {
  const size_t dot = name.rfind('.');
  const std::string_view ext = dot == std::string_view::npos ? "" : name.substr(dot + 1);
  if (ext == "html") return "text/html; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "js") return "text/javascript; charset=utf-8";
  if (ext == "svg") return "image/svg+xml; charset=utf-8";
  if (ext == "json") return "application/json; charset=utf-8";
  return "text/plain; charset=utf-8";
}

}  // namespace

const Asset* FindDashboardAsset(std::string_view path) {
  // One Asset per embedded file, in the same order; C++ makes the first
  // call build it once, whichever thread calls.
  static const std::vector<Asset> assets = [] {
    std::vector<Asset> all;
    for (size_t i = 0; i < kDashboardFileCount; ++i) {
      all.push_back({ContentTypeOf(kDashboardFiles[i].name), kDashboardFiles[i].body});
    }
    return all;
  }();
  if (path == "/") path = "/index.html";
  if (!path.starts_with('/')) return nullptr;
  // The names have no '/' in them, so "/js/x.js" or "/../x" match none.
  const std::string_view name = path.substr(1);
  for (size_t i = 0; i < kDashboardFileCount; ++i) {
    if (kDashboardFiles[i].name == name) return &assets[i];
  }
  return nullptr;
}

}  // namespace drover::broker::http
