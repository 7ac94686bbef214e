#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "switchyard/admin/api.h"

using namespace sy::admin;
using sy::upstream::AdminState;

namespace {

struct FakeHost : Host {
  bool drainingNow = false;
  std::string reloadError;
  int reloads = 0;
  uint64_t version = 1;
  std::vector<std::string> actions;

  bool draining() const override { return drainingNow; }
  void writeMetrics(std::string& out) override { out += "m 1\n"; }
  void writeStatus(std::string& out) override { out += "{\"status\":true}\n"; }
  std::string reloadConfig() override {
    ++reloads;
    if (reloadError.empty()) ++version;
    return reloadError;
  }
  uint64_t configVersion() const override { return version; }
  std::string notReady;
  std::string upgradeError;
  int upgrades = 0;
  std::string notReadyReason() const override { return notReady; }
  std::string startUpgrade() override {
    ++upgrades;
    return upgradeError;
  }
  bool setAdminState(std::string_view pool, std::string_view backend, AdminState s) override {
    if (pool != "web" || (backend != "b1" && backend != "127.0.0.1:9001")) return false;
    actions.push_back(std::string(pool) + "/" + std::string(backend) + "=" +
                      std::to_string(static_cast<int>(s)));
    return true;
  }
};

Response call(FakeHost& h, std::string_view method, std::string_view target,
              std::string_view auth = "", std::string_view token = "") {
  return handle(h, Request{method, target, auth}, token);
}

}  // namespace

