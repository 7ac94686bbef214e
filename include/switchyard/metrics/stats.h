#pragma once
// Per-worker metric shards. A StatsBlock holds one cache-line aligned shard of plain 64-bit
// cells per worker; worker w writes only shard(w), with a relaxed load and a relaxed store (no
// read-modify-write, no lock, no cache line shared with another worker). The scrape (main
// thread) sums the shards with relaxed loads.
//
// Where blocks live, so that counters survive config snapshots:
//  - each upstream::Backend owns one (a backend kept across a reload keeps its counters);
//  - each pool (BackendSet) shares one, carried over by name, for answers given without a
//    backend (503 no backend available);
//  - the server owns one for the rest (unrouted requests, client connections, bytes).
// Every block has the same layout: counters, histograms, then per-listener cells; the server's
// block alone also has the local-response cells (listener x reason x code, local_responses.h).
// The number of listener slots is fixed at start-up (listenerSlots(): the start-up listeners plus
// spares) and slots are given out by listener name for the life of the process
// (Server::listenerSlot), so a listener keeps its slot across reloads. A listener a reload adds
// takes a spare slot; once the spares are used up, further new listeners share the last slot.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <vector>

#include "switchyard/metrics/families.h"
#include "switchyard/metrics/local_responses.h"

namespace sy::metrics {

// One counter cell. Written by a single thread; read by any.
struct Cell {
  std::atomic<uint64_t> v{0};
  void add(uint64_t d) {
    v.store(v.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
  }
  uint64_t get() const { return v.load(std::memory_order_relaxed); }
};

enum Counter : uint32_t {
  kUpConnOpened,      // upstream connections opened (connect started)
  kUpConnClosed,      // upstream connections closed (handle closed)
  kUpReuses,          // requests sent on a pooled connection
  kUpConnectFailures,
  kRetries,           // attempts given up on this backend and retried elsewhere
  kPoolOverflow,      // pool blocks: 503s past limits.max_pending or pending_timeout
  // Pool blocks (BackendSet::stats): retries by reason (kRetryReasons order), retries the
  // budget refused, hedges by result (kHedgeResults order).
  kRetryReasonFirst,
  kRetryReasonLast = kRetryReasonFirst + 9,
  kRetryBudgetExhausted,
  kHedgeFirst,
  kHedgeLast = kHedgeFirst + 2,
  // Backend blocks: gRPC calls answered by the backend, one cell per grpc-status 0..16
  // (switchyard_grpc_responses_total; grpcResponseStatus() in proxy/grpc.h picks the cell).
  kGrpcStatusFirst,
  kGrpcStatusLast = kGrpcStatusFirst + 16,
  kCounterCount,
};

// The `reason` label values of switchyard_retries_total, in the order of their cells from
// kRetryReasonFirst. keepalive_race: a reused connection the backend had just closed (replayed
// on a fresh connection, outside the budget); unavailable: a gRPC trailers-only grpc-status 14.
inline constexpr const char* kRetryReasons[] = {"connect_failure", "reset", "timeout",
                                                "429",             "500",   "502",
                                                "503",             "504",   "keepalive_race",
                                                "unavailable"};
static_assert(std::size(kRetryReasons) == kRetryReasonLast - kRetryReasonFirst + 1);
// The `result` label values of switchyard_hedges_total: sent (a second attempt started), won
// (its answer went to the client), lost (the first attempt answered first; the hedge was
// cancelled, or it failed).
inline constexpr const char* kHedgeResults[] = {"sent", "won", "lost"};
static_assert(std::size(kHedgeResults) == kHedgeLast - kHedgeFirst + 1);
// The `grpc_status` label values of switchyard_grpc_responses_total, from kGrpcStatusFirst.
inline constexpr const char* kGrpcStatusLabels[] = {"0", "1",  "2",  "3",  "4",  "5",
                                                    "6", "7",  "8",  "9",  "10", "11",
                                                    "12", "13", "14", "15", "16"};
static_assert(std::size(kGrpcStatusLabels) == kGrpcStatusLast - kGrpcStatusFirst + 1);

enum Histogram : uint32_t {
  kRequestDuration,
  kUpstreamResponse,
  kUpstreamConnect,
  kPendingWait,  // pool blocks: time queued for a slot (pools[].limits)
  kHistogramCount,
};

enum PerListener : uint32_t {
  kCode1xx,  // kCode1xx + class-1 for 1xx..5xx
  kCode2xx,
  kCode3xx,
  kCode4xx,
  kCode5xx,
  kConnOpened,
  kConnClosed,
  kBytesIn,
  kBytesOut,
  kTlsHandshakeFailures,
  kUpgrades,       // tunnels opened (101 relayed)
  kTunnelsClosed,  // tunnels ended
  kH2Streams,      // HTTP/2 streams that carried a request
  kH2ConnOpened,   // connections that switched to HTTP/2
  kH2ConnClosed,
  kH2GoawayFirst,  // GOAWAYs sent, one cell per kH2GoawayErrors entry
  kH2GoawayLast = kH2GoawayFirst + 7,
  kFaultDelays,  // routes[].fault injected
  kFaultAborts,
  kPerListenerCount,
};

inline constexpr uint32_t kCodeClasses = 5;

// The `error` label values of switchyard_http2_goaways_sent_total (RFC 9113 §7 names), in the
// order of their cells from kH2GoawayFirst; the last one collects every other code.
inline constexpr const char* kH2GoawayErrors[] = {
    "NO_ERROR",          "PROTOCOL_ERROR",    "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
    "ENHANCE_YOUR_CALM", "COMPRESSION_ERROR", "FRAME_SIZE_ERROR", "OTHER"};
static_assert(std::size(kH2GoawayErrors) == kH2GoawayLast - kH2GoawayFirst + 1);
// The cell counting a GOAWAY with HTTP/2 error code `code`.
constexpr uint32_t h2GoawayCell(uint32_t code) {
  switch (code) {
    case 0x0: return kH2GoawayFirst;
    case 0x1: return kH2GoawayFirst + 1;
    case 0x2: return kH2GoawayFirst + 2;
    case 0x3: return kH2GoawayFirst + 3;
    case 0xb: return kH2GoawayFirst + 4;
    case 0x9: return kH2GoawayFirst + 5;
    case 0x6: return kH2GoawayFirst + 6;
    default: return kH2GoawayLast;
  }
}

// Cell offsets inside one shard.
struct Layout {
  static constexpr uint32_t kHistCells = kBuckets + 1;  // buckets (not cumulative), then sum (ns)
  uint32_t listeners = 1;
  bool localResponses = false;  // the server's block: local-response cells after the rest

