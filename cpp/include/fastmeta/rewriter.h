// The one-pass MetaGraphDef rewriter: parses the GraphDef wire format, puts node
// names, inputs and colocation entries under an import scope, applies an input_map,
// clears or canonicalises devices, restores default attrs and drops _output_shapes,
// producing exactly the GraphDef TensorFlow's graph holds after import_meta_graph.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "fastmeta/memory.h"
#include "fastmeta/variable_defs.h"
#include "fastmeta/wire.h"

namespace fastmeta {

// Something that already holds node names: the target graph of an import.
class NameLookup {
 public:
  virtual ~NameLookup() = default;
  virtual bool HasName(std::string_view name) const = 0;
  // True when `name` is a proper path prefix of a held name ("a/b" of "a/b/c").
  virtual bool HasPrefix(std::string_view name) const = 0;
  // How many names are held, and each of them, in no particular order.
  virtual size_t NameCount() const = 0;
  virtual void ForEachName(const std::function<void(std::string_view)>& visit) const = 0;
};

// A plain set of names (for nodes created outside the core).
class NameSet : public NameLookup {
 public:
  void Add(std::string name);
  bool HasName(std::string_view name) const override;
  bool HasPrefix(std::string_view name) const override;
  size_t NameCount() const override { return names_.size(); }
  void ForEachName(const std::function<void(std::string_view)>& visit) const override;

 private:
  std::unordered_set<std::string> names_;
  std::unordered_set<std::string> prefixes_;
};

// OpDefs that take precedence over a file's stripped_op_list, as TensorFlow's op registry
// does in its importer: a serialized OpList (copied), indexed by op name once, so that a
// rewrite reads only the OpDefs of the ops its graph uses. Throws ParseError.
class OpRegistry {
 public:
  explicit OpRegistry(std::string op_list);
  OpRegistry(const OpRegistry&) = delete;
  OpRegistry& operator=(const OpRegistry&) = delete;
  // The OpDef of op `name` (serialized), or empty when there is none.
  std::string_view Find(std::string_view name) const;
  // Where the OpList starts (offsets in messages about it count from there).
  const char* origin() const { return op_list_.data(); }
  size_t size() const { return index_.size(); }

