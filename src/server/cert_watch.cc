#include "switchyard/server/cert_watch.h"

#include <ctime>

#include "switchyard/common/log.h"

namespace sy::server {
namespace {

constexpr uint64_t kExpiryCheckMs = 3600 * 1000;
constexpr int64_t kDay = 86400;

std::string isoDate(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

int64_t CertWatch::Item::notAfter() const {
  if (server) return (*server->certificates())[index].notAfter;
  return client ? client->certificateNotAfter() : 0;
}

CertWatch::CertWatch(uv_loop_t* loop) : loop_(loop) {
  uv_timer_init(loop_, &expiryTimer_);
  expiryTimer_.data = this;
  uv_timer_start(&expiryTimer_, [](uv_timer_t* t) {
    static_cast<CertWatch*>(t->data)->checkExpiry();
  }, kExpiryCheckMs, kExpiryCheckMs);
}

CertWatch::~CertWatch() { close(); }

void CertWatch::close() {
  if (closed_) return;
  closed_ = true;
  for (auto& item : items_) item->watch->close();
  items_.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&expiryTimer_), nullptr);
}

// Labels: a listener's certificate is {listener = the listener's name, name = its `cert` file
// as configured}; a pool's client side is {listener = "pool/<pool name>" (a '/' cannot occur in
// a listener name), name = its `cert` file, or its `ca` file when it has no client certificate}.
void CertWatch::follow(const Snapshot& snap) {
  if (closed_) return;
  std::vector<std::unique_ptr<Item>> next;
  auto watch = [&](std::unique_ptr<Item> item, std::vector<std::string> files) {
    Item* raw = item.get();
    item->watch = std::make_unique<FileWatch>(loop_, std::move(files),
                                              [this, raw] { reloadItem(raw); });
    if (std::string w = item->watch->start(); !w.empty())
      LOG_WARN("certificate %s: %s (its files are still checked every second)",
               item->name.c_str(), w.c_str());
    next.push_back(std::move(item));
  };
  for (size_t l = 0; l < snap.listenerTls.size(); ++l) {
    const auto& tls = snap.listenerTls[l];
    if (!tls) continue;
    for (size_t i = 0; i < tls->certificateCount(); ++i) {
      auto item = std::make_unique<Item>();
      item->listener = snap.config->listeners[l].name;
      item->name = tls->certPath(i);
      item->server = tls;
      item->index = i;
      watch(std::move(item), {tls->certPath(i), tls->keyPath(i)});
    }
  }
  for (const auto& set : snap.pools) {
    if (!set->tls) continue;
    std::vector<std::string> files = set->tls->files();
    if (files.empty()) continue;  // the system trust store only
    auto item = std::make_unique<Item>();
    item->listener = "pool/" + set->name;
    item->name = set->tls->certPath().empty() ? files.front() : set->tls->certPath();
    item->client = set->tls;
    watch(std::move(item), std::move(files));
  }
  for (auto& item : items_) item->watch->close();
  items_ = std::move(next);
  checkExpiry();
}

void CertWatch::reloadItem(Item* item) {
  std::string err = item->server ? item->server->reloadCertificate(item->index)
                                 : item->client->reload();
  if (!err.empty()) {
    ++failures_[{item->listener, item->name}];
    LOG_ERROR("%s: certificate %s changed on disk but cannot be used, keeping the one in use: %s",
              item->listener.c_str(), item->name.c_str(), err.c_str());
    return;
  }
  const int64_t notAfter = item->notAfter();
  LOG_INFO("%s: certificate %s reloaded from disk%s%s", item->listener.c_str(),
           item->name.c_str(), notAfter ? ", valid until " : "",
           notAfter ? isoDate(notAfter).c_str() : "");
  lastWarned_.erase({item->listener, item->name});  // a renewed certificate is judged afresh
  checkExpiry();
}

void CertWatch::checkExpiry() {
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  for (const auto& item : items_) {
    const int64_t notAfter = item->notAfter();
    if (notAfter == 0 || notAfter - now > kExpiryWarningSeconds) continue;
    Key key{item->listener, item->name};
    auto last = lastWarned_.find(key);
    if (last != lastWarned_.end() && now - last->second < kDay) continue;
    lastWarned_[key] = now;
    if (notAfter <= now) {
      LOG_WARN("%s: certificate %s has expired (%s): renew it", item->listener.c_str(),
               item->name.c_str(), isoDate(notAfter).c_str());
    } else {
      LOG_WARN("%s: certificate %s expires in %lld days (%s): renew it", item->listener.c_str(),
               item->name.c_str(), static_cast<long long>((notAfter - now) / kDay),
               isoDate(notAfter).c_str());
    }
  }
}

std::vector<metrics::CertificateRow> CertWatch::rows() const {
  std::vector<metrics::CertificateRow> out;
  for (const auto& item : items_) {
    metrics::CertificateRow r;
    r.listener = item->listener;
    r.name = item->name;
    r.notAfter = item->notAfter();
    auto f = failures_.find({item->listener, item->name});
    r.reloadFailures = f == failures_.end() ? 0 : f->second;
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace sy::server
