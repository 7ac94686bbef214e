// buildSnapshot across reloads: a pool's client TLS context is carried over while its TLS
// settings stay the same (its kept-alive connections and HTTP/2 sessions stay in use), and
// rebuilt when they change; what retireConnections records for a worker about kept backends.
#include "switchyard/server/snapshot.h"

#include <cstdio>

#include <doctest/doctest.h>

#include "../tls_util.h"
#include "switchyard/config/loader.h"
#include "switchyard/upstream/retire.h"

namespace sy::server {
namespace {

std::shared_ptr<const config::Config> load(const std::string& pool) {
  auto c = config::loadConfigString(
      "listeners: [{listen: 127.0.0.1:0, routes: [{pool: web}]}]\npools:\n" + pool, "t.yaml");
  if (!c) FAIL("unexpected error: " << c.error().format());
  return std::make_shared<const config::Config>(std::move(*c));
}

constexpr const char* kPool = R"(  - name: web
    backends: [{name: b1, address: 127.0.0.1:9001}]
    tls: {ca: a.crt}
)";

}  // namespace

TEST_CASE("buildSnapshot: the pool's TLS context survives reloads that keep its settings") {
  testing::CertDir certs;
  auto s1 = buildSnapshot(load(kPool), nullptr, 1, 1).value();
  REQUIRE(s1->pools[0]->tls);
  auto s2 = buildSnapshot(load(kPool), s1.get(), 1, 2).value();
  CHECK(s2->pools[0]->tls == s1->pools[0]->tls);
  CHECK(s2->pools[0]->backends[0] == s1->pools[0]->backends[0]);

  // Another setting, another context.
  auto s3 = buildSnapshot(load(R"(  - name: web
    backends: [{name: b1, address: 127.0.0.1:9001}]
    tls: {ca: a.crt, sni: a.test}
)"), s2.get(), 1, 3).value();
  CHECK(s3->pools[0]->tls != s2->pools[0]->tls);
  // HTTP/2 over TLS asks for ALPN h2: another context too.
  auto s4 = buildSnapshot(load(R"(  - name: web
    protocol: h2
    backends: [{name: b1, address: 127.0.0.1:9001}]
    tls: {ca: a.crt, sni: a.test}
)"), s3.get(), 1, 4).value();
  CHECK(s4->pools[0]->tls != s3->pools[0]->tls);
  // The context is still built, so a file gone bad refuses the reload, settings unchanged or not.
  auto same = load(kPool);
  std::FILE* f = std::fopen((certs.path() / "a.crt").c_str(), "w");
  REQUIRE(f);
  std::fputs("not a certificate\n", f);
  std::fclose(f);
  CHECK(!buildSnapshot(same, s1.get(), 1, 5).has_value());
}

TEST_CASE("retireConnections: a kept backend's protocol, TLS settings and stream cap") {
  auto plain = [](const char* extra) {
    return load(std::string("  - name: web\n    backends: [{name: b1, address: 127.0.0.1:9001}]\n") +
                extra);
  };
  auto s1 = buildSnapshot(plain(""), nullptr, 1, 1).value();
  auto s2 = buildSnapshot(plain("    timeouts: {upstream_idle: 5s}\n"), s1.get(), 1, 2).value();
  CHECK(s2->pools[0]->version == 2);
  upstream::Backend& b = *s2->pools[0]->backends[0];
  REQUIRE(&b == s1->pools[0]->backends[0].get());
  upstream::retireConnections(s1->pools, s2->pools, 0);
  CHECK(b.idle(0).settingsSince == 0);  // nothing that makes its connections unfit
  CHECK(b.idle(0).h2MaxStreams == 0);
  // Another protocol: connections made for version 2 or earlier no longer park.
  auto s3 = buildSnapshot(plain("    protocol: h2c\n    http2: {max_concurrent_streams: 7}\n"),
                          s2.get(), 1, 3).value();
  upstream::retireConnections(s2->pools, s3->pools, 0);
  CHECK(b.idle(0).settingsSince == 3);
  CHECK(b.idle(0).h2MaxStreams == 7);
  CHECK(!b.idle(0).retired);
  // Only the cap: the sessions are kept and take it.
  auto s4 = buildSnapshot(plain("    protocol: h2c\n    http2: {max_concurrent_streams: 2}\n"),
                          s3.get(), 1, 4).value();
  upstream::retireConnections(s3->pools, s4->pools, 0);
  CHECK(b.idle(0).settingsSince == 3);
  CHECK(b.idle(0).h2MaxStreams == 2);
}

}  // namespace sy::server
