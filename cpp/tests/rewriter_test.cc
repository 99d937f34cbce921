// Hostile-input tests of the C++ core: every malformed input gives a typed
// fastmeta::Error naming a byte offset or node, never a crash, a hang or an
// allocation out of proportion to the input. Also replays every crash input kept in
// tests/regressions/ through the fuzz targets. Plain asserts; run by ctest.
#include "fastmeta/rewriter.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include "../fuzz/checkpoint_target.h"
#include "../fuzz/rewrite_target.h"
#include "../src/attr_value.h"
#include "../src/hash.h"
#include "../src/parallel.h"
#include "check.h"
#include "fastmeta/checkpoint.h"
#include "fastmeta/errors.h"
#include "fastmeta/export.h"
#include "fastmeta/mapped_file.h"
#include "fastmeta/memory.h"
#include "fastmeta/names.h"
#include "fastmeta/variable_defs.h"
#include "fastmeta/wire.h"
#include "wire_builders.h"

// ---------------------------------------------------------------------------
// The largest single allocation, to check that claimed sizes are not trusted.
static size_t g_largest_alloc = 0;

void* operator new(size_t n) {
  if (n > g_largest_alloc) g_largest_alloc = n;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// (gcc's -Wmismatched-new-delete cannot see that the operator new above is malloc)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace {

const std::string kRoot = [] {
  std::string f = __FILE__;
  return f.substr(0, f.rfind("cpp/tests/"));
}();

// --- wire builders ----------------------------------------------------------

std::string Node(const std::string& name, const std::string& op = "NoOp", const std::vector<std::string>& inputs = {},
                 const std::string& extra = "") {
  std::string body = Bytes(1, name) + Bytes(2, op);
  for (const std::string& in : inputs) body += Bytes(3, in);
  return Bytes(1, body + extra);
}
std::string Meta(const std::string& nodes, const std::string& before = "") { return before + Bytes(2, nodes); }

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  CHECK(f.good());
  return std::string(std::istreambuf_iterator<char>(f), {});
}

fastmeta::RewriteOptions Opts(const std::string& prefix = "") {
  fastmeta::RewriteOptions o;
  o.prefix = prefix;
  o.threads = 1;
  return o;
}

// Runs a rewrite expected to fail with error type E; returns the message.
template <typename E>
std::string ExpectError(const std::string& data, const fastmeta::RewriteOptions& o = Opts()) {
  try {
    fastmeta::RewriteMetaGraph(data, o);
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wrong exception type: %s\n", e.what());
    std::abort();
  }
  std::fprintf(stderr, "no exception\n");
  std::abort();
}

bool Contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// --- tests ------------------------------------------------------------------

// A NodeDef is written behind a length guessed from the input node's: nodes whose
// rewritten size crosses a varint boundary (127/128, 16383/16384 bytes) either way
// (the scope makes them longer, a dropped _output_shapes shorter) come out exact.
void TestNodeLengthAcrossVarintBoundaries() {
  for (size_t target : {size_t{128}, size_t{16384}}) {
    for (size_t pad = target - 24; pad < target + 8; ++pad) {
      // Longer: an unknown field padded to about `target` bytes, the name scoped.
      const std::string longer = Bytes(1, "a") + Bytes(2, "NoOp") + Bytes(20, std::string(pad, 'x'));
      // Shorter: the same with an _output_shapes attr of about 24 bytes, dropped.
      std::string list;
      for (int k = 0; k < 9; ++k) list += Bytes(7, "");
      const std::string shapes = Bytes(5, Bytes(1, "_output_shapes") + Bytes(2, Bytes(1, list)));
      const std::string shorter_body = Bytes(1, "b") + Bytes(2, "NoOp") + shapes + Bytes(20, std::string(pad, 'y'));
      const std::string tail_node = Bytes(1, "c") + Bytes(2, "NoOp");
      auto g =
          fastmeta::RewriteMetaGraph(Meta(Bytes(1, longer) + Bytes(1, shorter_body) + Bytes(1, tail_node)), Opts("s"));
      CHECK(g->num_nodes() == 3);
      const std::string want_a = Bytes(1, "s/a") + Bytes(2, "NoOp") + Bytes(20, std::string(pad, 'x'));
      const std::string want_b = Bytes(1, "s/b") + Bytes(2, "NoOp") + Bytes(20, std::string(pad, 'y'));
      const std::string want_c = Bytes(1, "s/c") + Bytes(2, "NoOp");
      CHECK(g->node_def(0) == want_a);
      CHECK(g->node_def(1) == want_b);
      CHECK(g->node_def(2) == want_c);
      CHECK(g->name(0) == "s/a" && g->name(1) == "s/b" && g->name(2) == "s/c");
      CHECK(g->op(0) == "NoOp" && g->op(2) == "NoOp");
      CHECK(g->graph_def() == Bytes(1, want_a) + Bytes(1, want_b) + Bytes(1, want_c));
    }
  }
}

void TestValidRewrite() {
  std::string cls = Bytes(5, Bytes(1, "_class") + Bytes(2, Bytes(1, Bytes(2, "loc:@a"))));
  std::string data = Meta(Node("a", "Const") + Node("b", "Identity", {"a:1", "^a"}, cls));
  auto g = fastmeta::RewriteMetaGraph(data, Opts("s.c"));
  CHECK(g->num_nodes() == 2);
  CHECK(g->name(0) == "s.c/a");
  CHECK(g->name(1) == "s.c/b");
  const std::string out = g->graph_def();
  CHECK(Contains(out, "s.c/a:1"));
  CHECK(Contains(out, "^s.c/a"));
  CHECK(Contains(out, "loc:@s.c/a"));
  // Output indices are written back digit for digit; control inputs sorted, deduplicated.
  auto h = fastmeta::RewriteMetaGraph(Meta(Node("a", "Const") + Node("b", "F", {"a:10", "a:2147483646", "a:7", "^a"}) +
                                           Node("c", "F", {"^b", "^a", "^b"})),
                                      Opts("s"));
  const std::string out2 = h->graph_def();
  CHECK(Contains(out2, Bytes(3, "s/a:10") + Bytes(3, "s/a:2147483646") + Bytes(3, "s/a:7") + Bytes(3, "^s/a")));
  const std::string c_inputs = Bytes(3, "^s/a") + Bytes(3, "^s/b");
  CHECK(Contains(out2, c_inputs) && out2.find(Bytes(3, "^s/b")) == out2.rfind(Bytes(3, "^s/b")));
}

void TestEmpty() {
  auto g = fastmeta::RewriteMetaGraph("", Opts());
  CHECK(g->num_nodes() == 0);
  CHECK(fastmeta::MetaGraphRest("").empty());
  CHECK(fastmeta::MetaGraphRestParts("").empty());
  // The fields around graph_def, in order: two pieces (adjacent fields are one).
  const std::string before = Bytes(1, "info") + Bytes(4, "c1");
  const std::string data = before + Bytes(2, Node("a")) + Bytes(3, "saver") + Bytes(2, Node("b")) + Bytes(4, "c2");
  const auto parts = fastmeta::MetaGraphRestParts(data);
  CHECK(parts.size() == 3 && parts[0] == before && parts[1] == Bytes(3, "saver") && parts[2] == Bytes(4, "c2"));
  CHECK(fastmeta::MetaGraphRest(data) == before + Bytes(3, "saver") + Bytes(4, "c2"));
}

void TestTruncatedAtEveryByte() {
  const std::string file = ReadFile(kRoot + "tests/fixtures/corpus/no_variables.meta");
  CHECK(fastmeta::RewriteMetaGraph(file, Opts())->num_nodes() > 0);
  size_t parse_errors = 0;
  for (size_t n = 0; n < file.size(); ++n) {
    const std::string cut = file.substr(0, n);
    try {
      fastmeta::RewriteMetaGraph(cut, Opts());
    } catch (const fastmeta::ParseError& e) {
      CHECK(e.offset() <= n);
      CHECK(Contains(e.what(), "byte offset"));
      ++parse_errors;
    } catch (const fastmeta::GraphError& e) {
      // A cut between nodes: an input whose node is gone.
      CHECK(!e.node().empty());
    }
  }
  CHECK(parse_errors > file.size() / 2);
}

void TestWireErrors() {
  // Length prefix past the end (claiming 4 GiB: nothing that size is allocated).
  g_largest_alloc = 0;
  std::string msg = ExpectError<fastmeta::ParseError>("\x12" + Varint(uint64_t{1} << 32) + "abc");
  CHECK(Contains(msg, "runs past the end") && Contains(msg, "byte offset 1"));
  CHECK(g_largest_alloc < (1u << 20));
  // A node claiming billions of inputs: every repeated element is a real field, so the
  // claim is only a length prefix.
  ExpectError<fastmeta::ParseError>(Meta(Bytes(1, Bytes(1, "a") + "\x1a" + Varint(uint64_t{3} << 30))));
  // Overlong length (11 bytes) and tag (10 bytes).
  CHECK(Contains(ExpectError<fastmeta::ParseError>("\x12" + std::string(11, '\xff')), "overlong"));
  CHECK(Contains(ExpectError<fastmeta::ParseError>(std::string(9, '\xff') + "\x7f"), "overlong"));
  // Field number 0, wire types 6 and 7, an end-group without a start.
  ExpectError<fastmeta::ParseError>(std::string("\x02\x00", 2));
  ExpectError<fastmeta::ParseError>("\x16");
  ExpectError<fastmeta::ParseError>("\x17");
  ExpectError<fastmeta::ParseError>("\x14");
  // (fields of another wire type than the core reads: TestWireAsProtobufReadsIt)
  // Invalid UTF-8 in each string field the core reads.
  for (const std::string& bad : {std::string("a\xff"), std::string("\xc0\x80"), std::string("\xed\xa0\x80")}) {
    // A name is refused either way (not UTF-8, or not a valid node name).
    CHECK(Contains(ExpectError<fastmeta::Error>(Meta(Node(bad))), "byte offset"));
    CHECK(Contains(ExpectError<fastmeta::ParseError>(Meta(Node("a", bad))), "UTF-8"));
    // An input is refused as not UTF-8 or as naming no node (names are ASCII).
    CHECK(Contains(ExpectError<fastmeta::Error>(Meta(Node("a", "NoOp", {bad}))), "a"));
    CHECK(Contains(ExpectError<fastmeta::ParseError>(Meta(Node("a", "NoOp", {}, Bytes(4, bad)))), "UTF-8"));
  }
}

void TestDeepNesting() {
  // 100 000 nested unknown length-delimited fields: the core does not recurse into
  // what it does not read, so there is no stack to exhaust.
  std::vector<std::string> headers;
  size_t inner = 1;
  for (int i = 0; i < 100000; ++i) {
    headers.push_back(Varint(15 << 3 | 2) + Varint(inner));
    inner += headers.back().size();
  }
  std::string nested;
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) nested += *it;
  nested += "x";
  auto g = fastmeta::RewriteMetaGraph(Meta(Node("a", "NoOp", {}, nested)), Opts());
  CHECK(g->num_nodes() == 1);
  // Deeply nested groups (obsolete, skipped with a bounded stack): 100 levels below the
  // root message, as protobuf allows (more: TestWireAsProtobufReadsIt).
  std::string groups;
  for (int i = 0; i < 101; ++i) groups += "\x7b";  // field 15, start group
  for (int i = 0; i < 101; ++i) groups += "\x7c";  // field 15, end group
  CHECK(Contains(ExpectError<fastmeta::ParseError>(groups), "nested too deeply"));
  ExpectError<fastmeta::ParseError>("\x7b");          // unterminated group
  ExpectError<fastmeta::ParseError>("\x7b\x84\x01");  // mismatched end
}

// `v` in exactly `size` bytes (continuation bytes padding it: an overlong encoding).
std::string LongVarint(uint64_t v, int size) {
  std::string out;
  for (int i = 0; i < size; ++i) {
    const auto byte = static_cast<char>((v >> (7 * i)) & 0x7f);
    out.push_back(i + 1 < size ? static_cast<char>(byte | 0x80) : byte);
  }
  return out;
}

std::string Groups(int levels) {
  return std::string(static_cast<size_t>(levels), '\x7b') + std::string(static_cast<size_t>(levels), '\x7c');
}

// The wire format as protobuf's parser (upb) reads it (tests/test_wire_vs_protobuf.py
// compares with protobuf itself): varints, tags, lengths, fields of another wire type
// (unknown fields, kept), field numbers and unknown groups within the nesting limit
// counted from the file's root message.
void TestWireAsProtobufReadsIt() {
  const std::string a = Meta(Node("a"));
  auto ok = [](const std::string& data, const fastmeta::RewriteOptions& o = Opts()) {
    return fastmeta::RewriteMetaGraph(data, o);
  };
  // A 10-byte varint: the bits past the 64th are dropped; 11 bytes are refused.
  const std::string v10 = "\x81" + std::string(8, '\x80') + "\x7e";
  CHECK(Contains(std::string(ok(a + Varint(99 << 3) + v10)->meta_rest()), v10));
  CHECK(ok(Meta(Node("a", "NoOp", {}, Varint(99 << 3) + v10)))->num_nodes() == 1);
  CHECK(Contains(ExpectError<fastmeta::ParseError>(a + Varint(99 << 3) + std::string(10, '\xff') + "\x01"),
                 "overlong varint field"));
  // An OpDef's arg type as a 10-byte varint: 1 (DT_FLOAT) as protobuf reads it, so an
  // input of type float fits it, one of int32 does not.
  {
    const std::string out = Bytes(1, Bytes(1, "MyOp") + Bytes(3, Bytes(1, "out") + Varint(3 << 3) + v10));
    auto use = [](int type) {
      return Bytes(1, Bytes(1, "Use" + std::to_string(type)) +
                          Bytes(2, Bytes(1, "in") + VarintField(3, static_cast<uint64_t>(type))));
    };
    const std::string ops = Bytes(1, Bytes(2, out + use(1) + use(3)));
    CHECK(ok(Meta(Node("a", "MyOp") + Node("b", "Use1", {"a"}), ops))->num_nodes() == 2);
    CHECK(
        Contains(ExpectError<fastmeta::GraphError>(Meta(Node("a", "MyOp") + Node("b", "Use3", {"a"}), ops)), "float"));
  }
  // Tags: at most 5 bytes (overlong ones too), below 2^32; also inside a group.
  const std::string tag5 = LongVarint(99 << 3, 5);  // field 99, varint, in 5 bytes
  CHECK(ok(Meta(Node("a", "NoOp", {}, tag5 + "\x01")))->num_nodes() == 1);
  CHECK(Contains(ExpectError<fastmeta::ParseError>(Meta(Node("a", "NoOp", {}, LongVarint(99 << 3, 6) + "\x01"))),
                 "overlong field tag"));
  const std::string past = "\x80\x80\x80\x80\x10";  // 2^32: field 2^29
  CHECK(Contains(ExpectError<fastmeta::ParseError>(a + past + "\x01"), "field tag out of range"));
  CHECK(Contains(ExpectError<fastmeta::ParseError>(Meta(Node("a", "NoOp", {}, "\x9b\x06" + past + "\x01\x9c\x06"))),
                 "field tag out of range"));
  CHECK(ok(a + Varint(uint64_t{(1u << 29) - 1} << 3) + "\x01")->num_nodes() == 1);
  // Field number 0: refused in a message, skipped inside a group (as protobuf does).
  ExpectError<fastmeta::ParseError>(Meta(Node("a", "NoOp", {}, std::string("\x00\x01", 2))));
  CHECK(ok(Meta(Node("a", "NoOp", {}, std::string("\x9b\x06\x00\x01\x02\x00\x9c\x06", 8))))->num_nodes() == 1);
  // Lengths: at most 5 bytes (overlong ones too).
  {
    const std::string node = Node("a");
    CHECK(ok("\x12" + LongVarint(node.size(), 5) + node)->num_nodes() == 1);
    CHECK(Contains(ExpectError<fastmeta::ParseError>("\x12" + LongVarint(node.size(), 6) + node),
                   "overlong length prefix"));
    const std::string body = node.substr(2);
    CHECK(ok(Meta("\x0a" + LongVarint(body.size(), 5) + body))->num_nodes() == 1);
    ExpectError<fastmeta::ParseError>(Meta("\x0a" + LongVarint(body.size(), 6) + body));
  }
  // Fields the core reads, of another wire type: unknown fields to protobuf, kept.
  {
    auto g = ok(a + VarintField(2, 5));
    CHECK(g->num_nodes() == 1 && Contains(std::string(g->meta_rest()), VarintField(2, 5)));
    CHECK(ok(VarintField(1, 1) + Bytes(1, VarintField(2, 3)) + a)->num_nodes() == 1);      // meta_info_def, op list
    CHECK(ok(Bytes(1, Bytes(2, VarintField(1, 4))) + a)->num_nodes() == 1);                // OpList.op
    CHECK(ok(Meta(VarintField(1, 1) + VarintField(2, 1) + Node("a")))->num_nodes() == 1);  // node, library
    const std::string odd = VarintField(1, 7) + VarintField(2, 7) + VarintField(3, 7) + VarintField(4, 7) +
                            VarintField(5, 7) + "\x19" + std::string(8, 'x');  // (op as fixed64)
    for (const std::string& data : {Meta(Node("b") + Node("a", "NoOp", {"^b"}, odd)),
                                    Meta(Node("b") + Bytes(1, odd + Node("a", "NoOp", {"^b"}).substr(2)))}) {
      for (const char* prefix : {"", "imp"}) {
        for (bool spell : {false, true}) {
          auto o = Opts(prefix);
          o.keep_input_spelling = spell;
          auto r = ok(data, o);
          CHECK(r->num_nodes() == 2);
          const size_t i = r->name(0) == (std::string(prefix).empty() ? "a" : "imp/a") ? 0 : 1;
          CHECK(r->op(i) == "NoOp" && r->node(i).num_data_inputs == 0 && r->node(i).edge_count == 1);
          const std::string def(r->node_def(i));
          CHECK(Contains(def, odd));
          CHECK(Contains(def, Bytes(3, std::string(prefix).empty() ? "^b" : "^imp/b")));
        }
      }
    }
  }
  // Unknown groups: 100 levels below the root message (MetaGraphDef 0, GraphDef 1,
  // NodeDef 2); a SavedModel's meta graph lies one level deeper (RewriteOptions::depth).
  auto saved = Opts();
  saved.depth = 1;
  CHECK(ok(a + Groups(100))->num_nodes() == 1);
  CHECK(Contains(ExpectError<fastmeta::ParseError>(a + Groups(101)), "nested too deeply"));
  CHECK(ok(a + Groups(99), saved)->num_nodes() == 1);
  ExpectError<fastmeta::ParseError>(a + Groups(100), saved);
  CHECK(ok(Meta(Node("a") + Groups(99)))->num_nodes() == 1);
  ExpectError<fastmeta::ParseError>(Meta(Node("a") + Groups(100)));
  CHECK(ok(Meta(Node("a", "NoOp", {}, Groups(98))))->num_nodes() == 1);
  CHECK(Contains(ExpectError<fastmeta::ParseError>(Meta(Node("a", "NoOp", {}, Groups(99)))), "nested too deeply"));
  CHECK(ok(Meta(Node("a", "NoOp", {}, Groups(97))), saved)->num_nodes() == 1);
  ExpectError<fastmeta::ParseError>(Meta(Node("a", "NoOp", {}, Groups(98))), saved);
  // An attr's value at depth 4 (5 in a SavedModel): 96 levels of groups in it.
  const std::string attr96 = Bytes(5, Bytes(1, "k") + Bytes(2, Groups(96)));
  CHECK(ok(Meta(Node("a", "NoOp", {}, attr96)))->num_nodes() == 1);
  ExpectError<fastmeta::ParseError>(Meta(Node("a", "NoOp", {}, attr96)), saved);
  // An OpDef in the stripped_op_list lies at depth 3: 97 levels.
  const std::string op_groups = Bytes(1, Bytes(2, Bytes(1, Bytes(1, "MyOp") + Groups(97))));
  CHECK(ok(op_groups + a)->num_nodes() == 1);
  ExpectError<fastmeta::ParseError>(op_groups + a, saved);
  // The rest of the meta graph (MetaGraphRestParts) at the depth it is given.
  CHECK(fastmeta::MetaGraphRestParts(a + Groups(100)).size() == 1);
  bool refused = false;
  try {
    fastmeta::MetaGraphRestParts(a + Groups(100), 1);
  } catch (const fastmeta::ParseError&) {
    refused = true;
  }
  CHECK(refused);
}

