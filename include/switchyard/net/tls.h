#pragma once
// TLS with OpenSSL over memory BIOs, driven by the libuv streams: the loop never blocks and the
// buffer, write-batch and backpressure logic stays the same as for plain TCP.
//
// Why memory BIOs rather than OpenSSL on the socket fd: libuv owns the fd (epoll, uv_try_write,
// write queues); a memory BIO lets the same read callbacks and WriteBatch writes carry the
// ciphertext, so write-queue sizes keep measuring backpressure. Cost: ciphertext is copied into
// the read BIO and out of the write BIO (the plaintext copy into the session's InputBuffer is
// the one OpenSSL makes anyway).
//
// Contexts (TlsServerContext, TlsClientContext) are built on the main thread with a snapshot and
// then shared read-only by the workers (SSL_CTX is safe for SSL_new from several threads).
// A TlsStream belongs to one connection on one worker thread. Connections do not drive it
// themselves: net::StreamTransport (stream_transport.h) does, for all of them.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <openssl/ssl.h>
#include <sys/types.h>
#include <uv.h>

#include "switchyard/net/buffer.h"

namespace sy::config {
struct ListenerTls;
struct PoolTls;
}  // namespace sy::config

namespace sy::net {

// Loader checks (main thread): "" when the PEM files are readable, parse, and the key matches
// the certificate; else a message for the user.
std::string checkCertificateFiles(const std::string& certPath, const std::string& keyPath);
// "" when `path` is a readable PEM bundle holding at least one certificate.
std::string checkCaFile(const std::string& path);

// DNS names a certificate answers for: its SAN dNSName entries, else its subject CN. Lowercase.
std::vector<std::string> certificateNames(X509* cert);
// Exact (case-insensitive) or one-label wildcard ("*.example.com") match.
bool hostMatches(const std::string& pattern, const std::string& host);
// The certificate's notAfter as unix seconds (0 if it cannot be read).
int64_t certificateNotAfter(const X509* cert);
// The oldest OpenSSL error queued on this thread as text (clears the queue).
std::string takeSslError();

// One certificate of a listener: its own context (the certificate, its key and the listener's
// settings), the names it answers for and when it expires.
struct ServerCertificate {
  std::shared_ptr<SSL_CTX> ctx;
  std::vector<std::string> names;
  int64_t notAfter = 0;  // the leaf's notAfter, unix seconds
};
using ServerCertificates = std::vector<ServerCertificate>;

// One TLS listener's server side: a context per certificate; the first is the default and the
// SNI callback switches a handshake to the certificate naming the host.
//
// Certificates can be replaced while the context is shared by the workers (tls_context.cc):
// the set in use is an atomic shared_ptr that a handshake loads once when it starts (newSsl)
// and once in the SNI callback; reloadCertificate() builds a new set on the main thread and
// swaps it in. Handshakes already under way keep the SSL_CTX they hold a reference to.
class TlsServerContext {
 public:
  // ALPN offers what the listener speaks: h2 (first) and/or http/1.1.
  static std::shared_ptr<TlsServerContext> create(const config::ListenerTls& cfg,
                                                  std::string* err, bool h1 = true,
                                                  bool h2 = false);
  // A new server-side SSL on the current default certificate; nullptr without memory.
  // Any thread.
  SSL* newSsl() const;
  // Index of the certificate chosen for `host` (exact names first, then wildcards; 0 = default).
  size_t select(const std::string& host) const;
  // The set in use now. Any thread.
  std::shared_ptr<const ServerCertificates> certificates() const { return certs_.load(); }
  size_t certificateCount() const { return paths_.size(); }
  const std::string& certPath(size_t i) const { return paths_[i].first; }
  const std::string& keyPath(size_t i) const { return paths_[i].second; }
  // Reads certificate `i`'s files again; when they make a valid pair, new handshakes use it.
  // Returns "" or why not (then the certificate in use stays). Main thread. Const because
  // the snapshot holding the context is immutable except for this atomic swap.
  std::string reloadCertificate(size_t i) const;

