#include "fastmeta/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace fastmeta {

namespace {

[[noreturn]] void Fail(const std::string& path, const char* what, int err) {
  throw FileError(std::string(what) + " " + path + ": " + std::strerror(err), path, err == ENOENT || err == ENOTDIR);
}

}  // namespace

MappedFile::MappedFile(const std::string& path) {
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
        ::madvise(p, size_, MADV_SEQUENTIAL);
        data_ = static_cast<const char*>(p);
        mapped_ = true;
        ::close(fd);
        return;
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
  if (mapped_) ::munmap(const_cast<char*>(data_), size_);
}

}  // namespace fastmeta
