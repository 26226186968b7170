// Drover's programs on NetLab hosts (netns.h): a broker, workers and submit
// runs, each on the host it is given, for multi-host tests.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/integration/netns.h"

namespace drover::testing {

// The port every broker listens on: each host has its own port space.
inline constexpr int kLabPort = 7700;

// True when the test should stop here because labs cannot be built: it
// reports "skipped: <why>", or fails if DROVER_REQUIRE_NETNS is set.
bool SkipWithoutNetns();

// "tcp://<ip>:7700" of a broker on `broker`.
std::string Endpoint(const Host& broker);

// A broker on `host`, heartbeats every 200 ms (so out of touch after 1 s),
// its state in the lab's directory (kept across restarts on the same host),
// with `env` added to its environment.
Process& StartBroker(NetLab& lab, Host& host, const std::vector<std::string>& extra = {},
                     const std::map<std::string, std::string>& env = {});

// A worker named after its host, with a 1 s kill grace and its state
// directory in the lab's (kept across restarts on the same host).
Process& StartWorker(NetLab& lab, Host& host, const Host& broker, int slots = 1,
                     const std::vector<std::string>& extra = {});

// Polls `submit status`, run on `from` with `env` added (keys), until the
// broker lists `n` workers. Empty on success, else what went wrong.
std::string WaitForWorkers(Host& from, const Host& broker, size_t n,
                           std::chrono::milliseconds within = std::chrono::seconds(15),
                           const std::map<std::string, std::string>& env = {});

// `submit FILE --json` on `from` with `env` added, to completion; the events.
std::vector<nlohmann::json> SubmitJson(NetLab& lab, Host& from, const Host& broker,
                                       const std::string& name, const std::string& job,
                                       int* exit_code,
                                       const std::map<std::string, std::string>& env = {});

}  // namespace drover::testing
