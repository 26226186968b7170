// HttpServer (http_server.h).

#include "broker/http/http_server.h"

#include <httplib.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "broker/http/api_json.h"
#include "broker/http/dashboard_assets.h"
#include "broker/http/job_reader.h"
#include "broker/http/metrics_text.h"
#include "broker/http/process_figures.h"

namespace drover::broker::http {
namespace {

// A snapshot at most this old answers a request; a staler one is replaced
// first, the request waiting for it at most kSnapshotWaitMs (then the
// stale one answers: a busy loop shows as late numbers, not as errors).
constexpr int64_t kSnapshotAgeMs = 500;
constexpr int64_t kSnapshotWaitMs = 2000;

// Worker output may be anything: bytes that are not UTF-8 become U+FFFD.
std::string Dump(const nlohmann::json& json) {
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void SendJson(httplib::Response& res, int status, const nlohmann::json& json) {
  res.status = status;
  res.set_content(Dump(json), "application/json");
}

void SendError(httplib::Response& res, int status, const std::string& message) {
  SendJson(res, status, {{"error", message}});
}

}  // namespace

HttpServer::HttpServer(SnapshotBoard* board, std::string token)
    : board_(board),
      token_(std::move(token)),
      server_(std::make_unique<httplib::Server>()),
      jobs_(std::make_unique<JobReader>()) {}

HttpServer::~HttpServer() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

Status HttpServer::Start(const HttpAddress& address) {
  Route();
  // Idle keep-alive connections hold a thread each: let them go soon.
  server_->set_keep_alive_timeout(2);
  server_->set_read_timeout(5, 0);
  server_->set_write_timeout(5, 0);
  if (address.port == 0) {
    port_ = server_->bind_to_any_port(address.host);
  } else if (server_->bind_to_port(address.host, address.port)) {
    port_ = address.port;
  } else {
    port_ = -1;
  }
  if (port_ < 0) {
    return Status::Error("--http " + address.text +
                         ": cannot listen there (is the port in use, or the address not this "
                         "machine's?)");
  }
  address_text_ = address.host + ":" + std::to_string(port_);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return Status::Ok();
}

void HttpServer::Route() {
  server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Content-Type-Options", "nosniff");
    if (req.method != "GET" && req.method != "HEAD") {
      res.set_header("Allow", "GET, HEAD");
      SendError(res, 405, "the dashboard is read-only: only GET");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!token_.empty() &&
        !CarriesToken(req.get_header_value("Authorization"), req.get_param_value("token"),
                      token_)) {
      res.set_header("WWW-Authenticate", "Bearer realm=\"drover\"");
      SendError(res, 401, "this broker's dashboard needs its token (docs/dashboard.md)");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  server_->Get("/api/overview", [this](const httplib::Request& req, httplib::Response& res) {
    Result<ListJobs> query =
        ParseJobsQuery(req.get_param_value("state"), req.get_param_value("name"),
                       req.get_param_value("owner"), req.get_param_value("limit"));
    if (!query.ok()) return SendError(res, 400, query.status().message());
    const auto snapshot = board_->Fresh(kSnapshotAgeMs, kSnapshotWaitMs);
    if (!snapshot) return SendError(res, 503, "the broker has not answered yet");
    SendJson(res, 200, OverviewJson(*snapshot, query.value(), address_text_));
  });

  server_->Get(R"(/api/jobs/(\d{1,19}))", [this](const httplib::Request& req,
                                                httplib::Response& res) {
    const JobId id(std::stoull(req.matches[1].str()));
    const auto snapshot = board_->Fresh(kSnapshotAgeMs, kSnapshotWaitMs);
    if (!snapshot) return SendError(res, 503, "the broker has not answered yet");
    const auto& jobs = snapshot->jobs;  // by id
    const auto it = std::lower_bound(jobs.begin(), jobs.end(), id,
                                     [](const JobStatus& j, JobId want) { return j.id < want; });
    if (it == jobs.end() || it->id != id) {
      return SendError(res, 404,
                       "no job " + std::to_string(id.value) + " (it may have been forgotten)");
    }
    Result<nlohmann::json> job = jobs_->Read(snapshot->spool_dir, *it, snapshot->now_ms);
    if (!job.ok()) {
      return SendError(res, 500, "job " + std::to_string(id.value) + ": " + job.status().message());
    }
    SendJson(res, 200, job.value());
  });

  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    const auto snapshot = board_->Fresh(kSnapshotAgeMs, kSnapshotWaitMs);
    if (!snapshot) return SendError(res, 503, "the broker has not answered yet");
    res.set_content(MetricsText(*snapshot, ReadProcessFigures(snapshot->spool_dir)),
                    "text/plain; version=0.0.4; charset=utf-8");
  });

  // The dashboard page: "/" and its files, compiled in (dashboard_assets.h).
  // Only top-level names reach it: /api/... and /metrics are the routes above.
  server_->Get(R"(/[A-Za-z0-9_.-]*)", [](const httplib::Request& req, httplib::Response& res) {
    const Asset* asset = FindDashboardAsset(req.path);
    if (asset == nullptr) {
      return SendError(res, 404, "no page " + req.path + " here: the dashboard is at /");
    }
    res.set_content(asset->body.data(), asset->body.size(), std::string(asset->content_type));
  });
}

}  // namespace drover::broker::http
