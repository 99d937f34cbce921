#include "fastmeta/memory.h"

#include <cstdint>
#include <cstdlib>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

// Large blocks are mappings of their own on Linux, except under a sanitizer (whose
// allocator puts redzones around malloc'd blocks).
#if defined(__linux__) && defined(MAP_ANONYMOUS)
#define FASTMETA_MAPPED_BLOCKS 1
#endif
#if defined(__SANITIZE_ADDRESS__)
#undef FASTMETA_MAPPED_BLOCKS
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || __has_feature(thread_sanitizer)
#undef FASTMETA_MAPPED_BLOCKS
#endif
#endif

namespace fastmeta {

namespace {

// Blocks from malloc smaller than this are not advised.
constexpr size_t kHugePageAdviceMin = size_t{4} << 20;

// Advises the kernel to use huge pages for the 2 MiB-aligned interior of a malloc'd
// [p, p + n) (a no-op for small blocks, on other systems, or when the kernel refuses).
void AdviseHugePages(void* p, size_t n) noexcept {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (p == nullptr || n < kHugePageAdviceMin) return;
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) & ~(kHuge - 1);
  if (end > begin) (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)p;
  (void)n;
#endif
}

uintptr_t PageSize() noexcept {
#if defined(__linux__)
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  return page;
#else
  return 4096;
#endif
}

#if defined(FASTMETA_MAPPED_BLOCKS)
constexpr size_t kHugePage = size_t{2} << 20;
// Smaller blocks come from malloc.
constexpr size_t kMappedBlockMin = size_t{1} << 20;

// The length a mapped block of n bytes gets: whole pages, and whole huge pages when
// that wastes at most an eighth (the last huge page is then backed by one fault too).
size_t MappedLength(size_t n) noexcept {
  const size_t page = PageSize();
  const size_t pages = (n + page - 1) & ~(page - 1);
  const size_t huge = (n + kHugePage - 1) & ~(kHugePage - 1);
  return huge - n <= n / 8 ? huge : pages;
}
#endif

}  // namespace

void* AllocateLarge(size_t n) {
#if defined(FASTMETA_MAPPED_BLOCKS)
  if (n >= kMappedBlockMin) {
    if (n > (size_t{1} << 60)) throw std::bad_alloc();
    const size_t len = MappedLength(n);
    // Over-map by a huge page, then unmap what lies before the first 2 MiB boundary
    // and after the block.
    void* raw = ::mmap(nullptr, len + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const uintptr_t begin = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t aligned = (begin + kHugePage - 1) & ~(kHugePage - 1);
    const uintptr_t end = begin + len + kHugePage;
    if (aligned > begin) (void)::munmap(raw, aligned - begin);
    if (end > aligned + len) (void)::munmap(reinterpret_cast<void*>(aligned + len), end - (aligned + len));
#if defined(MADV_HUGEPAGE)
    (void)::madvise(reinterpret_cast<void*>(aligned), len, MADV_HUGEPAGE);
#endif
    return reinterpret_cast<void*>(aligned);
  }
#endif
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  AdviseHugePages(p, n);
  return p;
}

void FreeLarge(void* p, size_t n) noexcept {
  if (p == nullptr) return;
#if defined(FASTMETA_MAPPED_BLOCKS)
  if (n >= kMappedBlockMin) {
    (void)::munmap(p, MappedLength(n));
    return;
  }
#else
  (void)n;
#endif
  std::free(p);
}

void DropPages(const void* begin, const void* end) noexcept {
#if defined(__linux__)
  const uintptr_t page = PageSize();
  const uintptr_t start = (reinterpret_cast<uintptr_t>(begin) + page - 1) & ~(page - 1);
  const uintptr_t stop = reinterpret_cast<uintptr_t>(end) & ~(page - 1);
  if (stop > start) (void)::madvise(reinterpret_cast<void*>(start), stop - start, MADV_DONTNEED);
#else
  (void)begin;
  (void)end;
#endif
}

PageDropper::PageDropper(const void* begin) noexcept {
  const uintptr_t page = PageSize();
  done_ = reinterpret_cast<const char*>((reinterpret_cast<uintptr_t>(begin) + page - 1) & ~(page - 1));
}

void PageDropper::Advance(const void* upto) noexcept {
  const uintptr_t page = PageSize();
  const char* stop = reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(upto) & ~(page - 1));
  if (done_ == nullptr || stop <= done_) return;
  DropPages(done_, stop);
  done_ = stop;
}

}  // namespace fastmeta
