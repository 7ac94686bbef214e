#include "switchyard/server/snapshot.h"

#include "switchyard/balancing/registry.h"
#include "switchyard/common/log.h"
#include "switchyard/upstream/pool_gate.h"

namespace sy::server {
namespace {

// The pool's client TLS context is the same as before: kept-alive connections and HTTP/2
// sessions made with it stay in use across the reload.
bool sameClientTls(const config::Pool& a, const config::Pool& b) {
  if (!a.tls || !b.tls || (a.protocol == config::UpstreamProtocol::kH2) !=
                              (b.protocol == config::UpstreamProtocol::kH2))
    return false;
  const config::PoolTls& x = *a.tls;
  const config::PoolTls& y = *b.tls;
  return x.enabled == y.enabled && x.ca == y.ca && x.verify == y.verify && x.sni == y.sni &&
         x.cert == y.cert && x.key == y.key;
}

}  // namespace

std::expected<std::shared_ptr<const Snapshot>, std::string> buildSnapshot(
    std::shared_ptr<const config::Config> cfg, const Snapshot* previous, unsigned workers,
    uint64_t version) {
  auto geo = geo::Locator::create(*cfg);
  if (!geo) return std::unexpected(geo.error());
  auto snap = std::make_shared<Snapshot>();
  snap->config = cfg;
  snap->version = version;
  snap->geo = std::move(*geo);
  snap->limiters = ratelimit::buildLimiters(*cfg, previous ? &previous->limiters : nullptr, workers);
  for (const config::Pool& p : cfg->pools) {
    auto set = std::make_unique<upstream::BackendSet>();
    set->name = p.name;
    set->version = version;
    set->cfg = p;
    const upstream::BackendSet* old = nullptr;
    if (previous) {
      for (const auto& op : previous->pools)
        if (op->name == p.name) old = op.get();
    }
    if (p.tls) {
      std::string err;
      set->tls = net::TlsClientContext::create(*p.tls, &err, p.protocol == config::UpstreamProtocol::kH2);
      if (!set->tls) return std::unexpected("pools." + p.name + ".tls: " + err);
      // Built (and so checked) anyway; unchanged settings keep the context in use, which the
      // certificate watch updates in place when its files change.
      if (old && old->tls && sameClientTls(old->cfg, p)) set->tls = old->tls;
      if (!p.tls->verify)
        LOG_WARN("pool %s: tls.verify is false: backend certificates are not checked",
                 p.name.c_str());
    }
    set->stats = old && old->stats ? old->stats : std::make_shared<metrics::StatsBlock>(workers);
    set->gate = old && old->gate ? old->gate : std::make_shared<upstream::PoolGate>(workers);
    set->limited = p.limits.maxRequests > 0;
    if (p.retries.budget)
      set->retryBudget = old && old->retryBudget ? old->retryBudget
                                                 : std::make_shared<upstream::RetryBudget>();
    for (const config::Backend& b : p.backends) {
      std::shared_ptr<upstream::Backend> kept;
      if (old) {
        for (const auto& ob : old->backends)
          if (ob->name() == b.name && ob->address().text == b.address.text) kept = ob;
      }
      set->limited = set->limited || b.maxRequests > 0;
      if (kept) {
        if (kept->weight() != b.weight) {
          kept->setWeight(b.weight);
          kept->setEffectiveWeight(b.weight);
        }
        kept->setMaxRequests(b.maxRequests);
        set->backends.push_back(std::move(kept));
      } else {
        set->backends.push_back(std::make_shared<upstream::Backend>(b, p.name, workers));
      }
    }
    set->policyShared = balancing::prepareShared(*set);
    snap->pools.push_back(std::move(set));
  }
  for (const config::Listener& l : cfg->listeners) {
    std::shared_ptr<const net::TlsServerContext> tls;
    if (l.tls) {
      std::string err;
      tls = net::TlsServerContext::create(*l.tls, &err, (l.protocols & config::kProtoH1) != 0,
                                          (l.protocols & config::kProtoH2) != 0);
      if (!tls) return std::unexpected("listener " + l.name + ": tls: " + err);
    }
    snap->listenerTls.push_back(std::move(tls));
    routing::RouteTable table;
    auto poolIndex = [&](const std::string& name) {
      uint32_t idx = 0;
      for (size_t i = 0; i < cfg->pools.size(); ++i)
        if (cfg->pools[i].name == name) idx = static_cast<uint32_t>(i);
      return idx;
    };
    for (const config::Route& r : l.routes) table.add(r, poolIndex);
    snap->routes.push_back(std::move(table));
    std::shared_ptr<const proxy::RealIpResolver> realIp;
    if (l.realIp) {
      realIp = proxy::RealIpResolver::create(*l.realIp);
      if (!realIp) return std::unexpected("listener " + l.name + ": real_ip: bad trusted network");
    }
    snap->realIp.push_back(std::move(realIp));
  }
  // Limits take effect once the whole snapshot was built (a failed one changes nothing).
  for (const auto& set : snap->pools)
    set->gate->configure(set->cfg.limits.maxRequests, set->cfg.limits.maxPending);
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

WorkerView::WorkerView(std::shared_ptr<const Snapshot> s) : snap(std::move(s)) {
  for (const auto& set : snap->pools)
    policies.push_back(balancing::makePolicy(*set, snap->geo.get()));
  for (const routing::RouteTable& table : snap->routes) {
    std::vector<routing::SmoothSplit> cursors;
    for (const routing::RouteTable::Entry& e : table.entries())
      cursors.emplace_back(e.split.size());
    splits.push_back(std::move(cursors));
  }
}

}  // namespace sy::server