// Attr values, experimental_debug_info and experimental_type are copied through
// unparsed but checked as protobuf parses them (tests/test_attr_wire_vs_protobuf.py
// compares with protobuf itself): one input per kind of refusal, and encodings it
// accepts.
void TestCopiedThroughFieldsChecked() {
  auto attr = [](const std::string& value) { return Bytes(5, Bytes(1, "foo") + Bytes(2, value)); };
  auto func = [](int levels) {  // AttrValue.func -> NameAttrList.attr -> ... `levels` AttrValues
    std::string v = VarintField(3, 1);
    for (int i = 1; i < levels; ++i) v = Bytes(10, Bytes(1, "f") + Bytes(2, Bytes(1, "k") + Bytes(2, v)));
    return v;
  };
  auto refused = [](const std::string& extra, const std::string& what) {
    const std::string data = Meta(Node("c", "NoOp", {}, extra));
    const std::string msg = ExpectError<fastmeta::ParseError>(data);
    if (!Contains(msg, "Node 'c': malformed NodeDef: ") || !Contains(msg, what) || !Contains(msg, "byte offset")) {
      std::fprintf(stderr, "unexpected message: %s\n", msg.c_str());
      std::abort();
    }
  };
  auto accepted = [](const std::string& extra) {
    auto g = fastmeta::RewriteMetaGraph(Meta(Node("c", "NoOp", {}, extra)), Opts());
    CHECK(g->num_nodes() == 1);
  };
  refused(attr("\x0a\x05\x01"), "attr 'foo' value: length prefix runs past the end");
  refused(attr(Bytes(1,
                     "\x12\x05"
                     "ab")),
          "length prefix");  // inside the ListValue
  refused(attr(Bytes(7, Bytes(2, Bytes(2, "\xff")))), "TensorShapeProto.Dim.name is not valid UTF-8");
  refused(attr(Bytes(10, Bytes(1, "\xc0\x80"))), "NameAttrList.name is not valid UTF-8");
  refused(attr(std::string("\x00\x01", 2)), "invalid field number 0");
  refused(attr("\x0e"), "invalid wire type");
  refused(attr("\x7b\x08\x01"), "unterminated group");
  refused(attr("\x7b\x84\x01"), "end-group tag of another group");
  refused(attr("\x7c"), "end-group tag outside a group");
  refused(attr("\x18" + std::string(10, '\xff') + "\x01"), "overlong varint");
  refused(attr("\xf8\xff\xff\xff\x1f\x00"), "field tag");  // a tag past 2^32
  refused(attr(std::string("\x25\x00\x00", 3)), "truncated fixed-size field");
  refused(attr(Bytes(1, Bytes(3, "\x01\x82"))), "packed field ends inside a value");
  refused(attr(Bytes(1, Bytes(4, std::string(3, '\0')))), "packed field ends inside a value");
  refused(attr(func(34)), "nested deeper than protobuf's limit");
  refused(attr(std::string(97, '\x7b') + std::string(97, '\x7c')), "nested deeper");
  refused(Bytes(6, Bytes(1, "\xff")), "experimental_debug_info: ExperimentalDebugInfo.original_node_names");
  refused(Bytes(7, Bytes(2, Bytes(3, "\xff"))), "experimental_type: FullTypeDef.s is not valid UTF-8");
  accepted(attr(Bytes(2, "\xff\xfe")));                               // AttrValue.s: bytes
  accepted(attr(Bytes(8, Bytes(8, "\xff"))));                         // TensorProto.string_val: bytes
  accepted(attr(VarintField(2, 5)));                                  // s as a varint: an unknown field
  accepted(attr(Bytes(7, Bytes(2, Bytes(1, "\x01")))));               // Dim.size as bytes: unknown
  accepted(attr(Bytes(1, Bytes(3, "\x01\x96\x01"))));                 // packed ints
  accepted(attr(Bytes(1, VarintField(3, 1) + VarintField(3, 150))));  // unpacked
  accepted(attr("\x7b\x08\x01\x7c"));                                 // a group
  accepted(attr(std::string("\x7b\x00\x01\x7c", 4)));                 // field 0 inside a group
  accepted(attr("\x18" + std::string(9, '\xff') + "\x7f"));           // a 10-byte varint
  accepted(attr(Bytes(10, Bytes(2, ""))));                            // a map entry without key or value
  accepted(attr(func(33)));
  accepted(attr(std::string(96, '\x7b') + std::string(96, '\x7c')));
  accepted(Bytes(6, Bytes(1, "a") + Bytes(2, "f")) + Bytes(7, VarintField(1, 1)));
  // The offset is the bad bytes' place in the file, the node named though its name comes after.
  const std::string bad = Bytes(5, Bytes(1, "k") + Bytes(2, Bytes(7, Bytes(2, Bytes(2, "n\xff")))));
  const std::string data = Meta(Bytes(1, Bytes(2, "NoOp") + bad + Bytes(1, "late")));
  const std::string msg = ExpectError<fastmeta::ParseError>(data);
  CHECK(Contains(msg, "Node 'late'") && Contains(msg, "attr 'k' value"));
  CHECK(Contains(msg, "byte offset " + std::to_string(data.find("n\xff"))));
  // A GraphDef alone is the root protobuf parses: its nodes lie a level higher.
  // A GraphDef alone is the root protobuf parses: its nodes lie a level higher (groups
  // nested 97 deep in an attr value: too deep in a MetaGraphDef, not in a GraphDef).
  auto groups = [](int levels) {
    return Node("c", "NoOp", {},
                Bytes(5, Bytes(1, "foo") + Bytes(2, std::string(levels, '\x7b') + std::string(levels, '\x7c'))));
  };
  CHECK(fastmeta::RewriteGraphDef(groups(97), "", Opts())->num_nodes() == 1);
  bool threw = false;
  try {
    fastmeta::RewriteGraphDef(groups(98), "", Opts());
  } catch (const fastmeta::ParseError&) {
    threw = true;
  }
  CHECK(threw);
}

// GraphDef.debug_info is dropped, but checked as protobuf parses it (a GraphDebugInfo:
// proto2, so its strings are bytes): the offset is the bad bytes' place in the file.
void TestGraphDebugInfoChecked() {
  const std::string nodes = Node("a", "NoOp");
  // (`at`: where in `debug_info` the problem is reported)
  auto refused = [&](const std::string& debug_info, const std::string& what, size_t at) {
    const std::string data = Meta(nodes + Bytes(5, debug_info));
    const std::string msg = ExpectError<fastmeta::ParseError>(data);
    const size_t offset = data.size() - debug_info.size() + at;
    if (!Contains(msg, "malformed GraphDef.debug_info: ") || !Contains(msg, what) ||
        !Contains(msg, "(at byte offset " + std::to_string(offset) + ")")) {
      std::fprintf(stderr, "unexpected message: %s\n", msg.c_str());
      std::abort();
    }
    bool threw = false;  // (a bare GraphDef: the same check)
    try {
      fastmeta::RewriteGraphDef(nodes + Bytes(5, debug_info), "", Opts());
    } catch (const fastmeta::ParseError&) {
      threw = true;
    }
    CHECK(threw);
  };
  auto accepted = [&](const std::string& debug_info) {
    auto g = fastmeta::RewriteMetaGraph(Meta(nodes + Bytes(5, debug_info)), Opts());
    CHECK(g->num_nodes() == 1);
    CHECK(g->graph_tail().empty());  // (dropped)
  };
  const std::string frame = Bytes(1, VarintField(1, 0) + VarintField(2, 3));
  refused(
      "\x0a\x05"
      "ab",
      "length prefix runs past the end", 1);
  refused(Bytes(1, "f") + "\x0f", "invalid wire type", 3);
  // traces {value {file_line_cols {file_index: <truncated>}} key: "n"}: the value's place
  refused(Bytes(2, Bytes(2, Bytes(1, "\x08")) + Bytes(1, "n")), "truncated or overlong varint", 7);
  // traces {value {frame_id: <3 bytes, packed>}}
  refused(Bytes(2, Bytes(2, Bytes(2, std::string(3, '\0')))), "packed field ends inside a value", 4);
  // frames_by_id {key: <2 of 8 bytes>}
  refused(Bytes(4, std::string("\x09\x01\x02", 3)), "truncated fixed-size field", 3);
  accepted(Bytes(1, "a.py") + Bytes(2, Bytes(1, "n") + Bytes(2, frame)));
  accepted(Bytes(1, "\xff\xfe"));                                                     // proto2: not checked
  accepted(Bytes(4, "\x09" + std::string(8, '\x01') + Bytes(2, VarintField(2, 7))));  // frames_by_id
  accepted(Bytes(5, Bytes(1, "n") + "\x11" + std::string(8, '\x02')));                // name_to_trace_id
  accepted(VarintField(1, 3));  // files as a varint: an unknown field
  accepted("");
}

void TestUnknownFieldsPreserved() {
  const std::string node_extra = Bytes(99, "zz") + VarintField(98, 7);
  const std::string top_extra = VarintField(77, 5);
  auto g = fastmeta::RewriteMetaGraph(Meta(Node("a", "NoOp", {}, node_extra), top_extra), Opts("p"));
  CHECK(Contains(g->graph_def(), node_extra));
  CHECK(Contains(std::string(g->meta_rest()), top_extra));
}

void TestGraphErrors() {
  std::string msg = ExpectError<fastmeta::GraphError>(Meta(Node("a") + Node("a")));
  CHECK(Contains(msg, "Duplicate node name") && Contains(msg, "'a'"));
  msg = ExpectError<fastmeta::GraphError>(Meta(Node("a", "NoOp", {"zz:1"})));
  CHECK(Contains(msg, "Unknown input node 'zz:1'"));
  msg = ExpectError<fastmeta::GraphError>(Meta(Node("a", "NoOp", {"^b"}) + Node("b", "NoOp", {"^a"})));
  CHECK(Contains(msg, "cycle"));
  ExpectError<fastmeta::GraphError>(Meta(Node("a", "NoOp", {"^a"})));
  ExpectError<fastmeta::GraphError>(Meta(Node("a", "Identity", {"^a", "a"})));  // control before data
  for (const char* bad : {"", "_a", "-a", "a b", "a\\b", "a:0", "a>", "a>_b", "a$", "^a"}) {
    msg = ExpectError<fastmeta::GraphError>(Meta(Node(bad)));
    CHECK(Contains(msg, "invalid node name") && Contains(msg, "byte offset"));
  }
  for (const char* ok : {"a>b", ".a", "0", "a/b/c", "a-b_c.d", "a//b"}) {
    CHECK(fastmeta::RewriteMetaGraph(Meta(Node(ok)), Opts())->num_nodes() == 1);
  }
  ExpectError<fastmeta::GraphError>(Meta(Node("a", "")));  // no op
  ExpectError<fastmeta::GraphError>(Meta(Node("a", "NoOp", {"a:99999999999"})));
  std::string cls = Bytes(5, Bytes(1, "_class") + Bytes(2, Bytes(1, Bytes(2, "loc:@nowhere"))));
  CHECK(Contains(ExpectError<fastmeta::GraphError>(Meta(Node("a", "NoOp", {}, cls))), "unknown node 'nowhere'"));
  ExpectError<fastmeta::GraphError>(Meta(Node("a", "NoOp", {}, Bytes(4, "/bogus:0"))));  // device
}

void TestScopes() {
  // Regex metacharacters TF's name rules allow are plain characters here.
  for (const char* scope : {"a.b", "a>b", "a-b", ".", "a//b", "1"}) {
    auto g = fastmeta::RewriteMetaGraph(Meta(Node("x") + Node("y", "NoOp", {"^x"})), Opts(scope));
    CHECK(g->name(0) == std::string(scope) + "/x");
  }
  // Scopes that would make names TF refuses (a backslash passes TF's scope regex).
  for (const char* scope : {"a\\b", "a\\1", "a b", "_a", "a>", "a$", "a(", "a*"}) {
    CHECK(
        Contains(ExpectError<fastmeta::GraphError>(Meta(Node("x")), Opts(scope)), "would lead to invalid node names"));
  }
}

void TestInputMapErrors() {
  const std::string data = Meta(Node("a") + Node("b", "Identity", {"a", "^a"}));
  auto o = Opts();
  o.input_map = {{"zz", "y:0"}};
  CHECK(Contains(ExpectError<fastmeta::InputMapError>(data, o), "zz:0"));
  o.input_map = {{"a", "^y"}};
  ExpectError<fastmeta::InputMapError>(data, o);
  // Two spellings of one key: the later wins (TensorFlow's map assignment).
  o.input_map = {{"a", "y"}, {"a:0", "z"}};
  CHECK(Contains(fastmeta::RewriteMetaGraph(data, o)->graph_def(), "\x1a\x01z"));
  // A key no input uses is fine when its node is in the GraphDef (TensorFlow's rule).
  o.input_map = {{"^b", "^y"}, {"b", "y:0"}};
  CHECK(fastmeta::RewriteMetaGraph(data, o)->num_nodes() == 2);
  o.input_map = {{"", "y"}};
  ExpectError<fastmeta::InputMapError>(data, o);
  o.input_map = {{"a", "y:1"}, {"^a", "^c"}};
  auto g = fastmeta::RewriteMetaGraph(data, o);
  CHECK(Contains(g->graph_def(), "y:1") && Contains(g->graph_def(), "^c"));
}

void TestExistingClash() {
  // TensorFlow's rename of clashing names ignores the scope and gives two imported
  // nodes the same name (observed with TF 2.21); fastmeta refuses.
  const std::string data = Meta(Node("Const") + Node("Const_1"));
  fastmeta::NameSet names;
  names.Add("imp/Const");
  auto o = Opts("imp");
  o.existing.push_back(&names);
  CHECK(Contains(ExpectError<fastmeta::GraphError>(data, o), "'imp/Const_1'"));
  // Without the collision the rename is as TF's.
  fastmeta::NameSet names2;
  names2.Add("imp/Const_1");
  auto o2 = Opts("imp");
  o2.existing.push_back(&names2);
  auto g = fastmeta::RewriteMetaGraph(data, o2);
  CHECK(g->name(0) == "imp/Const" && g->name(1) == "imp/Const_1_1");
}

std::vector<std::string> InputsOf(const fastmeta::RewrittenGraph& g, size_t i) {
  const std::string_view node = g.node_def(i);
  fastmeta::wire::Reader r(node, node.data(), 2);
  fastmeta::wire::Field f;
  std::vector<std::string> out;
  while (r.Next(f)) {
    if (f.number == 3) out.emplace_back(f.data);
  }
  return out;
}

// keep_input_spelling: the inputs as the file spells them (TensorFlow's importer keeps
// that in its NodeDefs), renamed sources as "name:index"; by default as TensorFlow's
// graph renders them from its edges. The edges are the same either way.
void TestInputSpelling() {
  const std::string data =
      Meta(Node("x") + Node("b") + Node("a") + Node("u", "Unique", {"x:0"}) +
           Node("y", "Identity", {"u:1", "^b", "^a", "^b"}) + Node("z", "AddV2", {"x:0", "u", "^y"}));
  fastmeta::NameSet clash;
  clash.Add("x");
  clash.Add("b");
  for (int variant = 0; variant < 3; ++variant) {
    auto plain = Opts(variant == 1 ? "imp" : "");
    if (variant == 2) plain.existing.push_back(&clash);
    auto spelled = plain;
    spelled.keep_input_spelling = true;
    auto g = fastmeta::RewriteMetaGraph(data, plain);
    auto h = fastmeta::RewriteMetaGraph(data, spelled);
    CHECK(g->num_nodes() == 6 && h->num_nodes() == 6);
    for (size_t i = 0; i < 6; ++i) {
      CHECK(g->name(i) == h->name(i) && g->node(i).edge_count == h->node(i).edge_count);
      for (uint32_t k = 0; k < g->node(i).edge_count; ++k) {
        CHECK(g->edges(i)[k].src == h->edges(i)[k].src && g->edges(i)[k].index == h->edges(i)[k].index);
      }
    }
    const std::string p = variant == 1 ? "imp/" : "";
    const std::string x = variant == 2 ? "x_1" : p + "x", b = variant == 2 ? "b_1" : p + "b";
    using V = std::vector<std::string>;
    CHECK(InputsOf(*g, 3) == V{x});
    CHECK(InputsOf(*g, 4) == (V{p + "u:1", "^" + p + "a", "^" + b}));
    CHECK(InputsOf(*g, 5) == (V{x, p + "u", "^" + p + "y"}));
    CHECK(InputsOf(*h, 3) == V{variant == 2 ? "x_1:0" : p + "x:0"});
    CHECK(InputsOf(*h, 4) == (V{p + "u:1", "^" + b, "^" + p + "a", "^" + b}));
    CHECK(InputsOf(*h, 5) == (V{variant == 2 ? "x_1:0" : p + "x:0", p + "u", "^" + p + "y"}));
  }
}

