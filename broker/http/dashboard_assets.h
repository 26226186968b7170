// The dashboard's files (broker/http/dashboard/: index.html, its scripts and
// its stylesheet), compiled into the broker so that `broker --http` serves
// the page with nothing installed beside it and no request anywhere else.
// docs/dashboard.md says what the page shows; the files say how.
//
// Thread-safe: the assets are constants (their index is built by the first
// call, once, whichever thread makes it).
#pragma once

#include <string_view>

namespace drover::broker::http {

struct Asset {
  std::string_view content_type;  // e.g. "text/javascript; charset=utf-8"
  std::string_view body;
};

// The dashboard's files, compiled into the broker: the one served at
// `path` ("/" is index.html), or nullptr. `path` is a request's path without
// its query ("/dashboard.js"); the files sit at the top level, so a path
// with any other directory in it names none of them.
const Asset* FindDashboardAsset(std::string_view path);

}  // namespace drover::broker::http
