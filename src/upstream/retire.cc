#include "switchyard/upstream/retire.h"

#include <unordered_map>

#include "switchyard/upstream/h2_session.h"
#include "switchyard/upstream/upstream_conn.h"

namespace sy::upstream {

void retireConnections(const std::vector<std::unique_ptr<BackendSet>>& before,
                       const std::vector<std::unique_ptr<BackendSet>>& after, unsigned worker) {
  // Which new pool holds each backend object (a kept backend is the same object).
  std::unordered_map<const Backend*, const BackendSet*> setOf;
  for (const auto& set : after)
    for (const auto& nb : set->backends) setOf.emplace(nb.get(), set.get());
  for (const auto& oldSet : before) {
    for (const auto& b : oldSet->backends) {
      const auto it = setOf.find(b.get());
      const BackendSet* now = it == setOf.end() ? nullptr : it->second;
      if (!now) {
        b->idle(worker).retired = true;
        UpstreamConn::closeIdleHttp1Before(*b, worker, UINT64_MAX);
        H2Session::retire(*b, true);
        continue;
      }
      // A kept backend (same pool, name and address). Sessions remember their TLS context, which
      // a reload carries over while the pool's tls settings stay the same (server/snapshot.cc);
      // the kept ones take the pool's stream cap now.
      if (!now->cfg.http2()) {
        H2Session::retire(*b, true);
      } else {
        H2Session::retire(*b, false, now->tls.get());
        H2Session::setMaxStreams(*b, worker, now->cfg.http2MaxConcurrentStreams);
      }
      // HTTP/1.1 connections made for the old protocol or TLS settings: the idle ones close
      // now, the busy ones when their request ends (UpstreamConn::park).
      if (now->tls != oldSet->tls || now->cfg.http2() != oldSet->cfg.http2()) {
        b->idle(worker).settingsSince = now->version;
        UpstreamConn::closeIdleHttp1Before(*b, worker, UINT64_MAX);
      }
    }
  }
}

}  // namespace sy::upstream
