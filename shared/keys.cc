#include "shared/keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "shared/file_io.h"

namespace drover {
namespace {

// Key files are a few lines; anything much larger is not one.
constexpr size_t kMaxKeyFileBytes = 64 << 10;

constexpr std::string_view kZ85Alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// Reads a small file whole, with open's and read's errors naming it.
Result<std::string> ReadSmall(const std::string& path, struct stat* st) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot read key file " + path, errno);
  std::string text;
  Status status = Status::Ok();
  if (fstat(fd, st) != 0) {
    status = ErrnoStatus("cannot read key file " + path, errno);
  } else if (!S_ISREG(st->st_mode) || static_cast<size_t>(st->st_size) > kMaxKeyFileBytes) {
    status = Status::Error(path + " is not a key file (not a regular file of at most 64 KiB)");
  } else {
    text.resize(static_cast<size_t>(st->st_size));
    status = PreadAll(fd, text.data(), text.size(), 0, path);
  }
  close(fd);
  if (!status.ok()) return status;
  return text;
}

Status CreateParents(const std::string& path) {
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    const std::string dir = path.substr(0, slash);
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return ErrnoStatus("cannot create directory " + dir, errno);
    }
  }
  return Status::Ok();
}

// Creates `path` with `mode`, never replacing a file that exists.
Status WriteNew(const std::string& path, std::string_view text, mode_t mode) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) return Status::Error(path + " exists already; not overwriting it");
    return ErrnoStatus("cannot create " + path, errno);
  }
  // The umask may have taken bits away; never add any to a secret.
  Status status =
      fchmod(fd, mode) == 0 ? WriteAll(fd, text, path) : ErrnoStatus("chmod " + path, errno);
  if (status.ok() && fsync(fd) != 0) status = ErrnoStatus("fsync " + path, errno);
  close(fd);
  if (!status.ok()) unlink(path.c_str());
  return status;
}

}  // namespace

bool IsZ85Key(std::string_view text) {
  if (text.size() != kZ85KeyChars) return false;
  for (char c : text) {
    if (kZ85Alphabet.find(c) == std::string_view::npos) return false;
  }
  return true;
}

std::pair<std::string_view, std::string_view> SplitKeyLine(std::string_view line) {
  line = Trim(line);
  const size_t end = line.find_first_of(" \t");
  if (end == std::string_view::npos) return {line, {}};
  return {line.substr(0, end), Trim(line.substr(end))};
}

Status CurveAvailable() {
  if (zmq_has("curve")) return Status::Ok();
  int major = 0, minor = 0, patch = 0;
  zmq_version(&major, &minor, &patch);
  return Status::Error("this libzmq (" + std::to_string(major) + "." + std::to_string(minor) + "." +
                       std::to_string(patch) +
                       ") was built without CURVE security; keys need libzmq 4.3 or later "
                       "built with libsodium (Debian's libzmq5 is)");
}

Result<KeyPair> GenerateKeyPair() {
  if (Status s = CurveAvailable(); !s.ok()) return s;
  char pub[41] = {}, sec[41] = {};
  // A public key starting with '#' is valid, but reads like a comment to
  // people (and to tools less careful than ours): draw again.
  do {
    if (zmq_curve_keypair(pub, sec) != 0) return ErrnoStatus("cannot make a key pair", errno);
  } while (pub[0] == '#');
  return KeyPair{pub, sec};
}

Status WriteKeyFiles(const std::string& base, const KeyPair& keys, std::string_view comment) {
  if (Status s = CreateParents(base); !s.ok()) return s;
  const std::string secret_path = base + ".key", public_path = base + ".pub";
  // Check both first, so that a refusal leaves nothing half made.
  for (const std::string& path : {secret_path, public_path}) {
    if (access(path.c_str(), F_OK) == 0)
      return Status::Error(path + " exists already; not overwriting it");
  }
  const std::string secret_text =
      "# Drover secret key: whoever has this file can act as its owner. Keep it private\n"
      "# (mode 0600); give out only " +
      public_path.substr(public_path.rfind('/') + 1) +
      ".\n"
      "public " +
      keys.public_key + "\n" + "secret " + keys.secret_key + "\n";
  if (Status s = WriteNew(secret_path, secret_text, 0600); !s.ok()) return s;
  std::string line = keys.public_key;
  if (!comment.empty()) line += " " + std::string(comment);
  if (Status s = WriteNew(public_path, line + "\n", 0644); !s.ok()) {
    unlink(secret_path.c_str());
    return s;
  }
  return Status::Ok();
}