 private:
  std::string op_list_;
  std::unordered_map<std::string_view, std::string_view> index_;
};

struct RewriteOptions {
  // Import scope without a trailing '/'; empty for none.
  std::string prefix;
  bool clear_devices = false;
  // input_map: key (original name "x", "x:1" or "^x") -> target tensor ("y:0", "y" or "^y").
  std::vector<std::pair<std::string, std::string>> input_map;
  // What the target graph already holds; clashing names get "_1", "_2", ... suffixes.
  std::vector<const NameLookup*> existing;
  // Enter/RefEnter nodes (by final name) whose frame_name attr is set, as TensorFlow's
  // WhileContext does for a scoped import: (final node name, frame name).
  std::vector<std::pair<std::string, std::string>> frame_names;
  // Keep the `_output_shapes` attrs (TensorFlow's importer reads them to refine shapes,
  // then drops them): for handing the result to TensorFlow's importer.
  bool keep_output_shapes = false;
  // Keep each node's `_output_shapes` entry (dropped from its NodeDef) aside, for
  // RewrittenGraph::output_shapes: the shapes TensorFlow recorded when it wrote the file.
  bool collect_output_shapes = false;
  // Write each input as the file spells it (under the prefix; "name:index" for a renamed
  // source), control inputs in the file's order: the NodeDefs TensorFlow's importer keeps
  // (for handing the result to it). Default: as TensorFlow's graph renders them from its
  // edges ("x" for "x:0", control inputs sorted, without duplicates).
  bool keep_input_spelling = false;
  // Add default attr values from each op's OpDef (TensorFlow always does).
  bool add_default_attrs = true;
  // OpDefs that take precedence over the file's stripped_op_list (null: none), as
  // TensorFlow's op registry does in its importer: for an op it has, the defaults, the
  // signature and the edge dtypes come from it (the file's OpDef is used only for ops
  // it lacks), and, with add_default_attrs, an attr of a node that its OpDef lacks but
  // the file's OpDef of the op has with a default is dropped when the node holds that
  // default (the producer op list rule). Must outlive the call.
  const OpRegistry* registry = nullptr;
  // Check each node against its op's OpDef (the registry's, else the file's
  // stripped_op_list's; a function's signature for its calls), as TensorFlow's importer
  // checks it against its registry: the number of data inputs, and that each input
  // names an output its source node has. Nodes of ops neither has are not checked. (The outputs are noted either way:
  // an unused input_map key naming an output its node lacks is an error.)
  bool check_signatures = true;
  // Check the dtype of each data edge as TensorFlow's importer does: the source output's
  // DataType (by its node's OpDef and attrs) must be the one the input takes, or its ref
  // type when the input is not a ref. Edges whose dtypes the OpDefs cannot tell (an op
  // neither the registry nor the op list has, a missing attr) are not checked.
  bool check_types = true;
  // Parallel to input_map (or empty): the DataType of each value tensor (ref types
  // + 100, as types.proto numbers them), 0 when not known (then not checked).
  std::vector<int> input_map_dtypes;
  // The input is a private read-only file mapping whose pages may be dropped once
  // read (they reload from the file if touched again): bounds peak memory.
  bool release_input_pages = false;
  // Worker threads (0: all cores). The output does not depend on it.
  unsigned threads = 0;
  // Variable collections whose VariableDefs to look up while rewriting (the names with
  // `variable_prefix` prepended, which must be `prefix` + "/", or "" without a prefix):
  // those of the keys present as bytes_list, as LookupDistinctVariableDefs would on the
  // result, on the original names' table while it is at hand. Skipped when a node is
  // renamed. See RewrittenGraph::variables().
  std::vector<std::string> variable_collections;
  std::string variable_prefix;
  // How deep the message read lies in the file protobuf parses (0: it is the file; 1: a
  // SavedModel's meta graph), for protobuf's nesting limit (100 levels from the file's
  // root, unknown groups included).
  int depth = 0;
};

// One input edge of a rewritten node.
struct Edge {
  int32_t src;    // node index in this graph; for an input_map target, -1 - k (k indexes external())
  int32_t index;  // output index, or -1 for a control input
};

// The result of a rewrite: serialized bytes plus a compact node index over them.
class RewrittenGraph : public NameLookup {
 public:
  // An entry of an open-addressing set of name scopes ("a" and "a/b" of "a/b/c"): the
  // first `size` bytes of the name of node `node` - 1 (node 0: an empty slot), hashed to
  // `hash`. (The rewriter keeps one of the file's names too.)
  struct PrefixEntry {
    uint64_t hash;
    uint32_t node;
    uint32_t size;
  };

  struct NodeEntry {
    uint64_t offset;  // NodeDef payload, within its chunk
    uint32_t chunk;
    uint32_t size;
    uint32_t name_offset, name_size;  // relative to `offset`
    uint32_t op_offset, op_size;
    uint32_t device_offset, device_size;
    uint32_t edge_begin;  // into edges_
    uint32_t edge_count;
    uint32_t num_data_inputs;
  };

  // Serialized GraphDef (nodes in TensorFlow's import order), kept as consecutive
  // chunks (one per worker thread, then the library/versions tail); graph_def()
  // concatenates them, CopyGraphDef() writes them to a caller's buffer.
  const std::vector<wire::Buffer>& chunks() const { return chunks_; }
  size_t graph_def_size() const;
  std::string graph_def() const;
  void CopyGraphDef(char* out) const;
  // The MetaGraphDef's other fields (meta_info_def, saver_def, collection_def, ...), copied through.
  std::string_view meta_rest() const { return meta_rest_.view(); }
  // Serialized OpList of the file's stripped_op_list (empty when absent).
  std::string_view op_list() const { return op_list_; }

