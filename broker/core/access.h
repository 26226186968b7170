// Access: who may talk to the broker, and as what (docs/security.md). Pure:
// parsing and decisions only; the files are read in broker/key_dir.h and
// the ZAP socket lives in broker/zap.h.
//
// The broker's key directory holds two allow-lists, one per role, in the
// shape of OpenSSH's authorized_keys: one public key per line (40 Z85
// characters, as in a .pub file), optionally followed by a comment; blank
// lines and lines starting with '#' are ignored (a line whose first word is
// a whole key is a key even if that key starts with '#', a Z85 digit).
// Anything else is an error naming file:line.
//
// A key on the workers' list may act only as a worker, one on the
// submitters' list only as a client; a key on both may do both. A key on the
// admins' list is a submitter that may also see, follow, cancel, resume and
// forget every job, not only its own (a job belongs to the key that
// submitted it). Every message is checked against the lists in force
// (RequiredRole below).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "shared/protocol.h"
#include "shared/status.h"

namespace drover::broker {

// What a key may do: a set of these bits.
enum Role : uint8_t {
  kNoRole = 0,
  kWorkerRole = 1,     // WorkerHello and the worker's messages
  kSubmitterRole = 2,  // ClientHello and the client's messages
};
using Roles = uint8_t;

// "worker", "submitter", "worker and submitter" or "nothing".
std::string RolesName(Roles roles);

// One allow-list: key -> comment (the first seen, for logs).
using AllowList = std::unordered_map<std::string, std::string>;

// Parses an allow-list's text. `name` (the file's path) heads every error:
// "NAME:LINE: ...".
Result<AllowList> ParseAllowList(std::string_view text, const std::string& name);

// The two lists in force.
struct AccessLists {
  AllowList workers;
  AllowList submitters;
  AllowList admins;  // submitters too

  Roles RolesOf(std::string_view key) const;
  bool IsAdmin(std::string_view key) const;
  // For logs: "comment (first characters...)" or "key first characters...".
  std::string Describe(std::string_view key) const;
  // What a job's owner is called: the key's comment, else "key XXXXXXXX...".
  std::string NameOf(std::string_view key) const;
};

// What changed from `before` to `after`, each key with its roles before or
// after, for the log.
struct AccessChange {
  std::string key;
  Roles before = kNoRole;
  Roles after = kNoRole;
};
std::vector<AccessChange> Diff(const AccessLists& before, const AccessLists& after);

// The role a message needs from its sender. Heartbeat needs either
// (kWorkerRole | kSubmitterRole: any one will do); a message only the broker
// sends needs kNoRole, which no peer has.
Roles RequiredRole(MessageType type);

// Whether a peer whose key has `roles` may send a message of `type`; if
// not, the reason, for the error reply and the log.
// Returns "" when allowed.
std::string Refusal(Roles roles, MessageType type);

// Whether `endpoint` can only be reached from this machine: tcp:// on a
// loopback address (127.0.0.0/8, ::1, localhost), ipc:// or inproc://.
// Anything else (another address, a wildcard "*", an interface name) may
// be reachable from the network.
bool IsLocalOnlyEndpoint(std::string_view endpoint);

}  // namespace drover::broker
