// shared/endpoint.h: the one checker of broker addresses, for all three programs.

#include "shared/endpoint.h"

#include <doctest/doctest.h>

#include <string>

namespace drover {
namespace {

constexpr EndpointUse kConnect = EndpointUse::kConnect;
constexpr EndpointUse kBind = EndpointUse::kBind;

const char* const kNotAName = "\" is not a name (letters, digits, . - _) or an IPv4 address";

TEST_CASE("addresses to connect to: tcp with a name or an IPv4 address, and ipc") {
  for (const char* good :
       {"tcp://127.0.0.1:7700", "tcp://localhost:7700", "tcp://head-1.example.org:1",
        "tcp://node_7:65535", "tcp://10.0.0.5:7700", "tcp://0.0.0.0:7700",
        "ipc:///tmp/drover/broker.sock", "ipc://@abstract"}) {
    CAPTURE(good);
    CHECK(EndpointProblem(good, kConnect) == "");
  }
}

TEST_CASE("addresses to listen on: an IPv4 address, * or a network interface, and ipc") {
  for (const char* good : {"tcp://127.0.0.1:7700", "tcp://0.0.0.0:7700", "tcp://*:7700",
                           "tcp://lo:7700", "ipc:///tmp/drover/broker.sock"}) {
    CAPTURE(good);
    CHECK(EndpointProblem(good, kBind) == "");
  }
  CHECK(EndpointProblem("tcp://*:7700", kConnect).starts_with("* (every interface) is only for"));
  // ZeroMQ would say "No such device".
  CHECK(EndpointProblem("tcp://localhost:7700", kBind) ==
        "to listen on, HOST is an IPv4 address, * or a network interface such as eth0, and "
        "\"localhost\" is none of these");
}

TEST_CASE("IPv6 addresses are refused: ZeroMQ's IPv6 is off") {
  for (const char* v6 :
       {"tcp://[::1]:7700", "tcp://::1:7700", "tcp://[fe80::1%eth0]:7700", "tcp://[::]:7700"}) {
    CAPTURE(v6);
    for (EndpointUse use : {kConnect, kBind}) {
      CHECK(EndpointProblem(v6, use) ==
            "IPv6 addresses do not work with Drover yet: give an IPv4 address or a name");
    }
  }
}

TEST_CASE("a port of * or 0 is refused: the broker would not say which port it took") {
  for (const char* any : {"tcp://*:*", "tcp://127.0.0.1:0", "tcp://*:00"}) {
    CAPTURE(any);
    CHECK(EndpointProblem(any, kBind) ==
          "PORT must be a number from 1 to 65535: with * or 0 the broker would listen on any "
          "free port without saying which");
  }
  for (const char* any : {"tcp://head:*", "tcp://head:0"}) {
    CAPTURE(any);
    CHECK(EndpointProblem(any, kConnect) == "PORT must be a number from 1 to 65535");
  }
}

TEST_CASE("what is wrong with an address is said in words") {
  struct Case {
    std::string address;
    std::string why;
  };
  for (const Case& c : {
           Case{"127.0.0.1:7700", "no scheme: did you mean tcp://127.0.0.1:7700?"},
           Case{"localhost:7700", "no scheme: did you mean tcp://localhost:7700?"},
           Case{"localhost", "no scheme"},
           Case{"", "it is empty"},
           Case{"http://host:80", "Drover speaks tcp:// (and ipc:// on one machine), not http://"},
           Case{"inproc://x", "Drover speaks tcp:// (and ipc:// on one machine), not inproc://"},
           Case{"tcp://host", "no PORT"},
           Case{"tcp://host:", "no PORT"},
           Case{"tcp://:7700", "no HOST"},
           Case{"tcp://host:70000", "PORT must be a number from 1 to 65535"},
           Case{"tcp://host:99999999999999999999", "PORT must be a number from 1 to 65535"},
           Case{"tcp://host:77a", "PORT must be a number from 1 to 65535"},
           Case{"tcp://host:-1", "PORT must be a number from 1 to 65535"},
           Case{"tcp://1.2.3:7700", "1.2.3 is not an IPv4 address"},
           Case{"tcp://300.0.0.1:7700", "300.0.0.1 is not an IPv4 address"},
           Case{"tcp://two words:7700", std::string("HOST \"two words") + kNotAName},
           Case{"tcp://-x:7700", std::string("HOST \"-x") + kNotAName},
           Case{"tcp://src.example.org;head:7700",
                std::string("HOST \"src.example.org;head") + kNotAName},
           Case{"ipc://", "ipc:// needs the path of a Unix socket"},
           Case{"ipc://*", "ipc:// needs the path of a Unix socket"},
           Case{"ipc:///" + std::string(kMaxIpcPathBytes, 'x'),
                "the path of an ipc:// address may have at most 107 bytes"},
       }) {
    CAPTURE(c.address);
    CHECK(EndpointProblem(c.address, kConnect) == c.why);
  }
  CHECK(EndpointProblem("ipc://" + std::string(kMaxIpcPathBytes, 'x'), kConnect) == "");
}

TEST_CASE("the message names the source and the value, and suggests the scheme") {
  Status s = CheckEndpoint("--broker", "127.0.0.1:7700", kConnect);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message() ==
        "--broker: address must look like tcp://HOST:PORT, got \"127.0.0.1:7700\" (no scheme: did "
        "you mean tcp://127.0.0.1:7700?)");
  CHECK(CheckEndpoint("DROVER_BROKER", "tcp://h:0", kConnect).message() ==
        "DROVER_BROKER: address must look like tcp://HOST:PORT, got \"tcp://h:0\" (PORT must be a "
        "number from 1 to 65535)");
  CHECK(CheckEndpoint("--bind", "tcp://*:7700", kBind).ok());
}

TEST_CASE("a host name is looked up: an IPv4 address or ipc:// has nothing to look up") {
  CHECK(HostLookupProblem("tcp://127.0.0.1:7700") == "");
  CHECK(HostLookupProblem("ipc:///tmp/x") == "");
  CHECK(HostLookupProblem("tcp://localhost:7700") == "");
  // .invalid never resolves (RFC 6761); without a resolver to ask at all,
  // the lookup itself fails.
  const std::string why = HostLookupProblem("tcp://nohost.invalid:7700");
  CHECK((why == "unknown host \"nohost.invalid\"" ||
         why.starts_with("cannot look up host \"nohost.invalid\"")));
}

}  // namespace
}  // namespace drover
