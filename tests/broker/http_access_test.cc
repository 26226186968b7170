// Who may read the dashboard (broker/http/http_access.h).

#include "broker/http/http_access.h"

#include <doctest/doctest.h>

namespace drover::broker::http {
namespace {

TEST_CASE("HTTP addresses: loopback ones are told apart from the rest") {
  auto a = ParseHttpAddress("127.0.0.1:7780");
  REQUIRE(a.ok());
  CHECK(a->host == "127.0.0.1");
  CHECK(a->port == 7780);
  CHECK(a->loopback);
  CHECK(ParseHttpAddress("localhost:1")->loopback);
  CHECK(ParseHttpAddress("127.3.4.5:1")->loopback);
  CHECK(ParseHttpAddress("[::1]:80")->loopback);
  CHECK(ParseHttpAddress("[::1]:80")->host == "::1");
  CHECK(ParseHttpAddress(":7780")->host == "127.0.0.1");
  CHECK(ParseHttpAddress(":7780")->loopback);
  CHECK_FALSE(ParseHttpAddress("0.0.0.0:7780")->loopback);
  CHECK_FALSE(ParseHttpAddress("[::]:7780")->loopback);
  CHECK_FALSE(ParseHttpAddress("10.0.0.1:7780")->loopback);
  // A name may resolve anywhere, now or later.
  CHECK_FALSE(ParseHttpAddress("dash.example.org:7780")->loopback);
  CHECK(ParseHttpAddress("127.0.0.1:0")->port == 0);
}

TEST_CASE("HTTP addresses: a bad one is named with what is wrong") {
  CHECK(ParseHttpAddress("127.0.0.1").status().message() ==
        "--http 127.0.0.1: no port (expected HOST:PORT, e.g. 127.0.0.1:7780)");
  CHECK(ParseHttpAddress("127.0.0.1:http")
            .status()
            .message()
            .find("the port must be a number from 0 to 65535") != std::string::npos);
  CHECK_FALSE(ParseHttpAddress("127.0.0.1:65536").ok());
  CHECK_FALSE(ParseHttpAddress("127.0.0.1:-1").ok());
  CHECK(ParseHttpAddress("::1:80").status().message().find("brackets") != std::string::npos);
}

TEST_CASE("HTTP beyond loopback needs keys and a token, and with keys so does loopback") {
  const HttpAddress local = ParseHttpAddress("127.0.0.1:7780").value();
  const HttpAddress open = ParseHttpAddress("0.0.0.0:7780").value();
  CHECK(HttpRefusal(local, false, false).empty());
  CHECK(HttpRefusal(local, false, true).empty());
  CHECK(HttpRefusal(local, true, true).empty());
  CHECK(HttpRefusal(local, true, false)
            .find("with keys on (--key-dir) the dashboard needs "
                  "--http-token-file, on loopback too") == 0);
  CHECK(HttpRefusal(open, true, true).empty());
  const std::string neither = HttpRefusal(open, false, false);
  CHECK(neither.find("without keys (--key-dir) and --http-token-file") != std::string::npos);
  CHECK(neither.find("127.0.0.1:7780") != std::string::npos);
  CHECK(HttpRefusal(open, true, false).find("without --http-token-file:") != std::string::npos);
  CHECK(HttpRefusal(open, false, true).find("without keys (--key-dir):") != std::string::npos);
}

TEST_CASE("without a token, only requests naming a loopback host are answered") {
  CHECK(IsLoopbackHostHeader("127.0.0.1:7780"));
  CHECK(IsLoopbackHostHeader("127.0.0.1"));
  CHECK(IsLoopbackHostHeader("localhost:7780"));
  CHECK(IsLoopbackHostHeader("[::1]:7780"));
  CHECK(IsLoopbackHostHeader("[::1]"));
  CHECK_FALSE(IsLoopbackHostHeader(""));
  CHECK_FALSE(IsLoopbackHostHeader("rebind.attacker.example:7780"));
  CHECK_FALSE(IsLoopbackHostHeader("127.0.0.1.attacker.example"));
  CHECK_FALSE(IsLoopbackHostHeader("[::1]x"));
  CHECK_FALSE(IsLoopbackHostHeader("[::1"));
  CHECK_FALSE(IsLoopbackHostHeader("10.0.0.1:7780"));
}

TEST_CASE("token files: the first line, trimmed, long enough") {
  CHECK(ParseTokenFile("  0123456789abcdef \r\nrest\n", "t").value() == "0123456789abcdef");
  CHECK(ParseTokenFile("\n0123456789abcdef\n", "t").status().message() ==
        "t: no token on its first line");
  CHECK(ParseTokenFile("short\n", "t").status().message().find("the token is 5 characters") !=
        std::string::npos);
}

TEST_CASE("requests carry the token in a bearer header or the query") {
  const std::string token = "0123456789abcdef";
  CHECK(CarriesToken("Bearer 0123456789abcdef", "", token));
  CHECK(CarriesToken("", "0123456789abcdef", token));
  CHECK_FALSE(CarriesToken("", "", token));
  CHECK_FALSE(CarriesToken("Bearer 0123456789abcdeg", "", token));
  CHECK_FALSE(CarriesToken("Bearer 0123456789abcde", "", token));
  CHECK_FALSE(CarriesToken("Basic 0123456789abcdef", "", token));
  CHECK_FALSE(CarriesToken("0123456789abcdef", "", token));
  CHECK_FALSE(CarriesToken("Bearer wrong", "wrong", token));
}

}  // namespace
}  // namespace drover::broker::http
