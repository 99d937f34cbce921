// Text format to wire format: see fastmeta/text_format.h for the subset read and why the
// rest is declined. The rules of the tokens are those of protobuf's Python tokenizer
// (identifiers `[A-Za-z_][0-9A-Za-z_+-]*`, numbers `([0-9+-]|\.[0-9])[0-9A-Za-z_.+-]*`,
// quoted strings on one line, any other character a token of its own), each value read as
// `text_format.Merge` reads it, restricted where its reading goes through Python's general
// `int()`/`float()`/codec machinery.
#include "fastmeta/text_format.h"

#include <algorithm>
#include <array>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "fastmeta/rewriter.h"
#include "fastmeta/wire.h"

namespace fastmeta::text_format {
namespace {

enum Type : int {
  kDouble = 1,
  kFloat = 2,
  kInt64 = 3,
  kUint64 = 4,
  kInt32 = 5,
  kFixed64 = 6,
  kFixed32 = 7,
  kBool = 8,
  kString = 9,
  kGroup = 10,
  kMessage = 11,
  kBytes = 12,
  kUint32 = 13,
  kEnum = 14,
  kSfixed32 = 15,
  kSfixed64 = 16,
  kSint32 = 17,
  kSint64 = 18,
};

std::vector<std::string_view> Split(std::string_view line) {
  std::vector<std::string_view> out;
  size_t at = 0;
  while (at <= line.size()) {
    const size_t space = std::min(line.find(' ', at), line.size());
    out.push_back(line.substr(at, space - at));
    at = space + 1;
  }
  return out;
}

template <typename T>
T Number(std::string_view s) {
  T v{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) throw std::invalid_argument("text schema: bad number");
  return v;
}

// (The small helpers of the hot paths are marked always_inline: link-time optimization
// otherwise leaves some out of line, at a call per token.)

// The tokenizer's character classes, one table lookup per byte.
enum CharClass : uint8_t {
  kSpaceClass = 1,       // ASCII whitespace: ' ' \t \n \r \f \v
  kIdentStartClass = 2,  // [A-Za-z_]
  kIdentClass = 4,       // an identifier's later bytes: [0-9A-Za-z_+-]
  kNumberClass = 8,      // a number's later bytes: [0-9A-Za-z_.+-]
  kDigitClass = 16,
  kHexClass = 32,
  kCommentClass = 64,  // '#'
};

constexpr std::array<uint8_t, 256> MakeClasses() {
  std::array<uint8_t, 256> table{};
  for (int c = 0; c < 256; ++c) {
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    const bool sign = c == '+' || c == '-';
    int k = 0;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') k |= kSpaceClass;
    if (letter) k |= kIdentStartClass;
    if (letter || digit || sign) k |= kIdentClass;
    if (letter || digit || sign || c == '.') k |= kNumberClass;
    if (digit) k |= kDigitClass;
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) k |= kHexClass;
    if (c == '#') k |= kCommentClass;
    table[static_cast<size_t>(c)] = static_cast<uint8_t>(k);
  }
  return table;
}

constexpr std::array<uint8_t, 256> kClasses = MakeClasses();

__attribute__((always_inline)) inline bool Is(char c, uint8_t classes) {
  return (kClasses[static_cast<unsigned char>(c)] & classes) != 0;
}
bool IsIdentStart(char c) { return Is(c, kIdentStartClass); }
bool IsDigit(char c) { return Is(c, kDigitClass); }
bool IsHex(char c) { return Is(c, kHexClass); }
int HexValue(char c) { return IsDigit(c) ? c - '0' : (c | 0x20) - 'a' + 10; }
bool IsQuote(char c) { return c == '"' || c == '\''; }

// Word-at-a-time scanning (SWAR): 8 bytes of text as one 64-bit word whose byte i is the
// text's byte i (little-endian order, whatever the host's).
constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighs = 0x8080808080808080ULL;

__attribute__((always_inline)) inline uint64_t LoadWord(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof w);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  w = __builtin_bswap64(w);
#endif
  return w;
}

