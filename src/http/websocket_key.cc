#include "switchyard/http/websocket_key.h"

#include <algorithm>
#include <cstring>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "switchyard/http/parser.h"

namespace sy::http {
namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

}  // namespace

bool makeWebSocketKey(char* out) {
  unsigned char nonce[16];
  if (RAND_bytes(nonce, sizeof nonce) != 1) return false;
  unsigned char text[kWebSocketKeyLength + 1];  // EVP_EncodeBlock adds a NUL
  EVP_EncodeBlock(text, nonce, sizeof nonce);
  std::memcpy(out, text, kWebSocketKeyLength);
  return true;
}

void webSocketAccept(std::string_view key, char* out) {
  // The keys hashed here are the proxy's own (kWebSocketKeyLength); a longer one is cut, which
  // only makes a wrong answer that cannot match.
  char input[64 + kGuid.size()];
  const size_t k = std::min<size_t>(key.size(), 64);
  std::memcpy(input, key.data(), k);
  std::memcpy(input + k, kGuid.data(), kGuid.size());
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdLen = 0;
  EVP_Digest(input, k + kGuid.size(), md, &mdLen, EVP_sha1(), nullptr);
  unsigned char text[kWebSocketAcceptLength + 1];
  EVP_EncodeBlock(text, md, static_cast<int>(mdLen));
  std::memcpy(out, text, kWebSocketAcceptLength);
}

bool webSocketAcceptMatches(std::string_view key, std::string_view accept) {
  char want[kWebSocketAcceptLength];
  webSocketAccept(key, want);
  accept = trimOws(accept);
  return accept.size() == kWebSocketAcceptLength &&
         std::memcmp(accept.data(), want, kWebSocketAcceptLength) == 0;
}

}  // namespace sy::http
