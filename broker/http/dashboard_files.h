// The raw files behind FindDashboardAsset, as the build embeds them: the
// array is generated at build time from broker/http/dashboard/ by
// embed_files.cmake (build/broker/http/dashboard_files.cc). Only
// dashboard_assets.cc and its test read it.
#pragma once

#include <cstddef>
#include <string_view>

namespace drover::broker::http {

struct EmbeddedFile {
  std::string_view name;  // its name in broker/http/dashboard/, e.g. "app.js"
  std::string_view body;  // its bytes, exactly
};

extern const EmbeddedFile kDashboardFiles[];
extern const size_t kDashboardFileCount;

}  // namespace drover::broker::http