// The index of the lowest nonzero byte of `x` (nonzero).
__attribute__((always_inline)) inline int LowestByte(uint64_t x) {
#if defined(__GNUC__) || defined(__clang__)
  return __builtin_ctzll(x) >> 3;
#else
  int i = 0;
  for (; (x & 0xff) == 0; x >>= 8) ++i;
  return i;
#endif
}

// The high bit of each zero byte of `x`. Exact up to the lowest zero byte; a byte above it
// may be marked too (the subtraction's borrow), so only the lowest mark is to be used.
__attribute__((always_inline)) inline uint64_t ZeroBytes(uint64_t x) { return (x - kOnes) & ~x & kHighs; }

// Thrown inside the reader when the text leaves the subset: ToBinary returns nullopt.
struct Decline {};

class Reader {
 public:
  Reader(const Schema& schema, std::string_view text, bool strict)
      : schema_(schema), p_(text.data()), end_(text.data() + text.size()), strict_(strict) {}

  std::vector<char> Convert(int root) {
    out_.reserve(static_cast<size_t>(end_ - p_) / 2 + 16);  // (the wire form is ~40% of the text)
    ReadFields(root, '\0', 0, false);
    out_.resize(size_);
    return std::move(out_);
  }

 private:
  // An open run of a packed repeated field: its values share one length-delimited record.
  struct PackedRun {
    uint32_t number = 0;
    size_t length_at = 0;  // where its one-byte length placeholder is
    bool open = false;
  };

  // Whitespace and comments. Most calls find none, or a space or newline and spaces (a
  // line's indentation, most of a printed text): those inline, the spaces a word at a time.
  __attribute__((always_inline)) void SkipSpace() {
    if (p_ >= end_) return;
    const char c = *p_;
    if (c == ' ' || c == '\n') {
      p_ = SkipSpaces(p_ + 1);
      if (p_ < end_ && Is(*p_, kSpaceClass | kCommentClass)) SkipSpaceRun();
    } else if (Is(c, kSpaceClass | kCommentClass)) {
      SkipSpaceRun();
    }
  }

  __attribute__((noinline)) void SkipSpaceRun() {
    const char* p = p_;
    while (p < end_) {
      const char c = *p;
      if (c == ' ' || c == '\n') {  // (a newline: the next line's indentation follows)
        p = SkipSpaces(p + 1);
      } else if (Is(c, kSpaceClass)) {
        ++p;
      } else if (c == '#') {  // a comment, to the end of its line
        const void* nl = std::memchr(p, '\n', static_cast<size_t>(end_ - p));
        p = nl != nullptr ? static_cast<const char*>(nl) + 1 : end_;
      } else {
        break;
      }
    }
    p_ = p;
  }

  // The first byte at or after `p` that is not ' ', or the end.
  __attribute__((always_inline)) const char* SkipSpaces(const char* p) const {
    if (p < end_ && *p != ' ') return p;  // (one space, as after a `:`)
    while (end_ - p >= 8) {
      const uint64_t other = LoadWord(p) ^ (kOnes * ' ');  // (zero bytes: the spaces)
      if (other != 0) return p + LowestByte(other);
      p += 8;
    }
    while (p < end_ && *p == ' ') ++p;
    return p;
  }

  // The first byte at or after `p` that ends a quoted string's plain run: its `quote`, a
  // backslash or a newline; or the end.
  __attribute__((always_inline)) const char* FindStringStop(const char* p, char quote) const {
    const uint64_t quotes = kOnes * static_cast<unsigned char>(quote);
    while (end_ - p >= 8) {
      const uint64_t w = LoadWord(p);
      const uint64_t stops = ZeroBytes(w ^ quotes) | ZeroBytes(w ^ (kOnes * '\\')) | ZeroBytes(w ^ (kOnes * '\n'));
      if (stops != 0) return p + LowestByte(stops);
      p += 8;
    }
    while (p < end_ && *p != quote && *p != '\\' && *p != '\n') ++p;
    return p;
  }

  __attribute__((always_inline)) bool TryConsume(char c) {
    SkipSpace();
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }

  void Expect(char c) {
    if (!TryConsume(c)) throw Decline{};
  }

