#include "switchyard/proxy/exchange_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <new>

namespace sy::proxy {
namespace {

size_t exchangeBytes() {
  static const size_t bytes = [] {
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    return (sizeof(Exchange) + page - 1) / page * page;
  }();
  return bytes;
}

Exchange* newExchange(http::HeaderPool* headers) {
  void* mem = mmap(nullptr, exchangeBytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
  if (mem == MAP_FAILED) throw std::bad_alloc();
  return new (mem) Exchange(headers);
}

void deleteExchange(Exchange* x) {
  x->~Exchange();
  munmap(x, exchangeBytes());
}

}  // namespace

Exchange::Exchange(http::HeaderPool* headers)
    : reqParser_(HTTP_REQUEST, nullptr, {}, headers), up(headers) {}

ExchangePool::~ExchangePool() { free_.clear(deleteExchange); }

Exchange* ExchangePool::acquire() {
  if (Exchange* x = free_.pop()) return x;
  return newExchange(headers_);
}

void ExchangePool::release(Exchange* x) {
  if (free_.size() >= maxFree_) {
    deleteExchange(x);
    return;
  }
  free_.push(x);
}

size_t ExchangePool::trim(size_t keep) { return free_.trim(keep, deleteExchange); }

}  // namespace sy::proxy
