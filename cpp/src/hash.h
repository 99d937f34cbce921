// A fast non-cryptographic hash of short byte strings (node names, serialized
// VariableDefs), for the core's hash tables (internal to the core library).
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace fastmeta {

// A fast hash for short names: 8 bytes at a time, multiply-xorshift mixing.
inline uint64_t HashName(std::string_view s) {
  const char* p = s.data();
  size_t n = s.size();
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdULL;
    h ^= h >> 32;
    p += 8;
    n -= 8;
  }
  uint64_t w = 0;
  if (n) std::memcpy(&w, p, n);
  h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 29;
  h *= 0x9e3779b97f4a7c15ULL;
  return h ^ (h >> 32);
}

struct FastHash {
  size_t operator()(std::string_view s) const { return static_cast<size_t>(HashName(s)); }
};

}  // namespace fastmeta
