#pragma once
// The WebSocket opening handshake's key and accept values (RFC 6455 §4.1, §4.2.2), for the
// proxy's own HTTP/1.1 upgrade requests: WebSocket over HTTP/2 (RFC 8441) carries no key, so
// the proxy makes one for the backend and checks the backend's answer against it. Any thread.

#include <cstddef>
#include <string_view>

namespace sy::http {

// Length of a Sec-WebSocket-Key value (16 random bytes in base64) and of a
// Sec-WebSocket-Accept value (a SHA-1 digest in base64).
inline constexpr size_t kWebSocketKeyLength = 24;
inline constexpr size_t kWebSocketAcceptLength = 28;

// Writes a fresh random key into out[0..kWebSocketKeyLength). False when the random source
// failed (the caller refuses the request).
bool makeWebSocketKey(char* out);
// Writes the Sec-WebSocket-Accept value for `key` into out[0..kWebSocketAcceptLength).
void webSocketAccept(std::string_view key, char* out);
// Whether `accept` (surrounding whitespace ignored) is the right answer to `key`.
bool webSocketAcceptMatches(std::string_view key, std::string_view accept);

}  // namespace sy::http
