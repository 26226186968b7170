// broker: accepts job graphs from `submit`, hands their steps to workers and
// advances each graph as results come back. See README.md and docs/.

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdlib>
#include <optional>
#include <string>

#include "broker/core/access.h"
#include "broker/http/http_access.h"
#include "broker/http/http_server.h"
#include "broker/http/snapshot.h"
#include "broker/key_dir.h"
#include "broker/server.h"
#include "shared/durations.h"
#include "shared/endpoint.h"
#include "shared/file_io.h"
#include "shared/help_format.h"
#include "shared/job_limit_flags.h"
#include "shared/logging.h"
#include "shared/os_limits.h"
#include "shared/signal_fd.h"

namespace {

// Where the broker keeps its state unless told: $DROVER_STATE_DIR, else
// /var/lib/drover for root, else $XDG_STATE_HOME/drover (~/.local/state/drover).
std::string DefaultStateDir() {
  if (const char* dir = std::getenv("DROVER_STATE_DIR"); dir && *dir) return dir;
  if (geteuid() == 0) return "/var/lib/drover";
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg) return std::string(xdg) + "/drover";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.local/state/drover";
}

drover::Status MakeDirs(const std::string& path) {
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string prefix = path.substr(0, slash);
    if (mkdir(prefix.c_str(), 0750) != 0 && errno != EEXIST) {
      return drover::ErrnoStatus("cannot create " + prefix, errno);
    }
    if (slash == std::string::npos) return drover::Status::Ok();
  }
}

// `name` in the directory of this program: where Debian's package, a
// `make install` and a build tree all put the worker beside the broker.
std::string SiblingProgram(const std::string& name) {
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (n <= 0) return name;
  std::string self(path, static_cast<size_t>(n));
  const size_t slash = self.rfind('/');
  return slash == std::string::npos ? name : self.substr(0, slash + 1) + name;
}

// What workers elsewhere connect to when the broker listens on `bind`: the
// same, with this host's name in place of a wildcard address.
std::string Advertised(const std::string& bind) {
  for (const char* wildcard : {"tcp://*:", "tcp://0.0.0.0:", "tcp://[::]:"}) {
    if (bind.rfind(wildcard, 0) != 0) continue;
    char host[256] = {};
    if (gethostname(host, sizeof(host) - 1) != 0) return bind;
    return "tcp://" + std::string(host) + ":" + bind.substr(std::string(wildcard).size());
  }
  return bind;
}

// Whether the host of "tcp://HOST:PORT" is a name this machine resolves to
// a loopback address, as Debian's /etc/hosts does for the host's own name
// (127.0.1.1): workers elsewhere would resolve it to something else. Looked
// up once, at start, before the loop could wait on it.
bool ResolvesToLoopback(const std::string& endpoint) {
  if (endpoint.rfind("tcp://", 0) != 0) return false;
  const std::string rest = endpoint.substr(6);
  const size_t colon = rest.rfind(':');
  std::string host = rest.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints = {};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) return false;
  bool loopback = false;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
      loopback |= (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    } else if (a->ai_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a->ai_addr);
      loopback |= IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
  }
  freeaddrinfo(found);
  return loopback;
}

}  // namespace

