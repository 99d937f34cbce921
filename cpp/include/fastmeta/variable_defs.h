// The import's bulk path for the variable collections: many serialized VariableDefs
// parsed at once and their four graph-element names (scope prepended) looked up in a
// rewritten graph, so the Python layer only makes the Variable objects.
//
// This is a fast path, not the reference: a row it cannot settle with certainty (bytes
// that do not parse cleanly, a field of an unexpected wire type, text that is not UTF-8,
// an enum or bool value outside its usual range) is returned unparsed, and the caller
// rebuilds that variable the slow way, which also reports the error.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace fastmeta {

class RewrittenGraph;

// The graph element `name` names: "op" (output -1) or "op:k" (k of at most 9 digits).
// Returns the node index, or -1 when there is no such node or the name is of neither form.
int64_t FindElement(const RewrittenGraph& graph, std::string_view name, int64_t* output);

struct VariableDefRow {
  // Bits of `flags`.
  static constexpr int64_t kParsed = 1;         // the fields below are valid
  static constexpr int64_t kResource = 2;       // is_resource
  static constexpr int64_t kTrainable = 4;      // trainable
  static constexpr int64_t kSliceInfo = 8;      // save_slice_info_def present (the caller parses it)
  static constexpr int64_t kInitialValue = 16;  // initial_value_name is not empty
  static constexpr int64_t kCanonical = 32;     // the variable name is "op:k" spelled as the tensor's name
  // Columns: variable, initializer, snapshot, initial value.
  int64_t node[4];    // node index; -1: empty, not found, or not "op"/"op:k"
  int64_t output[4];  // output index; -1 for an op name
  int64_t op[4];      // op type, an index into the `op_types` list; -1 with node -1
  int64_t synchronization;
  int64_t aggregation;
  int64_t flags;
};
static_assert(sizeof(VariableDefRow) == 15 * sizeof(int64_t), "rows are handed out as int64 columns");

// A node lookup: found(k, node, op type) for each of names[0..count), in order, as
// each completes (node -1 and no op when there is no such node).
using FoundNode = std::function<void(size_t, int64_t, std::string_view)>;
using FindNodes = std::function<void(const std::string_view* names, size_t count, const FoundNode& found)>;
// The lookup in a rewritten graph (RewrittenGraph::FindEach); `graph` must outlive it.
FindNodes FindIn(const RewrittenGraph& graph);

// Parses each of `defs` and looks its names up in `graph` under `prefix` ("" or
// "scope/", prepended as written). `op_types` receives the distinct op types the rows
// index; `variable_names` the prefixed variable name of each row (empty when unparsed).
std::vector<VariableDefRow> LookupVariableDefs(const RewrittenGraph& graph, const std::vector<std::string_view>& defs,
                                               std::string_view prefix, std::vector<std::string_view>* op_types,
                                               std::vector<std::string>* variable_names);

// The rows of the distinct VariableDefs among `defs` (equal bytes share one row, as
// TensorFlow makes one variable per VariableDef), for an import's variable
// collections at once.
struct DistinctVariableDefs {
  std::vector<VariableDefRow> rows;        // one per distinct VariableDef, first seen first
  std::vector<int32_t> row_of;             // the row of each of `defs`
  std::vector<int32_t> first;              // per row: the index in `defs` where it is first
  std::vector<std::string_view> op_types;  // what the rows' op columns index
  // Each row's variable name, as LookupVariableDefs gives them, back to back: row r's
  // is names[name_offsets[r], name_offsets[r + 1]) (one blob, no string per row).
  std::string names;
  std::vector<int64_t> name_offsets;
  std::string_view variable_name(size_t r) const {
    return std::string_view(names).substr(static_cast<size_t>(name_offsets[r]),
                                          static_cast<size_t>(name_offsets[r + 1] - name_offsets[r]));
  }
};

// The values of the bytes_list of each collection in `keys` (values[k] for keys[k]), in
// one pass over a serialized MetaGraphDef's collection_def map, as protobuf reads them:
// the last map entry for a key wins, an entry's repeated value fields merge, setting
// another kind clears the list, and an entry with any other field is no map entry. The
// views point into `meta_graph`. False when the bytes do not parse, or, without
// `present`, when a key is absent or its kind is not bytes_list; with `present`, such a
// key gets present[k] = 0 and no values.
bool CollectionBytesLists(std::string_view meta_graph, const std::vector<std::string_view>& keys,
                          std::vector<std::vector<std::string_view>>* values, std::vector<char>* present = nullptr);

// LookupVariableDefs over the distinct `defs`, in slices of `slice` rows (the lookups of
// one slice at a time are held).
DistinctVariableDefs LookupDistinctVariableDefs(const RewrittenGraph& graph, const std::vector<std::string_view>& defs,
                                                std::string_view prefix, size_t slice = 8192);
// The same through any lookup, on `threads` threads (0: all cores). `beside`, when
// given, runs as the first task and the dedupe and slices on the threads as they come
// free: a serial stage that leaves the other cores idle shares them with the lookups.
// `name_prefix` goes before each variable name handed back (not looked up with it).
DistinctVariableDefs LookupDistinctVariableDefs(const FindNodes& find, const std::vector<std::string_view>& defs,
                                                std::string_view prefix, size_t slice, unsigned threads,
                                                const std::function<void()>& beside = {},
                                                std::string_view name_prefix = {});

}  // namespace fastmeta
