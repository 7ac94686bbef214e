#include "switchyard/net/stream_transport.h"

namespace sy::net {

bool StreamTransport::accept(std::shared_ptr<const TlsServerContext> ctx, WritePool* writes,
                             BlockPool* blocks) {
  auto tls = std::make_unique<TlsStream>(std::move(ctx));
  if (!tls->valid()) return false;
  tls_ = std::move(tls);
  writes_ = writes;
  blocks_ = blocks;
  return true;
}

int StreamTransport::connect(std::shared_ptr<const TlsClientContext> ctx, const std::string& host,
                             WritePool* writes, BlockPool* blocks, std::string_view alpn) {
  const std::string& name = ctx->sni().empty() ? host : ctx->sni();
  auto tls = std::make_unique<TlsStream>(ctx, name, name);
  if (!tls->valid() || (!alpn.empty() && !tls->offerAlpn(alpn))) return UV_ENOMEM;
  tls_ = std::move(tls);
  writes_ = writes;
  blocks_ = blocks;
  return tls_->handshake() < 0 ? UV_EPROTO : 0;
}

const std::string& StreamTransport::error() const {
  static const std::string kNone;
  return tls_ ? tls_->error() : kNone;
}

StreamTransport::Received StreamTransport::receive(const char* p, size_t n) {
  tls_->feed(p, n);
  if (connected_) return Received::kData;
  // The first handshake is driven explicitly (both sides) so that its end is an event the owner
  // sees once: a client connection arms its idle deadline, an upstream connection reports
  // onUpstreamConnect(0), a probe sends its request. Later handshake messages (TLS 1.2
  // renegotiation, TLS 1.3 tickets and key updates) are handled inside read().
  switch (tls_->handshake()) {
    case 1:
      connected_ = true;
      return Received::kConnected;
    case 0:
      return Received::kPending;
    default:
      return Received::kFailed;
  }
}

ssize_t StreamTransport::read(char* buf, size_t cap) {
  ssize_t r = tls_->read(buf, cap);
  if (r >= 0) return r;  // bytes, or TlsStream::kWant (0)
  return r == TlsStream::kEof ? static_cast<ssize_t>(UV_EOF) : static_cast<ssize_t>(UV_EPROTO);
}

WriteBatch* StreamTransport::sealTls(WriteBatch* batch) {
  batch->finalize();
  const bool ok = tls_->write(batch->pendingBufs(), batch->pendingCount());
  writes_->release(batch);  // the plaintext blocks are free again
  if (!ok) return nullptr;
  WriteBatch* out = writes_->acquire();
  tls_->drain(out, *blocks_);
  return out;
}

WriteBatch* StreamTransport::drainTls() {
  WriteBatch* out = writes_->acquire();
  tls_->drain(out, *blocks_);
  return out;
}

bool StreamTransport::queueCloseNotify() {
  closeNotify_ = true;
  tls_->shutdown();
  return true;
}

}  // namespace sy::net