void TestConsumers() {
  auto o = Opts("imp");
  o.input_map = {{"b:0", "ext:2"}};
  auto g = fastmeta::RewriteMetaGraph(
      Meta(Node("x") + Node("b") + Node("u", "Unique", {"x:0"}) + Node("y", "Identity", {"u:1", "^x"}) +
           Node("z", "AddV2", {"x", "x:0", "^y"}) + Node("w", "Identity", {"b:0"})),
      o);
  auto at = [&](const char* name) { return static_cast<int32_t>(g->Find(std::string("imp/") + name)); };
  using V = std::vector<uint32_t>;
  auto idx = [&](std::initializer_list<const char*> names) {
    V out;
    for (const char* n : names) out.push_back(static_cast<uint32_t>(at(n)));
    return out;
  };
  CHECK(g->external() == std::vector<std::string>{"ext"});
  CHECK(g->Consumers(at("x"), 0) == idx({"u", "z", "z"}));  // one entry per edge
  CHECK(g->Consumers(at("x"), -1) == idx({"y"}));
  CHECK(g->Consumers(at("x"), 1).empty());
  CHECK(g->Consumers(at("u"), 1) == idx({"y"}) && g->Consumers(at("u"), 0).empty());
  CHECK(g->Consumers(at("y"), -1) == idx({"z"}));
  CHECK(g->Consumers(at("b"), 0).empty());  // mapped away
  CHECK(g->Consumers(-1, 2) == idx({"w"}) && g->Consumers(-1, 0).empty());
  CHECK(g->Consumers(-2, 0).empty() && g->Consumers(static_cast<int32_t>(g->num_nodes()), 0).empty());
}

void TestCollectedOutputShapes() {
  // _output_shapes entries dropped from the NodeDefs are kept aside when asked, on the
  // writer's fast path (a) and its general path (b: a repeated attr key).
  const std::string shapes_a =
      Bytes(5, Bytes(1, "_output_shapes") + Bytes(2, Bytes(1, Bytes(7, Bytes(2, VarintField(1, 3))))));
  const std::string shapes_b = Bytes(5, Bytes(1, "_output_shapes") + Bytes(2, Bytes(1, Bytes(7, ""))));
  const std::string t = Bytes(5, Bytes(1, "T") + Bytes(2, VarintField(6, 1)));
  std::string nodes = Node("a", "Const", {}, shapes_a) + Node("b", "Identity", {"a"}, t + shapes_b + t) + Node("c");
  for (int i = 0; i < 5000; ++i) nodes += Node("n" + std::to_string(i), "Identity", {"a"}, shapes_a);  // several parts
  for (unsigned threads : {1u, 4u}) {
    auto o = Opts("imp");
    o.threads = threads;
    o.collect_output_shapes = true;
    auto g = fastmeta::RewriteMetaGraph(Meta(nodes), o);
    CHECK(g->output_shapes(static_cast<size_t>(g->Find("imp/a"))) == shapes_a);
    CHECK(g->output_shapes(static_cast<size_t>(g->Find("imp/b"))) == shapes_b);
    CHECK(g->output_shapes(static_cast<size_t>(g->Find("imp/c"))).empty());
    CHECK(g->output_shapes(static_cast<size_t>(g->Find("imp/n4999"))) == shapes_a);
    if (threads == 1) {  // one part: a repeated entry is stored once
      CHECK(g->output_shapes(static_cast<size_t>(g->Find("imp/n4999"))).data() ==
            g->output_shapes(static_cast<size_t>(g->Find("imp/a"))).data());
    }
    CHECK(!Contains(g->graph_def(), "_output_shapes"));
    o.collect_output_shapes = false;
    auto plain = fastmeta::RewriteMetaGraph(Meta(nodes), o);
    CHECK(plain->graph_def() == g->graph_def() && plain->output_shapes(0).empty());
    o.collect_output_shapes = true;
    o.keep_output_shapes = true;  // kept in the NodeDefs: nothing aside
    auto kept = fastmeta::RewriteMetaGraph(Meta(nodes), o);
    CHECK(Contains(kept->graph_def(), shapes_a) && kept->output_shapes(0).empty());
  }
}

// Options of the export tests' rewrites: shapes collected, the made-up ops unchecked.
fastmeta::RewriteOptions ExportTestOpts() {
  auto o = Opts();
  o.collect_output_shapes = true;
  o.check_signatures = false;
  o.check_types = false;
  return o;
}

// The expected entry of node `name` in a test's (name, entry) list ("-": the caller's).
const std::string& Wanted(const std::vector<std::pair<std::string, std::string>>& want, std::string_view name) {
  auto it = std::find_if(want.begin(), want.end(), [&](const auto& w) { return w.first == name; });
  CHECK(it != want.end());
  return it->second;
}

void TestExportNodes() {
  // Each node as export_meta_graph writes it: its NodeDef and the _output_shapes entry
  // its op's rule gives it, or left to the caller.
  auto shape = [](int64_t d) { return Bytes(7, Bytes(2, VarintField(1, static_cast<uint64_t>(d)))); };
  const std::string unknown = Bytes(7, VarintField(3, 1));
  auto entry = [](const std::string& list) { return Bytes(5, Bytes(1, "_output_shapes") + Bytes(2, Bytes(1, list))); };
  const std::string odd = Bytes(5, Bytes(1, "_output_shapes") + Bytes(2, Bytes(1, shape(1)) + VarintField(3, 4)));
  std::string nodes =
      Node("a", "Const", {}, entry(shape(3))) + Node("b", "Identity", {"a"}) + Node("c", "Identity", {"b", "^d"}) +
      Node("d", "NoOp", {}, entry(shape(5))) + Node("e", "Two", {}, entry(shape(6))) +
      Node("f", "Two", {}, entry(shape(7) + shape(8) + shape(9))) + Node("g", "Var") + Node("h", "Identity", {"g"}) +
      Node("i", "Mystery", {}, entry(shape(2))) + Node("j", "Mystery") + Node("k", "Two", {}, odd) +
      Node("l", "Identity", {"m:1"}) + Node("m", "Two", {}, entry(shape(4))) + Node("n", "Identity") +
      Node("o", "Identity", {"p"}) + Node("p", "Pair", {}, entry(shape(1) + shape(2)));
  auto o = ExportTestOpts();
  auto g = fastmeta::RewriteMetaGraph(Meta(nodes), o);
  using Rule = fastmeta::ExportOpRule;
  auto rule = [](int32_t outputs, Rule::Missing missing) {
    Rule r;
    r.outputs = outputs;
    r.missing = missing;
    return r;
  };
  std::vector<std::pair<std::string, Rule>> rules = {
      {"Const", rule(1, Rule::Missing::kByCaller)},
      {"Identity", rule(1, Rule::Missing::kInput0)},
      {"NoOp", rule(0, Rule::Missing::kUnknown)},
      {"Two", rule(2, Rule::Missing::kUnknown)},
      {"Mystery", rule(Rule::kOutputsNotKnown, Rule::Missing::kUnknown)},
      {"Pair", rule(Rule::kOutputsByCaller, Rule::Missing::kUnknown)},
  };  // (no rule for Var)
  // name -> the _output_shapes entry expected ("-": the node is left to the caller)
  const std::vector<std::pair<std::string, std::string>> want = {
      {"a", entry(shape(3))},
      {"b", entry(shape(3))},             // a's, through its input
      {"c", entry(shape(3))},             // through two
      {"d", ""},                          // no outputs: none, whatever was recorded
      {"e", entry(shape(6) + unknown)},   // padded
      {"f", entry(shape(7) + shape(8))},  // cut to the outputs
      {"g", "-"},                         // no rule
      {"h", "-"},                         // its input's shape is the caller's
      {"i", entry(shape(2))},             // no OpDef: as recorded
      {"j", ""},
      {"k", "-"},             // an entry holding more than shapes
      {"l", entry(unknown)},  // m:1 recorded none; Two's missing are unknown
      {"m", entry(shape(4) + unknown)},
      {"n", entry(unknown)},   // no data input
      {"o", entry(shape(1))},  // p's output 0 (p itself the caller's)
      {"p", "-"},
  };
  const fastmeta::ExportedNodes out = fastmeta::ExportNodes(*g, rules);
  std::string expected;
  std::vector<uint32_t> left;
  std::vector<uint64_t> left_at;
  for (size_t i = 0; i < g->num_nodes(); ++i) {
    const std::string& wanted = Wanted(want, g->name(i));
    if (wanted == "-") {
      left.push_back(static_cast<uint32_t>(i));
      left_at.push_back(expected.size());
      continue;
    }
    const std::string node(g->node_def(i));
    // The recorded entry was dropped from the node's bytes; the attr is appended.
    CHECK(!Contains(node, "_output_shapes"));
    expected += Bytes(1, node + wanted);
  }
  CHECK(out.Joined() == expected);
  CHECK(out.left == left && out.left_at == left_at);
  // Written spliced, not re-encoded: a recorded entry's bytes are there as they were.
  CHECK(Contains(out.Joined(), entry(shape(3))));

  // A graph rewritten without collecting shapes: every node with outputs is padded.
  o.collect_output_shapes = false;
  auto plain = fastmeta::RewriteMetaGraph(Meta(Node("x", "Two") + Node("y", "Identity", {"x:1"})), o);
  const fastmeta::ExportedNodes out2 = fastmeta::ExportNodes(*plain, rules);
  CHECK(out2.left.empty());
  CHECK(out2.Joined() == Bytes(1, std::string(plain->node_def(0)) + entry(unknown + unknown)) +
                             Bytes(1, std::string(plain->node_def(1)) + entry(unknown)));
}

void TestExportCountedByAttrs() {
  // Ops whose output count is an attr (ShapeN's N, IdentityN's T): counted from each
  // node's attr entries; a missing attr: the recorded shapes as they are; an attr
  // spelled otherwise than as its one field, or twice: the node is the caller's.
  auto shape = [](int64_t d) { return Bytes(7, Bytes(2, VarintField(1, static_cast<uint64_t>(d)))); };
  const std::string unknown = Bytes(7, VarintField(3, 1));
  auto entry = [](const std::string& list) { return Bytes(5, Bytes(1, "_output_shapes") + Bytes(2, Bytes(1, list))); };
  auto attr = [](const std::string& key, const std::string& value) {
    return Bytes(5, Bytes(1, key) + Bytes(2, value));
  };
  const std::string type = attr("T", VarintField(6, 1));
  const std::string n3 = attr("N", VarintField(3, 3));
  const std::string packed = Bytes(1, Bytes(6, std::string("\x01\x03", 2)));  // list.type [1, 3] packed
  const std::string unpacked = Bytes(1, VarintField(6, 1) + VarintField(6, 3) + VarintField(6, 9));
  const std::string nodes =
      Node("a", "ShapeN", {}, n3 + type + entry(shape(1))) +  // padded to 3
      Node("b", "ShapeN", {},
           type + attr("N", std::string("\x18\x82\x00", 3)) +                             // 2, overlong
               entry(shape(1) + shape(2) + shape(3))) +                                   // cut to 2
      Node("c", "ShapeN", {}, n3 + entry(shape(4))) +                                     // no T: as recorded
      Node("d", "ShapeN", {}, type + entry(shape(5))) +                                   // no N: as recorded
      Node("e", "ShapeN", {}, type + attr("N", VarintField(3, 1) + VarintField(3, 2))) +  // left
      Node("f", "ShapeN", {}, type + attr("N", VarintField(3, 5)) + n3) +  // twice (the rewrite keeps the last)
      Node("g", "ShapeN", {}, type + attr("N", VarintField(3, static_cast<uint64_t>(-2)))) +  // left (negative)
      Node("h", "IdentityN", {}, attr("T", packed) + entry(shape(6))) +
      Node("i", "IdentityN", {}, attr("T", unpacked)) +
      Node("j", "IdentityN", {}, attr("T", Bytes(1, VarintField(6, 1) + VarintField(3, 1)))) +  // left
      Node("k", "ShapeN", {}, type + attr("N", VarintField(2, 3)));                             // left (not i)
  auto o = ExportTestOpts();
  auto g = fastmeta::RewriteMetaGraph(Meta(nodes), o);
  using Rule = fastmeta::ExportOpRule;
  Rule shape_n;
  shape_n.outputs = Rule::kOutputsByAttrs;
  shape_n.missing = Rule::Missing::kUnknown;
  shape_n.output_args = {{"N", "", "T"}};
  Rule identity_n = shape_n;
  identity_n.output_args = {{"", "T", ""}, {"", "", ""}};  // (the second: one output of a fixed type)
  const std::vector<std::pair<std::string, Rule>> rules = {{"ShapeN", shape_n}, {"IdentityN", identity_n}};
  const std::vector<std::pair<std::string, std::string>> want = {
      {"a", entry(shape(1) + unknown + unknown)},
      {"b", entry(shape(1) + shape(2))},
      {"c", entry(shape(4))},
      {"d", entry(shape(5))},
      {"e", "-"},
      {"f", entry(unknown + unknown + unknown)},
      {"g", "-"},
      {"h", entry(shape(6) + unknown + unknown)},
      {"i", entry(unknown + unknown + unknown + unknown)},
      {"j", "-"},
      {"k", "-"},
  };
  const fastmeta::ExportedNodes out = fastmeta::ExportNodes(*g, rules);
  std::string expected;
  std::vector<uint32_t> left;
  for (size_t i = 0; i < g->num_nodes(); ++i) {
    const std::string& wanted = Wanted(want, g->name(i));
    if (wanted == "-") {
      left.push_back(static_cast<uint32_t>(i));
      continue;
    }
    expected += Bytes(1, std::string(g->node_def(i)) + wanted);
  }
  CHECK(out.Joined() == expected);
  CHECK(out.left == left);
}

void TestExportOptions() {
  // clear_devices and strip_default_attrs: devices and default-valued attr entries
  // dropped from the bytes, the rest copied; nodes the message route would change
  // otherwise (or that cannot be decided from the bytes) left to the caller.
  auto attr = [](const std::string& key, const std::string& value) {
    return Bytes(5, Bytes(1, key) + Bytes(2, value));
  };
  const std::string dev = Bytes(4, "/cpu:0");
  const std::string deflt = VarintField(3, 1);                  // AttrValue{i: 1}
  const std::string other = VarintField(3, 2);                  // AttrValue{i: 2}
  const std::string overlong = std::string("\x18\x81\x00", 3);  // i: 1 spelled in two bytes
  const std::string class_list = Bytes(1, Bytes(2, "loc:@a"));  // AttrValue{list{s}}
  const std::string class_s = Bytes(2, "loc:@a");               // AttrValue{s}: rewritten as a list
  const std::string frame = Bytes(2, "fr");
  const std::string frame_odd = Bytes(2, "fr") + VarintField(3, 1);  // (s, then i: the oneof's i)
  const std::string nodes =
      Node("a", "Conv", {}, dev + attr("x", deflt) + attr("y", other) + attr("z", overlong)) +
      Node("b", "Conv", {}, attr("x", deflt) + attr("x", other)) +  // (the rewrite keeps the last)
      Node("c", "Conv", {}, Bytes(5, Bytes(1, "y") + Bytes(2, other) + VarintField(3, 1))) +  // not plain: left
      Node("d", "NoOp", {}, dev + attr("_class", class_list) + attr("x", deflt)) +
      Node("e", "NoOp", {}, attr("_class", class_s)) +  // left (clear_devices)
      Node("f", "Enter", {}, attr("frame_name", frame)) +
      Node("g", "Enter", {}, attr("frame_name", frame_odd)) +  // left (clear_devices)
      Node("h", "Conv", {}, attr("y", deflt));                 // y: no default
  auto o = Opts();
  o.check_signatures = false;
  o.check_types = false;
  auto g = fastmeta::RewriteMetaGraph(Meta(nodes), o);
  using Rule = fastmeta::ExportOpRule;
  Rule none;
  none.outputs = 0;
  const std::vector<std::pair<std::string, Rule>> rules = {{"Conv", none}, {"NoOp", none}, {"Enter", none}};

  // The distinct values of the attrs asked for, in the order met.
  const auto values = fastmeta::AttrValues(*g, {{"Conv", {"x", "z"}}, {"Nope", {"x"}}});
  CHECK(values.size() == 3);
  CHECK(values[0].op == "Conv" && values[0].attr == "x" && values[1].attr == "z" && values[2].op == "Nope");
  CHECK(values[0].values == (std::vector<std::string_view>{deflt, other}));
  CHECK(!Contains(std::string(g->node_def(1)), attr("x", deflt)));
  CHECK(values[1].values == (std::vector<std::string_view>{overlong}) && values[2].values.empty());

  auto without = [](std::string node, const std::vector<std::string>& fields) {
    for (const std::string& f : fields) {
      const size_t at = node.find(f);
      CHECK(at != std::string::npos);
      node.erase(at, f.size());
    }
    return node;
  };
  auto run = [&](bool clear, bool strip, const std::vector<std::string>& want_left) {
    fastmeta::ExportOptions options;
    options.clear_devices = clear;
    if (strip) options.strip = {{"Conv", "x", {deflt}}, {"Conv", "z", {overlong}}, {"NoOp", "x", {deflt}}};
    const fastmeta::ExportedNodes out = fastmeta::ExportNodes(*g, rules, options);
    std::string expected;
    std::vector<uint32_t> left;
    for (size_t i = 0; i < g->num_nodes(); ++i) {
      const std::string name(g->name(i));
      if (std::find(want_left.begin(), want_left.end(), name) != want_left.end()) {
        left.push_back(static_cast<uint32_t>(i));
        continue;
      }
      std::vector<std::string> dropped;
      const std::string node(g->node_def(i));
      if (clear && !g->device(i).empty()) dropped.push_back(Bytes(4, std::string(g->device(i))));
      if (strip && name == "a") dropped.insert(dropped.end(), {attr("x", deflt), attr("z", overlong)});
      if (strip && name == "d") dropped.push_back(attr("x", deflt));
      expected += Bytes(1, without(node, dropped));
    }
    CHECK(out.Joined() == expected);
    CHECK(out.left == left);
  };
  CHECK(!g->device(0).empty());
  run(false, false, {});
  run(true, false, {"c", "e", "g"});
  run(false, true, {"c"});
  run(true, true, {"c", "e", "g"});
}

