#include "switchyard/proxy/selection_keys.h"

#include "switchyard/balancing/consistent_hash.h"
#include "switchyard/geo/cidr_table.h"
#include "switchyard/geo/locator.h"

namespace sy::proxy {
namespace {

uint64_t hashClientIp(const sockaddr* peer) {
  std::optional<geo::IpAddress> ip = geo::IpAddress::fromSockaddr(peer);
  if (!ip) return 0;
  return balancing::hashKeyBytes(ip->bytes, ip->size());
}

}  // namespace

bool findHeader(const http::FieldsView& head, std::string_view name, std::string_view& value) {
  for (uint32_t i = 0; i < head.size(); ++i) {
    if (http::equalsIgnoreCase(head.name(i), name)) {
      value = http::trimOws(head.value(i));
      return true;
    }
  }
  return false;
}

bool findCookie(const http::FieldsView& head, std::string_view name, std::string_view& value) {
  for (uint32_t i = 0; i < head.size(); ++i) {
    if (!http::equalsIgnoreCase(head.name(i), "cookie")) continue;
    std::string_view rest = head.value(i);
    while (!rest.empty()) {
      size_t semi = rest.find(';');
      std::string_view pair = http::trimOws(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      size_t eq = pair.find('=');
      if (eq == std::string_view::npos || http::trimOws(pair.substr(0, eq)) != name) continue;
      value = http::trimOws(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return true;
    }
  }
  return false;
}

uint64_t hashRequestKey(const config::HashKey& key, const sockaddr* client,
                        const http::FieldsView& head, const http::RequestInfo& req) {
  std::string_view value;
  bool found = false;
  switch (key.kind) {
    case config::HashKey::Kind::kHeader:
      found = findHeader(head, key.name, value);
      break;
    case config::HashKey::Kind::kCookie:
      found = findCookie(head, key.name, value);
      break;
    case config::HashKey::Kind::kPath:
      value = req.path;
      found = true;
      break;
    case config::HashKey::Kind::kClientIp:
      break;
  }
  // A request without the header or cookie keeps affinity by its client address.
  return found ? balancing::hashKeyBytes(value) : hashClientIp(client);
}

SelectionInputs computeSelectionInputs(const balancing::PolicyNeeds& needs, const geo::Locator* geo,
                                       const sockaddr* client, const sockaddr* peer,
                                       const http::FieldsView& head, const http::RequestInfo& req) {
  SelectionInputs out;
  if (needs.location && geo) {
    std::string_view value;
    const bool useHeader = !geo->clientHeader().empty() && geo->trusted(peer) &&
                           findHeader(head, geo->clientHeader(), value);
    out.location = geo->locate(client, useHeader ? &value : nullptr);
  }
  if (const config::HashKey* key = needs.hashKey) out.hashKey = hashRequestKey(*key, client, head, req);
  return out;
}

}  // namespace sy::proxy
