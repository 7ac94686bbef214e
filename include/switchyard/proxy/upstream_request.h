#pragma once
// One request on its way to a backend and back: the route result, the balancing inputs, the
// serialized upstream head (kept for retries), the attempts and tried set, retries, health and
// outlier reports, the upstream connection and its deadlines, and the request's telemetry.
//
// It knows backends and nothing of the client's framing: the downstream end of the request
// (an HTTP/1.1 connection, an HTTP/2 stream) is a RequestSink that receives the response and
// answers locally when asked to. One client connection runs as many UpstreamRequests as it has
// requests in progress (HTTP/1.1: one; HTTP/2: one per stream).
//
// Retries (pools[].retries): conditions, budget, backoff, per-try and whole-request deadlines
// are in upstream_retry.cc; the hedged second attempt in hedge.cc.
//
// Upstream connections speak HTTP/1.1. Worker thread only.

#include <cstdint>
#include <memory>
#include <string_view>

#include <sys/socket.h>
#include <uv.h>

#include "switchyard/http/forward.h"
#include "switchyard/http/parser.h"
#include "switchyard/http/request_head.h"
#include "switchyard/http/request_id.h"
#include "switchyard/net/buffer.h"
#include "switchyard/net/timer_wheel.h"
#include "switchyard/proxy/hedge.h"
#include "switchyard/ratelimit/redis_link.h"
#include "switchyard/proxy/admission.h"
#include "switchyard/proxy/client_address.h"
#include "switchyard/proxy/grpc.h"
#include "switchyard/proxy/input_buffer.h"
#include "switchyard/proxy/kept_body.h"
#include "switchyard/proxy/request_sink.h"
#include "switchyard/proxy/selection_keys.h"
#include "switchyard/server/snapshot.h"
#include "switchyard/upstream/pool_gate.h"
#include "switchyard/upstream/h2_session.h"
#include "switchyard/upstream/upstream_conn.h"

namespace sy::server {
class Worker;
struct WorkerListener;
}  // namespace sy::server

