// HttpServer: the broker's dashboard, its JSON API and /metrics over HTTP
// (`broker --http`, docs/dashboard.md), served by cpp-httplib on threads of
// its own. They read only what the loop publishes (SnapshotBoard) and the
// spool's files (JobReader), so a dashboard left open, or a Prometheus
// scraping, never holds up scheduling. Every route is a GET: nothing here
// changes anything.
//
// cpp-httplib (Debian's libcpp-httplib-dev): a small, well-kept server with
// a thread pool, built as a shared library there, so the broker compiles
// one header of it, and it needs no event loop of its own to fit into the
// broker's ZeroMQ one.
//
// Bounds: a fixed pool of threads and a bounded queue of connections
// (bounded_pool.h), so connections cannot use up the broker's descriptors;
// requests and the answers' sizes are small (api_json.h). Without a token,
// only requests naming a loopback host are answered (a web page elsewhere
// cannot reach the API through a name that resolves to 127.0.0.1).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "broker/http/http_access.h"
#include "broker/http/snapshot.h"
#include "shared/status.h"

namespace httplib {
class Server;
}

namespace drover::broker::http {

class HttpServer {
 public:
  // `token`: every request must carry it (http_access.h); "" for none.
  // `board` must outlive the server.
  HttpServer(SnapshotBoard* board, std::string token);
  // Stops serving. Requests still under way after a grace period (a client
  // that trickles bytes) are left to end with the process, and what they
  // use is kept for them (bounded_pool.h).
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Listens at `address` and serves from then on; the error names the
  // address. The port it listens on is port() (address.port may be 0).
  Status Start(const HttpAddress& address);
  int port() const { return port_; }

 private:
  struct Shared;  // what the handlers use: it lives as long as they may run

  std::shared_ptr<Shared> shared_;
  std::unique_ptr<httplib::Server> server_;
  std::shared_ptr<std::atomic<bool>> stuck_;  // threads were left busy at shutdown
  int port_ = 0;
  std::thread thread_;
};

}  // namespace drover::broker::http
