#include "switchyard/net/tls.h"

#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include <openssl/pem.h>

#include "../tls_util.h"
#include "switchyard/config/config.h"

namespace sy::net {
namespace {

config::ListenerTls listenerTls(const testing::CertDir& d) {
  config::ListenerTls t;
  t.certificates.push_back({(d.path() / "a.crt").string(), (d.path() / "a.key").string(), {}});
  t.certificates.push_back({(d.path() / "b.crt").string(), (d.path() / "b.key").string(), {}});
  return t;
}

// Moves everything `from` produced into `to`; returns bytes moved.
size_t pipe(TlsStream& from, TlsStream& to, BlockPool& blocks) {
  WriteBatch batch;
  size_t n = from.drain(&batch, blocks);
  batch.finalize();
  for (unsigned i = 0; i < batch.pendingCount(); ++i)
    to.feed(batch.pendingBufs()[i].base, batch.pendingBufs()[i].len);
  batch.reset();
  return n;
}

// The subject CN of the certificate the client was shown.
[[maybe_unused]] std::string peerName(TlsStream& client, SSL* ssl) {
  (void)client;
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return "";
  auto names = certificateNames(cert);
  X509_free(cert);
  return names.empty() ? "" : names.front();
}

TEST_CASE("host names match exactly or by one wildcard label") {
  CHECK(hostMatches("a.test", "a.test"));
  CHECK_FALSE(hostMatches("a.test", "b.test"));
  CHECK(hostMatches("*.a.test", "x.a.test"));
  CHECK_FALSE(hostMatches("*.a.test", "a.test"));
  CHECK_FALSE(hostMatches("*.a.test", "y.x.a.test"));
}

TEST_CASE("SNI picks the certificate; no SNI gets the first") {
  testing::CertDir d;
  std::string err;
  auto server = TlsServerContext::create(listenerTls(d), &err);
  REQUIRE_MESSAGE(server, err);
  CHECK(server->select("b.test") == 1);
  CHECK(server->select("B.TEST") == 1);
  CHECK(server->select("x.a.test") == 0);
  CHECK(server->select("unknown.example") == 0);

  config::PoolTls pt;
  pt.ca = (d.path() / "b.crt").string();
  auto client = TlsClientContext::create(pt, &err);
  REQUIRE_MESSAGE(client, err);

  BlockPool blocks;
  TlsStream s(server);
  TlsStream c(client, "b.test", "b.test");
  REQUIRE(s.valid());
  REQUIRE(c.valid());
  CHECK(c.handshake() == 0);
  char buf[256];
  for (int round = 0; round < 6 && !(s.established() && c.established()); ++round) {
    pipe(c, s, blocks);
    CHECK(s.read(buf, sizeof buf) == TlsStream::kWant);
    pipe(s, c, blocks);
    CHECK(c.handshake() >= 0);
  }
  REQUIRE(c.established());
  REQUIRE(s.established());

  const char msg[] = "GET / HTTP/1.1\r\n\r\n";
  uv_buf_t parts[2] = {uv_buf_init(const_cast<char*>(msg), 4),
                       uv_buf_init(const_cast<char*>(msg + 4), sizeof msg - 5)};
  REQUIRE(c.write(parts, 2));
  pipe(c, s, blocks);
  ssize_t n = s.read(buf, sizeof buf);
  REQUIRE(n == static_cast<ssize_t>(sizeof msg - 1));
  CHECK(std::memcmp(buf, msg, sizeof msg - 1) == 0);

  c.shutdown();
  pipe(c, s, blocks);
  CHECK(s.read(buf, sizeof buf) == TlsStream::kEof);
  CHECK(blocks.liveCount() == 0);
}

TEST_CASE("a client verifying against another CA fails with the verify reason") {
  testing::CertDir d;
  std::string err;
  auto server = TlsServerContext::create(listenerTls(d), &err);
  REQUIRE(server);
  config::PoolTls pt;
  pt.ca = (d.path() / "b.crt").string();  // trusts only b; a.test is served by a
  auto client = TlsClientContext::create(pt, &err);
  REQUIRE(client);
  BlockPool blocks;
  TlsStream s(server);
  TlsStream c(client, "a.test", "a.test");
  int h = c.handshake();
  char buf[64];
  for (int round = 0; round < 6 && h == 0; ++round) {
    pipe(c, s, blocks);
    s.read(buf, sizeof buf);
    pipe(s, c, blocks);
    h = c.handshake();
  }
  CHECK(h == -1);
  CHECK(c.error().find("certificate verify failed") == 0);
}

TEST_CASE("certificate file checks") {
  testing::CertDir d;
  CHECK(checkCertificateFiles("a.crt", "a.key").empty());
  CHECK(checkCertificateFiles("a.crt", "b.key").find("does not match") != std::string::npos);
  CHECK(checkCertificateFiles("none.crt", "a.key").find("cannot read none.crt") == 0);
  CHECK(checkCaFile("a.crt").empty());
  CHECK(checkCaFile("a.key").find("no PEM certificate") != std::string::npos);
}

}  // namespace
}  // namespace sy::net
