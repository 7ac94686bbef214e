// TLS contexts (tls.h): how a listener's and a pool's SSL_CTX are built, and how their
// certificates are replaced while workers use them.

#include <atomic>
#include <cctype>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "switchyard/config/config.h"
#include "switchyard/net/tls.h"

namespace sy::net {
namespace {

// Mozilla "intermediate" TLS 1.2 suites: ECDHE key exchange, AEAD ciphers only. TLS 1.3 keeps
// OpenSSL's defaults (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305).
constexpr const char* kCiphers12 =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kCiphers13 =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
// Server preference lists (SSL_select_next_proto walks ours in order): h2 first when offered.
struct AlpnList {
  const unsigned char* data;
  unsigned int len;
};
constexpr unsigned char kAlpnH2Http11[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
constexpr unsigned char kAlpnH2[] = {2, 'h', '2'};
constexpr AlpnList kListHttp11{kAlpnHttp11, sizeof kAlpnHttp11};
constexpr AlpnList kListH2Http11{kAlpnH2Http11, sizeof kAlpnH2Http11};
constexpr AlpnList kListH2{kAlpnH2, sizeof kAlpnH2};

// Every server context built gets its own session id context, so a session set up under a
// certificate that was replaced since is not resumed (the client sees the new certificate).
std::atomic<uint64_t> contextGeneration{0};

std::shared_ptr<SSL_CTX> owned(SSL_CTX* ctx) { return std::shared_ptr<SSL_CTX>(ctx, SSL_CTX_free); }

std::string lowered(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Settings common to server and client contexts.
bool configureCommon(SSL_CTX* ctx, int minVersion, std::string* err) {
  if (SSL_CTX_set_min_proto_version(ctx, minVersion) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kCiphers12) != 1 ||
      SSL_CTX_set_ciphersuites(ctx, kCiphers13) != 1) {
    *err = "TLS setup failed: " + takeSslError();
    return false;
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  return true;
}

// Loads a certificate chain and its key into `ctx`; "" or a message naming the files.
std::string useKeyPair(SSL_CTX* ctx, const std::string& cert, const std::string& key) {
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1)
    return cert + " / " + key + ": " + takeSslError();
  return "";
}

int selectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void* arg) {
  const auto* list = static_cast<const AlpnList*>(arg);
  unsigned char* sel = nullptr;
  if (SSL_select_next_proto(&sel, outlen, list->data, list->len, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;  // nothing in common: go on without ALPN (HTTP/1.1)
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

size_t selectIn(const ServerCertificates& certs, const std::string& rawHost) {
  std::string host = lowered(rawHost);
  for (size_t i = 0; i < certs.size(); ++i)
    for (const std::string& n : certs[i].names)
      if (n == host) return i;
  for (size_t i = 0; i < certs.size(); ++i)
    for (const std::string& n : certs[i].names)
      if (n.starts_with("*.") && hostMatches(n, host)) return i;
  return 0;
}

// Runs on the worker doing the handshake. The set is loaded here again (it may be newer than
// the one the SSL started from); SSL_set_SSL_CTX takes its own reference to the chosen context.
int serverNameCallback(SSL* ssl, int* alert, void* arg) {
  (void)alert;
  const auto* tc = static_cast<const TlsServerContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name) return SSL_TLSEXT_ERR_OK;
  std::shared_ptr<const ServerCertificates> certs = tc->certificates();
  SSL_CTX* chosen = (*certs)[selectIn(*certs, name)].ctx.get();
  if (chosen != SSL_get_SSL_CTX(ssl))
    SSL_set_SSL_CTX(ssl, chosen);  // only the certificate changes; settings stay the default's
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Server context

std::shared_ptr<TlsServerContext> TlsServerContext::create(const config::ListenerTls& cfg,
                                                           std::string* err, bool h1, bool h2) {
  std::shared_ptr<TlsServerContext> tc(new TlsServerContext());
  tc->alpn_ = h2 ? (h1 ? &kListH2Http11 : &kListH2) : &kListHttp11;
  tc->minVersion_ = cfg.minVersion == config::TlsVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
  for (const config::TlsCertificate& c : cfg.certificates) tc->paths_.emplace_back(c.cert, c.key);
  auto certs = std::make_shared<ServerCertificates>();
  for (size_t i = 0; i < tc->paths_.size(); ++i) {
    auto built = tc->build(i);
    if (!built) {
      *err = built.error();
      return nullptr;
    }
    certs->push_back(std::move(*built));
  }
  tc->certs_.store(std::move(certs));
  return tc;
}

std::expected<ServerCertificate, std::string> TlsServerContext::build(size_t i) const {
  ERR_clear_error();
  ServerCertificate out;
  out.ctx = owned(SSL_CTX_new(TLS_server_method()));
  if (!out.ctx) return std::unexpected("TLS setup failed: " + takeSslError());
  SSL_CTX* ctx = out.ctx.get();
  std::string err;
  if (!configureCommon(ctx, minVersion_, &err)) return std::unexpected(err);
  if (std::string e = useKeyPair(ctx, paths_[i].first, paths_[i].second); !e.empty())
    return std::unexpected(e);
  X509* leaf = SSL_CTX_get0_certificate(ctx);
  out.names = certificateNames(leaf);
  out.notAfter = certificateNotAfter(leaf);
  SSL_CTX_set_alpn_select_cb(ctx, selectAlpn, const_cast<void*>(alpn_));
  // Resumption: a server-side session cache and stateless tickets (OpenSSL's per-context
  // ticket keys, so a reload, which builds new contexts, also rotates them).
  std::string sid = "switchyard-" + std::to_string(contextGeneration.fetch_add(1) + 1);
  SSL_CTX_set_session_id_context(ctx, reinterpret_cast<const unsigned char*>(sid.data()),
                                 static_cast<unsigned>(sid.size()));
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(ctx, 20000);
  // Every certificate's context carries the callback: any of them may be the default later.
  SSL_CTX_set_tlsext_servername_callback(ctx, serverNameCallback);
  SSL_CTX_set_tlsext_servername_arg(ctx, const_cast<TlsServerContext*>(this));
  return out;
}

SSL* TlsServerContext::newSsl() const {
  std::shared_ptr<const ServerCertificates> certs = certs_.load();
  return SSL_new(certs->front().ctx.get());  // the SSL holds its own reference to the SSL_CTX
}

size_t TlsServerContext::select(const std::string& host) const {
  return selectIn(*certs_.load(), host);
}

std::string TlsServerContext::reloadCertificate(size_t i) const {
  auto built = build(i);
  if (!built) return built.error();
  auto next = std::make_shared<ServerCertificates>(*certs_.load());
  (*next)[i] = std::move(*built);
  certs_.store(std::move(next));
  return "";
}

// ---------------------------------------------------------------------------------------------
// Client context

std::shared_ptr<TlsClientContext> TlsClientContext::create(const config::PoolTls& cfg,
                                                           std::string* err, bool h2) {
  std::shared_ptr<TlsClientContext> tc(new TlsClientContext());
  tc->h2_ = h2;
  tc->sni_ = cfg.sni;
  tc->verify_ = cfg.verify;
  tc->ca_ = cfg.ca;
  tc->certPath_ = cfg.cert;
  tc->keyPath_ = cfg.key;
  int64_t notAfter = 0;
  auto built = tc->build(&notAfter);
  if (!built) {
    *err = built.error();
    return nullptr;
  }
  tc->ctx_.store(std::move(*built));
  tc->notAfter_.store(notAfter, std::memory_order_relaxed);
  return tc;
}

std::expected<std::shared_ptr<SSL_CTX>, std::string> TlsClientContext::build(
    int64_t* notAfter) const {
  ERR_clear_error();
  std::shared_ptr<SSL_CTX> owner = owned(SSL_CTX_new(TLS_client_method()));
  if (!owner) return std::unexpected("TLS setup failed: " + takeSslError());
  SSL_CTX* ctx = owner.get();
  std::string err;
  if (!configureCommon(ctx, TLS1_2_VERSION, &err)) return std::unexpected(err);
  if (h2_) {
    SSL_CTX_set_alpn_protos(ctx, kAlpnH2, sizeof kAlpnH2);
  } else {
    SSL_CTX_set_alpn_protos(ctx, kAlpnHttp11, sizeof kAlpnHttp11);
  }
  if (verify_) {
    int ok = ca_.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                         : SSL_CTX_load_verify_locations(ctx, ca_.c_str(), nullptr);
    if (ok != 1)
      return std::unexpected((ca_.empty() ? std::string("system trust store") : ca_) + ": " +
                             takeSslError());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  *notAfter = 0;
  if (!certPath_.empty()) {
    if (std::string e = useKeyPair(ctx, certPath_, keyPath_); !e.empty())
      return std::unexpected(e);
    *notAfter = net::certificateNotAfter(SSL_CTX_get0_certificate(ctx));
  }
  // Client-side resumption is not kept: backend connections are long-lived and pooled.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  return owner;
}

std::vector<std::string> TlsClientContext::files() const {
  std::vector<std::string> out;
  if (verify_ && !ca_.empty()) out.push_back(ca_);
  if (!certPath_.empty()) {
    out.push_back(certPath_);
    out.push_back(keyPath_);
  }
  return out;
}

std::string TlsClientContext::reload() const {
  int64_t notAfter = 0;
  auto built = build(&notAfter);
  if (!built) return built.error();
  ctx_.store(std::move(*built));
  notAfter_.store(notAfter, std::memory_order_relaxed);
  return "";
}

}  // namespace sy::net
