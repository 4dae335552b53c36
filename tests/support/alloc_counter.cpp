// Replacement allocation functions that count per thread; see alloc_counter.h.

#include "tests/support/alloc_counter.h"

#include <cstdlib>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define TFE_ALLOC_COUNTER_MALLOC 0
#else
#define TFE_ALLOC_COUNTER_MALLOC 1
#endif

namespace tfe::test {
thread_local bool g_counting = false;
thread_local uint64_t g_allocations = 0;
bool counts_malloc() { return TFE_ALLOC_COUNTER_MALLOC != 0; }
}  // namespace tfe::test

#if TFE_ALLOC_COUNTER_MALLOC
extern "C" {
void* __libc_malloc(std::size_t) noexcept;
void* __libc_calloc(std::size_t, std::size_t) noexcept;
void* __libc_realloc(void*, std::size_t) noexcept;
void* __libc_memalign(std::size_t, std::size_t) noexcept;

void* malloc(std::size_t n) noexcept {
  if (tfe::test::g_counting) ++tfe::test::g_allocations;
  return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t size) noexcept {
  if (tfe::test::g_counting) ++tfe::test::g_allocations;
  return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t n) noexcept {
  if (tfe::test::g_counting) ++tfe::test::g_allocations;
  return __libc_realloc(p, n);
}
int posix_memalign(void** out, std::size_t align, std::size_t n) noexcept {
  if (tfe::test::g_counting) ++tfe::test::g_allocations;
  void* p = __libc_memalign(align, n);
  if (p == nullptr) return 12;  // ENOMEM
  *out = p;
  return 0;
}
void* aligned_alloc(std::size_t align, std::size_t n) noexcept {
  if (tfe::test::g_counting) ++tfe::test::g_allocations;
  return __libc_memalign(align, n);
}
}
#endif

namespace tfe::test::detail {
inline void* counted_new(std::size_t n) {
  if (g_counting) {
    ++g_allocations;
    g_counting = false;  // the malloc below is the same allocation
    void* p = std::malloc(n == 0 ? 1 : n);
    g_counting = true;
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
inline void* counted_new_aligned(std::size_t n, std::align_val_t a) {
  const bool was = g_counting;
  if (was) ++g_allocations;
  g_counting = false;
  void* p = nullptr;
  const std::size_t align = static_cast<std::size_t>(a);
  if (posix_memalign(&p, align < sizeof(void*) ? sizeof(void*) : align, n == 0 ? 1 : n) != 0) {
    p = nullptr;
  }
  g_counting = was;
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
}  // namespace tfe::test::detail

void* operator new(std::size_t n) { return tfe::test::detail::counted_new(n); }
void* operator new[](std::size_t n) { return tfe::test::detail::counted_new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return tfe::test::detail::counted_new(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return tfe::test::detail::counted_new(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t n, std::align_val_t a) {
  return tfe::test::detail::counted_new_aligned(n, a);
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return tfe::test::detail::counted_new_aligned(n, a);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
