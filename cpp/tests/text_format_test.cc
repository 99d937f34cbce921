// Unit tests for the text-format reader: exact bytes for a small schema, and the
// constructs it declines (left to protobuf's own reader). tests/test_text_format.py
// compares it with protobuf's reader on real meta graphs and mutated texts.
#undef NDEBUG
#include "fastmeta/text_format.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "check.h"

using fastmeta::text_format::Schema;
using fastmeta::text_format::ToBinary;

// message T { string s = 1; repeated int32 p = 2 [packed]; T child = 3; E e = 4;
//             float f = 5; double d = 6; sint64 z = 7; bool b = 8; bytes y = 9;
//             repeated T kids = 10; fixed32 x = 11; uint64 u = 12; int32 i = 13;
//             google.protobuf.Any any = 14; oneof o { int32 o1 = 15; string o2 = 16; }
//             map<string, string> m = 17; int32 abcdefgh = 18; int32 abcdefghi = 19;
//             int32 abcdefghj = 20; int32 abcdefghijklmnopq = 21; }
// message fastmeta.U { int32 i = 1; Any any = 2; oneof o { int32 o1 = 3; string o2 = 4; }
//                      map<string, string> m = 5; repeated int32 p = 6 [packed]; }
// enum E { ZERO = 0; ONE = 1; ABCDEFGH = 5; ABCDEFGHI = 6; ABCDEFGHIJKLMNOPQ = 7; }
static const char kSchema[] =
    "M t.T 0\n"
    "F s 1 9 0 0 0 -1 -1\n"
    "F p 2 5 1 1 0 -1 -1\n"
    "F child 3 11 0 0 1 -1 0\n"
    "F e 4 14 0 0 0 -1 0\n"
    "F f 5 2 0 0 0 -1 -1\n"
    "F d 6 1 0 0 0 -1 -1\n"
    "F z 7 18 0 0 0 -1 -1\n"
    "F b 8 8 0 0 0 -1 -1\n"
    "F y 9 12 0 0 0 -1 -1\n"
    "F kids 10 11 1 0 0 -1 0\n"
    "F x 11 7 0 0 0 -1 -1\n"
    "F u 12 4 0 0 0 -1 -1\n"
    "F i 13 5 0 0 0 -1 -1\n"
    "F any 14 11 0 0 1 -1 1\n"
    "F o1 15 5 0 0 1 0 -1\n"
    "F o2 16 9 0 0 1 0 -1\n"
    "F m 17 11 1 0 0 -1 2\n"
    "F abcdefgh 18 5 0 0 0 -1 -1\n"
    "F abcdefghi 19 5 0 0 0 -1 -1\n"
    "F abcdefghj 20 5 0 0 0 -1 -1\n"
    "F abcdefghijklmnopq 21 5 0 0 0 -1 -1\n"
    "M google.protobuf.Any 0\n"
    "F type_url 1 9 0 0 0 -1 -1\n"
    "F value 2 12 0 0 0 -1 -1\n"
    "M t.T.MEntry 1\n"
    "F key 1 9 0 0 0 -1 -1\n"
    "F value 2 9 0 0 0 -1 -1\n"
    "M fastmeta.U 0\n"
    "F i 1 5 0 0 0 -1 -1\n"
    "F any 2 11 0 0 1 -1 1\n"
    "F o1 3 5 0 0 1 0 -1\n"
    "F o2 4 9 0 0 1 0 -1\n"
    "F m 5 11 1 0 0 -1 2\n"
    "F p 6 5 1 1 0 -1 -1\n"
    "E t.E\n"
    "V ZERO 0\n"
    "V ONE 1\n"
    "V ABCDEFGH 5\n"
    "V ABCDEFGHI 6\n"
    "V ABCDEFGHIJKLMNOPQ 7\n";

// The text is copied to a buffer of its exact size, so that the sanitizers see any read
// past its end (a std::string has room, and a terminator, after it).
static std::optional<std::string> Convert(const Schema& schema, const std::string& text) {
  const std::unique_ptr<char[]> exact(new char[text.size()]);
  std::copy(text.begin(), text.end(), exact.get());
  const auto out = ToBinary(schema, schema.Find("t.T"), std::string_view(exact.get(), text.size()));
  if (!out) return std::nullopt;
  return std::string(out->begin(), out->end());
}

static void Same(const Schema& schema, const std::string& text, const std::string& expected) {
  const auto got = Convert(schema, text);
  if (!got || *got != expected) {
    std::fprintf(stderr, "text %s: %s\n", text.c_str(), got ? "other bytes" : "declined");
    std::abort();
  }
}

