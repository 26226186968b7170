// Server (server.h): keys: who may send what, and the allow-lists reread
// while the broker runs (docs/security.md).

#include <spdlog/spdlog.h>

#include <utility>

#include "broker/server.h"
#include "shared/codec.h"

namespace drover::broker {
namespace {

// Refusals of keys are logged once per key until the next reload; past
// this many keys, no more (a storm of them is one thing to know).
constexpr size_t kMaxRefusalsLogged = 1024;

MessageType TypeOf(const Message& msg) {
  return std::visit([](const auto& m) { return std::decay_t<decltype(m)>::kType; }, msg);
}

}  // namespace

Status Server::UseKeys(KeyDir keys) {
  Result<AccessLists> lists = keys.ReadLists();
  if (!lists.ok()) return lists.status();
  access_ = std::move(lists).value();
  spdlog::info("keys on (CURVE): {} worker key(s), {} submitter key(s) allowed, from {}",
               access_.workers.size(), access_.submitters.size(), keys.dir());
  keys_.emplace(std::move(keys));
  return Status::Ok();
}

bool Server::CheckAccess(const std::string& route, std::string_view key, const Message* msg,
                         int64_t now) {
  const Roles roles = access_.RolesOf(key);
  const std::string why = roles == kNoRole ? "this key is not (or no longer) allowed on this broker"
                          : msg != nullptr ? Refusal(roles, TypeOf(*msg))
                                           : "";  // a malformed message is answered as such
  if (why.empty()) return true;
  const bool log = refusals_logged_.size() < kMaxRefusalsLogged &&
                   refusals_logged_.insert(std::string(key)).second;
  if (roles == kNoRole) {
    if (peers_.count(route)) {
      ShutOut(route, why, now);
    } else {
      if (log) spdlog::warn("refused a message from key {}: {}", key.substr(0, 8), why);
      ReplyError(route, ErrorCode::kForbidden, why);
    }
    return false;
  }
  if (log) {
    spdlog::warn("refused {} from {}: {}", MessageTypeName(TypeOf(*msg)), access_.Describe(key),
                 why);
  }
  ReplyError(route, ErrorCode::kWrongRole, why);
  return false;
}

void Server::ShutOut(const std::string& route, const std::string& why, int64_t now) {
  auto it = peers_.find(route);
  if (it == peers_.end()) return;
  spdlog::warn("dropped {} {} ({}): {}",
               it->second.role == Peer::Role::kWorker ? "worker" : "client", it->second.name,
               access_.Describe(it->second.key), why);
  // Said before it is forgotten: the connection itself lives on in ZeroMQ
  // (a ROUTER cannot close one), but nothing it sends is heeded any more.
  ReplyError(route, ErrorCode::kForbidden, why);
  if (it->second.role == Peer::Role::kWorker) {
    // Not lost at once: its steps may still run there until it notices,
    // so they wait out their leases as a silent worker's do.
    ForgetWorker(it->second.worker, WorkerEnd::kShutOut, "", now);
  } else {
    DropClient(route);
  }
}

std::string Server::OwnerName(const Peer& peer) const {
  if (keys_) return access_.NameOf(peer.key);
  return peer.name.substr(0, peer.name.find('@'));
}

bool Server::MayTouch(const std::string& route, const std::string& owner_key) const {
  if (!keys_ || owner_key.empty()) return true;
  auto peer = peers_.find(route);
  if (peer == peers_.end()) return false;
  return peer->second.key == owner_key || access_.IsAdmin(peer->second.key);
}

std::string Server::Forbidden(const std::string& route, JobId id, const char* verb) const {
  const std::string* owner = nullptr;
  const std::string* owner_key = nullptr;
  if (auto r = running_.find(id); r != running_.end()) {
    owner = &r->second.owner;
    owner_key = &r->second.owner_key;
  } else if (const FinishedJob* f = finished_.Find(id)) {
    owner = &f->owner;
    owner_key = &f->owner_key;
  }
  if (owner_key == nullptr || MayTouch(route, *owner_key)) return "";
  return "job " + std::to_string(id.value) + " belongs to " + *owner + ": only its owner or an " +
         "admin (admins.allow) may " + verb + " it";
}

void Server::ReloadAccess(const char* why, int64_t now) {
  Result<AccessLists> lists = keys_->ReadLists();
  if (!lists.ok()) {
    spdlog::error("allow-lists not reloaded {} (the lists in force stay): {}", why,
                  lists.status().message());
    return;
  }
  const std::vector<AccessChange> changes = Diff(access_, lists.value());
  const AccessLists before = std::exchange(access_, std::move(lists).value());
  refusals_logged_.clear();
  if (zap_) zap_->ForgetLogged();
  spdlog::info("allow-lists reloaded {}: {} change(s); {} worker key(s), {} submitter key(s)", why,
               changes.size(), access_.workers.size(), access_.submitters.size());
  for (const AccessChange& c : changes) {
    const AccessLists& named = c.after != kNoRole ? access_ : before;
    spdlog::info("  {}: was {}, now {}", named.Describe(c.key), RolesName(c.before),
                 RolesName(c.after));
  }
  // Peers whose key lost the role they connected as.
  std::vector<std::string> gone;
  for (const auto& [route, peer] : peers_) {
    const Roles needed = peer.role == Peer::Role::kWorker ? kWorkerRole : kSubmitterRole;
    if ((access_.RolesOf(peer.key) & needed) == 0) gone.push_back(route);
  }
  for (const std::string& route : gone) {
    const bool worker = peers_.at(route).role == Peer::Role::kWorker;
    ShutOut(route,
            std::string("this key was taken off the broker's ") +
                (worker ? "workers" : "submitters") + " allow-list",
            now);
  }
}

}  // namespace drover::broker