TEST_CASE("GET endpoints") {
  FakeHost h;
  Response m = call(h, "GET", "/metrics");
  CHECK(m.status == 200);
  CHECK(m.contentType == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(m.body == "m 1\n");
  CHECK(call(h, "GET", "/metrics?name[]=x").status == 200);  // queries are ignored
  CHECK(call(h, "HEAD", "/status").body == "{\"status\":true}\n");
  Response hz = call(h, "GET", "/healthz");
  CHECK(hz.status == 200);
  CHECK(hz.body == "ok\n");
  h.drainingNow = true;
  CHECK(call(h, "GET", "/healthz").status == 503);
}

TEST_CASE("wrong methods get 405 with Allow; unknown paths 404") {
  FakeHost h;
  Response r = call(h, "POST", "/metrics");
  CHECK(r.status == 405);
  CHECK(r.allow == "GET, HEAD");
  r = call(h, "GET", "/reload");
  CHECK(r.status == 405);
  CHECK(r.allow == "POST");
  CHECK(h.reloads == 0);
  CHECK(call(h, "GET", "/pools/web/backends/b1/drain").status == 405);
  CHECK(call(h, "GET", "/nope").status == 404);
  CHECK(call(h, "GET", "").status == 404);
  CHECK(call(h, "GET", "*").status == 404);
  CHECK(call(h, "DELETE", "/pools/web/backends/b1").status == 404);
  CHECK(h.actions.empty());
}

TEST_CASE("reload: 200 with the new version, 400 with the error text") {
  FakeHost h;
  Response r = call(h, "POST", "/reload");
  CHECK(r.status == 200);
  CHECK(r.body == "{\"reloaded\":true,\"config_version\":2}\n");
  h.reloadError = "cfg.yaml:3:5: pools[0]: missing required key \"name\"";
  r = call(h, "POST", "/reload");
  CHECK(r.status == 400);
  CHECK(r.body == "{\"error\":\"cfg.yaml:3:5: pools[0]: missing required key \\\"name\\\"\"}\n");
}

TEST_CASE("backend actions") {
  FakeHost h;
  Response r = call(h, "POST", "/pools/web/backends/b1/drain");
  CHECK(r.status == 200);
  CHECK(r.body == "{\"pool\":\"web\",\"backend\":\"b1\",\"admin_state\":\"draining\"}\n");
  CHECK(call(h, "POST", "/pools/web/backends/b1/disable").status == 200);
  CHECK(call(h, "POST", "/pools/web/backends/b1/enable/").status == 200);
  CHECK(call(h, "POST", "/pools/web/backends/127.0.0.1%3A9001/drain").status == 200);
  CHECK(h.actions == std::vector<std::string>{"web/b1=1", "web/b1=2", "web/b1=0",
                                              "web/127.0.0.1:9001=1"});
  CHECK(call(h, "POST", "/pools/web/backends/b9/drain").status == 404);
  CHECK(call(h, "POST", "/pools/api/backends/b1/drain").status == 404);
  CHECK(call(h, "POST", "/pools/web/backends/b1/explode").status == 404);
  CHECK(call(h, "POST", "/pools/web/backends/b%2/drain").status == 400);
  CHECK(call(h, "POST", "/pools/web/backends/b%2F1/drain").status == 400);
  CHECK(h.actions.size() == 4);
}

TEST_CASE("with a token, every POST needs the bearer token; GETs do not") {
  FakeHost h;
  const std::string_view token = "s3cret-token";
  Response r = call(h, "POST", "/reload", "", token);
  CHECK(r.status == 401);
  CHECK(r.authChallenge);
  CHECK(call(h, "POST", "/reload", "Bearer wrong", token).status == 401);
  CHECK(call(h, "POST", "/reload", "Bearer s3cret-toke", token).status == 401);
  CHECK(call(h, "POST", "/reload", "Bearer s3cret-token2", token).status == 401);
  CHECK(call(h, "POST", "/reload", "Basic s3cret-token", token).status == 401);
  // Unknown pools are not revealed before authentication.
  CHECK(call(h, "POST", "/pools/zz/backends/b1/drain", "", token).status == 401);
  CHECK(h.reloads == 0);
  CHECK(call(h, "POST", "/reload", "Bearer s3cret-token", token).status == 200);
  CHECK(call(h, "POST", "/reload", "bearer   s3cret-token ", token).status == 200);
  CHECK(call(h, "GET", "/metrics", "", token).status == 200);
  CHECK(h.reloads == 2);
}

TEST_CASE("bearer token comparison and path decoding helpers") {
  CHECK(bearerMatches("Bearer abc", "abc"));
  CHECK_FALSE(bearerMatches("Bearer abc", ""));
  CHECK_FALSE(bearerMatches("Bearer", "abc"));
  CHECK_FALSE(bearerMatches("", "abc"));
  std::string out;
  CHECK(decodeSegment("a%20b%3a", out));
  CHECK(out == "a b:");
  CHECK_FALSE(decodeSegment("%", out));
  CHECK_FALSE(decodeSegment("%4", out));
  CHECK_FALSE(decodeSegment("%zz", out));
  CHECK_FALSE(decodeSegment("%00", out));
}

TEST_CASE("readyz follows the host's readiness; healthz stays cheap") {
  FakeHost h;
  CHECK(call(h, "GET", "/readyz").status == 200);
  h.notReady = "worker 1 has not run its loop for 4.0 s";
  Response r = call(h, "GET", "/readyz");
  CHECK(r.status == 503);
  CHECK(r.body == "worker 1 has not run its loop for 4.0 s\n");
  CHECK(call(h, "GET", "/healthz").status == 200);
  CHECK(call(h, "POST", "/readyz").status == 405);
}

TEST_CASE("POST /upgrade starts an upgrade or says why not") {
  FakeHost h;
  CHECK(call(h, "POST", "/upgrade").status == 202);
  h.upgradeError = "an upgrade is already in progress";
  Response r = call(h, "POST", "/upgrade");
  CHECK(r.status == 409);
  CHECK(r.body.find("already in progress") != std::string::npos);
  CHECK(call(h, "GET", "/upgrade").status == 405);
  CHECK(call(h, "POST", "/upgrade", "", "sekrit").status == 401);
  CHECK(h.upgrades == 2);
}

TEST_CASE("a POST with an Origin header is refused, token or not") {
  FakeHost h;
  CHECK(handle(h, Request{"POST", "/reload", "", true}, "").status == 403);
  CHECK(handle(h, Request{"POST", "/reload", "Bearer sekrit", true}, "sekrit").status == 403);
  CHECK(handle(h, Request{"GET", "/status", "", true}, "").status == 200);
  CHECK(h.reloads == 0);
  CHECK(handle(h, Request{"POST", "/reload", "Bearer sekrit", false}, "sekrit").status == 200);
}