  // The rest of the token whose first byte is at p_ (already taken), its later bytes those
  // of `tail` (kIdentClass or kNumberClass).
  __attribute__((always_inline)) std::string_view TokenFrom(const char* start, uint8_t tail) {
    const char* p = start + 1;
    while (p < end_ && Is(*p, tail)) ++p;
    p_ = p;
    return {start, static_cast<size_t>(p - start)};
  }

  // An identifier or number token (after SkipSpace), empty when the next token is neither.
  std::string_view Word() {
    SkipSpace();
    const char* start = p_;
    if (p_ >= end_) return {};
    const char c = *p_;
    if (IsIdentStart(c)) return TokenFrom(start, kIdentClass);
    if (IsDigit(c) || c == '+' || c == '-' || (c == '.' && p_ + 1 < end_ && IsDigit(p_[1]))) {
      return TokenFrom(start, kNumberClass);
    }
    return {start, 0};
  }

  // NameHead(word) of a word of the text: one load when the text has 8 bytes from its start.
  __attribute__((always_inline)) uint64_t WordHead(std::string_view word) const {
    if (end_ - word.data() < 8) return NameHead(word);
    const uint64_t head = LoadWord(word.data());
    return word.size() >= 8 ? head : head & ((uint64_t{1} << (8 * word.size())) - 1);
  }

  // The output: out_[0, size_) written, the rest room (out_ grows when it runs out).
  __attribute__((always_inline)) char* Room(size_t bytes) {
    if (out_.size() - size_ < bytes) Grow(bytes);
    return out_.data() + size_;
  }

  // (out_ is sized a chunk at a time within the room reserved, as resizing zeroes what it
  // adds; past that room, the vector reallocates to twice its size)
  __attribute__((noinline)) void Grow(size_t bytes) {
    out_.resize(std::max(size_ + bytes, out_.size() + (size_t{64} << 10)));
  }

  // Where `w`, a pointer into the room, is in out_.
  __attribute__((always_inline)) size_t Offset(const char* w) const { return static_cast<size_t>(w - out_.data()); }

