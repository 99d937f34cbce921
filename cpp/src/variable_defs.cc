#include "fastmeta/variable_defs.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <string>
#include <unordered_map>

#include "fastmeta/errors.h"
#include "fastmeta/rewriter.h"
#include "fastmeta/wire.h"
#include "hash.h"
#include "parallel.h"

namespace fastmeta {

namespace {

// An element name, "op" or "op:k" (k at most 9 digits): its node part and output index
// (-1 for "op"); false (output -1) for anything else, which names no element. `canonical`: the
// digits are k's own spelling ("w:00" finds w:0 but does not name it).
bool SplitElementName(std::string_view name, std::string_view* node, int64_t* output, bool* canonical) {
  *node = name;
  *output = -1;
  *canonical = false;
  const size_t colon = name.find(':');
  if (colon == std::string_view::npos) return true;
  const std::string_view digits = name.substr(colon + 1);
  if (digits.empty() || digits.size() > 9) return false;
  int64_t k = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    k = k * 10 + (c - '0');
  }
  *node = name.substr(0, colon);
  *output = k;
  *canonical = digits.size() == 1 || digits[0] != '0';  // no leading zero
  return true;
}

}  // namespace

int64_t FindElement(const RewrittenGraph& graph, std::string_view name, int64_t* output) {
  std::string_view node_name;
  bool canonical = false;
  if (!SplitElementName(name, &node_name, output, &canonical)) return -1;  // (output is -1)
  const int64_t node = graph.Find(node_name);
  if (node < 0) *output = -1;
  return node;
}

namespace {

// VariableDef field numbers.
enum : uint32_t {
  kVariableName = 1,
  kInitializerName = 2,
  kSnapshotName = 3,
  kSaveSliceInfo = 4,
  kIsResource = 5,
  kInitialValueName = 6,
  kTrainable = 7,
  kSynchronization = 8,
  kAggregation = 9,
};

struct ParsedDef {
  std::string_view names[4];  // variable, initializer, snapshot, initial value
  uint64_t synchronization = 0, aggregation = 0;
  bool resource = false, trainable = false, slice_info = false;
};

// Reads one VariableDef the way protobuf would, or returns false where this reading
// might disagree with protobuf's (then the caller's slow path decides): only fields
// encoded the one way serializers write them (shortest varints, no groups) are read.
// (The readers here re-read bytes protobuf already accepted: at depth 0, the most
// lenient nesting limit, they refuse nothing it did.)
bool ParseDef(std::string_view bytes, ParsedDef& out) {
  wire::Reader r(bytes, bytes.data(), 0);
  wire::Field f;
  try {
    while (r.Next(f)) {
      size_t canonical = wire::VarintSize(uint64_t{f.number} << 3 | f.type);
      switch (f.type) {
        case wire::kVarint:
          canonical += wire::VarintSize(f.varint);
          break;
        case wire::kLengthDelimited:
          canonical += wire::VarintSize(f.data.size()) + f.data.size();
          break;
        case wire::kFixed32:
          canonical += 4;
          break;
        case wire::kFixed64:
          canonical += 8;
          break;
        default:
          return false;
      }
      if (f.raw.size() != canonical) return false;
      const bool is_string = f.number == kVariableName || f.number == kInitializerName || f.number == kSnapshotName ||
                             f.number == kInitialValueName;
      const bool is_varint =
          f.number == kIsResource || f.number == kTrainable || f.number == kSynchronization || f.number == kAggregation;
      if (is_string || f.number == kSaveSliceInfo) {
        if (f.type != wire::kLengthDelimited) return false;
      } else if (is_varint) {
        if (f.type != wire::kVarint || f.varint > 3) return false;
      } else {
        continue;  // unknown fields are kept by protobuf and change nothing here
      }
      switch (f.number) {
        case kVariableName:
          out.names[0] = f.data;
          break;
        case kInitializerName:
          out.names[1] = f.data;
          break;
        case kSnapshotName:
          out.names[2] = f.data;
          break;
        case kInitialValueName:
          out.names[3] = f.data;
          break;
        case kSaveSliceInfo:
          out.slice_info = true;
          break;
        case kIsResource:
          if (f.varint > 1) return false;
          out.resource = f.varint != 0;
          break;
        case kTrainable:
          if (f.varint > 1) return false;
          out.trainable = f.varint != 0;
          break;
        case kSynchronization:
          out.synchronization = f.varint;
          break;
        case kAggregation:
          out.aggregation = f.varint;
          break;
        default:
          break;
      }
    }
  } catch (const ParseError&) {
    return false;
  }
  for (std::string_view s : out.names) {
    if (!wire::IsValidUtf8(s)) return false;
  }
  return true;
}

}  // namespace

