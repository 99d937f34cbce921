// Large scratch and output blocks. On Linux a block of 1 MiB or more is its own
// anonymous mapping, aligned to 2 MiB and advised to be backed by transparent huge
// pages, so a million-node graph's index and output fault in 2 MiB at a time instead
// of 4 KiB (a 4 KiB fault costs microseconds on a VM; about 15% of a rewrite was page
// faults). malloc'd blocks only get huge pages where the allocator happened to place
// them on 2 MiB boundaries inside a mapping of their own. Under AddressSanitizer every
// block comes from malloc, so overflows stay detectable.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace fastmeta {

// Hands the pages of scratch memory that lie wholly inside [begin, end) back to the
// system (Linux: MADV_DONTNEED; reading them afterwards gives zeros, so only for
// memory that is never read again). Used to shrink scratch arrays behind a sequential
// pass. A no-op elsewhere.
void DropPages(const void* begin, const void* end) noexcept;

// Untouched memory of a large block, [next, end), that scratch pages being dropped
// may be moved into instead (see RecyclePages).
struct PageSink {
  char* next = nullptr;
  char* end = nullptr;
};

// Moves the whole 2 MiB pages of [begin, end) (page tables, not bytes) to the sink's
// first whole 2 MiB pages, and sink.next goes past them; returns what moved (empty
// when nothing did). [begin, end) must be scratch memory never read again (it reads as
// zeros afterwards), the sink's pages memory never touched yet (they are replaced);
// both must lie in AllocateLarge blocks. A fresh page costs the kernel a zeroing pass, a
// moved one nothing. Moves only where blocks are mappings of their own on Linux, and
// only while the kernel agrees.
struct PageRange {
  const char* begin = nullptr;
  const char* end = nullptr;
};
PageRange MovePages(const void* begin, const void* end, PageSink& sink) noexcept;

// DropPages, except that what MovePages can move goes to the sink instead.
void RecyclePages(const void* begin, const void* end, PageSink& sink) noexcept;

// Drops a scratch range's pages behind a pass that moves forward through it.
class PageDropper {
 public:
  PageDropper() = default;
  explicit PageDropper(const void* begin) noexcept;
  // Everything before `upto` will not be read again: its whole pages go. With a sink,
  // whole 2 MiB pages only, moved there (RecyclePages); a later call without one takes
  // the 4 KiB pages such calls leave.
  void Advance(const void* upto, PageSink* sink = nullptr) noexcept;

 private:
  const char* done_ = nullptr;  // page-aligned: pages before it are dropped (or not ours)
};

// A block of n bytes for large scratch or output (see the top of this file); never
// nullptr (throws std::bad_alloc). Its contents are unspecified. Free it with
// FreeLarge and the same n.
void* AllocateLarge(size_t n);
void FreeLarge(void* p, size_t n) noexcept;
// An AllocateLarge block of old_n bytes as one of new_n (> old_n) bytes whose first
// `used` bytes are the old block's; the old block is gone. Where blocks are mappings
// of their own the old pages move into the new block (page tables, not bytes: no copy,
// and the pages already backed stay backed); else a copy.
void* ResizeLarge(void* p, size_t old_n, size_t new_n, size_t used);

// An owned AllocateLarge block.
class LargeBlock {
 public:
  LargeBlock() = default;
  explicit LargeBlock(size_t n) : data_(static_cast<char*>(AllocateLarge(n))), size_(n) {}
  LargeBlock(const LargeBlock&) = delete;
  LargeBlock& operator=(const LargeBlock&) = delete;
  LargeBlock(LargeBlock&& o) noexcept : data_(o.data_), size_(o.size_) {
    o.data_ = nullptr;
    o.size_ = 0;
  }
  LargeBlock& operator=(LargeBlock&& o) noexcept {
    if (this != &o) {
      FreeLarge(data_, size_);
      data_ = o.data_;
      size_ = o.size_;
      o.data_ = nullptr;
      o.size_ = 0;
    }
    return *this;
  }
  ~LargeBlock() { FreeLarge(data_, size_); }

  char* get() const { return data_; }
  size_t size() const { return size_; }
  // Gives up ownership: the caller frees the block with FreeLarge(p, size()).
  char* release() noexcept {
    char* p = data_;
    data_ = nullptr;
    size_ = 0;
    return p;
  }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
};

// AllocateLarge / FreeLarge, for std::vector.
template <typename T>
struct LargeAllocator {
  using value_type = T;
  LargeAllocator() = default;
  template <typename U>
  LargeAllocator(const LargeAllocator<U>&) noexcept {}  // NOLINT: converting, as allocators are

  T* allocate(size_t n) {
    if (n > static_cast<size_t>(-1) / sizeof(T)) throw std::bad_alloc();
    return static_cast<T*>(AllocateLarge(n * sizeof(T)));
  }
  void deallocate(T* p, size_t n) noexcept { FreeLarge(p, n * sizeof(T)); }

  template <typename U>
  bool operator==(const LargeAllocator<U>&) const noexcept {
    return true;
  }
  template <typename U>
  bool operator!=(const LargeAllocator<U>&) const noexcept {
    return false;
  }
};

template <typename T>
using LargeVector = std::vector<T, LargeAllocator<T>>;

// A LargeAllocator whose value-initialization does nothing, for arrays that a parallel
// pass fills right after they are sized (resize() then costs no serial pass over fresh
// pages): that pass must begin each element's lifetime itself (placement new, or an
// assignment for a scalar) before anything reads it.
template <typename T>
struct FillLaterAllocator : LargeAllocator<T> {
  template <typename U>
  struct rebind {
    using other = FillLaterAllocator<U>;
  };
  FillLaterAllocator() = default;
  template <typename U>
  FillLaterAllocator(const FillLaterAllocator<U>&) noexcept {}  // NOLINT: converting, as allocators are

  template <typename U>
  void construct(U*) noexcept {
    static_assert(std::is_trivially_destructible_v<U>, "elements are never constructed: nothing may need destroying");
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

template <typename T>
using FillLaterVector = std::vector<T, FillLaterAllocator<T>>;

}  // namespace fastmeta
