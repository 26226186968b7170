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
#pragma once

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

class JobReader;

class HttpServer {
 public:
  // `token`: every request must carry it (http_access.h); "" for none.
  HttpServer(SnapshotBoard* board, std::string token);
  ~HttpServer();  // stops serving
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Listens at `address` and serves from then on; the error names the
  // address. The port it listens on is port() (address.port may be 0).
  Status Start(const HttpAddress& address);
  int port() const { return port_; }

 private:
  void Route();

  SnapshotBoard* board_;
  std::string token_;
  std::string address_text_;  // what the overview says it is served at
  std::unique_ptr<httplib::Server> server_;
  std::unique_ptr<JobReader> jobs_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace drover::broker::http
