// Heap accounting for the benchmarks: live bytes and their high-water mark, counted by a global
// operator new / delete. Include it in exactly one translation unit of a benchmark binary (it
// defines the global allocation functions).
#pragma once

#include <malloc.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

// ---- heap accounting: live bytes and their high-water mark ------------
// Only while g_counting is set (the untimed memory runs): malloc_usable_size on every
// allocation costs time, so the timed rounds run without it.
namespace {
std::atomic<int64_t> g_live{0};
std::atomic<int64_t> g_peak{0};
std::atomic<bool> g_counting{false};

inline void Note(void* p) {
  if (!p || !g_counting.load(std::memory_order_relaxed)) return;
  int64_t now =
      g_live.fetch_add(static_cast<int64_t>(malloc_usable_size(p)), std::memory_order_relaxed) +
      static_cast<int64_t>(malloc_usable_size(p));
  int64_t peak = g_peak.load(std::memory_order_relaxed);
  while (now > peak && !g_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}
inline void Forget(void* p) {
  if (p && g_counting.load(std::memory_order_relaxed))
    g_live.fetch_sub(static_cast<int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
}
void* Alloc(size_t n, size_t align = 0) {
  void* p = align > alignof(std::max_align_t)
                ? std::aligned_alloc(align, (n + align - 1) / align * align)
                : std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  Note(p);
  return p;
}
void Free(void* p) {
  Forget(p);
  std::free(p);
}

// Counts while it lives: the peak of live heap bytes above the level when it began, and the
// bytes still live (allocated inside the scope and not freed) when asked.
struct HeapScope {
  HeapScope() {
    g_live.store(0);
    g_peak.store(0);
    g_counting.store(true);
  }
  ~HeapScope() { g_counting.store(false); }
  int64_t PeakAbove() const { return g_peak.load(); }
  int64_t LiveAbove() const { return g_live.load(); }
};
}  // namespace

void* operator new(size_t n) { return Alloc(n); }
void* operator new[](size_t n) { return Alloc(n); }
void* operator new(size_t n, std::align_val_t a) { return Alloc(n, static_cast<size_t>(a)); }
void* operator new[](size_t n, std::align_val_t a) { return Alloc(n, static_cast<size_t>(a)); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  try {
    return Alloc(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](size_t n, const std::nothrow_t&) noexcept {
  try {
    return Alloc(n);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { Free(p); }
void operator delete[](void* p) noexcept { Free(p); }
void operator delete(void* p, size_t) noexcept { Free(p); }
void operator delete[](void* p, size_t) noexcept { Free(p); }
void operator delete(void* p, std::align_val_t) noexcept { Free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { Free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { Free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { Free(p); }
