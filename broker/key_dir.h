// KeyDir: the broker's key directory (`broker --key-dir DIR`,
// docs/security.md). It holds:
//
//   broker.key         the broker's secret key (0600; made on first start)
//   broker.pub         its public key: what workers and users need
//   workers.allow      public keys that may connect as workers
//   submitters.allow   public keys that may connect as submitters
//   admins.allow       submitters that may see and act on every job, not
//                      only their own (optional: older key directories
//                      lack it, and then nobody is an admin)
//
// The lists' format is in broker/core/access.h. Missing files are made on first
// start (the lists empty, with a comment saying what goes in them), so
// that a fresh directory is ready to fill in and lets nobody in.
//
// Not thread-safe; used by the broker's one loop.
#pragma once

#include <string>
#include <vector>

#include "broker/core/access.h"
#include "shared/keys.h"
#include "shared/status.h"

namespace drover::broker {

class KeyDir {
 public:
  // Opens `dir`, making it (0700) and whatever of the files above is
  // missing. `created` receives the paths it made, for the log.
  static Result<KeyDir> Open(const std::string& dir, std::vector<std::string>* created);

  const std::string& dir() const { return dir_; }
  const KeyPair& broker_keys() const { return keys_; }
  std::string workers_path() const { return dir_ + "/workers.allow"; }
  std::string submitters_path() const { return dir_ + "/submitters.allow"; }
  std::string admins_path() const { return dir_ + "/admins.allow"; }

  // Reads the lists; an error names the file and line.
  Result<AccessLists> ReadLists();
  // Whether either list file changed (its mtime, size or inode: editors
  // often write a new file and rename it) since ReadLists last ran.
  bool ListsChanged() const;

 private:
  KeyDir(std::string dir, KeyPair keys) : dir_(std::move(dir)), keys_(std::move(keys)) {}
  std::string ListsSignature() const;

  std::string dir_;
  KeyPair keys_;
  std::string signature_;  // of the lists as last read (or tried)
};

}  // namespace drover::broker
