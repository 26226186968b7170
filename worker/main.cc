// worker: runs the steps a Drover broker hands it, as local child processes,
// and streams their output and exit status back. See README.md and docs/.

#include <signal.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>
#include <tuple>

#include "shared/durations.h"
#include "shared/endpoint.h"
#include "shared/help_format.h"
#include "shared/labels.h"
#include "shared/logging.h"
#include "shared/os_limits.h"
#include "shared/signal_fd.h"
#include "worker/agent.h"
#include "worker/resources.h"
#include "worker/slurm_job.h"
#include "worker/worker_state.h"

namespace {

// Short steps are where a round trip to the broker costs most. The room is
// generous because the broker decides how much of it to use: only while a
// worker's steps are short, and only about 50 ms of them per slot
// (broker/core/worker_pool.h); the deeper the queue, the larger the batches in
// which results and dispatches travel.
constexpr uint32_t kDefaultPrefetchPerSlot = 4;
constexpr uint32_t kDefaultMinPrefetch = 64;

// Root keeps state where system daemons do; anyone else in their home.
std::string DefaultStateDir() {
  if (const char* env = std::getenv("DROVER_WORKER_STATE_DIR"); env && *env) return env;
  if (geteuid() == 0) return "/var/lib/drover-worker";
  if (const char* state = std::getenv("XDG_STATE_HOME"); state && *state) {
    return std::string(state) + "/drover-worker";
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    return std::string(home) + "/.local/state/drover-worker";
  }
  return "/tmp/drover-worker-" + std::to_string(geteuid());
}

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
  options.state_dir = DefaultStateDir();
  uint64_t spill_max_mb = options.spill_max_bytes >> 20;

