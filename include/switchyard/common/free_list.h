#pragma once
// An intrusive free list of pooled objects (T has a `T* nextFree` member) that remembers how
// low it ran since the last trim(), so a periodic trim() can give back what a burst left behind
// while steady traffic keeps its working set. Single-threaded.

#include <algorithm>
#include <cstddef>

namespace sy::common {

template <class T>
class FreeList {
 public:
  T* pop() {
    T* x = head_;
    if (!x) {
      minCount_ = 0;  // demand beyond the list: nothing in it is surplus this period
      return nullptr;
    }
    head_ = x->nextFree;
    x->nextFree = nullptr;
    if (--count_ < minCount_) minCount_ = count_;
    return x;
  }
  void push(T* x) {
    x->nextFree = head_;
    head_ = x;
    ++count_;
  }
  size_t size() const { return count_; }

  // Passes to `drop` the entries beyond `keep` that stayed in the list through the whole
  // period since the previous trim(). Returns how many.
  template <class Drop>
  size_t trim(size_t keep, Drop drop) {
    size_t surplus = std::min(minCount_, count_);
    size_t n = 0;
    while (surplus > 0 && count_ > keep) {
      T* x = head_;
      head_ = x->nextFree;
      --count_;
      --surplus;
      drop(x);
      ++n;
    }
    minCount_ = count_;
    return n;
  }
  // Passes every entry to `drop`.
  template <class Drop>
  void clear(Drop drop) {
    while (T* x = head_) {
      head_ = x->nextFree;
      drop(x);
    }
    count_ = minCount_ = 0;
  }

 private:
  T* head_ = nullptr;
  size_t count_ = 0;
  size_t minCount_ = 0;  // lowest count_ since the last trim()
};

}  // namespace sy::common
