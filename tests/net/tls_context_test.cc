// Certificate rotation on a shared context (tls_context.cc): a renewed pair replaces one
// certificate for new handshakes; a bad pair leaves the one in use.

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "../tls_util.h"
#include "switchyard/config/config.h"
#include "switchyard/net/tls.h"

namespace sy::net {
namespace {

namespace fs = std::filesystem;

config::ListenerTls twoCertificates(const testing::CertDir& d) {
  config::ListenerTls t;
  t.certificates.push_back({(d.path() / "a.crt").string(), (d.path() / "a.key").string(), {}});
  t.certificates.push_back({(d.path() / "b.crt").string(), (d.path() / "b.key").string(), {}});
  return t;
}

void copyPair(const fs::path& dir, const std::string& from, const std::string& to) {
  for (const char* ext : {".crt", ".key"})
    fs::copy_file(dir / (from + ext), dir / (to + ext), fs::copy_options::overwrite_existing);
}

TEST_CASE("reloadCertificate swaps one certificate; the other and earlier sets stay") {
  testing::CertDir d;
  std::string err;
  auto server = TlsServerContext::create(twoCertificates(d), &err);
  REQUIRE_MESSAGE(server, err);
  auto before = server->certificates();
  REQUIRE(before->size() == 2);
  CHECK(before->at(1).notAfter > 0);

  // b's files now hold a certificate for c.test.
  REQUIRE(testing::writeSelfSigned(d.path(), "c", {"c.test"}));
  copyPair(d.path(), "c", "b");
  CHECK(server->reloadCertificate(1) == "");
  auto after = server->certificates();
  CHECK(after->at(0).ctx == before->at(0).ctx);  // untouched: same context, same tickets
  CHECK(after->at(1).ctx != before->at(1).ctx);
  CHECK(after->at(1).names == std::vector<std::string>{"c.test"});
  CHECK(server->select("c.test") == 1);
  CHECK(server->select("b.test") == 0);
  CHECK(before->at(1).names == std::vector<std::string>{"b.test"});  // the old set is intact

  // A certificate that does not match its key, then a file that is not PEM: nothing changes.
  fs::copy_file(d.path() / "a.crt", d.path() / "b.crt", fs::copy_options::overwrite_existing);
  CHECK(server->reloadCertificate(1).find("b.crt") != std::string::npos);
  std::ofstream(d.path() / "b.crt") << "-----BEGIN CERTIFICATE-----\nnot base64\n";
  CHECK(server->reloadCertificate(1) != "");
  CHECK(server->certificates()->at(1).ctx == after->at(1).ctx);
  CHECK(server->select("c.test") == 1);

  SSL* ssl = server->newSsl();
  REQUIRE(ssl);
  CHECK(SSL_get_SSL_CTX(ssl) == server->certificates()->at(0).ctx.get());
  SSL_free(ssl);
}

TEST_CASE("a client context reloads its client certificate and keeps the old on failure") {
  testing::CertDir d;
  std::string err;
  config::PoolTls pt;
  pt.ca = (d.path() / "b.crt").string();
  pt.cert = (d.path() / "a.crt").string();
  pt.key = (d.path() / "a.key").string();
  auto client = TlsClientContext::create(pt, &err);
  REQUIRE_MESSAGE(client, err);
  CHECK(client->files() == std::vector<std::string>{pt.ca, pt.cert, pt.key});
  const int64_t notAfter = client->certificateNotAfter();
  CHECK(notAfter > 0);
  auto before = client->ctx();
  CHECK(client->reload() == "");
  CHECK(client->ctx() != before);
  auto good = client->ctx();
  std::ofstream(pt.key) << "garbage\n";
  CHECK(client->reload() != "");
  CHECK(client->ctx() == good);
  CHECK(client->certificateNotAfter() == notAfter);
}

}  // namespace
}  // namespace sy::net
