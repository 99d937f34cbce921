#include "fastmeta/mapped_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>

namespace fastmeta {

namespace {

// ---- SIGBUS of a truncated mapping (see mapped_file.h) ----
// The registry of live mappings: a fixed array the handler scans without locks. A slot
// is free (begin 0), being filled (begin 1) or holds [begin, end).
constexpr int kSlots = 64;
struct Slot {
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};
  std::atomic<uint32_t> truncated{0};
};
static_assert(std::atomic<uintptr_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free,
              "the SIGBUS handler needs lock-free atomics");
Slot g_slots[kSlots];
uintptr_t g_page_size = 0;  // (set before the handler is first installed)
// The handler ours displaced, double-buffered: a re-install writes the other copy.
struct sigaction g_previous[2];
std::atomic<int> g_previous_index{0};
// The thread (id) passing a SIGBUS that is not ours on to the previous handler: if
// that handler raises it again (Python's faulthandler does, once it has restored the
// handler it displaced, which may be ours), the default action follows.
std::atomic<long> g_chaining_thread{0};
std::mutex g_install_mutex;

void OnSigbus(int sig, siginfo_t* info, void* context);

bool IsOurs(const struct sigaction& a) { return (a.sa_flags & SA_SIGINFO) && a.sa_sigaction == OnSigbus; }

// A SIGBUS that is not a fault in one of our mappings: as if we were not there.
void PassOn(int sig, siginfo_t* info, void* context) {
  const long me = ::syscall(SYS_gettid);
  const struct sigaction& prev = g_previous[g_previous_index.load(std::memory_order_acquire)];
  const bool sent = info == nullptr || info->si_code <= 0;  // (kill, raise: not a fault)
  if (g_chaining_thread.load(std::memory_order_relaxed) != me) {
    if ((prev.sa_flags & SA_SIGINFO) && prev.sa_sigaction != nullptr && !IsOurs(prev)) {
      g_chaining_thread.store(me, std::memory_order_relaxed);
      prev.sa_sigaction(sig, info, context);
      g_chaining_thread.store(0, std::memory_order_relaxed);
      return;
    }
    if (!(prev.sa_flags & SA_SIGINFO) && prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
      g_chaining_thread.store(me, std::memory_order_relaxed);
      prev.sa_handler(sig);
      g_chaining_thread.store(0, std::memory_order_relaxed);
      return;
    }
    if (!(prev.sa_flags & SA_SIGINFO) && prev.sa_handler == SIG_IGN && sent) return;
  }
  // The default action: a fault repeats when the handler returns, a sent one is raised.
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(sig, &dfl, nullptr);
  if (sent) ::raise(sig);
}

// Async-signal-safe: atomics, mmap, sigaction, raise.
void OnSigbus(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  if (info != nullptr && info->si_code == BUS_ADRERR) {
    const uintptr_t addr = reinterpret_cast<uintptr_t>(info->si_addr);
    for (Slot& slot : g_slots) {
      const uintptr_t begin = slot.begin.load(std::memory_order_acquire);
      if (begin <= 1 || addr < begin || addr >= slot.end.load(std::memory_order_acquire)) continue;
      // A page of our mapping past the file's new end: zeros in its place, and retry.
      void* page = reinterpret_cast<void*>(addr & ~(g_page_size - 1));
      if (::mmap(page, g_page_size, PROT_READ, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED) {
        slot.truncated.store(1, std::memory_order_relaxed);
        errno = saved_errno;
        return;
      }
      break;
    }
  }
  errno = saved_errno;
  PassOn(sig, info, context);
}

// Ours on top, unless it is already: at the first mapping, and again whenever another
// handler (installed since) has displaced it; that one becomes the one passed on to.
void InstallHandler() {
  struct sigaction current;
  if (::sigaction(SIGBUS, nullptr, &current) != 0 || IsOurs(current)) return;
  if (g_page_size == 0) g_page_size = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const int next = 1 - g_previous_index.load(std::memory_order_relaxed);
  g_previous[next] = current;
  g_previous_index.store(next, std::memory_order_release);
  struct sigaction ours;
  std::memset(&ours, 0, sizeof ours);
  ours.sa_sigaction = OnSigbus;
  // SA_NODEFER: a handler passed on to that raises SIGBUS again reaches us at once.
  ours.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTART;
  sigemptyset(&ours.sa_mask);
  ::sigaction(SIGBUS, &ours, nullptr);
}

// A slot for [begin, begin + size), or -1 when all are taken.
int Register(const void* begin, size_t size) {
  {
    std::lock_guard<std::mutex> lock(g_install_mutex);
    InstallHandler();
  }
  for (int i = 0; i < kSlots; ++i) {
    uintptr_t expected = 0;
    if (g_slots[i].begin.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
      const uintptr_t b = reinterpret_cast<uintptr_t>(begin);
      g_slots[i].truncated.store(0, std::memory_order_relaxed);
      g_slots[i].end.store(b + size, std::memory_order_release);
      g_slots[i].begin.store(b, std::memory_order_release);
      return i;
    }
  }
  return -1;
}

void Unregister(int slot) {
  g_slots[slot].begin.store(1, std::memory_order_release);
  g_slots[slot].end.store(0, std::memory_order_release);
  g_slots[slot].begin.store(0, std::memory_order_release);
}

int64_t MtimeNs(const struct stat& st) { return int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec; }

[[noreturn]] void Fail(const std::string& path, const char* what, int err) {
  throw FileError(std::string(what) + " " + path + ": " + std::strerror(err), path, err == ENOENT || err == ENOTDIR);
}

}  // namespace

MappedFile::MappedFile(const std::string& path, size_t max_streamed) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Fail(path, "cannot open", errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    Fail(path, "cannot stat", err);
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw FileError("cannot read " + path + ": it is a directory", path, false);
  }
  if (S_ISREG(st.st_mode)) {
    size_ = static_cast<size_t>(st.st_size);
    if (size_ >= kMapFrom) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p != MAP_FAILED) {
        slot_ = Register(p, size_);
        if (slot_ >= 0) {
          ::madvise(p, size_, MADV_SEQUENTIAL);
          data_ = static_cast<const char*>(p);
          mapped_ = true;
          fd_ = fd;  // (to fstat it again: see changed())
          mtime_ns_ = MtimeNs(st);
          return;
        }
        ::munmap(p, size_);  // (more live mappings than the registry holds: read it)
      }
    }
  }
  // Small, or not mappable (empty, a pipe, a special file): read it. What was read is
  // ours: the file truncated or rewritten meanwhile cannot take it away.
  // Straight into place, in one read for a regular file; a pipe's bytes as they come.
  fallback_.resize(S_ISREG(st.st_mode) ? static_cast<size_t>(st.st_size) : 0);
  size_t got = 0;
  char spill[1 << 16];
  while (true) {
    const bool room = got < fallback_.size();
    ssize_t n = room ? ::read(fd, &fallback_[got], fallback_.size() - got) : ::read(fd, spill, sizeof spill);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      Fail(path, "cannot read", err);
    }
    if (n == 0) break;
    if (!room && got + static_cast<size_t>(n) > max_streamed) {
      // (a pipe or device with no end, such as /dev/zero: no protobuf file is this long)
      ::close(fd);
      throw SizeLimitError("cannot read " + path + ": more than " + std::to_string(max_streamed) +
                           " bytes from a pipe or device" +
                           (max_streamed == kMaxStreamed ? ", over protobuf's 2 GiB limit" : ""));
    }
    if (!room) {
      fallback_.resize(got);
      fallback_.append(spill, static_cast<size_t>(n));
    }
    got += static_cast<size_t>(n);
  }
  fallback_.resize(got);
  ::close(fd);
  data_ = fallback_.data();
  size_ = fallback_.size();
}