int main(int argc, char** argv) {
  drover::EnsureStandardFds();  // first, so nothing we open lands on 0, 1 or 2
  drover::RaiseOpenFileLimit();
  // Before anything can start a thread: signals are read from a signalfd.
  auto signals = drover::SignalFd::Create({SIGINT, SIGTERM, SIGHUP});
  if (!signals.ok()) {
    fprintf(stderr, "broker: %s\n", signals.status().message().c_str());
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);

  drover::broker::ServerOptions options;
  std::string state_dir = DefaultStateDir();
  std::string log_level = "info";
  bool die_with_parent = false;
  drover::JobLimitFlags limit_flags(options.job_limits);
  uint64_t max_message_mb = 0;

  // Named, so that help says `broker`, not the path it was started by.
  CLI::App app{"Drover broker: queues job graphs and hands their steps to workers.", "broker"};
  app.formatter(drover::WrappingFormatter());  // within 80 columns
  app.add_option("--bind", options.bind, "ZeroMQ endpoint that workers and submit connect to")
      ->capture_default_str();
  app.add_option("--state-dir", state_dir,
                 "Directory for the broker's journal (its state) and spool (job output)")
      ->capture_default_str();
  app.add_option("--heartbeat-ms", options.heartbeat_ms, "Heartbeat interval in milliseconds")
      ->capture_default_str()
      ->check(CLI::Range(10u, 60'000u));
  app.add_option("--liveness", options.liveness,
                 "Heartbeats a peer may miss before it counts as out of touch")
      ->capture_default_str()
      ->check(CLI::Range(2u, 100u));
  double lease_s = static_cast<double>(options.lease_ms) / 1000;
  app.add_option("--lease", lease_s,
                 "Seconds a worker out of touch keeps its steps before they run elsewhere "
                 "(jobs may set their own `lease`)")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 86400.0));
  uint64_t snapshot_mb = options.snapshot_bytes >> 20;
  app.add_option("--snapshot-mb", snapshot_mb,
                 "Journal size in MiB at which the broker writes a snapshot and starts afresh "
                 "(or four times the state it would hold, if that is more)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1u << 20));
  std::string forget_after = "7d";
  app.add_option("--forget-after", forget_after,
                 "Forget a job this long after it ended (succeeded, failed or cancelled): its "
                 "summary, records and output go, its id is not reused; e.g. 12h, 30d; 0 keeps "
                 "jobs forever")
      ->capture_default_str();
  uint64_t min_free_mb = options.min_free_bytes >> 20;
  app.add_option("--min-free-mb", min_free_mb,
                 "MiB the state disk keeps free for the jobs accepted: with less, submissions "
                 "are refused and output is cut until there is room (docs/reliability.md); "
                 "0: no check")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 30));
  limit_flags.Add(&app);
  app.add_option("--max-message-mb", max_message_mb,
                 "Largest message (MiB) taken from a peer; a peer sending more is disconnected "
                 "(default: --max-job-mb + 1, the least that lets every job file within the "
                 "limits in)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{4096}));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  std::string key_dir;
  bool insecure = false;
  app.add_option("--key-dir", key_dir,
                 "Turn keys (CURVE) on: the broker's key pair and the allow-lists workers.allow "
                 "and submitters.allow live here; made on first start (docs/security.md)");
  app.add_flag("--insecure", insecure,
               "Listen on an address other machines can reach without keys: anyone who can "
               "reach it can run any command on every worker");
  std::string http_address;
  std::string http_token_file;
  app.add_option("--http", http_address,
                 "Serve the dashboard, its JSON API and Prometheus /metrics at HOST:PORT, e.g. "
                 "127.0.0.1:7780 (docs/dashboard.md); beyond loopback only with --key-dir and "
                 "--http-token-file");
  app.add_option("--http-token-file", http_token_file,
                 "A file whose first line is the token every HTTP request must carry "
                 "(Authorization: Bearer TOKEN, or ?token=TOKEN)");
  app.add_option("--advertise", options.advertise,
                 "The address workers started by allocation queues connect to (default: --bind, "
                 "with this host's name for a wildcard such as tcp://*:7700)");
  options.alloc_worker = SiblingProgram("worker");
  app.add_option("--alloc-worker", options.alloc_worker,
                 "The worker program that allocation queues start on the nodes")
      ->capture_default_str();
  app.add_option("--alloc-tick-ms", options.alloc_tick_ms)->group("");  // tests
  app.add_option("--alloc-poll-ms", options.alloc_poll_ms)->group("");  // tests
  app.add_option("--alloc-backoff-ms", options.alloc_backoff_ms)->group("");  // tests
  app.add_flag("--die-with-parent", die_with_parent, "Stop when the parent process exits")
      ->group("");  // used by `submit` for its embedded broker
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  // Before the keys are looked at: an address without its tcp:// would
  // otherwise count as one the network can reach, and be refused for that.
  // (No --advertise: it is made from --bind, below.)
  drover::Status address =
      drover::CheckEndpoint("--bind", options.bind, drover::EndpointUse::kBind);
  if (address.ok() && !options.advertise.empty()) {
    address =
        drover::CheckEndpoint("--advertise", options.advertise, drover::EndpointUse::kConnect);
  }
  if (!address.ok()) {
    fprintf(stderr, "broker: %s\n", address.message().c_str());
    return 2;
  }
  options.job_limits = limit_flags.Apply();
  const int64_t least_message = static_cast<int64_t>(options.job_limits.max_job_bytes) +
                                drover::broker::kMessageEnvelopeBytes;
  if (max_message_mb == 0) {
    options.max_message_bytes = least_message;
  } else if (static_cast<int64_t>(max_message_mb << 20) < least_message) {
    fprintf(stderr,
            "broker: --max-message-mb %llu is too small for --max-job-mb %llu: a job file within "
            "the limits could not be sent (give at least %llu)\n",
            static_cast<unsigned long long>(max_message_mb),
            static_cast<unsigned long long>(options.job_limits.max_job_bytes >> 20),
            static_cast<unsigned long long>((least_message + (1 << 20) - 1) >> 20));
    return 2;
  } else {
    options.max_message_bytes = static_cast<int64_t>(max_message_mb << 20);
  }
  if (std::optional<int64_t> ms = drover::ParseDurationMs(forget_after)) {
    options.forget_after_ms = *ms;
  } else {
    fprintf(stderr,
            "broker: --forget-after: expected a duration such as 7d, 12h or 90m (0 keeps jobs "
            "forever), got \"%s\"\n",
            forget_after.c_str());
    return 2;
  }
  options.lease_ms = static_cast<int64_t>(lease_s * 1000);
  options.snapshot_bytes = snapshot_mb << 20;
  options.min_free_bytes = min_free_mb << 20;
  options.state_dir = state_dir;
  if (options.advertise.empty()) options.advertise = Advertised(options.bind);
  options.advertise_is_loopback = ResolvesToLoopback(options.advertise);
  options.alloc_dir = state_dir + "/alloc";

  if (drover::Status s = drover::SetUpLogging("broker", log_level); !s.ok()) {
    fprintf(stderr, "broker: %s\n", s.message().c_str());
    return 2;
  }
  // A worker cut off notices after a heartbeat or so and must have its steps
  // stopped (grace included) before the lease ends; with less room than this
  // it stops them at the first late heartbeat.
  if (const int64_t room = int64_t{options.heartbeat_ms} * (options.liveness + 2);
      options.lease_ms < room) {
    spdlog::warn("--lease {:.1f} s is short for heartbeats of {} ms: a worker out of touch for a "
                 "moment will stop its steps; {:.0f} s or more is safer",
                 lease_s, options.heartbeat_ms, static_cast<double>(room) / 1000 + 5);
  }
  if (die_with_parent) {
    if (drover::Status s = drover::SignalOnParentDeath(SIGTERM); !s.ok()) return 1;
  }
  std::optional<drover::broker::KeyDir> keys;
  if (!key_dir.empty()) {
    std::vector<std::string> created;
    auto opened = drover::broker::KeyDir::Open(key_dir, &created);
    if (!opened.ok()) {
      spdlog::critical("keys: {}", opened.status().message());
      return 1;
    }
    for (const std::string& path : created) spdlog::info("created {}", path);
    keys = std::move(opened).value();
    if (insecure) spdlog::warn("--insecure does nothing with --key-dir: keys are on");
  } else if (!drover::broker::IsLocalOnlyEndpoint(options.bind) && !insecure) {
    spdlog::critical(
        "refusing to listen on {} without keys: anyone who can reach it could run "
        "any command on every worker. Give --key-dir DIR (docs/security.md), bind "
        "a loopback address, or pass --insecure to take that risk",
        options.bind);
    return 2;
  } else if (insecure) {
    spdlog::warn(
        "INSECURE: listening on {} without keys (--insecure): anyone who can reach it "
        "can submit jobs and run any command on every worker",
        options.bind);
  }
  std::optional<drover::broker::http::HttpAddress> http;
  std::string http_token;
  if (!http_address.empty()) {
    auto parsed = drover::broker::http::ParseHttpAddress(http_address);
    if (!parsed.ok()) {
      spdlog::critical("{}", parsed.status().message());
      return 2;
    }
    http = parsed.value();
    if (!http_token_file.empty()) {
      auto text = drover::ReadWholeFile(http_token_file, 4096);
      auto token = text.ok() ? drover::broker::http::ParseTokenFile(text.value(), http_token_file)
                             : drover::Result<std::string>(text.status());
      if (!token.ok()) {
        spdlog::critical("--http-token-file: {}", token.status().message());
        return 2;
      }
      http_token = token.value();
    }
    const std::string refusal =
        drover::broker::http::HttpRefusal(*http, keys.has_value(), !http_token.empty());
    if (!refusal.empty()) {
      spdlog::critical("{}", refusal);
      return 2;
    }
  } else if (!http_token_file.empty()) {
    spdlog::critical("--http-token-file is for the dashboard: give --http too");
    return 2;
  }
  if (drover::Status s = MakeDirs(state_dir + "/spool"); !s.ok()) {
    spdlog::critical("{} (set --state-dir)", s.message());
    return 1;
  }
  auto spool = drover::broker::Spool::Create(state_dir + "/spool");
  if (!spool.ok()) {
    spdlog::critical("{}", spool.status().message());
    return 1;
  }

  // Before the server, so that its sockets close before the context ends.
  zmq::context_t ctx(1);
  drover::broker::Server server(options, std::move(spool).value());
  if (keys) {
    if (drover::Status s = server.UseKeys(std::move(*keys)); !s.ok()) {
      spdlog::critical("keys: {}", s.message());
      return 1;
    }
  }
  // Before listening: every job the broker accepted comes back first.
  if (drover::Status s = server.Recover(state_dir + "/journal"); !s.ok()) {
    spdlog::critical("cannot recover the broker's state: {}", s.message());
    return 1;
  }
  if (drover::Status s = server.Bind(&ctx); !s.ok()) {
    spdlog::critical("{}", s.message());
    return 1;
  }
  spdlog::info("listening on {}; state in {}", options.bind, state_dir);
  // Before the loop runs, after recovery: the dashboard's first snapshot
  // shows every job. Destroyed (stopped) before the board and the server.
  drover::broker::http::SnapshotBoard board;
  std::optional<drover::broker::http::HttpServer> dashboard;
  if (http) {
    server.ServeSnapshots(&board);
    dashboard.emplace(&board, http_token);
    if (drover::Status s = dashboard->Start(*http); !s.ok()) {
      spdlog::critical("{}", s.message());
      return 2;
    }
    spdlog::info("dashboard at http://{}:{}/{}", http->host.find(':') == std::string::npos
                                                      ? http->host
                                                      : "[" + http->host + "]",
                 dashboard->port(), http_token.empty() ? "" : " (with its token)");
  }
  if (drover::Status s = server.Run(&signals.value()); !s.ok()) {
    spdlog::critical("{}", s.message());
    return 1;
  }
  return 0;
}