namespace {

// The index of `op` in `list`, appending it the first time.
int64_t InternOp(std::unordered_map<std::string_view, int64_t>& index, std::vector<std::string_view>& list,
                 std::string_view op) {
  // (find first: emplace would allocate a node for every call, found or not)
  auto it = index.find(op);
  if (it != index.end()) return it->second;
  list.push_back(op);
  return index.emplace(op, static_cast<int64_t>(list.size()) - 1).first->second;
}

// Moves the op columns of rows [begin, end) from indices into `part_ops` to indices into
// `ops` (the merged list, interned through `index`).
void MergeOps(VariableDefRow* begin, VariableDefRow* end, const std::vector<std::string_view>& part_ops,
              std::unordered_map<std::string_view, int64_t>& index, std::vector<std::string_view>& ops) {
  std::vector<int64_t> global(part_ops.size());
  for (size_t t = 0; t < part_ops.size(); ++t) global[t] = InternOp(index, ops, part_ops[t]);
  for (VariableDefRow* row = begin; row != end; ++row) {
    for (int64_t& op : row->op) {
      if (op >= 0) op = global[static_cast<size_t>(op)];
    }
  }
}

// Rows [a, b): op columns index `op_types`, this part's own list; each row's prefixed
// variable name is appended to `names_out` (nothing when unparsed), its size in name_sizes[k].
// The part's defs are parsed first, then all their names looked up in one pipelined
// batch (FindEach).
void LookupPart(const FindNodes& find, const std::vector<std::string_view>& defs, std::string_view prefix,
                std::string_view name_prefix, size_t a, size_t b, VariableDefRow* rows,
                std::vector<std::string_view>& op_types, std::string& names_out, uint32_t* name_sizes) {
  struct Lookup {
    size_t row;
    int column;
    int64_t output;  // the output index, -1 for an op name
    bool canonical;  // the digits after ':' are the output index's own spelling
  };
  std::vector<Lookup> lookups;
  std::vector<std::string_view> views;  // each lookup's node name
  lookups.reserve(4 * (b - a));
  views.reserve(4 * (b - a));
  // With a prefix, prefix + each name's node part, back to back (never reallocated: the
  // views point into it); without one, the views point into the defs themselves.
  std::string names;
  if (!prefix.empty()) {
    size_t bound = 0;
    for (size_t k = a; k < b; ++k) bound += defs[k].size() + 4 * prefix.size();
    names.reserve(bound);
  }
  std::string full;
  for (size_t k = a; k < b; ++k) {
    VariableDefRow& row = rows[k];
    for (int j = 0; j < 4; ++j) row.node[j] = row.output[j] = row.op[j] = -1;
    row.synchronization = row.aggregation = 0;
    row.flags = 0;
    name_sizes[k] = 0;
    ParsedDef def;
    if (!ParseDef(defs[k], def)) continue;
    row.synchronization = static_cast<int64_t>(def.synchronization);
    row.aggregation = static_cast<int64_t>(def.aggregation);
    row.flags = VariableDefRow::kParsed | (def.resource ? VariableDefRow::kResource : 0) |
                (def.trainable ? VariableDefRow::kTrainable : 0) | (def.slice_info ? VariableDefRow::kSliceInfo : 0) |
                (def.names[3].empty() ? 0 : VariableDefRow::kInitialValue);
    for (int j = 0; j < 4; ++j) {
      if (def.names[j].empty()) continue;
      std::string_view name = def.names[j];
      if (!prefix.empty()) {
        full.assign(prefix);
        full.append(def.names[j]);
        name = full;
      }
      std::string_view node_name;
      int64_t output = -1;
      bool canonical = false;
      if (!SplitElementName(name, &node_name, &output, &canonical)) continue;
      lookups.push_back(Lookup{k, j, output, canonical});
      if (prefix.empty()) {
        views.push_back(node_name);
      } else {
        views.emplace_back(names.data() + names.size(), node_name.size());
        names.append(node_name);
      }
    }
    names_out.append(name_prefix);
    names_out.append(prefix);
    names_out.append(def.names[0]);
    name_sizes[k] = static_cast<uint32_t>(name_prefix.size() + prefix.size() + def.names[0].size());
  }
  std::unordered_map<std::string_view, int64_t> op_index;
  // A column's op is nearly always the one before it (VariableV2, Assign, ...).
  std::string_view last_op[4];
  int64_t last_id[4] = {-1, -1, -1, -1};
  // Each found node's op comes as its lookup completes, while its bytes are in the cache.
  find(views.data(), views.size(), [&](size_t t, int64_t found, std::string_view op) {
    const Lookup& l = lookups[t];
    if (found < 0) return;  // the row's columns stay -1
    VariableDefRow& row = rows[l.row];
    row.node[l.column] = found;
    row.output[l.column] = l.output;
    if (last_id[l.column] < 0 || op != last_op[l.column]) {
      last_op[l.column] = op;
      last_id[l.column] = InternOp(op_index, op_types, op);
    }
    row.op[l.column] = last_id[l.column];
    if (l.column == 0 && l.output >= 0 && l.canonical) row.flags |= VariableDefRow::kCanonical;
  });
}

}  // namespace

