// Protobuf wire-format builders for the C++ tests that put messages together by hand.
#pragma once

#include <cstdint>
#include <string>

inline std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}
// A length-delimited field.
inline std::string Bytes(uint32_t number, const std::string& payload) {
  return Varint(uint64_t{number} << 3 | 2) + Varint(payload.size()) + payload;
}
// A varint field.
inline std::string VarintField(uint32_t number, uint64_t v) { return Varint(uint64_t{number} << 3) + Varint(v); }