void TestExportThreadsAndCheck() {
  // ExportNodes on several threads: ranges joined in node order, the same bytes, left
  // nodes and offsets for any count (Identity chains crossing ranges, nodes left in
  // every range); its check says the bytes surely parse.
  auto shape = [](int64_t d) { return Bytes(7, Bytes(2, VarintField(1, static_cast<uint64_t>(d)))); };
  auto entry = [](const std::string& list) { return Bytes(5, Bytes(1, "_output_shapes") + Bytes(2, Bytes(1, list))); };
  std::string nodes;
  for (int i = 0; i < 30000; ++i) {
    const std::string name = "n" + std::to_string(i);
    if (i % 997 == 0)
      nodes += Node(name, "Var");
    else if (i % 5 == 0)
      nodes += Node(name, "Const", {}, entry(shape(i)));
    else
      nodes += Node(name, "Identity", {"n" + std::to_string(i - 1)});
  }
  auto o = ExportTestOpts();
  auto g = fastmeta::RewriteMetaGraph(Meta(nodes), o);
  using Rule = fastmeta::ExportOpRule;
  std::vector<std::pair<std::string, Rule>> rules(2);
  rules[0].first = "Const";
  rules[0].second.outputs = 1;
  rules[1].first = "Identity";
  rules[1].second.outputs = 1;
  rules[1].second.missing = Rule::Missing::kInput0;
  // GraphDef (0): node (1) NodeDef (1): name 1, op 2, input 3, device 4 strings, attr 5
  // entry (2): key 1 string, value 2 AttrValue (3): list 1 (4): shape 7 (5): dim 2 (6):
  // size 1, name 2; unknown_rank 3.
  fastmeta::WireSchema schema;
  using W = fastmeta::WireSchema;
  schema.messages.resize(7);
  schema.messages[0] = {{}, {W::kMessage, true, 1}};
  schema.messages[1] = {{}, {W::kString}, {W::kString}, {W::kString, true}, {W::kString}, {W::kMessage, true, 2}};
  schema.messages[2] = {{}, {W::kString}, {W::kMessage, false, 3}};
  schema.messages[3] = {{}, {W::kMessage, false, 4}};
  schema.messages[4] = {{}, {}, {}, {W::kVarint, true}, {}, {}, {}, {W::kMessage, true, 5}};
  schema.messages[5] = {{}, {}, {W::kMessage, true, 6}, {W::kVarint}};
  schema.messages[6] = {{}, {W::kVarint}, {W::kString}};
  fastmeta::ExportOptions options;
  options.threads = 1;
  options.check = &schema;
  const fastmeta::ExportedNodes one = fastmeta::ExportNodes(*g, rules, options);
  CHECK(one.surely_parses && one.chunks.size() == 1);
  CHECK(one.left.size() >= 31 && one.left.size() < 200 && one.left_at.size() == one.left.size());
  for (unsigned threads : {2u, 3u, 8u}) {
    options.threads = threads;
    const fastmeta::ExportedNodes many = fastmeta::ExportNodes(*g, rules, options);
    CHECK(many.Joined() == one.Joined() && many.chunks.size() > 1);
    CHECK(many.left == one.left && many.left_at == one.left_at && many.surely_parses);
  }

  // SurelyParses: true only of what a protobuf parser surely accepts.
  const std::string good = Bytes(1, Bytes(1, "a") + Bytes(5, Bytes(1, "k") + Bytes(2, Bytes(1, VarintField(3, 7)))));
  CHECK(fastmeta::SurelyParses(schema, 0, good));
  CHECK(fastmeta::SurelyParses(schema, 0, Bytes(1, Bytes(5, Bytes(2, Bytes(1, Bytes(3, "\x01\x96\x01")))))));
  CHECK(fastmeta::SurelyParses(schema, 0, Bytes(1, VarintField(9, 1) + Bytes(9, "\xff"))));  // unknown fields
  for (size_t n = 0; n < good.size(); ++n) CHECK(!fastmeta::SurelyParses(schema, 0, good.substr(0, n)) || n == 0);
  const std::string refused[] = {
      Bytes(1, Bytes(1, "\xff")),                                               // invalid UTF-8
      Bytes(1, Bytes(2, "\xed\xa0\x80")),                                       // a surrogate
      Bytes(1, Bytes(5, Bytes(1, "\xc0\x80"))),                                 // an overlong map key
      Bytes(1, Bytes(5, Bytes(2, Bytes(1, Bytes(3, "\x80"))))),                 // a packed varint cut
      Bytes(1, VarintField(1, 5)),                                              // name as a varint
      Bytes(1, std::string("\x0b\x0c", 2)),                                     // a group
      std::string("\x0a\x05\x0a\x01", 4),                                       // a length past the end
      std::string("\x02\x00", 2),                                               // field 0
      Bytes(1, std::string("\x0f", 1)),                                         // wire type 7
      Bytes(1, VarintField(19500, 1)),                                          // a reserved number
      Bytes(1, Varint(72) + std::string(10, '\xff') + std::string("\x01", 1)),  // an 11-byte varint
      Bytes(1, Varint(72) + std::string(9, '\xff') + std::string("\x02", 1)),   // a 10th byte past 64 bits
  };
  for (const std::string& r : refused) CHECK(!fastmeta::SurelyParses(schema, 0, r));
  // Nesting deeper than kSurelyParsesDepth: not sure.
  fastmeta::WireSchema nested;
  nested.messages = {{{}, {W::kMessage, false, 0}}};
  std::string deep;
  for (int d = 0; d < fastmeta::kSurelyParsesDepth; ++d) deep = Bytes(1, deep);
  CHECK(fastmeta::SurelyParses(nested, 0, deep));
  CHECK(!fastmeta::SurelyParses(nested, 0, Bytes(1, deep)));
}

// A wire error inside a NodeDef names the node: by its name when it can be read (also
// past the bad field, when where that ends is clear), else by its index.
void TestWireErrorsNameTheNode() {
  std::string groups;
  for (int d = 0; d < 99; ++d) groups = Varint(15 << 3 | 3) + groups + Varint(15 << 3 | 4);
  const std::string op = Bytes(2, "NoOp");
  const std::string a = Node("a");
  std::string e = ExpectError<fastmeta::ParseError>(Meta(a + Bytes(1, Bytes(1, "c") + op + groups)));
  CHECK(Contains(e, "Node 'c': malformed NodeDef: groups nested too deeply (protobuf's limit: 100) (at byte offset "));
  e = ExpectError<fastmeta::ParseError>(Meta(a + Bytes(1, op + groups + Bytes(1, "late"))));
  CHECK(Contains(e, "Node 'late': malformed NodeDef: groups nested too deeply"));
  e = ExpectError<fastmeta::ParseError>(Meta(a + Bytes(1, Bytes(1, "c") + op + std::string("\x4f", 1))));
  CHECK(Contains(e, "Node 'c': malformed NodeDef: invalid wire type 7"));
  e = ExpectError<fastmeta::ParseError>(Meta(a + Bytes(1, op + std::string("\x4f", 1) + Bytes(1, "c"))));
  CHECK(Contains(e, "Node #1 of the GraphDef (its name not readable): malformed NodeDef: invalid wire type 7"));
  e = ExpectError<fastmeta::ParseError>(Meta(a + Bytes(1, Bytes(1, "c") + op + Bytes(4, "\xff"))));
  CHECK(Contains(e, "Node 'c': malformed NodeDef: NodeDef.device is not valid UTF-8"));
  // A length past the node's end: the name before it is read; the offset is the length's.
  const std::string bad = Meta(a + Bytes(1, Bytes(1, "c") + op +
                                                std::string("\x22\x09"
                                                            "ab",
                                                            4)));
  e = ExpectError<fastmeta::ParseError>(bad);
  CHECK(Contains(e,
                 "Node 'c': malformed NodeDef: length prefix 9 runs past the end of its message (2 bytes left) "
                 "(at byte offset " +
                     std::to_string(bad.find("\x22\x09"
                                             "ab") +
                                    1) +
                     ")"));
  // The GraphDef's own fields are not a node's.
  e = ExpectError<fastmeta::ParseError>(Meta(a) + std::string("\x12\x02\x0a\x09", 4));
  CHECK(!Contains(e, "Node"));
}

// CheckParses: exactly what protobuf's parser accepts, else a ParseError at the problem.
void TestCheckParses() {
  using W = fastmeta::WireSchema;
  // GraphDef-like (0): node 1 (1): name 1 string, data 2 bytes, sizes 3 repeated varint,
  // values 4 repeated fixed32, child 5 (1), count 6 varint.
  W schema;
  schema.messages = {
      {{}, {W::kMessage, true, 1}},
      {{}, {W::kString}, {W::kBytes}, {W::kVarint, true}, {W::kFixed32, true}, {W::kMessage, false, 1}, {W::kVarint}}};
  // The offset of the first problem, or npos when it parses.
  auto problem = [&schema](const std::string& data, int depth = 0) {
    try {
      fastmeta::CheckParses(schema, 0, data, depth);
    } catch (const fastmeta::ParseError& e) {
      CHECK(e.offset() <= data.size());
      return e.offset();
    }
    return std::string::npos;
  };
  const std::string npos_cases[] = {
      Bytes(1, Bytes(1, "a") + Bytes(2, "\xff") + Bytes(3, "\x01\x96\x01") + Bytes(4, std::string(8, '\0'))),
      Bytes(1, VarintField(1, 5) + Bytes(6, "\xff") + VarintField(5, 1)),       // another wire type: unknown fields
      Bytes(1, Bytes(99, "\xff\xff")),                                          // an unknown field, not parsed
      Bytes(1, Varint(99 << 3 | 3) + VarintField(1, 1) + Varint(99 << 3 | 4)),  // an unknown group
      Bytes(1, VarintField(19500, 1)),                                          // a reserved number
      Bytes(1, Varint(72) + std::string(9, '\xff') + std::string("\x02", 1)),   // bits past 64 dropped
  };
  for (const std::string& c : npos_cases) CHECK(problem(c) == std::string::npos);
  // (bytes, where the problem is)
  const std::pair<std::string, size_t> refused[] = {
      {Bytes(1, Bytes(1, "ab\xff")), 4},                  // invalid UTF-8: the string
      {Bytes(1, Bytes(5, Bytes(1, "\xed\xa0\x80"))), 6},  // a surrogate, a level deeper
      {Bytes(1, Bytes(3, "\x80")), 2},                    // a packed varint cut: its field
      {Bytes(1, Bytes(4, "abc")), 2},                     // a packed fixed32 cut
      {std::string("\x0a\x05\x0a\x01", 4), 1},            // a length past the end: the length
      {Bytes(1, std::string("\x00\x01", 2)), 2},          // field 0
      {Bytes(1, std::string("\x0f", 1)), 2},              // wire type 7
      {Bytes(1, std::string("\x0c", 1)), 2},              // an end-group tag outside a group
      {Bytes(1, std::string("\x0b\x08\x01", 3)), 3},      // an unterminated group: after its tag
      {Bytes(1, Varint(72) + std::string(10, '\xff') + std::string("\x01", 1)), 3},  // an 11-byte varint
      {Bytes(1, std::string("\xf8\xff\xff\xff\xff\x01\x01", 7)), 2},                 // a 6-byte tag
  };
  for (const auto& [data, at] : refused) CHECK(problem(data) == at);
  // Nesting: messages and groups count from the file's root (depth of the one checked).
  std::string deep;
  for (int d = 0; d < 99; ++d) deep = Bytes(5, deep);
  CHECK(problem(Bytes(1, deep)) == std::string::npos);  // (the innermost at depth 100)
  CHECK(problem(Bytes(1, deep), 1) != std::string::npos);
  std::string groups;
  for (int d = 0; d < 99; ++d) groups = Varint(9 << 3 | 3) + groups + Varint(9 << 3 | 4);
  CHECK(problem(Bytes(1, groups)) == std::string::npos);  // (the innermost group at depth 100)
  CHECK(problem(Bytes(1, groups), 1) != std::string::npos);
  // A string's invalid UTF-8 named by the schema's names, when it has them.
  auto message = [](const W& w, const std::string& data) {
    try {
      fastmeta::CheckParses(w, 0, data, 0);
    } catch (const fastmeta::ParseError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const std::string bad_name = Bytes(1, Bytes(5, Bytes(1, "\xff")));  // (the child's name)
  CHECK(Contains(message(schema, bad_name), "invalid UTF-8 in a string field"));
  W named = schema;
  named.message_names = {"Graph", "Node"};
  named.field_names = {{}, {"", "name"}};
  CHECK(Contains(message(named, bad_name), "Node.name is not valid UTF-8"));
  CHECK(!Contains(message(named, bad_name), "string field"));
  named.message_names.resize(1);  // (a message without a name: the plain message)
  CHECK(Contains(message(named, bad_name), "invalid UTF-8 in a string field"));
  bool threw = false;
  try {
    fastmeta::CheckParses(schema, 2, "", 0);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw);
}

void TestThreadsSameResultAndError() {
  // Enough nodes for the parallel paths; the error is the same as single-threaded.
  std::string nodes;
  for (int i = 0; i < 20000; ++i)
    nodes += Node("n" + std::to_string(i), "NoOp", {i ? "^n" + std::to_string(i - 1) : "^n1"});
  auto one = Opts();
  auto many = Opts();
  many.threads = 4;
  std::string e1 = ExpectError<fastmeta::GraphError>(Meta(nodes), one);
  std::string e4 = ExpectError<fastmeta::GraphError>(Meta(nodes), many);
  CHECK(e1 == e4);
  nodes.clear();
  for (int i = 0; i < 20000; ++i)
    nodes += Node("n" + std::to_string(i), "NoOp", {i ? "^n" + std::to_string(i - 1) : std::string("^n0_")});
  // A duplicate at the end: the error names it whatever the chunking.
  e1 = ExpectError<fastmeta::GraphError>(Meta(nodes + Node("n0_") + Node("n5")), one);
  e4 = ExpectError<fastmeta::GraphError>(Meta(nodes + Node("n0_") + Node("n5")), many);
  CHECK(e1 == e4 && Contains(e1, "'n5'"));
  // Parts enter their names in the table at once: with duplicates in several parts,
  // the error still names the first node (in file order) whose name came before.
  {
    std::string dups;
    for (int i = 0; i < 20000; ++i) {
      const std::string name = i == 15000   ? "n100"
                               : i == 19000 ? "n7"
                               : i == 19500 ? "n15001"
                                            : "n" + std::to_string(i);
      dups += Node(name);
    }
    for (unsigned threads : {1u, 2u, 4u}) {
      auto o = Opts();
      o.threads = threads;
      const std::string e = ExpectError<fastmeta::GraphError>(Meta(dups), o);
      CHECK(Contains(e, "Duplicate node name in graph: 'n100'"));
    }
  }
  nodes += Node("n0_");
  auto g1 = fastmeta::RewriteMetaGraph(Meta(nodes), Opts("p"));
  auto o4 = Opts("p");
  o4.threads = 4;
  auto g4 = fastmeta::RewriteMetaGraph(Meta(nodes), o4);
  CHECK(g1->graph_def() == g4->graph_def());
}

// Asked for variable collections, the rewrite looks their VariableDefs up on the way
// (beside the order walk of a graph out of order, on two threads): the rows equal the
// lookups on the finished graph; keys absent or of another kind are left out; nothing
// is looked up under another prefix or when a node is renamed.
void TestVariablesLookedUpOnTheWay() {
  std::string nodes;
  std::vector<std::string> defs;
  for (int i = 0; i < 3000; ++i) {
    const std::string v = "v" + std::to_string(i);
    // The read comes before its variable in the file: not in GraphDef order.
    nodes +=
        Node(v + "/read", "Identity", {v}) + Node(v, "VariableV2") + Node(v + "/Assign", "Assign", {v, v + "/read"});
    defs.push_back(Bytes(1, v + ":0") + Bytes(2, v + "/Assign") + Bytes(3, v + "/read:0") + VarintField(7, i % 2));
  }
  defs.push_back(Bytes(1, "nope:0"));
  defs.push_back(Bytes(2, "v0/Assign"));                  // parsed, no variable name: "s/" all the same
  defs.push_back(Bytes(1, "v0:x") + Bytes(3, "v0:1:0"));  // names of neither form
  std::string list;
  for (const std::string& d : defs) list += Bytes(1, d);
  auto entry = [](const std::string& key, const std::string& def) { return Bytes(4, Bytes(1, key) + Bytes(2, def)); };
  const std::string data =
      Meta(nodes, entry("variables", Bytes(2, list)) + entry("other", Bytes(1, "")) +
                      entry("trainable_variables", Bytes(2, Bytes(1, defs[1]) + Bytes(1, defs[0]))));
  for (unsigned threads : {1u, 2u, 3u}) {
    auto o = Opts("s");
    o.threads = threads;
    o.variable_collections = {"trainable_variables", "absent", "other", "variables"};
    o.variable_prefix = "s/";
    auto g = fastmeta::RewriteMetaGraph(data, o);
    const auto* v = g->variables();
    CHECK(v != nullptr && v->keys == (std::vector<std::string>{"trainable_variables", "variables"}));
    CHECK(v->counts == (std::vector<size_t>{2, defs.size()}) && v->defs.size() == defs.size() + 2);
    const auto expect = fastmeta::LookupDistinctVariableDefs(*g, v->defs, "s/");
    CHECK(expect.rows.size() == v->rows.rows.size() && expect.row_of == v->rows.row_of &&
          expect.first == v->rows.first);
    CHECK(expect.names == v->rows.names && expect.name_offsets == v->rows.name_offsets);
    for (size_t r = 0; r < expect.rows.size(); ++r) {
      for (int c = 0; c < 4; ++c) {
        CHECK(expect.rows[r].node[c] == v->rows.rows[r].node[c] &&
              expect.rows[r].output[c] == v->rows.rows[r].output[c]);
        const int64_t a = expect.rows[r].op[c], b = v->rows.rows[r].op[c];
        CHECK((a < 0) == (b < 0));
        if (a >= 0) CHECK(expect.op_types[static_cast<size_t>(a)] == v->rows.op_types[static_cast<size_t>(b)]);
      }
      CHECK(expect.rows[r].flags == v->rows.rows[r].flags);
    }
    CHECK(g->name(static_cast<size_t>(v->rows.rows[0].node[0])) == "s/v1");  // moved: positions, not file indices
    // Handed over once; the graph keeps the keys only.
    const size_t rows = v->rows.rows.size();
    const auto taken = g->TakeVariableRows();
    CHECK(taken != nullptr && taken->rows.rows.size() == rows && taken->rows.row_of == expect.row_of);
    CHECK(g->TakeVariableRows() == nullptr && g->variables() != nullptr && g->variables()->handed_over);
    CHECK(g->variables()->keys == taken->keys && g->variables()->rows.rows.empty() && g->variables()->defs.empty());
  }
  auto o = Opts("s");
  o.variable_collections = {"variables"};
  o.variable_prefix = "t/";
  CHECK(fastmeta::RewriteMetaGraph(data, o)->variables() == nullptr);
  auto first = fastmeta::RewriteMetaGraph(data, Opts());
  auto renamed = Opts();
  renamed.existing.push_back(first.get());
  renamed.variable_collections = {"variables"};
  CHECK(fastmeta::RewriteMetaGraph(data, renamed)->variables() == nullptr);
}

// The parts handed to the threads: they cover [0, n) in order, and their shares of
// the work shrink toward the end, whatever the work function does.
void TestGuidedSplit() {
  for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{1000}, size_t{100003}}) {
    for (size_t parts : {size_t{1}, size_t{2}, size_t{3}, size_t{8}, size_t{16}}) {
      auto linear = [](size_t i) { return 100 * i; };
      auto lumpy = [](size_t i) { return i * 10 + (i / 1000) * (i / 1000) * 50; };
      auto unsorted = [](size_t i) { return (i * 7919) % 1009; };  // not monotone: still valid ranges
      for (int kind = 0; kind < 3; ++kind) {
        std::vector<size_t> b = kind == 0   ? fastmeta::GuidedSplit(n, parts, linear)
                                : kind == 1 ? fastmeta::GuidedSplit(n, parts, lumpy)
                                            : fastmeta::GuidedSplit(n, parts, unsorted);
        CHECK(b.size() == parts + 1 && b.front() == 0 && b.back() == n);
        for (size_t p = 0; p < parts; ++p) CHECK(b[p] <= b[p + 1]);
        if (kind == 0 && n >= 1000) {
          for (size_t p = 0; p + 1 < parts; ++p) CHECK(b[p + 1] - b[p] + 1 >= b[p + 2] - b[p + 1]);
          // part p's share is (parts + 1 - p) / (parts (parts + 3) / 2)
          const double last = 2.0 / (static_cast<double>(parts) * static_cast<double>(parts + 3) / 2);
          CHECK(std::abs(static_cast<double>(b[parts] - b[parts - 1]) / static_cast<double>(n) - last) < 0.001);
        }
        if (kind == 1 && n >= 1000 && parts >= 2) {
          // Equal work, not equal counts: the first part (the lightest items) holds more items.
          CHECK(b[1] - b[0] > b[parts] - b[parts - 1]);
        }
      }
    }
  }
}