  static constexpr uint32_t counter(Counter c) { return c; }
  static constexpr uint32_t bucket(Histogram h, uint32_t b) {
    return kCounterCount + h * kHistCells + b;
  }
  static constexpr uint32_t histSum(Histogram h) { return bucket(h, kBuckets); }
  uint32_t listener(uint32_t slot, PerListener k) const {
    if (slot >= listeners) slot = listeners - 1;
    return kCounterCount + kHistogramCount * kHistCells + slot * kPerListenerCount + k;
  }
  static constexpr uint32_t kLocalCellsPerListener = kLocalReasons * kLocalCodes;
  uint32_t local(uint32_t slot, LocalReason r, uint32_t codeIndex) const {
    if (slot >= listeners) slot = listeners - 1;
    return kCounterCount + kHistogramCount * kHistCells + listeners * kPerListenerCount +
           slot * kLocalCellsPerListener + static_cast<uint32_t>(r) * kLocalCodes + codeIndex;
  }
  uint32_t cells() const {
    return kCounterCount + kHistogramCount * kHistCells + listeners * kPerListenerCount +
           (localResponses ? listeners * kLocalCellsPerListener : 0);
  }
};

// Listener slots every new StatsBlock has: set once by the server before the first snapshot is
// built (main thread, before workers start); 1 until then (unit tests).
void setListenerSlots(uint32_t n);
uint32_t listenerSlots();

// Status class index 0..4 for 1xx..5xx (anything else counts as 5xx).
constexpr uint32_t codeClass(int status) {
  return status >= 100 && status < 600 ? static_cast<uint32_t>(status / 100 - 1) : 4;
}

// One worker's view of a block: cheap to make, holds no state of its own.
class ShardRef {
 public:
  ShardRef(Cell* cells, const Layout* layout) : c_(cells), l_(layout) {}
  void add(Counter k, uint64_t d = 1) { c_[Layout::counter(k)].add(d); }
  void addListener(uint32_t slot, PerListener k, uint64_t d = 1) {
    c_[l_->listener(slot, k)].add(d);
  }
  void countRequest(uint32_t slot, int status) {
    addListener(slot, static_cast<PerListener>(kCode1xx + codeClass(status)));
  }
  // A local answer (switchyard_local_responses_total): counted only in a block made with
  // local-response cells (the server's); a no-op elsewhere.
  void countLocal(uint32_t slot, LocalReason r, int status) {
    if (l_->localResponses) c_[l_->local(slot, r, localCodeIndex(status))].add(1);
  }
  void observe(Histogram h, uint64_t ns) {
    c_[Layout::bucket(h, bucketIndex(ns))].add(1);
    c_[Layout::histSum(h)].add(ns);
  }

 private:
  Cell* c_;
  const Layout* l_;
};

// The shards of all workers merged (plain sums), laid out like a shard.
class Merged {
 public:
  Merged() = default;
  Merged(std::vector<uint64_t> cells, Layout layout) : v_(std::move(cells)), l_(layout) {}
  uint64_t counter(Counter k) const { return v_[Layout::counter(k)]; }
  uint64_t listener(uint32_t slot, PerListener k) const { return v_[l_.listener(slot, k)]; }
  // Non-cumulative bucket counts (kBuckets of them; the last one is +Inf).
  const uint64_t* buckets(Histogram h) const { return &v_[Layout::bucket(h, 0)]; }
  uint64_t histSumNs(Histogram h) const { return v_[Layout::histSum(h)]; }
  // 0 for a block without local-response cells.
  uint64_t local(uint32_t slot, LocalReason r, uint32_t codeIndex) const {
    return l_.localResponses ? v_[l_.local(slot, r, codeIndex)] : 0;
  }
  uint64_t histCount(Histogram h) const;
  uint64_t requests(uint32_t slot) const;  // all status classes
  const Layout& layout() const { return l_; }

 private:
  std::vector<uint64_t> v_;
  Layout l_;
};

class StatsBlock {
 public:
  // `listeners` = 0 takes listenerSlots(); `localResponses` adds the local-response cells.
  explicit StatsBlock(unsigned workers, uint32_t listeners = 0, bool localResponses = false);
  StatsBlock(const StatsBlock&) = delete;
  StatsBlock& operator=(const StatsBlock&) = delete;

  // Worker `w` only (w < workers()).
  ShardRef shard(unsigned w) { return ShardRef(cells_.get() + size_t{w} * stride_, &layout_); }
  // Any thread: the sum over all workers.
  Merged merge() const;

  unsigned workers() const { return workers_; }
  const Layout& layout() const { return layout_; }

 private:
  struct Deleter {
    void operator()(Cell* p) const;
  };
  Layout layout_;
  unsigned workers_;
  size_t stride_;  // cells per shard, rounded up to whole cache lines
  std::unique_ptr<Cell, Deleter> cells_;
};

}  // namespace sy::metrics
