// Which broker `submit` talks to, and what it tells the user about that
// choice: the one given (--broker or $DROVER_BROKER), else the embedded
// default for a job file, else tcp://127.0.0.1:7700 as the daemons use
// (`broker --bind`, `worker --broker`). Pure: no sockets, no environment.
#pragma once

#include <string>

namespace drover::submit {

// Where `broker` binds and `worker` connects when told nothing
// (broker/server.h, worker/agent.h): a broker started by hand on this
// machine is found without an address.
inline constexpr const char* kDefaultBroker = "tcp://127.0.0.1:7700";

// What submit is about to do with a broker.
enum class BrokerUse {
  kRunJobFile,  // run a job file: without a broker, on the embedded default
  kAskBroker,   // --watch, --cancel, --resume, --detach, status, forget, ...
};

// The endpoint to connect to: `given` if not empty, else "" (the embedded
// default) to run a job file in the foreground, else kDefaultBroker.
std::string ChooseBroker(const std::string& given, BrokerUse use);

// Added to a failure to reach kDefaultBroker when no broker was given (the
// failure names the address), so that the user learns where that address
// came from and how to give another.
std::string DefaultBrokerNote();

}  // namespace drover::submit