// A GraphDef of 8 MB or more has its node boundaries found in two halves at once, the
// second from a run of NodeDef-like fields near the middle: whatever the middle holds,
// the result and the errors are the serial scan's.
void TestBoundaryScanInHalves() {
  auto serial = Opts("p");
  auto split = Opts("p");
  split.threads = 2;
  const std::string pad = Bytes(5, Bytes(1, "pad") + Bytes(2, Bytes(2, std::string(60, 'x'))));
  auto chain = [&](int from, int count) {  // from >= 1: each node waits for the one before
    std::string out;
    for (int i = from; i < from + count; ++i) {
      out += Node("n" + std::to_string(i), "NoOp", {"^n" + std::to_string(i - 1)}, pad);
    }
    return out;
  };
  auto same = [&](const std::string& graph) {
    auto a = fastmeta::RewriteMetaGraph(Meta(graph), serial);
    auto b = fastmeta::RewriteMetaGraph(Meta(graph), split);
    CHECK(a->graph_def() == b->graph_def());
    CHECK(a->num_nodes() == b->num_nodes());
    CHECK(a->graph_tail() == b->graph_tail());
    return a->num_nodes();
  };
  const int half = 50000;  // ~100 bytes a node: 10 MB in all
  std::string first = Node("n0", "NoOp", {}, pad) + chain(1, half - 1);
  std::string second = chain(half, half);
  CHECK(first.size() + second.size() >= (size_t{8} << 20));
  CHECK(same(first + second) == 2 * half);
  // Other GraphDef fields on both sides of the middle (versions, a library, an unknown
  // field) come out in file order, as the serial scan keeps them.
  const std::string versions = Bytes(4, VarintField(1, 27));
  const std::string library = Bytes(2, Bytes(1, Bytes(1, Bytes(1, "f"))));
  const std::string unknown = Bytes(9, "zz");
  CHECK(same(versions + first + unknown + second.substr(0, second.size() / 2) + library +
             second.substr(second.size() / 2)) == 2 * half);
  // The middle falls inside a node whose attr holds a run of fake NodeDefs: the second
  // half's scan starts there, the first half's never lands on it, the serial scan goes on.
  std::string fakes;
  while (fakes.size() < (size_t{2} << 20)) fakes += Node("fake" + std::to_string(fakes.size()), "NoOp");
  const std::string trap = Node("trap", "NoOp", {}, Bytes(5, Bytes(1, "blob") + Bytes(2, Bytes(2, fakes))));
  CHECK(same(first + trap + second) == 2 * half + 1);
  // A node field of another wire type in the second half: an unknown field, kept.
  CHECK(same(first + second.substr(0, second.size() / 2) + VarintField(1, 7) + second.substr(second.size() / 2)) ==
        2 * half);
  // Errors in the second half are the serial scan's: a length past the end, an unknown
  // input.
  for (const std::string& bad : {std::string("\x0a\xff\xff\x03", 4), Node("late", "NoOp", {"nowhere"})}) {
    const std::string graph = first + second + bad + chain(2 * half, 10);
    std::string e1, e2;
    try {
      fastmeta::RewriteMetaGraph(Meta(graph), serial);
    } catch (const fastmeta::Error& e) {
      e1 = e.what();
    }
    try {
      fastmeta::RewriteMetaGraph(Meta(graph), split);
    } catch (const fastmeta::Error& e) {
      e2 = e.what();
    }
    CHECK(!e1.empty() && e1 == e2);
  }
}

// The name table keeps each name's size in 16 bits beside its address: longer names
// (and names of the same length) are still found, checked and told apart.
void TestLongNames() {
  const std::string longer(70000, 'a');
  const std::string other = std::string(69999, 'a') + "b";
  const std::string nodes = Node(longer) + Node(other) + Node("short") +
                            Node("x", "NoOp", {"^" + longer, "^" + other}) + Node("y", "NoOp", {"^short", "^x"});
  auto g = fastmeta::RewriteMetaGraph(Meta(nodes), Opts("p"));
  CHECK(g->num_nodes() == 5);
  CHECK(g->Find("p/" + longer) == 0 && g->Find("p/" + other) == 1 && g->Find("p/" + std::string(70001, 'a')) < 0);
  const fastmeta::Edge* e = g->edges(3);
  CHECK(g->node(3).edge_count == 2 && e[0].src == 0 && e[1].src == 1);
  CHECK(Contains(ExpectError<fastmeta::GraphError>(Meta(nodes + Node(longer))), "Duplicate node name"));
  CHECK(Contains(ExpectError<fastmeta::GraphError>(Meta(nodes + Node("z", "NoOp", {"^" + std::string(70001, 'a')}))),
                 "Unknown input node"));
}

std::string Colocate(const std::vector<std::string>& targets) {
  std::string list;
  for (const std::string& t : targets) list += Bytes(2, "loc:@" + t);
  return Bytes(5, Bytes(1, "_class") + Bytes(2, Bytes(1, list)));
}
std::string Device(const std::string& d) { return Bytes(4, d); }

std::vector<std::string> Names(const fastmeta::RewrittenGraph& g) {
  std::vector<std::string> out;
  for (size_t i = 0; i < g.num_nodes(); ++i) out.emplace_back(g.name(i));
  return out;
}

void TestImportOrder() {
  // The ready node with the smallest GraphDef index first: x waits for z, and once z
  // is created x comes before the later ready w; v needs both.
  auto g = fastmeta::RewriteMetaGraph(Meta(Node("x", "Identity", {"z"}) + Node("y", "Const") + Node("z", "Const") +
                                           Node("w", "Identity", {"y"}) + Node("v", "AddV2", {"x", "w"})),
                                      Opts());
  CHECK((Names(*g) == std::vector<std::string>{"y", "z", "x", "w", "v"}));
  // A chain written backwards, with a control input.
  g = fastmeta::RewriteMetaGraph(Meta(Node("c", "NoOp", {"^b"}) + Node("b", "NoOp", {"^a"}) + Node("a")), Opts());
  CHECK((Names(*g) == std::vector<std::string>{"a", "b", "c"}));
  // In file order nothing moves.
  g = fastmeta::RewriteMetaGraph(Meta(Node("a") + Node("b", "NoOp", {"^a"}) + Node("c")), Opts());
  CHECK((Names(*g) == std::vector<std::string>{"a", "b", "c"}));
}

void TestColocatedDevices() {
  auto device_of = [](const fastmeta::RewrittenGraph& g, const std::string& name) {
    for (size_t i = 0; i < g.num_nodes(); ++i) {
      if (g.name(i) == name) return std::string(g.device(i));
    }
    std::abort();
  };
  // The first listed target with a device wins; self entries are skipped.
  auto g = fastmeta::RewriteMetaGraph(
      Meta(Node("a") + Node("c", "NoOp", {}, Device("/gpu:3")) + Node("d", "NoOp", {}, Device("/cpu:0")) +
           Node("b", "NoOp", {}, Device("/cpu:1") + Colocate({"b", "a", "d", "c"}))),
      Opts());
  CHECK(device_of(*g, "b") == "/device:CPU:0");
  // A chain is followed when the target is created first, not otherwise.
  g = fastmeta::RewriteMetaGraph(
      Meta(Node("b", "NoOp", {"^a"}, Colocate({"a"})) + Node("a", "NoOp", {"^c"}, Device("/gpu:1") + Colocate({"c"})) +
           Node("c", "NoOp", {}, Device("/job:ps/task:3/cpu:0"))),
      Opts());
  CHECK(device_of(*g, "b") == "/job:ps/task:3/device:CPU:0");
  g = fastmeta::RewriteMetaGraph(Meta(Node("b", "NoOp", {}, Device("/cpu:1") + Colocate({"a"})) +
                                      Node("a", "NoOp", {"^c"}, Device("/gpu:1") + Colocate({"c"})) +
                                      Node("c", "NoOp", {}, Device("/job:ps/task:3/cpu:0"))),
                                 Opts());
  CHECK(device_of(*g, "b").empty());
  CHECK(device_of(*g, "a") == "/job:ps/task:3/device:CPU:0");
  // The same rules over many parts: 3000 groups written backwards (each colocated op
  // before its target), device lists spanning the parts; 1 and 4 threads agree.
  std::string nodes;
  for (int k = 2999; k >= 0; --k) {
    const std::string s = std::to_string(k);
    const std::string other = std::to_string((k + 1500) % 3000);
    nodes += Node("u" + s, "NoOp", {"^t" + s}, Colocate({"u" + s, "t" + s, "t" + other}));
    nodes += Node("t" + s, "NoOp", {}, k % 3 ? Device("/gpu:" + std::to_string(k % 4)) : std::string());
  }
  auto one = fastmeta::RewriteMetaGraph(Meta(nodes), Opts("p"));
  auto o4 = Opts("p");
  o4.threads = 4;
  auto four = fastmeta::RewriteMetaGraph(Meta(nodes), o4);
  CHECK(one->graph_def() == four->graph_def());
  for (int k = 0; k < 3000; ++k) {
    const std::string s = std::to_string(k);
    const int other = (k + 1500) % 3000;
    std::string want = k % 3 ? "/device:GPU:" + std::to_string(k % 4)
                             : (other % 3 ? "/device:GPU:" + std::to_string(other % 4) : std::string());
    CHECK(device_of(*one, "p/u" + s) == want);
  }
}

// A _class holding no list: under a prefix an empty list (TensorFlow's mutable_list),
// without one kept; the graph says it saw one. Device strings refused with DeviceSpec's
// messages, the node in the error.
void TestClassNotListAndDeviceMessages() {
  const std::string scalar = Bytes(5, Bytes(1, "_class") + Bytes(2, Bytes(2, "loc:@a")));
  const std::string list = Bytes(5, Bytes(1, "_class") + Bytes(2, Bytes(1, Bytes(2, "loc:@a"))));
  const std::string last_s = Bytes(5, Bytes(1, "_class") + Bytes(2, Bytes(1, "") + Bytes(2, "loc:@a")));
  const std::string empty_list = Bytes(5, Bytes(1, "_class") + Bytes(2, Bytes(1, "")));
  for (const std::string& cls : {scalar, last_s}) {
    auto g = fastmeta::RewriteMetaGraph(Meta(Node("a") + Node("b", "NoOp", {}, cls)), Opts("p"));
    CHECK(g->class_not_list());
    CHECK(Contains(std::string(g->node_def(1)), empty_list) && !Contains(std::string(g->node_def(1)), "loc:@"));
    g = fastmeta::RewriteMetaGraph(Meta(Node("a") + Node("b", "NoOp", {}, cls)), Opts());
    CHECK(g->class_not_list() && Contains(std::string(g->node_def(1)), cls));
  }
  auto g = fastmeta::RewriteMetaGraph(Meta(Node("a") + Node("b", "NoOp", {}, list)), Opts("p"));
  CHECK(!g->class_not_list() && Contains(std::string(g->node_def(1)), "loc:@p/a"));
  const std::pair<const char*, const char*> refused[] = {
      {"/gpu:", "invalid literal for int() with base 10: ''"},
      {"/replica:1/replica:x'y", "invalid literal for int() with base 10: \"x'y\""},
      {"/replica:x/cpu:0/gpu:0",
       "Multiple device types are not allowed while parsing the device spec: /replica:x/cpu:0/gpu:0."},
      {"/JOB:ps", "Unknown attribute 'JOB' is encountered while parsing the device spec: '/JOB:ps'."},
  };
  for (const auto& [device, message] : refused) {
    try {
      fastmeta::RewriteMetaGraph(Meta(Node("a", "NoOp", {}, Bytes(4, device))), Opts());
      CHECK(false);
    } catch (const fastmeta::GraphError& e) {
      CHECK(std::string(e.what()) == message && e.node() == "a");
    }
  }
  g = fastmeta::RewriteMetaGraph(Meta(Node("a", "NoOp", {}, Bytes(4, "/replica:x/replica:1"))), Opts());
  CHECK(g->device(0) == "/replica:1");
}

void TestOpListDefaults() {
  // A default is copied into nodes unparsed: malformed wire data is refused, and a
  // '_'-prefixed attr (never in a registered OpDef) is not added.
  auto op_list = [](const std::string& attr, const std::string& value) {
    return Bytes(1, Bytes(2, Bytes(1, Bytes(1, "Const") + Bytes(4, Bytes(1, attr) + Bytes(3, value)))));
  };
  const std::string overlong = "\xb0" + std::string(9, '\x80') + std::string("\x00\x01", 2);
  ExpectError<fastmeta::ParseError>(op_list("dtype", overlong) + Meta(Node("c", "Const")));
  ExpectError<fastmeta::ParseError>(op_list("_class", overlong) + Meta(Node("c", "Const")));
  // Checked as protobuf parses an AttrValue, nested messages included: a list holding a
  // field numbered 0, a truncated float, invalid UTF-8 in a shape's dim name.
  for (const std::string& bad : {Bytes(1, std::string("\x00\x01", 2)), Bytes(1, std::string("\x25\x00", 2)),
                                 Bytes(7, Bytes(2, Bytes(2, "\xff")))}) {
    const std::string e = ExpectError<fastmeta::ParseError>(op_list("dtype", bad) + Meta(Node("c", "Const")));
    CHECK(Contains(e, "OpDef 'Const': malformed AttrDef: attr 'dtype' default_value: "));
  }
  const std::string cls = Bytes(1, Bytes(2, "loc:@nowhere"));
  auto g = fastmeta::RewriteMetaGraph(op_list("_class", cls) + Meta(Node("c", "Const")), Opts());
  CHECK(!Contains(g->graph_def(), "_class"));
  g = fastmeta::RewriteMetaGraph(op_list("dtype", VarintField(6, 1)) + Meta(Node("c", "Const")), Opts());
  CHECK(Contains(g->graph_def(), "dtype"));
}

void TestSizeLimit() {
  // A sparse 3 GiB file: mapped, never read; the guard fires before any allocation.
  char path[] = "/tmp/fastmeta_sparse_XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  CHECK(ftruncate(fd, (off_t{3} << 30)) == 0);
  close(fd);
  {
    fastmeta::MappedFile file(path);
    CHECK(file.size() == (size_t{3} << 30));
    g_largest_alloc = 0;
    bool thrown = false;
    try {
      fastmeta::RewriteMetaGraph(file.data(), Opts());
    } catch (const fastmeta::SizeLimitError& e) {
      thrown = Contains(e.what(), "2 GiB");
    }
    CHECK(thrown);
    thrown = false;
    try {
      fastmeta::MetaGraphRest(file.data());
    } catch (const fastmeta::SizeLimitError&) {
      thrown = true;
    }
    CHECK(thrown);
    CHECK(g_largest_alloc < (1u << 20));
  }
  unlink(path);
}

