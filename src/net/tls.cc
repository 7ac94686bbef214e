#include "switchyard/net/tls.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "switchyard/config/config.h"

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
constexpr size_t kStage = 16 * 1024;  // one full TLS record of plaintext
constexpr size_t kCoalesceBelow = 4096;

std::string sslErrorString() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Opens a PEM file for reading; "" or a message.
std::string openPem(const std::string& path, BIO** out) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return "cannot read " + path + ": " + std::strerror(errno);
  *out = BIO_new_fp(f, BIO_CLOSE);
  if (!*out) {
    std::fclose(f);
    return "cannot read " + path + ": out of memory";
  }
  return "";
}

// Settings common to server and client contexts.
bool configureCommon(SSL_CTX* ctx, int minVersion, std::string* err) {
  if (SSL_CTX_set_min_proto_version(ctx, minVersion) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kCiphers12) != 1 ||
      SSL_CTX_set_ciphersuites(ctx, kCiphers13) != 1) {
    *err = "TLS setup failed: " + sslErrorString();
    return false;
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  return true;
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

}  // namespace

// ---------------------------------------------------------------------------------------------
// Checks

std::string checkCertificateFiles(const std::string& certPath, const std::string& keyPath) {
  ERR_clear_error();
  BIO* in = nullptr;
  if (std::string e = openPem(certPath, &in); !e.empty()) return e;
  X509* cert = PEM_read_bio_X509_AUX(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  if (!cert) {
    ERR_clear_error();
    return certPath + ": not a PEM certificate";
  }
  in = nullptr;
  if (std::string e = openPem(keyPath, &in); !e.empty()) {
    X509_free(cert);
    return e;
  }
  EVP_PKEY* key = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  if (!key) {
    X509_free(cert);
    ERR_clear_error();
    return keyPath + ": not a PEM private key (encrypted keys are not supported)";
  }
  bool match = X509_check_private_key(cert, key) == 1;
  EVP_PKEY_free(key);
  X509_free(cert);
  ERR_clear_error();
  if (!match) return "the key in " + keyPath + " does not match the certificate in " + certPath;
  return "";
}

std::string checkCaFile(const std::string& path) {
  ERR_clear_error();
  BIO* in = nullptr;
  if (std::string e = openPem(path, &in); !e.empty()) return e;
  X509* cert = PEM_read_bio_X509(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  ERR_clear_error();
  if (!cert) return path + ": no PEM certificate in it";
  X509_free(cert);
  return "";
}

std::vector<std::string> certificateNames(X509* cert) {
  std::vector<std::string> names;
  auto* sans = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
      if (gn->type != GEN_DNS) continue;
      const ASN1_IA5STRING* s = gn->d.dNSName;
      names.push_back(lower(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                        static_cast<size_t>(ASN1_STRING_length(s)))));
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {
    char cn[256];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0)
      names.push_back(lower(cn));
  }
  return names;
}

bool hostMatches(const std::string& pattern, const std::string& host) {
  if (pattern.size() > 2 && pattern[0] == '*' && pattern[1] == '.') {
    size_t dot = host.find('.');
    if (dot == std::string::npos || dot == 0) return false;
    return host.compare(dot, std::string::npos, pattern, 1, std::string::npos) == 0;
  }
  return pattern == host;
}

// ---------------------------------------------------------------------------------------------
// Server context

namespace {

int serverNameCallback(SSL* ssl, int* alert, void* arg);

}  // namespace