  // Writes `v` as a varint at `w` (room for 10 bytes); returns the end.
  __attribute__((always_inline)) static char* WriteVarint(char* w, uint64_t v) {
    while (v >= 0x80) {
      *w++ = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    *w++ = static_cast<char>(v);
    return w;
  }

  __attribute__((always_inline)) static uint64_t Tag(uint32_t number, int wire_type) {
    return (uint64_t{number} << 3) | static_cast<uint64_t>(wire_type);
  }

  void PutVarint(uint64_t v) { size_ = Offset(WriteVarint(Room(10), v)); }

  void PutBytes(std::string_view bytes) {
    if (bytes.empty()) return;
    std::memcpy(Room(bytes.size()), bytes.data(), bytes.size());
    size_ += bytes.size();
  }

  void PutTag(uint32_t number, int wire_type) { PutVarint(Tag(number, wire_type)); }

  // A length-delimited field: tag, length, bytes.
  __attribute__((always_inline)) void PutRecord(uint32_t number, std::string_view bytes) {
    char* w = WriteVarint(WriteVarint(Room(5 + 10 + bytes.size()), Tag(number, 2)), bytes.size());
    if (!bytes.empty()) std::memcpy(w, bytes.data(), bytes.size());
    size_ = Offset(w) + bytes.size();
  }

  // Opens a length-delimited record whose length is written when it closes.
  size_t OpenLength() {
    *Room(1) = 0;
    return size_++;
  }

  void CloseLength(size_t at) {
    const size_t length = size_ - at - 1;
    if (length > kMaxMessageSize) throw Decline{};
    size_t bytes = 1;
    for (size_t v = length; v >= 0x80; v >>= 7) ++bytes;
    if (bytes > 1) {  // (the body moves up to make room for the longer length)
      Room(bytes - 1);
      std::memmove(out_.data() + at + bytes, out_.data() + at + 1, length);
      size_ += bytes - 1;
    }
    size_t v = length;
    for (size_t i = 0; i < bytes; ++i, v >>= 7) {
      out_[at + i] = static_cast<char>((v & 0x7f) | (i + 1 < bytes ? 0x80 : 0));
    }
  }

  void CloseRun(PackedRun& run) {
    if (run.open) CloseLength(run.length_at);
    run.open = false;
  }

  // The fields of one message up to `close` ('\0': the end of the text). `canonical`: the
  // message is an expanded Any's body, whose bytes must be protobuf's serialization of it
  // (see text_format.h): anything written otherwise is declined.
  void ReadFields(int message, char close, int depth, bool canonical) {
    const MessageType& type = schema_.messages()[static_cast<size_t>(message)];
    PackedRun run;
    uint32_t last_number = 0;
    uint64_t oneofs_seen = 0;
    std::vector<uint32_t> singular_seen;  // (strict_: the singular fields given so far)
    SkipSpace();
    while (true) {  // (at a token: each step ends past the whitespace after it)
      if (p_ >= end_) {
        if (close != '\0') throw Decline{};
        break;
      }
      if (close != '\0' && *p_ == close) {
        ++p_;
        break;
      }
      if (*p_ == '[' && type.name == "google.protobuf.Any") {
        if (run.open) CloseRun(run);
        if (canonical && last_number != 0) throw Decline{};
        ReadExpandedAny(depth);
        last_number = 2;
        SkipSpace();
        continue;  // (no `,` or `;` after it: protobuf's reader takes none there)
      }
      if (!IsIdentStart(*p_)) throw Decline{};  // `[ext]`, a number, ...
      const char* const start = p_;
      const std::string_view name = TokenFrom(start, kIdentClass);
      const FieldType* found = type.Field(name, WordHead(name));
      if (found == nullptr) throw Decline{};
      const FieldType& field = *found;
      if (run.open && run.number != field.number) CloseRun(run);
      if (canonical) {
        if (field.number < last_number || (field.number == last_number && !field.repeated)) throw Decline{};
        if (field.type == kMessage && schema_.messages()[static_cast<size_t>(field.ref)].map_entry) throw Decline{};
        last_number = field.number;
      }
      if ((canonical || strict_) && field.oneof >= 0) {
        if (field.oneof >= 64 || (oneofs_seen >> field.oneof & 1) != 0) throw Decline{};
        oneofs_seen |= uint64_t{1} << field.oneof;
      }
      if (strict_ && !field.repeated) {
        if (std::find(singular_seen.begin(), singular_seen.end(), field.number) != singular_seen.end()) {
          throw Decline{};
        }
        singular_seen.push_back(field.number);
      }
      if (field.type == kMessage) {
        TryConsume(':');
        if (field.repeated && TryConsume('[')) {
          if (!TryConsume(']')) {
            while (true) {
              ReadMessage(field, depth, canonical);
              if (TryConsume(']')) break;
              Expect(',');
            }
          }
        } else {
          ReadMessage(field, depth, canonical);
        }
      } else {
        Expect(':');
        if (field.repeated && TryConsume('[')) {
          if (!TryConsume(']')) {
            while (true) {
              ReadScalar(field, run);
              if (TryConsume(']')) break;
              Expect(',');
            }
          }
        } else if (ReadScalar(field, run) && canonical && !field.presence) {
          throw Decline{};  // (protobuf would not write the default value)
        }
      }
      SkipSpace();
      if (p_ < end_ && (*p_ == ',' || *p_ == ';')) {
        ++p_;
        SkipSpace();
      }
    }
    CloseRun(run);
  }

  // The closing bracket of the message body that starts here.
  char OpenBody(int depth) {
    SkipSpace();
    if (p_ >= end_ || (*p_ != '{' && *p_ != '<')) throw Decline{};
    const char close = *p_ == '{' ? '}' : '>';
    ++p_;
    if (depth + 1 > kMaxTextDepth) throw Decline{};
    return close;
  }

  void ReadMessage(const FieldType& field, int depth, bool canonical) {
    const char close = OpenBody(depth);
    PutTag(field.number, 2);
    const size_t at = OpenLength();
    ReadFields(field.ref, close, depth + 1, canonical);
    CloseLength(at);
  }

  // `[type.googleapis.com/tensorflow.X] { ... }` in an Any (the `[` next): its type_url
  // (field 1) and its body's bytes (field 2, left out when empty, as protobuf's Pack
  // leaves it). Only this spelling of the URL is read.
  void ReadExpandedAny(int depth) {
    ++p_;  // '['
    const char* start = p_;
    while (p_ < end_ && (IsIdentStart(*p_) || IsDigit(*p_) || *p_ == '.' || *p_ == '-')) ++p_;
    const std::string_view prefix(start, static_cast<size_t>(p_ - start));
    if (prefix.empty() || p_ >= end_ || *p_ != '/') throw Decline{};
    ++p_;
    start = p_;
    while (p_ < end_ && (IsIdentStart(*p_) || IsDigit(*p_) || *p_ == '.')) ++p_;
    const std::string_view name(start, static_cast<size_t>(p_ - start));
    if (p_ >= end_ || *p_ != ']') throw Decline{};
    ++p_;
    constexpr std::string_view kAlias = "tensorflow.";
    if (name.substr(0, kAlias.size()) != kAlias) throw Decline{};
    // (each dot-separated part an identifier: protobuf's type name rule)
    for (size_t part = 0; part <= name.size();) {
      const size_t dot = std::min(name.find('.', part), name.size());
      if (dot == part || IsDigit(name[part])) throw Decline{};
      part = dot + 1;
    }
    const int inner = schema_.Find("fastmeta." + std::string(name.substr(kAlias.size())));
    if (inner < 0) throw Decline{};
    TryConsume(':');
    const char close = OpenBody(depth);
    PutTag(1, 2);
    PutVarint(prefix.size() + 1 + name.size());
    PutBytes(prefix);
    PutBytes("/");
    PutBytes(name);
    const size_t tag_at = size_;
    PutTag(2, 2);
    const size_t at = OpenLength();
    ReadFields(inner, close, depth + 1, true);
    if (size_ == at + 1) {
      size_ = tag_at;
    } else {
      CloseLength(at);
    }
  }

  // Reads and writes one value; returns whether it is the type's default (zero bits, empty).
  bool ReadScalar(const FieldType& field, PackedRun& run) {
    switch (field.type) {
      case kString:
      case kBytes: {
        bool escaped_high = false;
        const std::string_view value = ReadString(escaped_high);
        // (the text is valid UTF-8, and its runs between quotes, backslashes and escapes
        // are too, cut at ASCII bytes: only an escape's byte >= 0x80 can make it invalid)
        if (field.type == kString && escaped_high && !wire::IsValidUtf8(value)) throw Decline{};
        PutRecord(field.number, value);
        return value.empty();
      }
      case kMessage:
      case kGroup:
        throw Decline{};
      default:
        break;
    }
    const std::string_view word = Word();
    if (word.empty()) throw Decline{};
    uint64_t bits = 0;  // the value's varint or fixed-width bits
    switch (field.type) {
      case kDouble: {
        const double d = ParseFloat(word);
        std::memcpy(&bits, &d, sizeof d);
        break;
      }
      case kFloat: {
        const double d = ParseFloat(word);
        if (std::isfinite(d) && std::fabs(d) > static_cast<double>(FLT_MAX)) throw Decline{};
        const float f = static_cast<float>(d);
        uint32_t b32 = 0;
        std::memcpy(&b32, &f, sizeof f);
        bits = b32;
        break;
      }
      case kBool:
        if (word == "true" || word == "t" || word == "1" || word == "True")
          bits = 1;
        else if (word == "false" || word == "f" || word == "0" || word == "False")
          bits = 0;
        else
          throw Decline{};
        break;
      case kEnum: {
        const EnumType& e = schema_.enums()[static_cast<size_t>(field.ref)];
        int64_t v = 0;
        if (IsIdentStart(word[0])) {
          const EnumValue* found = e.Value(word, WordHead(word));
          if (found == nullptr) throw Decline{};
          v = found->number;
        } else {
          v = ParseInteger(word, INT32_MIN, INT32_MAX);
          if (!std::binary_search(e.numbers.begin(), e.numbers.end(), static_cast<int32_t>(v))) throw Decline{};
        }
        bits = static_cast<uint64_t>(v);  // (a negative value: ten bytes, as int32's)
        break;
      }
      case kInt32:
        bits = static_cast<uint64_t>(ParseInteger(word, INT32_MIN, INT32_MAX));  // (negative: ten bytes)
        break;
      case kSfixed32:
        bits = static_cast<uint32_t>(static_cast<int32_t>(ParseInteger(word, INT32_MIN, INT32_MAX)));
        break;
      case kSint32: {
        const auto n = static_cast<int32_t>(ParseInteger(word, INT32_MIN, INT32_MAX));
        bits = (static_cast<uint32_t>(n) << 1) ^ static_cast<uint32_t>(n < 0 ? -1 : 0);
        break;
      }
      case kInt64:
      case kSfixed64:
        bits = static_cast<uint64_t>(ParseInteger(word, INT64_MIN, INT64_MAX));
        break;
      case kSint64: {
        const int64_t v = ParseInteger(word, INT64_MIN, INT64_MAX);
        bits = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v < 0 ? -1 : 0);
        break;
      }
      case kUint32:
      case kFixed32:
        bits = ParseUnsigned(word, UINT32_MAX);
        break;
      case kUint64:
      case kFixed64:
        bits = ParseUnsigned(word, UINT64_MAX);
        break;
      default:
        throw Decline{};
    }
    // (the wire form follows from the type: 8 or 4 fixed bytes, else a varint)
    const bool fixed64 = field.type == kDouble || field.type == kFixed64 || field.type == kSfixed64;
    const bool fixed32 = field.type == kFloat || field.type == kFixed32 || field.type == kSfixed32;
    const int width = fixed64 ? 8 : fixed32 ? 4 : 0;
    const int wire_type = fixed64 ? 1 : fixed32 ? 5 : 0;
    char* w = Room(5 + 1 + 10);  // (a tag, a packed run's length placeholder, the value)
    if (field.packed) {
      if (!run.open) {
        w = WriteVarint(w, Tag(field.number, 2));
        run.length_at = Offset(w);
        *w++ = 0;
        run.number = field.number;
        run.open = true;
      }
    } else {
      w = WriteVarint(w, Tag(field.number, wire_type));
    }
    if (width == 0) {
      w = WriteVarint(w, bits);
    } else {
      for (int i = 0; i < width; ++i) *w++ = static_cast<char>(bits >> (8 * i));
    }
    size_ = Offset(w);
    return bits == 0;
  }

