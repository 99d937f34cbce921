// Protocol buffer wire format: a bounds-checked reader over a byte buffer and an
// appending writer. Offsets in errors are absolute: relative to `origin`, the start
// of the whole input, so a message deep inside still names its place in the file.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <string_view>

#include "fastmeta/errors.h"
#include "fastmeta/memory.h"

namespace fastmeta::wire {

// memcpy(dst, src, n) for the short strings the rewriter copies by the million (names,
// ops, attr keys: mostly under 64 bytes), inline: overlapping fixed-size moves instead of
// a call that costs more than the copy. Longer ones go to memcpy.
inline void CopyBytes(char* dst, const char* src, size_t n) {
  if (n <= 16) {
    if (n >= 8) {
      uint64_t a, b;
      std::memcpy(&a, src, 8);
      std::memcpy(&b, src + n - 8, 8);
      std::memcpy(dst, &a, 8);
      std::memcpy(dst + n - 8, &b, 8);
    } else if (n >= 4) {
      uint32_t a, b;
      std::memcpy(&a, src, 4);
      std::memcpy(&b, src + n - 4, 4);
      std::memcpy(dst, &a, 4);
      std::memcpy(dst + n - 4, &b, 4);
    } else if (n != 0) {
      const char a = src[0], b = src[n / 2], c = src[n - 1];
      dst[0] = a;
      dst[n / 2] = b;
      dst[n - 1] = c;
    }
  } else if (n <= 64) {
    // Up to four 16-byte moves: the first 16 and last 16, and the middle when n > 32.
    char a[16], b[16], c[16], d[16];
    std::memcpy(a, src, 16);
    std::memcpy(b, src + n - 16, 16);
    if (n > 32) {
      std::memcpy(c, src + 16, 16);
      std::memcpy(d, src + n - 32, 16);
      std::memcpy(dst + 16, c, 16);
      std::memcpy(dst + n - 32, d, 16);
    }
    std::memcpy(dst, a, 16);
    std::memcpy(dst + n - 16, b, 16);
  } else {
    std::memcpy(dst, src, n);
  }
}

enum WireType : uint32_t {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};

// One decoded field. For length-delimited fields `data` is the payload; for fixed
// fields it is the raw 4 or 8 bytes; `raw` is the whole field (tag included).
struct Field {
  uint32_t number = 0;
  WireType type = kVarint;
  uint64_t varint = 0;
  std::string_view data;
  std::string_view raw;
};

// protobuf's default recursion limit: a message or group nested deeper than this,
// counting from the parsed root message at depth 0, does not parse.
constexpr int kMaxDepth = 100;

// Reads fields as protobuf's parser (upb, as TensorFlow's Python reads a file) does:
// - a tag is a varint of at most 5 bytes below 2^32; field number 0 is refused in a
//   message (protobuf skips it inside an unknown group); wire types 6 and 7 are refused;
// - a varint value has at most 10 bytes, bits past the 64th dropped;
// - a length prefix has at most 5 bytes and no more than the bytes left;
// - an unknown group is skipped up to its end-group tag, each level of it a nesting level
//   as a message is: the reader knows the depth of the message it reads (`depth`).
// A field whose wire type is not its declaration's is an unknown field to protobuf: the
// callers check `type` before they read a field as known.
class Reader {
 public:
  Reader(std::string_view buf, const char* origin, int depth)
      : p_(buf.data()), end_(buf.data() + buf.size()), origin_(origin), depth_(depth) {}

  bool done() const { return p_ >= end_; }
  size_t offset() const { return static_cast<size_t>(p_ - origin_); }
  size_t offset_of(const char* at) const { return static_cast<size_t>(at - origin_); }
  // The nesting depth of the message read (its root: 0).
  int depth() const { return depth_; }

