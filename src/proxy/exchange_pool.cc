#include "switchyard/proxy/exchange_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <new>

namespace sy::proxy {
namespace {

constexpr size_t kLine = 64;
static_assert(alignof(Exchange) <= kLine);

size_t pageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

// Whole pages per Exchange.
size_t exchangeBytes() {
  static const size_t bytes = (sizeof(Exchange) + pageSize() - 1) / pageSize() * pageSize();
  return bytes;
}

// Page-aligned Exchanges would put every one's hot fields in the same few L1 sets; the slack of
// the last page staggers them by cache lines (colours) instead.
Exchange* newExchange(http::HeaderPool* headers) {
  thread_local size_t colour = 0;  // per worker
  void* mem = mmap(nullptr, exchangeBytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
  if (mem == MAP_FAILED) throw std::bad_alloc();
  const size_t colours = std::min((exchangeBytes() - sizeof(Exchange)) / kLine + 1,
                                  pageSize() / kLine);
  const size_t off = (colour++ % colours) * kLine;
  return new (static_cast<char*>(mem) + off) Exchange(headers);
}

void deleteExchange(Exchange* x) {
  x->~Exchange();
  // The colour offset is under a page: the mapping starts at the Exchange's page.
  auto base = reinterpret_cast<uintptr_t>(x) & ~(pageSize() - 1);
  munmap(reinterpret_cast<void*>(base), exchangeBytes());
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
