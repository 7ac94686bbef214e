#include "switchyard/admin/admin_server.h"

#include <cstring>
#include <unistd.h>
#include <memory>

#include "switchyard/common/log.h"
#include "switchyard/http/forward.h"
#include "switchyard/http/parser.h"
#include "switchyard/net/socket.h"

namespace sy::admin {
namespace {

constexpr size_t kBufferSize = 32 * 1024;
constexpr uint64_t kMaxBody = 64 * 1024;  // admin requests carry no meaningful body
constexpr http::ParserLimits kLimits{16 * 1024, 100};

struct WriteReq {
  uv_write_t req;
  AdminConn* conn;
  std::string data;
};

}  // namespace

// One admin client connection. Freed when both of its handles are closed.
class AdminConn final : public http::Parser::Handler {
 public:
  explicit AdminConn(AdminServer& server)
      : server_(server), parser_(HTTP_REQUEST, this, kLimits), buf_(new char[kBufferSize]) {
    uv_tcp_init(server_.loop_, &tcp_);
    tcp_.data = this;
    uv_timer_init(server_.loop_, &timer_);
    timer_.data = this;
    next = server_.conns_;
    if (next) next->prev = this;
    server_.conns_ = this;
    ++server_.connCount_;
  }

  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }

  void start() {
    armTimer();
    if (uv_read_start(stream(), onAlloc, onRead) != 0) close();
  }

  void close() {
    if (closing_) return;
    closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), onClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), onClosed);
  }

  int onHeadersComplete(http::Parser& p) override {
    method_ = llhttp_method_name(static_cast<llhttp_method_t>(p.method()));
    target_ = p.url();
    authorization_.clear();
    hasOrigin_ = false;
    for (const http::Header& h : p.headers()) {
      if (http::equalsIgnoreCase(p.view(h.name), "authorization")) authorization_ = p.view(h.value);
      if (http::equalsIgnoreCase(p.view(h.name), "origin")) hasOrigin_ = true;
    }
    bodyBytes_ = 0;
    if (p.hasContentLength() && p.contentLength() > kMaxBody) {
      p.fail(413, "request body too large");
      return -1;
    }
    return 0;
  }

  int onBody(http::Parser& p, const char*, size_t n) override {
    bodyBytes_ += n;
    if (bodyBytes_ > kMaxBody) {
      p.fail(413, "request body too large");
      return -1;
    }
    return 0;
  }

  int onMessageComplete(http::Parser&) override { return HPE_PAUSED; }

  AdminConn* prev = nullptr;
  AdminConn* next = nullptr;

 private:
  static void onAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* c = static_cast<AdminConn*>(h->data);
    *buf = uv_buf_init(c->buf_.get() + c->len_, static_cast<unsigned>(kBufferSize - c->len_));
  }

  static void onRead(uv_stream_t* s, ssize_t n, const uv_buf_t*) {
    auto* c = static_cast<AdminConn*>(s->data);
    if (n == 0) return;
    if (n < 0) {
      c->close();
      return;
    }
    c->len_ += static_cast<size_t>(n);
    c->armTimer();
    c->process();
  }

  static void onClosed(uv_handle_t* h) {
    auto* c = static_cast<AdminConn*>(h->data);
    if (--c->openHandles_ > 0) return;
    AdminServer& srv = c->server_;
    if (c->prev) c->prev->next = c->next; else srv.conns_ = c->next;
    if (c->next) c->next->prev = c->prev;
    --srv.connCount_;
    delete c;
  }

  void armTimer() {
    uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<AdminConn*>(t->data)->close(); },
                   AdminServer::kIdleTimeoutMs, 0);
  }

  void process() {
    while (!closing_ && !closeAfter_ && off_ < len_) {
      http::Parser::Result r = parser_.execute(buf_.get() + off_, len_ - off_);
      off_ += r.consumed;
      if (r.err == HPE_OK) break;
      if (r.err == HPE_PAUSED) {
        answer();
        parser_.resume();
        continue;
      }
      const int status = parser_.failStatus() ? parser_.failStatus() : 400;
      const char* reason = parser_.failReason() ? parser_.failReason() : parser_.errorReason();
      Response resp;
      resp.status = status;
      resp.contentType = "text/plain; charset=utf-8";
      resp.body = std::string(reason ? reason : "bad request") + "\n";
      closeAfter_ = true;
      send(resp, false);
      return;
    }
    if (closing_ || closeAfter_) return;
    if (off_ == len_) {
      if (parser_.inHead()) {
        // Keep the partial head at the front of the buffer.
        const char* base = parser_.base();
        const size_t keep = static_cast<size_t>(buf_.get() + len_ - base);
        std::memmove(buf_.get(), base, keep);
        parser_.rebase(buf_.get());
        len_ = off_ = keep;
      } else {
        len_ = off_ = 0;
      }
    }
    if (len_ == kBufferSize) {
      Response resp;
      resp.status = 431;
      resp.contentType = "text/plain; charset=utf-8";
      resp.body = "request head too large\n";
      closeAfter_ = true;
      send(resp, false);
    }
  }

  void answer() {
    Request req{method_, target_, authorization_, hasOrigin_};
    Response resp = handle(server_.host_, req, server_.token_);
    if (!parser_.keepAlive()) closeAfter_ = true;
    send(resp, method_ == "HEAD");
  }

  void send(const Response& resp, bool headOnly) {
    auto* w = new WriteReq();
    std::string& d = w->data;
    d.reserve(resp.body.size() + 256);
    d += "HTTP/1.1 ";
    d += std::to_string(resp.status);
    d += ' ';
    d += http::reasonPhrase(resp.status);
    d += "\r\nContent-Type: ";
    d += resp.contentType;
    d += "\r\nContent-Length: ";
    d += std::to_string(resp.body.size());
    d += "\r\nCache-Control: no-store\r\n";
    if (!resp.allow.empty()) {
      d += "Allow: ";
      d += resp.allow;
      d += "\r\n";
    }
    if (resp.authChallenge) d += "WWW-Authenticate: Bearer realm=\"switchyard-admin\"\r\n";
    if (closeAfter_) d += "Connection: close\r\n";
    d += "\r\n";
    if (!headOnly) d += resp.body;
    w->req.data = w;
    w->conn = this;
    uv_buf_t b = uv_buf_init(d.data(), static_cast<unsigned>(d.size()));
    if (uv_write(&w->req, stream(), &b, 1, onWritten) != 0) {
      delete w;
      close();
      return;
    }
    ++writes_;
    if (closeAfter_) uv_read_stop(stream());
  }

  static void onWritten(uv_write_t* req, int status) {
    auto* w = static_cast<WriteReq*>(req->data);
    AdminConn* c = w->conn;
    delete w;
    --c->writes_;
    if (status < 0 || (c->closeAfter_ && c->writes_ == 0)) c->close();
  }

  AdminServer& server_;
  uv_tcp_t tcp_;
  uv_timer_t timer_;
  int openHandles_ = 2;
  bool closing_ = false;
  bool closeAfter_ = false;
  uint32_t writes_ = 0;
  http::Parser parser_;
  std::unique_ptr<char[]> buf_;
  size_t len_ = 0;  // bytes in buf_
  size_t off_ = 0;  // bytes of buf_ given to the parser
  std::string method_;
  std::string target_;
  std::string authorization_;
  bool hasOrigin_ = false;
  uint64_t bodyBytes_ = 0;
};

