// export_meta_graph's GraphDef at the bytes level: an imported graph's rewritten
// NodeDefs with the `_output_shapes` attr TensorFlow's as_graph_def(add_shapes=True)
// gives them, from the shapes the file recorded (kept aside by the rewrite), without
// parsing the nodes into messages.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fastmeta/rewriter.h"
#include "fastmeta/wire.h"

namespace fastmeta {

// How the nodes of one op type get their `_output_shapes`.
struct ExportOpRule {
  static constexpr int32_t kOutputsNotKnown = -1;  // no OpDef: the recorded shapes as they are
  static constexpr int32_t kOutputsByCaller = -2;  // the count depends on the node: left to the caller
  static constexpr int32_t kOutputsByAttrs = -3;   // the count is read from the node's attrs (output_args)

  // The number of outputs every node of the op has (its OpDef fixes it), or one of the
  // three values above.
  int32_t outputs = kOutputsByCaller;

  // kOutputsByAttrs: the OpDef's output args, in order. An arg with a `type_list_attr`
  // counts that attr's list.type entries; else it counts one, or its `number_attr`'s i,
  // and its `type_attr` (when set: the arg has no fixed type) must be present. A node
  // lacking any of those attrs has no known count (its recorded shapes written as they
  // are, as kOutputsNotKnown); one whose attrs are spelled in any other way (a repeated
  // key, a value holding more than that field, a negative i) is the caller's.
  struct OutputArg {
    std::string number_attr;
    std::string type_list_attr;
    std::string type_attr;
  };
  std::vector<OutputArg> output_args;

  // The shape of an output the file recorded none for.
  enum class Missing : uint8_t {
    kUnknown,   // unknown rank
    kInput0,    // the shape of the node's first data input (Identity, Snapshot)
    kByCaller,  // the caller infers it: the node is left to the caller
  };
  Missing missing = Missing::kByCaller;
};

// The fields of protobuf message types as a parser tells their wire types apart, for
// SurelyParses: messages[m][number] (numbers past the end: unknown fields).
struct WireSchema {
  enum Kind : uint8_t {
    kUnknown,  // no such field
    kVarint,   // int32, int64, uint32, uint64, sint32, sint64, bool, enum
    kFixed64,  // double, fixed64, sfixed64
    kFixed32,  // float, fixed32, sfixed32
    kString,   // string: valid UTF-8
    kBytes,
    kMessage,  // `message` is its index
    kOther,    // (groups: never surely parsed)
  };
  struct Field {
    Kind kind = kUnknown;
    bool repeated = false;
    uint32_t message = 0;
  };
  std::vector<std::vector<Field>> messages;
  // For errors, when given: message m's name, and field_names[m][number] its fields'
  // (either may be shorter than the tables; "" or missing: not named).
  std::vector<std::string> message_names;
  std::vector<std::vector<std::string>> field_names;
};

// True when `data` surely parses as message `message` of `schema` with protobuf: every
// tag, varint and length well formed; every known field of its declared wire type (a
// repeated number also packed, whole values), each string field valid UTF-8, each
// message field recursively so, no more than kSurelyParsesDepth messages deep; unknown
// fields of wire types 0, 1, 2 and 5 with numbers outside 19000-19999. False: not
// sure (a group, a field of another wire type, too deep, or malformed): the caller
// parses it with protobuf, which decides. It never says true of bytes protobuf refuses.
inline constexpr int kSurelyParsesDepth = 32;
bool SurelyParses(const WireSchema& schema, uint32_t message, std::string_view data);

// Checks that `data` parses as message `message` of `schema` lying `depth` levels below
// its file's root message, exactly as protobuf's parser (upb) reads it, without building
// anything: tags, varints, lengths and groups well formed (unknown groups nest within
// protobuf's limit of 100 from the root, as messages do), each known field of its
// declared wire type checked (a string's UTF-8, a message recursively, a repeated
// scalar's packed values whole), a known field of another wire type taken as unknown.
// (A `string` field protobuf does not check, proto2's, is kBytes to the caller.) Throws
// ParseError at the first problem, its offset counted from `data`.
void CheckParses(const WireSchema& schema, uint32_t message, std::string_view data, int depth);

// What export_meta_graph's clear_devices and strip_default_attrs change in each node.
struct ExportOptions {
  // NodeDef.device dropped. The message route also writes a `_class` attr back as a list
  // of its list's strings, and an Enter / RefEnter `frame_name` as its string: a node
  // whose value holds anything else (so that the rewrite would change it) is left to the
  // caller.
  bool clear_devices = false;
  // A node with a data input from outside the graph (an input_map target) is left to the
  // caller (who spells that input `name:index`).
  bool leave_external = false;
  // strip_default_attrs: per op type, per attr name, the serialized AttrValues that equal
  // the OpDef's default once parsed (the caller decides that, from AttrValues()): an attr
  // entry holding one of them is dropped. A node where such an attr appears twice, or
  // with an attr entry that is not a plain (key, value) pair, is left to the caller.
  struct Strip {
    std::string op;
    std::string attr;
    std::vector<std::string> values;
  };
  std::vector<Strip> strip;
  // Worker threads (0: all cores), each writing a range of nodes. The output does not
  // depend on it.
  unsigned threads = 0;
  // When set, the bytes written are checked with SurelyParses as GraphDef fields (message
  // `check_message` of it), on the same threads: ExportedNodes::surely_parses.
  const WireSchema* check = nullptr;
  uint32_t check_message = 0;
};

struct ExportedNodes {
  // GraphDef.node fields (tag, length, NodeDef) of the nodes written, in node order, in
  // one or more chunks (one per range of nodes a thread wrote: to be written one after
  // the other, never joined here, which would touch every page twice).
  std::vector<wire::Buffer> chunks;
  // The nodes left to the caller, ascending, and where each one's field goes in the
  // chunks joined.
  std::vector<uint32_t> left;
  std::vector<uint64_t> left_at;
  // With ExportOptions::check: true when the chunks surely parse (see SurelyParses).
  bool surely_parses = false;