  // Named, so that help says `worker`, not the path it was started by.
  CLI::App app{"Drover worker: runs the steps a broker hands it.", "worker"};
  app.formatter(drover::WrappingFormatter());  // within 80 columns
  CLI::Option* broker_flag =
      app.add_option("--broker", options.broker,
                     "Broker endpoint (default: $DROVER_BROKER, else tcp://127.0.0.1:7700)")
          ->capture_default_str();
  app.add_option("--slots", options.slots, "Steps (slots) to run at once; default: the cores")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1u << 20));
  app.add_option("--label", options.labels,
                 "A label that steps can `require`; repeat for more")
      ->check([](const std::string& label) -> std::string {
        return drover::IsLabel(label)
                   ? ""
                   : "label \"" + label + "\" may use only " + drover::kLabelRule;
      });
  std::vector<std::string> resource_flags;
  app.add_option("--resource", resource_flags,
                 "What this machine has besides slots, for steps that ask for it: NAME=AMOUNT, "
                 "e.g. mem=64G (memory: found on its own unless given), gpus=2 or gpus=0,1 "
                 "(devices: each step gets its ids in CUDA_VISIBLE_DEVICES), licence=2 (any "
                 "other name counts); repeat for more")
      ->type_name("NAME=AMOUNT");
  app.add_option("--name", options.name,
                 "Name shown to users (default: the host name); one connected worker each");
  std::optional<uint32_t> prefetch;
  app.add_option("--prefetch", prefetch,
                 "Slot units of short steps to queue beyond --slots, so a slot never waits "
                 "for the broker (default: 4 times --slots, at least 64; the broker uses only "
                 "about 50 ms of steps per slot; 0 turns it off)")
      ->check(CLI::Range(0u, 1u << 20));
  app.add_option("--kill-grace", kill_grace_s,
                 "Seconds between SIGTERM and SIGKILL when a step is stopped")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--state-dir", options.state_dir,
                 "Where the worker keeps its instance id and output it could not send yet "
                 "(default: $DROVER_WORKER_STATE_DIR, else /var/lib/drover-worker as root, "
                 "else ~/.local/state/drover-worker)");
  app.add_option("--spill-max-mb", spill_max_mb,
                 "Most output (MiB) to keep on local disk while out of touch with the broker; "
                 "past it the steps' output pauses")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 30));
  std::vector<std::string> allow;
  app.add_option("--allow", allow,
                 "Run only programs under this directory (or this file), after resolving "
                 "PATH, symlinks and \"..\"; repeat for more. `cmd` steps run /bin/sh, so they "
                 "need --allow /bin/sh (which lets them run anything). Default: any program");
  app.add_flag("--allow-loader-env", options.policy.allow_loader_env,
               "Let steps set LD_PRELOAD, LD_LIBRARY_PATH and the other variables that make "
               "programs load other code (refused by default)");
  uint64_t max_message_mb = options.max_message_bytes >> 20;
  app.add_option("--max-message-mb", max_message_mb,
                 "Largest message (MiB) taken from the broker; must hold a step's stdin "
                 "(broker --max-stdin-mb) and command line")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 20));
  std::string key_file, broker_key_file;
  if (const char* env = std::getenv("DROVER_KEY"); env && *env) key_file = env;
  if (const char* env = std::getenv("DROVER_BROKER_KEY"); env && *env) broker_key_file = env;
  app.add_option("--key", key_file,
                 "This worker's secret key file (from `submit keygen`; default: $DROVER_KEY); "
                 "with --broker-key, talks to a broker that uses keys (docs/security.md)");
  app.add_option("--broker-key", broker_key_file,
                 "The broker's public key file, its broker.pub (default: $DROVER_BROKER_KEY)");
  std::string time_limit, idle_timeout;
  app.add_option("--time-limit", time_limit,
                 "How long this worker may run, e.g. 3600, 90m, 12h or 1-00:00:00; before the end "
                 "it stops its steps (they run again elsewhere) and leaves, and steps with a "
                 "time_request go to it only while they fit. Default: none; inside a Slurm job, "
                 "the time the job has left");
  app.add_option("--idle-timeout", idle_timeout,
                 "Leave after having nothing to do for this long, e.g. 5m (default: never)");
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
  if (drover::Status s =
          drover::CheckEndpoint(broker_flag->count() > 0 ? "--broker" : "DROVER_BROKER",
                                options.broker, drover::EndpointUse::kConnect);
      !s.ok()) {
    fprintf(stderr, "worker: %s\n", s.message().c_str());
    return 2;
  }
  if (options.name.empty()) options.name = options.host;
  options.prefetch =
      prefetch.value_or(std::max(kDefaultPrefetchPerSlot * options.slots, kDefaultMinPrefetch));
  options.kill_grace_ms = static_cast<int64_t>(kill_grace_s * 1000);
  options.spill_max_bytes = spill_max_mb << 20;
  options.max_message_bytes = max_message_mb << 20;
  for (auto [flag, text, out] : {std::tuple{"--time-limit", &time_limit, &options.time_limit_ms},
                                 std::tuple{"--idle-timeout", &idle_timeout,
                                            &options.idle_timeout_ms}}) {
    if (text->empty()) continue;
    std::optional<int64_t> ms = drover::ParseDurationMs(*text);
    if (!ms || *ms <= 0) {
      fprintf(stderr,
              "worker: %s: expected a duration such as 3600, 90m, 12h or 1-00:00:00, got \"%s\"\n",
              flag, text->c_str());
      return 2;
    }
    *out = *ms;
  }

  if (drover::Status s = drover::SetUpLogging("worker", log_level); !s.ok()) {
    fprintf(stderr, "worker: %s\n", s.message().c_str());
    return 2;
  }
  auto resources = drover::worker::DeclaredResources(resource_flags);
  if (!resources.ok()) {
    spdlog::critical("--resource {}", resources.status().message());
    return 2;
  }
  options.resources = std::move(resources).value();
  const std::string slurm_job = drover::worker::SlurmJobId();
  // An array task's or a heterogeneous job's id has more than digits; only
  // the broker's own allocations matter here, and those are plain ids.
  options.slurm_job_id = std::strtoull(slurm_job.c_str(), nullptr, 10);
  if (const std::string& job = slurm_job; !job.empty() && time_limit.empty()) {
    std::string why;
    if (auto left = drover::worker::SlurmTimeLeftMs(job, &why)) {
      options.time_limit_ms = *left;
      spdlog::info("in Slurm job {}, which has {} left: that is this worker's time limit", job,
                   drover::ShortDuration(*left));
    } else {
      spdlog::warn("in Slurm job {}, but its time left is unknown ({}): no time limit", job, why);
    }
  }
  if (options.time_limit_ms > 0 &&
      options.time_limit_ms <= options.kill_grace_ms + drover::worker::Agent::kLeaveMarginMs) {
    spdlog::warn("a time limit of {} leaves no time for steps: the worker stops them {} before it",
                 drover::ShortDuration(options.time_limit_ms),
                 drover::ShortDuration(options.kill_grace_ms + drover::worker::Agent::kLeaveMarginMs));
  }
  // Resolved once, as the programs will be: an allow-list that names a
  // symlinked directory (/bin on merged-/usr systems) still matches.
  for (const std::string& prefix : allow) {
    char* real = realpath(prefix.c_str(), nullptr);
    if (real == nullptr) {
      spdlog::critical("--allow {}: {}", prefix, std::strerror(errno));
      return 2;
    }
    options.policy.allow.emplace_back(real);
    free(real);
  }
  if (!options.policy.allow.empty()) {
    std::string list;
    for (const std::string& p : options.policy.allow) list += (list.empty() ? "" : ", ") + p;
    spdlog::info("runs only programs under {}", list);
  }
  if (options.policy.allow_loader_env) {
    spdlog::warn("--allow-loader-env: steps may set LD_PRELOAD and the like");
  }
  if (die_with_parent) {
    if (drover::Status s = drover::SignalOnParentDeath(SIGTERM); !s.ok()) return 1;
  }
  auto keys = drover::LoadClientKeys(key_file, broker_key_file);
  if (!keys.ok()) {
    spdlog::critical("keys: {}", keys.status().message());
    return 2;
  }
  options.keys = std::move(keys).value();
  drover::Result<drover::worker::Run> run = drover::worker::StartRun(options.state_dir, options.name);
  if (!run.ok()) {
    spdlog::critical("state directory: {} (set --state-dir)", run.status().message());
    return 1;
  }
  options.instance = run.value().instance;
  options.previous_instance = run.value().previous_instance;
  // Step leaders died with the previous run; whatever they started may not have.
  if (const int killed = drover::worker::KillLeftovers(options.previous_instance); killed > 0) {
    spdlog::warn("killed {} process(es) left running by this worker's previous run", killed);
  }
  zmq::context_t ctx(1);
  drover::worker::Agent agent(options, &ctx, &signals.value());
  return agent.Run();
}
