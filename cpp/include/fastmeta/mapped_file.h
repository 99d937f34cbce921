// Read-only memory map of a whole file (falls back to reading it for small files and
// files that cannot be mapped, such as pipes). The core rewrites straight from the
// mapping.
//
// A mapped file truncated by another process while mapped: touching a page past its new
// end raises SIGBUS, which would kill the process. While a MappedFile is mapped, its
// range is registered with a process-wide SIGBUS handler (installed when the first one
// is mapped, re-installed on top when something else, such as Python's faulthandler,
// has replaced it since): a fault inside a registered range gets an anonymous zero page
// mapped over the faulting page, the mapping is marked truncated and the access goes on
// (it reads zeros). Every user of the bytes then calls CheckUnchanged() once it has
// consumed them, and on its error paths: a FileChangedError naming the file replaces
// whatever was computed from the zeros. Other SIGBUS go to the handler that was there
// before (or the default action), as they would without fastmeta.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fastmeta/errors.h"

namespace fastmeta {

// A file that could not be opened or read. `missing()` is true when it does not exist.
class FileError : public Error {
 public:
  FileError(const std::string& what, std::string path, bool missing)
      : Error(what), path_(std::move(path)), missing_(missing) {}
  const std::string& path() const { return path_; }
  bool missing() const { return missing_; }

 private:
  std::string path_;
  bool missing_;
};

// The file changed (was truncated or written to) while it was mapped and being read: the
// bytes read may be zeros or a mix of old and new contents.
class FileChangedError : public FileError {
 public:
  FileChangedError(const std::string& what, std::string path) : FileError(what, std::move(path), false) {}
};

// A regular file of kMapFrom bytes or more is mapped; a smaller one is read into memory
// (as are pipes and special files). Reading costs a copy into fresh pages: measured
// (CPU time of the rewrite, alternating runs) within noise at 80-110 kB, +0.1 ms (+14%)
// at 227 kB, and +15-20% for 1-14 MB graphs, so large files stay mapped. What was read
// stays valid whatever happens to the file; a mapped file truncated while its pages
// are read reads zeros past its new end (see the top of this file) and CheckUnchanged()
// throws, so large inputs should be replaced by rename (as TensorFlow's writers do),
// not rewritten in place.
class MappedFile {
 public:
  static constexpr size_t kMapFrom = size_t{256} << 10;
  // A pipe or device (no size to go by) is read up to `max_streamed` bytes, by default
  // protobuf's limit for a message; more is a SizeLimitError (/dev/zero never ends).
  static constexpr size_t kMaxStreamed = size_t{0x7fffffff};
  explicit MappedFile(const std::string& path, size_t max_streamed = kMaxStreamed);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::string_view data() const { return std::string_view(data_, size_); }
  size_t size() const { return size_; }
  // Whether the bytes are a private file mapping (ReleaseFilePages applies), not memory
  // of ours.
  bool mapped() const { return mapped_; }
  const std::string& path() const { return path_; }

  // Whether the mapped file changed since it was mapped: a page past its end was touched
  // (and read as zeros), or its size or modification time differ now. Always false
  // for a file that was read. Cheap (an atomic load and one fstat); not for signal handlers.
  bool changed() const;
  // Throws FileChangedError naming the file when changed(). Call it after the bytes
  // have been consumed (and on the way out of a failure), before using the result.
  void CheckUnchanged() const;

 private:
  const char* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  int fd_ = -1;    // (mapped: kept open to fstat it again)
  int slot_ = -1;  // (mapped: its slot in the SIGBUS handler's registry)
  int64_t mtime_ns_ = 0;
  std::string path_;
  std::string fallback_;
};

// Drops the resident pages wholly inside [begin, begin + size) of a private file
// mapping; they are read from the file again if touched. A no-op elsewhere.
void ReleaseFilePages(const void* begin, size_t size);

}  // namespace fastmeta
