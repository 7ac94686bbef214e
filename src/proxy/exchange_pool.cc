#include "switchyard/proxy/exchange_pool.h"

namespace sy::proxy {

Exchange::Exchange(http::HeaderPool* headers)
    : reqParser_(HTTP_REQUEST, nullptr, {}, headers), up(headers) {}

ExchangePool::~ExchangePool() {
  free_.clear([](Exchange* x) { delete x; });
}

Exchange* ExchangePool::acquire() {
  if (Exchange* x = free_.pop()) return x;
  return new Exchange(headers_);
}

void ExchangePool::release(Exchange* x) {
  if (free_.size() >= maxFree_) {
    delete x;
    return;
  }
  free_.push(x);
}

size_t ExchangePool::trim(size_t keep) {
  return free_.trim(keep, [](Exchange* x) { delete x; });
}

}  // namespace sy::proxy
