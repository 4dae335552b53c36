#pragma once
// Heap allocation counter for tests and benchmarks: replaces the global operator new family and,
// outside AddressSanitizer builds, interposes malloc/calloc/realloc/posix_memalign/aligned_alloc
// (forwarding to glibc's __libc_* entry points), so allocations made through Eigen or C code are
// counted too. Counting is per thread, between start_counting() and stop_counting().
//
// The replacements live in alloc_counter.cpp (target tfe_test_alloc_counter): linking it replaces
// the allocator of the whole executable.

#include <cstddef>
#include <cstdint>

namespace tfe::test {

extern thread_local bool g_counting;
extern thread_local uint64_t g_allocations;

inline void start_counting() {
  g_allocations = 0;
  g_counting = true;
}
inline uint64_t stop_counting() {
  g_counting = false;
  return g_allocations;
}
// Whether C allocations (malloc and friends) are counted, not only operator new.
bool counts_malloc();

}  // namespace tfe::test
