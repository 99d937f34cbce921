// TensorFlow's naming rules: node names, tensor names, device specs.
#include "fastmeta/names.h"

#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace fastmeta {
namespace {

// Character classes of node names: bit 1 = may start a part, bit 2 = may follow.
struct NameTable {
  unsigned char cls[256] = {};
  NameTable() {
    for (int c = 0; c < 256; ++c) {
      bool ldd = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.';
      bool follow = ldd || c == '_' || c == '-' || c == '/';
      cls[c] = static_cast<unsigned char>((ldd ? 1 : 0) | (follow ? 2 : 0));
    }
  }
};
const NameTable kNameTable;

inline bool IsLetterDigitDot(char c) { return kNameTable.cls[static_cast<unsigned char>(c)] & 1; }
inline bool IsNameChar(char c) { return kNameTable.cls[static_cast<unsigned char>(c)] & 2; }

// The end of the run of name characters in name[i, n): 16 bytes at a time where SSE2 is
// there (every x86-64), a byte at a time otherwise and for the tail. The name characters
// are '-' '.' '/' and the digits (0x2d-0x39, one range), the letters and '_'.
inline size_t SkipNameChars(std::string_view name, size_t i) {
  const size_t n = name.size();
#if defined(__SSE2__)
  // x in [lo, hi] is (x - lo) <= (hi - lo) in unsigned bytes: min(d, limit) == d.
  auto in_range = [](__m128i v, char lo, char hi) {
    const __m128i d = _mm_sub_epi8(v, _mm_set1_epi8(lo));
    return _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(static_cast<char>(hi - lo))), d);
  };
  while (i + 16 <= n) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(name.data() + i));
    const __m128i lower = _mm_or_si128(v, _mm_set1_epi8(0x20));  // (folds 'A'-'Z' onto 'a'-'z')
    __m128i ok = in_range(v, '-', '9');
    ok = _mm_or_si128(ok, in_range(lower, 'a', 'z'));
    ok = _mm_or_si128(ok, _mm_cmpeq_epi8(v, _mm_set1_epi8('_')));
    const unsigned bad = static_cast<unsigned>(~_mm_movemask_epi8(ok)) & 0xffffu;
    if (bad != 0) return i + static_cast<size_t>(__builtin_ctz(bad));
    i += 16;
  }
#endif
  while (i < n && IsNameChar(name[i])) ++i;
  return i;
}

}  // namespace

bool IsValidNodeName(std::string_view name) {
  size_t i = 0;
  const size_t n = name.size();
  // First part: one letter/digit/dot, then any name characters.
  if (i >= n || !IsLetterDigitDot(name[i])) return false;
  i = SkipNameChars(name, i + 1);
  // Further parts, each introduced by '>'.
  while (i < n) {
    if (name[i] != '>') return false;
    ++i;
    if (i >= n || !IsLetterDigitDot(name[i])) return false;
    i = SkipNameChars(name, i + 1);
  }
  return true;
}

TensorRef ParseTensorName(std::string_view s) {
  // Walk back over a run of digits; a ':' right before it makes "name:digits".
  size_t p = s.size();
  uint64_t index = 0;
  uint64_t mul = 1;
  bool overflow = false;
  while (p > 1 && s[p - 1] >= '0' && s[p - 1] <= '9') {
    if (mul > 1000000000000ULL) overflow = true;
    index += static_cast<uint64_t>(s[p - 1] - '0') * mul;
    mul *= 10;
    --p;
  }
  TensorRef ref;
  if (p > 1 && s[p - 1] == ':' && mul > 1) {
    ref.node = s.substr(0, p - 1);
    ref.index = (overflow || index > 0x7fffffffULL) ? INT32_MAX : static_cast<int32_t>(index);
  } else if (!s.empty() && s[0] == '^') {
    ref.node = s.substr(1);
    ref.index = -1;
  } else {
    ref.node = s;
    ref.index = 0;
  }
  return ref;
}

