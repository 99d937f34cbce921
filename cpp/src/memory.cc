#include "fastmeta/memory.h"

#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace fastmeta {

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

namespace {

uintptr_t PageSize() noexcept {
#if defined(__linux__)
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  return page;
#else
  return 4096;
#endif
}

}  // namespace

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
