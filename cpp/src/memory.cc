#include "fastmeta/memory.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
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

constexpr size_t kHugePage = size_t{2} << 20;

#if defined(FASTMETA_MAPPED_BLOCKS)
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

void* ResizeLarge(void* p, size_t old_n, size_t new_n, size_t used) {
  void* q = AllocateLarge(new_n);
  if (p == nullptr) return q;
#if defined(FASTMETA_MAPPED_BLOCKS)
  if (old_n >= kMappedBlockMin && new_n >= kMappedBlockMin) {
    // The new block is as aligned as the old, and at least as long: the old mapping
    // replaces the new one's start (which nothing has touched).
    const size_t old_len = MappedLength(old_n);
    if (MappedLength(new_n) >= old_len &&
        ::mremap(p, old_len, old_len, MREMAP_MAYMOVE | MREMAP_FIXED, q) != MAP_FAILED) {
      return q;
    }
  }
#endif
  if (used != 0) std::memcpy(q, p, used);
  FreeLarge(p, old_n);
  return q;
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

#if defined(FASTMETA_MAPPED_BLOCKS) && defined(MREMAP_DONTUNMAP)
namespace {
// Cleared the first time the kernel refuses a move (one older than Linux 5.7, a sandbox
// that forbids mremap, a process at its mapping limit): from then on pages are dropped,
// as before moves existed, and no later call tries again.
std::atomic<bool> g_moves_work{true};
}  // namespace
#endif

PageRange MovePages(const void* begin, const void* end, PageSink& sink) noexcept {
#if defined(FASTMETA_MAPPED_BLOCKS) && defined(MREMAP_DONTUNMAP)
  if (!g_moves_work.load(std::memory_order_relaxed)) return {};
  constexpr uintptr_t kHuge = kHugePage;
  const uintptr_t first = (reinterpret_cast<uintptr_t>(begin) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t last = reinterpret_cast<uintptr_t>(end) & ~(kHuge - 1);
  const uintptr_t to = (reinterpret_cast<uintptr_t>(sink.next) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t to_end = reinterpret_cast<uintptr_t>(sink.end) & ~(kHuge - 1);
  if (sink.next != nullptr && last > first && to_end > to) {
    const size_t n = std::min(last - first, to_end - to);
    // DONTUNMAP: the source stays mapped and reads as zeros afterwards, as after DropPages.
    void* moved = ::mremap(reinterpret_cast<void*>(first), n, n, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP,
                           reinterpret_cast<void*>(to));
    if (moved != MAP_FAILED) {
      sink.next = reinterpret_cast<char*>(to + n);
      return {reinterpret_cast<const char*>(first), reinterpret_cast<const char*>(first + n)};
    }
    g_moves_work.store(false, std::memory_order_relaxed);
  }
#else
  (void)begin;
  (void)end;
  (void)sink;
#endif
  return {};
}

void RecyclePages(const void* begin, const void* end, PageSink& sink) noexcept {
  const PageRange moved = MovePages(begin, end, sink);
  if (moved.begin == moved.end) {
    DropPages(begin, end);
  } else {
    DropPages(begin, moved.begin);
    DropPages(moved.end, end);
  }
}

PageDropper::PageDropper(const void* begin) noexcept {
  const uintptr_t page = PageSize();
  done_ = reinterpret_cast<const char*>((reinterpret_cast<uintptr_t>(begin) + page - 1) & ~(page - 1));
}

void PageDropper::Advance(const void* upto, PageSink* sink) noexcept {
  // With a sink, whole 2 MiB pages at a time (a part of one would split it).
  const uintptr_t page = sink != nullptr ? uintptr_t{kHugePage} : PageSize();
  const char* stop = reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(upto) & ~(page - 1));
  if (done_ == nullptr || stop <= done_) return;
  if (sink != nullptr)
    RecyclePages(done_, stop, *sink);
  else
    DropPages(done_, stop);
  done_ = stop;
}

}  // namespace fastmeta