void AppendInputString(std::string& out, std::string_view node, int32_t index) {
  if (index < 0) {
    out.push_back('^');
    out.append(node.data(), node.size());
  } else {
    out.append(node.data(), node.size());
    if (index > 0) {
      out.push_back(':');
      out.append(std::to_string(index));
    }
  }
}

namespace {

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

// The code points of Unicode's decimal digit zeros (category Nd, Unicode 14 as Python
// 3.11's int() knows them): digit d of each block is its zero + d.
constexpr uint32_t kDigitZeros[] = {
    0x30,    0x660,   0x6f0,   0x7c0,   0x966,   0x9e6,   0xa66,   0xae6,   0xb66,   0xbe6,   0xc66,
    0xce6,   0xd66,   0xde6,   0xe50,   0xed0,   0xf20,   0x1040,  0x1090,  0x17e0,  0x1810,  0x1946,
    0x19d0,  0x1a80,  0x1a90,  0x1b50,  0x1bb0,  0x1c40,  0x1c50,  0xa620,  0xa8d0,  0xa900,  0xa9d0,
    0xa9f0,  0xaa50,  0xabf0,  0xff10,  0x104a0, 0x10d30, 0x11066, 0x110f0, 0x11136, 0x111d0, 0x112f0,
    0x11450, 0x114d0, 0x11650, 0x116c0, 0x11730, 0x118e0, 0x11950, 0x11c50, 0x11d50, 0x11da0, 0x16a60,
    0x16ac0, 0x16b50, 0x1d7ce, 0x1d7d8, 0x1d7e2, 0x1d7ec, 0x1d7f6, 0x1e140, 0x1e2f0, 0x1e950, 0x1fbf0};

// The decimal value of code point `c` (any Unicode decimal digit), or -1.
int DigitValue(uint32_t c) {
  for (uint32_t zero : kDigitZeros) {
    if (c >= zero && c < zero + 10) return static_cast<int>(c - zero);
  }
  return -1;
}

// Whether code point `c` is whitespace to Python's str (what int() strips).
bool IsPythonSpace(uint32_t c) {
  return (c >= 0x9 && c <= 0xd) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

// The code points of UTF-8 `s`; nullopt when it is not valid UTF-8.
std::optional<std::vector<uint32_t>> CodePoints(std::string_view s) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    const size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xe ? 3 : (b >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size()) return std::nullopt;
    uint32_t c = n == 1 ? b : n == 2 ? (b & 0x1fu) : n == 3 ? (b & 0x0fu) : (b & 0x07u);
    for (size_t k = 1; k < n; ++k) {
      const auto t = static_cast<unsigned char>(s[i + k]);
      if ((t >> 6) != 0x2) return std::nullopt;
      c = (c << 6) | (t & 0x3fu);
    }
    out.push_back(c);
    i += n;
  }
  return out;
}

// Python's int(str), base 10, as TensorFlow's DeviceSpec converts an index: surrounding
// whitespace, an optional sign, decimal digits of any script with single '_' separators;
// the value as ASCII digits without leading zeros.
std::optional<std::string> PythonInt(std::string_view text) {
  const std::optional<std::vector<uint32_t>> points = CodePoints(text);
  if (!points) return std::nullopt;
  const std::vector<uint32_t>& cs = *points;
  size_t begin = 0, end = cs.size();
  while (begin < end && IsPythonSpace(cs[begin])) ++begin;
  while (end > begin && IsPythonSpace(cs[end - 1])) --end;
  bool negative = false;
  if (begin < end && (cs[begin] == '+' || cs[begin] == '-')) {
    negative = cs[begin] == '-';
    ++begin;
  }
  if (begin == end) return std::nullopt;
  std::string digits;
  for (size_t i = begin; i < end; ++i) {
    const int d = DigitValue(cs[i]);
    if (d >= 0) {
      digits.push_back(static_cast<char>('0' + d));
    } else if (cs[i] == '_' && i > begin && i + 1 < end && cs[i - 1] != '_' && DigitValue(cs[i + 1]) >= 0) {
      continue;
    } else {
      return std::nullopt;
    }
  }
  size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return std::string("0");
  std::string out = digits.substr(first);
  if (negative) out.insert(out.begin(), '-');
  return out;
}

