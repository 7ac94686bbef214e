// UpstreamRequest's route choice: the first matching route of the listener (host, path,
// headers, methods, query) and, for a split route, the side this request goes to; and the
// listener's redirect to https, answered before any route.
#include "switchyard/proxy/upstream_request.h"

#include <string>

#include "switchyard/routing/split.h"

namespace sy::proxy {

const routing::RouteTable::Entry* UpstreamRequest::findRoute(const http::RequestHead& head) const {
  routing::RouteRequest r;
  r.host = req_.host;
  r.path = req_.path;
  if (const size_t q = req_.target.find('?'); q != std::string_view::npos)
    r.query = req_.target.substr(q + 1);
  r.method = head.method;
  r.fields = &head.fields;
  return view_->snap->routes[listenerIndex_].find(r);
}

uint32_t UpstreamRequest::choosePool(const routing::RouteTable::Entry& route,
                                     const http::RequestHead& head) {
  if (route.split.empty()) return route.pool;
  size_t side;
  if (route.splitKey) {
    side = routing::pickSplitByHash(
        route.split, route.splitTotal,
        hashRequestKey(*route.splitKey, clientAddr_.sa(), head.fields, req_));
  } else {
    side = view_->splits[listenerIndex_][route.index].pick(route.split, route.splitTotal);
  }
  return route.split[side].pool;
}

void UpstreamRequest::redirectHttps(uint16_t port) {
  if (req_.host.empty()) {
    sink_->respondLocal(400, metrics::LocalReason::kBadRequest,
                        "a Host header is needed to redirect to https", false);
    return;
  }
  std::string location = "https://";
  const bool v6 = req_.host.find(':') != std::string_view::npos && req_.host.front() != '[';
  if (v6) location += '[';
  location += req_.host;
  if (v6) location += ']';
  if (port != 443) location += ':' + std::to_string(port);
  location += req_.target.empty() ? std::string_view("/") : req_.target;
  sink_->respondLocal(308, metrics::LocalReason::kRedirect, "use https\n", false, location);
}

}  // namespace sy::proxy
