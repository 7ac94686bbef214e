#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "switchyard/metrics/collect.h"
#include "switchyard/metrics/stats.h"
#include "switchyard/upstream/backend.h"

using namespace sy::metrics;

namespace {

std::shared_ptr<sy::upstream::Backend> makeBackend(const std::string& name, unsigned workers) {
  sy::config::Backend cfg;
  cfg.name = name;
  cfg.address.text = "127.0.0.1:9" + std::to_string(name.size());
  cfg.weight = 2;
  return std::make_shared<sy::upstream::Backend>(cfg, "web", workers);
}

// Samples of a text exposition: "name{labels}" -> value text. Checks the format on the way:
// HELP then TYPE once per family, samples only under their family's header.
std::map<std::string, std::string> parseExposition(const std::string& text) {
  std::map<std::string, std::string> samples;
  std::istringstream in(text);
  std::string family;
  std::map<std::string, int> headers;
  for (std::string line; std::getline(in, line);) {
    REQUIRE_FALSE(line.empty());
    if (line.rfind("# HELP ", 0) == 0) {
      family = line.substr(7, line.find(' ', 7) - 7);
      CHECK(++headers[family] == 1);
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      CHECK(line.substr(7, line.find(' ', 7) - 7) == family);
      continue;
    }
    const size_t sp = line.rfind(' ');
    const std::string key = line.substr(0, sp);
    CHECK_MESSAGE(key.rfind(family, 0) == 0, line);
    CHECK_MESSAGE(samples.emplace(key, line.substr(sp + 1)).second, "duplicate series ", key);
  }
  return samples;
}

}  // namespace

TEST_CASE("status code classes") {
  CHECK(codeClass(100) == 0);
  CHECK(codeClass(204) == 1);
  CHECK(codeClass(308) == 2);
  CHECK(codeClass(499) == 3);
  CHECK(codeClass(503) == 4);
  CHECK(codeClass(0) == 4);
  CHECK(codeClass(700) == 4);
}

TEST_CASE("a stats block gives each worker its own cache-line aligned shard") {
  StatsBlock block(3, 2);
  CHECK(block.workers() == 3);
  CHECK(block.layout().listeners == 2);
  for (unsigned w = 0; w < 3; ++w) {
    block.shard(w).add(kRetries, w + 1);
    block.shard(w).addListener(1, kBytesIn, 100);
  }
  // Writing one worker's cells never touches the cache lines of another's.
  block.shard(1).countRequest(0, 200);
  Merged m = block.merge();
  CHECK(m.counter(kRetries) == 1 + 2 + 3);
  CHECK(m.listener(1, kBytesIn) == 300);
  CHECK(m.listener(0, kBytesIn) == 0);
  CHECK(m.listener(0, kCode2xx) == 1);
  CHECK(m.requests(0) == 1);
  CHECK(m.requests(1) == 0);
}

