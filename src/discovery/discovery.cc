#include "switchyard/discovery/discovery.h"

#include "switchyard/common/log.h"
#include "switchyard/discovery/resolv_conf.h"
#include "switchyard/discovery/resolver.h"

namespace sy::discovery {
namespace {

// Log lines are capped (log.h): a large answer is shown by its count and first entries.
constexpr size_t kLoggedEndpoints = 20;

std::string joined(const Endpoints& found) {
  std::string out;
  if (found.size() > kLoggedEndpoints) {
    out = std::to_string(found.size()) + (found[0].port ? " endpoints: " : " addresses: ");
  }
  for (size_t i = 0; i < found.size(); ++i) {
    const Endpoint& e = found[i];
    if (i == kLoggedEndpoints) {
      out += ", ...";
      break;
    }
    out += i == 0 ? "" : ", ";
    if (e.port == 0) {
      out += e.address;
      continue;
    }
    out += e.address.find(':') != std::string::npos ? "[" + e.address + "]" : e.address;
    out += ":" + std::to_string(e.port) + " weight " + std::to_string(e.weight);
  }
  return out.empty() ? "none" : out;
}

}  // namespace

struct Discovery::Target {
  Discovery* owner = nullptr;
  discovery::Target spec;
  uv_timer_t timer;
  Resolver* resolver = nullptr;         // its own c-ares channel; closed with the target
  uint64_t settings = 0;                // the ResolvConf generation `resolver` was made with
  std::optional<Endpoints> last;        // last good answer
  bool attempted = false;               // a first lookup has finished
  uint64_t failStreak = 0;
  std::string lastError;

