// worker: runs the steps a Drover broker hands it, as local child processes,
// and streams their output and exit status back. See README.md and docs/.

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <optional>
#include <regex>
#include <thread>

#include "shared/logging.h"
#include "shared/os_limits.h"
#include "shared/signal_fd.h"
#include "worker/agent.h"

namespace {

// Short steps are where a round trip to the broker costs most; the broker
// only uses this room while a worker's steps are short (under 250 ms).
constexpr uint32_t kDefaultMinPrefetch = 8;

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "localhost";
  return name;
}

}  // namespace

int main(int argc, char** argv) {
  drover::EnsureStandardFds();  // first, so nothing we open lands on 0, 1 or 2
  drover::RaiseOpenFileLimit();
  // Before anything can start a thread: signals are read from a signalfd.
  auto signals = drover::SignalFd::Create({SIGCHLD, SIGINT, SIGTERM, SIGHUP});
  if (!signals.ok()) {
    fprintf(stderr, "worker: %s\n", signals.status().message().c_str());
    return 1;
  }
  // Writing to a child that closed its stdin must be EPIPE, not death.
  signal(SIGPIPE, SIG_IGN);

  drover::worker::AgentOptions options;
  if (const char* env = std::getenv("DROVER_BROKER"); env && *env) options.broker = env;
  options.host = HostName();
  options.slots = std::max(1u, std::thread::hardware_concurrency());
  double kill_grace_s = 5;
  std::string log_level = "info";
  bool die_with_parent = false;

  CLI::App app{"Drover worker: runs the steps a broker hands it."};
  app.add_option("--broker", options.broker,
                 "Broker endpoint (default: $DROVER_BROKER, else tcp://127.0.0.1:7700)")
      ->capture_default_str();
  app.add_option("--slots", options.slots, "Steps (slots) to run at once; default: the cores")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1u << 20));
  app.add_option("--label", options.labels,
                 "A label that steps can `require`; repeat for more")
      ->check([](const std::string& label) -> std::string {
        static const std::regex kLabel("[A-Za-z0-9_.:=+-]+");
        return std::regex_match(label, kLabel)
                   ? ""
                   : "label \"" + label + "\" may use only letters, digits and _ . : = + -";
      });
  app.add_option("--name", options.name, "Name shown to users (default: the host name)");
  std::optional<uint32_t> prefetch;
  app.add_option("--prefetch", prefetch,
                 "Slot units of short steps to queue beyond --slots, so a slot never waits "
                 "for the broker (default: --slots, at least 8; 0 turns it off)")
      ->check(CLI::Range(0u, 1u << 20));
  app.add_option("--kill-grace", kill_grace_s,
                 "Seconds between SIGTERM and SIGKILL when a step is stopped")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  app.add_flag("--die-with-parent", die_with_parent, "Stop when the parent process exits")
      ->group("");  // used by `submit` for its embedded worker
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (options.name.empty()) options.name = options.host;
  options.prefetch = prefetch.value_or(std::max(options.slots, kDefaultMinPrefetch));
  options.kill_grace_ms = static_cast<int64_t>(kill_grace_s * 1000);

  if (drover::Status s = drover::SetUpLogging("worker", log_level); !s.ok()) {
    fprintf(stderr, "worker: %s\n", s.message().c_str());
    return 2;
  }
  if (die_with_parent) {
    if (drover::Status s = drover::SignalOnParentDeath(SIGTERM); !s.ok()) return 1;
  }
  zmq::context_t ctx(1);
  drover::worker::Agent agent(options, &ctx, &signals.value());
  return agent.Run();
}
