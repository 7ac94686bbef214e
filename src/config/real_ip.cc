// `real_ip:` (top level and listeners[].real_ip): which header carries the client address and
// which peers may set it.

#include <string>

#include "sections.h"
#include "switchyard/common/ascii.h"
#include "switchyard/config/units.h"

namespace sy::config::detail {

void readRealIp(const MapView& parent, std::optional<RealIp>& out) {
  std::optional<YAML::Node> node = parent.get("real_ip");
  if (!node) return;
  Walker& w = parent.walker();
  MapView m(w, *node, parent.pathOf("real_ip"), {"header", "trusted"});
  if (!m.ok()) return;
  RealIp r;
  r.mark = m.mark();
  if (m.string("header", r.header)) {
    bool token = !r.header.empty();
    for (char c : r.header) token = token && common::isTokenChar(c);
    if (!token) {
      w.fail(*m.get("header"), m.pathOf("header"), "must be an HTTP header name like X-Forwarded-For");
      return;
    }
  }
  if (m.require("trusted")) {
    YAML::Node list = *m.get("trusted");
    forEachItem(w, list, m.pathOf("trusted"),
                [&](const YAML::Node& item, const std::string& path, size_t) {
                  std::optional<std::string> text = readString(w, item, path);
                  if (!text) return;
                  if (auto cidr = parseCidr(*text); !cidr) {
                    w.fail(item, path, cidr.error());
                    return;
                  }
                  r.trusted.push_back(*text);
                });
    if (w.ok() && r.trusted.empty()) {
      w.fail(list, m.pathOf("trusted"),
             "must list at least one network (the proxies allowed to set the header)");
    }
  }
  if (w.ok()) out = std::move(r);
}

}  // namespace sy::config::detail