  // Reads the next field; returns false at the end of the buffer. (Always inlined: the
  // parse and write loops call it for every field, and the call cost as much as the read.)
#if defined(__GNUC__)
  __attribute__((always_inline))
#endif
  inline bool Next(Field& f) {
    if (p_ >= end_) return false;
    // Most fields of a graph are length-delimited with a one-byte tag and a one-byte
    // length: read those here (small enough to inline), the rest in NextGeneral.
    if (end_ - p_ >= 2) {
      const auto tag = static_cast<uint8_t>(p_[0]);
      const auto len = static_cast<uint8_t>(p_[1]);
      if (tag < 0x80 && (tag & 7) == kLengthDelimited && tag >= 8 && len < 0x80 && len <= end_ - p_ - 2) {
        f.number = tag >> 3;
        f.type = kLengthDelimited;
        f.varint = 0;
        f.data = std::string_view(p_ + 2, len);
        f.raw = std::string_view(p_, size_t{2} + len);
        p_ += 2 + len;
        return true;
      }
    }
    return NextGeneral(f);
  }

  // A varint value (as in a varint field or a packed one).
  uint64_t ReadVarint(const char* what) {
    // Most fit in one byte.
    if (p_ < end_ && static_cast<uint8_t>(*p_) < 0x80) return static_cast<uint8_t>(*p_++);
    return ReadVarintSlow(what);
  }

 private:
#if defined(__GNUC__)
  __attribute__((noinline))
#endif
  bool NextGeneral(Field& f) {
    const char* start = p_;
    const uint32_t tag = ReadTag();
    f.number = tag >> 3;
    if (f.number == 0) throw ParseError("invalid field number 0", offset_of(start));
    f.type = static_cast<WireType>(tag & 7);
    f.varint = 0;
    switch (f.type) {
      case kVarint:
        f.varint = ReadVarint("varint field");
        f.data = {};
        break;
      case kFixed64:
        f.data = Take(8, "fixed64 field");
        break;
      case kFixed32:
        f.data = Take(4, "fixed32 field");
        break;
      case kLengthDelimited: {
        const size_t len = ReadLength();
        f.data = std::string_view(p_, len);
        p_ += len;
        break;
      }
      case kStartGroup:
        SkipGroup(f.number, start);
        f.data = {};
        break;
      default:
        throw ParseError("invalid wire type " + std::to_string(static_cast<unsigned>(f.type)), offset_of(start));
    }
    f.raw = std::string_view(start, static_cast<size_t>(p_ - start));
    return true;
  }

  // A varint of at most 10 bytes; the bits past the 64th are dropped, as protobuf does.
  uint64_t ReadVarintSlow(const char* what) {
    uint64_t result = 0;
    const char* start = p_;
    for (int shift = 0; shift < 70; shift += 7) {
      if (p_ >= end_) throw ParseError(std::string("truncated ") + what, offset_of(start));
      const uint8_t byte = static_cast<uint8_t>(*p_++);
      if (shift < 64) result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return result;
    }
    throw ParseError(std::string("overlong ") + what, offset_of(start));
  }

  // A tag: a varint of at most 5 bytes, below 2^32.
  uint32_t ReadTag() {
    const char* start = p_;
    uint64_t v = 0;
    for (int i = 0; i < 5; ++i) {
      if (p_ >= end_) throw ParseError("truncated field tag", offset_of(start));
      const uint8_t byte = static_cast<uint8_t>(*p_++);
      v |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
      if ((byte & 0x80) == 0) {
        if (v > 0xffffffffu) throw ParseError("field tag out of range (field number past 2^29 - 1)", offset_of(start));
        return static_cast<uint32_t>(v);
      }
    }
    throw ParseError("overlong field tag (more than 5 bytes)", offset_of(start));
  }

