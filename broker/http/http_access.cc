// Who may read the dashboard (http_access.h).

#include "broker/http/http_access.h"

#include <arpa/inet.h>

#include <charconv>

namespace drover::broker::http {
namespace {

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;  // a name: whatever it resolves to now may change
}

bool SameBytes(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

Result<HttpAddress> ParseHttpAddress(std::string_view text) {
  const std::string shown(text);
  const auto bad = [&](const std::string& why) {
    return Status::Error("--http " + shown + ": " + why +
                         " (expected HOST:PORT, e.g. 127.0.0.1:7780)");
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad("no port");
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  int port = -1;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 0 || port > 65535) {
    return bad("the port must be a number from 0 to 65535");
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return bad("an IPv6 address goes in brackets, e.g. [::1]:7780");
  }
  HttpAddress address{std::string(host), port, false, shown};
  if (address.host.empty()) address.host = "127.0.0.1";
  address.loopback = IsLoopbackHost(address.host);
  return address;
}

std::string HttpRefusal(const HttpAddress& address, bool keys_on, bool token_given) {
  if (keys_on && token_given) return "";
  if (address.loopback && keys_on) {
    return "with keys on (--key-dir) the dashboard needs --http-token-file, on loopback too: it "
           "shows every owner's jobs, as an admin sees them, and keys mean people who may see "
           "only their own (docs/dashboard.md)";
  }
  if (address.loopback) return "";
  std::string missing;
  if (!keys_on) missing = "keys (--key-dir)";
  if (!token_given) missing += std::string(missing.empty() ? "" : " and ") + "--http-token-file";
  return "refusing to serve the dashboard on " + address.text +
         ", which other machines may reach, without " + missing +
         ": it shows every job's steps, output and owners. Use a loopback address such as "
         "127.0.0.1:" +
         std::to_string(address.port) + ", or give " + missing + " (docs/dashboard.md)";
}

bool IsLoopbackHostHeader(std::string_view host) {
  if (host.empty()) return false;
  if (host.front() == '[') {
    const size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    const std::string_view rest = host.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    return IsLoopbackHost(std::string(host.substr(1, close - 1)));
  }
  const size_t colon = host.find(':');
  return IsLoopbackHost(std::string(host.substr(0, colon)));
}

Result<std::string> ParseTokenFile(std::string_view text, const std::string& path) {
  const size_t newline = text.find('\n');
  std::string_view line = text.substr(0, newline);
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!line.empty() && blank(line.front())) line.remove_prefix(1);
  while (!line.empty() && blank(line.back())) line.remove_suffix(1);
  if (line.empty()) return Status::Error(path + ": no token on its first line");
  if (line.size() < 16) {
    return Status::Error(path + ": the token is " + std::to_string(line.size()) +
                         " characters; give at least 16 (e.g. from `openssl rand -hex 16`)");
  }
  return std::string(line);
}

bool CarriesToken(std::string_view authorization, std::string_view query_token,
                  std::string_view token) {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.substr(0, kBearer.size()) == kBearer &&
      SameBytes(authorization.substr(kBearer.size()), token)) {
    return true;
  }
  return !query_token.empty() && SameBytes(query_token, token);
}

}  // namespace drover::broker::http