TEST_CASE("merge sums histograms; an out-of-range listener slot is clamped, not overrun") {
  StatsBlock block(2, 1);
  block.shard(0).observe(kRequestDuration, 1'000'000);   // 1 ms
  block.shard(1).observe(kRequestDuration, 1'000'000);   // 1 ms
  block.shard(1).observe(kRequestDuration, 30'000'000'000ull);  // 30 s: +Inf
  block.shard(1).addListener(7, kConnOpened);  // clamped to the last slot
  Merged m = block.merge();
  CHECK(m.histCount(kRequestDuration) == 3);
  CHECK(m.buckets(kRequestDuration)[bucketIndex(1'000'000)] == 2);
  CHECK(m.buckets(kRequestDuration)[kBucketBounds] == 1);
  CHECK(m.histSumNs(kRequestDuration) == 30'002'000'000ull);
  CHECK(m.histCount(kUpstreamResponse) == 0);
  CHECK(m.listener(0, kConnOpened) == 1);
}

TEST_CASE("workers write their shards concurrently while a scrape merges") {
  constexpr unsigned kWorkers = 4;
  constexpr uint64_t kPerWorker = 200'000;
  StatsBlock block(kWorkers, 1);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (unsigned w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&block, &go, w] {
      while (!go.load()) {
      }
      ShardRef s = block.shard(w);
      for (uint64_t i = 0; i < kPerWorker; ++i) {
        s.countRequest(0, 200);
        s.observe(kRequestDuration, 500'000);
      }
    });
  }
  go.store(true);
  uint64_t last = 0;
  for (int i = 0; i < 50; ++i) {  // counters only grow while being written
    uint64_t now = block.merge().requests(0);
    CHECK(now >= last);
    last = now;
  }
  for (auto& t : threads) t.join();
  Merged m = block.merge();
  CHECK(m.requests(0) == kWorkers * kPerWorker);
  CHECK(m.histCount(kRequestDuration) == kWorkers * kPerWorker);
  CHECK(m.histSumNs(kRequestDuration) == kWorkers * kPerWorker * 500'000);
}

TEST_CASE("writeMetrics merges backend, pool and server blocks into one exposition") {
  setListenerSlots(2);
  auto set = std::make_unique<sy::upstream::BackendSet>();
  set->name = "web";
  set->stats = std::make_shared<StatsBlock>(2);
  auto b1 = makeBackend("b1", 2);
  auto b2 = makeBackend("b2\"x", 2);
  set->backends = {b1, b2};
  std::vector<std::unique_ptr<sy::upstream::BackendSet>> pools;
  pools.push_back(std::move(set));
  const std::vector<std::string> listeners = {"public", "internal"};
  StatsBlock server(2);
  setListenerSlots(1);

  // Worker 0 and worker 1 both answer through b1 on listener 0; b2 gets a 502 on listener 1.
  b1->stats().shard(0).countRequest(0, 200);
  b1->stats().shard(1).countRequest(0, 201);
  b1->stats().shard(1).countRequest(0, 404);
  b1->stats().shard(0).observe(kRequestDuration, 2'000'000);
  b1->stats().shard(1).observe(kRequestDuration, 4'000'000);
  b1->stats().shard(0).add(kUpConnOpened, 3);
  b1->stats().shard(0).add(kUpConnClosed, 1);
  b2->stats().shard(1).countRequest(1, 502);
  b2->stats().shard(1).add(kUpConnectFailures);
  b2->setAdminState(sy::upstream::AdminState::kDraining);
  pools[0]->stats->shard(0).countRequest(0, 503);  // no backend available
  server.shard(1).countRequest(1, 404);            // no route
  server.shard(1).observe(kRequestDuration, 100'000);
  server.shard(0).addListener(0, kConnOpened, 5);
  server.shard(1).addListener(0, kConnClosed, 2);
  server.shard(0).addListener(1, kBytesOut, 1234);

  ServerCounters counters;
  counters.reloadsOk = 2;
  counters.reloadsFailed = 1;
  counters.configVersion = 3;
  std::vector<CertificateRow> certificates = {{"public", "/etc/site.crt", 1'796'000'000, 2},
                                              {"pool/web", "/etc/ca.pem", 0, 0}};
  ScrapeInput in;
  in.certificates = &certificates;
  in.pools = &pools;
  in.listeners = &listeners;
  in.server = &server;
  in.counters = &counters;
  in.processStats = false;
  std::string text;
  writeMetrics(in, text);
  auto s = parseExposition(text);

  const std::string req = "switchyard_requests_total{listener=";
  CHECK(s[req + "\"public\",pool=\"web\",backend=\"b1\",code_class=\"2xx\"}"] == "2");
  CHECK(s[req + "\"public\",pool=\"web\",backend=\"b1\",code_class=\"4xx\"}"] == "1");
  CHECK(s[req + "\"public\",pool=\"web\",backend=\"b1\",code_class=\"5xx\"}"] == "0");
  CHECK(s[req + "\"internal\",pool=\"web\",backend=\"b2\\\"x\",code_class=\"5xx\"}"] == "1");
  CHECK(s[req + "\"public\",pool=\"web\",backend=\"\",code_class=\"5xx\"}"] == "1");
  CHECK(s[req + "\"internal\",pool=\"\",backend=\"\",code_class=\"4xx\"}"] == "1");
  // Pool and unrouted rows appear only once they have counts.
  CHECK(s.count(req + "\"public\",pool=\"\",backend=\"\",code_class=\"4xx\"}") == 0);
  const std::string dur = "switchyard_request_duration_seconds_";
  CHECK(s[dur + "count{pool=\"web\",backend=\"b1\"}"] == "2");
  CHECK(s[dur + "bucket{pool=\"web\",backend=\"b1\",le=\"+Inf\"}"] == "2");
  CHECK(s[dur + "bucket{pool=\"web\",backend=\"b1\",le=\"0.0025\"}"] == "1");
  CHECK(s[dur + "bucket{pool=\"web\",backend=\"b1\",le=\"0.005\"}"] == "2");
  CHECK(s[dur + "sum{pool=\"web\",backend=\"b1\"}"] == "0.006");
  CHECK(s[dur + "count{pool=\"\",backend=\"\"}"] == "1");
  CHECK(s["switchyard_upstream_connections_active{pool=\"web\",backend=\"b1\"}"] == "2");
  CHECK(s["switchyard_upstream_connections_total{pool=\"web\",backend=\"b1\"}"] == "3");
  CHECK(s["switchyard_upstream_connect_failures_total{pool=\"web\",backend=\"b2\\\"x\"}"] == "1");
  CHECK(s["switchyard_downstream_connections_active{listener=\"public\"}"] == "3");
  CHECK(s["switchyard_downstream_connections_total{listener=\"public\"}"] == "5");
  CHECK(s["switchyard_bytes_sent_total{listener=\"internal\"}"] == "1234");
  CHECK(s["switchyard_backend_up{pool=\"web\",backend=\"b1\"}"] == "1");
  CHECK(s["switchyard_backend_weight{pool=\"web\",backend=\"b1\"}"] == "2");
  CHECK(s["switchyard_backend_admin_state{pool=\"web\",backend=\"b2\\\"x\",state=\"draining\"}"] ==
        "1");
  CHECK(s["switchyard_backend_admin_state{pool=\"web\",backend=\"b2\\\"x\",state=\"enabled\"}"] ==
        "0");
  CHECK(s["switchyard_config_reloads_total{result=\"success\"}"] == "2");
  CHECK(s["switchyard_config_reloads_total{result=\"failure\"}"] == "1");
  CHECK(s["switchyard_config_version"] == "3");
  const std::string cert = "{listener=\"public\",name=\"/etc/site.crt\"}";
  CHECK(s["switchyard_tls_certificate_expiry_timestamp_seconds" + cert] == "1796000000");
  CHECK(s["switchyard_tls_certificate_reload_failures_total" + cert] == "2");
  // A CA bundle without a client certificate: a failures counter, no expiry gauge.
  const std::string ca = "{listener=\"pool/web\",name=\"/etc/ca.pem\"}";
  CHECK(s.count("switchyard_tls_certificate_expiry_timestamp_seconds" + ca) == 0);
  CHECK(s["switchyard_tls_certificate_reload_failures_total" + ca] == "0");
  CHECK(s.count("switchyard_build_info{version=\"" SWITCHYARD_VERSION "\"}") == 1);
  CHECK(s.count("process_open_fds") == 0);
  // Every family of the table has its header, in table order.
  size_t pos = 0;
  for (const Family& f : kFamilies) {
    if (f.name.rfind("process_", 0) == 0) continue;
    size_t at = text.find("# HELP " + std::string(f.name) + " ");
    CHECK_MESSAGE(at != std::string::npos, f.name);
    CHECK_MESSAGE(at >= pos, f.name);
    pos = at;
  }
}

TEST_CASE("process metrics are read from /proc") {
  std::string text;
  ScrapeInput in;
  writeMetrics(in, text);
  auto s = parseExposition(text);
  CHECK(std::stod(s["process_open_fds"]) > 0);
  CHECK(std::stod(s["process_resident_memory_bytes"]) > 0);
  CHECK(std::stod(s["process_start_time_seconds"]) > 1.6e9);
  CHECK(std::stod(s["process_max_fds"]) >= std::stod(s["process_open_fds"]));
  CHECK(s.count("process_cpu_seconds_total") == 1);
}

TEST_CASE("local responses: counted per listener, reason and code in the server's block only") {
  StatsBlock server(2, 2, /*localResponses=*/true);
  StatsBlock backend(2, 2);
  server.shard(0).countLocal(0, LocalReason::kNoRoute, 404);
  server.shard(1).countLocal(0, LocalReason::kNoRoute, 404);
  server.shard(1).countLocal(1, LocalReason::kConnectFailed, 502);
  server.shard(0).countLocal(1, LocalReason::kBadRequest, 505);
  server.shard(0).countLocal(1, LocalReason::kBadRequest, 299);   // no cell of its own: "other"
  server.shard(0).countLocal(7, LocalReason::kRateLimited, 429);  // past the slots: the last one
  backend.shard(0).countLocal(0, LocalReason::kNoRoute, 404);     // no cells: nothing
  Merged m = server.merge();
  CHECK(m.local(0, LocalReason::kNoRoute, localCodeIndex(404)) == 2);
  CHECK(m.local(1, LocalReason::kNoRoute, localCodeIndex(404)) == 0);
  CHECK(m.local(1, LocalReason::kConnectFailed, localCodeIndex(502)) == 1);
  CHECK(m.local(1, LocalReason::kBadRequest, localCodeIndex(505)) == 1);
  CHECK(m.local(1, LocalReason::kBadRequest, kLocalOtherCode) == 1);
  CHECK(m.local(1, LocalReason::kRateLimited, localCodeIndex(429)) == 1);
  CHECK(backend.merge().local(0, LocalReason::kNoRoute, localCodeIndex(404)) == 0);
  // The local cells come after the rest and leave the other cells alone.
  CHECK(m.requests(0) == 0);
  CHECK(server.layout().cells() == backend.layout().cells() + 2 * kLocalReasons * kLocalCodes);
  CHECK(refusedReason(413) == LocalReason::kPayloadTooLarge);
  CHECK(refusedReason(431) == LocalReason::kHeaderTooLarge);
  CHECK(refusedReason(414) == LocalReason::kBadRequest);
  CHECK(localReasonInfo(LocalReason::kOverflow).name == "overflow");
  CHECK(localReasonInfo(LocalReason::kRateLimited).name == "rate_limited");
}

TEST_CASE("switchyard_local_responses_total: usual code from the start, others once counted") {
  StatsBlock server(1, 1, /*localResponses=*/true);
  server.shard(0).countLocal(0, LocalReason::kUpstreamTimeout, 504);
  server.shard(0).countLocal(0, LocalReason::kBadRequest, 414);
  const std::vector<std::string> listeners = {"public"};
  ScrapeInput in;
  in.listeners = &listeners;
  in.server = &server;
  in.processStats = false;
  std::string text;
  writeMetrics(in, text);
  auto s = parseExposition(text);
  const std::string p = "switchyard_local_responses_total{listener=\"public\",";
  CHECK(s[p + "code=\"504\",reason=\"upstream_timeout\"}"] == "1");
  CHECK(s[p + "code=\"414\",reason=\"bad_request\"}"] == "1");
  CHECK(s[p + "code=\"400\",reason=\"bad_request\"}"] == "0");
  CHECK(s[p + "code=\"404\",reason=\"no_route\"}"] == "0");
  CHECK(s[p + "code=\"503\",reason=\"overflow\"}"] == "0");
  CHECK(s[p + "code=\"429\",reason=\"rate_limited\"}"] == "0");
  CHECK(s.count(p + "code=\"503\",reason=\"no_route\"}") == 0);
  size_t series = 0;
  for (const auto& [k, v] : s) series += k.rfind(p, 0) == 0;
  CHECK(series == kLocalReasons + 1);
}
