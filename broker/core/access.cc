#include "broker/core/access.h"

#include <set>

#include "broker/core/roles.h"
#include "shared/keys.h"

namespace drover::broker {

std::string RolesName(Roles roles) {
  switch (roles & (kWorkerRole | kSubmitterRole)) {
    case kWorkerRole:
      return "worker";
    case kSubmitterRole:
      return "submitter";
    case kWorkerRole | kSubmitterRole:
      return "worker and submitter";
    default:
      return "nothing";
  }
}

Result<AllowList> ParseAllowList(std::string_view text, const std::string& name) {
  AllowList list;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const auto [key, comment] = SplitKeyLine(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (key.empty()) continue;
    if (!IsZ85Key(key)) {
      if (key.front() == '#') continue;  // a comment ('#' is also a Z85 digit)
      const std::string where = name + ":" + std::to_string(line_no);
      if (key.size() != kZ85KeyChars) {
        return Status::Error(where +
                             ": expected a public key (40 characters of Z85) and an "
                             "optional comment; the first word has " +
                             std::to_string(key.size()) + " characters");
      }
      return Status::Error(where + ": \"" + std::string(key) +
                           "\" is not a Z85 key (a character outside Z85's alphabet)");
    }
    list.emplace(std::string(key), std::string(comment));  // the first comment stays
  }
  return list;
}

Roles AccessLists::RolesOf(std::string_view key) const {
  const std::string k(key);
  Roles roles = kNoRole;
  if (workers.count(k)) roles |= kWorkerRole;
  if (submitters.count(k) || admins.count(k)) roles |= kSubmitterRole;
  return roles;
}

bool AccessLists::IsAdmin(std::string_view key) const {
  return admins.count(std::string(key)) > 0;
}

std::string AccessLists::NameOf(std::string_view key) const {
  const std::string k(key);
  for (const AllowList* list : {&submitters, &admins, &workers}) {
    if (auto it = list->find(k); it != list->end() && !it->second.empty()) return it->second;
  }
  return "key " + k.substr(0, 8) + "...";
}

std::string AccessLists::Describe(std::string_view key) const {
  const std::string k(key);
  for (const AllowList* list : {&workers, &submitters, &admins}) {
    if (auto it = list->find(k); it != list->end() && !it->second.empty()) {
      return it->second + " (" + k.substr(0, 8) + "...)";
    }
  }
  return "key " + k.substr(0, 8) + "...";
}

std::vector<AccessChange> Diff(const AccessLists& before, const AccessLists& after) {
  std::set<std::string> keys;
  for (const AccessLists* lists : {&before, &after}) {
    for (const auto& [key, comment] : lists->workers) keys.insert(key);
    for (const auto& [key, comment] : lists->submitters) keys.insert(key);
    for (const auto& [key, comment] : lists->admins) keys.insert(key);
  }
  std::vector<AccessChange> changes;
  for (const std::string& key : keys) {
    const Roles was = before.RolesOf(key), now = after.RolesOf(key);
    if (was != now) changes.push_back(AccessChange{key, was, now});
  }
  return changes;
}

Roles RequiredRole(MessageType type) {
  // The table is roles.cc's, shared with the check by hello; a key's roles
  // are the same bits as a message's senders.
  static_assert(unsigned{kWorkerRole} == unsigned{kWorkerSender} &&
                unsigned{kSubmitterRole} == unsigned{kClientSender});
  return static_cast<Roles>(SendersOf(type));
}

std::string Refusal(Roles roles, MessageType type) {
  const Roles needed = RequiredRole(type);
  if ((roles & needed) != 0) return "";
  if (roles == kNoRole) return "this key is not (or no longer) allowed on this broker";
  if (needed == kNoRole) return "only the broker sends this message";
  return std::string("this key may act only as ") + RolesName(roles) + ", and this message is a " +
         (needed == kWorkerRole ? "worker's" : "submitter's");
}

bool IsLocalOnlyEndpoint(std::string_view endpoint) {
  if (endpoint.starts_with("ipc://") || endpoint.starts_with("inproc://")) return true;
  if (!endpoint.starts_with("tcp://")) return false;  // pgm, udp, ...: the network
  std::string_view host = endpoint.substr(6);
  // "tcp://[::1]:7700", "tcp://127.0.0.1:7700", "tcp://localhost:7700";
  // a "source;" part is only for connecting, never in a bind.
  if (host.starts_with('[')) {
    const size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    host = host.substr(1, close - 1);
  } else {
    host = host.substr(0, host.rfind(':'));
  }
  if (host == "localhost" || host == "::1") return true;
  if (!host.starts_with("127.")) return false;
  // Only a dotted quad: "127.example.com" is a name, not loopback.
  int dots = 0;
  for (char c : host) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return dots == 3;
}

}  // namespace drover::broker