  // A length prefix: a varint of at most 5 bytes, within the bytes left.
  size_t ReadLength() {
    const char* start = p_;
    uint64_t len = 0;
    for (int i = 0;; ++i) {
      if (i == 5) throw ParseError("overlong length prefix (more than 5 bytes)", offset_of(start));
      if (p_ >= end_) throw ParseError("truncated length prefix", offset_of(start));
      const uint8_t byte = static_cast<uint8_t>(*p_++);
      len |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
      if ((byte & 0x80) == 0) break;
    }
    if (len > static_cast<uint64_t>(end_ - p_)) {
      throw ParseError("length prefix " + std::to_string(len) + " runs past the end of its message (" +
                           std::to_string(end_ - p_) + " bytes left)",
                       offset_of(start));
    }
    return static_cast<size_t>(len);
  }

  std::string_view Take(size_t n, const char* what) {
    if (static_cast<size_t>(end_ - p_) < n) throw ParseError(std::string("truncated ") + what, offset());
    std::string_view v(p_, n);
    p_ += n;
    return v;
  }

  // Groups are obsolete and unused by TensorFlow's protos, but valid unknown fields:
  // skipped (the start tag read), each level a nesting level for protobuf's limit.
#if defined(__GNUC__)
  __attribute__((noinline))
#endif
  void SkipGroup(uint32_t number, const char* start) {
    uint32_t stack[kMaxDepth];
    const int max_levels = kMaxDepth - depth_;  // (the group lies at depth_ + 1)
    int levels = 0;
    if (max_levels <= 0) throw ParseError("groups nested too deeply (protobuf's limit: 100)", offset_of(start));
    stack[levels++] = number;
    while (levels > 0) {
      if (p_ >= end_) throw ParseError("unterminated group", offset_of(start));
      const char* at = p_;
      const uint32_t tag = ReadTag();
      const uint32_t n = tag >> 3;
      switch (tag & 7) {
        case kVarint:
          ReadVarint("varint field");
          break;
        case kFixed64:
          Take(8, "fixed64 field");
          break;
        case kFixed32:
          Take(4, "fixed32 field");
          break;
        case kLengthDelimited:
          p_ += ReadLength();
          break;
        case kStartGroup:
          if (levels >= max_levels) throw ParseError("groups nested too deeply (protobuf's limit: 100)", offset_of(at));
          stack[levels++] = n;
          break;
        case kEndGroup:
          if (stack[levels - 1] != n) throw ParseError("mismatched end of group", offset_of(at));
          --levels;
          break;
        default:
          throw ParseError("invalid wire type", offset_of(at));
      }
    }
  }

  const char* p_;
  const char* end_;
  const char* origin_;
  int depth_;
};

// An appendable byte buffer that grows without zero-filling (std::string::resize
// would), for the writer's hot path.
class Buffer {
 public:
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  // Takes over a block as its storage (its contents are discarded).
  explicit Buffer(LargeBlock&& block) noexcept : cap_(block.size()) { data_ = block.release(); }
  Buffer(Buffer&& o) noexcept : data_(o.data_), size_(o.size_), cap_(o.cap_) {
    o.data_ = nullptr;
    o.size_ = o.cap_ = 0;
  }
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      FreeLarge(data_, cap_);
      data_ = o.data_;
      size_ = o.size_;
      cap_ = o.cap_;
      o.data_ = nullptr;
      o.size_ = o.cap_ = 0;
    }
    return *this;
  }
  ~Buffer() { FreeLarge(data_, cap_); }

  const char* data() const { return data_; }
  char* data() { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return cap_; }
  bool empty() const { return size_ == 0; }
  void clear() { size_ = 0; }
  // Drops all but the first n bytes (n <= size()).
  void Truncate(size_t n) { size_ = n; }
  std::string_view view() const { return std::string_view(data_, size_); }
  void reserve(size_t n) {
    if (n > cap_) Grow(n);
  }
  // Makes room for n more bytes and returns where they go.
  char* Extend(size_t n) {
    if (size_ + n > cap_) Grow(size_ + n);
    char* p = data_ + size_;
    size_ += n;
    return p;
  }
  void append(const char* p, size_t n) {
    if (n != 0) CopyBytes(Extend(n), p, n);
  }
  void append(std::string_view s) { append(s.data(), s.size()); }

 private:
  void Grow(size_t need) {
    size_t cap = cap_ < 64 ? 64 : cap_;
    while (cap < need) cap += cap / 2 + 64;
    data_ = static_cast<char*>(ResizeLarge(data_, cap_, cap, size_));
    cap_ = cap;
  }

  char* data_ = nullptr;
  size_t size_ = 0;
  size_t cap_ = 0;
};