  // `-?(0|[1-9][0-9]*)` or `-?0[xX][0-9a-fA-F]+`: its magnitude, and whether negative.
  static bool Magnitude(std::string_view w, uint64_t& magnitude) {
    const bool negative = !w.empty() && w[0] == '-';
    if (negative) w.remove_prefix(1);
    if (w.empty()) throw Decline{};
    int base = 10;
    if (w.size() > 2 && w[0] == '0' && (w[1] == 'x' || w[1] == 'X')) {
      base = 16;
      w.remove_prefix(2);
    } else if (w.size() > 1 && w[0] == '0') {
      throw Decline{};  // (octal, as Python reads it: left to protobuf)
    }
    uint64_t v = 0;
    for (const char c : w) {
      const bool ok = base == 16 ? IsHex(c) : IsDigit(c);
      if (!ok) throw Decline{};
      const uint64_t d = static_cast<uint64_t>(base == 16 ? HexValue(c) : c - '0');
      if (v > (UINT64_MAX - d) / static_cast<uint64_t>(base)) throw Decline{};
      v = v * static_cast<uint64_t>(base) + d;
    }
    magnitude = v;
    return negative;
  }

  static int64_t ParseInteger(std::string_view w, int64_t lo, int64_t hi) {
    uint64_t m = 0;
    const bool negative = Magnitude(w, m);
    if (negative) {
      if (m > static_cast<uint64_t>(-(lo + 1)) + 1) throw Decline{};
      return m == 0 ? 0 : -static_cast<int64_t>(m - 1) - 1;
    }
    if (m > static_cast<uint64_t>(hi)) throw Decline{};
    return static_cast<int64_t>(m);
  }

