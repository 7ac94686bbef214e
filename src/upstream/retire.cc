#include "switchyard/upstream/retire.h"

#include "switchyard/upstream/h2_session.h"
#include "switchyard/upstream/upstream_conn.h"

namespace sy::upstream {
namespace {

const BackendSet* setOf(const std::vector<std::unique_ptr<BackendSet>>& pools, const Backend* b) {
  for (const auto& set : pools)
    for (const auto& nb : set->backends)
      if (nb.get() == b) return set.get();
  return nullptr;
}

}  // namespace

void retireConnections(const std::vector<std::unique_ptr<BackendSet>>& before,
                       const std::vector<std::unique_ptr<BackendSet>>& after, unsigned worker) {
  for (const auto& oldSet : before) {
    for (const auto& b : oldSet->backends) {
      const BackendSet* now = setOf(after, b.get());
      if (!now) {
        b->idle(worker).retired = true;
        UpstreamConn::closeIdleHttp1Before(*b, worker, UINT64_MAX);
        H2Session::retire(*b, true);
        continue;
      }
      // A kept backend (same pool, name and address). Sessions remember their TLS context, which
      // a reload carries over while the pool's tls settings stay the same (server/snapshot.cc).
      if (!now->cfg.http2()) {
        H2Session::retire(*b, true);
      } else {
        H2Session::retire(*b, false, now->tls.get());
      }
      if (now->tls != oldSet->tls || now->cfg.http2() != oldSet->cfg.http2())
        UpstreamConn::closeIdleHttp1Before(*b, worker, UINT64_MAX);
    }
  }
}

}  // namespace sy::upstream