FindNodes FindIn(const RewrittenGraph& graph) {
  return [&graph](const std::string_view* names, size_t count, const FoundNode& found) {
    // The op follows the name, just compared, in the NodeDef.
    graph.FindEach(names, count, [&](size_t k, int64_t i) {
      found(k, i, i < 0 ? std::string_view() : graph.op(static_cast<size_t>(i)));
    });
  };
}

std::vector<VariableDefRow> LookupVariableDefs(const RewrittenGraph& graph, const std::vector<std::string_view>& defs,
                                               std::string_view prefix, std::vector<std::string_view>* op_types,
                                               std::vector<std::string>* variable_names) {
  const size_t n = defs.size();
  std::vector<VariableDefRow> rows(n);
  variable_names->assign(n, std::string());
  op_types->clear();
  // Each lookup is a few cache misses in a large graph: the rows are split over the
  // cores, each part with its own op list, merged below into one.
  const size_t parts = n >= 4096 ? std::min<size_t>(ThreadCount(0), 8) : 1;
  std::vector<std::vector<std::string_view>> part_ops(parts);
  std::vector<std::string> part_names(parts);
  std::vector<uint32_t> name_sizes(n);
  ParallelFor(parts, static_cast<unsigned>(parts), [&](size_t part) {
    auto [a, b] = Range(n, parts, part);
    LookupPart(FindIn(graph), defs, prefix, {}, a, b, rows.data(), part_ops[part], part_names[part], name_sizes.data());
  });
  std::unordered_map<std::string_view, int64_t> index;
  for (size_t part = 0; part < parts; ++part) {
    auto [a, b] = Range(n, parts, part);
    MergeOps(rows.data() + a, rows.data() + b, part_ops[part], index, *op_types);
    size_t at = 0;
    for (size_t k = a; k < b; ++k) {
      (*variable_names)[k].assign(part_names[part], at, name_sizes[k]);
      at += name_sizes[k];
    }
  }
  return rows;
}

