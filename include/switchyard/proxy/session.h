#pragma once
// A client connection and the requests on it: parses requests (llhttp), routes them, picks a
// backend, streams the request to an upstream connection and the response back, one request
// at a time (pipelined requests wait in the input buffer, so answers stay in order).
//
// Memory: a Session holds only what a connection needs between requests (socket, deadlines,
// input block reference, ~0.5 KB); everything a request needs while it is in progress (parsers,
// routing, upstream state, telemetry) is an Exchange borrowed from the worker's pool from the
// request's first byte until it is answered. Idle keep-alive connections hold no Exchange, no
// block and no config snapshot.
//
// Bodies are never copied: body bytes are forwarded as references into the read blocks.
// Backpressure: a side stops reading while the other side's unsent bytes exceed kHighWater
// and resumes below kLowWater. Worker thread only; freed in its handles' close callbacks.

#include <cstdint>
#include <memory>

#include <uv.h>

#include "switchyard/common/free_list.h"
#include "switchyard/http/forward.h"
#include "switchyard/http/parser.h"
#include "switchyard/http/request_id.h"
#include "switchyard/net/buffer.h"
#include "switchyard/net/timer_wheel.h"
#include "switchyard/net/tls.h"
#include "switchyard/proxy/selection_keys.h"
#include "switchyard/server/snapshot.h"
#include "switchyard/upstream/upstream_conn.h"

namespace sy::server {
class Worker;
struct WorkerListener;
}  // namespace sy::server

namespace sy::proxy {

// Bytes held for one socket direction before reading the other side pauses.
inline constexpr size_t kHighWater = 256 * 1024;
inline constexpr size_t kLowWater = 64 * 1024;

// Input side of a socket: the block being read into, and how far it has been parsed.
struct InputBuffer {
  net::Block* block = nullptr;
  uint32_t parsed = 0;  // offset of the first byte not yet given to the parser
  uint32_t end = 0;     // offset after the last byte read

  char* at(uint32_t off) { return block->data() + off; }
  uint32_t unparsed() const { return end - parsed; }
  // Space to read into. Keeps the bytes still needed (a partial head from the parser's base,
  // else the unparsed bytes) contiguous, moving them to a fresh block when the tail is short.
  // `parser` may be null when no message is in progress.
  uv_buf_t prepare(net::BlockPool& pool, http::Parser* parser, uint32_t maxHead);
  // Drops the block if nothing in it is still needed.
  void releaseIfEmpty(const http::Parser* parser);
  void release();
};

class Session;

// One request/response exchange's state. Pooled per worker (ExchangePool): steady-state
// requests allocate nothing, and connections between requests hold none.
struct Exchange {
  explicit Exchange(http::HeaderPool* headers);
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  http::Parser reqParser_;
  http::Parser respParser_;
  InputBuffer upIn_;
  Exchange* nextFree = nullptr;

  // the request
  std::shared_ptr<server::WorkerView> view_;  // config snapshot the request started with
  upstream::BackendSet* set_ = nullptr;
  const config::HeaderRules* respEdits_ = nullptr;  // the route's response_headers
  balancing::Policy* policy_ = nullptr;
  SelectionInputs selection_;  // client location and hash key, if the policy needs them
  http::RequestInfo req_;
  uint64_t bodyBytes_ = 0;
  net::Block* reqHead_ = nullptr;  // serialized upstream request head (kept for retries)
  uint32_t reqHeadLen_ = 0;
  net::WriteBatch* upOut_ = nullptr;  // bytes waiting for the upstream connection
  bool requestHasBody_ = false;
  bool discardBody_ = false;      // request answered locally; drop its body
  bool requestComplete_ = false;  // whole request parsed

