#include "switchyard/discovery/expand.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "switchyard/config/units.h"

namespace sy::discovery {
namespace {

// One backend for `address` made from `model` (a `resolve: true` entry or a pool's template).
std::optional<config::Backend> discovered(const config::Backend& model, const std::string& name,
                                          const std::string& address, uint16_t port) {
  std::string text = address.find(':') != std::string::npos
                         ? "[" + address + "]:" + std::to_string(port)
                         : address + ":" + std::to_string(port);
  auto parsed = config::parseSocketAddress(text);  // numeric: no lookup
  if (!parsed) return std::nullopt;
  config::Backend b = model;
  b.name = name;
  b.address = std::move(*parsed);
  b.resolve = false;
  return b;
}

void add(config::Pool& pool, config::Backend b, std::vector<std::string>* skipped) {
  for (const config::Backend& other : pool.backends) {
    if (other.name != b.name) continue;
    if (skipped) {
      skipped->push_back("pool " + pool.name + ": discovered backend " + b.name + " (" +
                         b.address.text + ") left out: the name is already used by " +
                         other.address.text);
    }
    return;
  }
  pool.backends.push_back(std::move(b));
}

}  // namespace

std::string canonicalName(std::string_view name) {
  if (name.ends_with('.')) name.remove_suffix(1);
  std::string out(name);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string targetKey(const std::string& host,
                      const std::optional<config::SocketAddress>& resolver, bool srv) {
  return (resolver ? resolver->text : std::string("system")) + "|" + (srv ? "SRV " : "") +
         canonicalName(host);
}

std::vector<Target> targetsOf(const config::Config& cfg) {
  std::vector<Target> out;
  auto want = [&out](const std::string& host, const config::Pool& p, bool srv = false) {
    const config::Discovery& d = p.discovery;
    std::string key = targetKey(host, d.resolver, srv);
    for (Target& t : out) {
      if (t.key != key) continue;
      t.interval = std::min(t.interval, d.interval);
      if (std::find(t.pools.begin(), t.pools.end(), p.name) == t.pools.end())
        t.pools.push_back(p.name);
      return;
    }
    out.push_back(Target{std::move(key), host, srv, d.resolver, d.interval, {p.name}});
  };
  for (const config::Pool& p : cfg.pools) {
    for (const config::Backend& b : p.backends)
      if (b.resolve) want(b.address.host, p);
    if (p.discovery.dns) want(p.discovery.dns->host, p);
    if (p.discovery.srv) want(*p.discovery.srv, p, true);
  }
  return out;
}

config::Config expand(const config::Config& base, const Found& found,
                      std::vector<std::string>* skipped) {
  config::Config out = base;
  for (config::Pool& pool : out.pools) {
    std::vector<config::Backend> listed = std::move(pool.backends);
    pool.backends.clear();
    // Listed backends first, so a static name always wins over a discovered one.
    for (const config::Backend& b : listed)
      if (!b.resolve) add(pool, b, skipped);
    for (const config::Backend& b : listed) {
      if (!b.resolve) continue;
      auto it = found.find(targetKey(b.address.host, pool.discovery.resolver));
      if (it == found.end()) continue;
      for (const Endpoint& e : it->second) {
        const std::string& a = e.address;
        if (auto d = discovered(b, b.name + "-" + a, a, b.address.port)) add(pool, *d, skipped);
      }
    }
    config::Backend model;
    model.weight = pool.discovery.weight;
    model.mark = pool.mark;
    const auto& dns = pool.discovery.dns;
    auto it = dns ? found.find(targetKey(dns->host, pool.discovery.resolver)) : found.end();
    if (it != found.end()) {
      for (const Endpoint& e : it->second) {
        const std::string& a = e.address;
        if (auto d = discovered(model, pool.name + "-" + a, a, dns->port)) add(pool, *d, skipped);
      }
    }
    const auto& srv = pool.discovery.srv;
    it = srv ? found.find(targetKey(*srv, pool.discovery.resolver, true)) : found.end();
    if (it != found.end()) {
      for (const Endpoint& e : it->second) {
        model.weight = e.weight;
        std::string port = ":" + std::to_string(e.port);
        std::string name = pool.name + "-" +
                           (e.address.find(':') != std::string::npos ? "[" + e.address + "]"
                                                                     : e.address) + port;
        if (auto d = discovered(model, name, e.address, e.port)) add(pool, *d, skipped);
      }
    }
  }
  return out;
}

Addresses normalizeAddresses(Addresses in) {
  struct Key {
    int family;
    std::array<uint8_t, 16> bytes;
    std::string text;
  };
  std::vector<Key> keys;
  for (std::string& a : in) {
    Key k{AF_INET, {}, {}};
    if (inet_pton(AF_INET, a.c_str(), k.bytes.data()) != 1) {
      k.family = AF_INET6;
      if (inet_pton(AF_INET6, a.c_str(), k.bytes.data()) != 1) continue;
    }
    // One spelling per address ("::ffff:1.2.3.4" forms and leading zeros are rewritten).
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(k.family, k.bytes.data(), text, sizeof text);
    k.text = text;
    keys.push_back(std::move(k));
  }
  std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
    return a.family != b.family ? a.family == AF_INET : a.bytes < b.bytes;
  });
  Addresses out;
  for (Key& k : keys)
    if (out.empty() || out.back() != k.text) out.push_back(std::move(k.text));
  return out;
}

}  // namespace sy::discovery