  static uint64_t ParseUnsigned(std::string_view w, uint64_t hi) {
    uint64_t m = 0;
    if (Magnitude(w, m) && m != 0) throw Decline{};
    if (m > hi) throw Decline{};
    return m;
  }

  // Decimal floats `-?(D+(.D*)?|.D+)([eE][+-]?D+)?[fF]?` not starting `0D`, and inf,
  // infinity, nan.
  static double ParseFloat(std::string_view w) {
    if (w == "inf" || w == "infinity") return HUGE_VAL;
    if (w == "-inf" || w == "-infinity") return -HUGE_VAL;
    if (w == "nan") return std::nan("");
    if (!w.empty() && (w.back() == 'f' || w.back() == 'F')) w.remove_suffix(1);
    size_t i = 0;
    if (i < w.size() && w[i] == '-') ++i;
    if (i + 1 < w.size() && w[i] == '0' && IsDigit(w[i + 1])) throw Decline{};  // (protobuf: "octal float")
    size_t digits = 0;
    while (i < w.size() && IsDigit(w[i])) ++i, ++digits;
    if (i < w.size() && w[i] == '.') {
      ++i;
      while (i < w.size() && IsDigit(w[i])) ++i, ++digits;
    }
    if (digits == 0) throw Decline{};
    if (i < w.size() && (w[i] == 'e' || w[i] == 'E')) {
      ++i;
      if (i < w.size() && (w[i] == '+' || w[i] == '-')) ++i;
      size_t exp = 0;
      while (i < w.size() && IsDigit(w[i])) ++i, ++exp;
      if (exp == 0) throw Decline{};
    }
    if (i != w.size()) throw Decline{};
    double d = 0;
    const char* first = w.data();
    const auto [end, ec] = std::from_chars(first, first + w.size(), d);
    // (from_chars reports a value past double's range as out of range, as Python's
    // float() gives +-inf or 0 then: left to protobuf)
    if (ec != std::errc() || end != first + w.size()) throw Decline{};
    return d;
  }