AdminServer::AdminServer(uv_loop_t* loop, Host& host) : loop_(loop), host_(host) {}

AdminServer::~AdminServer() = default;

std::string AdminServer::listen(const config::SocketAddress& addr) {
  int rc = uv_tcp_init(loop_, &tcp_);
  if (rc != 0) return std::string("admin listener: ") + uv_strerror(rc);
  tcp_.data = this;
  open_ = true;
  rc = uv_tcp_bind(&tcp_, reinterpret_cast<const sockaddr*>(&addr.addr), 0);
  return startListening(rc, addr);
}

std::string AdminServer::adopt(int fd, const config::SocketAddress& addr) {
  int rc = uv_tcp_init(loop_, &tcp_);
  if (rc != 0) {
    ::close(fd);
    return std::string("admin listener: ") + uv_strerror(rc);
  }
  tcp_.data = this;
  open_ = true;
  rc = uv_tcp_open(&tcp_, fd);
  if (rc != 0) ::close(fd);
  return startListening(rc, addr);
}

int AdminServer::fd() const {
  uv_os_fd_t fd = -1;
  if (!open_ || closed_ || uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp_), &fd) != 0)
    return -1;
  return fd;
}

std::string AdminServer::startListening(int rc, const config::SocketAddress& addr) {
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&tcp_), 128, onConnection);
  if (rc != 0) {
    close();
    return "admin.listen " + addr.text + ": " + uv_strerror(rc);
  }
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getsockname(&tcp_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    const auto* sa = reinterpret_cast<const sockaddr*>(&ss);
    port_ = ntohs(sa->sa_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port
                                            : reinterpret_cast<const sockaddr_in*>(sa)->sin_port);
  }
  return "";
}

void AdminServer::stopListening() {
  if (open_) uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), nullptr);
  open_ = false;
}

void AdminServer::close() {
  if (closed_) return;
  closed_ = true;
  stopListening();
  for (AdminConn* c = conns_; c; c = c->next) c->close();
}

void AdminServer::onConnection(uv_stream_t* server, int status) {
  auto* srv = static_cast<AdminServer*>(server->data);
  if (status < 0) {
    LOG_WARN("admin listener: accept failed: %s", uv_strerror(status));
    return;
  }
  auto* c = new AdminConn(*srv);
  if (uv_accept(server, c->stream()) != 0 || srv->closed_ ||
      srv->connCount_ > kMaxConnections) {
    c->close();
    return;
  }
  c->start();
}

}  // namespace sy::admin