namespace {

// Field numbers: MetaGraphDef.collection_def, its map entries, CollectionDef's kinds,
// BytesList.value.
enum : uint32_t {
  kCollectionDef = 4,
  kEntryKey = 1,
  kEntryValue = 2,
  kNodeList = 1,
  kBytesList = 2,
  kInt64List = 3,
  kFloatList = 4,
  kAnyList = 5,
  kBytesValue = 1,
};

// Merges one serialized CollectionDef into (kind, values), as protobuf merges a message
// whose `kind` is a oneof: a field of the current kind merges into it, another kind
// replaces it. Fields of an unexpected wire type are unknown fields: ignored.
void MergeCollectionDef(std::string_view def, uint32_t* kind, std::vector<std::string_view>* values) {
  wire::Reader r(def, def.data(), 0);
  wire::Field f;
  while (r.Next(f)) {
    if (f.type != wire::kLengthDelimited) continue;
    switch (f.number) {
      case kBytesList: {
        if (*kind != kBytesList) values->clear();
        *kind = kBytesList;
        wire::Reader lr(f.data, f.data.data(), 0);
        wire::Field lf;
        while (lr.Next(lf)) {
          if (lf.number == kBytesValue && lf.type == wire::kLengthDelimited) values->push_back(lf.data);
        }
        break;
      }
      case kNodeList:
      case kInt64List:
      case kFloatList:
      case kAnyList:
        *kind = f.number;
        values->clear();
        break;
      default:
        break;
    }
  }
}

}  // namespace

bool CollectionBytesLists(std::string_view meta_graph, const std::vector<std::string_view>& keys,
                          std::vector<std::vector<std::string_view>>* values, std::vector<char>* present) {
  if (present != nullptr) present->assign(keys.size(), 0);
  values->assign(keys.size(), {});
  std::vector<uint32_t> kinds(keys.size(), 0);  // 0: no entry for the key (yet)
  try {
    wire::Reader r(meta_graph, meta_graph.data(), 0);
    wire::Field f;
    std::vector<std::string_view> entry_values;
    while (r.Next(f)) {
      if (f.number != kCollectionDef || f.type != wire::kLengthDelimited) continue;
      // One map entry: its key (the last one written) and its value (all merged). An
      // entry with any other field is not a map entry to protobuf: it is kept as an
      // unknown field of the MetaGraphDef and changes no collection.
      std::string_view entry_key;
      uint32_t kind = 0;
      bool other = false;
      entry_values.clear();
      wire::Reader er(f.data, f.data.data(), 0);
      wire::Field ef;
      while (er.Next(ef)) {
        if (ef.type == wire::kLengthDelimited && ef.number == kEntryKey)
          entry_key = ef.data;
        else if (ef.type == wire::kLengthDelimited && ef.number == kEntryValue)
          MergeCollectionDef(ef.data, &kind, &entry_values);
        else
          other = true;
      }
      if (other) continue;
      for (size_t k = 0; k < keys.size(); ++k) {
        if (entry_key != keys[k]) continue;
        // A later entry for the key replaces an earlier one (kind -1: an entry of no kind).
        kinds[k] = kind == 0 ? ~0u : kind;
        (*values)[k] = entry_values;
      }
    }
  } catch (const ParseError&) {
    values->assign(keys.size(), {});
    return false;
  }
  for (size_t k = 0; k < keys.size(); ++k) {
    if (kinds[k] == kBytesList) {
      if (present != nullptr) (*present)[k] = 1;
    } else if (present != nullptr) {
      (*values)[k].clear();
    } else {
      values->assign(keys.size(), {});
      return false;
    }
  }
  return true;
}

DistinctVariableDefs LookupDistinctVariableDefs(const RewrittenGraph& graph, const std::vector<std::string_view>& defs,
                                                std::string_view prefix, size_t slice) {
  return LookupDistinctVariableDefs(FindIn(graph), defs, prefix, slice, 0);
}

