// Read-only memory map of a whole file (falls back to reading it for small files and
// files that cannot be mapped, such as pipes). The core rewrites straight from the
// mapping.
#pragma once

#include <cstddef>
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

// A regular file of kMapFrom bytes or more is mapped; a smaller one is read into memory
// (as are pipes and special files). Reading costs a copy into fresh pages: measured
// (CPU time of the rewrite, alternating runs) within noise at 80-110 kB, +0.1 ms (+14%)
// at 227 kB, and +15-20% for 1-14 MB graphs, so large files stay mapped. What was read
// stays valid whatever happens to the file; a mapped file truncated while its pages
// are read kills the process (SIGBUS), so large inputs should be replaced by rename
// (as TensorFlow's writers do), not rewritten in place.
class MappedFile {
 public:
  static constexpr size_t kMapFrom = size_t{256} << 10;
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::string_view data() const { return std::string_view(data_, size_); }
  size_t size() const { return size_; }
  // Whether the bytes are a private file mapping (ReleaseFilePages applies), not memory
  // of ours.
  bool mapped() const { return mapped_; }

 private:
  const char* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  std::string fallback_;
};

// Drops the resident pages wholly inside [begin, begin + size) of a private file
// mapping; they are read from the file again if touched. A no-op elsewhere.
void ReleaseFilePages(const void* begin, size_t size);

}  // namespace fastmeta
