#include "switchyard/net/tls.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "switchyard/config/config.h"

namespace sy::net {
namespace {

constexpr size_t kStage = 16 * 1024;  // one full TLS record of plaintext
constexpr size_t kCoalesceBelow = 4096;

}  // namespace

std::string takeSslError() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

namespace {

std::string sslErrorString() { return takeSslError(); }

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

int64_t certificateNotAfter(const X509* cert) {
  const ASN1_TIME* t = cert ? X509_get0_notAfter(cert) : nullptr;
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
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
  ssl_ = server->newSsl();
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
  ssl_ = SSL_new(client->ctx().get());
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
