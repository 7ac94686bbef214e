#pragma once
// An HTTP/1.1 client connection and the requests on it: parses requests (llhttp), hands each
// to an UpstreamRequest and frames its response, one request at a time (pipelined requests
// wait in the input buffer, so answers stay in order). Keep-alive, pipelining, linger close
// and the 101 tunnel live here. Over TLS, ALPN "h2" hands the connection to HTTP/2
// (http2_connection.h); on a listener with h2c, so does the HTTP/2 connection preface.
//
// Memory: between requests the connection holds only its socket, deadline and input block
// reference; everything a request needs while in progress is an Exchange borrowed from the
// worker's pool. Bodies are never copied: body bytes are forwarded as references into the read
// blocks. Backpressure: a side stops reading while the other side's unsent bytes exceed
// kHighWater and resumes below kLowWater. Worker thread only; freed in its close callback.

#include <cstdint>
#include <memory>

#include <uv.h>

#include "switchyard/http/parser.h"
#include "switchyard/net/buffer.h"
#include "switchyard/net/timer_wheel.h"
#include "switchyard/net/stream_transport.h"
#include "switchyard/proxy/client_connection.h"
#include "switchyard/proxy/exchange_pool.h"
#include "switchyard/proxy/request_sink.h"
#include "switchyard/proxy/upstream_request.h"

namespace sy::proxy {

class Http2Connection;

class Http1Connection final : public ClientConnection,
                              public http::Parser::Handler,
                              public RequestSink {
 public:
  // How long an idle kept-alive connection stays open once draining starts.
  static constexpr uint64_t kDrainIdleGraceMs = 500;
  Http1Connection(server::Worker& worker, server::WorkerListener& listener);
  ~Http1Connection() override;

  // ClientConnection
  net::TcpStream& socket() override { return tcp_; }
  void start() override;
  void drain() override;
  void abort() override;
  void configAdopted() override;

  // http::Parser::Handler (the request parser)
  int onHeadersComplete(http::Parser& p) override;
  int onBody(http::Parser& p, const char* data, size_t n) override;
  int onMessageComplete(http::Parser& p) override;

  // RequestSink (the current request's response)
  void sendContinue() override;
  void sendInterim(const http::ResponseHead& resp) override;
  int sendResponseHead(const http::ResponseHead& resp) override;
  void sendResponseTrailers(const http::FieldsView& fields) override;
  void sendResponseBody(net::Block* block, const char* data, size_t n) override;
  void sendResponseEnd() override;
  void flushResponse() override;
  bool responseBackpressured() const override;
  void responseStalled() override;
  void responseDone() override;
  void respondLocal(int status, metrics::LocalReason reason, const char* body, bool close,
                    std::string_view location = {}) override;
  void abortResponse() override { abort(); }
  void requestBodyDrained() override;
  void tunnelOpened() override;
  void tunnelData() override;
  void tunnelClosed() override;

  // Transport for an HTTP/2 codec running on this connection (http2_connection.h).
  void writeClient(net::WriteBatch* batch);  // plaintext bytes
  size_t clientWriteQueue() const;
  server::Worker& worker() { return w_; }
  server::WorkerListener& listener() { return listener_; }
  const ClientInfo& client() const { return client_; }
  void setClientDeadline(uint64_t ms);
  void closeAfterWrites();
  void startClientReading();
  void stopClientReading();
  bool closing() const { return phase_ == Phase::kClosed || phase_ == Phase::kLingering; }
  // Arms the connection deadline the HTTP/2 codec wants now.
  void armH2Deadline();
  // The listener's client timeouts in the current config.
  const config::ClientTimeouts& listenerTimeouts() const;

 private:
  enum class Phase : uint8_t {
    kIdle,       // waiting for the first byte of a request
    kHead,       // reading a request head
    kBody,       // request routed; body (if any) streaming
    kWaiting,    // request complete; response not finished
    kTunnel,     // upgraded (101): bytes relayed both ways until either side closes
    kHttp2,      // the connection speaks HTTP/2 (h2_ owns the protocol)
    kLingering,  // answered and closing: discard input until EOF or timeout
    kClosed,
  };

  // exchange lifetime
  Exchange& ensureExchange();  // borrows one if none is held
  void releaseExchange();

  // client side (http1_connection.cc)
  static void onClientAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static bool onClientAdopt(uv_handle_t* h, net::Block* b);
  static void onClientRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  void onClientData(ssize_t n);                  // n plaintext bytes landed in in_ (or EOF)
  void onClientCipher(const char* p, size_t n);  // TLS: decrypts into in_
  void clientTlsFailed();  // TLS: logs (and counts a failed handshake), sends the alert, aborts
  void flushClientTls();  // TLS: sends what OpenSSL produced (handshake, tickets, alerts)
  static void onTimer(net::TimerWheel::Entry* e);
  static void onHandleClosed(uv_handle_t* h);
  uint32_t maxHeaderBytes() const;
  http::Parser* reqParser() { return ex_ ? &ex_->reqParser_ : nullptr; }
  void pump();
  void processClientInput();
  void beginRequest();
  void startRequestHead();
  int requestHeadersComplete(http::Parser& p);
  const config::ClientTimeouts& timeouts() const;

  // response side (http1_response.cc)
  bool flushClientOut();  // writes ex_->clientOut_, if any; whether there was something
  void sendClient(net::WriteBatch* batch);  // bytes for the socket as they are
  void onClientWriteDone(int status);
  void maybeFinishExchange();
  void finishExchange();
  void lingerClose();
  bool clientBackpressured() const;
  void refuse(int status, const char* reason);  // malformed request: answer and close

  // tunnel (http1_tunnel.cc)
  void tunnelToUpstream();
  void armTunnelDeadline();

  // Starts TLS when the listener terminates it; false (and aborted) when it cannot.
  bool startTls();
  // PROXY protocol (proxy_header.cc): whether the listener wants the header first; reads it
  // from in_ and applies it. Returns true when the bytes after it are ready for HTTP in in_.
  bool expectsProxyHeader() const;
  bool readProxyHeader();

  void onDeadline();
  // HTTP/2 (ALPN h2, or the h2c preface): hands the connection to an Http2Connection.
  void startHttp2();
  // Cleartext: whether the first bytes are (so far) the HTTP/2 connection preface; acts on it.
  // Returns true when processing must stop (waiting for more bytes, or switched).
  bool checkPreface();
  void h2Input();

  server::Worker& w_;
  server::WorkerListener& listener_;
  Exchange* ex_ = nullptr;  // the request in progress, if any
  std::unique_ptr<Http2Connection> h2_;  // set once the connection speaks HTTP/2
  net::TcpStream tcp_;
  net::TimerWheel::Entry timer_;
  uint64_t clientDeadline_ = 0;
  uint64_t armedAt_ = 0;  // deadline the timer is scheduled for (0 = not scheduled)
  InputBuffer in_;
  net::StreamTransport transport_;  // TLS when the listener terminates it
  uint32_t clientWrites_ = 0;            // uv_writes in flight to the client
  Phase phase_ = Phase::kIdle;
  bool clientReading_ = false;
  bool closeAfter_ = false;    // close the client connection after the current response
  bool clientPaused_ = false;  // parser paused at a message end (next request waits)
  bool inPump_ = false;
  bool pumpAgain_ = false;
  bool firstBytes_ = true;    // nothing parsed yet (h2c preface detection)
  bool awaitingProxyHeader_ = false;  // proxy_protocol: the header has not arrived yet
  ClientInfo client_;
};

}  // namespace sy::proxy