void TestFiles() {
  bool missing = false;
  try {
    fastmeta::MappedFile f("/nonexistent/x.meta");
  } catch (const fastmeta::FileError& e) {
    missing = e.missing() && Contains(e.what(), "/nonexistent/x.meta");
  }
  CHECK(missing);
  bool dir = false;
  try {
    fastmeta::MappedFile f("/tmp");
  } catch (const fastmeta::FileError& e) {
    dir = !e.missing();
  }
  CHECK(dir);
  // A device without end (or a pipe) is read up to a limit (protobuf's 2 GiB by
  // default): /dev/zero is a SizeLimitError naming it, not memory without bound.
  bool endless = false;
  try {
    fastmeta::MappedFile f("/dev/zero", size_t{1} << 20);
  } catch (const fastmeta::SizeLimitError& e) {
    endless = Contains(e.what(), "/dev/zero") && Contains(e.what(), "1048576 bytes from a pipe or device");
  }
  CHECK(endless);
  {
    fastmeta::MappedFile f("/dev/null", size_t{1} << 20);  // (an empty device: read, empty)
    CHECK(f.size() == 0 && !f.mapped());
  }
  // A small file is read, not mapped: truncated afterwards, its bytes stay (a mapping
  // would SIGBUS), and they are not "released" as mapped pages would be.
  char path[] = "/tmp/fastmeta_small_XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  const std::string bytes(fastmeta::MappedFile::kMapFrom - 1, 'x');
  CHECK(write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  {
    fastmeta::MappedFile small(path);
    CHECK(!small.mapped());
    CHECK(ftruncate(fd, 0) == 0);
    CHECK(small.data() == bytes);
  }
  CHECK(pwrite(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size()));
  CHECK(pwrite(fd, "yy", 2, static_cast<off_t>(bytes.size())) == 2);
  {
    fastmeta::MappedFile large(path);
    CHECK(large.mapped() && large.size() == bytes.size() + 2);
  }
  close(fd);
  unlink(path);
}

// A mapped file truncated by another process after it was mapped: the core's reads past
// the new end get zeros (a zero page mapped over each faulting page) instead of killing
// the process with SIGBUS, on whichever thread; CheckUnchanged() then throws a
// FileChangedError naming the file, whatever the rewrite made of the zeros. Truncated
// inside a page (no fault: the rest of that page reads as zeros), the size tells.
void TestTruncatedWhileMapped() {
  std::string nodes;
  for (int i = 0; nodes.size() < 3 * fastmeta::MappedFile::kMapFrom; ++i) {
    nodes += Node("n" + std::to_string(i), "NoOp",
                  i > 0 ? std::vector<std::string>{"^n" + std::to_string(i - 1)} : std::vector<std::string>{});
  }
  const std::string meta = Meta(nodes);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  for (size_t keep : {size_t{0}, meta.size() / 2 / page * page, meta.size() / 2 + 7, meta.size() - 1}) {
    for (unsigned threads : {1u, 2u}) {
      char path[] = "/tmp/fastmeta_truncated_XXXXXX";
      int fd = mkstemp(path);
      CHECK(fd >= 0);
      CHECK(write(fd, meta.data(), meta.size()) == static_cast<ssize_t>(meta.size()));
      {
        fastmeta::MappedFile file(path);
        CHECK(file.mapped() && !file.changed());
        file.CheckUnchanged();
        CHECK(ftruncate(fd, static_cast<off_t>(keep)) == 0);
        fastmeta::RewriteOptions o = Opts("p");
        o.threads = threads;
        o.release_input_pages = true;
        try {
          fastmeta::RewriteMetaGraph(file.data(), o);
        } catch (const fastmeta::Error&) {
          // (what the zeros make the rewrite throw is not the point)
        }
        CHECK(file.changed());
        std::string message;
        try {
          file.CheckUnchanged();
        } catch (const fastmeta::FileChangedError& e) {
          message = e.what();
          CHECK(e.path() == path && !e.missing());
        }
        CHECK(Contains(message, path) && Contains(message, "changed") && Contains(message, "truncated"));
      }
      close(fd);
      unlink(path);
    }
  }
  // Written to in place (same size): the modification time tells.
  char path[] = "/tmp/fastmeta_rewritten_XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  CHECK(write(fd, meta.data(), meta.size()) == static_cast<ssize_t>(meta.size()));
  {
    fastmeta::MappedFile file(path);
    struct timespec later[2] = {{0, UTIME_OMIT}, {1, 0}};
    CHECK(futimens(fd, later) == 0);
    bool thrown = false;
    try {
      file.CheckUnchanged();
    } catch (const fastmeta::FileChangedError& e) {
      thrown = Contains(e.what(), "modified");
    }
    CHECK(thrown);
  }
  // More live mappings than the registry has slots: the others are read, not mapped
  // (so never exposed to SIGBUS); slots are reused once the mappings are gone.
  for (int round = 0; round < 2; ++round) {
    std::vector<std::unique_ptr<fastmeta::MappedFile>> files;
    for (int i = 0; i < 80; ++i) files.push_back(std::make_unique<fastmeta::MappedFile>(path));
    CHECK(files.front()->mapped() && !files.back()->mapped());
    for (const auto& f : files) CHECK(f->data() == meta && !f->changed());
  }
  close(fd);
  unlink(path);
}

void TestSnappyClaims() {
  // A 5-byte block claiming ~4 GiB (and ~2 GiB, under the limit) allocates little.
  g_largest_alloc = 0;
  for (const std::string& block : {std::string("\xff\xff\xff\xff\x0f"), std::string("\xff\xff\xff\xff\x07\x00")}) {
    try {
      fastmeta::snappy::Uncompress(block, "test");
      CHECK(false);
    } catch (const fastmeta::CheckpointError&) {
    }
  }
  CHECK(g_largest_alloc < (1u << 20));
}

void ReplayRegressions() {
  namespace fs = std::filesystem;
  const fs::path dir = kRoot + "tests/regressions";
  size_t count = 0;
  if (!fs::exists(dir)) return;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string harness = entry.path().parent_path().filename().string();
    const std::string data = ReadFile(entry.path().string());
    const auto* bytes = reinterpret_cast<const uint8_t*>(data.data());
    if (harness == "checkpoint_index_fuzzer") {
      fastmeta_fuzz::RunCheckpointTarget(bytes, data.size());
    } else if (harness == "rewriter_fuzzer" || harness == "structure_fuzzer") {
      fastmeta_fuzz::RunRewriteTarget(bytes, data.size());
    } else {
      continue;
    }
    ++count;
  }
  std::printf("replayed %zu regression inputs\n", count);
}

}  // namespace

void TestVariableDefRows() {
  // Nodes in the rewritten graph are "s/..."; the VariableDefs name them unscoped.
  const std::string data = Meta(Node("w", "VariableV2") + Node("w/Assign", "Assign", {"w", "v"}) +
                                Node("w/read", "Identity", {"w"}) + Node("v", "Const"));
  auto g = fastmeta::RewriteMetaGraph(data, Opts("s"));
  const std::string good =
      Bytes(1, "w:0") + Bytes(2, "w/Assign") + Bytes(3, "w/read:0") + Bytes(6, "v:0") + VarintField(7, 1);
  const std::vector<std::string> defs{
      good,
      Bytes(1, "w:00") + Bytes(2, "w/Assign") + Bytes(3, "w/read:0"),  // found, not canonical
      Bytes(1, "nope:0") + VarintField(5, 1) + VarintField(8, 3) + Bytes(4, ""),
      good.substr(0, good.size() - 1),            // truncated
      good + VarintField(7, 2),                   // a bool protobuf reads as true, left to it
      good + Bytes(1, "\xff:0"),                  // not UTF-8
      good + VarintField(2, 5),                   // a string field as a varint
      good + std::string("\x0a\x83\x00w:0", 6),   // a length in two bytes: left to protobuf
      good + std::string("\x38\x81\x00", 3),      // a varint in two bytes
      good + std::string("\x9b\x06\x9c\x06", 4),  // a group
  };
  std::vector<std::string_view> views(defs.begin(), defs.end());
  std::vector<std::string_view> ops;
  std::vector<std::string> names;
  for (unsigned copies : {1u, 3000u}) {  // 3000 copies: the parallel parts and their op lists merged
    std::vector<std::string_view> many;
    for (unsigned c = 0; c < copies; ++c) many.insert(many.end(), views.begin(), views.end());
    const auto rows = fastmeta::LookupVariableDefs(*g, many, "s/", &ops, &names);
    CHECK(rows.size() == many.size());
    for (size_t base = 0; base < rows.size(); base += views.size()) {
      const auto* r = &rows[base];
      using Row = fastmeta::VariableDefRow;
      CHECK(r[0].flags == (Row::kParsed | Row::kTrainable | Row::kInitialValue | Row::kCanonical));
      CHECK(r[0].node[0] == g->Find("s/w") && r[0].output[0] == 0);
      CHECK(r[0].node[1] == g->Find("s/w/Assign") && r[0].output[1] == -1);
      CHECK(r[0].node[2] == g->Find("s/w/read") && r[0].node[3] == g->Find("s/v"));
      CHECK(ops[static_cast<size_t>(r[0].op[0])] == "VariableV2" && ops[static_cast<size_t>(r[0].op[1])] == "Assign");
      CHECK(ops[static_cast<size_t>(r[0].op[2])] == "Identity" && ops[static_cast<size_t>(r[0].op[3])] == "Const");
      CHECK(names[base] == "s/w:0");
      CHECK(r[1].flags == Row::kParsed && r[1].node[0] == r[0].node[0] && r[1].output[0] == 0);
      CHECK(r[2].flags == (Row::kParsed | Row::kResource | Row::kSliceInfo) && r[2].node[0] == -1 && r[2].op[0] == -1 &&
            r[2].synchronization == 3 && r[2].node[3] == -1);
      for (size_t k = 3; k < views.size(); ++k) CHECK(r[k].flags == 0 && r[k].node[0] == -1 && names[base + k].empty());
    }
  }
  // The distinct ones (equal bytes: one row, first seen first), in slices whose op
  // lists are merged: the same rows as a lookup of the distinct defs at once.
  {
    std::vector<std::string_view> repeated;
    for (unsigned c = 0; c < 3; ++c) repeated.insert(repeated.end(), views.rbegin(), views.rend());
    for (size_t slice : {size_t{1}, size_t{3}, size_t{8192}}) {
      const auto d = fastmeta::LookupDistinctVariableDefs(*g, repeated, "s/", slice);
      CHECK(d.rows.size() == views.size() && d.row_of.size() == repeated.size() && d.first.size() == views.size());
      const auto whole = fastmeta::LookupVariableDefs(*g, std::vector<std::string_view>(views.rbegin(), views.rend()),
                                                      "s/", &ops, &names);
      for (size_t k = 0; k < repeated.size(); ++k) {
        const auto row = static_cast<size_t>(d.row_of[k]);
        CHECK(row == k % views.size() && repeated[static_cast<size_t>(d.first[row])] == repeated[k]);
      }
      for (size_t r = 0; r < whole.size(); ++r) {
        CHECK(d.rows[r].flags == whole[r].flags && d.variable_name(r) == names[r]);
        for (int j = 0; j < 4; ++j) {
          CHECK(d.rows[r].node[j] == whole[r].node[j] && d.rows[r].output[j] == whole[r].output[j]);
          CHECK((d.rows[r].op[j] < 0) == (whole[r].op[j] < 0));
          if (d.rows[r].op[j] >= 0) {
            CHECK(d.op_types[static_cast<size_t>(d.rows[r].op[j])] == ops[static_cast<size_t>(whole[r].op[j])]);
          }
        }
      }
      // With a task beside (run once, whatever the threads) and a prefix on the names
      // handed back only: the same rows; the beside task's error is the one reported.
      for (unsigned threads : {1u, 2u, 4u}) {
        std::atomic<int> beside_runs{0};
        const auto b = fastmeta::LookupDistinctVariableDefs(
            fastmeta::FindIn(*g), repeated, "s/", slice, threads, [&] { ++beside_runs; }, "p/");
        CHECK(beside_runs == 1 && b.rows.size() == d.rows.size() && b.row_of == d.row_of && b.first == d.first);
        for (size_t r = 0; r < b.rows.size(); ++r) {
          const bool parsed = (b.rows[r].flags & fastmeta::VariableDefRow::kParsed) != 0;
          CHECK(b.variable_name(r) == (parsed ? "p/" + std::string(d.variable_name(r)) : std::string()));
          for (int j = 0; j < 4; ++j) CHECK(b.rows[r].node[j] == d.rows[r].node[j]);
        }
        bool threw = false;
        try {
          fastmeta::LookupDistinctVariableDefs(fastmeta::FindIn(*g), repeated, "s/", slice, threads,
                                               [] { throw fastmeta::GraphError("beside failed", "x"); });
        } catch (const fastmeta::GraphError& e) {
          threw = std::string(e.what()).find("beside failed") != std::string::npos;
        }
        CHECK(threw);
      }
    }
  }
  int64_t out = 0;
  CHECK(fastmeta::FindElement(*g, "s/w:1234567890", &out) == -1 && out == -1);  // ten digits
  CHECK(fastmeta::FindElement(*g, "s/w:", &out) == -1 && out == -1);
  CHECK(fastmeta::FindElement(*g, "s/w:x", &out) == -1);
  CHECK(fastmeta::FindElement(*g, "s/w:7", &out) == g->Find("s/w") && out == 7);
  CHECK(fastmeta::FindElement(*g, "s/q:7", &out) == -1 && out == -1);
}

void TestFindMany() {
  // A graph big enough for the pipeline to run ahead; names that are there, absent,
  // outside the prefix, prefixes of names, and empty.
  std::string nodes;
  for (int i = 0; i < 3000; ++i) nodes += Node("n" + std::to_string(i) + "/op");
  for (const std::string& prefix : {std::string(), std::string("s")}) {
    auto g = fastmeta::RewriteMetaGraph(Meta(nodes), Opts(prefix));
    const std::string pre = prefix.empty() ? "" : prefix + "/";
    std::vector<std::string> names;
    for (int i = 0; i < 3100; i += 3) {
      names.push_back(pre + "n" + std::to_string(i) + "/op");
      names.push_back(pre + "n" + std::to_string(i));
      names.push_back("n" + std::to_string(i) + "/op");
    }
    names.insert(names.begin() + 7, std::string());
    names.push_back(pre);
    std::vector<std::string_view> views(names.begin(), names.end());
    for (size_t count : {size_t{0}, size_t{1}, size_t{5}, views.size()}) {
      std::vector<int64_t> found(count + 1, 12345);
      g->FindMany(views.data(), count, found.data());
      size_t hits = 0;
      for (size_t k = 0; k < count; ++k) {
        CHECK(found[k] == g->Find(views[k]));
        hits += found[k] >= 0;
      }
      CHECK(found[count] == 12345);  // nothing written past the end
      if (count == views.size()) CHECK(hits == (prefix.empty() ? 2 * 1000 : 1000));
    }
  }
}

// Scratch pages a stage is done with are moved (not copied) into blocks a later stage
// fills: the moved bytes arrive intact, the source reads as zeros, only whole 2 MiB
// pages move, and only into the sink's untouched range. Where blocks are not mappings
// of their own (sanitizer builds, other systems) nothing moves and this is DropPages.
void TestMovedPages() {
  constexpr size_t kHuge = size_t{2} << 20;
  auto fill = [](char* p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i += 512) p[i] = static_cast<char>((i / 512) * 31 + seed);
  };
  auto expected = [](size_t i, unsigned seed) { return static_cast<char>((i / 512) * 31 + seed); };
  fastmeta::LargeBlock src((size_t{9} << 20) + 4096);  // 4 whole huge pages, then a bit
  fastmeta::LargeBlock dst(size_t{5} << 20);           // room for 2 of them
  fill(src.get(), src.size(), 7);
  fastmeta::PageSink sink{dst.get() + 100, dst.get() + dst.size()};  // (first whole page: the second)
  const fastmeta::PageRange moved = fastmeta::MovePages(src.get() + 1, src.get() + src.size(), sink);
  if (moved.begin == moved.end) {
    CHECK(sink.next == dst.get() + 100);  // nothing moved: the sink is as it was
  } else {
    const size_t n = static_cast<size_t>(moved.end - moved.begin);
    CHECK(n == kHuge && reinterpret_cast<uintptr_t>(moved.begin) % kHuge == 0);
    CHECK(moved.begin >= src.get() + 1 && moved.end <= src.get() + src.size());
    char* to = dst.get() + kHuge;  // AllocateLarge blocks this size start on a 2 MiB boundary
    CHECK(reinterpret_cast<uintptr_t>(dst.get()) % kHuge == 0 && sink.next == to + n);
    const size_t from = static_cast<size_t>(moved.begin - src.get());
    for (size_t i = 0; i < n; i += 512) CHECK(to[i] == expected(from + i, 7));
    for (size_t i = 0; i < n; i += 512) CHECK(moved.begin[i] == 0);
    for (size_t i = 0; i < from; i += 512) CHECK(src.get()[i] == expected(i, 7));  // before: kept
    for (size_t i = from + n; i < src.size(); i += 512) CHECK(src.get()[i] == expected(i, 7));
    // The sink is full now: nothing more moves, the rest is plainly dropped.
    fastmeta::RecyclePages(moved.end, src.get() + src.size(), sink);
    CHECK(sink.next == to + n);
    const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const char* dropped_to =
        reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(src.get() + src.size()) & ~(page - 1));
    for (const char* p = moved.end; p < dropped_to; p += 512) CHECK(*p == 0);
  }
  // A dropper with a sink moves whole huge pages as it passes them, and never into
  // what the sink's owner has written.
  fastmeta::LargeBlock scratch(size_t{12} << 20), out(size_t{12} << 20);
  fill(scratch.get(), scratch.size(), 3);
  std::memset(out.get(), 'w', 3 * kHuge + 10);  // the owner's bytes so far
  fastmeta::PageDropper dropper(scratch.get());
  fastmeta::PageSink out_sink{out.get() + 3 * kHuge + 10, out.get() + out.size()};
  for (size_t upto = 300000; upto < scratch.size(); upto += 300000) dropper.Advance(scratch.get() + upto, &out_sink);
  for (size_t i = 0; i < 3 * kHuge + 10; i += 511) CHECK(out.get()[i] == 'w');
  const size_t moved_bytes = static_cast<size_t>(out_sink.next - (out.get() + 4 * kHuge));
  if (out_sink.next != out.get() + 3 * kHuge + 10) {
    CHECK(out_sink.next > out.get() + 4 * kHuge && moved_bytes % kHuge == 0 && moved_bytes <= 5 * kHuge);
    for (size_t i = 0; i < moved_bytes; i += 512) CHECK(out.get()[4 * kHuge + i] == expected(i, 3));
  }
}

// A graph large enough that the writer moves the parse records' pages into the output
// as it goes (and the input strings' block becomes the output): the output is exactly
// the expected bytes, whatever the thread count.
void TestRecycledScratchOutput() {
  std::string nodes, expect;
  const std::string cls = Bytes(5, Bytes(1, "_class") + Bytes(2, Bytes(1, Bytes(2, "loc:@n0"))));
  const std::string cls_out = Bytes(5, Bytes(1, "_class") + Bytes(2, Bytes(1, Bytes(2, "loc:@scope/n0"))));
  size_t middle = 0;  // where node 75000 starts
  for (int i = 0; i < 150000; ++i) {
    if (i == 75000) middle = nodes.size();
    const std::string name = "n" + std::to_string(i);
    std::vector<std::string> inputs;
    if (i > 0) inputs.push_back("n" + std::to_string(i - 1));
    if (i > 1) inputs.push_back("^n" + std::to_string(i / 2));
    const bool colocated = i % 3 == 0 && i > 0;
    nodes += Node(name, "Identity", inputs, colocated ? cls : "");
    std::vector<std::string> scoped;
    for (const std::string& in : inputs) scoped.push_back(in[0] == '^' ? "^scope/" + in.substr(1) : "scope/" + in);
    expect += Node("scope/" + name, "Identity", scoped, colocated ? cls_out : "");
  }
  for (unsigned threads : {1u, 2u, 3u}) {
    auto o = Opts("scope");
    o.threads = threads;
    auto g = fastmeta::RewriteMetaGraph(Meta(nodes), o);
    CHECK(g->num_nodes() == 150000);
    CHECK(g->graph_def() == expect);
    CHECK(g->Find("scope/n149999") == 149999 && g->name(77777) == "scope/n77777");
  }
  // More parts than threads (taken as threads come free): errors are still the first in
  // file order, as one thread reports them.
  const std::string bad = Node("late", "Identity", {"no_such_node"});
  std::string bad_nodes = nodes;
  bad_nodes.insert(middle, Node("early", "Identity", {"missing_too"}));
  for (const std::string& graph : {nodes + bad, bad_nodes + bad, nodes + Node("n70000")}) {
    auto o = Opts("scope");
    const std::string e1 = ExpectError<fastmeta::GraphError>(Meta(graph), o);
    o.threads = 3;
    CHECK(ExpectError<fastmeta::GraphError>(Meta(graph), o) == e1);
    CHECK(graph.size() != bad_nodes.size() + bad.size() || Contains(e1, "'early'"));
  }
}

