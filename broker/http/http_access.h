// Who may read the dashboard (`broker --http`, docs/dashboard.md): where it
// listens and the read-only token it asks for. Pure: parsing and policy.
//
// The dashboard shows every job's steps, output tails and owners, so it
// is loopback-only unless the broker has keys on and a token is given:
// beyond this machine, every request must carry the token (`Authorization:
// Bearer TOKEN`, or `?token=TOKEN` for a browser's first visit). With keys
// on it needs the token on loopback too: keys mean people who may see only
// their own jobs (docs/security.md), and the dashboard shows everyone's,
// as an admin would see them. The token reads; nothing on the HTTP side
// can change anything.
#pragma once

#include <string>
#include <string_view>

#include "shared/status.h"

namespace drover::broker::http {

struct HttpAddress {
  std::string host;  // as bind(2) takes it: "127.0.0.1", "::1", "0.0.0.0"
  int port = 0;      // 0: any free port
  bool loopback = false;
  std::string text;  // as given, for messages: "127.0.0.1:7780"
};

// "HOST:PORT", "[V6]:PORT" or ":PORT" (loopback). An error names the value
// and what is wrong with it.
Result<HttpAddress> ParseHttpAddress(std::string_view text);

// Why the broker must not serve the dashboard at `address` with these
// settings, for the user (naming the flags that would allow it); "" if it
// may.
std::string HttpRefusal(const HttpAddress& address, bool keys_on, bool token_given);

// Whether a request's Host header names a loopback host ("127.0.0.1:7780",
// "[::1]:7780", "localhost:7780", with or without the port). Without a
// token only those are answered: a web page whose name an attacker points
// at 127.0.0.1 (DNS rebinding) still sends its own name.
bool IsLoopbackHostHeader(std::string_view host);

// The token in a token file's text: the first line, blanks around it
// trimmed. An error if there is none, or it is shorter than 16 characters
// (a guessable token would be no protection).
Result<std::string> ParseTokenFile(std::string_view text, const std::string& path);

// Whether a request that sent `authorization` (its header, or "") and
// `query_token` (its ?token=, or "") carries `token`. In constant time in
// the token's bytes, so its length is all a stranger can learn.
bool CarriesToken(std::string_view authorization, std::string_view query_token,
                  std::string_view token);

}  // namespace drover::broker::http