  // The chunks joined (for tests).
  std::string Joined() const {
    std::string out;
    for (const wire::Buffer& c : chunks) out.append(c.data(), c.size());
    return out;
  }
};

// Every node of `g` (rewritten with RewriteOptions::collect_output_shapes) as
// export_meta_graph writes it: its NodeDef bytes as they are, followed by an
// `_output_shapes` attr entry when the node has outputs: the recorded entry's bytes
// when it holds exactly one shape per output (or, for an op without a known count, any
// shapes at all), else a new entry with the first recorded shapes and the missing ones
// per `rules` (keyed by op type). A node is left to the caller when its op type has no
// rule, its count is kOutputsByCaller, a missing shape is kByCaller (also through a
// chain of kInput0 nodes, or an input from outside `g`), or its recorded entry holds
// anything but a list of shapes.
// With `options`, the nodes are written with those changes (see ExportOptions); the rest
// of each NodeDef's bytes is copied as it is.
ExportedNodes ExportNodes(const RewrittenGraph& g, const std::vector<std::pair<std::string, ExportOpRule>>& rules,
                          const ExportOptions& options = {});

// For strip_default_attrs: per (op type, attr names) asked for, the distinct serialized
// values the nodes of that op hold under each of those attr names (an entry without a
// value: ""), in the order first met. Entries that are not a plain (key, value) pair are
// not read (ExportNodes leaves their nodes).
struct AttrValuesOf {
  std::string op;
  std::string attr;
  std::vector<std::string_view> values;  // (views into g's bytes)
};
std::vector<AttrValuesOf> AttrValues(const RewrittenGraph& g,
                                     const std::vector<std::pair<std::string, std::vector<std::string>>>& wanted);

}  // namespace fastmeta
