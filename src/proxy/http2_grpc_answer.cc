// Http2Stream: the proxy's own answer to a gRPC call. gRPC clients read the call's status from
// grpc-status, not from the HTTP status or a body: the answer is "trailers-only", one HEADERS
// frame with END_STREAM carrying :status 200, content-type application/grpc, grpc-status and
// grpc-message (gRPC's PROTOCOL-HTTP2.md).
#include <charconv>

#include "http2_stream.h"
#include "switchyard/common/log.h"
#include "switchyard/http/date.h"
#include "switchyard/proxy/grpc.h"
#include "switchyard/proxy/http1_connection.h"
#include "switchyard/server/worker.h"

namespace sy::proxy {
namespace {

nghttp2_nv field(std::string_view name, std::string_view value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

void Http2Stream::respondGrpc(int status, metrics::LocalReason reason, const char* body) {
  const uint8_t grpcStatus = grpcStatusOf(status, reason);
  Http1Connection& t = c_->transport();
  if (status >= 500 && reason != metrics::LocalReason::kUpstreamTimeout)
    LOG_WARN("%s %.*s -> grpc-status %u (%d): %s", t.client().ip,
             static_cast<int>(up_.info().target.size()), up_.info().target.data(), grpcStatus,
             status, body);
  up_.noteLocalAnswer(200, grpcStatus);
  // Counted under the reason and the HTTP status the answer stands for, as for other clients.
  t.worker().stats().countLocal(t.listener().slot, reason, status);
  localBody_ = false;
  // nghttp2 copies names and values when the head is submitted: stack buffers are enough.
  char statusText[4];
  char message[256];
  const size_t m = encodeGrpcMessage(body, message, sizeof message);
  thread_local std::vector<nghttp2_nv> nva;  // reused: steady state allocates nothing
  nva.clear();
  nva.push_back(field(":status", "200"));
  nva.push_back(field("content-type", "application/grpc"));
  nva.push_back(field("grpc-status", grpcStatusText(grpcStatus, statusText)));
  if (m) nva.push_back(field("grpc-message", std::string_view(message, m)));
  nva.push_back(field("server", "switchyard"));
  nva.push_back(field("date", http::httpDateNow()));
  if (!up_.requestId().empty())
    nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>("x-request-id")),
                   reinterpret_cast<uint8_t*>(const_cast<char*>(up_.requestId().data())), 12,
                   up_.requestId().size(), NGHTTP2_NV_FLAG_NO_INDEX});
  if (up_.retryAfter()) {
    char* end = std::to_chars(retryAfter_, retryAfter_ + sizeof retryAfter_, up_.retryAfter()).ptr;
    nva.push_back(field("retry-after", std::string_view(retryAfter_, end - retryAfter_)));
  }
  const http::ExtraFields extra = up_.responseFields();
  char lower[256];
  size_t off = 0;
  for (size_t i = 0; i < extra.count; ++i) {
    std::string_view n = extra.fields[i].name;
    if (off + n.size() > sizeof lower) break;
    for (size_t k = 0; k < n.size(); ++k) lower[off + k] = common::toLowerAscii(n[k]);
    nva.push_back(field(std::string_view(lower + off, n.size()), extra.fields[i].value));
    off += n.size();
  }
  submit(nva, false);
}

}  // namespace sy::proxy