void ReleaseFilePages(const void* begin, size_t size) {
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  uintptr_t start = (reinterpret_cast<uintptr_t>(begin) + page - 1) & ~(page - 1);
  uintptr_t end = (reinterpret_cast<uintptr_t>(begin) + size) & ~(page - 1);
  if (end > start) ::madvise(reinterpret_cast<void*>(start), end - start, MADV_DONTNEED);
}

MappedFile::~MappedFile() {
  if (mapped_) {
    Unregister(slot_);  // (before the range can be mapped again, by anyone)
    ::munmap(const_cast<char*>(data_), size_);
    ::close(fd_);
  }
}

bool MappedFile::changed() const {
  if (!mapped_) return false;
  if (g_slots[slot_].truncated.load(std::memory_order_relaxed)) return true;
  struct stat st;
  if (::fstat(fd_, &st) != 0) return false;
  return static_cast<uint64_t>(st.st_size) < size_ || MtimeNs(st) != mtime_ns_;
}

void MappedFile::CheckUnchanged() const {
  if (!changed()) return;
  struct stat st;
  std::string how = "modified";
  if (::fstat(fd_, &st) == 0 && static_cast<uint64_t>(st.st_size) < size_) {
    how = "truncated from " + std::to_string(size_) + " to " + std::to_string(st.st_size) + " bytes";
  } else if (g_slots[slot_].truncated.load(std::memory_order_relaxed)) {
    how = "truncated";
  }
  throw FileChangedError("file " + path_ + " changed while it was being read (" + how +
                             " by another process): its contents cannot be trusted; retry once it is "
                             "complete (write such files to a new name and rename it over the old one)",
                         path_);
}

}  // namespace fastmeta