  // upstream
  upstream::UpstreamConn* up_ = nullptr;
  upstream::Backend* backend_ = nullptr;
  const upstream::Backend* tried_[16];
  uint32_t triedCount_ = 0;
  uint32_t attempts_ = 0;
  uint32_t upWrites_ = 0;  // uv_writes in flight to the backend
  bool upConnected_ = false;
  bool holdsInFlight_ = false;  // counted in backend_->inFlight()
  bool upReused_ = false;
  bool upReading_ = false;
  bool upSawBytes_ = false;
  bool freshOnly_ = false;  // next attempt must open a new connection
  int retryStatus_ = 0;     // a 5xx answer being dropped for a retry (retries.on)
  bool respHeadSent_ = false;
  bool respComplete_ = false;
  bool tunnel_ = false;     // the backend answered 101: the connection becomes a byte tunnel
  bool clientEof_ = false;  // the client half-closed (tunnel: close once its bytes are sent)
  http::ResponseBody respBody_ = http::ResponseBody::kNone;
  net::WriteBatch* clientOut_ = nullptr;  // response bytes being collected for the client
  uv_shutdown_t shutdownReq_;             // used once, when the connection closes

  // observability: one exchange's timings and what its access log line needs
  uint64_t reqStartNs_ = 0;   // uv_hrtime() at the request's first byte; 0 = no exchange open
  uint64_t upSentNs_ = 0;     // request started going out on a connected upstream connection
  int64_t upConnectNs_ = -1;  // new upstream connection's connect time (-1: none)
  int64_t upResponseNs_ = -1; // upSentNs_ to the response head (-1: no response head)
  uint64_t respBytes_ = 0;    // bytes handed to the client socket
  int status_ = 0;            // status sent to the client (0: none yet)
  net::Block* headRef_ = nullptr;  // keeps the request head (and the views below) alive
  std::string_view method_;
  std::string_view target_;
  std::string_view userAgent_;
  std::string_view referer_;
  std::string_view reqId_;    // X-Request-Id: the client's (a view into the head) or genId_
  char genId_[http::kGeneratedRequestIdLength];
};

// The worker's free Exchanges.
class ExchangePool {
 public:
  explicit ExchangePool(http::HeaderPool* headers) : headers_(headers) {}
  ExchangePool(const ExchangePool&) = delete;
  ExchangePool& operator=(const ExchangePool&) = delete;
  ~ExchangePool();
  Exchange* acquire();
  void release(Exchange* x);
  size_t freeCount() const { return free_.size(); }
  // Called periodically: frees the idle Exchanges beyond `keep` that stayed unused since the
  // previous call (see net::BlockPool::trim). Returns how many were freed.
  size_t trim(size_t keep);

 private:
  http::HeaderPool* headers_;
  common::FreeList<Exchange> free_;
  size_t maxFree_ = 4096;
};

class Session final : public http::Parser::Handler, public upstream::ConnUser {
 public:
  Session(server::Worker& worker, server::WorkerListener& listener);
  ~Session() override;

  // Called once after uv_accept() succeeded into tcp().
  void start();
  uv_tcp_t* tcp() { return &tcp_; }
  // Drain: close now if idle between requests, else close after the current response.
  void drain();
  // Closes both sides now (idempotent).
  void abort();

  Session* prev = nullptr;  // worker's session list
  Session* next = nullptr;

  // http::Parser::Handler (request and response parsers share these; `p` tells which).
  int onHeadersComplete(http::Parser& p) override;
  int onBody(http::Parser& p, const char* data, size_t n) override;
  int onMessageComplete(http::Parser& p) override;

  // upstream::ConnUser
  void onUpstreamConnect(int status) override;
  void onUpstreamAlloc(size_t suggested, uv_buf_t* buf) override;
  void onUpstreamRead(ssize_t n, const uv_buf_t* buf) override;
  void onUpstreamWriteDone(int status) override;

 private:
  enum class Phase : uint8_t {
    kIdle,      // waiting for the first byte of a request
    kHead,      // reading a request head
    kBody,      // request routed; body (if any) streaming
    kWaiting,   // request complete; response not finished
    kTunnel,    // upgraded (101): bytes relayed both ways until either side closes
    kLingering, // answered and closing: discard input until EOF or timeout
    kClosed,
  };

  // exchange lifetime
  Exchange& ensureExchange();  // borrows one (and starts a request) if none is held
  void resetExchange();        // per-request state for the next request
  void releaseExchange();

