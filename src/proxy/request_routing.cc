// UpstreamRequest's route choice: the first matching route of the listener (host, path,
// headers, methods, query) and, for a split route, the side this request goes to.
#include "switchyard/proxy/upstream_request.h"
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

}  // namespace sy::proxy
