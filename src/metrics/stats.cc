#include "switchyard/metrics/stats.h"

#include <new>

namespace sy::metrics {
namespace {

constexpr size_t kCacheLine = 64;
constexpr size_t kCellsPerLine = kCacheLine / sizeof(Cell);
static_assert(sizeof(Cell) == sizeof(uint64_t));

uint32_t gListenerSlots = 1;

}  // namespace

void setListenerSlots(uint32_t n) { gListenerSlots = n > 0 ? n : 1; }
uint32_t listenerSlots() { return gListenerSlots; }

uint64_t Merged::histCount(Histogram h) const {
  uint64_t n = 0;
  const uint64_t* b = buckets(h);
  for (uint32_t i = 0; i < kBuckets; ++i) n += b[i];
  return n;
}

uint64_t Merged::requests(uint32_t slot) const {
  uint64_t n = 0;
  for (uint32_t c = 0; c < kCodeClasses; ++c)
    n += listener(slot, static_cast<PerListener>(kCode1xx + c));
  return n;
}

void StatsBlock::Deleter::operator()(Cell* p) const {
  ::operator delete(p, std::align_val_t(kCacheLine));
}

StatsBlock::StatsBlock(unsigned workers, uint32_t listeners, bool localResponses)
    : workers_(workers > 0 ? workers : 1) {
  layout_.listeners = listeners > 0 ? listeners : listenerSlots();
  layout_.localResponses = localResponses;
  stride_ = (layout_.cells() + kCellsPerLine - 1) / kCellsPerLine * kCellsPerLine;
  const size_t n = stride_ * workers_;
  auto* mem = static_cast<Cell*>(::operator new(n * sizeof(Cell), std::align_val_t(kCacheLine)));
  for (size_t i = 0; i < n; ++i) new (mem + i) Cell();
  cells_.reset(mem);
}

Merged StatsBlock::merge() const {
  const uint32_t n = layout_.cells();
  std::vector<uint64_t> sum(n, 0);
  for (unsigned w = 0; w < workers_; ++w) {
    const Cell* shard = cells_.get() + size_t{w} * stride_;
    for (uint32_t i = 0; i < n; ++i) sum[i] += shard[i].get();
  }
  return Merged(std::move(sum), layout_);
}

}  // namespace sy::metrics
