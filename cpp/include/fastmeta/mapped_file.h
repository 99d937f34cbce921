// Read-only memory map of a whole file (falls back to reading it for files that
// cannot be mapped, such as pipes). The core rewrites straight from the mapping.
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

class MappedFile {
 public:
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