  // client side
  static void onClientAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void onClientRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  void onClientData(ssize_t n);  // n plaintext bytes landed in in_ (or an error/EOF)
  void onClientCipher(const char* p, size_t n);  // TLS: decrypts into in_
  void flushClientTls();  // TLS: sends what OpenSSL produced (handshake, tickets, alerts)
  static void onTimer(net::TimerWheel::Entry* e);
  static void onHandleClosed(uv_handle_t* h);
  uint32_t maxHeaderBytes() const;
  http::Parser* reqParser() { return ex_ ? &ex_->reqParser_ : nullptr; }
  void processClientInput();
  void startClientReading();
  void stopClientReading();
  void beginRequest();
  // A request head has begun (or is waiting in the buffer): borrow an Exchange, start its clock
  // and the client_header deadline.
  void startRequestHead();
  void finishExchange();
  void writeClient(net::WriteBatch* batch);  // plaintext response bytes
  bool flushClientOut();  // writes ex_->clientOut_, if any; whether there was something
  void sendClient(net::WriteBatch* batch);   // bytes for the socket as they are
  void onClientWriteDone(int status);
  int requestHeadersComplete();
  int responseHeadersComplete();
  // Answers locally. `close` ends the connection after the answer.
  void respondLocal(int status, const char* body, bool close, std::string_view location = {});
  void redirectHttps(uint16_t port);
  void closeAfterWrites();
  void lingerClose();

  // upstream side
  enum class Failure : uint8_t { kConnect, kTimeout, kClosed, kInvalid };
  void startAttempt();
  void pump();
  void maybeFinishExchange();
  void onResponseComplete();
  void useConnection(upstream::UpstreamConn* c, bool reused);
  void flushUpstream();
  void upstreamFailed(Failure kind, int err);
  // retries.on beyond connect failures: whether this request may go to another backend after
  // `condition` (a config::RetryOn bit), and doing it.
  bool replayable(uint32_t condition) const;
  void retryElsewhere();
  // The upgraded connection (Phase::kTunnel): relaying bytes as they are, both ways.
  void openTunnel();
  void tunnelToUpstream();
  void tunnelToClient();
  void tunnelUpstreamClosed();
  void armTunnelDeadline();
  void armResponseDeadline();  // upstream_response from now (nothing while tunnelling)
  void releaseUpstream(bool reusable);
  void processUpstreamInput();
  bool upstreamBackpressured() const;
  bool clientBackpressured() const;

  // timers
  void setClientDeadline(uint64_t ms);
  void setUpstreamDeadline(uint64_t ms);
  void armTimer();
  void onDeadline();

  // The request's config (the newest one between requests).
  const config::Config& config() const;
  const config::Timeouts& timeouts() const;

  // observability (session_telemetry.cc)
  void noteRequestHead();  // head parsed: keep its bytes, pick the request id
  void recordExchange();   // the exchange ended: count it and write its access log line

  server::Worker& w_;
  server::WorkerListener& listener_;
  Exchange* ex_ = nullptr;  // the request in progress, if any
  uv_tcp_t tcp_;
  net::TimerWheel::Entry timer_;
  uint64_t clientDeadline_ = 0;
  uint64_t upstreamDeadline_ = 0;
  uint64_t armedAt_ = 0;  // deadline the timer is scheduled for (0 = not scheduled)
  InputBuffer in_;
  std::unique_ptr<net::TlsStream> tls_;  // set when the listener terminates TLS
  uint32_t clientWrites_ = 0;            // uv_writes in flight to the client
  Phase phase_ = Phase::kIdle;
  bool clientReading_ = false;
  bool closeAfter_ = false;    // close the client connection after the current response
  bool clientPaused_ = false;  // parser paused at a message end (next request waits)
  bool inPump_ = false;
  bool pumpAgain_ = false;
  bool tlsShutdown_ = false;  // close_notify queued
  char clientIp_[INET6_ADDRSTRLEN] = {0};
  union {
    sockaddr sa;
    sockaddr_in v4;
    sockaddr_in6 v6;
  } peer_{};
};

}  // namespace sy::proxy