// Python's repr() of a str holding the UTF-8 `s`, at most 200 bytes of it (as int()'s
// message shows its argument: "%.200R"): single quotes unless `s` holds one and no double
// quote; backslashes, that quote and control characters escaped; other characters kept.
std::string PythonRepr(std::string_view s) {
  const bool single = s.find('\'') != std::string_view::npos;
  const bool dbl = s.find('"') != std::string_view::npos;
  const char quote = single && !dbl ? '"' : '\'';
  std::string out(1, quote);
  for (unsigned char c : s) {
    if (c == quote || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += quote;
  return out.size() > 200 ? out.substr(0, 200) : out;
}

// Python's message for int(s) refused.
std::string IntError(std::string_view s) { return "invalid literal for int() with base 10: " + PythonRepr(s); }

bool IsKnownDeviceType(std::string_view upper) {
  return upper == "CPU" || upper == "GPU" || upper == "TPU" || upper == "CUSTOM" || upper == "EPU";
}

}  // namespace

std::optional<std::string> CanonicalDevice(std::string_view spec, std::string* error) {
  // TensorFlow's DeviceSpec: the parts parsed in order (a device index converted there),
  // then the last replica and task given converted (its setters); its messages.
  std::optional<std::string> job, replica, task, type, index;
  std::optional<std::string_view> replica_text, task_text;
  bool have_type = false;
  for (std::string_view part : Split(spec, '/')) {
    std::vector<std::string_view> y = Split(part, ':');
    const size_t ly = y.size();
    std::string upper(y[0]);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (ly == 2 && y[0] == "job") {
      job = std::string(y[1]);
    } else if (ly == 2 && y[0] == "replica") {
      replica_text = y[1];
    } else if (ly == 2 && y[0] == "task") {
      task_text = y[1];
    } else if ((ly == 1 || ly == 2) && IsKnownDeviceType(upper)) {
      if (have_type) {
        *error = "Multiple device types are not allowed while parsing the device spec: " + std::string(spec) + ".";
        return std::nullopt;
      }
      have_type = true;
      type = upper;
      if (ly == 2 && y[1] != "*") {
        index = PythonInt(y[1]);
        if (!index) {
          *error = IntError(y[1]);
          return std::nullopt;
        }
      }
    } else if (ly == 3 && y[0] == "device") {
      if (have_type) {
        *error = "Multiple device types are not allowed while parsing the device spec: " + std::string(spec) + ".";
        return std::nullopt;
      }
      have_type = true;
      // DeviceSpec upper-cases exactly "cpu" and "gpu" here ("/device:cpu:0" ->
      // "/device:CPU:0"); any other spelling ("Cpu", "tpu", "xla_cpu") is kept.
      type = y[1] == "cpu" ? std::string("CPU") : y[1] == "gpu" ? std::string("GPU") : std::string(y[1]);
      if (y[2] != "*") {
        index = PythonInt(y[2]);
        if (!index) {
          *error = IntError(y[2]);
          return std::nullopt;
        }
      }
    } else if (!y[0].empty()) {
      *error = "Unknown attribute '" + std::string(y[0]) + "' is encountered while parsing the device spec: '" +
               std::string(spec) + "'.";
      return std::nullopt;
    }
  }
  for (auto [text, value] : {std::pair{replica_text, &replica}, std::pair{task_text, &task}}) {
    if (!text) continue;
    *value = PythonInt(*text);
    if (!*value) {
      *error = IntError(*text);
      return std::nullopt;
    }
  }
  std::string out;
  if (job) out += "/job:" + *job;
  if (replica) out += "/replica:" + *replica;
  if (task) out += "/task:" + *task;
  if (have_type) out += "/device:" + *type + ":" + (index ? *index : std::string("*"));
  return out;
}

}  // namespace fastmeta