std::shared_ptr<TlsServerContext> TlsServerContext::create(const config::ListenerTls& cfg,
                                                           std::string* err, bool h1, bool h2) {
  const AlpnList* alpn = h2 ? (h1 ? &kListH2Http11 : &kListH2) : &kListHttp11;
  std::shared_ptr<TlsServerContext> tc(new TlsServerContext());
  const int minVersion =
      cfg.minVersion == config::TlsVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
  for (const config::TlsCertificate& c : cfg.certificates) {
    Entry e;
    e.ctx = SSL_CTX_new(TLS_server_method());
    if (!e.ctx) {
      *err = "TLS setup failed: " + sslErrorString();
      return nullptr;
    }
    tc->entries_.push_back(e);
    SSL_CTX* ctx = e.ctx;
    if (!configureCommon(ctx, minVersion, err)) return nullptr;
    if (SSL_CTX_use_certificate_chain_file(ctx, c.cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, c.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
      *err = c.cert + " / " + c.key + ": " + sslErrorString();
      return nullptr;
    }
    tc->entries_.back().names = certificateNames(SSL_CTX_get0_certificate(ctx));
    SSL_CTX_set_alpn_select_cb(ctx, selectAlpn, const_cast<AlpnList*>(alpn));
    // Resumption: a server-side session cache and stateless tickets (OpenSSL's per-context
    // ticket keys, so a reload, which builds new contexts, also rotates them).
    static const unsigned char kSidCtx[] = "switchyard";
    SSL_CTX_set_session_id_context(ctx, kSidCtx, sizeof kSidCtx - 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, 20000);
  }
  SSL_CTX_set_tlsext_servername_callback(tc->ctx(), serverNameCallback);
  SSL_CTX_set_tlsext_servername_arg(tc->ctx(), tc.get());
  return tc;
}

TlsServerContext::~TlsServerContext() {
  for (Entry& e : entries_) SSL_CTX_free(e.ctx);
}

size_t TlsServerContext::select(const std::string& rawHost) const {
  std::string host = lower(rawHost);
  for (size_t i = 0; i < entries_.size(); ++i)
    for (const std::string& n : entries_[i].names)
      if (n == host) return i;
  for (size_t i = 0; i < entries_.size(); ++i)
    for (const std::string& n : entries_[i].names)
      if (n.starts_with("*.") && hostMatches(n, host)) return i;
  return 0;
}

namespace {

int serverNameCallback(SSL* ssl, int* alert, void* arg) {
  (void)alert;
  const auto* tc = static_cast<const TlsServerContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name) return SSL_TLSEXT_ERR_OK;
  if (SSL_CTX* chosen = tc->contextFor(name); chosen != SSL_get_SSL_CTX(ssl))
    SSL_set_SSL_CTX(ssl, chosen);  // only the certificate changes; settings stay the default's
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Client context

std::shared_ptr<TlsClientContext> TlsClientContext::create(const config::PoolTls& cfg,
                                                           std::string* err) {
  std::shared_ptr<TlsClientContext> tc(new TlsClientContext());
  tc->sni_ = cfg.sni;
  tc->verify_ = cfg.verify;
  tc->ctx_ = SSL_CTX_new(TLS_client_method());
  if (!tc->ctx_) {
    *err = "TLS setup failed: " + sslErrorString();
    return nullptr;
  }
  SSL_CTX* ctx = tc->ctx_;
  if (!configureCommon(ctx, TLS1_2_VERSION, err)) return nullptr;
  SSL_CTX_set_alpn_protos(ctx, kAlpnHttp11, sizeof kAlpnHttp11);
  if (cfg.verify) {
    int ok = cfg.ca.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                            : SSL_CTX_load_verify_locations(ctx, cfg.ca.c_str(), nullptr);
    if (ok != 1) {
      *err = (cfg.ca.empty() ? std::string("system trust store") : cfg.ca) + ": " +
             sslErrorString();
      return nullptr;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  if (!cfg.cert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg.cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, cfg.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
      *err = cfg.cert + " / " + cfg.key + ": " + sslErrorString();
      return nullptr;
    }
  }
  // Client-side resumption is not kept: backend connections are long-lived and pooled.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  return tc;
}

TlsClientContext::~TlsClientContext() { SSL_CTX_free(ctx_); }

// ---------------------------------------------------------------------------------------------
// Stream

namespace {

bool makeBios(SSL* ssl, BIO** rbio, BIO** wbio) {
  *rbio = BIO_new(BIO_s_mem());
  *wbio = BIO_new(BIO_s_mem());
  if (!*rbio || !*wbio) {
    BIO_free(*rbio);
    BIO_free(*wbio);
    *rbio = *wbio = nullptr;
    return false;
  }
  BIO_set_mem_eof_return(*rbio, -1);  // empty = "retry", not EOF
  SSL_set_bio(ssl, *rbio, *wbio);     // the SSL owns both now
  return true;
}

}  // namespace

TlsStream::TlsStream(std::shared_ptr<const TlsServerContext> server) : keep_(server) {
  ssl_ = SSL_new(server->ctx());
  if (!ssl_) return;
  if (!makeBios(ssl_, &rbio_, &wbio_)) {
    SSL_free(ssl_);
    ssl_ = nullptr;
    return;
  }
  SSL_set_accept_state(ssl_);
}

TlsStream::TlsStream(std::shared_ptr<const TlsClientContext> client, const std::string& sni,
                     const std::string& verifyName)
    : keep_(client) {
  ssl_ = SSL_new(client->ctx());
  if (!ssl_) return;
  if (!makeBios(ssl_, &rbio_, &wbio_)) {
    SSL_free(ssl_);
    ssl_ = nullptr;
    return;
  }
  SSL_set_connect_state(ssl_);
  // SNI must be a host name (RFC 6066 forbids IP literals).
  in6_addr scratch;
  const bool isIp = inet_pton(AF_INET, sni.c_str(), &scratch) == 1 ||
                    inet_pton(AF_INET6, sni.c_str(), &scratch) == 1;
  if (!sni.empty() && !isIp) SSL_set_tlsext_host_name(ssl_, sni.c_str());
  if (client->verify() && !verifyName.empty()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    if (inet_pton(AF_INET, verifyName.c_str(), &scratch) == 1 ||
        inet_pton(AF_INET6, verifyName.c_str(), &scratch) == 1) {
      X509_VERIFY_PARAM_set1_ip_asc(param, verifyName.c_str());
    } else {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      X509_VERIFY_PARAM_set1_host(param, verifyName.c_str(), 0);
    }
  }
}

TlsStream::~TlsStream() {
  if (ssl_) SSL_free(ssl_);
}

uv_buf_t TlsStream::readBuffer() {
  static thread_local char buf[64 * 1024];
  return uv_buf_init(buf, sizeof buf);
}

void TlsStream::feed(const char* p, size_t n) {
  while (n > 0) {
    int w = BIO_write(rbio_, p, static_cast<int>(std::min<size_t>(n, 1 << 30)));
    if (w <= 0) return;
    p += w;
    n -= static_cast<size_t>(w);
  }
}

std::string_view TlsStream::alpn() const {
  const unsigned char* p = nullptr;
  unsigned int n = 0;
  SSL_get0_alpn_selected(ssl_, &p, &n);
  return p ? std::string_view(reinterpret_cast<const char*>(p), n) : std::string_view();
}

void TlsStream::noteError(int sslErr) {
  if (sslErr == SSL_ERROR_SSL) {
    long v = SSL_get_verify_result(ssl_);
    if (v != X509_V_OK) {
      error_ = std::string("certificate verify failed: ") + X509_verify_cert_error_string(v);
      ERR_clear_error();
      return;
    }
    error_ = sslErrorString();
  } else if (sslErr == SSL_ERROR_SYSCALL) {
    error_ = "unexpected end of TLS stream";
    ERR_clear_error();
  } else {
    error_ = "TLS error " + std::to_string(sslErr);
    ERR_clear_error();
  }
}

int TlsStream::handshake() {
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_);
  if (rc == 1) return 1;
  int e = SSL_get_error(ssl_, rc);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  noteError(e);
  return -1;
}

ssize_t TlsStream::read(char* buf, size_t cap) {
  ERR_clear_error();
  size_t got = 0;
  if (SSL_read_ex(ssl_, buf, cap, &got) == 1) return static_cast<ssize_t>(got);
  int e = SSL_get_error(ssl_, 0);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return kWant;
  if (e == SSL_ERROR_ZERO_RETURN) return kEof;
  noteError(e);
  return kError;
}

bool TlsStream::write(const uv_buf_t* bufs, unsigned n) {
  static thread_local char stage[kStage];
  size_t staged = 0;
  auto put = [&](const char* p, size_t len) {
    ERR_clear_error();
    size_t done = 0;
    if (SSL_write_ex(ssl_, p, len, &done) != 1 || done != len) {
      noteError(SSL_get_error(ssl_, 0));
      return false;
    }
    return true;
  };
  for (unsigned i = 0; i < n; ++i) {
    const char* p = bufs[i].base;
    size_t len = bufs[i].len;
    if (len == 0) continue;
    if (len < kCoalesceBelow) {
      if (staged + len > kStage) {
        if (!put(stage, staged)) return false;
        staged = 0;
      }
      std::memcpy(stage + staged, p, len);
      staged += len;
      continue;
    }
    if (staged > 0) {
      if (!put(stage, staged)) return false;
      staged = 0;
    }
    if (!put(p, len)) return false;
  }
  return staged == 0 || put(stage, staged);
}

void TlsStream::shutdown() {
  ERR_clear_error();
  if (established()) SSL_shutdown(ssl_);
  ERR_clear_error();
}

size_t TlsStream::drain(WriteBatch* batch, BlockPool& pool) {
  size_t total = 0;
  while (size_t pending = BIO_ctrl_pending(wbio_)) {
    Block* b = pool.acquire();
    int n = BIO_read(wbio_, b->data(), static_cast<int>(std::min<size_t>(pending, b->capacity)));
    if (n > 0) {
      batch->addRef(b, b->data(), static_cast<size_t>(n));
      total += static_cast<size_t>(n);
    }
    BlockPool::unref(b);
    if (n <= 0) break;
  }
  return total;
}

}  // namespace sy::net
