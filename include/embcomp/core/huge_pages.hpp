// Large buffers (tables, optimizer state) on transparent huge pages where the system offers
// them. Lookups and sparse optimizer steps read random rows of multi-GiB buffers; with 4 KiB
// pages nearly every row costs a TLB miss and a page walk, which bounds their rate. Advising
// 2 MiB pages (Linux THP, "madvise" or "always" mode) before the buffer is first touched removes
// most of those walks. Contents and sizes are exactly what std::vector::assign gives.
// EMBCOMP_HUGE_PAGES=0 in the environment turns the advice off.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace embcomp {

/// Buffers at least this large are advised onto huge pages.
inline constexpr std::size_t kHugePageMinBytes = std::size_t{64} << 20;

/// False when EMBCOMP_HUGE_PAGES=0 (read once).
inline bool huge_pages_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("EMBCOMP_HUGE_PAGES");
    return v == nullptr || !(v[0] == '0' && v[1] == '\0');
  }();
  return enabled;
}

/// v.assign(n, value); a buffer of kHugePageMinBytes or more is allocated afresh and advised onto
/// huge pages before assign touches it.
template <class T, class Allocator>
void assign_on_huge_pages(std::vector<T, Allocator>& v, std::size_t n, const T& value) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (n * sizeof(T) >= kHugePageMinBytes && v.capacity() < n && huge_pages_enabled()) {
    std::vector<T, Allocator>().swap(v);
    v.reserve(n);
    constexpr std::uintptr_t kHugePage = std::uintptr_t{2} << 20;
    const auto begin = reinterpret_cast<std::uintptr_t>(v.data());
    const std::uintptr_t first = (begin + kHugePage - 1) & ~(kHugePage - 1);
    const std::uintptr_t last = (begin + n * sizeof(T)) & ~(kHugePage - 1);
    // Advice only: where it is refused the buffer simply stays on small pages.
    if (last > first) (void)madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
  }
#endif
  v.assign(n, value);
}

}  // namespace embcomp
