// CurveZMQ keys as files: what `submit keygen` writes and what the broker,
// workers and submit read (docs/security.md).
//
// A key is 32 bytes, always written as 40 characters of Z85 (the encoding
// ZeroMQ's own tools use). A key pair is two files side by side:
//
//   NAME.key  (mode 0600)            NAME.pub  (mode 0644)
//   # Drover secret key: ...         <public-key> [comment]
//   public <public-key>
//   secret <secret-key>
//
// NAME.pub is one allow-list line, so adding a worker or a user is appending
// their .pub to the broker's list. A secret key file that others may read
// is refused, as OpenSSH refuses one: the key is as good as published.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "shared/status.h"

namespace drover {

inline constexpr size_t kZ85KeyChars = 40;

struct KeyPair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;  // Z85, 40 characters
};

// Whether `text` is a 40-character Z85 key (the alphabet only; any 32 bytes
// are a valid key).
bool IsZ85Key(std::string_view text);

// A line of a key file or an allow-list split into its first word (the key)
// and the rest (a comment), both without surrounding blanks; a blank line
// gives two empty views.
std::pair<std::string_view, std::string_view> SplitKeyLine(std::string_view line);

// A clear error where this libzmq cannot do CURVE (built without libsodium
// or tweetnacl); ok otherwise.
Status CurveAvailable();

// A new random key pair (zmq_curve_keypair).
Result<KeyPair> GenerateKeyPair();

// Writes `base`.key (0600) and `base`.pub (0644, "<public> <comment>").
// Refuses to overwrite either; creates missing parent directories (0700).
Status WriteKeyFiles(const std::string& base, const KeyPair& keys, std::string_view comment);

// Parses a secret key file's text (pure). Errors name `path` and the line.
// The public key is derived from the secret one and must match it if given.
Result<KeyPair> ParseSecretKey(std::string_view text, const std::string& path);
// Reads a secret key file, refusing one that group or others may read.
Result<KeyPair> ReadSecretKeyFile(const std::string& path);

// Reads a public key: the first key of a .pub file (or of any allow-list
// line). Errors name the file and line.
Result<std::string> ReadPublicKeyFile(const std::string& path);

// A client's CURVE keys (Z85): its own pair and the broker's public key.
struct ClientKeys {
  std::string public_key;
  std::string secret_key;
  std::string server_key;
};

// A client's keys from its secret key file and the broker's public key
// file (worker and submit: --key, --broker-key). Both or neither: with
// neither, no keys (nullopt); with one, an error saying so.
Result<std::optional<ClientKeys>> LoadClientKeys(const std::string& key_file,
                                                 const std::string& broker_key_file);

// "user@host", the comment keygen puts in a .pub file unless told.
std::string DefaultKeyComment();

}  // namespace drover
