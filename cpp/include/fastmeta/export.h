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

  // The number of outputs every node of the op has (its OpDef fixes it), or one of the
  // two values above.
  int32_t outputs = kOutputsByCaller;

  // The shape of an output the file recorded none for.
  enum class Missing : uint8_t {
    kUnknown,   // unknown rank
    kInput0,    // the shape of the node's first data input (Identity, Snapshot)
    kByCaller,  // the caller infers it: the node is left to the caller
  };
  Missing missing = Missing::kByCaller;
};

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
};

struct ExportedNodes {
  // GraphDef.node fields (tag, length, NodeDef) of the nodes written, in node order.
  wire::Buffer bytes;
  // The nodes left to the caller, ascending, and where each one's field goes in `bytes`.
  std::vector<uint32_t> left;
  std::vector<uint64_t> left_at;
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