inline size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

inline char* WriteVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

inline void PutVarint(Buffer& out, uint64_t v) {
  char* p = out.Extend(VarintSize(v));
  WriteVarint(p, v);
}

inline void PutTag(Buffer& out, uint32_t number, WireType type) {
  PutVarint(out, (static_cast<uint64_t>(number) << 3) | type);
}

// Writes a length-delimited field whose payload is given in pieces.
template <typename... Parts>
inline void PutBytesParts(Buffer& out, uint32_t number, const Parts&... parts) {
  const size_t payload = (std::string_view(parts).size() + ...);
  const uint64_t tag = (static_cast<uint64_t>(number) << 3) | kLengthDelimited;
  char* p = out.Extend(VarintSize(tag) + VarintSize(payload) + payload);
  p = WriteVarint(p, tag);
  p = WriteVarint(p, payload);
  auto put = [&p](std::string_view part) {
    CopyBytes(p, part.data(), part.size());
    p += part.size();
  };
  (put(std::string_view(parts)), ...);
}

inline void PutBytes(Buffer& out, uint32_t number, std::string_view data) { PutBytesParts(out, number, data); }

// A length-delimited field whose payload is written straight into `out` once opened:
// room is reserved for the tag and for a length of as many bytes as `size_hint` needs;
// Close() writes the real length, moving the payload only when the hint was off by a
// varint byte. Nothing but the payload may be written to `out` before Close().
class OpenBytes {
 public:
  OpenBytes(Buffer& out, uint32_t number, size_t size_hint)
      : out_(out), tag_((uint64_t{number} << 3) | kLengthDelimited), reserved_(VarintSize(size_hint)) {
    out_.Extend(VarintSize(tag_) + reserved_);
    start_ = out_.size();
  }
  // Payload bytes written so far.
  size_t written() const { return out_.size() - start_; }
  // Ends the field; returns where its payload starts in `out`.
  size_t Close() {
    const size_t size = written();
    const size_t len = VarintSize(size);
    size_t payload = start_;
    if (len != reserved_) {
      if (len > reserved_) out_.Extend(len - reserved_);
      payload = start_ + len - reserved_;
      std::memmove(out_.data() + payload, out_.data() + start_, size);
      out_.Truncate(payload + size);
    }
    WriteVarint(WriteVarint(out_.data() + payload - len - VarintSize(tag_), tag_), size);
    return payload;
  }

 private:
  Buffer& out_;
  uint64_t tag_;
  size_t reserved_;
  size_t start_;
};

// IsValidUtf8 for a string with a byte >= 0x80 (the general decoder).
bool IsValidUtf8Slow(std::string_view s);

// True when `s` is valid UTF-8 (what proto3 requires of `string` fields). Names, ops and
// attr keys are almost always short and ASCII: that case is decided inline, a word at a
// time (overlapping loads for the tail), without a call.
inline bool IsValidUtf8(std::string_view s) {
  const char* p = s.data();
  const size_t n = s.size();
  uint64_t any = 0;
  if (n >= 8) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      any |= w;
    }
    uint64_t w;
    std::memcpy(&w, p + n - 8, 8);
    any |= w;
    any &= 0x8080808080808080ULL;
  } else if (n >= 4) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + n - 4, 4);
    any = (lo | hi) & 0x80808080u;
  } else {
    for (size_t i = 0; i < n; ++i) any |= static_cast<unsigned char>(p[i]);
    any &= 0x80;
  }
  return any == 0 || IsValidUtf8Slow(s);
}

}  // namespace fastmeta::wire
