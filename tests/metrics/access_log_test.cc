#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <uv.h>

#include "switchyard/metrics/access_log.h"

using namespace sy::metrics;

namespace {

// 2026-11-27T00:45:58.097Z
constexpr int64_t kWallNs = 1'795'740'358'097'000'000;

AccessRecord sampleRecord() {
  AccessRecord r;
  r.durationNs = 12'345'678;  // 12.346 ms
  r.client = "10.1.2.3";
  r.listener = "public";
  r.method = "GET";
  r.target = "/a?b=1";
  r.protocol = "HTTP/1.1";
  r.host = "example.com";
  r.userAgent = "curl/8";
  r.requestId = "rid-1";
  r.pool = "web";
  r.backend = "b1";
  r.upstreamAddress = "127.0.0.1:9001";
  r.status = 200;
  r.bytesSent = 512;
  r.requestBodyBytes = 7;
  r.upstreamConnectNs = 250'000;
  r.upstreamResponseNs = 10'000'000;
  r.attempts = 1;
  return r;
}

std::string format(LogFormat f, const AccessRecord& r, int64_t wall = kWallNs) {
  TimeCache tc;
  std::string out;
  formatAccessLine(f, r, wall, tc, out);
  return out;
}

std::vector<std::string> readLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/switchyard-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::string cmd = "rm -rf '" + path + "'";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", path.c_str());
  }
};

}  // namespace

TEST_CASE("JSON access line") {
  CHECK(format(LogFormat::kJson, sampleRecord()) ==
        "{\"time\":\"2026-11-27T00:45:58.097Z\",\"request_id\":\"rid-1\",\"client\":\"10.1.2.3\","
        "\"listener\":\"public\",\"method\":\"GET\",\"path\":\"/a?b=1\",\"protocol\":\"HTTP/1.1\","
        "\"host\":\"example.com\",\"status\":200,\"bytes_sent\":512,\"request_body_bytes\":7,"
        "\"duration_ms\":12.346,\"pool\":\"web\",\"backend\":\"b1\","
        "\"upstream_address\":\"127.0.0.1:9001\",\"upstream_connect_ms\":0.250,"
        "\"upstream_response_ms\":10.000,\"attempts\":1,\"grpc_status\":null,"
        "\"user_agent\":\"curl/8\","
        "\"referer\":null}\n");
}

TEST_CASE("JSON access line: absent values are null, hostile bytes stay valid JSON") {
  AccessRecord r;
  r.client = "::1";
  r.status = 404;
  r.durationNs = 999;
  r.method = "GET";
  r.target = "/\"quote\\\x01\xff\xc3\xa9";
  r.userAgent = "line\nbreak";
  std::string line = format(LogFormat::kJson, r);
  CHECK(line.find("\"path\":\"/\\\"quote\\\\\\u0001\\u00ff\xc3\xa9\"") != std::string::npos);
  CHECK(line.find("\"user_agent\":\"line\\nbreak\"") != std::string::npos);
  CHECK(line.find("\"pool\":null,\"backend\":null,\"upstream_address\":null,"
                  "\"upstream_connect_ms\":null,\"upstream_response_ms\":null") !=
        std::string::npos);
  CHECK(line.find("\"duration_ms\":0.001") != std::string::npos);
  CHECK(line.find("\"request_id\":null") != std::string::npos);
  CHECK(line.back() == '\n');
  CHECK(line.find('\n') == line.size() - 1);
}

TEST_CASE("combined access line with Switchyard's fields appended") {
  AccessRecord r = sampleRecord();
  r.referer = "http://x/\"y\"";
  CHECK(format(LogFormat::kCombined, r) ==
        "10.1.2.3 - - [27/Nov/2026:00:45:58 +0000] \"GET /a?b=1 HTTP/1.1\" 200 512 "
        "\"http://x/\\x22y\\x22\" \"curl/8\" request_id=rid-1 duration=0.012 backend=web/b1 "
        "upstream_connect=0.000 upstream_response=0.010 attempts=1\n");
  AccessRecord bare;
  bare.client = "10.1.2.3";
  bare.status = 400;
  CHECK(format(LogFormat::kCombined, bare) ==
        "10.1.2.3 - - [27/Nov/2026:00:45:58 +0000] \"-\" 400 0 \"-\" \"-\" request_id=- "
        "duration=0.000 backend=- upstream_connect=- upstream_response=- attempts=0\n");
}

