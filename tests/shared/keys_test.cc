#include "shared/keys.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "shared/handshake_watch.h"

namespace drover {
namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/drover-keys-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

void Write(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  chmod(path.c_str(), mode);
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("IsZ85Key takes 40 characters of Z85's alphabet only") {
  CHECK(IsZ85Key("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"));
  CHECK(IsZ85Key("#q:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"));         // '#' is a Z85 digit
  CHECK_FALSE(IsZ85Key("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf"));    // 39
  CHECK_FALSE(IsZ85Key("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf77"));  // 41
  CHECK_FALSE(IsZ85Key("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf\""));  // '"' is not
  CHECK_FALSE(IsZ85Key("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]y f7"));
}

TEST_CASE("keygen's files: a 0600 secret that reads back, a 0644 public key, no overwriting") {
  TempDir dir;
  Result<KeyPair> keys = GenerateKeyPair();
  REQUIRE(keys.ok());
  CHECK(IsZ85Key(keys->public_key));
  CHECK(IsZ85Key(keys->secret_key));
  CHECK(keys->public_key[0] != '#');
  const std::string base = dir.path + "/sub/dir/alice";  // parents are made
  REQUIRE(WriteKeyFiles(base, keys.value(), "alice@laptop").ok());
  CHECK(ModeOf(base + ".key") == 0600);
  CHECK(ModeOf(base + ".pub") == 0644);
  CHECK(ModeOf(dir.path + "/sub") == 0700);

  Result<KeyPair> back = ReadSecretKeyFile(base + ".key");
  REQUIRE(back.ok());
  CHECK(back->secret_key == keys->secret_key);
  CHECK(back->public_key == keys->public_key);
  Result<std::string> pub = ReadPublicKeyFile(base + ".pub");
  REQUIRE(pub.ok());
  CHECK(pub.value() == keys->public_key);

  Result<KeyPair> other = GenerateKeyPair();
  REQUIRE(other.ok());
  const Status again = WriteKeyFiles(base, other.value(), "");
  REQUIRE_FALSE(again.ok());
  CHECK(again.message().find("exists already") != std::string::npos);
  CHECK(ReadSecretKeyFile(base + ".key")->secret_key == keys->secret_key);  // untouched
}

TEST_CASE("a secret key file others may read is refused, naming its mode") {
  TempDir dir;
  Result<KeyPair> keys = GenerateKeyPair();
  REQUIRE(keys.ok());
  REQUIRE(WriteKeyFiles(dir.path + "/k", keys.value(), "").ok());
  chmod((dir.path + "/k.key").c_str(), 0644);
  Result<KeyPair> read = ReadSecretKeyFile(dir.path + "/k.key");
  REQUIRE_FALSE(read.ok());
  CHECK(read.status().message().find("mode 0644") != std::string::npos);
}

TEST_CASE("ParseSecretKey names the file and line of what is wrong") {
  Result<KeyPair> keys = GenerateKeyPair();
  REQUIRE(keys.ok());
  CHECK(ParseSecretKey("# c\nsecret " + keys->secret_key + "\n", "k").ok());
  // The public key is derived; a wrong one given beside it is an error.
  Result<KeyPair> other = GenerateKeyPair();
  REQUIRE(other.ok());
  Result<KeyPair> mismatched =
      ParseSecretKey("public " + other->public_key + "\nsecret " + keys->secret_key + "\n", "k");
  REQUIRE_FALSE(mismatched.ok());
  CHECK(mismatched.status().message() == "k: the public key does not belong to the secret key");
  Result<KeyPair> short_key = ParseSecretKey("\n\nsecret abc\n", "f.key");
  REQUIRE_FALSE(short_key.ok());
  CHECK(short_key.status().message() == "f.key:3: the secret key must be 40 characters of Z85");
  Result<KeyPair> unknown = ParseSecretKey("private x\n", "f.key");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().message().starts_with("f.key:1: expected"));
  Result<KeyPair> pub_only = ParseSecretKey(keys->public_key + " me\n", "f.pub");
  REQUIRE_FALSE(pub_only.ok());
}

TEST_CASE("ReadPublicKeyFile takes a .pub file, refuses a secret key file") {
  TempDir dir;
  Result<KeyPair> keys = GenerateKeyPair();
  REQUIRE(keys.ok());
  REQUIRE(WriteKeyFiles(dir.path + "/b", keys.value(), "broker").ok());
  Result<std::string> secret = ReadPublicKeyFile(dir.path + "/b.key");
  REQUIRE_FALSE(secret.ok());
  CHECK(secret.status().message().find("is a secret key file") != std::string::npos);
  Write(dir.path + "/bad.pub", "# a comment\nnot-a-key at all\n", 0644);
  Result<std::string> bad = ReadPublicKeyFile(dir.path + "/bad.pub");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message() ==
        dir.path + "/bad.pub:2: expected a public key (40 characters of Z85)");
  Result<std::string> missing = ReadPublicKeyFile(dir.path + "/none.pub");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find("none.pub") != std::string::npos);
}

TEST_CASE("LoadClientKeys: both files or neither") {
  TempDir dir;
  Result<KeyPair> keys = GenerateKeyPair();
  REQUIRE(keys.ok());
  REQUIRE(WriteKeyFiles(dir.path + "/w", keys.value(), "").ok());
  Result<KeyPair> broker = GenerateKeyPair();
  REQUIRE(broker.ok());
  REQUIRE(WriteKeyFiles(dir.path + "/b", broker.value(), "").ok());

  auto none = LoadClientKeys("", "");
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
  auto half = LoadClientKeys(dir.path + "/w.key", "");
  REQUIRE_FALSE(half.ok());
  CHECK(half.status().message().find("only --key was given") != std::string::npos);
  auto both = LoadClientKeys(dir.path + "/w.key", dir.path + "/b.pub");
  REQUIRE(both.ok());
  REQUIRE(both->has_value());
  CHECK((*both)->public_key == keys->public_key);
  CHECK((*both)->secret_key == keys->secret_key);
  CHECK((*both)->server_key == broker->public_key);
}

TEST_CASE("HandshakeFailure tells a refused key from a missing one and a wrong broker key") {
  CHECK(HandshakeFailure(ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 400, true)
            .starts_with("the broker refused this key"));
  CHECK(HandshakeFailure(ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                         ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH, false)
            .starts_with("the broker uses keys"));
  CHECK(HandshakeFailure(ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                         ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH, true)
            .starts_with("the broker does not use keys"));
  CHECK(HandshakeFailure(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, 0, true).find("--broker-key") !=
        std::string::npos);
  CHECK(HandshakeFailure(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, EPIPE, false)
            .find("give this client --key and --broker-key") != std::string::npos);
  CHECK(HandshakeFailure(ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 0, true).empty());
  CHECK(HandshakeFailure(ZMQ_EVENT_DISCONNECTED, 0, true).empty());
}

}  // namespace drover
