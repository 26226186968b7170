#include "shared/endpoint.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

namespace drover {
namespace {

constexpr std::string_view kTcp = "tcp://";
constexpr std::string_view kIpc = "ipc://";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// A host name or an interface name (to listen on), in the form ZeroMQ takes
// without complaint: a letter or digit first.
bool IsName(std::string_view host) {
  return !host.empty() && IsAlnum(host.front()) &&
         std::all_of(host.begin(), host.end(),
                     [](char c) { return IsAlnum(c) || c == '.' || c == '-' || c == '_'; });
}

bool IsIpv4(std::string_view text) {
  in_addr out;
  return inet_pton(AF_INET, std::string(text).c_str(), &out) == 1;
}

// A tcp:// address taken apart at its last colon; nullopt if it has no
// port, and `*why` says so.
struct TcpAddress {
  std::string_view host;
  std::string_view port;
};

std::optional<TcpAddress> SplitTcp(std::string_view address, std::string* why) {
  const std::string_view rest = address.substr(kTcp.size());
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == rest.size()) {
    *why = "no PORT";
    return std::nullopt;
  }
  return TcpAddress{rest.substr(0, colon), rest.substr(colon + 1)};
}

std::string HostProblem(std::string_view host, EndpointUse use) {
  if (host.empty()) return "no HOST";
  // ZeroMQ's IPv6 is off in all three programs (ZMQ_IPV6): it would also
  // send a name with both kinds of address to the IPv6 one, where a broker
  // listening on an IPv4 address is not.
  if (host.find_first_of("[]:") != std::string_view::npos) {
    return "IPv6 addresses do not work with Drover yet: give an IPv4 address or a name";
  }
  if (host == "*") {
    return use == EndpointUse::kBind
               ? ""
               : "* (every interface) is only for listening on (broker --bind); give the "
                 "broker's host name or address";
  }
  if (std::all_of(host.begin(), host.end(), [](char c) { return IsDigit(c) || c == '.'; })) {
    return IsIpv4(host) ? "" : std::string(host) + " is not an IPv4 address";
  }
  if (!IsName(host)) {
    return "HOST \"" + std::string(host) +
           "\" is not a name (letters, digits, . - _) or an IPv4 address";
  }
  // ZeroMQ listens on an address or an interface; it looks no name up.
  if (use == EndpointUse::kBind && if_nametoindex(std::string(host).c_str()) == 0) {
    return "to listen on, HOST is an IPv4 address, * or a network interface such as eth0, "
           "and \"" +
           std::string(host) + "\" is none of these";
  }
  return "";
}

std::string PortProblem(std::string_view port, EndpointUse use) {
  const bool any = port == "*" || (!port.empty() && std::all_of(port.begin(), port.end(),
                                                                [](char c) { return c == '0'; }));
  if (any && use == EndpointUse::kBind) {
    return "PORT must be a number from 1 to 65535: with * or 0 the broker would listen on any "
           "free port without saying which";
  }
  int value = 0;
  for (char c : port) {
    if (!IsDigit(c) || value > 65535) break;
    value = value * 10 + (c - '0');
  }
  const bool digits = std::all_of(port.begin(), port.end(), IsDigit);
  if (!digits || value < 1 || value > 65535) return "PORT must be a number from 1 to 65535";
  return "";
}

}  // namespace

std::string EndpointProblem(std::string_view address, EndpointUse use) {
  if (address.starts_with(kIpc)) {
    const std::string_view path = address.substr(kIpc.size());
    // "ipc://*" would be a path ZeroMQ makes up: nobody could connect to it.
    if (path.empty() || path == "*") return "ipc:// needs the path of a Unix socket";
    if (path.size() > kMaxIpcPathBytes) {
      return "the path of an ipc:// address may have at most " + std::to_string(kMaxIpcPathBytes) +
             " bytes";
    }
    return "";
  }
  if (!address.starts_with(kTcp)) {
    if (address.empty()) return "it is empty";
    const size_t scheme = address.find("://");
    if (scheme == std::string_view::npos) {
      const std::string guess = std::string(kTcp) + std::string(address);
      if (EndpointProblem(guess, use).empty()) return "no scheme: did you mean " + guess + "?";
      return "no scheme";
    }
    return "Drover speaks tcp:// (and ipc:// on one machine), not " +
           std::string(address.substr(0, scheme + 3));
  }
  std::string why;
  const std::optional<TcpAddress> tcp = SplitTcp(address, &why);
  if (!tcp) return why;
  if (std::string host = HostProblem(tcp->host, use); !host.empty()) return host;
  return PortProblem(tcp->port, use);
}

Status CheckEndpoint(std::string_view source, std::string_view address, EndpointUse use) {
  const std::string why = EndpointProblem(address, use);
  if (why.empty()) return Status::Ok();
  return Status::Error(std::string(source) + ": address must look like tcp://HOST:PORT, got \"" +
                       std::string(address) + "\" (" + why + ")");
}

std::string HostLookupProblem(std::string_view address) {
  if (!address.starts_with(kTcp)) return "";
  std::string why;
  const std::optional<TcpAddress> tcp = SplitTcp(address, &why);
  if (!tcp || tcp->host == "*" || IsIpv4(tcp->host)) return "";
  const std::string host(tcp->host);
  addrinfo hints = {};
  hints.ai_family = AF_INET;  // as ZeroMQ looks it up: its IPv6 is off
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc == 0) {
    freeaddrinfo(found);
    return "";
  }
  if (rc == EAI_NONAME) return "unknown host \"" + host + "\"";
  if (rc == EAI_NODATA || rc == EAI_ADDRFAMILY) {
    return "host \"" + host + "\" has no IPv4 address";
  }
  return "cannot look up host \"" + host +
         "\": " + (rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc));
}

}  // namespace drover
