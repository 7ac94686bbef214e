// Http2Stream as a WebSocket tunnel (RFC 8441): an extended CONNECT with ":protocol websocket"
// is sent to the HTTP/1.1 backend as an upgrade GET with a key made here; the backend's 101 (its
// Sec-WebSocket-Accept checked against that key) is answered 200, and the stream's DATA frames
// then carry the WebSocket bytes both ways.
//
// Flow control both ways: client DATA goes to the backend as references into the input blocks
// and its window is given back only once the backend connection has room (as for request
// bodies); backend bytes queue on the stream and reading from the backend pauses past
// kHighWater until the client's window lets them out. END_STREAM from the client half-closes
// the backend connection; the backend's close ends the stream (END_STREAM, then RST_STREAM
// NO_ERROR if the client's side is still open); a reset stream closes the backend connection.
// Counted like HTTP/1.1 tunnels (switchyard_upgrades_total, switchyard_tunnels_active) and
// bounded by the pool's timeouts.tunnel_idle. Worker thread only.
#include <cstring>
#include <vector>

#include "http2_stream.h"
#include "switchyard/common/log.h"
#include "switchyard/proxy/http1_connection.h"
#include "switchyard/server/worker.h"

namespace sy::proxy {

bool Http2Stream::wsPrepare(http::RequestHead& head) {
  const std::string_view protocol(store_.data() + pseudo_[8], pseudo_[9]);
  // Plain CONNECT and other protocols stay CONNECT requests (refused by analyzeRequest).
  if (head.methodName != "CONNECT" || !http::equalsIgnoreCase(protocol, "websocket")) return false;
  if (!http::makeWebSocketKey(wsKey_)) {
    LOG_WARN("HTTP/2 stream %d: no random bytes for a Sec-WebSocket-Key", id_);
    return false;
  }
  head.methodName = "GET";
  head.websocketKey = std::string_view(wsKey_, sizeof wsKey_);
  head.bodyFollows = false;  // the tunnel's bytes are no request body
  ws_ = Ws::kWaiting;
  wsClientEnded_ = bodyEnded_in_;
  // Nor are they bounded by client_body: tunnel_idle applies once the tunnel is open.
  if (!bodyEnded_in_) c_->bodyDone();
  return true;
}

int Http2Stream::wsAccept(const http::ResponseHead& resp) {
  if (ws_ != Ws::kWaiting) {
    headRefusal_ = "unexpected 101 Switching Protocols";
    return -1;
  }
  const http::FieldsView& f = resp.fields;
  std::string_view accept;
  int count = 0;
  for (uint32_t i = 0; i < f.size(); ++i)
    if (http::equalsIgnoreCase(f.name(i), "sec-websocket-accept")) {
      accept = f.value(i);
      ++count;
    }
  if (count != 1 ||
      !http::webSocketAcceptMatches(std::string_view(wsKey_, sizeof wsKey_), accept)) {
    headRefusal_ = "Sec-WebSocket-Accept does not match the key sent";
    return -1;
  }
  // 200 with the backend's end-to-end fields (Sec-WebSocket-Protocol, -Extensions...), without
  // the accept value that belongs to the HTTP/1.1 handshake (RFC 8441 §5).
  HeadScratch& s = headScratch();
  http::h2ResponseFields(resp, false, up_.requestId(), up_.responseEdits(), s.fields,
                         up_.responseFields());
  std::erase_if(s.fields, [](const http::Field& x) {
    return http::equalsIgnoreCase(x.name, "sec-websocket-accept") ||
           http::equalsIgnoreCase(x.name, "content-length");
  });
  std::memcpy(status_, "200", 3);
  buildNva(s, status_);
  submit(s.nva, true);
  return 0;
}

void Http2Stream::tunnelOpened() {
  ws_ = Ws::kOpen;
  Http1Connection& t = c_->transport();
  t.worker().stats().addListener(t.listener().slot, metrics::kUpgrades);
  wsArmIdle();
  tunnelData();  // bytes the backend sent right after its 101
  // Client bytes that arrived before the 101.
  for (const Chunk& ch : wsEarly_) {
    wsSend(ch.block, ch.data, ch.len);
    net::BlockPool::unref(ch.block);
  }
  wsEarly_.clear();
  if (wsClientEnded_ && up_.hasUpstream()) up_.tunnelShutdown();
}

void Http2Stream::tunnelData() {
  InputBuffer& in = up_.upstreamInput();
  if (const uint32_t n = in.unparsed(); n > 0) {
    sendResponseBody(in.block, in.at(in.parsed), n);
    in.parsed = in.end;
    wsArmIdle();
  }
  in.releaseIfEmpty(nullptr);
  c_->scheduleFlush();
  if (up_.upstreamReading() && responseBackpressured()) up_.pauseUpstreamReading();
}

void Http2Stream::tunnelClosed() {
  // The backend closed (or failed): the client gets what was relayed, then END_STREAM.
  sendResponseEnd();
  c_->scheduleFlush();
}

void Http2Stream::wsClientData(net::Block* block, const char* data, size_t n) {
  if (ws_ == Ws::kOpen && up_.hasUpstream()) {
    wsSend(block, data, n);
    return;
  }
  if (ws_ == Ws::kWaiting && !up_.responseStarted()) {
    // Held until the 101; the stream window is not given back meanwhile, so the client cannot
    // send more than one window ahead.
    net::BlockPool::ref(block);
    wsEarly_.push_back({block, data, static_cast<uint32_t>(n)});
    return;
  }
  c_->consume(id_, n);  // refused, or the backend is gone: dropped
}

void Http2Stream::wsSend(net::Block* block, const char* data, size_t n) {
  if (!up_.hasUpstream()) {
    c_->consume(id_, n);
    return;
  }
  up_.tunnelSend(block, data, n);
  wsArmIdle();
  // The client's window comes back as fast as the backend takes the bytes
  // (requestBodyDrained() gives back the rest).
  if (up_.hasUpstream() && up_.backpressured(true)) {
    unconsumed_ += n;
  } else {
    c_->consume(id_, n);
  }
}

void Http2Stream::wsClientEnd() {
  if (ws_ == Ws::kOpen) {
    if (up_.hasUpstream()) up_.tunnelShutdown();
    return;
  }
  wsClientEnded_ = true;  // passed on once the tunnel opens
}

void Http2Stream::wsArmIdle() {
  if (ws_ != Ws::kOpen || !up_.begun()) return;
  server::Worker& w = c_->transport().worker();
  w.timers().schedule(&wsIdle_,
                      uv_now(w.loop()) + static_cast<uint64_t>(up_.poolTimeouts().tunnelIdle.count()));
}

void Http2Stream::wsIdleFired(net::TimerWheel::Entry* e) {
  auto* s = static_cast<Http2Stream*>(e->data);
  LOG_DEBUG("client %s: HTTP/2 stream %d: tunnel idle for tunnel_idle: closing",
            s->c_->transport().client().ip, s->id_);
  s->up_.cancel();  // the backend connection closes now
  if (s->pending_ == 0) {
    s->sendResponseEnd();  // nothing waits for the client: end the stream like a backend close
  } else {
    nghttp2_submit_rst_stream(s->c_->session(), NGHTTP2_FLAG_NONE, s->id_, NGHTTP2_CANCEL);
  }
  s->c_->scheduleFlush();
}

void Http2Stream::wsClosed() {
  Http1Connection& t = c_->transport();
  t.worker().timers().cancel(&wsIdle_);
  size_t held = unconsumed_;
  for (const Chunk& ch : wsEarly_) {
    held += ch.len;
    net::BlockPool::unref(ch.block);
  }
  wsEarly_.clear();
  unconsumed_ = 0;
  c_->consume(id_, held);  // the connection window of bytes never given back
  if (ws_ == Ws::kOpen) t.worker().stats().addListener(t.listener().slot, metrics::kTunnelsClosed);
  ws_ = Ws::kNone;
}

}  // namespace sy::proxy
