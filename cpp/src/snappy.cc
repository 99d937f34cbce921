// A small, bounds-checked decoder for the raw snappy block format
// (https://github.com/google/snappy/blob/main/format_description.txt), enough for
// snappy-compressed LevelDB/TensorFlow table blocks; plus a literal-only encoder.
#include <algorithm>
#include <cstring>

#include "fastmeta/checkpoint.h"

namespace fastmeta {
namespace snappy {
namespace {

[[noreturn]] void Fail(const std::string& what, const std::string& why, size_t pos) {
  throw CheckpointError(what + ": corrupt snappy block at byte " + std::to_string(pos) + ": " + why);
}

}  // namespace

std::string Uncompress(std::string_view in, const std::string& what, size_t max_output) {
  size_t pos = 0;
  // Preamble: varint32 uncompressed length.
  uint64_t expected = 0;
  for (int shift = 0;; shift += 7) {
    if (pos >= in.size()) Fail(what, "truncated length preamble", pos);
    if (shift > 28) Fail(what, "length preamble too long", pos);
    const auto b = static_cast<unsigned char>(in[pos++]);
    expected |= static_cast<uint64_t>(b & 0x7fu) << shift;
    if ((b & 0x80u) == 0) break;
  }
  if (expected > 0xffffffffull) Fail(what, "length preamble overflows 32 bits", 0);
  if (expected > max_output) Fail(what, "uncompressed length " + std::to_string(expected) + " exceeds limit", 0);
  std::string out;
  // The preamble is untrusted: reserve no more than the input could expand to (a
  // 3-byte copy yields at most 64 bytes), so a 5-byte block cannot claim 4 GiB.
  out.reserve(static_cast<size_t>(std::min<uint64_t>(expected, uint64_t{in.size()} * 22)));
  while (pos < in.size()) {
    const size_t tag_pos = pos;
    const auto tag = static_cast<unsigned char>(in[pos++]);
    const unsigned kind = tag & 3u;
    if (kind == 0) {  // literal
      size_t len = tag >> 2;
      if (len >= 60) {
        const size_t nbytes = len - 59;  // 1..4
        if (in.size() - pos < nbytes) Fail(what, "truncated literal length", tag_pos);
        len = 0;
        for (size_t i = 0; i < nbytes; ++i)
          len |= static_cast<size_t>(static_cast<unsigned char>(in[pos + i])) << (8 * i);
        pos += nbytes;
      }
      len += 1;
      if (in.size() - pos < len) Fail(what, "literal runs past end of input", tag_pos);
      if (expected - out.size() < len) Fail(what, "literal overflows declared length", tag_pos);
      out.append(in.data() + pos, len);
      pos += len;
      continue;
    }
    size_t len = 0;
    size_t offset = 0;
    if (kind == 1) {
      if (in.size() - pos < 1) Fail(what, "truncated copy", tag_pos);
      len = ((tag >> 2) & 7u) + 4;
      offset = (static_cast<size_t>(tag >> 5) << 8) | static_cast<unsigned char>(in[pos]);
      pos += 1;
    } else if (kind == 2) {
      if (in.size() - pos < 2) Fail(what, "truncated copy", tag_pos);
      len = (tag >> 2) + 1u;
      offset = static_cast<size_t>(static_cast<unsigned char>(in[pos])) |
               (static_cast<size_t>(static_cast<unsigned char>(in[pos + 1])) << 8);
      pos += 2;
    } else {
      if (in.size() - pos < 4) Fail(what, "truncated copy", tag_pos);
      len = (tag >> 2) + 1u;
      offset = 0;
      for (size_t i = 0; i < 4; ++i) offset |= static_cast<size_t>(static_cast<unsigned char>(in[pos + i])) << (8 * i);
      pos += 4;
    }
    if (offset == 0 || offset > out.size()) Fail(what, "copy offset out of range", tag_pos);
    if (expected - out.size() < len) Fail(what, "copy overflows declared length", tag_pos);
    const size_t start = out.size() - offset;
    if (offset >= len) {
      out.append(out, start, len);
    } else {  // overlapping copy: byte by byte
      for (size_t i = 0; i < len; ++i) out.push_back(out[start + i]);
    }
  }
  if (out.size() != expected) {
    Fail(what, "decoded " + std::to_string(out.size()) + " bytes, preamble says " + std::to_string(expected), pos);
  }
  return out;
}

std::string CompressLiteral(std::string_view raw) {
  std::string out;
  uint64_t n = raw.size();
  do {
    auto b = static_cast<unsigned char>(n & 0x7fu);
    n >>= 7;
    if (n != 0) b |= 0x80u;
    out.push_back(static_cast<char>(b));
  } while (n != 0);
  size_t pos = 0;
  while (pos < raw.size()) {
    const size_t chunk = std::min<size_t>(raw.size() - pos, 65536);
    const size_t l = chunk - 1;
    if (l < 60) {
      out.push_back(static_cast<char>(l << 2));
    } else if (l < 256) {
      out.push_back(static_cast<char>(60u << 2));
      out.push_back(static_cast<char>(l));
    } else {
      out.push_back(static_cast<char>(61u << 2));
      out.push_back(static_cast<char>(l & 0xffu));
      out.push_back(static_cast<char>(l >> 8));
    }
    out.append(raw.data() + pos, chunk);
    pos += chunk;
  }
  return out;
}

}  // namespace snappy
}  // namespace fastmeta
