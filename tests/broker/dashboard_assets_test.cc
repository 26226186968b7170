// The dashboard's files as the broker embeds them (broker/http/
// dashboard_assets.h): served by path with their types, byte for byte the
// files in broker/http/dashboard/, every file the page loads embedded and
// nothing it asks for from anywhere else.

#include "broker/http/dashboard_assets.h"

#include <doctest/doctest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "broker/http/dashboard_files.h"

namespace drover::broker::http {
namespace {

std::string SourceFile(const std::string& name) {
  std::ifstream in(std::string(DROVER_SOURCE_DIR) + "/broker/http/dashboard/" + name,
                   std::ios::binary);
  REQUIRE_MESSAGE(in.good(), name);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST_CASE("dashboard assets: / is the page, each file is at its name with its type") {
  const Asset* root = FindDashboardAsset("/");
  REQUIRE(root != nullptr);
  CHECK(root == FindDashboardAsset("/index.html"));
  CHECK(root->content_type == "text/html; charset=utf-8");
  CHECK(root->body.starts_with("<!doctype html>"));

  const Asset* js = FindDashboardAsset("/app.js");
  REQUIRE(js != nullptr);
  CHECK(js->content_type == "text/javascript; charset=utf-8");
  const Asset* css = FindDashboardAsset("/dashboard.css");
  REQUIRE(css != nullptr);
  CHECK(css->content_type == "text/css; charset=utf-8");

  for (const char* none :
       {"", "index.html", "/nope.js", "/api/overview", "/metrics", "/dashboard/index.html",
        "/../index.html", "/./app.js", "/app.js/", "//app.js", "/APP.JS"}) {
    CHECK_MESSAGE(FindDashboardAsset(none) == nullptr, none);
  }
}

TEST_CASE("dashboard assets: each is its source file byte for byte") {
  REQUIRE(kDashboardFileCount >= 3);
  for (size_t i = 0; i < kDashboardFileCount; ++i) {
    const std::string name(kDashboardFiles[i].name);
    CAPTURE(name);
    const Asset* asset = FindDashboardAsset("/" + name);
    REQUIRE(asset != nullptr);
    CHECK(asset->body == SourceFile(name));
  }
}

TEST_CASE(
    "dashboard assets: the page loads exactly the embedded files, and nothing from elsewhere") {
  // index.html loads its stylesheet and scripts by name (a list in its
  // first script, so that a token can go with them).
  const std::string page(FindDashboardAsset("/")->body);
  std::set<std::string> loaded;
  const std::regex name(R"('([a-z_]+\.(js|css))')");
  for (auto it = std::sregex_iterator(page.begin(), page.end(), name); it != std::sregex_iterator();
       ++it) {
    loaded.insert((*it)[1]);
  }
  CHECK(loaded.count("dashboard.css") == 1);
  CHECK(loaded.count("app.js") == 1);
  std::set<std::string> embedded;
  for (size_t i = 0; i < kDashboardFileCount; ++i)
    embedded.insert(std::string(kDashboardFiles[i].name));
  for (const std::string& file : loaded)
    CHECK_MESSAGE(embedded.count(file) == 1, file << " is not embedded");
  for (const std::string& file : embedded) {
    CHECK_MESSAGE((file == "index.html" || loaded.count(file) == 1),
                  file << " is embedded but never loaded");
  }

  // No address of another host: the only absolute URL is SVG's namespace,
  // a name, never fetched.
  const std::regex url(R"((https?:)?//[a-zA-Z0-9.-]+\.[a-zA-Z0-9]+[^\s'"`)]*)");
  for (size_t i = 0; i < kDashboardFileCount; ++i) {
    const std::string body(kDashboardFiles[i].body);
    for (auto it = std::sregex_iterator(body.begin(), body.end(), url);
         it != std::sregex_iterator(); ++it) {
      CHECK_MESSAGE(it->str() == "http://www.w3.org/2000/svg",
                    kDashboardFiles[i].name << ": " << it->str());
    }
  }
}

}  // namespace
}  // namespace drover::broker::http
