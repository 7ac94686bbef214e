// listeners[].protocols and listeners[].http2.
#include <string>

#include "sections.h"

namespace sy::config::detail {

void readListenerProtocols(const MapView& m, Listener& listener) {
  Walker& w = m.walker();
  listener.protocols = listener.tls ? (kProtoH1 | kProtoH2) : kProtoH1;
  if (std::optional<YAML::Node> list = m.get("protocols")) {
    uint8_t bits = 0;
    forEachItem(w, *list, m.pathOf("protocols"),
                [&](const YAML::Node& item, const std::string& itemPath, size_t) {
                  if (!item.IsScalar()) {
                    w.fail(item, itemPath, "must be one of h1, h2, h2c");
                    return;
                  }
                  const std::string v = item.Scalar();
                  uint8_t bit = v == "h1" ? kProtoH1 : v == "h2" ? kProtoH2 : v == "h2c" ? kProtoH2c : 0;
                  if (!bit) {
                    w.fail(item, itemPath, "unknown protocol '" + v + "' (use h1, h2 or h2c)");
                  } else if (bit == kProtoH2 && !listener.tls) {
                    w.fail(item, itemPath,
                           "h2 needs tls: on this listener; for cleartext HTTP/2 (prior "
                           "knowledge) use h2c");
                  } else if (bit == kProtoH2c && listener.tls) {
                    w.fail(item, itemPath,
                           "h2c is cleartext HTTP/2; on a tls: listener use h2 (ALPN)");
                  } else if (bits & bit) {
                    w.fail(item, itemPath, "protocol '" + v + "' is listed twice");
                  }
                  bits |= bit;
                });
    if (w.ok() && bits == 0) w.fail(*list, m.pathOf("protocols"), "must list at least one protocol");
    if (w.ok()) listener.protocols = bits;
  }
  if (std::optional<YAML::Node> node = m.get("http2")) {
    MapView h(w, *node, m.pathOf("http2"),
              {"max_concurrent_streams", "initial_window_size", "max_header_list_bytes"});
    if (!h.ok()) return;
    Http2Settings& s = listener.http2;
    h.integer("max_concurrent_streams", s.maxConcurrentStreams, 1, 10000);
    uint64_t window = s.initialWindowSize;
    // RFC 9113 §6.5.2: at most 2^31-1; below 16 KiB every DATA frame would wait for an update.
    if (h.size("initial_window_size", window, 16 * 1024, 0x7fffffff))
      s.initialWindowSize = static_cast<uint32_t>(window);
    h.size("max_header_list_bytes", s.maxHeaderListBytes, 1024, 1024 * 1024);
    if (w.ok() && !(listener.protocols & (kProtoH2 | kProtoH2c)))
      w.fail(*node, m.pathOf("http2"), "has no effect: this listener's protocols have no h2 or h2c");
  }
}

}  // namespace sy::config::detail