DistinctVariableDefs LookupDistinctVariableDefs(const FindNodes& find, const std::vector<std::string_view>& defs,
                                                std::string_view prefix, size_t slice, unsigned threads,
                                                const std::function<void()>& beside, std::string_view name_prefix) {
  DistinctVariableDefs out;
  if (defs.size() >= 0x7fffffff) throw SizeLimitError("too many VariableDefs");
  if (slice == 0) slice = 1;
  // Tasks, handed to the threads in order as they come free: `beside` (if any), the
  // dedupe (serial), then the slices of distinct rows, each with its own op list (merged
  // below in order into one). A slice waits for the dedupe, which is always taken before
  // it: the wait ends. Slices past the distinct rows' count do nothing.
  std::vector<std::string_view> distinct;
  std::vector<uint32_t> name_sizes;  // per distinct row (see LookupPart)
  std::mutex mutex;
  std::condition_variable deduped_cv;
  bool deduped = false, dedupe_failed = true;
  auto dedupe = [&] {
    struct Done {
      std::mutex& mutex;
      std::condition_variable& cv;
      bool& flag;
      ~Done() {
        {
          std::lock_guard<std::mutex> lock(mutex);
          flag = true;
        }
        cv.notify_all();
      }
    } done{mutex, deduped_cv, deduped};
    // Open addressing over row numbers + 1 (0: empty), at most half full.
    size_t capacity = 16;
    while (capacity < 2 * defs.size()) capacity <<= 1;
    std::vector<int32_t> table(capacity, 0);
    out.row_of.resize(defs.size());
    for (size_t k = 0; k < defs.size(); ++k) {
      const std::string_view def = defs[k];
      size_t slot = HashName(def) & (capacity - 1);
      for (; table[slot] != 0; slot = (slot + 1) & (capacity - 1)) {
        if (distinct[static_cast<size_t>(table[slot] - 1)] == def) break;
      }
      if (table[slot] == 0) {
        distinct.push_back(def);
        out.first.push_back(static_cast<int32_t>(k));
        table[slot] = static_cast<int32_t>(distinct.size());
      }
      out.row_of[k] = table[slot] - 1;
    }
    out.rows.resize(distinct.size());
    name_sizes.resize(distinct.size());
    dedupe_failed = false;  // (read by the slices after the lock, once `deduped`)
  };
  const size_t first = beside ? 1 : 0;
  const size_t slices = (defs.size() + slice - 1) / slice;  // at most
  std::vector<std::vector<std::string_view>> slice_ops(slices);
  std::vector<std::string> slice_names(slices);
  ParallelFor(first + 1 + slices, ThreadCount(threads), [&](size_t task) {
    if (task < first) return beside();
    if (task == first) return dedupe();
    {
      std::unique_lock<std::mutex> lock(mutex);
      deduped_cv.wait(lock, [&] { return deduped; });
    }
    const size_t k = task - first - 1, n = distinct.size();
    if (dedupe_failed || k * slice >= n) return;  // (a failed dedupe reports its error)
    LookupPart(find, distinct, prefix, name_prefix, k * slice, std::min(n, (k + 1) * slice), out.rows.data(),
               slice_ops[k], slice_names[k], name_sizes.data());
  });
  const size_t n = distinct.size();
  std::unordered_map<std::string_view, int64_t> op_index;
  size_t total = 0;
  for (const std::string& names : slice_names) total += names.size();
  out.names.reserve(total);
  out.name_offsets.resize(n + 1);
  out.name_offsets[0] = 0;
  for (size_t k = 0; k < slices && k * slice < n; ++k) {
    const size_t a = k * slice, b = std::min(n, (k + 1) * slice);
    MergeOps(out.rows.data() + a, out.rows.data() + b, slice_ops[k], op_index, out.op_types);
    out.names.append(slice_names[k]);
    for (size_t r = a; r < b; ++r) out.name_offsets[r + 1] = out.name_offsets[r] + name_sizes[r];
  }
  return out;
}

}  // namespace fastmeta