  // One or more adjacent quoted strings, unescaped as protobuf's CUnescape does: a view of
  // the text when it is one string without escapes (the common case), else of scratch_.
  // `escaped_high`: set when an escape gave a byte >= 0x80.
  std::string_view ReadString(bool& escaped_high) {
    SkipSpace();
    if (p_ >= end_ || !IsQuote(*p_)) throw Decline{};
    const char* const start = p_ + 1;
    const char* const stop = FindStringStop(start, *p_);
    std::string& value = scratch_;
    value.clear();
    if (stop < end_ && *stop == *p_) {
      p_ = stop + 1;
      SkipSpace();
      if (p_ >= end_ || !IsQuote(*p_)) return {start, static_cast<size_t>(stop - start)};
      value.assign(start, stop);  // (adjacent strings follow: joined)
    }
    while (p_ < end_ && IsQuote(*p_)) {
      ReadQuoted(value, escaped_high);
      SkipSpace();
    }
    return value;
  }

  void ReadQuoted(std::string& value, bool& escaped_high) {
    const char quote = *p_++;
    while (true) {
      const char* const stop = FindStringStop(p_, quote);
      value.append(p_, stop);
      p_ = stop;
      if (p_ >= end_ || *p_ == '\n') throw Decline{};
      if (*p_++ == quote) return;
      // a backslash
      if (p_ >= end_) throw Decline{};
      const char e = *p_++;
      switch (e) {
        case 'n':
          value.push_back('\n');
          break;
        case 't':
          value.push_back('\t');
          break;
        case 'r':
          value.push_back('\r');
          break;
        case 'a':
          value.push_back('\a');
          break;
        case 'b':
          value.push_back('\b');
          break;
        case 'f':
          value.push_back('\f');
          break;
        case 'v':
          value.push_back('\v');
          break;
        case '\'':
          value.push_back('\'');
          break;
        case '"':
          value.push_back('"');
          break;
        case '\\':
          // (`\\u...` would meet Python's raw-unicode-escape pass first: left to protobuf)
          if (p_ < end_ && (*p_ == 'u' || *p_ == 'U' || *p_ == 'N')) throw Decline{};
          value.push_back('\\');
          break;
        case 'x': {
          int v = 0;
          int n = 0;
          while (n < 2 && p_ < end_ && IsHex(*p_)) v = v * 16 + HexValue(*p_++), ++n;
          if (n == 0) throw Decline{};
          value.push_back(static_cast<char>(v));
          escaped_high |= v >= 0x80;
          break;
        }
        default: {
          if (e < '0' || e > '7') throw Decline{};
          int v = e - '0';
          for (int n = 1; n < 3 && p_ < end_ && *p_ >= '0' && *p_ <= '7'; ++n) v = v * 8 + (*p_++ - '0');
          if (v > 0xff) throw Decline{};
          value.push_back(static_cast<char>(v));
          escaped_high |= v >= 0x80;
          break;
        }
      }
    }
  }