  size_t num_nodes() const { return nodes_.size(); }
  const NodeEntry& node(size_t i) const { return nodes_[i]; }
  std::string_view name(size_t i) const { return View(i, nodes_[i].name_offset, nodes_[i].name_size); }
  std::string_view op(size_t i) const { return View(i, nodes_[i].op_offset, nodes_[i].op_size); }
  std::string_view device(size_t i) const { return View(i, nodes_[i].device_offset, nodes_[i].device_size); }
  std::string_view node_def(size_t i) const {
    return chunks_[nodes_[i].chunk].view().substr(nodes_[i].offset, nodes_[i].size);
  }
  const Edge* edges(size_t i) const { return edges_.data() + nodes_[i].edge_begin; }
  // Node i's `_output_shapes` attr entry as the file holds it (a map entry: on its own a
  // serialized NodeDef with that one attr), or empty: none, or not collected
  // (RewriteOptions::collect_output_shapes).
  std::string_view output_shapes(size_t i) const {
    if (shape_spans_.empty()) return {};
    return shape_chunks_[nodes_[i].chunk].view().substr(shape_spans_[i].offset, shape_spans_[i].size);
  }
  const std::vector<std::string>& external() const { return external_; }
  // The nodes renamed to avoid a clash with the target graph (RewriteOptions::existing):
  // (index, the node's name in the file), by index; empty when none is.
  const std::vector<std::pair<uint32_t, std::string_view>>& renamed() const { return renamed_; }
  std::string_view prefix() const { return prefix_; }
  // Whether some node's `_class` AttrValue holds no list (a scalar string, another kind,
  // or no value: TensorFlow's Python importer refuses such a node without a prefix), or a
  // list of no strings but values of another kind (refused with a prefix too).
  bool class_not_list() const { return class_not_list_.load(std::memory_order_relaxed); }
  // Whether some node keeps an `_output_shapes` attr that is no list(shape) (TensorFlow's
  // importer clears only one it reads as shapes): such a node's NodeDef still holds it.
  bool kept_output_shapes_attr() const { return kept_output_shapes_attr_.load(std::memory_order_relaxed); }

  // The GraphDef's fields after the nodes (library, versions), serialized.
  std::string_view graph_tail() const { return chunks_.back().view(); }

  // Index of the node called `name`, or -1.
  int64_t Find(std::string_view name) const;
  // out[k] = Find(names[k]) for k < count, with the lookups' cache misses overlapped
  // (a software pipeline): several times faster than one Find after another on a
  // large graph.
  void FindMany(const std::string_view* names, size_t count, int64_t* out) const;
  // FindMany calling found(k, index) as each lookup completes, in order (index -1: no
  // such node): the node's bytes, just compared, are then still in the cache.
  void FindEach(const std::string_view* names, size_t count, const std::function<void(size_t, int64_t)>& found) const;
  // True when some node's name equals `lower` ignoring ASCII case (`lower` lower-cased),
  // as TensorFlow's Graph.unique_name compares names.
  bool HasNameFolded(std::string_view lower) const;
  bool HasName(std::string_view name) const override { return Find(name) >= 0; }
  bool HasPrefix(std::string_view name) const override;
  size_t NameCount() const override { return nodes_.size(); }
  void ForEachName(const std::function<void(std::string_view)>& visit) const override {
    for (size_t i = 0; i < nodes_.size(); ++i) visit(name(i));
  }

  // The nodes with an input edge from output `index` of `src` (index -1: a control
  // edge; src < 0: external()[-1 - src]), one entry per edge (a node reading a tensor
  // twice is there twice), in node order. The reverse index is built on the first call
  // (one pass over the edges) and kept.
  std::vector<uint32_t> Consumers(int32_t src, int32_t index) const;

