// HttpServer (http_server.h).

#include "broker/http/http_server.h"

#include <httplib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <utility>

#include "broker/http/api_json.h"
#include "broker/http/bounded_pool.h"
#include "broker/http/dashboard_assets.h"
#include "broker/http/job_reader.h"
#include "broker/http/metrics_text.h"
#include "broker/http/process_figures.h"
#include "shared/clock.h"

namespace drover::broker::http {
namespace {

// A snapshot at most this old answers a request; a staler one is replaced
// first, the request waiting for it at most kSnapshotWaitMs (then the
// stale one answers: a busy loop shows as late numbers, not as errors).
constexpr int64_t kSnapshotAgeMs = 500;
constexpr int64_t kSnapshotWaitMs = 2000;
// A page polls once a second and a Prometheus every few: a few threads
// serve many viewers; more connections wait in the queue, then in the
// kernel's backlog.
constexpr size_t kThreads = 8;
constexpr size_t kQueuedConnections = 32;
// An idle keep-alive connection holds a thread: let it go soon. A client
// silent this long while sending a request is dropped.
constexpr time_t kKeepAliveSeconds = 2;
constexpr time_t kReadTimeoutSeconds = 5;
constexpr time_t kWriteTimeoutSeconds = 5;
constexpr auto kShutdownGrace = std::chrono::milliseconds(2000);
// The spool's size is a walk of its directory: taken at most this often.
constexpr int64_t kSpoolBytesEveryMs = 10'000;

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

struct HttpServer::Shared {
  SnapshotBoard* board;
  std::string token;
  std::string address_text;          // what the overview says it is served at
  std::atomic<bool> closing{false};  // the broker is stopping: answer nothing
  JobReader jobs;
  std::mutex spool_mu;
  int64_t spool_measured_ms = -1;
  uint64_t spool_bytes = 0;

  uint64_t SpoolBytes(const std::string& dir) {
    std::lock_guard<std::mutex> lock(spool_mu);
    const int64_t now = MonotonicMs();
    if (spool_measured_ms < 0 || now - spool_measured_ms >= kSpoolBytesEveryMs) {
      spool_bytes = ReadSpoolBytes(dir);
      spool_measured_ms = now;
    }
    return spool_bytes;
  }
};

HttpServer::HttpServer(SnapshotBoard* board, std::string token)
    : shared_(std::make_shared<Shared>()),
      server_(std::make_unique<httplib::Server>()),
      stuck_(std::make_shared<std::atomic<bool>>(false)) {
  shared_->board = board;
  shared_->token = std::move(token);
}

HttpServer::~HttpServer() {
  shared_->closing = true;
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();  // after the pool's shutdown: at most kShutdownGrace
  }
  // Threads left busy use the server (and through its handlers, shared_):
  // both stay for them until the process ends.
  if (stuck_->load()) (void)server_.release();
}

Status HttpServer::Start(const HttpAddress& address) {
  std::shared_ptr<Shared> shared = shared_;
  auto stuck = stuck_;
  server_->new_task_queue = [stuck] {
    return new BoundedPool(kThreads, kQueuedConnections, kShutdownGrace, stuck);
  };
  server_->set_keep_alive_timeout(kKeepAliveSeconds);
  server_->set_read_timeout(kReadTimeoutSeconds, 0);
  server_->set_write_timeout(kWriteTimeoutSeconds, 0);
  server_->set_payload_max_length(1 << 16);  // GETs have no body worth more

  server_->set_pre_routing_handler([shared](const httplib::Request& req, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Content-Type-Options", "nosniff");
    if (shared->closing) {
      SendError(res, 503, "the broker is stopping");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.method != "GET" && req.method != "HEAD") {
      res.set_header("Allow", "GET, HEAD");
      SendError(res, 405, "the dashboard is read-only: only GET");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (shared->token.empty()) {
      if (!IsLoopbackHostHeader(req.get_header_value("Host"))) {
        SendError(res, 403,
                  "this dashboard answers only to a loopback name (127.0.0.1, [::1], localhost), "
                  "not Host: " +
                      req.get_header_value("Host") + " (docs/dashboard.md)");
        return httplib::Server::HandlerResponse::Handled;
      }
    } else if (!CarriesToken(req.get_header_value("Authorization"), req.get_param_value("token"),
                             shared->token)) {
      res.set_header("WWW-Authenticate", "Bearer realm=\"drover\"");
      SendError(res, 401, "this broker's dashboard needs its token (docs/dashboard.md)");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  server_->Get("/api/overview", [shared](const httplib::Request& req, httplib::Response& res) {
    Result<ListJobs> query =
        ParseJobsQuery(req.get_param_value("state"), req.get_param_value("name"),
                       req.get_param_value("owner"), req.get_param_value("limit"));
    if (!query.ok()) return SendError(res, 400, query.status().message());
    const auto snapshot = shared->board->Fresh(kSnapshotAgeMs, kSnapshotWaitMs);
    if (!snapshot) return SendError(res, 503, "the broker has not answered yet");
    SendJson(res, 200, OverviewJson(*snapshot, query.value(), shared->address_text));
  });

  server_->Get(R"(/api/jobs/(\d{1,19}))", [shared](const httplib::Request& req,
                                                   httplib::Response& res) {
    const JobId id(std::stoull(req.matches[1].str()));
    const std::string name = "job " + std::to_string(id.value);
    const auto snapshot = shared->board->Fresh(kSnapshotAgeMs, kSnapshotWaitMs);
    if (!snapshot) return SendError(res, 503, "the broker has not answered yet");
    const auto& jobs = snapshot->jobs;  // by id
    const auto it = std::lower_bound(jobs.begin(), jobs.end(), id,
                                     [](const JobStatus& j, JobId want) { return j.id < want; });
    if (it == jobs.end() || it->id != id) {
      return SendError(res, 404, "no " + name + " (it may have been forgotten)");
    }
    if (!ShowsDetail(*it)) return SendJson(res, 200, JobSummaryOnlyJson(*it, snapshot->now_ms));
    Result<nlohmann::json> job = shared->jobs.Read(snapshot->spool_dir, *it, snapshot->now_ms);
    if (!job.ok() && job.status().error_number() == ENOENT) {
      // Accepted this moment (its file is written at the end of the
      // broker's turn), or forgotten since the snapshot.
      return SendError(res, 503, name + " is not ready to show yet");
    }
    if (!job.ok()) return SendError(res, 500, name + ": " + job.status().message());
    SendJson(res, 200, job.value());
  });

  server_->Get("/metrics", [shared](const httplib::Request&, httplib::Response& res) {
    const auto snapshot = shared->board->Fresh(kSnapshotAgeMs, kSnapshotWaitMs);
    if (!snapshot) return SendError(res, 503, "the broker has not answered yet");
    ProcessFigures figures = ReadProcessFigures();
    figures.spool_bytes = shared->SpoolBytes(snapshot->spool_dir);
    res.set_content(MetricsText(*snapshot, figures), "text/plain; version=0.0.4; charset=utf-8");
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
  shared_->address_text = address.host + ":" + std::to_string(port_);
  auto listening = std::make_shared<std::atomic<bool>>(true);
  thread_ = std::thread([this, listening] {
    server_->listen_after_bind();
    *listening = false;
  });
  // stop() does nothing until the server runs: wait for that, so that the
  // destructor cannot miss it.
  while (!server_->is_running() && *listening) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!*listening) return Status::Error("--http " + address.text + ": cannot serve there");
  return Status::Ok();
}

}  // namespace drover::broker::http
