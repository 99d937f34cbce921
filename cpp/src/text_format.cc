// Text format to wire format: see fastmeta/text_format.h for the subset read and why the
// rest is declined. The rules of the tokens are those of protobuf's Python tokenizer
// (identifiers `[A-Za-z_][0-9A-Za-z_+-]*`, numbers `([0-9+-]|\.[0-9])[0-9A-Za-z_.+-]*`,
// quoted strings on one line, any other character a token of its own), each value read as
// `text_format.Merge` reads it, restricted where its reading goes through Python's general
// `int()`/`float()`/codec machinery.
#include "fastmeta/text_format.h"

#include <algorithm>
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
  kDouble = 1, kFloat = 2, kInt64 = 3, kUint64 = 4, kInt32 = 5, kFixed64 = 6, kFixed32 = 7,
  kBool = 8, kString = 9, kGroup = 10, kMessage = 11, kBytes = 12, kUint32 = 13, kEnum = 14,
  kSfixed32 = 15, kSfixed64 = 16, kSint32 = 17, kSint64 = 18,
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

bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsTokenTail(char c) { return IsIdentStart(c) || IsDigit(c) || c == '+' || c == '-' || c == '.'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
int HexValue(char c) { return IsDigit(c) ? c - '0' : (c | 0x20) - 'a' + 10; }

// Thrown inside the reader when the text leaves the subset: ToBinary returns nullopt.
struct Decline {};

class Reader {
 public:
  Reader(const Schema& schema, std::string_view text)
      : schema_(schema), p_(text.data()), end_(text.data() + text.size()) {}

  std::vector<char> Convert(int root) {
    out_.reserve(static_cast<size_t>(end_ - p_) / 2 + 16);  // (the wire form is ~40% of the text)
    ReadFields(root, '\0', 0, false);
    return std::move(out_);
  }

 private:
  // An open run of a packed repeated field: its values share one length-delimited record.
  struct PackedRun {
    uint32_t number = 0;
    size_t length_at = 0;  // where its one-byte length placeholder is
    bool open = false;
  };

  void SkipSpace() {
    while (p_ < end_) {
      const char c = *p_;
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
        ++p_;
      } else if (c == '#') {  // a comment, to the end of its line
        const void* nl = std::memchr(p_, '\n', static_cast<size_t>(end_ - p_));
        p_ = nl != nullptr ? static_cast<const char*>(nl) + 1 : end_;
      } else {
        return;
      }
    }
  }

  bool TryConsume(char c) {
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

  // An identifier or number token (after SkipSpace), empty when the next token is neither.
  std::string_view Word() {
    SkipSpace();
    const char* start = p_;
    if (p_ >= end_) return {};
    const char c = *p_;
    if (IsIdentStart(c)) {
      ++p_;
      while (p_ < end_ && (IsIdentStart(*p_) || IsDigit(*p_) || *p_ == '+' || *p_ == '-')) ++p_;
    } else if (IsDigit(c) || c == '+' || c == '-' || (c == '.' && p_ + 1 < end_ && IsDigit(p_[1]))) {
      ++p_;
      while (p_ < end_ && IsTokenTail(*p_)) ++p_;
    }
    return {start, static_cast<size_t>(p_ - start)};
  }

  void PutByte(uint8_t b) { out_.push_back(static_cast<char>(b)); }

  void PutVarint(uint64_t v) {
    while (v >= 0x80) {
      PutByte(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    PutByte(static_cast<uint8_t>(v));
  }

  void PutFixed(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) PutByte(static_cast<uint8_t>(v >> (8 * i)));
  }

  void PutTag(uint32_t number, int wire_type) { PutVarint((uint64_t{number} << 3) | static_cast<uint64_t>(wire_type)); }

  // Opens a length-delimited record whose length is written when it closes.
  size_t OpenLength() {
    out_.push_back(0);
    return out_.size() - 1;
  }

  void CloseLength(size_t at) {
    const size_t length = out_.size() - at - 1;
    if (length > kMaxMessageSize) throw Decline{};
    size_t bytes = 1;
    for (size_t v = length; v >= 0x80; v >>= 7) ++bytes;
    if (bytes > 1) out_.insert(out_.begin() + static_cast<std::ptrdiff_t>(at) + 1, bytes - 1, 0);
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
    while (true) {
      SkipSpace();
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
        continue;  // (no `,` or `;` after it: protobuf's reader takes none there)
      }
      const std::string_view name = Word();
      if (name.empty() || !IsIdentStart(name[0])) throw Decline{};  // `[ext]`, a number, ...
      const FieldType* found = type.Field(name);
      if (found == nullptr) throw Decline{};
      const FieldType& field = *found;
      if (run.open && run.number != field.number) CloseRun(run);
      if (canonical) {
        if (field.number < last_number || (field.number == last_number && !field.repeated)) throw Decline{};
        if (field.type == kMessage && schema_.messages()[static_cast<size_t>(field.ref)].map_entry) throw Decline{};
        if (field.oneof >= 0) {
          if (field.oneof >= 64 || (oneofs_seen >> field.oneof & 1) != 0) throw Decline{};
          oneofs_seen |= uint64_t{1} << field.oneof;
        }
        last_number = field.number;
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
      if (!TryConsume(',')) TryConsume(';');
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
    out_.insert(out_.end(), prefix.begin(), prefix.end());
    out_.push_back('/');
    out_.insert(out_.end(), name.begin(), name.end());
    const size_t tag_at = out_.size();
    PutTag(2, 2);
    const size_t at = OpenLength();
    ReadFields(inner, close, depth + 1, true);
    if (out_.size() == at + 1) {
      out_.resize(tag_at);
    } else {
      CloseLength(at);
    }
  }

  // Reads and writes one value; returns whether it is the type's default (zero bits, empty).
  bool ReadScalar(const FieldType& field, PackedRun& run) {
    switch (field.type) {
      case kString:
      case kBytes: {
        std::string& value = scratch_;
        value.clear();
        ReadString(value);
        if (field.type == kString && !wire::IsValidUtf8(value)) throw Decline{};
        PutTag(field.number, 2);
        PutVarint(value.size());
        out_.insert(out_.end(), value.begin(), value.end());
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
        if (word == "true" || word == "t" || word == "1" || word == "True") bits = 1;
        else if (word == "false" || word == "f" || word == "0" || word == "False") bits = 0;
        else throw Decline{};
        break;
      case kEnum: {
        const EnumType& e = schema_.enums()[static_cast<size_t>(field.ref)];
        int64_t v = 0;
        if (IsIdentStart(word[0])) {
          const auto it = e.by_name.find(word);
          if (it == e.by_name.end()) throw Decline{};
          v = it->second;
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
    if (field.packed) {
      if (!run.open) {
        PutTag(field.number, 2);
        run.length_at = OpenLength();
        run.number = field.number;
        run.open = true;
      }
    } else {
      PutTag(field.number, wire_type);
    }
    if (width == 0) PutVarint(bits);
    else PutFixed(bits, width);
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

  // One or more adjacent quoted strings, unescaped as protobuf's CUnescape does.
  void ReadString(std::string& value) {
    SkipSpace();
    if (p_ >= end_ || (*p_ != '"' && *p_ != '\'')) throw Decline{};
    while (p_ < end_ && (*p_ == '"' || *p_ == '\'')) {
      ReadQuoted(value);
      SkipSpace();
    }
  }

  void ReadQuoted(std::string& value) {
    const char quote = *p_++;
    while (true) {
      if (p_ >= end_ || *p_ == '\n') throw Decline{};
      const char c = *p_++;
      if (c == quote) return;
      if (c != '\\') {
        value.push_back(c);
        continue;
      }
      if (p_ >= end_) throw Decline{};
      const char e = *p_++;
      switch (e) {
        case 'n': value.push_back('\n'); break;
        case 't': value.push_back('\t'); break;
        case 'r': value.push_back('\r'); break;
        case 'a': value.push_back('\a'); break;
        case 'b': value.push_back('\b'); break;
        case 'f': value.push_back('\f'); break;
        case 'v': value.push_back('\v'); break;
        case '\'': value.push_back('\''); break;
        case '"': value.push_back('"'); break;
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
          break;
        }
        default: {
          if (e < '0' || e > '7') throw Decline{};
          int v = e - '0';
          for (int n = 1; n < 3 && p_ < end_ && *p_ >= '0' && *p_ <= '7'; ++n) v = v * 8 + (*p_++ - '0');
          if (v > 0xff) throw Decline{};
          value.push_back(static_cast<char>(v));
          break;
        }
      }
    }
  }

  const Schema& schema_;
  const char* p_;
  const char* end_;
  std::vector<char> out_;
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
      MessageType& m = s.messages_.back();
      m.fields.push_back(std::move(f));
    } else if (kind == "E" && parts.size() == 2) {
      s.enums_.push_back(EnumType{std::string(parts[1]), {}, {}});
    } else if (kind == "V" && parts.size() == 3 && !s.enums_.empty()) {
      EnumType& e = s.enums_.back();
      const auto v = Number<int32_t>(parts[2]);
      e.by_name.emplace(std::string(parts[1]), v);
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

std::optional<std::vector<char>> ToBinary(const Schema& schema, int root, std::string_view text) {
  if (root < 0 || static_cast<size_t>(root) >= schema.messages().size()) {
    throw std::invalid_argument("text format: no such root message");
  }
  if (!wire::IsValidUtf8(text)) return std::nullopt;  // (protobuf's reader decodes the whole text first)
  try {
    return Reader(schema, text).Convert(root);
  } catch (const Decline&) {
    return std::nullopt;
  }
}

}  // namespace fastmeta::text_format
