#include "broker/key_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "shared/file_io.h"

namespace drover::broker {
namespace {

// Far more keys than any cluster has (about 60 bytes a line).
constexpr size_t kMaxListBytes = 16 << 20;

constexpr const char* kListHeader =
    "# Public keys allowed to connect to this Drover broker as %s: one per line,\n"
    "# as in a .pub file (`submit keygen` makes them): <key> [comment].\n"
    "# The broker rereads this file when it changes (or on SIGHUP); connections\n"
    "# of a key taken out stop working. See docs/security.md.\n";

Result<std::string> ReadList(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot read allow-list " + path, errno);
  struct stat st {};
  std::string text;
  Status status = Status::Ok();
  if (fstat(fd, &st) != 0) {
    status = ErrnoStatus("cannot read allow-list " + path, errno);
  } else if (!S_ISREG(st.st_mode) || static_cast<size_t>(st.st_size) > kMaxListBytes) {
    status = Status::Error("allow-list " + path + " is not a regular file of at most 16 MiB");
  } else {
    text.resize(static_cast<size_t>(st.st_size));
    status = PreadAll(fd, text.data(), text.size(), 0, path);
  }
  close(fd);
  if (!status.ok()) return status;
  return text;
}

Result<AllowList> ReadAllowList(const std::string& path) {
  Result<std::string> text = ReadList(path);
  if (!text.ok()) return text.status();
  return ParseAllowList(text.value(), path);
}

Status CreateList(const std::string& path, const char* role, std::vector<std::string>* created) {
  if (access(path.c_str(), F_OK) == 0) return Status::Ok();
  char header[512];
  snprintf(header, sizeof header, kListHeader, role);
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("cannot create " + path, errno);
  Status s = WriteAll(fd, header, path);
  close(fd);
  if (s.ok()) created->push_back(path);
  return s;
}

}  // namespace

Result<KeyDir> KeyDir::Open(const std::string& dir, std::vector<std::string>* created) {
  if (Status s = CurveAvailable(); !s.ok()) return s;
  if (mkdir(dir.c_str(), 0700) == 0) {
    created->push_back(dir);
  } else if (errno != EEXIST) {
    return ErrnoStatus("cannot create the key directory " + dir, errno);
  }
  const std::string base = dir + "/broker";
  if (access((base + ".key").c_str(), F_OK) != 0) {
    Result<KeyPair> pair = GenerateKeyPair();
    if (!pair.ok()) return pair.status();
    if (Status s = WriteKeyFiles(base, pair.value(), "drover-broker"); !s.ok()) return s;
    created->push_back(base + ".key");
    created->push_back(base + ".pub");
  }
  Result<KeyPair> keys = ReadSecretKeyFile(base + ".key");
  if (!keys.ok()) return keys.status();
  KeyDir key_dir(dir, std::move(keys).value());
  if (Status s = CreateList(key_dir.workers_path(), "workers", created); !s.ok()) return s;
  if (Status s = CreateList(key_dir.submitters_path(), "submitters (users of `submit`)", created);
      !s.ok()) {
    return s;
  }
  if (Status s = CreateList(key_dir.admins_path(),
                            "admins (submitters who see and act on every job, not only their "
                            "own)",
                            created);
      !s.ok()) {
    return s;
  }
  return key_dir;
}

std::string KeyDir::ListsSignature() const {
  std::string signature;
  for (const std::string& path : {workers_path(), submitters_path(), admins_path()}) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) {
      signature += "missing;";
      continue;
    }
    signature += std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
                 std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + ";";
  }
  return signature;
}

bool KeyDir::ListsChanged() const { return ListsSignature() != signature_; }

Result<AccessLists> KeyDir::ReadLists() {
  // Taken first: a change while reading is seen on the next check.
  signature_ = ListsSignature();
  AccessLists lists;
  Result<AllowList> workers = ReadAllowList(workers_path());
  if (!workers.ok()) return workers.status();
  lists.workers = std::move(workers).value();
  Result<AllowList> submitters = ReadAllowList(submitters_path());
  if (!submitters.ok()) return submitters.status();
  lists.submitters = std::move(submitters).value();
  // Optional (made on first start by newer brokers only): none is no admin.
  if (access(admins_path().c_str(), F_OK) == 0) {
    Result<AllowList> admins = ReadAllowList(admins_path());
    if (!admins.ok()) return admins.status();
    lists.admins = std::move(admins).value();
  }
  return lists;
}

}  // namespace drover::broker