 private:
  TlsServerContext() = default;
  std::expected<ServerCertificate, std::string> build(size_t i) const;
  mutable std::atomic<std::shared_ptr<const ServerCertificates>> certs_;
  std::vector<std::pair<std::string, std::string>> paths_;  // cert, key
  int minVersion_ = 0;
  const void* alpn_ = nullptr;
};

// A pool's client side (pools[].tls). Its files (CA bundle, client certificate and key) can be
// reloaded like a listener's certificates: reload() swaps the SSL_CTX new connections use.
class TlsClientContext {
 public:
  // `h2`: ALPN offers h2 only (pools[].protocol h2); otherwise http/1.1.
  static std::shared_ptr<TlsClientContext> create(const config::PoolTls& cfg, std::string* err,
                                                  bool h2 = false);
  // The context in use now (a connection keeps it through SSL_new's reference). Any thread.
  std::shared_ptr<SSL_CTX> ctx() const { return ctx_.load(); }
  const std::string& sni() const { return sni_; }
  bool verify() const { return verify_; }
  // Files the context is built from: the CA bundle (when verifying against one), the client
  // certificate and key (when set).
  std::vector<std::string> files() const;
  const std::string& certPath() const { return certPath_; }
  // The client certificate's notAfter (unix seconds); 0 without a client certificate.
  int64_t certificateNotAfter() const { return notAfter_.load(std::memory_order_relaxed); }
  // Rebuilds the context from the files; "" or why not (the context in use stays). Main thread.
  std::string reload() const;

 private:
  TlsClientContext() = default;
  std::expected<std::shared_ptr<SSL_CTX>, std::string> build(int64_t* notAfter) const;
  mutable std::atomic<std::shared_ptr<SSL_CTX>> ctx_;
  mutable std::atomic<int64_t> notAfter_{0};
  std::string sni_;
  bool verify_ = true;
  bool h2_ = false;
  std::string ca_, certPath_, keyPath_;
};

// One TLS connection's state. Feed it the ciphertext read from the socket, read plaintext out,
// write plaintext in, and drain the ciphertext it produces into write batches.
class TlsStream {
 public:
  static constexpr ssize_t kWant = 0;    // read(): no plaintext until more ciphertext arrives
  static constexpr ssize_t kEof = -1;    // read(): the peer sent close_notify
  static constexpr ssize_t kError = -2;  // read(): protocol or verification error (see error())

  // Server side (accept state); holds the context alive for the connection's lifetime.
  explicit TlsStream(std::shared_ptr<const TlsServerContext> server);
  // Client side (connect state): sends SNI `sni` (if not empty) and, when the context verifies,
  // checks the peer certificate against `verifyName` (a host name or an IP address).
  TlsStream(std::shared_ptr<const TlsClientContext> client, const std::string& sni,
            const std::string& verifyName);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  bool valid() const { return ssl_ != nullptr; }
  bool established() const { return SSL_is_init_finished(ssl_) != 0; }
  // Client side, before the handshake starts: offer these ALPN protocols (wire format: length-
  // prefixed names) instead of the context's. False on error.
  bool offerAlpn(std::string_view wire) {
    return SSL_set_alpn_protos(ssl_, reinterpret_cast<const unsigned char*>(wire.data()),
                               static_cast<unsigned>(wire.size())) == 0;
  }
  // The protocol ALPN selected ("h2", "http/1.1"), empty if none.
  std::string_view alpn() const;
  // Appends ciphertext read from the socket.
  void feed(const char* p, size_t n);
  // Advances the handshake (either side). 1 = done, 0 = waiting for the peer, -1 = failed.
  int handshake();
  // Plaintext into [buf, buf+cap): bytes (>0), kWant, kEof or kError. Performs the server
  // handshake implicitly.
  ssize_t read(char* buf, size_t cap);
  // Encrypts the buffers (small ones are coalesced into one record). False on error.
  bool write(const uv_buf_t* bufs, unsigned n);
  // Queues a close_notify alert.
  void shutdown();
  // Moves pending ciphertext into `batch` as references to blocks from `pool`; returns bytes.
  size_t drain(WriteBatch* batch, BlockPool& pool);
  // Ciphertext bytes waiting to be drained.
  size_t pending() const { return BIO_ctrl_pending(wbio_); }
  // What went wrong, for logs: the verification error or the OpenSSL error string.
  const std::string& error() const { return error_; }

  // A thread-local buffer for socket reads of ciphertext (fed right away in the read callback).
  static uv_buf_t readBuffer();

 private:
  void noteError(int sslErr);
  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;
  BIO* wbio_ = nullptr;
  std::shared_ptr<const void> keep_;
  std::string error_;
};

}  // namespace sy::net