void TestLargeBlocks() {
  // Blocks on either side of the sizes where malloc, page-rounded and huge-page-rounded
  // mappings take over: every byte writable, Buffer growth keeps the contents.
  for (size_t n : {size_t{0}, size_t{1}, (size_t{1} << 20) - 1, size_t{1} << 20, (size_t{3} << 19) + 7, size_t{2} << 20,
                   (size_t{9} << 19) + 1, (size_t{33} << 20) + 123}) {
    fastmeta::LargeBlock block(n);
    CHECK(block.get() != nullptr && block.size() == n);
    for (size_t i = 0; i < n; i += 4093) block.get()[i] = static_cast<char>(i);
    if (n > 0) block.get()[n - 1] = 'z';
    for (size_t i = 0; i < n; i += 4093) CHECK(block.get()[i] == static_cast<char>(i) || (i == n - 1));
    fastmeta::LargeBlock moved(std::move(block));
    CHECK(block.get() == nullptr && moved.size() == n);  // NOLINT: checking the moved-from state
  }
  fastmeta::LargeVector<uint32_t> v;
  for (uint32_t i = 0; i < (3u << 20); ++i) v.push_back(i * 7);
  for (uint32_t i = 0; i < v.size(); i += 999) CHECK(v[i] == i * 7);
  fastmeta::wire::Buffer buf;
  std::string expect;
  for (int i = 0; expect.size() < (size_t{5} << 20); ++i) {
    const std::string piece = std::to_string(i) + ",";
    buf.append(piece);
    expect += piece;
  }
  CHECK(buf.view() == expect);
  // ResizeLarge keeps the used bytes whichever way it grows (malloc'd to mapped, mapped
  // page-rounded to huge-page-rounded, pages moved), and the new room is writable.
  const size_t sizes[] = {size_t{100}, (size_t{1} << 20) + 5, (size_t{5} << 20) + 4096, (size_t{12} << 20),
                          (size_t{29} << 20) + 77};
  for (size_t from = 0; from + 1 < sizeof sizes / sizeof sizes[0]; ++from) {
    for (size_t to = from + 1; to < sizeof sizes / sizeof sizes[0]; ++to) {
      const size_t old_n = sizes[from], new_n = sizes[to];
      char* p = static_cast<char*>(fastmeta::AllocateLarge(old_n));
      const size_t used = old_n - old_n / 3;
      for (size_t i = 0; i < used; ++i) p[i] = static_cast<char>(i * 31 + 7);
      char* q = static_cast<char*>(fastmeta::ResizeLarge(p, old_n, new_n, used));
      bool same = true;
      for (size_t i = 0; i < used; ++i) same = same && q[i] == static_cast<char>(i * 31 + 7);
      CHECK(same);
      std::memset(q + used, 'x', new_n - used);
      CHECK(q[new_n - 1] == 'x' && q[used] == 'x');
      fastmeta::FreeLarge(q, new_n);
    }
  }
}

// --- edge dtypes (RewriteOptions::check_types) --------------------------------------

std::string Attr(const std::string& key, const std::string& value) { return Bytes(5, Bytes(1, key) + Bytes(2, value)); }
std::string TypeValue(int dtype) { return VarintField(6, static_cast<uint64_t>(dtype)); }
std::string TypeListValue(const std::vector<int>& dtypes) {
  std::string list;
  for (int t : dtypes) list += VarintField(6, static_cast<uint64_t>(t));
  return Bytes(1, list);
}
// An ArgDef: a fixed type ("#3"), a type attr ("T"), a list(type) attr ("[T]"), with a
// number_attr after '*' ("T*N"), a ref if it starts with '&'.
std::string Arg(std::string spec) {
  std::string out = Bytes(1, "a");
  if (!spec.empty() && spec[0] == '&') {
    out += VarintField(16, 1);
    spec = spec.substr(1);
  }
  const size_t star = spec.find('*');
  if (star != std::string::npos) {
    out += Bytes(5, spec.substr(star + 1));
    spec = spec.substr(0, star);
  }
  if (spec[0] == '#')
    out += VarintField(3, static_cast<uint64_t>(std::stoi(spec.substr(1))));
  else if (spec[0] == '[')
    out += Bytes(6, spec.substr(1, spec.size() - 2));
  else
    out += Bytes(4, spec);
  return out;
}
std::string Op(const std::string& name, const std::vector<std::string>& inputs, const std::vector<std::string>& outputs,
               const std::string& attrs = "") {
  std::string op = Bytes(1, name);
  for (const std::string& a : inputs) op += Bytes(2, Arg(a));
  for (const std::string& a : outputs) op += Bytes(3, Arg(a));
  return Bytes(1, op + attrs);
}
// A MetaGraphDef whose stripped_op_list holds `ops`.
std::string TypedMeta(const std::string& ops, const std::string& nodes) {
  return Bytes(1, Bytes(2, ops)) + Bytes(2, nodes);
}

const int kFloat = 1, kInt32 = 3, kFloatRef = 101;

std::string TypeOps() {
  return Op("Const", {}, {"dtype"}) + Op("Var", {}, {"&dtype"}) + Op("Identity", {"T"}, {"T"}) +
         Op("Assign", {"&T", "T"}, {"&T"}) + Op("AddN", {"T*N"}, {"T"}) + Op("IdentityN", {"[T]"}, {"[T]"}) +
         Op("Split", {"#3", "T"}, {"T*num_split"}) +
         // Shape: out_type defaults to int32 (AttrDef name 1, default_value 3)
         Op("Shape", {"T"}, {"out_type"}, Bytes(4, Bytes(1, "out_type") + Bytes(3, TypeValue(kInt32))));
}
std::string Const(const std::string& name, int dtype) {
  return Node(name, "Const", {}, Attr("dtype", TypeValue(dtype)));
}
std::string Typed(const std::string& name, const std::string& op, const std::vector<std::string>& inputs, int t) {
  return Node(name, op, inputs, Attr("T", TypeValue(t)));
}

// An attr without a default in the op's OpDef: a node lacking it is refused (TensorFlow:
// "NodeDef missing attr(s) ...", names sorted), as one holding it with no value is,
// wherever the attr entries are (before the op field too); the per-node mask check
// falls back to a full scan past 63 such attrs or for a name of 64+ bytes.
void TestRequiredAttrs() {
  auto attr_def = [](const std::string& name, const std::string& type) {
    return Bytes(4, Bytes(1, name) + Bytes(2, type));
  };
  const std::string ops = Op("C", {}, {"dtype"}, attr_def("value", "tensor") + attr_def("dtype", "type")) +
                          Op("Id", {"T"}, {"T"}, attr_def("T", "type"));
  const std::string dtype = Attr("dtype", TypeValue(kFloat)), value = Attr("value", Bytes(8, ""));
  auto refused = [&](const std::string& nodes, const std::string& node) {
    try {
      fastmeta::RewriteMetaGraph(TypedMeta(ops, nodes), Opts("imp"));
    } catch (const fastmeta::GraphError& e) {
      CHECK(e.node() == node);
      return std::string(e.what());
    }
    std::fprintf(stderr, "not refused\n");
    std::abort();
  };
  auto accepted = [&](const std::string& nodes) {
    return fastmeta::RewriteMetaGraph(TypedMeta(ops, nodes), Opts("imp"))->num_nodes();
  };
  CHECK(accepted(Node("c", "C", {}, dtype + value) + Node("i", "Id", {"c"}, Attr("T", TypeValue(kFloat)))) == 2);
  CHECK(refused(Node("c", "C", {}, dtype), "c") == "Node 'c' (op 'C'): NodeDef missing attr 'value' from its OpDef");
  CHECK(refused(Node("c", "C", {}, Attr("_class", Bytes(1, ""))), "c") ==
        "Node 'c' (op 'C'): NodeDef missing attrs 'dtype', 'value' from its OpDef");
  CHECK(Contains(refused(Node("c", "C", {}, dtype + value) + Node("i", "Id", {"c"}), "i"), "NodeDef missing attr 'T'"));
  // A valueless attr is reported before a missing one (as TensorFlow checks them).
  CHECK(Contains(refused(Node("c", "C", {}, Attr("dtype", "")), "c"),
                 "AttrValue missing value with expected type 'type'"));
  // A repeated key counts once; its last entry is the value.
  CHECK(accepted(Node("c", "C", {}, dtype + value + dtype)) == 1);
  // Attrs before the op field (field order is free): read without the signature, then
  // checked in full.
  auto before_op = [](const std::string& name, const std::string& attrs, const std::string& op) {
    return Bytes(1, Bytes(1, name) + attrs + Bytes(2, op));
  };
  CHECK(accepted(before_op("c", dtype + value, "C")) == 1);
  CHECK(accepted(Bytes(1, Bytes(1, "c") + dtype + Bytes(2, "C") + value)) == 1);  // (one on each side)
  CHECK(Contains(refused(before_op("c", dtype, "C"), "c"), "NodeDef missing attr 'value'"));
  CHECK(Contains(refused(before_op("c", dtype + Attr("value", ""), "C"), "c"),
                 "AttrValue missing value with expected type 'tensor'"));
  // An op field, then attrs, then another op field (the last wins): checked against the last.
  CHECK(Contains(refused(Bytes(1, Bytes(1, "c") + Bytes(2, "NoOp") + dtype + Bytes(2, "C")), "c"),
                 "missing attr 'value'"));
  // More attrs than the mask has bits, and a long name: every node is scanned.
  std::string many_defs, many;
  for (int k = 0; k < 70; ++k) {
    many_defs += attr_def("a" + std::to_string(k), "int");
    many += Attr("a" + std::to_string(k), VarintField(3, 1));
  }
  const std::string long_name(64, 'x');
  const std::string more = Op("Many", {}, {}, many_defs) + Op("Long", {}, {}, attr_def(long_name, "int"));
  CHECK(fastmeta::RewriteMetaGraph(TypedMeta(more, Node("m", "Many", {}, many)), Opts())->num_nodes() == 1);
  const std::string all_but_last = many.substr(0, many.size() - Attr("a69", VarintField(3, 1)).size());
  CHECK(Contains(ExpectError<fastmeta::GraphError>(TypedMeta(more, Node("m", "Many", {}, all_but_last))),
                 "NodeDef missing attr 'a69'"));
  CHECK(fastmeta::RewriteMetaGraph(TypedMeta(more, Node("l", "Long", {}, Attr(long_name, VarintField(3, 1)))), Opts())
            ->num_nodes() == 1);
  CHECK(Contains(ExpectError<fastmeta::GraphError>(TypedMeta(more, Node("l", "Long"))),
                 "NodeDef missing attr '" + long_name + "'"));
  // A function's body nodes are not checked (TensorFlow's importer does not validate
  // them), nor are the attrs a function's signature declares on its calls.
}

void TestEdgeTypes() {
  const std::string ops = TypeOps();
  const std::string base =
      Const("f", kFloat) + Const("i", kInt32) + Node("v", "Var", {}, Attr("dtype", TypeValue(kFloat)));
  auto accepts = [&](const std::string& nodes, const fastmeta::RewriteOptions& o = Opts()) {
    return fastmeta::RewriteMetaGraph(TypedMeta(ops, base + nodes), o)->num_nodes() > 0;
  };
  auto refuses = [&](const std::string& nodes, const fastmeta::RewriteOptions& o = Opts()) {
    return ExpectError<fastmeta::GraphError>(TypedMeta(ops, base + nodes), o);
  };
  CHECK(refuses(Typed("x", "Identity", {"i"}, kFloat)) ==
        "Input 0 of node x was passed int32 from i:0 incompatible with expected float.");
  CHECK(refuses(Typed("x", "Identity", {"i"}, kFloat), Opts("imp")) ==
        "Input 0 of node imp/x was passed int32 from imp/i:0 incompatible with expected float.");
  // Refs: a ref input takes only a ref; a non-ref input takes the ref of its type.
  CHECK(accepts(Typed("x", "Assign", {"v", "f"}, kFloat) + Typed("y", "Identity", {"v"}, kFloat)));
  CHECK(accepts(Typed("x", "Assign", {"v", "v"}, kFloat)));
  CHECK(refuses(Typed("x", "Assign", {"f", "f"}, kFloat)) ==
        "Input 0 of node x was passed float from f:0 incompatible with expected float_ref.");
  CHECK(Contains(refuses(Typed("x", "Assign", {"v", "v"}, kInt32)),
                 "was passed float_ref from v:0 incompatible with expected int32_ref."));
  // number_attr and type_list_attr inputs and outputs; a fixed type.
  const std::string n2 = Attr("N", VarintField(3, 2));
  CHECK(Contains(refuses(Node("x", "AddN", {"f", "i"}, Attr("T", TypeValue(kFloat)) + n2)),
                 "Input 1 of node x was passed int32"));
  const std::string idn = Node("idn", "IdentityN", {"f", "i"}, Attr("T", TypeListValue({kFloat, kInt32})));
  CHECK(accepts(idn + Typed("x", "Identity", {"idn:1"}, kInt32) + Typed("y", "Identity", {"idn"}, kFloat)));
  CHECK(Contains(refuses(idn + Typed("x", "Identity", {"idn:1"}, kFloat)),
                 "was passed int32 from idn:1 incompatible with expected float."));
  CHECK(Contains(refuses(Node("idn", "IdentityN", {"i", "i"}, Attr("T", TypeListValue({kFloat, kInt32})))),
                 "Input 0 of node idn"));
  const std::string split =
      Node("s", "Split", {"i", "f"}, Attr("T", TypeValue(kFloat)) + Attr("num_split", VarintField(3, 3)));
  CHECK(accepts(split + Typed("x", "Identity", {"s:2"}, kFloat)));
  CHECK(Contains(
      refuses(Node("s", "Split", {"f", "f"}, Attr("T", TypeValue(kFloat)) + Attr("num_split", VarintField(3, 3)))),
      "expected int32."));
  // Attr entries before the op field (read before its OpDef is known): their counts and
  // types are checked all the same (and a rewrite's output, with op first, agrees).
  auto before_op = [](const std::string& name, const std::string& attrs, const std::string& op,
                      const std::vector<std::string>& inputs) {
    std::string node = Bytes(1, name) + attrs + Bytes(2, op);
    for (const std::string& in : inputs) node += Bytes(3, in);
    return Bytes(1, node);
  };
  const std::string split_attrs = Attr("T", TypeValue(kFloat)) + Attr("num_split", VarintField(3, 2));
  CHECK(accepts(before_op("s", split_attrs, "Split", {"i", "f"}) + Typed("x", "Identity", {"s:1"}, kFloat)));
  CHECK(Contains(refuses(before_op("s", split_attrs, "Split", {"i", "f"}) + Typed("x", "Identity", {"s:2"}, kFloat)),
                 "s:2"));
  CHECK(Contains(refuses(before_op("s", split_attrs, "Split", {"i", "f"}) + Typed("x", "Identity", {"s:1"}, kInt32)),
                 "was passed float from s:1"));
  CHECK(Contains(refuses(before_op("idn", Attr("T", TypeListValue({kFloat})), "IdentityN", {"f", "f"})),
                 "takes 1 data input"));
  // A packed type list ending inside a varint (malformed): refused, as protobuf refuses it.
  const std::string cut = Attr("T", Bytes(1, Bytes(6, std::string("\x01\x83", 2))));
  const std::string cut_nodes = Node("idn", "IdentityN", {"f"}, cut) + Node("x", "Identity", {"idn:1"});
  CHECK(Contains(ExpectError<fastmeta::ParseError>(TypedMeta(ops, base + cut_nodes)),
                 "Node 'idn': malformed NodeDef: attr 'T' value: packed field ends inside a value"));
  // A type attr's default (Shape's out_type), and none (not checked).
  CHECK(Contains(refuses(Typed("s", "Shape", {"f"}, kFloat) + Typed("x", "Identity", {"s"}, kFloat)),
                 "was passed int32 from s:0"));
  CHECK(accepts(Node("x", "Identity", {"i"})));
  CHECK(accepts(Node("c", "Const") + Typed("x", "Identity", {"c"}, kFloat)));
  // Not checked: an op the list lacks, a function, control inputs, a type no DataType has.
  CHECK(accepts(Typed("x", "Unlisted", {"i"}, kFloat) + Typed("y", "Identity", {"x"}, kFloat)));
  CHECK(accepts(Typed("x", "Identity", {"f", "^i"}, kFloat)));
  CHECK(accepts(Typed("x", "Identity", {"i"}, 77)));
  // A function's call: checked against the function's signature (here one that takes a
  // float and shadows the op, whose OpDef takes T).
  auto with_function = [&](const std::string& nodes, const std::string& signature_args) {
    return TypedMeta(ops, base + nodes) + Bytes(2, Bytes(2, Bytes(1, Bytes(1, Bytes(1, "Identity") + signature_args))));
  };
  CHECK(fastmeta::RewriteMetaGraph(with_function(Typed("x", "Identity", {"f"}, kInt32), Bytes(2, Arg("#1"))), Opts())
            ->num_nodes() == 4);
  CHECK(ExpectError<fastmeta::GraphError>(with_function(Typed("x", "Identity", {"i"}, kInt32), Bytes(2, Arg("#1")))) ==
        "Input 0 of node x was passed int32 from i:0 incompatible with expected float.");
  CHECK(Contains(ExpectError<fastmeta::GraphError>(with_function(Typed("x", "Identity", {"f"}, kFloat), "")),
                 "takes 0 data inputs"));
  // The switch.
  auto off = Opts();
  off.check_types = false;
  CHECK(accepts(Typed("x", "Identity", {"i"}, kFloat), off));
  // The first bad edge in the import's order (x waits for y, which the file lists later),
  // a loop's back edge last; the same on several threads.
  const std::string order = Typed("x", "Identity", {"y"}, kFloat) + Typed("y", "Identity", {"f"}, kInt32);
  CHECK(refuses(order) == "Input 0 of node y was passed float from f:0 incompatible with expected int32.");
  const std::string merge_ops = ops + Op("Merge", {"T*N"}, {"T", "#3"}) + Op("NextIteration", {"T"}, {"T"});
  auto loop_error = [&](const std::string& nodes, unsigned threads) {
    auto o = Opts();
    o.threads = threads;
    return ExpectError<fastmeta::GraphError>(TypedMeta(merge_ops, base + nodes), o);
  };
  const std::string bad_loop =
      Node("m", "Merge", {"f", "n"}, Attr("T", TypeValue(kFloat)) + Attr("N", VarintField(3, 2))) +
      Typed("n", "NextIteration", {"i"}, kInt32);
  CHECK(Contains(loop_error(bad_loop, 1), "Input 1 of node m was passed int32 from n:0"));
  CHECK(Contains(loop_error(bad_loop + Typed("w", "Identity", {"f"}, kInt32), 1), "of node w "));
  std::string many;
  for (int k = 0; k < 30000; ++k) {
    many += Typed("n" + std::to_string(k), "Identity", {k ? "n" + std::to_string(k - 1) : "f"}, kFloat);
  }
  const std::string bad_many =
      many + Typed("late", "Identity", {"n29999"}, kInt32) + Typed("early", "Identity", {"n3"}, kInt32);
  for (unsigned threads : {1u, 2u, 4u}) {
    CHECK(Contains(loop_error(bad_many, threads), "Input 0 of node late was passed float from n29999:0"));
  }
  // input_map targets: checked when their dtype is given.
  auto mapped = Opts();
  mapped.input_map = {{"f:0", "t:0"}};
  CHECK(accepts(Typed("x", "Identity", {"f"}, kFloat), mapped));
  mapped.input_map_dtypes = {kFloatRef};
  CHECK(accepts(Typed("x", "Identity", {"f"}, kFloat), mapped));
  mapped.input_map_dtypes = {kInt32};
  CHECK(refuses(Typed("x", "Identity", {"f"}, kFloat), mapped) ==
        "Input 0 of node x was passed int32 from t:0 incompatible with expected float.");
  mapped.input_map = {{"f", "t:1"}, {"f:0", "u:2"}};  // two spellings of one key: the later wins
  mapped.input_map_dtypes = {kFloat, kInt32};
  CHECK(Contains(refuses(Typed("x", "Identity", {"f"}, kFloat), mapped), "from u:2 incompatible"));
  mapped.input_map_dtypes = {kInt32, 0};
  CHECK(accepts(Typed("x", "Identity", {"f"}, kFloat), mapped));
  mapped.input_map_dtypes = {kInt32, 999};  // no DataType: not checked
  CHECK(accepts(Typed("x", "Identity", {"f"}, kFloat), mapped));
  // Hostile attrs and op lists: never a crash; what protobuf refuses is refused, what
  // cannot be read is not checked.
  CHECK(Contains(
      ExpectError<fastmeta::ParseError>(TypedMeta(ops, base + Node("x", "Identity", {"i"}, Attr("T", "\x30")))),
      "attr 'T' value: truncated or overlong varint"));
  CHECK(accepts(Node("x", "Identity", {"i"}, Attr("T", "\x30\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"))));
  CHECK(
      accepts(Node("x", "Identity", {"i"}, Attr("T", TypeValue(kFloat) + VarintField(3, 1)))));  // then an int: no type
  CHECK(Contains(refuses(Node("x", "Identity", {"i"}, Attr("T", VarintField(3, 1) + TypeValue(kFloat)))),
                 "expected float"));
  auto no_sig = Opts();
  no_sig.check_signatures = false;
  CHECK(Contains(
      ExpectError<fastmeta::ParseError>(
          TypedMeta(ops, base + Node("x", "IdentityN", {"f", "i"}, Attr("T", Bytes(1, Bytes(6, "\xff"))))), no_sig),
      "packed field ends inside a value"));  // a bad packed list
  CHECK(accepts(Node("x", "IdentityN", {"f", "i"}, Attr("T", Bytes(1, Bytes(6, std::string("\x01\x03", 2)))))));
  CHECK(Contains(refuses(Node("x", "IdentityN", {"f", "i"}, Attr("T", Bytes(1, Bytes(6, std::string("\x03\x03", 2)))))),
                 "Input 0 of node x"));
  const std::string huge = Attr("T", TypeValue(kFloat)) + Attr("N", VarintField(3, uint64_t{1} << 40));
  CHECK(accepts(Node("x", "AddN", {"f", "f"}, huge), off));
  CHECK(accepts(Node("x", "AddN", {"f", "f"}, huge), no_sig));
  CHECK(Contains(
      refuses(Node("x", "AddN", {"f", "i"}, Attr("T", TypeValue(kFloat)) + Attr("N", VarintField(3, 5))), no_sig),
      "Input 1 of node x"));
  std::string wide_ops = Bytes(1, Bytes(1, "Wide") + Bytes(3, Arg("T*N")) + Bytes(3, Arg("#3")));
  CHECK(fastmeta::RewriteMetaGraph(
            TypedMeta(ops + wide_ops,
                      base + Node("w", "Wide", {}, Attr("T", TypeValue(kFloat)) + Attr("N", VarintField(3, 300))) +
                          Typed("x", "Identity", {"w:299"}, kFloat)),
            Opts())
            ->num_nodes() == 5);
  const std::string wide3 = Node("w", "Wide", {}, Attr("T", TypeValue(kFloat)) + Attr("N", VarintField(3, 3)));
  CHECK(Contains(ExpectError<fastmeta::GraphError>(
                     TypedMeta(ops + wide_ops, base + wide3 + Typed("x", "Identity", {"w:3"}, kFloat))),
                 "was passed int32 from w:3"));
}

