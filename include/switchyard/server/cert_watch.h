#pragma once
// Certificate rotation without a reload: watches the files of the running snapshot's TLS
// contexts (listener certificates, pools' CA bundles and client certificates; FileWatch) and,
// when they change, builds the certificate again and swaps it in for new handshakes
// (TlsServerContext::reloadCertificate, TlsClientContext::reload). A pair that does not load
// (unparsable, half-written, key not matching) keeps the certificate in use: logged and
// counted in switchyard_tls_certificate_reload_failures_total. Also warns once a day when a
// certificate in use expires within 14 days, and gives the rows of the certificate metrics.
// Main thread only.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <uv.h>

#include "switchyard/metrics/collect.h"
#include "switchyard/server/file_watch.h"
#include "switchyard/server/snapshot.h"

namespace sy::server {

class CertWatch {
 public:
  static constexpr int64_t kExpiryWarningSeconds = 14 * 86400;

  explicit CertWatch(uv_loop_t* loop);
  // Precondition: close() was called.
  ~CertWatch();
  CertWatch(const CertWatch&) = delete;
  CertWatch& operator=(const CertWatch&) = delete;

  // Follows the TLS contexts of `snap` (called after every publish): their files become the
  // ones watched; contexts of earlier snapshots are let go. Also checks expiry.
  void follow(const Snapshot& snap);
  // Stops every watch and timer. Idempotent.
  void close();
  // The certificates followed now, for /metrics.
  std::vector<metrics::CertificateRow> rows() const;

 private:
  struct Item {
    std::string listener, name;  // metric labels (cert_watch.cc says how they are formed)
    std::shared_ptr<const net::TlsServerContext> server;
    size_t index = 0;  // server: which certificate
    std::shared_ptr<const net::TlsClientContext> client;
    std::unique_ptr<FileWatch> watch;
    int64_t notAfter() const;
  };
  void reloadItem(Item* item);
  void checkExpiry();

  uv_loop_t* loop_;
  uv_timer_t expiryTimer_;
  bool closed_ = false;
  std::vector<std::unique_ptr<Item>> items_;
  using Key = std::pair<std::string, std::string>;  // {listener, name}
  std::map<Key, uint64_t> failures_;    // kept across snapshots: a counter
  std::map<Key, int64_t> lastWarned_;   // unix seconds of the last expiry warning
};

}  // namespace sy::server
