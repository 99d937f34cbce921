// Large scratch and output blocks: allocated with malloc as usual, then advised to be
// backed by transparent huge pages (Linux), so a million-node graph's index and output
// fault in 2 MiB at a time instead of 4 KiB (about 15% of a rewrite was page faults).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

namespace fastmeta {

// Blocks smaller than this are left alone.
constexpr size_t kHugePageAdviceMin = size_t{4} << 20;

// Advises the kernel to use huge pages for the 2 MiB-aligned interior of [p, p + n).
// A no-op for small blocks, on other systems, or when the kernel refuses.
void AdviseHugePages(void* p, size_t n) noexcept;

// Hands the pages of scratch memory that lie wholly inside [begin, end) back to the
// system (Linux: MADV_DONTNEED; reading them afterwards gives zeros, so only for
// memory that is never read again). Used to shrink scratch arrays behind a sequential
// pass. A no-op elsewhere.
void DropPages(const void* begin, const void* end) noexcept;

// Drops a scratch range's pages behind a pass that moves forward through it.
class PageDropper {
 public:
  PageDropper() = default;
  explicit PageDropper(const void* begin) noexcept;
  // Everything before `upto` will not be read again.
  void Advance(const void* upto) noexcept;

 private:
  const char* done_ = nullptr;  // page-aligned: pages before it are dropped (or not ours)
};

// malloc + AdviseHugePages, for std::vector.
template <typename T>
struct LargeAllocator {
  using value_type = T;
  LargeAllocator() = default;
  template <typename U>
  LargeAllocator(const LargeAllocator<U>&) noexcept {}  // NOLINT: converting, as allocators are

  T* allocate(size_t n) {
    if (n > static_cast<size_t>(-1) / sizeof(T)) throw std::bad_alloc();
    void* p = std::malloc(n * sizeof(T));
    if (p == nullptr) throw std::bad_alloc();
    AdviseHugePages(p, n * sizeof(T));
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) noexcept { std::free(p); }

  template <typename U>
  bool operator==(const LargeAllocator<U>&) const noexcept { return true; }
  template <typename U>
  bool operator!=(const LargeAllocator<U>&) const noexcept { return false; }
};

template <typename T>
using LargeVector = std::vector<T, LargeAllocator<T>>;

}  // namespace fastmeta
