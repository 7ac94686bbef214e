#pragma once
// Test helper: PEM certificates made at test time with the OpenSSL API (no files in the repo).

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

namespace sy::testing {

// Writes `<dir>/<stem>.crt` and `<dir>/<stem>.key`: a self-signed P-256 certificate whose SAN
// lists `names` (DNS). Returns false on failure.
inline bool writeSelfSigned(const std::filesystem::path& dir, const std::string& stem,
                            const std::vector<std::string>& names) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  if (!key || !x) return false;
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365);
  X509_set_pubkey(x, key);
  X509_NAME* subject = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(names.front().c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(x, subject);
  std::string san;
  for (const std::string& n : names) san += (san.empty() ? "DNS:" : ",DNS:") + n;
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str());
  if (!ext) return false;
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  if (X509_sign(x, key, EVP_sha256()) == 0) return false;
  bool ok = true;
  if (FILE* f = std::fopen((dir / (stem + ".crt")).c_str(), "w")) {
    ok = ok && PEM_write_X509(f, x) == 1;
    std::fclose(f);
  } else {
    ok = false;
  }
  if (FILE* f = std::fopen((dir / (stem + ".key")).c_str(), "w")) {
    ok = ok && PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    std::fclose(f);
  } else {
    ok = false;
  }
  X509_free(x);
  EVP_PKEY_free(key);
  return ok;
}

// A temporary directory holding a.crt/a.key (a.test, *.a.test) and b.crt/b.key (b.test), made
// the current directory while the object lives (config tests name the files relatively).
class CertDir {
 public:
  CertDir() {
    old_ = std::filesystem::current_path();
    char tmpl[] = "/tmp/switchyard-tls-XXXXXX";
    dir_ = mkdtemp(tmpl);
    writeSelfSigned(dir_, "a", {"a.test", "*.a.test"});
    writeSelfSigned(dir_, "b", {"b.test"});
    std::filesystem::current_path(dir_);
  }
  ~CertDir() {
    std::filesystem::current_path(old_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::filesystem::path& path() const { return dir_; }

 private:
  std::filesystem::path old_;
  std::filesystem::path dir_;
};

}  // namespace sy::testing
