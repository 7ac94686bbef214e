#pragma once
// Plain configuration structs: the parsed, validated form of the YAML file described in
// config/README.md. Built on the main thread by the loader (loader.h); immutable afterwards.
// Every field has its documented default here.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/socket.h>

#include "switchyard/common/ascii.h"

namespace sy::config {

using Duration = std::chrono::milliseconds;
using namespace std::chrono_literals;

// Where a value came from in the YAML file (1-based line and column; 0 = unknown).
struct Mark {
  int line = 0;
  int column = 0;
};

// A resolved socket address. `text` is what the user wrote ("127.0.0.1:9001", "[::1]:80",
// "localhost:9001"); `addr`/`addrLen` is the first resolved address (numeric hosts are not
// looked up; names are resolved once at load time with getaddrinfo).
struct SocketAddress {
  std::string text;
  std::string host;  // without brackets
  uint16_t port = 0;
  sockaddr_storage addr{};
  socklen_t addrLen = 0;
};

// Timeouts of the client side: taken from the listener that accepted the connection.
struct ClientTimeouts {
  Duration clientHeader = 10s;
  Duration clientBody = 60s;
  Duration clientIdle = 60s;
  Duration clientSend = 60s;  // a client that accepts no response bytes for this long is cut
};

// Timeouts of the upstream side: taken from the pool a request is routed to.
struct UpstreamTimeouts {
  Duration upstreamConnect = 3s;
  Duration upstreamResponse = 30s;
  Duration upstreamIdle = 60s;
  Duration tunnelIdle = 1h;  // an upgraded (WebSocket) connection with no bytes either way
};

// The top-level `timeouts:` map: the defaults of every listener and pool, plus the
// process-wide drain time. The loader refuses a key under a listener or pool where it has no
// effect (config/README.md "timeouts").
struct Timeouts : ClientTimeouts, UpstreamTimeouts {
  Duration shutdown = 30s;
  // The whole request, from its head to the response head, every attempt and backoff included
  // (-> 504); 0 = none. Top level only.
  Duration request = 0ms;
};

struct Limits {
  uint32_t maxConnections = 10000;
  uint64_t maxHeaderBytes = 32 * 1024;
  uint32_t maxHeaders = 100;
  uint64_t maxBodyBytes = 100ull * 1024 * 1024;  // 0 = unlimited
};

struct AccessLog {
  std::string path = "stdout";  // stdout | stderr | a file path | off
  std::string format = "json";  // json | combined
};

struct Admin {
  SocketAddress listen;  // default 127.0.0.1:9901
  std::optional<std::string> tokenFile;
};

// A match condition's "any value" marker: `Name: "*"` means the header (or query key) is
// present, with any value.
inline constexpr std::string_view kMatchPresent = "*";

struct RouteMatch {
  std::string host;        // "" = any host; "api.example.com" exact; "*.example.com" wildcard
  std::string pathPrefix;  // "" = any path
  // match.headers: name (as written; compared case-insensitively) -> exact value, or "*".
  std::vector<std::pair<std::string, std::string>> headers;
  // match.methods: method names as written (upper case tokens); empty = any method.
  std::vector<std::string> methods;
  // match.query: key -> exact value after percent-decoding (and '+' as space), or "*".
  std::vector<std::pair<std::string, std::string>> query;
};

// routes[].split: one side of a weighted traffic split.
struct SplitTarget {
  std::string pool;
  uint32_t weight = 1;
  Mark mark;
};

// routes[].request_headers / response_headers: headers a route sets (replacing any of that
// name, whether the peer sent it or the proxy adds it) or removes. Names are compared
// case-insensitively; framing and hop-by-hop headers are refused by the loader.
struct HeaderRules {
  std::vector<std::pair<std::string, std::string>> set;  // name as written, value
  std::vector<std::string> remove;
  bool empty() const { return set.empty() && remove.empty(); }
  // Whether a header named `name` is replaced or removed (so the original is not passed on).
  bool touches(std::string_view name) const {
    for (const auto& kv : set)
      if (common::equalsIgnoreCase(kv.first, name)) return true;
    for (const std::string& r : remove)
      if (common::equalsIgnoreCase(r, name)) return true;
    return false;
  }
};

// routes[].fault: a share of the route's requests is delayed before it goes upstream, or
// answered with `abort.status` without reaching a backend (Envoy's fault filter).
struct FaultDelay {
  Duration duration{0};
  double percent = 0;  // fraction 0..1
};
struct FaultAbort {
  int status = 503;
  double percent = 0;  // fraction 0..1
};
// The longest delay a fault may ask for (config or X-Switchyard-Fault-Delay).
inline constexpr Duration kMaxFaultDelay = std::chrono::seconds(30);
struct Fault {
  std::optional<FaultDelay> delay;
  std::optional<FaultAbort> abort;
  // Networks whose requests may ask for one fault with X-Switchyard-Fault-Delay/-Abort.
  std::vector<std::string> trusted;  // CIDRs, validated
};

// pools[].hash_key, parsed (parseHashKey in units.h): what the hash policy hashes. kClientIp
// for "" or "ip"; "header:NAME", "cookie:NAME" keep NAME; kPath for "path".
struct HashKey {
  enum class Kind : uint8_t { kClientIp, kHeader, kCookie, kPath };
  Kind kind = Kind::kClientIp;
  std::string name;  // header or cookie name
};

struct Route {
  RouteMatch match;
  std::string pool;  // "" when `split` is given (exactly one of the two)
  std::vector<SplitTarget> split;
  // split_key: what keeps a user on one side of the split; nullopt = no affinity.
  std::optional<HashKey> splitKey;
  HeaderRules requestHeaders;
  HeaderRules responseHeaders;
  // Replaces match.pathPrefix at the start of the target sent upstream (Envoy prefix_rewrite).
  std::optional<std::string> rewritePrefix;
  std::optional<Fault> fault;  // routes[].fault: chaos testing; off unless configured
  // routes[].rate_limit: the policies that apply, as indices into Config::rateLimits.
  std::vector<uint32_t> rateLimits;
  Mark mark;
};

struct TlsCertificate {
  std::string cert;
  std::string key;
  Mark mark;
};

enum class TlsVersion : uint8_t { kTls12, kTls13 };  // YAML "1.2" | "1.3"

struct ListenerTls {
  std::vector<TlsCertificate> certificates;
  TlsVersion minVersion = TlsVersion::kTls12;
};

// listeners[].http2: the HTTP/2 server settings of one listener.
struct Http2Settings {
  uint32_t maxConcurrentStreams = 100;
  // Per-stream receive window advertised to clients (SETTINGS_INITIAL_WINDOW_SIZE); the
  // connection window is raised to 16 times it. 256 KiB: one window fills the backend's
  // socket buffer without holding more than kHighWater per stream (measured in the bench).
  uint32_t initialWindowSize = 256 * 1024;
  uint64_t maxHeaderListBytes = 0;  // 0 = limits.max_header_bytes
};

// listeners[].protocols (Caddy's names): which protocols clients may speak.
inline constexpr uint8_t kProtoH1 = 1;
inline constexpr uint8_t kProtoH2 = 2;   // HTTP/2 over TLS (ALPN h2)
inline constexpr uint8_t kProtoH2c = 4;  // HTTP/2 cleartext with prior knowledge (the preface)

// real_ip (top level, or per listener): the client address from a header set by trusted
// proxies (nginx's realip module with real_ip_recursive on).
struct RealIp {
  std::string header = "X-Forwarded-For";
  std::vector<std::string> trusted;  // CIDRs (validated); at least one
  Mark mark;
};

struct Listener {
  std::string name;
  SocketAddress listen;
  // proxy_protocol: every connection starts with a PROXY protocol v1 or v2 header, whose
  // source address becomes the connection's client address (src/net/proxy_protocol.h).
  bool proxyProtocol = false;
  // The listener's real_ip, else the top-level one; nullopt = the peer is the client.
  std::optional<RealIp> realIp;
  std::optional<ListenerTls> tls;
  // `redirect_https: PORT` (plain listeners only): every request is answered with a 308 to
  // https://<host>[:PORT]<target>; 0 = off.
  uint16_t redirectHttps = 0;
  std::vector<Route> routes;
  ClientTimeouts timeouts;  // the global ones, overridden by the listener's `timeouts:` keys
  // kProto* bits; default [h1, h2] with tls:, [h1] without.
  uint8_t protocols = kProtoH1;
  Http2Settings http2;
  Mark mark;
};

struct LatLon {
  double lat = 0;
  double lon = 0;
};

struct Backend {
  std::string name;
  SocketAddress address;
  uint32_t weight = 1;
  std::string region;               // "" = none; must name an entry of Config::regions
  std::string zone;                 // "" = none
  std::optional<LatLon> location;   // explicit coordinates (override the region's)
  // `resolve: true`: address.host is a DNS name, not looked up by the loader (address.addrLen
  // is 0); the running server expands this entry to one backend per A/AAAA record
  // (src/discovery). Expanded entries have resolve = false.
  bool resolve = false;
  uint32_t maxRequests = 0;  // backends[].max_requests: requests in flight at most; 0 = no cap
  Mark mark;
};

enum class HealthCheckType : uint8_t { kHttp, kTcp, kGrpc };
constexpr const char* healthCheckTypeName(HealthCheckType t) {
  return t == HealthCheckType::kTcp ? "tcp" : t == HealthCheckType::kGrpc ? "grpc" : "http";
}

struct HealthCheck {
  HealthCheckType type = HealthCheckType::kHttp;
  std::string path = "/healthz";
  std::optional<std::string> host;  // Host header; default: the backend address
  std::string service;  // type grpc: the grpc.health.v1 service asked about ("" = the server)
  Duration interval = 2s;
  Duration timeout = 1s;
  double jitter = 0.10;  // fraction of interval
  uint32_t healthyThreshold = 2;
  uint32_t unhealthyThreshold = 3;
  // Inclusive status ranges; "200-399" -> {200, 399}, "204" -> {204, 204}.
  std::vector<std::pair<int, int>> expectedStatuses = {{200, 399}};
};

struct OutlierDetection {
  uint32_t consecutiveFailures = 5;
  Duration baseEjectionTime = 30s;
  Duration maxEjectionTime = 300s;
  double maxEjectionPercent = 0.50;  // fraction 0..1
};

// Retry conditions, as a bit set.
enum RetryOn : uint32_t {
  kRetryConnectFailure = 1u << 0,
  kRetryReset = 1u << 1,
  kRetry502 = 1u << 2,
  kRetry503 = 1u << 3,
  kRetry504 = 1u << 4,
  kRetryTimeout = 1u << 5,  // timeouts.upstream_response or retries.per_try_timeout ran out
  kRetry429 = 1u << 6,
  kRetry500 = 1u << 7,
  kRetryUnavailable = 1u << 8,  // gRPC: trailers-only grpc-status 14 (UNAVAILABLE)
};

// pools[].retries.budget: retries allowed per pool, across all workers (upstream/retry_budget.h).
struct RetryBudget {
  double percent = 0.20;        // of the pool's requests over the last ~10 s
  uint32_t minPerSecond = 10;   // always allowed, whatever the request rate
};

struct Retries {
  uint32_t attempts = 2;  // extra tries on another backend
  uint32_t on = kRetryConnectFailure;
  Duration perTryTimeout = 0ms;        // 0 = none: each attempt until upstream_response
  bool allMethods = false;             // methods: all (default idempotent)
  uint64_t maxBodyBytes = 64 * 1024;   // request bodies up to this are kept for replay
  Duration backoffBase = 25ms;         // full jitter: random in [0, min(max, base * 2^(n-1))]
  Duration backoffMax = 250ms;         // also the cap on a Retry-After that is honoured
  std::optional<RetryBudget> budget;   // off unless configured
  Duration hedgeAfter = 0ms;           // 0 = no hedging
};

// pools[].limits: requests in flight to the pool across all workers, and the queue in front.
struct PoolLimits {
  uint32_t maxRequests = 0;       // 0 = no pool-wide cap
  uint32_t maxPending = 1024;     // queued requests across workers; 0 = no queue
  Duration pendingTimeout = 5s;   // longest wait in the queue
};

// pools[].max_idle_per_backend default: idle keep-alive connections kept per backend and
// worker (README "Pool limits and queueing" has the measurement behind it).
inline constexpr uint32_t kDefaultMaxIdlePerBackend = 32;

// pools[].discovery: DNS service discovery (src/discovery).
struct Discovery {
  std::optional<SocketAddress> dns;  // name:port, one backend per record; not looked up here
  std::optional<std::string> srv;    // an SRV name: one backend per target address and port
  Duration interval = 10s;  // longest re-resolve period (record TTLs may shorten it), also for
                            // backends with resolve: true
  std::optional<SocketAddress> resolver;  // a DNS server; nullopt = the system's (resolv.conf)
  uint32_t weight = 1;                    // of each backend found through `dns`
};

// pools[].tls: TLS to the backends.
struct PoolTls {
  bool enabled = true;
  std::string ca;      // PEM bundle to verify backends against; "" = the system trust store
  bool verify = true;  // false must be explicit (logged as a warning)
  std::string sni;     // server name sent and verified; "" = the backend address's host
  std::string cert;    // optional client certificate (with key)
  std::string key;
  Mark mark;
};

// pools[].policy. Names, factories and per-policy checks: balancing/registry.h.
enum class PolicyKind : uint8_t { kRoundRobin, kLeastConn, kGeoWeighted, kP2c, kHash };

// pools[].protocol: what the proxy speaks to the pool's backends.
enum class UpstreamProtocol : uint8_t {
  kHttp1,  // HTTP/1.1 (default)
  kH2,     // HTTP/2 over TLS, ALPN h2 (needs pools[].tls)
  kH2c,    // HTTP/2 over cleartext TCP, prior knowledge
};
inline constexpr uint32_t kDefaultUpstreamMaxStreams = 100;

struct Pool {
  std::string name;
  PolicyKind policy = PolicyKind::kRoundRobin;
  std::vector<Backend> backends;
  std::optional<HealthCheck> healthCheck;
  std::optional<OutlierDetection> outlierDetection;
  Duration slowStart = 0s;
  double panicThreshold = 0.50;  // fraction 0..1
  Retries retries;
  double geoOverprovisioning = 1.4;  // pools[].geo.overprovisioning
  HashKey hashKey;                   // for policy: hash
  UpstreamTimeouts timeouts;  // the global ones, overridden by the pool's `timeouts:` keys
  Discovery discovery;
  std::optional<PoolTls> tls;  // set and enabled: backends speak TLS
  PoolLimits limits;
  uint32_t maxIdlePerBackend = kDefaultMaxIdlePerBackend;
  UpstreamProtocol protocol = UpstreamProtocol::kHttp1;
  // pools[].http2.max_concurrent_streams: streams per upstream HTTP/2 connection at most (the
  // backend's SETTINGS_MAX_CONCURRENT_STREAMS may lower it).
  uint32_t http2MaxConcurrentStreams = kDefaultUpstreamMaxStreams;
  Mark mark;
  bool http2() const { return protocol != UpstreamProtocol::kHttp1; }
};

struct GeoNetwork {
  std::string cidr;  // as written; validated
  std::string region;
};

struct Geo {
  std::vector<std::string> trustedProxies = {"127.0.0.0/8", "::1"};  // CIDRs, validated
  std::string clientHeader = "X-Client-Region";
  std::vector<GeoNetwork> networks;
  std::optional<std::string> database;
  Mark databaseMark;  // where `database` was given (for errors opening it)
  std::optional<std::string> defaultRegion;
};

inline constexpr size_t kMaxRoutePolicies = 8;  // routes[].rate_limit entries

// rate_limits[]: one named GCRA policy (src/ratelimit). `rate` is count per period.
struct RateLimitKeyPart {
  enum class Kind : uint8_t { kClientIp, kHost, kRoute, kHeader, kCookie, kQuery };
  Kind kind = Kind::kClientIp;
  std::string name;  // header, cookie or query parameter name
};
struct RateLimitPolicy {
  std::string name;
  std::vector<RateLimitKeyPart> key = {RateLimitKeyPart{}};
  uint64_t count = 0;     // requests per period
  Duration period = 1s;   // 1s, 1m or 1h
  uint32_t burst = 0;     // extra requests allowed at once
  bool dryRun = false;    // mode: dry_run (count, never refuse)
  bool redis = false;     // store: redis
  uint32_t maxKeys = 100000;  // local store: keys tracked at most
  Mark mark;
  // Whether two definitions enforce the same limit (state is kept across a reload when so).
  bool sameLimit(const RateLimitPolicy& o) const {
    if (key.size() != o.key.size()) return false;
    for (size_t i = 0; i < key.size(); ++i)
      if (key[i].kind != o.key[i].kind || key[i].name != o.key[i].name) return false;
    return name == o.name && count == o.count && period == o.period && burst == o.burst &&
           redis == o.redis && maxKeys == o.maxKeys;
  }
};
// redis: the store of rate-limit policies with `store: redis`.
struct Redis {
  SocketAddress address;
  Duration timeout = 20ms;
  std::optional<std::string> passwordFile;
  std::string password;  // read from password_file at load time
};

// io_uring: the workers' data path (net/ring.h). Read at start; a reload keeps the running one.
enum class IoUring : uint8_t { kOff, kAuto, kOn };

struct Config {
  std::string sourcePath;  // file the config was read from (for messages)
  unsigned workers = 0;    // 0 = auto (server/cpus.h: affinity, cgroup quota)
  IoUring ioUring = IoUring::kOff;
  bool watch = false;      // reload when the config file changes
  Admin admin;
  AccessLog accessLog;
  Timeouts timeouts;
  Limits limits;
  std::vector<Listener> listeners;
  std::vector<Pool> pools;
  std::map<std::string, LatLon> regions;
  Geo geo;
  std::vector<RateLimitPolicy> rateLimits;
  std::optional<Redis> redis;
  std::optional<RealIp> realIp;  // top-level real_ip (the default of every listener)

  const Pool* findPool(const std::string& name) const {
    for (const auto& p : pools)
      if (p.name == name) return &p;
    return nullptr;
  }
};

}  // namespace sy::config
