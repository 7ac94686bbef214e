// Http1Connection on a `proxy_protocol: true` listener: the PROXY protocol header (v1 or v2)
// that a load balancer sends before the client's bytes, read before TLS and before the HTTP/2
// preface check. Its source address becomes the connection's client address (ClientInfo).
// A connection whose first bytes are not a valid header is closed; one that sends nothing
// is closed after timeouts.client_header (the deadline set in start()).
#include <cstring>

#include "switchyard/common/log.h"
#include "switchyard/net/proxy_protocol.h"
#include "switchyard/net/socket.h"
#include "switchyard/proxy/http1_connection.h"
#include "switchyard/server/worker.h"

namespace sy::proxy {

bool Http1Connection::expectsProxyHeader() const {
  const config::Config& cfg = *w_.view()->snap->config;
  return listener_.routeIndex >= 0 &&
         static_cast<size_t>(listener_.routeIndex) < cfg.listeners.size() &&
         cfg.listeners[listener_.routeIndex].proxyProtocol;
}

bool Http1Connection::readProxyHeader() {
  // The header is at most net::kProxyMaxHeaderBytes: the input block (32 KiB) always has room
  // for it, so a header that does not complete there is refused by the parser first.
  const net::ProxyHeader h = net::parseProxyHeader(in_.at(in_.parsed), in_.unparsed());
  if (h.status == net::ProxyHeader::Status::kNeedMore) return false;
  if (h.status == net::ProxyHeader::Status::kInvalid) {
    LOG_DEBUG("client %s: no valid PROXY protocol header (%s): closing", client_.ip, h.error);
    abort();
    return false;
  }
  in_.parsed += static_cast<uint32_t>(h.consumed);
  awaitingProxyHeader_ = false;
  if (h.hasAddress) {
    std::memcpy(&client_.peer, &h.source, sizeof client_.peer);
    net::formatIp(&client_.peer.sa, client_.ip, sizeof client_.ip);
  }
  setClientDeadline(uv_now(w_.loop()) + timeouts().clientIdle.count());
  if (!startTls()) return false;
  if (!transport_.secure()) return in_.unparsed() > 0;
  // TLS: the bytes after the header are the start of the handshake. They go to OpenSSL through
  // the cipher buffer, as a socket read would bring them.
  const uint32_t rest = in_.unparsed();
  const uv_buf_t buf = net::StreamTransport::cipherBuffer();
  if (rest > buf.len) {
    abort();
    return false;
  }
  if (rest > 0) std::memcpy(buf.base, in_.at(in_.parsed), rest);
  in_.release();
  if (rest > 0) onClientCipher(buf.base, rest);
  return false;
}

}  // namespace sy::proxy
