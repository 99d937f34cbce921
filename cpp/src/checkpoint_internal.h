// Internal helpers shared by the checkpoint sources (not installed, not public).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

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
      case 0: Varint64(); break;
      case 1: Bytes(8); break;
      case 2: Bytes(Varint64()); break;
      case 5: Bytes(4); break;
      default: Fail("unsupported protobuf wire type " + std::to_string(wire_type));
    }
  }
  const std::string& context() const { return context_; }

 private:
  std::string_view data_;
  std::string context_;
  uint64_t base_;
  size_t pos_ = 0;
};

}  // namespace ckpt_internal
}  // namespace fastmeta