static void Declined(const Schema& schema, const std::string& text) {
  if (Convert(schema, text)) {
    std::fprintf(stderr, "text %s: converted, expected declined\n", text.c_str());
    std::abort();
  }
}

static void TestValues(const Schema& s) {
  using std::string;
  Same(s, "", "");
  Same(s, "s: \"ab\"",
       string("\x0a\x02"
              "ab"));
  Same(s, "s: 'a' \"b\" # comment\n 'c'",
       string("\x0a\x03"
              "abc"));
  Same(s, R"(y: "\n\t\\\'\"\x41\x4\101\0")",
       string("\x4a\x09\n\t\\'\"A\x04"
              "A\0",
              11));
  Same(s, "i: -1", string("\x68\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11));
  Same(s, "i: 0x7fffffff", string("\x68\xff\xff\xff\xff\x07"));
  Same(s, "u: 18446744073709551615", string("\x60\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"));
  Same(s, "z: -2", string("\x38\x03"));
  Same(s, "x: 1", string("\x5d\x01\x00\x00\x00", 5));
  Same(s, "b: t b: False b: 1", string("\x40\x01\x40\x00\x40\x01", 6));
  Same(s, "e: ONE e: 0", string("\x20\x01\x20\x00", 4));
  Same(s, "f: 1.5f", string("\x2d\x00\x00\xc0\x3f", 5));
  Same(s, "f: -inf", string("\x2d\x00\x00\x80\xff", 5));
  Same(s, "d: .5e1", string("\x31\x00\x00\x00\x00\x00\x00\x14\x40", 9));
  Same(s, "d: -0.0", string("\x31\x00\x00\x00\x00\x00\x00\x00\x80", 9));
}

static void TestStructure(const Schema& s) {
  using std::string;
  // packed runs: one record per run of the field, broken by another field
  Same(s, "p: 1 p: 2; p: [3, 4] i: 5 p: 6 p: []", string("\x12\x04\x01\x02\x03\x04\x68\x05\x12\x01\x06", 11));
  Same(s, "child { i: 1 } child: < s: 'x' >, kids [{}, {i: 2}] kids {}",
       string("\x1a\x02\x68\x01\x1a\x03\x0a\x01x\x52\x00\x52\x02\x68\x02\x52\x00", 17));
  // a length past one byte
  const string long_value(200, 'q');
  const string body = string("\x0a\xc8\x01", 3) + long_value;
  Same(s, "child { s: '" + long_value + "' }", string("\x1a\xcb\x01", 3) + body);
  // nesting up to the limit, not past it
  string deep;
  for (int i = 0; i < fastmeta::text_format::kMaxTextDepth; ++i) deep += "child {";
  for (int i = 0; i < fastmeta::text_format::kMaxTextDepth; ++i) deep += "}";
  CHECK(Convert(s, deep).has_value());
  Declined(s, "child {" + deep + "}");
}

static void TestExpandedAny(const Schema& s) {
  using std::string;
  const string url = "type.googleapis.com/tensorflow.U";
  // a body as protobuf prints it: its bytes are the Any's value
  Same(s, "any { [" + url + "] { i: 1 p: [2, 3] p: 4 } }",
       string("\x72\x2b\x0a\x20", 4) + url + string("\x12\x07\x08\x01\x32\x03\x02\x03\x04", 9));
  Same(s, "any { [" + url + "] < any { [" + url + "] { } } > }",
       string("\x72\x48\x0a\x20", 4) + url + string("\x12\x24\x12\x22\x0a\x20", 6) + url);
  Same(s, "any { [" + url + "]: {} }", string("\x72\x22\x0a\x20", 4) + url);
  Same(s, "any { [" + url + "] { o2: '' } }", string("\x72\x26\x0a\x20", 4) + url + string("\x12\x02\x22\x00", 4));
  // bodies protobuf would serialize otherwise, and URLs not read
  for (const string body :
       {"i: 0", "p: 1 i: 1", "i: 1 i: 2", "o1: 1 o2: 'x'", "m { key: 'a' value: 'b' }", "any { i: 1 }"}) {
    Declined(s, "any { [" + url + "] { " + body + " } }");
  }
  for (const string u :
       {"type.googleapis.com/fastmeta.U", "type.googleapis.com/tensorflow.V", "/tensorflow.U", "a/b/tensorflow.U",
        "x/tensorflow.U.", "x/tensorflow..U", "x/tensorflow.1U", "type.googleapis.com/ tensorflow.U"}) {
    Declined(s, "any { [" + u + "] {} }");
  }
  Declined(s, "i: 1 [" + url + "] {}");      // (only in an Any)
  Declined(s, "any { [" + url + "] {}, }");  // (no separator after it, in protobuf's reader)
}

// Whitespace and comments between tokens: runs of every length up to past two 8-byte
// words, of each whitespace byte and mixed, with comments in them, ending anywhere,
// the end of the text included.
static void TestWhitespace(const Schema& s) {
  using std::string;
  const string one("\x68\x01", 2);
  const string two("\x68\x01\x68\x02", 4);
  for (const string unit : {" ", "\t", "\n", "\r", "\f", "\v", " \n", "  \t", "\n  ", "# c\n", "#\n", " #x\r\n"}) {
    string run;
    for (int n = 0; n <= 20; ++n, run += unit) {
      Same(s, run + "i:" + run + "1" + run, one);
      Same(s, "i: 1 " + run + "i" + run + ":" + run + "2", two);
      Same(s, "i:" + run + "1" + run + "#", one);
      Same(s, "i:" + run + "1" + run + "# no newline", one);
      Same(s, "i: 1" + string(static_cast<size_t>(n), ' ') + unit, one);
      Same(s, "i: 1" + run + ";" + run + "i: 2" + run + "," + run, two);
      // (whitespace protobuf's reader takes but the core leaves to it: non-ASCII, \x1c-\x1f)
      Declined(s, "i:" + run +
                      "\x1c"
                      "1");
      Declined(s, "i: 1" + run + "\xc2\xa0");
      Declined(s, "i: 1" + run + "\x1f" + run);
    }
  }
  // a comment runs to the newline only: \r, \f, \v do not end it
  Same(s, "# a\r i: 2\n i: 1", one);
  Same(s, "# a\f i: 2\v\n i: 1", one);
  Same(s, "i: 1 # i: 2", one);
}

// Quoted strings of every length, the closing quote or an escape at every offset from an
// 8-byte boundary, the text ending right after them; stops a string cannot cross.
static void TestStringRuns(const Schema& s) {
  using std::string;
  for (size_t n = 0; n <= 40; ++n) {
    const string body(n, 'a');
    const string record = string("\x0a", 1) + static_cast<char>(n) + body;
    Same(s, "s: \"" + body + "\"", record);
    Same(s, "s: '" + body + "'", record);
    Same(s, "s:\"" + body + "\"" + string(n, ' '), record);
    Same(s, "s: '" + body + "' i: 1", record + string("\x68\x01", 2));
    // the other quote, a \r or tab, non-ASCII text: plain bytes in a string
    for (const string plain : {"\"", "\r", "\t", "\xc3\xa9", "#"}) {
      const string value = body + plain + body;
      Same(s, "s: '" + body + plain + body + "'", string("\x0a", 1) + static_cast<char>(value.size()) + value);
    }
    // escapes at every offset, and adjacent strings joined
    const string escaped = body + "\n" + body + "\\";
    Same(s, "s: \"" + body + "\\n" + body + "\\\\\"", string("\x0a", 1) + static_cast<char>(escaped.size()) + escaped);
    const string joined = body + "x" + body;
    Same(s, "s: '" + body + "' \"x\"\n'" + body + "'", string("\x0a", 1) + static_cast<char>(joined.size()) + joined);
    Same(s, "s: '" + body + "'# c\n'x' '" + body + "'", string("\x0a", 1) + static_cast<char>(joined.size()) + joined);
    // a newline inside, a backslash or the text's end before the closing quote
    Declined(s, "s: '" + body + "\n'");
    Declined(s, "s: '" + body + "\\\n'");
    Declined(s, "s: '" + body);
    Declined(s, "s: '" + body + "\\");
    Declined(s, "s: '" + body + "\"");
    Declined(s, "s: '" + body + "' '" + body);
  }
  // string fields hold UTF-8: escapes can make it (or not); bytes fields take anything
  Same(s, "s: 'a\\303\\251'",
       string("\x0a\x03"
              "a\xc3\xa9"));
  Same(s, "s: '\\xc3' '\\xa9'",
       string("\x0a\x02"
              "\xc3\xa9"));
  Same(s, "s: '\xc3\xa9\\n'",
       string("\x0a\x03"
              "\xc3\xa9\n"));
  Declined(s, "s: '\\303'");
  Declined(s, "s: '\xc3\xa9' '\\251'");
  Declined(s, "s: 'a\\x80'");
  Same(s, "y: '\\303'",
       string("\x4a\x01"
              "\xc3"));
  Same(s, "y: 'a\\x80'",
       string("\x4a\x02"
              "a\x80"));
}

// Field names around 8 bytes long, names sharing their first 8 bytes, near the text's end.
static void TestFieldNames(const Schema& s) {
  using std::string;
  Same(s, "abcdefgh: 1", string("\x90\x01\x01", 3));
  Same(s, "abcdefghi: 1 abcdefghj: 2", string("\x98\x01\x01\xa0\x01\x02", 6));
  Same(s, "abcdefghijklmnopq: 3", string("\xa8\x01\x03", 3));
  for (const char* name : {"abcdefg", "abcdefghx", "abcdefghij", "abcdefghijklmnop", "abcdefghijklmnopqr", "abcdefgH",
                           "abcdefgh_", "ab", "i_", "kid", "kidss", "abcdefghijklmnopQ"}) {
    Declined(s, string(name) + ": 1");
    Declined(s, string("i: 1 ") + name);
    Declined(s, name);
  }
  // enum values' names likewise
  Same(s, "e: ABCDEFGH e: ABCDEFGHI e: ABCDEFGHIJKLMNOPQ e: ONE", string("\x20\x05\x20\x06\x20\x07\x20\x01", 8));
  for (const char* name : {"ABCDEFG", "ABCDEFGHJ", "ABCDEFGHIJ", "ABCDEFGHIJKLMNOP", "ABCDEFGHIJKLMNOPR", "ABCDEFGh",
                           "ONEx", "ON", "one", "abcdefgh"}) {
    Declined(s, string("e: ") + name);
    Declined(s, string("e: ") + name + " i: 1");
  }
  Declined(s, "i: 1 abcdefgh");
  Declined(s, "i: 1 abcdefghijklmnopq");
}

static void TestDeclined(const Schema& s) {
  for (const char* text : {"nope: 1",
                           "1: 2",
                           "[t.ext]: 1",
                           "s: 1",
                           "s \"a\"",
                           "s: \"a",
                           "s: \"a\nb\"",
                           "s: '\\u0041'",
                           "s: '\\\\u0041'",
                           "s: '\\q'",
                           "s: '\\777'",
                           "s: '\\x'",
                           "i: 017",
                           "i: +1",
                           "i: 1_0",
                           "i: 2147483648",
                           "i: -2147483649",
                           "i: 1.0",
                           "u: -1",
                           "x: 4294967296",
                           "e: TWO",
                           "e: 2",
                           "f: 1e39",
                           "f: 1e999",
                           "d: 0x10",
                           "d: 050",
                           "d: -00.5",
                           "d: inff",
                           "d: NaN",
                           "d: 1.5ff",
                           "b: yes",
                           "child {",
                           "child { i: 1 >",
                           "child: 1",
                           "i: 1 }",
                           "kids: [{}",
                           "\xc2\xa0i: 1",
                           "s: '\xff'",
                           "y: 'a\xed\xa0\x80'",
                           "i:\x1c"
                           "1"}) {
    Declined(s, text);
  }
}

// Strict (protobuf's Parse, not Merge): a singular field given twice in one message, or a
// second member of a oneof, is declined (for protobuf's Parse to refuse); repeated fields
// and the same field in different messages are not. Merge's rules accept them all.
static void TestStrict(const Schema& s) {
  const auto strict = [&](const std::string& text) {
    return ToBinary(s, s.Find("t.T"), text, /*strict=*/true).has_value();
  };
  for (const char* text : {"i: 1 i: 2", "s: 'a' b: true s: 'b'", "child { i: 1 } child { i: 2 }", "o1: 1 o2: 'x'",
                           "o1: 1 o1: 2", "child { i: 1 i: 1 }"}) {
    CHECK(!strict(text));
    CHECK(Convert(s, text).has_value());
  }
  for (const char* text : {"i: 1 s: 'a'", "p: 1 p: 2", "kids { i: 1 } kids { i: 1 }", "child { i: 1 child { i: 2 } }",
                           "m { key: 'a' value: 'b' } m { key: 'a' value: 'c' }", "o2: 'x'"}) {
    CHECK(strict(text));
    CHECK(*ToBinary(s, s.Find("t.T"), text, true) == *ToBinary(s, s.Find("t.T"), text));
  }
}

int main() {
  const Schema schema = Schema::Parse(kSchema);
  TestStrict(schema);
  CHECK(schema.Find("t.T") == 0 && schema.Find("t.U") == -1);
  TestValues(schema);
  TestStructure(schema);
  TestExpandedAny(schema);
  TestDeclined(schema);
  TestWhitespace(schema);
  TestStringRuns(schema);
  TestFieldNames(schema);
  bool threw = false;
  try {
    Schema::Parse("M t.T 0\nF s 1 11 0 0 0 -1 7\n");
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw);
  std::cout << "text_format_test: OK\n";
  return 0;
}