  std::string describe() const {
    std::string via = spec.resolver ? "resolver " + spec.resolver->text : "system resolver";
    return (spec.srv ? "SRV " : "") + spec.host + " (" + via + ")";
  }
};

Discovery::Discovery(uv_loop_t* loop, std::function<void()> onChange)
    : loop_(loop),
      onChange_(std::move(onChange)),
      conf_(std::make_unique<ResolvConf>(Resolver::kTimeoutMs, Resolver::kTries)) {}

Discovery::~Discovery() { close(); }

void Discovery::update(const config::Config& cfg) {
  if (closed_) return;
  std::vector<discovery::Target> wanted = targetsOf(cfg);
  for (const discovery::Target& w : wanted)
    for (const std::string& pool : w.pools) poolFailures_.try_emplace(pool, 0);
  for (auto it = targets_.begin(); it != targets_.end();) {
    bool kept = false;
    for (const auto& w : wanted) kept = kept || w.key == (*it)->spec.key;
    if (kept) {
      ++it;
      continue;
    }
    LOG_INFO("discovery: no longer following %s", (*it)->describe().c_str());
    retire(*it);
    it = targets_.erase(it);
  }
  for (discovery::Target& w : wanted) {
    Target* known = nullptr;
    for (Target* t : targets_)
      if (t->spec.key == w.key) known = t;
    if (known) {
      known->spec = std::move(w);  // the next lookup is scheduled with the new interval
      continue;
    }
    auto* t = new Target;
    t->owner = this;
    t->spec = std::move(w);
    uv_timer_init(loop_, &t->timer);
    t->timer.data = t;
    targets_.push_back(t);
    LOG_INFO("discovery: following %s (again at least every %lld ms, sooner as TTLs say)",
             t->describe().c_str(), static_cast<long long>(t->spec.interval.count()));
    // From the loop, not from here: c-ares answers numeric names and /etc/hosts entries
    // within the call, and update() must not call onChange.
    uv_timer_start(&t->timer, &Discovery::onTimer, 0, 0);
  }
}

void Discovery::onTimer(uv_timer_t* timer) {
  auto* t = static_cast<Target*>(timer->data);
  t->owner->lookUp(t);
}

void Discovery::lookUp(Target* t) {
  // The system's settings, looked at once per loop turn and read again only when
  // /etc/resolv.conf changed. A channel made with older ones is replaced: no lookup of this
  // name is in flight now (the next one is scheduled when one ends), so none is lost.
  const uint64_t settings = conf_->refresh(uv_now(loop_));
  if (t->resolver && t->settings != settings) {
    t->resolver->close();
    t->resolver = nullptr;
  }
  if (!t->resolver) {
    auto created = Resolver::create(loop_, t->spec.resolver, conf_.get());
    if (!created) return onResult(t, std::unexpected(created.error()));
    t->resolver = *created;
    t->settings = settings;
  }
  auto done = [this, t](AnswerResult r) { onResult(t, std::move(r)); };
  if (t->spec.srv) {
    t->resolver->lookUpSrv(t->spec.host, std::move(done));
  } else {
    t->resolver->lookUpAddresses(t->spec.host, std::move(done));
  }
}

config::Duration Discovery::nextLookupIn(config::Duration interval, std::chrono::seconds ttl) {
  return std::min<config::Duration>(interval, std::max<config::Duration>(ttl, kTtlFloor));
}

void Discovery::onResult(Target* t, AnswerResult result) {
  t->attempted = true;
  stats_.lookups.fetch_add(1, std::memory_order_relaxed);
  if (result) {
    if (t->failStreak > 0) {
      LOG_INFO("discovery: %s resolves again after %llu failed lookups", t->describe().c_str(),
               static_cast<unsigned long long>(t->failStreak));
    }
    t->failStreak = 0;
    t->lastError.clear();
    if (!t->last || *t->last != result->endpoints) {
      LOG_INFO("discovery: %s -> %s (was %s)", t->describe().c_str(),
               joined(result->endpoints).c_str(),
               t->last ? joined(*t->last).c_str() : "not resolved yet");
      t->last = std::move(result->endpoints);
      stats_.changes.fetch_add(1, std::memory_order_relaxed);
      if (onChange_) onChange_();
    }
  } else {
    stats_.failures.fetch_add(1, std::memory_order_relaxed);
    for (const std::string& pool : t->spec.pools) ++poolFailures_[pool];
    // Logged when a run of failures starts or its reason changes, not at every interval.
    if (t->failStreak++ == 0 || t->lastError != result.error()) {
      LOG_WARN("discovery: lookup of %s failed: %s; keeping the last good answer (%s)",
               t->describe().c_str(), result.error().c_str(),
               t->last ? joined(*t->last).c_str() : "none yet");
    }
    t->lastError = result.error();
  }
  // An answer is looked up again when its shortest TTL runs out, within [floor, interval]; a
  // failure after `interval`.
  config::Duration next = result ? nextLookupIn(t->spec.interval, result->ttl) : t->spec.interval;
  if (!closed_) {
    uv_timer_start(&t->timer, &Discovery::onTimer, static_cast<uint64_t>(next.count()), 0);
  }
}

void Discovery::retire(Target* t) {
  if (t->resolver) t->resolver->close();  // a lookup in flight never calls back
  t->resolver = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&t->timer),
           [](uv_handle_t* h) { delete static_cast<Target*>(h->data); });
}

std::shared_ptr<const config::Config> Discovery::expand(
    std::shared_ptr<const config::Config> base) const {
  if (targets_.empty()) return base;
  Found found;
  for (const Target* t : targets_)
    if (t->last) found.emplace(t->spec.key, *t->last);
  std::vector<std::string> skipped;
  auto out = std::make_shared<const config::Config>(discovery::expand(*base, found, &skipped));
  for (const std::string& s : skipped) LOG_WARN("discovery: %s", s.c_str());
  return out;
}

bool Discovery::settled() const {
  for (const Target* t : targets_)
    if (!t->attempted) return false;
  return true;
}

void Discovery::close() {
  if (closed_) return;
  closed_ = true;
  for (Target* t : targets_) retire(t);
  targets_.clear();
}

}  // namespace sy::discovery
