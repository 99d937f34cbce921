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
  // The last 0-7 bytes as a little-endian word (what copying them into a zeroed word
  // gives), read without a variable-length copy: a whole word ending at the string's
  // end when the string has one, else overlapping 4-byte or single-byte loads.
  uint64_t w = 0;
  if (n != 0) {
    if (s.size() >= 8) {
      std::memcpy(&w, p + n - 8, 8);
      w >>= 8 * (8 - n);
    } else if (n >= 4) {
      uint32_t lo, hi;
      std::memcpy(&lo, p, 4);
      std::memcpy(&hi, p + n - 4, 4);
      w = uint64_t{lo} | (uint64_t{hi} << (8 * (n - 4)));
    } else {
      const auto* u = reinterpret_cast<const unsigned char*>(p);
      w = uint64_t{u[0]} | (uint64_t{u[n / 2]} << (8 * (n / 2))) | (uint64_t{u[n - 1]} << (8 * (n - 1)));
    }
  }
  h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 29;
  h *= 0x9e3779b97f4a7c15ULL;
  return h ^ (h >> 32);
}

// a == b, inline: a word at a time with an overlapping last word, for the short ops and
// attr keys the hot loops compare (string_view's == calls out of line, then memcmp; for
// long names memcmp's vector loop is the better one).
__attribute__((always_inline)) inline bool SameBytes(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  if (n != b.size()) return false;
  const char* p = a.data();
  const char* q = b.data();
  if (n >= 8) {
    uint64_t x, y, diff = 0;
    for (size_t i = 0; i + 8 < n; i += 8) {
      std::memcpy(&x, p + i, 8);
      std::memcpy(&y, q + i, 8);
      diff |= x ^ y;
    }
    std::memcpy(&x, p + n - 8, 8);
    std::memcpy(&y, q + n - 8, 8);
    return (diff | (x ^ y)) == 0;
  }
  if (n >= 4) {
    uint32_t x0, y0, x1, y1;
    std::memcpy(&x0, p, 4);
    std::memcpy(&y0, q, 4);
    std::memcpy(&x1, p + n - 4, 4);
    std::memcpy(&y1, q + n - 4, 4);
    return ((x0 ^ y0) | (x1 ^ y1)) == 0;
  }
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != q[i]) return false;
  }
  return true;
}

struct FastHash {
  size_t operator()(std::string_view s) const { return static_cast<size_t>(HashName(s)); }
};

}  // namespace fastmeta