TEST_CASE("access lines of a gRPC call carry its grpc_status") {
  AccessRecord r = sampleRecord();
  r.grpcStatus = 5;
  CHECK(format(LogFormat::kJson, r).find("\"attempts\":1,\"grpc_status\":5,") !=
        std::string::npos);
  CHECK(format(LogFormat::kCombined, r).find(" attempts=1 grpc_status=5\n") != std::string::npos);
  r.grpcStatus = 0;
  CHECK(format(LogFormat::kJson, r).find("\"grpc_status\":0,") != std::string::npos);
  r.grpcStatus = -1;
  CHECK(format(LogFormat::kCombined, r).find("grpc_status") == std::string::npos);
}

TEST_CASE("the time cache follows the clock across seconds") {
  TimeCache tc;
  std::string a, b;
  AccessRecord r = sampleRecord();
  formatAccessLine(LogFormat::kJson, r, kWallNs, tc, a);
  formatAccessLine(LogFormat::kJson, r, kWallNs + 2'000'000'000, tc, b);
  CHECK(a.find("2026-11-27T00:45:58.097Z") != std::string::npos);
  CHECK(b.find("2026-11-27T00:46:00.097Z") != std::string::npos);
}

TEST_CASE("buffer ring: single producer, single consumer, bounded") {
  BufferRing ring;
  std::vector<std::string> items(BufferRing::kSize + 1);
  for (size_t i = 0; i < BufferRing::kSize; ++i) CHECK(ring.push(&items[i]));
  CHECK_FALSE(ring.push(&items[BufferRing::kSize]));
  CHECK(ring.pop() == &items[0]);
  CHECK(ring.push(&items[BufferRing::kSize]));
  for (size_t i = 1; i <= BufferRing::kSize; ++i) CHECK(ring.pop() == &items[i]);
  CHECK(ring.pop() == nullptr);
}

TEST_CASE("access log: worker buffers reach the file through the writer thread; reopen") {
  TempDir dir;
  const std::string path = dir.path + "/access.log";
  AccessLog log(2);
  sy::config::AccessLog cfg;
  cfg.path = path;
  cfg.format = "json";
  REQUIRE(log.configure(cfg) == "");
  CHECK(log.enabled());
  log.start();
  AccessRecord r = sampleRecord();
  r.startNs = uv_hrtime();
  for (int i = 0; i < 300; ++i) log.worker(i % 2).append(r);  // passes kFlushBytes: handed off
  log.worker(0).flush();
  log.worker(1).flush();
  // Rotate: move the file away, reopen, write more.
  const std::string rotated = path + ".1";
  REQUIRE(std::rename(path.c_str(), rotated.c_str()) == 0);
  REQUIRE(log.reopen() == "");
  log.worker(0).append(r);
  log.worker(0).flush();
  log.stop();
  CHECK(readLines(rotated).size() + readLines(path).size() == 301);
  CHECK(readLines(path).size() >= 1);
  for (const std::string& line : readLines(rotated)) {
    CHECK(line.front() == '{');
    CHECK(line.back() == '}');
  }
  CHECK(log.dropped() == 0);
}

TEST_CASE("access log: a stalled writer makes workers drop and count lines, never block") {
  TempDir dir;
  AccessLog log(1);
  sy::config::AccessLog cfg;
  cfg.path = dir.path + "/a.log";
  REQUIRE(log.configure(cfg) == "");
  AccessRecord r = sampleRecord();
  // The writer is not running: the ring fills, then the buffer grows to its cap, then lines
  // are dropped.
  const int lines = 30000;
  for (int i = 0; i < lines; ++i) log.worker(0).append(r);
  CHECK(log.dropped() > 0);
  log.start();
  log.stop();  // drains everything that was kept
  CHECK(readLines(cfg.path).size() + log.dropped() == static_cast<size_t>(lines));
}

TEST_CASE("access log: off, a bad path, and switching format") {
  AccessLog log(1);
  sy::config::AccessLog cfg;
  cfg.path = "off";
  REQUIRE(log.configure(cfg) == "");
  CHECK_FALSE(log.enabled());
  cfg.path = "/nonexistent-dir/x/access.log";
  std::string err = log.configure(cfg);
  CHECK(err.find("/nonexistent-dir/x/access.log") != std::string::npos);
  CHECK_FALSE(log.enabled());  // the previous target stays
  cfg.path = "stderr";
  cfg.format = "combined";
  REQUIRE(log.configure(cfg) == "");
  CHECK(log.enabled());
  CHECK(log.format() == LogFormat::kCombined);
  CHECK(log.reopen() == "");  // stderr: nothing to reopen
}
