// Http1Connection as the transport of an HTTP/2 connection: choosing HTTP/2 (ALPN h2, or the
// cleartext preface on an h2c listener) and carrying the codec's bytes and deadlines.
#include <cstring>

#include "switchyard/common/log.h"
#include "switchyard/proxy/http1_connection.h"
#include "switchyard/proxy/http2_connection.h"
#include "switchyard/server/worker.h"

namespace sy::proxy {
namespace {

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

}  // namespace

const config::ClientTimeouts& Http1Connection::listenerTimeouts() const {
  const config::Config& cfg = *w_.view()->snap->config;
  if (listener_.routeIndex >= 0 && static_cast<size_t>(listener_.routeIndex) < cfg.listeners.size())
    return cfg.listeners[listener_.routeIndex].timeouts;
  return cfg.timeouts;
}

bool Http1Connection::checkPreface() {
  firstBytes_ = false;
  const config::Config& cfg = *w_.view()->snap->config;
  if (listener_.routeIndex < 0 || static_cast<size_t>(listener_.routeIndex) >= cfg.listeners.size() ||
      !(cfg.listeners[listener_.routeIndex].protocols & config::kProtoH2c))
    return false;
  const size_t n = std::min<size_t>(in_.unparsed(), kPreface.size());
  if (std::memcmp(in_.at(in_.parsed), kPreface.data(), n) != 0) return false;  // HTTP/1.1
  if (n < kPreface.size()) {
    firstBytes_ = true;  // a prefix of the preface so far: wait for the rest
    return true;
  }
  startHttp2();
  return true;
}

void Http1Connection::startHttp2() {
  // The exchange borrowed for the first bytes was never a request.
  if (ex_) releaseExchange();
  const config::Config& cfg = *w_.view()->snap->config;
  config::Http2Settings settings;
  if (listener_.routeIndex >= 0 && static_cast<size_t>(listener_.routeIndex) < cfg.listeners.size())
    settings = cfg.listeners[listener_.routeIndex].http2;
  h2_ = std::make_unique<Http2Connection>(*this);
  phase_ = Phase::kHttp2;
  if (!h2_->start(settings, static_cast<uint32_t>(cfg.limits.maxHeaderBytes))) {
    LOG_WARN("client %s: cannot start HTTP/2 (out of memory)", client_.ip);
    abort();
    return;
  }
  h2Input();
}

void Http1Connection::h2Input() {
  if (in_.unparsed() > 0 && !h2_->onInput(in_) && phase_ == Phase::kHttp2) {
    h2_->abandon();
    closeAfterWrites();
    return;
  }
  in_.releaseIfEmpty(nullptr);
  if (phase_ == Phase::kHttp2) armH2Deadline();
}

void Http1Connection::configAdopted() {
  if (phase_ == Phase::kHttp2) h2_->checkListener();
}

void Http1Connection::armH2Deadline() {
  clientDeadline_ = 0;
  if (uint64_t d = h2_->deadline()) setClientDeadline(d);
}

}  // namespace sy::proxy
