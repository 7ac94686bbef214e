#pragma once
// The transport of one libuv stream: plain bytes, or TLS (a TlsStream over memory BIOs). The one
// implementation under client connections, upstream connections and health probes.
//
// The transport does not own the socket, read or write it: its owner keeps the libuv handle, the
// read buffers (InputBuffer::prepare and friends) and the write accounting, and sends what
// seal()/output() return through net::writeBatch, so write-queue sizes keep measuring
// backpressure and the syscalls stay those of plain TCP. It turns received bytes into plaintext
// and plaintext batches into bytes for the socket:
//
//   alloc callback:  secure() ? cipherBuffer() : <the owner's plaintext buffer>
//   read callback:   plain (or n <= 0): the bytes are the plaintext, as libuv gave them;
//                    TLS and n > 0: receive(p, n), then read() into the owner's buffers until
//                    it returns 0 (or the owner stops), then send output().
//   writing:         batch = seal(batch); nullptr = TLS failure (error()); else send it.
//
// The plain path costs one branch per call (the inline checks below). On the TLS path steady
// state allocates nothing: ciphertext goes through the thread-local cipherBuffer(), through
// OpenSSL's BIOs and into blocks and batches from the owner's pools.
//
// One connection, one thread (the loop the stream runs on).

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <uv.h>

#include "switchyard/net/buffer.h"
#include "switchyard/net/tls.h"

namespace sy::net {

class StreamTransport {
 public:
  // What receive() did with the bytes.
  enum class Received : uint8_t {
    kFailed,     // the handshake failed (error()): send output() (the alert), then close
    kPending,    // the handshake goes on: nothing to read(); send output()
    kConnected,  // the handshake completed with these bytes: read() the plaintext that follows
    kData,       // established earlier: read() the plaintext
  };

  StreamTransport() = default;  // plain until accept() or connect()
  StreamTransport(const StreamTransport&) = delete;
  StreamTransport& operator=(const StreamTransport&) = delete;

  // Server side of TLS (a listener with tls:); the handshake runs as ciphertext arrives.
  // `writes`/`blocks` (the owner's pools, which outlive the transport) carry the ciphertext.
  // False when OpenSSL could not set up the connection (out of memory); it stays plain.
  bool accept(std::shared_ptr<const TlsServerContext> ctx, WritePool* writes, BlockPool* blocks);
  // Client side of TLS (pools[].tls): SNI and certificate name are the context's sni, else
  // `host` (an IP address is verified as such and sent without SNI). Starts the handshake: the
  // ClientHello is in output(). 0, UV_ENOMEM (no TLS: the transport stays plain) or UV_EPROTO
  // (the handshake failed at once: error()).
  // `alpn` (wire format), when not empty, replaces the context's ALPN offer (a gRPC health
  // check offers "h2" only).
  int connect(std::shared_ptr<const TlsClientContext> ctx, const std::string& host,
              WritePool* writes, BlockPool* blocks, std::string_view alpn = {});

  bool secure() const { return tls_ != nullptr; }
  // Plain: always. TLS: the first handshake has completed.
  bool established() const { return !tls_ || connected_; }
  // ALPN's choice ("h2", "http/1.1"); empty when plain or none.
  std::string_view alpn() const { return tls_ ? tls_->alpn() : std::string_view(); }
  // Why the last TLS failure happened (verification or OpenSSL error), for logs.
  const std::string& error() const;

  // Where a socket read of ciphertext goes (thread-local; receive() consumes it at once).
  static uv_buf_t cipherBuffer() { return TlsStream::readBuffer(); }
  // TLS: takes n > 0 bytes read from the socket; advances the handshake until it completes.
  Received receive(const char* p, size_t n);
  // TLS: plaintext into [buf, buf+cap): bytes (> 0), 0 (nothing until more arrives), UV_EOF
  // (the peer sent close_notify) or UV_EPROTO (error()). Takes one call per buffer-full: read
  // until 0 so that no plaintext waits inside OpenSSL for a socket read that may never come.
  ssize_t read(char* buf, size_t cap);

  // Plaintext `batch` (from the owner's write pool) -> the batch to send. Plain: `batch` itself.
  // TLS: encrypts it (small buffers coalesced into records), releases it (its blocks are free
  // again) and returns the ciphertext (empty only when `batch` was); nullptr when encryption
  // failed (error()).
  WriteBatch* seal(WriteBatch* batch) { return tls_ ? sealTls(batch) : batch; }
  // What TLS produced by itself (handshake, alerts, session tickets, close_notify) as a batch
  // to send, or nullptr when there is nothing (always when plain).
  WriteBatch* output() { return tls_ && tls_->pending() ? drainTls() : nullptr; }
  // Queues close_notify (sent only if the handshake completed; then in output()). True the
  // first time on a TLS transport, false otherwise.
  bool closeNotify() { return tls_ && !closeNotify_ && queueCloseNotify(); }

 private:
  bool queueCloseNotify();
  WriteBatch* sealTls(WriteBatch* batch);
  WriteBatch* drainTls();

  std::unique_ptr<TlsStream> tls_;
  WritePool* writes_ = nullptr;
  BlockPool* blocks_ = nullptr;
  bool connected_ = false;  // the first handshake completed
  bool closeNotify_ = false;
};

}  // namespace sy::net
