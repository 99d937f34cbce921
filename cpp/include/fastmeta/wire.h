// Protocol buffer wire format: a bounds-checked reader over a byte buffer and an
// appending writer. Offsets in errors are absolute: relative to `origin`, the start
// of the whole input, so a message deep inside still names its place in the file.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fastmeta/errors.h"

namespace fastmeta::wire {

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

class Reader {
 public:
  Reader(std::string_view buf, const char* origin) : p_(buf.data()), end_(buf.data() + buf.size()), origin_(origin) {}

  bool done() const { return p_ >= end_; }
  size_t offset() const { return static_cast<size_t>(p_ - origin_); }
  size_t offset_of(const char* at) const { return static_cast<size_t>(at - origin_); }

  // Reads the next field; returns false at the end of the buffer.
  bool Next(Field& f) {
    if (p_ >= end_) return false;
    const char* start = p_;
    uint64_t tag = ReadVarint("field tag");
    const uint64_t number = tag >> 3;
    if (number == 0 || number > 536870911u) throw ParseError("invalid field number " + std::to_string(number), offset_of(start));
    f.number = static_cast<uint32_t>(number);
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
        const char* at = p_;
        uint64_t len = ReadVarint("length prefix");
        if (len > static_cast<uint64_t>(end_ - p_)) {
          throw ParseError("length prefix " + std::to_string(len) + " runs past the end of its message (" +
                               std::to_string(end_ - p_) + " bytes left)",
                           offset_of(at));
        }
        f.data = std::string_view(p_, static_cast<size_t>(len));
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

  uint64_t ReadVarint(const char* what) {
    // Most tags and lengths fit in one byte.
    if (p_ < end_ && static_cast<uint8_t>(*p_) < 0x80) return static_cast<uint8_t>(*p_++);
    return ReadVarintSlow(what);
  }

 private:
  uint64_t ReadVarintSlow(const char* what) {
    uint64_t result = 0;
    const char* start = p_;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) throw ParseError(std::string("truncated ") + what, offset_of(start));
      const uint8_t byte = static_cast<uint8_t>(*p_++);
      if (shift == 63 && byte > 1) throw ParseError(std::string("overlong ") + what, offset_of(start));
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return result;
    }
    throw ParseError(std::string("overlong ") + what, offset_of(start));
  }

  std::string_view Take(size_t n, const char* what) {
    if (static_cast<size_t>(end_ - p_) < n) throw ParseError(std::string("truncated ") + what, offset());
    std::string_view v(p_, n);
    p_ += n;
    return v;
  }

  // Groups are obsolete and unused by TensorFlow's protos, but valid unknown
  // fields: skip them with a bounded depth.
  void SkipGroup(uint32_t number, const char* start) {
    uint32_t stack[64];
    int depth = 0;
    stack[depth++] = number;
    while (depth > 0) {
      if (p_ >= end_) throw ParseError("unterminated group", offset_of(start));
      const char* at = p_;
      uint64_t tag = ReadVarint("field tag");
      const uint32_t n = static_cast<uint32_t>(tag >> 3);
      switch (tag & 7) {
        case kVarint: ReadVarint("varint field"); break;
        case kFixed64: Take(8, "fixed64 field"); break;
        case kFixed32: Take(4, "fixed32 field"); break;
        case kLengthDelimited: {
          uint64_t len = ReadVarint("length prefix");
          if (len > static_cast<uint64_t>(end_ - p_)) throw ParseError("length prefix runs past the end", offset_of(at));
          p_ += len;
          break;
        }
        case kStartGroup:
          if (depth == 64) throw ParseError("groups nested too deeply", offset_of(at));
          stack[depth++] = n;
          break;
        case kEndGroup:
          if (stack[depth - 1] != n) throw ParseError("mismatched end of group", offset_of(at));
          --depth;
          break;
        default: throw ParseError("invalid wire type", offset_of(at));
      }
    }
  }

  const char* p_;
  const char* end_;
  const char* origin_;
};

// Appending writer.
inline void PutVarint(std::string& out, uint64_t v) {
  char buf[10];
  size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out.append(buf, n);
}

inline size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

inline void PutTag(std::string& out, uint32_t number, WireType type) {
  PutVarint(out, (static_cast<uint64_t>(number) << 3) | type);
}

inline void PutBytes(std::string& out, uint32_t number, std::string_view data) {
  PutTag(out, number, kLengthDelimited);
  PutVarint(out, data.size());
  out.append(data.data(), data.size());
}

// Writes a length-delimited field whose payload is given in pieces.
template <typename... Parts>
inline void PutBytesParts(std::string& out, uint32_t number, const Parts&... parts) {
  PutTag(out, number, kLengthDelimited);
  PutVarint(out, (std::string_view(parts).size() + ...));
  (out.append(std::string_view(parts).data(), std::string_view(parts).size()), ...);
}

// True when `s` is valid UTF-8 (what proto3 requires of `string` fields).
bool IsValidUtf8(std::string_view s);

}  // namespace fastmeta::wire
