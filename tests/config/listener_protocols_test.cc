// listeners[].protocols and listeners[].http2.
#include <doctest/doctest.h>

#include "../tls_util.h"
#include "switchyard/config/loader.h"

namespace sy::config {
namespace {

std::string plain(const std::string& extra) {
  return "pools: [{name: web, backends: [{address: 127.0.0.1:9001}]}]\n"
         "listeners:\n"
         "  - listen: 127.0.0.1:0\n"
         "    routes: [{pool: web}]\n" +
         extra;
}

std::string withTls(const std::string& extra) {
  return plain("    tls: {certificates: [{cert: a.crt, key: a.key}]}\n" + extra);
}

Config load(const std::string& yaml) {
  auto c = loadConfigString(yaml, "t.yaml");
  if (!c) FAIL("unexpected error: " << c.error().format());
  return std::move(*c);
}

std::string errorOf(const std::string& yaml) {
  auto c = loadConfigString(yaml, "t.yaml");
  REQUIRE_FALSE(c.has_value());
  return c.error().format();
}

TEST_CASE("protocols default to [h1] on cleartext listeners and [h1, h2] with tls") {
  sy::testing::CertDir certs;
  CHECK(load(plain("")).listeners[0].protocols == kProtoH1);
  CHECK(load(withTls("")).listeners[0].protocols == (kProtoH1 | kProtoH2));
}

TEST_CASE("protocols lists are read and checked") {
  sy::testing::CertDir certs;
  CHECK(load(plain("    protocols: [h1, h2c]\n")).listeners[0].protocols == (kProtoH1 | kProtoH2c));
  CHECK(load(plain("    protocols: [h2c]\n")).listeners[0].protocols == kProtoH2c);
  CHECK(load(withTls("    protocols: [h1]\n")).listeners[0].protocols == kProtoH1);
  CHECK(load(withTls("    protocols: [h2]\n")).listeners[0].protocols == kProtoH2);
  CHECK(errorOf(plain("    protocols: [h1, h2]\n")) ==
        "t.yaml:5:21: listeners[0].protocols[1]: h2 needs tls: on this listener; for cleartext "
        "HTTP/2 (prior knowledge) use h2c");
  CHECK(errorOf(withTls("    protocols: [h2c]\n")) ==
        "t.yaml:6:17: listeners[0].protocols[0]: h2c is cleartext HTTP/2; on a tls: listener "
        "use h2 (ALPN)");
  CHECK(errorOf(plain("    protocols: [h3]\n")) ==
        "t.yaml:5:17: listeners[0].protocols[0]: unknown protocol 'h3' (use h1, h2 or h2c)");
  CHECK(errorOf(plain("    protocols: [h1, h1]\n")) ==
        "t.yaml:5:21: listeners[0].protocols[1]: protocol 'h1' is listed twice");
  CHECK(errorOf(plain("    protocols: []\n")).find("must list at least one protocol") !=
        std::string::npos);
}

TEST_CASE("http2 settings") {
  Config c = load(plain("    protocols: [h1, h2c]\n"
                        "    http2: {max_concurrent_streams: 10, initial_window_size: 1MiB,"
                        " max_header_list_bytes: 16KiB}\n"));
  const Http2Settings& s = c.listeners[0].http2;
  CHECK(s.maxConcurrentStreams == 10);
  CHECK(s.initialWindowSize == 1024 * 1024);
  CHECK(s.maxHeaderListBytes == 16 * 1024);
  Config d = load(plain("    protocols: [h2c]\n"));
  CHECK(d.listeners[0].http2.maxConcurrentStreams == 100);
  CHECK(d.listeners[0].http2.initialWindowSize == 256 * 1024);
  CHECK(d.listeners[0].http2.maxHeaderListBytes == 0);
  CHECK(errorOf(plain("    http2: {max_concurrent_streams: 10}\n")).find(
            "has no effect: this listener's protocols have no h2 or h2c") != std::string::npos);
  CHECK(errorOf(plain("    protocols: [h2c]\n    http2: {initial_window_size: 1KiB}\n"))
            .find("listeners[0].http2.initial_window_size") != std::string::npos);
  CHECK(errorOf(plain("    protocols: [h2c]\n    http2: {max_streams: 1}\n")).find(
            "max_streams") != std::string::npos);
}

}  // namespace
}  // namespace sy::config
