// Internal helpers shared by the checkpoint sources (not installed, not public).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fastmeta/checkpoint.h"

namespace fastmeta {
namespace ckpt_internal {

inline void PutFixed32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
}
inline void PutFixed64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
}
inline void PutVarint64(std::string* out, uint64_t v) {
  while (v >= 0x80u) {
    out->push_back(static_cast<char>((v & 0x7fu) | 0x80u));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
inline void PutTag(std::string* out, uint32_t field, uint32_t wire_type) {
  PutVarint64(out, (uint64_t{field} << 3) | wire_type);
}
// A length-delimited field (a string, bytes or a message).
inline void PutLenDelim(std::string* out, uint32_t field, std::string_view bytes) {
  PutTag(out, field, 2);
  PutVarint64(out, bytes.size());
  out->append(bytes);
}
// A varint field, left out when 0 (as proto3 serializes a scalar).
inline void PutInt(std::string* out, uint32_t field, int64_t v) {
  if (v == 0) return;
  PutTag(out, field, 0);
  PutVarint64(out, static_cast<uint64_t>(v));
}
inline uint32_t LoadFixed32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}
inline uint64_t LoadFixed64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

// A bounds-checked cursor. Every failure throws CheckpointError with `context`
// and the absolute byte offset (`base` + position).
class Cursor {
 public:
  Cursor(std::string_view data, std::string context, uint64_t base = 0)
      : data_(data), context_(std::move(context)), base_(base) {}
  bool done() const { return pos_ >= data_.size(); }
  size_t pos() const { return pos_; }
  size_t remaining() const { return data_.size() - pos_; }
  uint64_t abs_pos() const { return base_ + pos_; }
  [[noreturn]] void Fail(const std::string& why) const {
    throw CheckpointError(context_ + ": " + why + " (at byte " + std::to_string(abs_pos()) + ")");
  }
  uint64_t Varint64() {
    uint64_t v = 0;
    for (int shift = 0; shift <= 63; shift += 7) {
      if (pos_ >= data_.size()) Fail("truncated varint");
      const auto b = static_cast<unsigned char>(data_[pos_++]);
      if (shift == 63 && (b & 0x7eu) != 0) Fail("varint overflows 64 bits");
      v |= static_cast<uint64_t>(b & 0x7fu) << shift;
      if ((b & 0x80u) == 0) return v;
    }
    Fail("varint too long");
  }
  uint32_t Varint32() {
    const uint64_t v = Varint64();
    if (v > 0xffffffffull) Fail("varint32 out of range");
    return static_cast<uint32_t>(v);
  }
  uint32_t Fixed32() {
    if (remaining() < 4) Fail("truncated fixed32");
    const uint32_t v = LoadFixed32(data_.data() + pos_);
    pos_ += 4;
    return v;
  }
  uint64_t Fixed64() {
    if (remaining() < 8) Fail("truncated fixed64");
    const uint64_t v = LoadFixed64(data_.data() + pos_);
    pos_ += 8;
    return v;
  }
  std::string_view Bytes(uint64_t n) {
    if (n > remaining()) Fail("length " + std::to_string(n) + " runs past the end");
    std::string_view v = data_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return v;
  }
  // Skips a protobuf field of the given wire type.
  void SkipField(uint32_t wire_type) {
    switch (wire_type) {
      case 0:
        Varint64();
        break;
      case 1:
        Bytes(8);
        break;
      case 2:
        Bytes(Varint64());
        break;
      case 5:
        Bytes(4);
        break;
      default:
        Fail("unsupported protobuf wire type " + std::to_string(wire_type));
    }
  }
  const std::string& context() const { return context_; }

 private:
  std::string_view data_;
  std::string context_;
  uint64_t base_;
  size_t pos_ = 0;
};

// ---- writing files (checkpoint.cc) ----
// ".tempstate<random>": the suffix of TensorFlow's temporaries, beside the file written.
std::string TempSuffix();
// A file written to `tmp` (buffered) and renamed to `path` by Commit; the temporary is
// removed when it is not committed (an error while writing). Throws CheckpointError
// naming the file.
class OutputFile {
 public:
  OutputFile(std::string path, std::string tmp);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  void Write(std::string_view bytes);
  void Commit();

 private:
  static constexpr size_t kBuffer = size_t{1} << 20;
  void Flush();
  void WriteAll(std::string_view bytes);
  std::string path_;
  std::string tmp_;
  int fd_ = -1;
  std::string buffer_;
};

// ---- shared by the V2 (checkpoint.cc) and V1 (checkpoint_v1.cc) readers ----
std::string ErrnoText();
bool FileExists(const std::string& path);
// The entries of the sstable in file `path` (a V2 index). The file must be a regular
// file: TensorFlow's reader reads an index by its size, so a pipe or a device (/dev/zero:
// endless) is refused, as is a directory. It is mapped when large, so only the pages
// the table names are read (a huge sparse file fails on its footer at once). Errors
// are CheckpointErrors naming the file, also when it changed while being read.
std::vector<std::pair<std::string, std::string>> ReadIndexTable(const std::string& path);
std::string ShapeString(const std::vector<int64_t>& shape);
// Reverses the bytes of each element of `size` bytes of dtype `dt` at `data` (each part
// of a complex number): big-endian values into this machine's order, or back.
void SwapBytes(char* data, size_t size, int32_t dt);
// How a message names slice `s` of tensor `key` (its stored key is binary): "emb (slice
// 0,2:-)", TensorFlow's notation (start,length per dimension, "-" for all of it).
std::string SliceShown(const std::string& key, const TensorSlice& s);

// Checks a slice given to a writer: `slice` (in full-tensor coordinates, "-" for a whole
// dimension) lies inside `full` and is `shape` wide in every dimension; throws
// CheckpointError(where + ": slice ...") otherwise. Returns whether it covers the whole
// tensor.
bool CheckWriteSlice(const TensorSlice& slice, const std::vector<int64_t>& full, const std::vector<int64_t>& shape,
                     const std::string& where);

// TensorFlow's most dimensions a tensor has (TensorShape::MaxDimensions; its checkpoint
// reader aborts the process on a stored shape of more). The decoders refuse more, which
// also bounds what one shape or slice can make the reader hold.
constexpr size_t kMaxRank = 254;

// Protobuf decoders of the messages both formats share (TensorShapeProto,
// TensorSliceProto, VersionDef); `ctx` prefixes error messages.
void DecodeShape(std::string_view bytes, const std::string& ctx, std::vector<int64_t>* dims, bool* unknown_rank);
TensorSlice DecodeSlice(std::string_view bytes, const std::string& ctx);
// ... and their encoders, as TensorFlow's AsProto writes them (a dimension of size 0 is an
// empty Dim; a whole extent of a slice an empty Extent, a start of 0 left out).
std::string EncodeShape(const std::vector<int64_t>& dims, bool unknown_rank = false);
std::string EncodeSlice(const TensorSlice& slice);
struct Versions {
  int32_t producer = 0;
  int32_t min_consumer = 0;
  std::vector<int32_t> bad_consumers;
};
Versions DecodeVersions(std::string_view bytes, const std::string& ctx);

// Calls fn(src_elem, dst_elem, run) for each contiguous innermost run of `slice`
// (given in full-tensor coordinates) copied into a row-major tensor of `full` shape.
template <typename Fn>
void ForEachSliceRun(const std::vector<int64_t>& full, const std::vector<int64_t>& start,
                     const std::vector<int64_t>& len, Fn fn) {
  const size_t rank = full.size();
  if (rank == 0) {
    fn(0, 0, 1);
    return;
  }
  for (int64_t l : len)
    if (l == 0) return;
  std::vector<int64_t> full_stride(rank, 1);
  for (size_t d = rank - 1; d > 0; --d) full_stride[d - 1] = full_stride[d] * full[d];
  std::vector<int64_t> idx(rank, 0);
  int64_t src = 0;
  const int64_t run = len[rank - 1];
  for (;;) {
    int64_t dst = 0;
    for (size_t d = 0; d < rank; ++d) dst += (start[d] + idx[d]) * full_stride[d];
    fn(src, dst, run);
    src += run;
    // advance idx over dims [0, rank-1)
    size_t d = rank - 1;
    for (;;) {
      if (d == 0) return;
      --d;
      if (++idx[d] < len[d]) break;
      idx[d] = 0;
    }
  }
}

// A slice resolved against its full shape: start and length per dimension.
struct Extents {
  std::vector<int64_t> start, len;
  int64_t count = 1;
};
inline Extents ResolveSlice(const TensorSlice& s, const std::vector<int64_t>& full) {
  Extents x;
  for (size_t d = 0; d < s.size(); ++d) {
    const bool whole = s[d].length == -1;
    x.start.push_back(whole ? 0 : s[d].start);
    x.len.push_back(whole ? full[d] : s[d].length);
    x.count *= x.len.back();
  }
  return x;
}
inline bool Overlap(const Extents& a, const Extents& b) {
  for (size_t d = 0; d < a.start.size(); ++d) {
    if (a.start[d] + a.len[d] <= b.start[d] || b.start[d] + b.len[d] <= a.start[d]) return false;
  }
  return true;
}
// The element where slice `x` starts in the row-major `full` tensor if the slice is
// one contiguous run there (every dimension before its last partial one is one wide;
// with none partial, it is the whole tensor), else -1.
inline int64_t ContiguousStart(const std::vector<int64_t>& full, const Extents& x) {
  size_t partial = 0;
  for (size_t d = full.size(); d-- > 0;) {
    if (x.len[d] != full[d]) {
      partial = d;
      break;
    }
  }
  int64_t start = 0, stride = 1;
  for (size_t d = full.size(); d-- > 0;) {
    if (d < partial && x.len[d] != 1) return -1;
    start += x.start[d] * stride;
    stride *= full[d];
  }
  return start;
}

}  // namespace ckpt_internal
}  // namespace fastmeta