  const Schema& schema_;
  const char* p_;
  const char* end_;
  bool strict_;  // as protobuf's Parse: a singular field once, one member per oneof
  std::vector<char> out_;
  size_t size_ = 0;
  std::string scratch_;  // a string value as it is unescaped
};

}  // namespace

Schema Schema::Parse(std::string_view description) {
  Schema s;
  size_t at = 0;
  while (at < description.size()) {
    const size_t nl = std::min(description.find('\n', at), description.size());
    const std::string_view line = description.substr(at, nl - at);
    at = nl + 1;
    if (line.empty()) continue;
    const std::vector<std::string_view> parts = Split(line);
    const std::string_view kind = parts[0];
    if (kind == "M" && parts.size() == 3) {
      s.messages_.push_back(MessageType{std::string(parts[1]), parts[2] == "1", {}});
    } else if (kind == "F" && parts.size() == 9 && !s.messages_.empty()) {
      FieldType f;
      f.name = std::string(parts[1]);
      f.number = Number<uint32_t>(parts[2]);
      f.type = Number<int>(parts[3]);
      f.repeated = parts[4] == "1";
      f.packed = parts[5] == "1";
      f.presence = parts[6] == "1";
      f.oneof = Number<int>(parts[7]);
      f.ref = Number<int>(parts[8]);
      f.head = NameHead(f.name);
      MessageType& m = s.messages_.back();
      m.fields.push_back(std::move(f));
    } else if (kind == "E" && parts.size() == 2) {
      s.enums_.push_back(EnumType{std::string(parts[1]), {}, {}});
    } else if (kind == "V" && parts.size() == 3 && !s.enums_.empty()) {
      EnumType& e = s.enums_.back();
      const auto v = Number<int32_t>(parts[2]);
      e.values.push_back(EnumValue{std::string(parts[1]), v, NameHead(parts[1])});
      e.numbers.insert(std::upper_bound(e.numbers.begin(), e.numbers.end(), v), v);
    } else {
      throw std::invalid_argument("text schema: malformed line: " + std::string(line));
    }
  }
  for (const MessageType& m : s.messages_) {
    for (const FieldType& f : m.fields) {
      const size_t limit = f.type == kMessage ? s.messages_.size() : f.type == kEnum ? s.enums_.size() : 0;
      if ((f.type == kMessage || f.type == kEnum) && (f.ref < 0 || static_cast<size_t>(f.ref) >= limit)) {
        throw std::invalid_argument("text schema: field " + f.name + " refers to no type");
      }
    }
  }
  return s;
}

int Schema::Find(std::string_view name) const {
  for (size_t i = 0; i < messages_.size(); ++i) {
    if (messages_[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

std::optional<std::vector<char>> ToBinary(const Schema& schema, int root, std::string_view text, bool strict) {
  if (root < 0 || static_cast<size_t>(root) >= schema.messages().size()) {
    throw std::invalid_argument("text format: no such root message");
  }
  if (!wire::IsValidUtf8(text)) return std::nullopt;  // (protobuf's reader decodes the whole text first)
  try {
    return Reader(schema, text, strict).Convert(root);
  } catch (const Decline&) {
    return std::nullopt;
  }
}

}  // namespace fastmeta::text_format
