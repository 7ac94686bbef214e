// H2Memory (h2_memory.h): size-class free lists for nghttp2's allocations.
#include "switchyard/proxy/h2_memory.h"

#include <bit>
#include <cstdlib>
#include <cstring>
#include <new>

namespace sy::proxy {
namespace {

constexpr size_t kPrefix = 16;        // keeps the user pointer 16-byte aligned like malloc's
constexpr size_t kSmallest = 32;      // class 0's size, prefix included
constexpr uint32_t kLarge = 0xffffffffu;

struct Prefix {
  uint32_t cls;
  uint32_t pad[3];
};
static_assert(sizeof(Prefix) == kPrefix);

struct FreeNode {
  FreeNode* next;
};

constexpr size_t classSize(size_t cls) { return kSmallest << cls; }

// One thread's lists; what is cached is returned to the C library when the thread ends.
struct Lists {
  FreeNode* head[H2Memory::kClasses] = {};
  size_t count[H2Memory::kClasses] = {};
  ~Lists() {
    for (size_t c = 0; c < H2Memory::kClasses; ++c) {
      while (FreeNode* n = head[c]) {
        head[c] = n->next;
        std::free(n);
      }
      count[c] = 0;
    }
  }
};

thread_local Lists lists;

void* memMalloc(size_t n, void*) { return H2Memory::allocate(n); }
void memFree(void* p, void*) { H2Memory::release(p); }
void* memCalloc(size_t c, size_t n, void*) { return H2Memory::allocateZeroed(c, n); }
void* memRealloc(void* p, size_t n, void*) { return H2Memory::resize(p, n); }

nghttp2_mem theMem = {nullptr, memMalloc, memFree, memCalloc, memRealloc};

Prefix* prefixOf(void* p) { return reinterpret_cast<Prefix*>(static_cast<char*>(p) - kPrefix); }

}  // namespace

nghttp2_mem* H2Memory::mem() { return &theMem; }

size_t H2Memory::classFor(size_t n) {
  if (n > classSize(kClasses - 1) - kPrefix) return kClasses;
  // The smallest cls with (32 << cls) >= n + kPrefix.
  return static_cast<size_t>(std::bit_width((n + kPrefix - 1) / kSmallest));
}

void* H2Memory::allocate(size_t n) {
  const size_t cls = classFor(n);
  void* raw;
  if (cls == kClasses) {
    if (n > SIZE_MAX - kPrefix) return nullptr;
    raw = std::malloc(n + kPrefix);
  } else if (FreeNode* node = lists.head[cls]) {
    lists.head[cls] = node->next;
    --lists.count[cls];
    raw = node;
  } else {
    raw = std::malloc(classSize(cls));
  }
  if (!raw) return nullptr;
  auto* pre = static_cast<Prefix*>(raw);
  pre->cls = cls == kClasses ? kLarge : static_cast<uint32_t>(cls);
  return static_cast<char*>(raw) + kPrefix;
}

void H2Memory::release(void* p) {
  if (!p) return;
  Prefix* pre = prefixOf(p);
  const uint32_t cls = pre->cls;
  if (cls == kLarge || lists.count[cls] * classSize(cls) >= kMaxCachedBytes) {
    std::free(pre);
    return;
  }
  auto* node = reinterpret_cast<FreeNode*>(pre);
  node->next = lists.head[cls];
  lists.head[cls] = node;
  ++lists.count[cls];
}

void* H2Memory::allocateZeroed(size_t count, size_t size) {
  if (size && count > SIZE_MAX / size) return nullptr;
  void* p = allocate(count * size);
  if (p) std::memset(p, 0, count * size);
  return p;
}

void* H2Memory::resize(void* p, size_t n) {
  if (!p) return allocate(n);
  const uint32_t cls = prefixOf(p)->cls;
  if (cls == kLarge) {
    if (n > SIZE_MAX - kPrefix) return nullptr;
    void* raw = std::realloc(prefixOf(p), n + kPrefix);
    return raw ? static_cast<char*>(raw) + kPrefix : nullptr;
  }
  const size_t have = classSize(cls) - kPrefix;
  if (n <= have) return p;
  void* q = allocate(n);
  if (!q) return nullptr;  // p stays valid, as realloc's contract says
  std::memcpy(q, p, have);
  release(p);
  return q;
}

size_t H2Memory::cached(size_t cls) { return cls < kClasses ? lists.count[cls] : 0; }

}  // namespace sy::proxy