namespace sy::proxy {

// The client connection's facts a request needs (owned by the connection, outlives requests).
// `peer`/`ip` are the connection's client: the TCP peer, or the PROXY protocol header's source
// on a proxy_protocol listener.
struct ClientInfo {
  union {
    sockaddr sa;
    sockaddr_in v4;
    sockaddr_in6 v6;
  } peer{};
  char ip[INET6_ADDRSTRLEN] = {0};
  bool tls = false;
};

class UpstreamRequest final : public http::Parser::Handler,
                              public upstream::ConnUser,
                              public upstream::H2StreamUser,
                              public ratelimit::RedisWaiter {
 public:
  explicit UpstreamRequest(http::HeaderPool* headers);
  ~UpstreamRequest() override;
  UpstreamRequest(const UpstreamRequest&) = delete;
  UpstreamRequest& operator=(const UpstreamRequest&) = delete;

  // Starts a request: takes the worker's newest config together with the listener's place in
  // it (a reload between two requests changes both at once), and starts the request clock.
  void begin(server::Worker& w, server::WorkerListener& l, const ClientInfo& client,
             RequestSink* sink);
  bool begun() const { return w_ != nullptr; }
  // Drops the request's upstream state and references (idempotent); the next begin() reuses it.
  void end();

  // The request head is complete. `headBlock` keeps the head's bytes alive for the telemetry
  // views (may be null when the head is copied elsewhere for the request's lifetime). Returns 0
  // when the request was taken (routed and started, or answered locally through the sink), or
  // the status to refuse it with (400, 413, 417, 431, 505...) with `reason`.
  int start(const http::RequestHead& head, net::Block* headBlock, const char** reason);
  // Request body bytes (framing removed), referenced in `block`; false past limits.max_body.
  bool addBody(net::Block* block, const char* data, size_t n);
  // A request trailer field (HTTP/2 clients), kept for an HTTP/2 backend (sent after the
  // body); ignored for HTTP/1.1 backends and past 16 KiB of trailers.
  void addTrailer(std::string_view name, std::string_view value);
  // The request is complete (its last body byte was given).
  void endBody();
  // Sends queued request bytes when they are worth a write (or the request is complete).
  void flush();
  // Upstream bytes not yet written exceed the high-water mark (the low one while the client is
  // not being read): the downstream should stop reading the body.
  bool backpressured(bool clientReading) const;
  // The downstream drained what it was given: upstream reading may resume.
  void resumeResponse();
  // Gives up the upstream side now (client gone, request refused): not reusable. A request
  // waiting for a pool slot leaves the queue.
  void cancel() {
    dropHedge();
    leaveQueue(false);
    releaseUpstream(false);
    releasePoolSlot();
  }
  // Local answer bookkeeping (status sent, bytes, the answer counts as the response).
  // `grpcStatus`: the grpc-status of a gRPC local answer (-1: not one).
  void noteLocalAnswer(int status, int grpcStatus = -1);
  // The backend answered before the request body was all sent: what is still to come of the
  // body is read and dropped (its connection is already given up).
  void discardRestOfBody();
  void addResponseBytes(uint64_t n) { respBytes_ += n; }
  // Writes the request's metrics and access log line (once; later calls do nothing).
  void record(std::string_view protocol);

  // Tunnel (HTTP/1.1 upgrade): raw bytes to the backend; the upstream side's received bytes
  // are handed to the sink (RequestSink::tunnelData).
  void tunnelSend(net::Block* block, const char* data, size_t n);
  void tunnelShutdown();
  InputBuffer& upstreamInput() { return upIn_; }
  void pauseUpstreamReading();
  bool upstreamReading() const { return upReading_; }

  const http::RequestInfo& info() const { return req_; }
  // Whether the request is a gRPC call, and its grpc-timeout (set by start(), before routing).
  const GrpcCall& grpc() const { return grpc_; }
  // The request's client address: the connection's (TCP peer or PROXY protocol source),
  // replaced by the real_ip header walk when the connection's address is trusted. Set by
  // start() before routing; valid until end(). The one address for the access log, hashing,
  // geo lookups and rate-limit keys (`client_ip`).
  const ClientAddress& clientAddress() const { return clientAddr_; }
  const config::Config& config() const { return *view_->snap->config; }
  const config::ClientTimeouts& clientTimeouts() const;
  // The pool's timeouts once routed (tunnel_idle, upstream_*), else the top-level ones.
  const config::UpstreamTimeouts& poolTimeouts() const { return set_ ? set_->cfg.timeouts : static_cast<const config::UpstreamTimeouts&>(config().timeouts); }
  std::string_view requestId() const { return reqId_; }
  int status() const { return status_; }
  bool requestComplete() const { return requestComplete_; }
  bool requestHasBody() const { return requestHasBody_; }
  bool responseStarted() const { return respHeadSent_; }
  void setResponseStarted() { respHeadSent_ = true; }
  bool responseComplete() const { return respComplete_; }
  bool hasUpstream() const { return up_ != nullptr || h2_ != nullptr; }
  bool tunnel() const { return tunnel_; }
  uint64_t bodyBytes() const { return bodyBytes_; }
  const config::HeaderRules* responseEdits() const { return respEdits_; }
  // Seconds a local answer asks the client to wait (Retry-After); 0 = no such header.
  uint32_t retryAfter() const { return retryAfter_; }
  // The fault injected into this request ("delay", "abort"), or "".
  std::string_view faultName() const;
  // Fields rate limiting adds to the response head (empty when no policy applies).
  http::ExtraFields responseFields() const { return {rl_.fields, rl_.fieldCount}; }
  UpstreamRequest* nextFree = nullptr;

  // http::Parser::Handler (the response parser)
  int onHeadersComplete(http::Parser& p) override;
  int onBody(http::Parser& p, const char* data, size_t n) override;
  int onMessageComplete(http::Parser& p) override;
  // upstream::ConnUser
  void onUpstreamConnect(int status) override;
  void onUpstreamAlloc(size_t suggested, uv_buf_t* buf) override;
  bool onUpstreamAdopt(net::Block* b) override;
  void onUpstreamRead(ssize_t n, const uv_buf_t* buf) override;
  void onUpstreamWriteDone(int status) override;
  // upstream::H2StreamUser (upstream_h2.cc: HTTP/2 backends)
  void h2Connected() override;
  void h2ConnectFailed(int status) override;
  void h2Head(const http::ResponseHead& h) override;
  void h2Data(net::Block* block, const char* data, size_t n) override;
  void h2Trailers(const http::FieldsView& f) override;
  void h2End() override;
  void h2Reset(uint32_t errorCode, bool refused) override;
  ssize_t h2ReadBody(uint8_t* buf, size_t len, uint32_t* flags) override;
  // ratelimit::RedisWaiter
  void redisAnswered(uint32_t tag, bool ok, bool allowed, uint64_t aheadNs) override;

 private:
  friend class Hedge;
  enum class Failure : uint8_t { kConnect, kTimeout, kClosed, kInvalid };
  void noteRequestHead(const http::RequestHead& head, net::Block* headBlock);
  void redirectHttps(uint16_t port);
  // Rate limiting (admission.cc): decides the route's policies. True: go on now; false: refused
  // (answered 429) or waiting for the redis store (proceed() follows the answers).
  bool admit(const routing::RouteTable::Entry& route, const http::RequestHead& head);
  bool finishAdmission();
  void cancelAdmission();
  void admissionTimedOut();
  // After admission: 100 Continue if asked, then the first attempt.
  void proceed();
  // The first route of the request's listener that matches (route_table.h), or nullptr.
  const routing::RouteTable::Entry* findRoute(const http::RequestHead& head) const;
  // The route's pool, or the side of its split this request goes to.
  uint32_t choosePool(const routing::RouteTable::Entry& route, const http::RequestHead& head);
  void startAttempt();
  // Pool limits and queueing (upstream_admission.cc).
  enum class Admission : uint8_t { kGo, kWait, kNone };
  // Takes a pool slot (unless held) and picks a backend whose slot it takes: kGo with *out;
  // kWait when a limit holds the request back; kNone when no backend can take it at all.
  Admission admit(bool queued, upstream::Backend** out);
  void launchAttempt(upstream::Backend* b);
  void waitForSlot();
  // Takes the request out of its pool's queue (if queued); `waited` counts the wait in
  // switchyard_pending_wait_seconds (sent or timed out, not a client that left).
  void leaveQueue(bool waited);
  void releasePoolSlot();
  void overflow(const char* why);
  static bool onQueueTurn(upstream::GateWaiter* x);
  void backendSlotFreed();
  // routes[].fault (fault_injection.cc): true when the request was answered or delayed.
  // routes[].fault: decided when the request is routed (its headers may ask for a fault),
  // applied once it may go upstream (after rate limiting). applyFault() is true when it
  // answered the request or delays it (timer_ then starts the attempt).
  void decideFault(const http::RequestHead& head, const routing::RouteTable::Entry& route);
  bool applyFault();
  void useConnection(upstream::UpstreamConn* c, bool reused);
  // upstream_h2.cc: an attempt on a stream of an HTTP/2 session of `b`; the request head as
  // HTTP/2 fields (in `nva`, views into reqHead_, whose names are lowercased in place).
  void launchH2(upstream::Backend* b);
  bool h2Fields(std::vector<nghttp2_nv>& nva);
  void h2Flush();
  void h2Resume();
  void h2Release();
  void upstreamFailed(Failure kind, int err);
  // upstream_retry.cc
  bool replayable(uint32_t condition) const;
  bool idempotent() const;
  bool methodRetryable() const;
  bool bodyReplayable() const { return !requestHasBody_ || kept_.whole(); }
  bool takeRetryBudget();
  void countRetry(uint32_t condition);
  metrics::ShardRef poolShard();
  // Gives up the current attempt and starts another after the backoff (or Retry-After, when
  // retryAfterMs >= 0).
  void retryLater(uint32_t condition, int64_t retryAfterMs = -1);
  void requeueRequest();
  void startPerRequestClocks();
  void requestTimedOut();
  void rearm();
  // hedge.cc
  bool canHedge() const;
  void startHedge();
  void hedgeAnswered();
  void hedgeLost();
  bool promoteHedge();
  void dropHedge();
  void adoptHedge();
  void releaseUpstream(bool reusable);
  void processUpstreamInput();
  void onResponseComplete();
  // A response head from either codec: relays an interim one, reports health, decides a retry
  // (retryStatus_ set) or hands it to the sink. 0/1 as Parser::Handler::onHeadersComplete, or
  // -1 with the status and reason to fail the response with.
  int acceptResponseHead(const http::ResponseHead& h, int* failStatus, const char** failReason);
  void armResponseDeadline();
  void setDeadline(uint64_t ms);
  static void onTimer(net::TimerWheel::Entry* e);

  server::Worker* w_ = nullptr;
  RequestSink* sink_ = nullptr;
  const ClientInfo* client_ = nullptr;
  server::WorkerListener* listener_ = nullptr;
  std::shared_ptr<server::WorkerView> view_;  // config snapshot the request started with
  int listenerIndex_ = -1;                    // the listener's index in view_'s config
  http::Parser respParser_;
  InputBuffer upIn_;
  net::TimerWheel::Entry timer_;
  uint64_t deadline_ = 0;         // the attempt's connect or response deadline (uv_now() ms)
  uint64_t tryDeadline_ = 0;      // retries.per_try_timeout of the attempt, until its head
  uint64_t requestDeadline_ = 0;  // timeouts.request, until the response head
  uint64_t retryAt_ = 0;          // backoff: the next attempt starts then
  uint64_t hedgeAt_ = 0;          // retries.hedge.after: a second attempt starts then
  uint64_t armedAt_ = 0;          // when the timer entry is due

  // the request
  upstream::BackendSet* set_ = nullptr;
  const config::HeaderRules* respEdits_ = nullptr;  // the route's response_headers
  balancing::Policy* policy_ = nullptr;
  SelectionInputs selection_;
  ClientAddress clientAddr_;
  http::RequestInfo req_;
  GrpcCall grpc_;
  AdmissionState rl_;
  uint8_t method_ = 0;
  uint64_t bodyBytes_ = 0;
  net::Block* reqHead_ = nullptr;  // serialized upstream request head (kept for retries)
  uint32_t reqHeadLen_ = 0;
  net::WriteBatch* upOut_ = nullptr;  // bytes waiting for the upstream connection
  bool requestHasBody_ = false;
  bool upstreamChunked_ = false;  // the body goes upstream chunked
  bool requestComplete_ = false;
  bool discard_ = false;  // answered locally: further body bytes are dropped

  // upstream
  upstream::UpstreamConn* up_ = nullptr;
  upstream::H2Session* h2_ = nullptr;  // HTTP/2 backends: the session and stream instead
  int32_t h2Stream_ = 0;
  uint64_t h2Unacked_ = 0;  // response bytes not yet taken by the client (window held)
  uint8_t h2Refusals_ = 0;  // streams refused by backends, sent again
  bool h2Deferred_ = false;  // the body source waits for bytes (resume on flush)
  bool h2NoBody_ = false;    // the answer has no body (HEAD, 204, 304)
  std::string reqTrailers_;  // request trailers for an HTTP/2 backend: names and values
  std::vector<uint32_t> reqTrailerLens_;  // their lengths, name then value
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
  bool upSentAny_ = false;  // some request bytes were handed to the current connection
  bool freshOnly_ = false;  // next attempt must open a new connection
  int retryStatus_ = 0;     // a 5xx/429 answer being dropped for a retry (retries.on)
  uint32_t retryCondition_ = 0;  // its retries.on condition (kRetryUnavailable: a gRPC 14)
  int64_t retryAfterMs_ = -1;  // its Retry-After (-1: none)
  uint32_t backoffs_ = 0;      // retries that waited a backoff so far
  bool idempotencyKey_ = false;  // the request carries Idempotency-Key
  KeptBody kept_;                // the body, kept for replays (retries.max_body_bytes)
  Hedge hedge_;
  // Why the last attempt failed: the reason of a 502 once no backend is left to try.
  metrics::LocalReason lastFailure_ = metrics::LocalReason::kConnectFailed;
  // pools[].limits
  upstream::GateWaiter waiter_;
  bool holdsPoolSlot_ = false;  // counted in set_->gate->inFlight()
  uint32_t retryAfter_ = 0;
  // routes[].fault
  enum class Fault : uint8_t { kNone, kDelay, kAbort };
  Fault fault_ = Fault::kNone;
  bool faultDelaying_ = false;  // timer_ ends the delay, then the attempt starts
  uint16_t faultStatus_ = 0;     // decided: answer with this status
  uint64_t faultDelayMs_ = 0;    // decided: delay the request this long
  bool respHeadSent_ = false;
  bool respComplete_ = false;
  bool tunnel_ = false;

  // observability
  uint64_t reqStartNs_ = 0;
  uint64_t upSentNs_ = 0;
  int64_t upConnectNs_ = -1;
  int64_t upResponseNs_ = -1;
  uint64_t respBytes_ = 0;
  int status_ = 0;
  int8_t grpcStatus_ = -1;        // gRPC calls: the grpc-status seen or answered (-1: none yet)
  bool grpcFromBackend_ = false;  // a backend's answer to a gRPC call went to the client
  net::Block* headRef_ = nullptr;
  bool headSeen_ = false;  // a complete head was noted (the request counts as one)
  std::string_view methodName_;
  std::string_view target_;
  std::string_view userAgent_;
  std::string_view referer_;
  std::string_view reqId_;
  char genId_[http::kGeneratedRequestIdLength];
};

}  // namespace sy::proxy
