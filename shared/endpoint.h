// Endpoints: a broker's address as people give it (`submit --broker`,
// `worker --broker`, $DROVER_BROKER, `broker --bind` and `--advertise`). One
// checker for all of them, run before any socket sees the address: ZeroMQ
// says no more than "Invalid argument" about a bad one, and throws it where
// the programs do not expect it (`submit --broker 127.0.0.1:7700` aborted).
//
// The addresses Drover takes:
//   tcp://HOST:PORT  HOST is an IPv4 address or a name (letters, digits,
//                    . - _; a letter or digit first). To connect to, a host
//                    name; to listen on, a network interface (eth0), or `*`
//                    for every one: ZeroMQ looks up no name to listen on.
//                    PORT is 1 to 65535.
//   ipc://PATH       a Unix socket on this machine (submit's embedded broker
//                    uses one); at most kMaxIpcPathBytes.
// Not taken, because they would not work: IPv6 addresses (ZeroMQ's IPv6 is
// off in the three programs), a port of `*` or 0 (the broker would listen
// on some free port without saying which), ZeroMQ's other transports
// (inproc://, pgm://, ...), and tcp://'s "SOURCE;HOST:PORT" form.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "shared/status.h"

namespace drover {

enum class EndpointUse {
  kConnect,  // to connect to: submit and worker --broker, broker --advertise
  kBind,     // to listen on: broker --bind
};

// The longest ipc:// path a Unix socket address holds (sun_path, less its NUL).
inline constexpr size_t kMaxIpcPathBytes = 107;

// "" if `address` is one Drover can use for `use`; else what is wrong with
// it, for people: "no scheme: did you mean tcp://127.0.0.1:7700?", "PORT
// must be a number from 1 to 65535". A host name is checked for its form
// only (HostLookupProblem looks it up); a name to listen on must be one of
// this machine's network interfaces (if_nametoindex: no waiting).
std::string EndpointProblem(std::string_view address, EndpointUse use);

// EndpointProblem as the message a program prints, naming where the address
// came from (`source`: the flag, or DROVER_BROKER) and what it was:
//   --broker: address must look like tcp://HOST:PORT, got "127.0.0.1:7700"
//   (no scheme: did you mean tcp://127.0.0.1:7700?)
// Ok if the address is good.
Status CheckEndpoint(std::string_view source, std::string_view address, EndpointUse use);

// For a tcp:// address whose HOST is a name: "" if the name resolves, else
// why not, for people: `unknown host "nohost"`. "" when there is nothing to
// look up (an IPv4 address, ipc://). Blocks for as long as the resolver takes
// (getaddrinfo): for use before connecting, never inside an event loop.
// REQUIRES: EndpointProblem(address, EndpointUse::kConnect) is "".
std::string HostLookupProblem(std::string_view address);

}  // namespace drover
