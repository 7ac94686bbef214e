// routes[].fault: fault injection for chaos testing (delay, abort, trusted networks).
// Kept apart from the rest of the route reader so that route-config changes do not meet here.

#include <string>

#include "sections.h"
#include "switchyard/config/units.h"

namespace sy::config::detail {
namespace {

constexpr int64_t kMinFaultStatus = 200;
constexpr int64_t kMaxFaultStatus = 599;

}  // namespace

std::optional<Fault> loadRouteFault(Walker& w, const YAML::Node& node, const std::string& path) {
  MapView m(w, node, path, {"delay", "abort", "trusted"});
  if (!m.ok()) return std::nullopt;
  Fault fault;
  if (std::optional<YAML::Node> delay = m.get("delay")) {
    MapView d(w, *delay, m.pathOf("delay"), {"duration", "percent"});
    FaultDelay fd;
    if (d.require("duration") && d.duration("duration", fd.duration) &&
        fd.duration > kMaxFaultDelay) {
      w.fail(*d.get("duration"), d.pathOf("duration"),
             "must be at most " + formatDuration(kMaxFaultDelay));
    }
    if (d.require("percent")) d.fraction("percent", fd.percent);
    fault.delay = fd;
  }
  if (std::optional<YAML::Node> abort = m.get("abort")) {
    MapView a(w, *abort, m.pathOf("abort"), {"status", "percent"});
    FaultAbort fa;
    if (a.require("status")) a.integer("status", fa.status, kMinFaultStatus, kMaxFaultStatus);
    if (a.require("percent")) a.fraction("percent", fa.percent);
    fault.abort = fa;
  }
  if (std::optional<YAML::Node> trusted = m.get("trusted")) {
    forEachItem(w, *trusted, m.pathOf("trusted"),
                [&](const YAML::Node& item, const std::string& itemPath, size_t) {
                  std::optional<std::string> text = readString(w, item, itemPath);
                  if (!text) return;
                  if (auto cidr = parseCidr(*text); !cidr) {
                    w.fail(item, itemPath, cidr.error());
                    return;
                  }
                  fault.trusted.push_back(std::move(*text));
                });
  }
  if (w.ok() && !fault.delay && !fault.abort && fault.trusted.empty()) {
    w.fail(node, path, "give delay, abort or trusted (or leave fault out)");
  }
  if (!w.ok()) return std::nullopt;
  return fault;
}

}  // namespace sy::config::detail
