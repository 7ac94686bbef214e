// UpstreamRequest's fault injection (routes[].fault): a share of a route's requests is delayed
// before it goes upstream (on the request's timer, never blocking the worker) or answered with
// a status without reaching a backend; peers in fault.trusted may ask for one fault per request
// with X-Switchyard-Fault-Delay / X-Switchyard-Fault-Abort (those headers are never forwarded:
// http/forward.cc drops them for every route).
#include <charconv>

#include "switchyard/balancing/rng.h"
#include "switchyard/common/ascii.h"
#include "switchyard/config/units.h"
#include "switchyard/http/parser.h"
#include "switchyard/proxy/upstream_request.h"
#include "switchyard/server/worker.h"

namespace sy::proxy {
namespace {

constexpr std::string_view kDelayHeader = "x-switchyard-fault-delay";
constexpr std::string_view kAbortHeader = "x-switchyard-fault-abort";
constexpr int kMinFaultStatus = 200;
constexpr int kMaxFaultStatus = 599;

// One generator per worker thread: draws need no lock and workers do not draw in lockstep.
balancing::Rng& faultRng() {
  thread_local std::unique_ptr<balancing::Rng> rng = balancing::makeRng();
  return *rng;
}

bool roll(double percent) { return percent > 0 && faultRng().uniform() < percent; }

// "503" within 200-599, else 0.
int parseStatus(std::string_view v) {
  v = http::trimOws(v);
  int status = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), status);
  if (ec != std::errc() || end != v.data() + v.size()) return 0;
  return status >= kMinFaultStatus && status <= kMaxFaultStatus ? status : 0;
}

}  // namespace

std::string_view UpstreamRequest::faultName() const {
  switch (fault_) {
    case Fault::kDelay: return "delay";
    case Fault::kAbort: return "abort";
    case Fault::kNone: break;
  }
  return {};
}

void UpstreamRequest::decideFault(const http::RequestHead& head,
                                  const routing::RouteTable::Entry& route) {
  const config::Fault& f = *route.fault;
  int abortStatus = 0;
  config::Duration delay{0};
  // A trusted peer's request header asks for one fault (abort first when it sent both);
  // anyone else's is ignored. Trust is judged on the client address (after PROXY protocol and
  // real_ip).
  if (route.faultTrusted && route.faultTrusted->lookup(clientAddr_.sa())) {
    const http::FieldsView& fields = head.fields;
    for (uint32_t i = 0; i < fields.size(); ++i) {
      std::string_view n = fields.name(i);
      if (n.size() != kDelayHeader.size()) continue;
      if (common::equalsIgnoreCase(n, kAbortHeader)) {
        abortStatus = parseStatus(fields.value(i));
      } else if (common::equalsIgnoreCase(n, kDelayHeader)) {
        if (auto d = config::parseDuration(http::trimOws(fields.value(i))))
          delay = std::min(*d, config::kMaxFaultDelay);
      }
    }
    if (abortStatus) delay = config::Duration{0};
  }
  if (!abortStatus && delay.count() == 0) {
    if (f.abort && roll(f.abort->percent)) {
      abortStatus = f.abort->status;
    } else if (f.delay && roll(f.delay->percent)) {
      delay = f.delay->duration;
    }
  }
  faultStatus_ = static_cast<uint16_t>(abortStatus);
  faultDelayMs_ = abortStatus ? 0 : static_cast<uint64_t>(delay.count());
}

bool UpstreamRequest::applyFault() {
  if (faultStatus_) {
    fault_ = Fault::kAbort;
    w_->stats().addListener(listener_->slot, metrics::kFaultAborts);
    sink_->respondLocal(faultStatus_, metrics::LocalReason::kFaultInjected,
                        "fault injected (routes[].fault.abort)", !requestComplete_);
    return true;
  }
  if (faultDelayMs_ > 0) {
    fault_ = Fault::kDelay;
    faultDelaying_ = true;
    w_->stats().addListener(listener_->slot, metrics::kFaultDelays);
    setDeadline(uv_now(w_->loop()) + faultDelayMs_);
    return true;
  }
  return false;
}

}  // namespace sy::proxy