Result<KeyPair> ParseSecretKey(std::string_view text, const std::string& path) {
  KeyPair keys;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    const auto [word, rest] = SplitKeyLine(line);
    if (word.empty() || word.front() == '#') continue;
    const std::string where = path + ":" + std::to_string(line_no);
    if (word != "public" && word != "secret") {
      return Status::Error(where + ": expected \"public KEY\" or \"secret KEY\", found \"" +
                           std::string(word.substr(0, 40)) + "\"");
    }
    if (!IsZ85Key(rest)) {
      return Status::Error(where + ": the " + std::string(word) +
                           " key must be 40 characters of Z85");
    }
    (word == "public" ? keys.public_key : keys.secret_key) = std::string(rest);
  }
  if (keys.secret_key.empty())
    return Status::Error(path + ": no \"secret KEY\" line (is this a .pub file?)");
  char derived[41] = {};
  if (zmq_curve_public(derived, keys.secret_key.c_str()) != 0) {
    return Status::Error(path + ": cannot derive the public key (" + CurveAvailable().message() +
                         ")");
  }
  if (!keys.public_key.empty() && keys.public_key != derived) {
    return Status::Error(path + ": the public key does not belong to the secret key");
  }
  keys.public_key = derived;
  return keys;
}

Result<KeyPair> ReadSecretKeyFile(const std::string& path) {
  struct stat st {};
  Result<std::string> text = ReadSmall(path, &st);
  if (!text.ok()) return text.status();
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::Error("secret key " + path + " has mode " + mode +
                         ": others may read it; chmod 600 it (and consider it exposed)");
  }
  return ParseSecretKey(text.value(), path);
}

Result<std::string> ReadPublicKeyFile(const std::string& path) {
  struct stat st {};
  Result<std::string> text = ReadSmall(path, &st);
  if (!text.ok()) return text.status();
  std::string_view rest = text.value();
  size_t line_no = 0;
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    ++line_no;
    const auto [word, comment] = SplitKeyLine(line);
    // '#' is a Z85 digit too: a whole key is a key, anything else a comment.
    if (word.empty() || (word.front() == '#' && !IsZ85Key(word))) continue;
    if (word == "public" || word == "secret") {
      return Status::Error(path + " is a secret key file; give the public key (the .pub file)");
    }
    if (!IsZ85Key(word)) {
      return Status::Error(path + ":" + std::to_string(line_no) +
                           ": expected a public key (40 characters of Z85)");
    }
    return std::string(word);
  }
  return Status::Error(path + ": no public key in it");
}

Result<std::optional<ClientKeys>> LoadClientKeys(const std::string& key_file,
                                                 const std::string& broker_key_file) {
  if (key_file.empty() && broker_key_file.empty()) return std::optional<ClientKeys>();
  if (key_file.empty() || broker_key_file.empty()) {
    return Status::Error(std::string("keys need both --key (this client's secret key) and "
                                     "--broker-key (the broker's public key); only ") +
                         (key_file.empty() ? "--broker-key" : "--key") + " was given");
  }
  if (Status s = CurveAvailable(); !s.ok()) return s;
  Result<KeyPair> own = ReadSecretKeyFile(key_file);
  if (!own.ok()) return own.status();
  Result<std::string> broker = ReadPublicKeyFile(broker_key_file);
  if (!broker.ok()) return broker.status();
  return std::optional<ClientKeys>(
      ClientKeys{own->public_key, own->secret_key, std::move(broker).value()});
}

std::string DefaultKeyComment() {
  const char* user = std::getenv("USER");
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(user && *user ? user : "user") + "@" + host;
}

}  // namespace drover