// RewriteOptions::registry: its OpDefs over the file's (defaults, signatures, dtypes),
// read for ops the file does not list too (from the parse's threads); an attr the
// registry's OpDef lacks and the file's has at a default is dropped at that default.
void TestRegistry() {
  const std::string int_default = Bytes(3, VarintField(3, 7));  // AttrDef.default_value {i: 7}
  auto attr_def = [](const std::string& name, const std::string& default_value) {
    return Bytes(4, Bytes(1, name) + default_value);
  };
  // The registry: Identity grew `knob` (default 7); Shape's out_type defaults to int32.
  const std::string registry = TypeOps() + Op("Identity", {"T"}, {"T"}, attr_def("knob", int_default));
  // The file: an old Identity (no knob) with an attr `old` the registry dropped (default 7).
  const std::string file_ops = Op("Identity", {"T"}, {"T"}, attr_def("old", int_default)) + Op("Const", {}, {"dtype"});
  const fastmeta::OpRegistry reg(registry);
  CHECK(reg.size() == 8 && !reg.Find("Shape").empty() && reg.Find("Unlisted").empty());
  auto o = Opts();
  o.registry = &reg;
  const std::string at_default = Attr("old", VarintField(3, 7)), off_default = Attr("old", VarintField(3, 8));
  const std::string nodes = Const("f", kFloat) +
                            Node("x", "Identity", {"f"}, Attr("T", TypeValue(kFloat)) + at_default) +
                            Node("y", "Identity", {"x"}, Attr("T", TypeValue(kFloat)) + off_default);
  auto g = fastmeta::RewriteMetaGraph(TypedMeta(file_ops, nodes), o);
  const std::string x(g->node_def(static_cast<size_t>(g->Find("x"))));
  const std::string y(g->node_def(static_cast<size_t>(g->Find("y"))));
  CHECK(Contains(x, "knob") && !Contains(x, "old"));
  CHECK(Contains(y, "knob") && Contains(y, "old"));
  // Without the registry: the file's OpDefs only (the old attr kept, no knob).
  g = fastmeta::RewriteMetaGraph(TypedMeta(file_ops, nodes), Opts());
  CHECK(!Contains(std::string(g->node_def(static_cast<size_t>(g->Find("x")))), "knob"));
  // An op the file does not list: checked by the registry; on several threads, the same.
  std::string many = Const("f", kFloat) + Const("i", kInt32);
  for (int k = 0; k < 20000; ++k) many += Node("s" + std::to_string(k), "Shape", {"f"}, Attr("T", TypeValue(kFloat)));
  many += Typed("bad", "Identity", {"s7"}, kFloat);
  for (unsigned threads : {1u, 2u, 4u}) {
    o.threads = threads;
    CHECK(ExpectError<fastmeta::GraphError>(TypedMeta(file_ops, many), o) ==
          "Input 0 of node bad was passed int32 from s7:0 incompatible with expected float.");
    CHECK(ExpectError<fastmeta::GraphError>(Meta(many), o) ==
          "Input 0 of node bad was passed int32 from s7:0 incompatible with expected float.");
  }
  // A malformed registry is a ParseError, not a crash. (An OpDef's name as a varint is
  // an unknown field, as protobuf reads it: an OpDef without a name.)
  CHECK(fastmeta::OpRegistry(std::string("\x0a\x02\x08\x01", 4)).size() == 1);
  for (const std::string& bad : {std::string("\x0a\x05\x0a\x01", 4), std::string("\x08", 1)}) {
    bool refused = false;
    try {
      fastmeta::OpRegistry broken(bad);
    } catch (const fastmeta::ParseError&) {
      refused = true;
    }
    CHECK(refused);
  }
}

// SameAttrValue: encodings of one AttrValue are equal, values that differ as messages
// are not (cases checked against protobuf's message equality in
// tests/test_attr_edge_cases.py), malformed and too deeply nested ones equal nothing else.
void TestSameAttrValue() {
  using fastmeta::SameAttrValue;
  auto s = [](const char* bytes, size_t n) { return std::string(bytes, n); };
  const std::string packed = s("\x0a\x04\x1a\x02\x01\x02", 6), unpacked = s("\x0a\x04\x18\x01\x18\x02", 6);
  CHECK(SameAttrValue(packed, unpacked));
  CHECK(SameAttrValue(s("\x18\x87\x00", 3), s("\x18\x07", 2)));       // a redundant varint byte
  CHECK(SameAttrValue(s("\x28\x02", 2), s("\x28\x01", 2)));           // bool 2
  CHECK(SameAttrValue(s("\x12\x01x\x18\x07", 5), s("\x18\x07", 2)));  // the oneof's last member
  CHECK(!SameAttrValue(s("\x18\x07", 2), s("\x18\x08", 2)));
  CHECK(!SameAttrValue(s("\x25\x00\x00\x00\x80", 5), s("\x25\x00\x00\x00\x00", 5)));  // -0.0, 0.0
  CHECK(!SameAttrValue(s("\x3a\x00", 2), std::string()));                             // an empty shape is set
  CHECK(!SameAttrValue(s("\x18\x07\x98\x06\x01", 5), s("\x18\x07", 2)));              // an unknown field counts
  CHECK(SameAttrValue(s("\x18\x07\x90\x06\x01\x98\x06\x02", 8), s("\x98\x06\x02\x18\x07\x90\x06\x01", 8)));
  // shape: in two pieces, fields reordered, an explicit false
  CHECK(SameAttrValue(s("\x3a\x02\x12\x00\x3a\x04\x12\x02\x08\x03", 10), s("\x3a\x06\x12\x00\x12\x02\x08\x03", 8)));
  CHECK(SameAttrValue(s("\x3a\x02\x18\x00", 4), s("\x3a\x00", 2)));
  // malformed: equal to its own bytes only
  CHECK(SameAttrValue(s("\x3a\x05", 2), s("\x3a\x05", 2)));
  CHECK(!SameAttrValue(s("\x3a\x05", 2), s("\x3a\x06", 2)));
  // nested too deep (func -> its attr -> func ...): not equal to another encoding
  auto ld = [](char tag, const std::string& payload) {
    std::string out(1, tag);
    size_t n = payload.size();
    for (; n >= 0x80; n >>= 7) out += static_cast<char>((n & 0x7f) | 0x80);
    return out + static_cast<char>(n) + payload;
  };
  auto wrap = [&](const std::string& v) {
    return ld('\x52', ld('\x0a', "f") + ld('\x12', ld('\x0a', "a") + ld('\x12', v)));
  };
  std::string deep = s("\x18\x01", 2), deep2 = s("\x18\x81\x00", 3);
  for (int k = 0; k < 150; ++k) {
    deep = wrap(deep);
    deep2 = wrap(deep2);
    if (k == 10) CHECK(SameAttrValue(deep, deep2));
  }
  CHECK(SameAttrValue(deep, deep) && !SameAttrValue(deep, deep2));
}

// ---------------------------------------------------------------------------
// The word-at-a-time string checks against byte-at-a-time definitions: HashName's tail
// loads, IsValidUtf8's inline ASCII path, IsValidNodeName's 16-byte scan, at every length
// and position around their word and vector boundaries, and at every byte value.

[[maybe_unused]] static uint64_t ReferenceHashName(std::string_view s) {
  const char* p = s.data();
  size_t n = s.size();
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdULL;
    h ^= h >> 32;
  }
  uint64_t w = 0;
  for (size_t i = 0; i < n; ++i) w |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 29;
  h *= 0x9e3779b97f4a7c15ULL;
  return h ^ (h >> 32);
}

static bool ReferenceNodeName(std::string_view name) {
  auto first = [](unsigned char c) { return std::isalnum(c) || c == '.'; };
  auto follow = [&first](unsigned char c) { return first(c) || c == '_' || c == '-' || c == '/'; };
  size_t i = 0;
  while (true) {
    if (i >= name.size() || !first(static_cast<unsigned char>(name[i]))) return false;
    for (++i; i < name.size() && follow(static_cast<unsigned char>(name[i])); ++i) {
    }
    if (i == name.size()) return true;
    if (name[i++] != '>') return false;
  }
}

void TestStringChecks() {
  std::string buf(128, 'x');
  uint64_t seed = 12345;
  auto next = [&seed]() {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<unsigned char>(seed >> 56);
  };
  for (size_t start = 0; start < 8; ++start) {
    for (size_t n = 0; n <= 48; ++n) {
      for (int round = 0; round < 4; ++round) {
        for (size_t i = 0; i < n; ++i) buf[start + i] = static_cast<char>(next());
        const std::string_view s(buf.data() + start, n);
        CHECK(fastmeta::HashName(s) == ReferenceHashName(s));
      }
    }
  }
  // Pure ASCII: valid; one byte >= 0x80 anywhere: decided by the full decoder.
  for (size_t n = 0; n <= 40; ++n) {
    std::string ascii(n, 'a');
    CHECK(fastmeta::wire::IsValidUtf8(ascii));
    for (size_t at = 0; at < n; ++at) {
      std::string bad = ascii;
      bad[at] = static_cast<char>(0x80);  // a lone continuation byte
      CHECK(!fastmeta::wire::IsValidUtf8(bad));
      bad[at] = static_cast<char>(0xff);
      CHECK(!fastmeta::wire::IsValidUtf8(bad));
      if (at + 1 < n) {
        std::string good = ascii;
        good[at] = static_cast<char>(0xc3);  // U+00E9
        good[at + 1] = static_cast<char>(0xa9);
        CHECK(fastmeta::wire::IsValidUtf8(good));
        std::string overlong = ascii;
        overlong[at] = static_cast<char>(0xc0);
        overlong[at + 1] = static_cast<char>(0xaf);
        CHECK(!fastmeta::wire::IsValidUtf8(overlong));
      }
    }
  }
  // Every byte value at every position of names up to 50 long, one and two parts.
  for (size_t n = 1; n <= 50; ++n) {
    for (size_t at = 0; at < n; ++at) {
      for (int c = 0; c < 256; ++c) {
        std::string name(n, 'a');
        for (size_t i = 0; i < n; ++i) name[i] = "aZ9._-/"[i % 7];
        name[0] = 'n';
        name[at] = static_cast<char>(c);
        CHECK(fastmeta::IsValidNodeName(name) == ReferenceNodeName(name));
        const std::string two = name + ">" + name;
        CHECK(fastmeta::IsValidNodeName(two) == ReferenceNodeName(two));
      }
    }
  }
  // CopyBytes copies exactly [0, n) (the bytes around untouched); SameBytes is ==.
  for (size_t n = 0; n <= 100; ++n) {
    std::string src(n, '\0'), dst(n + 16, '#');
    for (size_t i = 0; i < n; ++i) src[i] = static_cast<char>(next());
    fastmeta::wire::CopyBytes(dst.data() + 8, src.data(), n);
    CHECK(dst.substr(8, n) == src);
    CHECK(dst.substr(0, 8) == std::string(8, '#') && dst.substr(8 + n) == std::string(8, '#'));
    CHECK(fastmeta::SameBytes(src, dst.substr(8, n)));
    CHECK(!fastmeta::SameBytes(src, src + "x") && !fastmeta::SameBytes(src + "x", src));
    for (size_t at = 0; at < n; ++at) {
      std::string other = src;
      other[at] = static_cast<char>(other[at] ^ 0x01);
      CHECK(!fastmeta::SameBytes(src, other));
      other[at] = static_cast<char>(other[at] ^ 0x81);
      CHECK(!fastmeta::SameBytes(other, src));
    }
  }
  CHECK(!fastmeta::IsValidNodeName(""));
  CHECK(!fastmeta::IsValidNodeName("abcdefghijklmnopqrstuvwxyz>"));
  CHECK(fastmeta::IsValidNodeName("abcdefghijklmnopqrstuvwxyz/ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789-.x"));
}

int main() {
  TestValidRewrite();
  TestNodeLengthAcrossVarintBoundaries();
  TestEmpty();
  TestTruncatedAtEveryByte();
  TestWireErrors();
  TestCopiedThroughFieldsChecked();
  TestDeepNesting();
  TestWireAsProtobufReadsIt();
  TestUnknownFieldsPreserved();
  TestGraphErrors();
  TestScopes();
  TestInputMapErrors();
  TestExistingClash();
  TestInputSpelling();
  TestConsumers();
  TestCollectedOutputShapes();
  TestExportNodes();
  TestExportCountedByAttrs();
  TestExportOptions();
  TestExportThreadsAndCheck();
  TestThreadsSameResultAndError();
  TestBoundaryScanInHalves();
  TestLongNames();
  TestImportOrder();
  TestColocatedDevices();
  TestClassNotListAndDeviceMessages();
  TestOpListDefaults();
  TestRequiredAttrs();
  TestSizeLimit();
  TestFiles();
  TestTruncatedWhileMapped();
  TestSnappyClaims();
  TestVariableDefRows();
  TestFindMany();
  TestLargeBlocks();
  TestMovedPages();
  TestRecycledScratchOutput();
  TestGuidedSplit();
  TestVariablesLookedUpOnTheWay();
  TestEdgeTypes();
  TestRegistry();
  TestSameAttrValue();
  TestStringChecks();
  TestCheckParses();
  TestGraphDebugInfoChecked();
  TestWireErrorsNameTheNode();
  ReplayRegressions();
  std::printf("rewriter_test: all passed\n");
  return 0;
}