  // The variable collections the rewrite looked up (RewriteOptions::variable_collections),
  // or nullptr.
  struct Variables {
    std::vector<std::string> keys;  // those present as bytes_list, in the order asked
    std::vector<size_t> counts;     // each one's number of values
    std::string prefix;
    std::vector<std::string_view> defs;   // the values, key after key (into meta_rest())
    DistinctVariableDefs rows;            // LookupDistinctVariableDefs(*this, defs, prefix)
    std::vector<std::string> op_storage;  // what rows.op_types point into
    bool handed_over = false;             // the rows above were taken and freed (keys stay)
  };
  const Variables* variables() const { return variables_.get(); }
  // The rows, once, for a caller that takes them (the bindings lend them to Python): the
  // graph does not hold them for its lifetime (a later caller looks the variables up on
  // the finished graph).
  std::unique_ptr<Variables> TakeVariableRows();

 private:
  friend class Rewriter;
  std::string_view View(size_t i, uint32_t off, uint32_t size) const {
    return std::string_view(chunks_[nodes_[i].chunk].data() + nodes_[i].offset + off, size);
  }
  void BuildHashTable();
  // What Find() hashes: the name after "prefix/" (empty when the name is not under it).
  std::string_view HashKey(std::string_view final_name) const;
  // Find() once the name's HashKey is known to be non-empty and hashed to `hash`.
  int64_t FindHashed(std::string_view name, uint64_t hash) const;

  std::vector<wire::Buffer> chunks_;
  wire::Buffer meta_rest_;  // (large blocks: huge pages, not 4 KiB ones to fault in)
  std::string op_list_;
  std::string prefix_;
  std::atomic<bool> class_not_list_{false};
  std::atomic<bool> kept_output_shapes_attr_{false};
  FillLaterVector<NodeEntry> nodes_;  // every entry written by the rewriter
  FillLaterVector<Edge> edges_;
  std::vector<std::string> external_;
  std::vector<std::pair<uint32_t, std::string_view>> renamed_;  // views into renamed_names_
  std::string renamed_names_;
  struct ShapeSpan {
    uint32_t offset, size;  // in shape_chunks_[the node's chunk]
  };
  FillLaterVector<ShapeSpan> shape_spans_;  // per node, when collected
  std::vector<wire::Buffer> shape_chunks_;  // one per output chunk
  FillLaterVector<uint64_t> table_;         // open addressing: hash fingerprint | node index + 1, 0 = empty
  std::unique_ptr<Variables> variables_;
  mutable std::once_flag prefixes_once_;
  mutable std::once_flag folded_once_;
  mutable std::once_flag consumers_once_;
  // The reverse of edges_: for source s (a node, then external k at num_nodes() + k),
  // (consumer, output index) pairs in consumer_edges_[consumer_begin_[s] ..
  // consumer_begin_[s + 1]).
  mutable std::vector<uint32_t> consumer_begin_;
  mutable std::vector<Edge> consumer_edges_;
  mutable std::vector<uint64_t> folded_table_;     // like table_, on the names' ASCII lower case
  mutable std::vector<PrefixEntry> prefix_table_;  // the scopes of the names (see HasPrefix)
};

// Rewrites a serialized MetaGraphDef. Throws ParseError, GraphError, InputMapError, SizeLimitError.
std::unique_ptr<RewrittenGraph> RewriteMetaGraph(std::string_view meta_graph, const RewriteOptions& options);

// Rewrites a bare serialized GraphDef, taking default attrs from `op_list` (a serialized OpList, may be empty).
std::unique_ptr<RewrittenGraph> RewriteGraphDef(std::string_view graph_def, std::string_view op_list,
                                                const RewriteOptions& options);

// The MetaGraphDef's fields other than graph_def, serialized (a cheap top-level scan).
std::string MetaGraphRest(std::string_view meta_graph);
// The same as views into `meta_graph`, field after field (for a caller that copies them
// into a buffer of its own in one go).
std::vector<std::string_view> MetaGraphRestParts(std::string_view meta_graph, int depth = 0);

// TensorFlow's name of a DataType in its messages (DataTypeString: "float", "int32",
// "float_ref"; "unknown dtype enum (N)" for an unknown one), as the importer's use them.
std::string DataTypeString(int dtype);

// protobuf's hard limit on a serialized message.
constexpr uint64_t kMaxMessageSize = (uint64_t{1} << 31) - 1;

}  // namespace fastmeta
