#pragma once
// The access log: one line per request, in JSON or the combined format, to stdout, stderr or a
// file. Workers never touch the disk: each formats lines into its own buffer (WorkerLog) and
// hands full buffers to a single writer thread through a lock-free single-producer ring; the
// writer does the write(2)s. A worker flushes from a timer (kFlushIntervalMs) or when its
// buffer passes kFlushBytes. When the writer falls behind, a worker buffers up to
// kMaxBufferedBytes, then drops lines and counts them (never blocks).
//
// Threads: AccessLog's methods run on the main thread; WorkerLog's on its worker (constructed
// by the main thread before the worker starts); the writer thread is internal.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "switchyard/config/config.h"
#include "switchyard/metrics/stats.h"

namespace sy::metrics {

enum class LogFormat : uint8_t { kJson, kCombined };

// One finished exchange as the session saw it. The views only need to live during append().
struct AccessRecord {
  uint64_t startNs = 0;     // uv_hrtime() at the first byte of the request
  uint64_t durationNs = 0;
  std::string_view client;  // peer address
  std::string_view listener;
  std::string_view method;  // empty when the head was never parsed
  std::string_view target;  // request target as sent (path and query)
  std::string_view protocol;  // "HTTP/1.1"
  std::string_view host;
  std::string_view userAgent;
  std::string_view referer;
  std::string_view requestId;
  std::string_view pool;     // empty: not routed
  std::string_view backend;  // empty: no backend tried
  std::string_view upstreamAddress;
  int status = 0;
  uint64_t bytesSent = 0;         // to the client, head and body
  uint64_t requestBodyBytes = 0;
  int64_t upstreamConnectNs = -1;   // -1: no new connection (reused, or no backend)
  int64_t upstreamResponseNs = -1;  // -1: no response head from a backend
  uint32_t attempts = 0;
  std::string_view fault;  // routes[].fault injected: "delay" | "abort"; empty = none
  int grpcStatus = -1;     // gRPC calls: the grpc-status the client got (-1: none / not gRPC)
};

// Second-resolution text of the time stamps, reused while the second does not change.
struct TimeCache {
  int64_t second = INT64_MIN;
  char iso[20];  // 2026-11-27T00:45:58
  char clf[27];  // 27/Nov/2026:00:45:58 +0000
};

// Appends one line (with "\n"). `wallNs` is the request's start as unix time in nanoseconds.
void formatAccessLine(LogFormat format, const AccessRecord& r, int64_t wallNs, TimeCache& tc,
                      std::string& out);

// Single-producer single-consumer ring of buffer pointers.
class BufferRing {
 public:
  static constexpr size_t kSize = 16;
  bool push(std::string* p);  // producer; false when full
  std::string* pop();         // consumer; nullptr when empty

 private:
  std::string* slots_[kSize] = {};
  alignas(64) std::atomic<size_t> head_{0};  // next slot to pop
  alignas(64) std::atomic<size_t> tail_{0};  // next slot to push
};

class AccessLog;

class WorkerLog {
 public:
  static constexpr size_t kFlushBytes = 32 * 1024;
  static constexpr size_t kMaxBufferedBytes = 1024 * 1024;
  static constexpr uint64_t kFlushIntervalMs = 100;

  explicit WorkerLog(AccessLog* log);
  ~WorkerLog();
  WorkerLog(const WorkerLog&) = delete;
  WorkerLog& operator=(const WorkerLog&) = delete;

  bool enabled() const;
  // Formats and buffers one line.
  void append(const AccessRecord& r);
  // Hands the buffered lines to the writer and refreshes the wall clock anchor. Call from a
  // timer every kFlushIntervalMs (also when nothing is buffered).
  void flush();
  uint64_t dropped() const { return dropped_.get(); }

 private:
  friend class AccessLog;
  void handOff();
  void anchorClock();

  AccessLog* log_;
  std::string* buf_;
  BufferRing full_;   // worker -> writer
  BufferRing spare_;  // writer -> worker (emptied buffers, capacity kept)
  TimeCache time_;
  int64_t wallAnchorNs_ = 0;   // unix time in ns at hrAnchorNs_
  uint64_t hrAnchorNs_ = 0;
  Cell dropped_;
};

class AccessLog {
 public:
  explicit AccessLog(unsigned workers);
  ~AccessLog();

  // Opens cfg.path (unless it is what is open already) and applies cfg.format. Returns an
  // error text (and keeps the previous target) when the file cannot be opened.
  std::string configure(const config::AccessLog& cfg);
  // Opens the file again (SIGUSR1, after logrotate moved it). No-op for stdout/stderr/off.
  std::string reopen();
  // Starts the writer thread.
  void start();
  // Writes everything still buffered and joins the writer. Workers must have stopped.
  void stop();

  WorkerLog& worker(unsigned i) { return *workers_[i]; }
  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }
  LogFormat format() const {
    return static_cast<LogFormat>(format_.load(std::memory_order_relaxed));
  }
  uint64_t dropped() const;
  // Producer side: wakes the writer after a buffer was queued.
  void wake();

 private:
  void run();
  bool drainOnce();
  void switchTarget();  // writer thread: adopt the target openTarget() left pending
  void writeOut(const std::string& data);
  std::string openTarget(const std::string& path);

  std::vector<std::unique_ptr<WorkerLog>> workers_;
  std::atomic<bool> enabled_{false};
  std::atomic<uint8_t> format_{0};
  std::atomic<uint32_t> wake_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::string path_;  // main thread: the path currently open

  std::mutex mu_;  // main thread <-> writer only: the target to switch to
  int pendingFd_ = -1;
  bool pendingOwned_ = false;
  bool havePending_ = false;

  // Writer thread only.
  int fd_ = -1;
  bool ownsFd_ = false;
  bool reportedError_ = false;
};

}  // namespace sy::metrics
