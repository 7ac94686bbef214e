#include "switchyard/discovery/discovery.h"

#include "switchyard/common/log.h"
#include "switchyard/discovery/lookup.h"

namespace sy::discovery {
namespace {

std::string joined(const Addresses& a) {
  std::string out;
  for (const std::string& s : a) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "none" : out;
}

}  // namespace

struct Discovery::Target {
  Discovery* owner = nullptr;
  discovery::Target spec;
  uv_timer_t timer;
  Lookup* lookup = nullptr;             // in flight
  std::optional<Addresses> last;        // last good answer
  bool attempted = false;               // a first lookup has finished
  uint64_t failStreak = 0;
  std::string lastError;

  std::string describe() const {
    std::string via = spec.resolver ? "resolver " + spec.resolver->text : "system resolver";
    return spec.host + " (" + via + ")";
  }
};

Discovery::Discovery(uv_loop_t* loop, std::function<void()> onChange)
    : loop_(loop), onChange_(std::move(onChange)) {}

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
    LOG_INFO("discovery: following %s every %lld ms", t->describe().c_str(),
             static_cast<long long>(t->spec.interval.count()));
    lookUp(t);
  }
}

void Discovery::lookUp(Target* t) {
  const config::SocketAddress* resolver = t->spec.resolver ? &*t->spec.resolver : nullptr;
  auto started = startLookup(loop_, t->spec.host, resolver, kLookupTimeout,
                             [this, t](LookupResult r) {
                               t->lookup = nullptr;
                               onResult(t, std::move(r));
                             });
  if (started) {
    t->lookup = *started;
  } else {
    onResult(t, std::unexpected(started.error()));
  }
}

void Discovery::onResult(Target* t, std::expected<Addresses, std::string> result) {
  t->attempted = true;
  stats_.lookups.fetch_add(1, std::memory_order_relaxed);
  if (result) {
    if (t->failStreak > 0) {
      LOG_INFO("discovery: %s resolves again after %llu failed lookups", t->describe().c_str(),
               static_cast<unsigned long long>(t->failStreak));
    }
    t->failStreak = 0;
    t->lastError.clear();
    if (!t->last || *t->last != *result) {
      LOG_INFO("discovery: %s -> %s (was %s)", t->describe().c_str(), joined(*result).c_str(),
               t->last ? joined(*t->last).c_str() : "not resolved yet");
      t->last = std::move(*result);
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
  if (!closed_) {
    uv_timer_start(&t->timer, [](uv_timer_t* h) {
      auto* target = static_cast<Target*>(h->data);
      target->owner->lookUp(target);
    }, static_cast<uint64_t>(t->spec.interval.count()), 0);
  }
}

void Discovery::retire(Target* t) {
  if (t->lookup) t->lookup->cancel();
  t->lookup = nullptr;
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
