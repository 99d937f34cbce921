// The one-pass rewriter. Stages, all over views into the input buffer:
//   1. split the MetaGraphDef: graph_def, the stripped_op_list, everything else;
//   2. index the nodes (name, op, device, inputs, _class) without copying them;
//   3. resolve inputs (input_map first), order nodes as TensorFlow's importer does;
//   4. choose final names (scope prefix, _k suffixes against the target graph) and devices;
//   5. write each NodeDef once, copying untouched fields byte for byte.
#include "fastmeta/rewriter.h"

#include <algorithm>
#include <array>
#include <atomic>

#include "fastmeta/memory.h"
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <queue>
#include <string>
#include <thread>
#include <unordered_map>

#include "attr_value.h"
#include "fastmeta/errors.h"
#include "fastmeta/mapped_file.h"
#include "fastmeta/names.h"
#include "fastmeta/wire.h"
#include "hash.h"
#include "parallel.h"
#include "proto_check.h"

namespace fastmeta {

// ---------------------------------------------------------------------------
// NameSet / RewrittenGraph lookups

void NameSet::Add(std::string name) {
  for (size_t pos = name.find('/'); pos != std::string::npos; pos = name.find('/', pos + 1)) {
    prefixes_.insert(name.substr(0, pos));
  }
  names_.insert(std::move(name));
}

bool NameSet::HasName(std::string_view name) const { return names_.count(std::string(name)) != 0; }
bool NameSet::HasPrefix(std::string_view name) const { return prefixes_.count(std::string(name)) != 0; }
void NameSet::ForEachName(const std::function<void(std::string_view)>& visit) const {
  for (const std::string& name : names_) visit(name);
}

size_t RewrittenGraph::graph_def_size() const {
  size_t total = 0;
  for (const wire::Buffer& c : chunks_) total += c.size();
  return total;
}

void RewrittenGraph::CopyGraphDef(char* out) const {
  for (const wire::Buffer& c : chunks_) {
    if (c.size() != 0) std::memcpy(out, c.data(), c.size());
    out += c.size();
  }
}

std::string RewrittenGraph::graph_def() const {
  std::string out(graph_def_size(), '\0');
  CopyGraphDef(out.data());
  return out;
}

namespace {

// Name tables are open-addressing arrays of 64-bit entries: the top 24 bits are the
// top of the name's hash (a fingerprint: most probes that cannot match are rejected
// without touching the node), the low half the node index + 1 (0: empty slot). The
// 8 bits between are free for the table's owner (the rewriter keeps the node's output
// dtype there, see OutputTypeSummary).
constexpr uint64_t kIndexMask = 0xffffffffULL;
constexpr uint64_t kFingerprintMask = 0xffffff0000000000ULL;
constexpr uint64_t kOwnerBits = ~(kFingerprintMask | kIndexMask);
inline uint64_t Fingerprint(uint64_t hash) { return hash & kFingerprintMask; }
inline size_t TableCapacity(size_t n) {
  size_t cap = 16;
  while (cap < n * 2) cap <<= 1;
  return cap;
}

using PrefixEntry = RewrittenGraph::PrefixEntry;

// How many bytes `a` and `b` share at their start (a word at a time).
inline size_t CommonPrefixSize(std::string_view a, std::string_view b) {
  const size_t most = std::min(a.size(), b.size());
  size_t same = 0;
  for (; same + 8 <= most; same += 8) {
    uint64_t x, y;
    std::memcpy(&x, a.data() + same, 8);
    std::memcpy(&y, b.data() + same, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    if (x != y) return same + static_cast<size_t>(__builtin_clzll(x ^ y)) / 8;
#else
    if (x != y) return same + static_cast<size_t>(__builtin_ctzll(x ^ y)) / 8;
#endif
  }
  while (same < most && a[same] == b[same]) ++same;
  return same;
}

// Fills `table` with the scopes of names name_of(0) .. name_of(n - 1) (each name's
// prefixes before a '/'), each once.
template <class NameOf>
void BuildPrefixTable(std::vector<PrefixEntry>& table, size_t n, const NameOf& name_of) {
  // Consecutive names mostly share their scopes: a scope the previous name has too is
  // noted already (about one in seven is left on a large graph).
  std::vector<PrefixEntry> found;
  std::string_view previous;
  for (size_t i = 0; i < n; ++i) {
    const std::string_view nm = name_of(i);
    const size_t same = CommonPrefixSize(nm, previous);
    for (size_t pos = nm.find('/'); pos != std::string_view::npos; pos = nm.find('/', pos + 1)) {
      // (the previous name has this scope too when they match up to and including the '/')
      if (pos >= same)
        found.push_back({HashName(nm.substr(0, pos)), static_cast<uint32_t>(i + 1), static_cast<uint32_t>(pos)});
    }
    previous = nm;
  }
  table.assign(TableCapacity(found.size()), PrefixEntry{0, 0, 0});
  const size_t mask = table.size() - 1;
  for (const PrefixEntry& e : found) {
    const std::string_view scope = name_of(e.node - 1).substr(0, e.size);
    size_t slot = e.hash & mask;
    for (; table[slot].node != 0; slot = (slot + 1) & mask) {
      const PrefixEntry& t = table[slot];
      if (t.hash == e.hash && t.size == e.size && name_of(t.node - 1).substr(0, t.size) == scope) break;
    }
    if (table[slot].node == 0) table[slot] = e;
  }
}

// Whether `scope` is in a table BuildPrefixTable filled from the same names.
template <class NameOf>
bool PrefixTableHas(const std::vector<PrefixEntry>& table, std::string_view scope, const NameOf& name_of) {
  if (table.empty()) return false;
  const uint64_t h = HashName(scope);
  const size_t mask = table.size() - 1;
  for (size_t slot = h & mask; table[slot].node != 0; slot = (slot + 1) & mask) {
    const PrefixEntry& t = table[slot];
    if (t.hash == h && t.size == scope.size() && name_of(t.node - 1).substr(0, t.size) == scope) return true;
  }
  return false;
}

}  // namespace

std::string_view RewrittenGraph::HashKey(std::string_view final_name) const {
  // Every node is under the prefix, so the table hashes what follows "prefix/": the
  // same hash as the original name when the node kept it (the rewriter then hands its
  // own table over instead of building this one).
  if (prefix_.empty()) return final_name;
  if (final_name.size() <= prefix_.size() || final_name[prefix_.size()] != '/' ||
      final_name.compare(0, prefix_.size(), prefix_) != 0) {
    return std::string_view();
  }
  return final_name.substr(prefix_.size() + 1);
}

void RewrittenGraph::BuildHashTable() {
  table_.assign(TableCapacity(nodes_.size()), 0);
  const size_t mask = table_.size() - 1;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const uint64_t h = HashName(HashKey(name(i)));
    size_t slot = h & mask;
    while (table_[slot] != 0) slot = (slot + 1) & mask;
    table_[slot] = Fingerprint(h) | (i + 1);
  }
}

int64_t RewrittenGraph::Find(std::string_view n) const {
  if (table_.empty()) return -1;
  const std::string_view key = HashKey(n);
  return key.empty() ? -1 : FindHashed(n, HashName(key));
}

int64_t RewrittenGraph::FindHashed(std::string_view n, uint64_t h) const {
  const size_t mask = table_.size() - 1;
  const uint64_t fp = Fingerprint(h);
  size_t slot = h & mask;
  for (uint64_t e; (e = table_[slot]) != 0; slot = (slot + 1) & mask) {
    if (Fingerprint(e) != fp) continue;
    const size_t i = (e & kIndexMask) - 1;
    if (name(i) == n) return static_cast<int64_t>(i);
  }
  return -1;
}

void RewrittenGraph::FindMany(const std::string_view* names, size_t count, int64_t* out) const {
  FindEach(names, count, [out](size_t k, int64_t i) { out[k] = i; });
}

void RewrittenGraph::FindEach(const std::string_view* names, size_t count,
                              const std::function<void(size_t, int64_t)>& found) const {
  if (table_.empty()) {
    for (size_t k = 0; k < count; ++k) found(k, -1);
    return;
  }
  // Three cache misses per lookup (table slot, node entry, name bytes), prefetched
  // kAhead, kAhead/2 and kAhead/4 lookups ahead of the one completed.
  constexpr size_t kAhead = 24, kRing = 32;
  const size_t mask = table_.size() - 1;
  uint64_t hashes[kRing];
  bool keyed[kRing];
  auto hash_and_prefetch_slot = [&](size_t k) {
    const std::string_view key = HashKey(names[k]);
    const uint64_t h = key.empty() ? 0 : HashName(key);
    hashes[k % kRing] = h;
    keyed[k % kRing] = !key.empty();
    if (!key.empty()) __builtin_prefetch(&table_[h & mask]);
  };
  // The first entry in the name's slot that could be it (-1: none there).
  auto first_candidate = [&](size_t k) -> int64_t {
    if (!keyed[k % kRing]) return -1;
    const uint64_t h = hashes[k % kRing];
    const uint64_t e = table_[h & mask];
    if (e == 0 || Fingerprint(e) != Fingerprint(h)) return -1;
    return static_cast<int64_t>((e & kIndexMask) - 1);
  };
  auto prefetch_node = [&](size_t k) {
    const int64_t i = first_candidate(k);
    if (i >= 0) __builtin_prefetch(&nodes_[static_cast<size_t>(i)]);
  };
  auto prefetch_name = [&](size_t k) {
    const int64_t i = first_candidate(k);
    if (i >= 0) {
      const NodeEntry& e = nodes_[static_cast<size_t>(i)];
      __builtin_prefetch(chunks_[e.chunk].data() + e.offset + e.name_offset);
    }
  };
  for (size_t k = 0; k < kAhead && k < count; ++k) hash_and_prefetch_slot(k);
  for (size_t k = 0; k < kAhead / 2 && k < count; ++k) prefetch_node(k);
  for (size_t k = 0; k < kAhead / 4 && k < count; ++k) prefetch_name(k);
  for (size_t k = 0; k < count; ++k) {
    if (k + kAhead < count) hash_and_prefetch_slot(k + kAhead);
    if (k + kAhead / 2 < count) prefetch_node(k + kAhead / 2);
    if (k + kAhead / 4 < count) prefetch_name(k + kAhead / 4);
    found(k, keyed[k % kRing] ? FindHashed(names[k], hashes[k % kRing]) : -1);
  }
}

std::unique_ptr<RewrittenGraph::Variables> RewrittenGraph::TakeVariableRows() {
  if (variables_ == nullptr || variables_->handed_over) return nullptr;
  auto left = std::make_unique<Variables>();
  left->keys = variables_->keys;
  left->counts = variables_->counts;
  left->prefix = variables_->prefix;
  left->handed_over = true;
  std::swap(left, variables_);
  return left;
}

namespace {

// True when `s` starts with `head` followed by '/'.
bool UnderScope(std::string_view s, std::string_view head) {
  return s.size() > head.size() && s[head.size()] == '/' && s.compare(0, head.size(), head) == 0;
}

// The ASCII lower case of `s` into `out`.
void FoldInto(std::string_view s, std::string& out) {
  out.assign(s.data(), s.size());
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

}  // namespace

bool RewrittenGraph::HasPrefix(std::string_view n) const {
  // Every node is under the prefix (see HashKey): most questions need no table.
  if (!prefix_.empty()) {
    if (n == prefix_ || UnderScope(prefix_, n)) return !nodes_.empty();  // the prefix or a scope of it
    if (!UnderScope(n, prefix_)) return false;
  }
  const auto name_of = [this](size_t i) { return name(i); };
  std::call_once(prefixes_once_, [&] { BuildPrefixTable(prefix_table_, nodes_.size(), name_of); });
  return PrefixTableHas(prefix_table_, n, name_of);
}

bool RewrittenGraph::HasNameFolded(std::string_view lower) const {
  if (!prefix_.empty()) {
    // Every name starts with "prefix/", so every folded one with the folded prefix.
    std::string head;
    FoldInto(prefix_, head);
    if (!UnderScope(lower, head)) return false;
  }
  std::call_once(folded_once_, [this] {
    // An open-addressing table like the name table's, on the hash of each name's
    // folded form (no copy of the names kept).
    folded_table_.assign(TableCapacity(nodes_.size()), 0);
    const size_t mask = folded_table_.size() - 1;
    std::string s;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      FoldInto(name(i), s);
      const uint64_t h = HashName(s);
      size_t slot = h & mask;
      while (folded_table_[slot] != 0) slot = (slot + 1) & mask;
      folded_table_[slot] = Fingerprint(h) | (i + 1);
    }
  });
  if (folded_table_.empty()) return false;
  const uint64_t h = HashName(lower);
  const uint64_t fp = Fingerprint(h);
  const size_t mask = folded_table_.size() - 1;
  std::string s;
  for (size_t slot = h & mask; folded_table_[slot] != 0; slot = (slot + 1) & mask) {
    const uint64_t e = folded_table_[slot];
    if (Fingerprint(e) != fp) continue;
    const std::string_view nm = name((e & kIndexMask) - 1);
    if (nm.size() != lower.size()) continue;
    FoldInto(nm, s);
    if (s == lower) return true;
  }
  return false;
}

std::vector<uint32_t> RewrittenGraph::Consumers(int32_t src, int32_t index) const {
  const size_t n = nodes_.size();
  std::call_once(consumers_once_, [this, n] {
    const size_t sources = n + external_.size();
    auto slot = [n](int32_t from) {
      return from >= 0 ? static_cast<size_t>(from) : n + static_cast<size_t>(-1 - static_cast<int64_t>(from));
    };
    consumer_begin_.assign(sources + 1, 0);
    for (size_t i = 0; i < n; ++i) {
      const Edge* e = edges(i);
      for (uint32_t k = 0; k < nodes_[i].edge_count; ++k) ++consumer_begin_[slot(e[k].src) + 1];
    }
    for (size_t s = 0; s < sources; ++s) consumer_begin_[s + 1] += consumer_begin_[s];
    consumer_edges_.resize(consumer_begin_[sources]);
    std::vector<uint32_t> fill(consumer_begin_.begin(), consumer_begin_.end() - 1);
    for (size_t i = 0; i < n; ++i) {
      const Edge* e = edges(i);
      for (uint32_t k = 0; k < nodes_[i].edge_count; ++k) {
        consumer_edges_[fill[slot(e[k].src)]++] = Edge{static_cast<int32_t>(i), e[k].index};
      }
    }
  });
  std::vector<uint32_t> out;
  const int64_t k_ext = -1 - static_cast<int64_t>(src);  // the external entry, for src < 0
  if (src >= 0 ? static_cast<size_t>(src) >= n : k_ext >= static_cast<int64_t>(external_.size())) return out;
  const size_t s = src >= 0 ? static_cast<size_t>(src) : n + static_cast<size_t>(k_ext);
  for (uint32_t k = consumer_begin_[s]; k < consumer_begin_[s + 1]; ++k) {
    if (consumer_edges_[k].index == index) out.push_back(static_cast<uint32_t>(consumer_edges_[k].src));
  }
  return out;
}

// ---------------------------------------------------------------------------
// OpRegistry

OpRegistry::OpRegistry(std::string op_list) : op_list_(std::move(op_list)) {
  const char* origin = op_list_.data();
  wire::Reader r(op_list_, origin, 0);
  wire::Field f;
  while (r.Next(f)) {
    if (f.number != 1 || f.type != wire::kLengthDelimited) continue;  // (else an unknown field)
    std::string_view name;
    wire::Reader opr(f.data, origin, 1);
    wire::Field of;
    while (opr.Next(of)) {
      if (of.number != 1 || of.type != wire::kLengthDelimited) continue;
      if (!wire::IsValidUtf8(of.data)) {
        throw ParseError("OpDef.name is not a string", opr.offset_of(of.raw.data()));
      }
      name = of.data;
    }
    index_[name] = f.data;  // (the last of a name wins)
  }
}

std::string_view OpRegistry::Find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? std::string_view() : it->second;
}

// ---------------------------------------------------------------------------
// The rewriter

namespace {

using wire::Field;
using wire::Reader;

constexpr uint32_t kNone = 0xffffffffu;

// How far ahead of a front-to-back pass over the input its bytes are prefetched.
constexpr size_t kPrefetchAhead = 2048;

// The boundary scan of a GraphDef of kSplitScanMin bytes or more runs in two halves
// (see ScanInHalves): the second starts at the first run of kSyncRun NodeDef-like
// fields within kSyncSearch bytes of the middle.
constexpr size_t kSplitScanMin = size_t{8} << 20;
constexpr size_t kSyncSearch = size_t{1} << 20;
constexpr int kSyncRun = 16;
// ParseNode's field number for a NodeDef field 1-5 of another wire type (an unknown field).
constexpr uint32_t kUnknownField = 0xffffffffu;
// The nesting depth of a registry's OpDefs (in its OpList).
constexpr int kRegistryOpDepth = 1;

using Defaults = std::vector<std::pair<std::string_view, std::string_view>>;

// How many inputs and outputs a node of an op has, by its OpDef: an ArgDef counts one,
// or the value of its number_attr (an int attr), or the length of its type_list_attr
// (a list(type) attr), read off the node (or the attr's default).
struct Signature {
  struct CountAttr {
    std::string_view name;
    bool is_type_list = false;
    std::string_view default_value;  // AttrValue bytes; empty: no default
    bool has_default = false;
  };
  struct Args {
    uint32_t fixed = 0;
    std::vector<uint32_t> counted;  // indices into count_attrs, one per counted arg
  };
  Args inputs, outputs;
  std::vector<CountAttr> count_attrs;  // distinct names
  // Whether every arg counts one (then the counts are inputs.fixed and outputs.fixed).
  bool fixed() const { return count_attrs.empty(); }

  // For the dtype check (RewriteOptions::check_types): each arg's DataType is a fixed
  // one, or the value of a type attr (type_attrs[type_attr]), or the types a list(type)
  // attr lists (count_attrs[count], is_type_list); repeated by a number_attr (count).
  static constexpr uint8_t kNoTypeAttr = 8;  // (also the most type attrs told apart)
  struct ArgType {
    uint8_t fixed = 0;                // DataType; 0: from an attr
    uint8_t type_attr = kNoTypeAttr;  // into type_attrs
    uint8_t ref = 0;                  // what makes the attr's type the arg's: kRefOffset for a ref
    int8_t count = -1;                // into count_attrs
  };
  struct TypeAttr {
    std::string_view name;
    uint8_t default_type = 0;  // the default's DataType (0: none, or not a valid one)
  };
  std::vector<ArgType> input_types, output_types;
  std::vector<TypeAttr> type_attrs;  // distinct names
  // The same for the parse's loops (see FinishTypes): each type attr's name and default
  // DataType ([kNoTypeAttr]: 0, for the args of a fixed type).
  uint32_t num_type_attrs = 0;
  uint64_t type_attr_sizes = 0;  // bit k: a type attr's name has k bytes (all have < 64)
  std::string_view type_attr_names[kNoTypeAttr];
  uint8_t type_defaults[kNoTypeAttr + 1] = {};
  // False when an arg's type cannot be told (too many attrs): the op's edges are not checked.
  bool types_known = true;
  // Every input counts one: input_types[j] is input j's.
  bool simple_inputs = true;
  // types_known, and some arg's type is an attr's: the node's type attrs are read.
  bool collect_types = false;
  // Every output has one type source (a fixed type or one type attr, and one ref-ness):
  // output_types[0] tells them all.
  bool uniform_outputs = false;
  // Attrs the file's OpDef of the op has with a default and this OpDef (the registry's)
  // lacks: a node holding such a default drops it (RewriteOptions::registry).
  std::vector<std::pair<std::string_view, std::string_view>> removable;
  // The OpDef's attrs without a default (not for functions): a node lacking one, or
  // holding one with no value (an AttrValue with no member set), is refused, as
  // TensorFlow's importer refuses it (a list attr's missing value counts as an empty
  // list).
  struct Required {
    std::string_view name, type;
    int64_t minimum = 0;  // (0 unless has_minimum)
  };
  std::vector<Required> required;
  // The presence check, at the cost of a bitmask per node (see ParseNode): bit k of
  // required_sizes when a required name has k bytes (a key of no such size is not
  // compared); bit i of a node's mask when it has an entry keyed required[i];
  // required_all: the mask of a node that has them all. Bit 63 of required_all, which
  // no node's mask has, sends every node to the full check (CheckRequiredAttrs) when
  // the masks cannot tell (over 63 required attrs, a name of 64 bytes or more).
  static constexpr size_t kMaxRequiredBits = 63;
  uint64_t required_sizes = 0;
  uint64_t required_all = 0;
};
constexpr uint8_t kUnknownOutputs = 0xff;  // RawNode/num_outputs_: not known (no check)

// DataTypes as types.proto numbers them: 1 (DT_FLOAT) to kMaxDataType, and each + 100
// for its ref type. What a node's output dtype summary holds (see OutputTypeSummary):
// such a DataType, 0 when not known (not checked), kMixedTypes when its outputs differ.
constexpr int kMaxDataType = 33;  // DT_FLOAT4_E2M1FN, the last TensorFlow 2.21 accepts
constexpr int kRefOffset = 100;
constexpr uint8_t kMixedTypes = 0xff;

inline bool IsBaseType(uint64_t t) { return t >= 1 && t <= static_cast<uint64_t>(kMaxDataType); }

// As TensorFlow's importer: an input takes its own type, or the ref type of it
// unless the input itself is a ref.
inline bool TypesCompatible(uint8_t expected, uint8_t actual) {
  return expected == actual || (expected < kRefOffset && actual == expected + kRefOffset);
}

// TensorFlow's names of the DataTypes (DataTypeString: "float", "float_ref", ...).
std::string DataTypeName(int t) {
  static const char* const kNames[kMaxDataType + 1] = {"invalid",
                                                       "float",
                                                       "double",
                                                       "int32",
                                                       "uint8",
                                                       "int16",
                                                       "int8",
                                                       "string",
                                                       "complex64",
                                                       "int64",
                                                       "bool",
                                                       "qint8",
                                                       "quint8",
                                                       "qint32",
                                                       "bfloat16",
                                                       "qint16",
                                                       "quint16",
                                                       "uint16",
                                                       "complex128",
                                                       "half",
                                                       "resource",
                                                       "variant",
                                                       "uint32",
                                                       "uint64",
                                                       "float8_e5m2",
                                                       "float8_e4m3fn",
                                                       "float8_e4m3fnuz",
                                                       "float8_e4m3b11fnuz",
                                                       "float8_e5m2fnuz",
                                                       "int4",
                                                       "uint4",
                                                       "int2",
                                                       "uint2",
                                                       "float4_e2m1fn"};
  if (t >= 1 && t <= kMaxDataType) return kNames[t];
  if (t > kRefOffset && t <= kRefOffset + kMaxDataType) return std::string(kNames[t - kRefOffset]) + "_ref";
  return "unknown dtype enum (" + std::to_string(t) + ")";
}

struct RawNode {
  std::string_view bytes;  // the NodeDef payload (in the input)
  // A copy of the name, op and _class AttrValue, one after the other (distinct fields
  // of the node, so never more bytes than the node), so the stages before writing
  // never touch the input's pages again (the device is interned while parsing). The
  // _class ListValue lies inside the AttrValue: it is kept as an offset into it.
  const char* strings = nullptr;
  uint32_t name_len = 0, op_len = 0, class_value_len = 0;
  uint32_t class_list_offset = 0, class_list_len = 0;
  std::string_view name() const { return {strings, name_len}; }
  std::string_view op() const { return {strings + name_len, op_len}; }
  std::string_view class_value() const { return {strings + name_len + op_len, class_value_len}; }
  std::string_view class_list() const { return class_value().substr(class_list_offset, class_list_len); }
  uint32_t input_begin = 0, input_count = 0;
  // The usual layout (fields 1-4, then all attrs, then fields > 5) lets the writer
  // copy the attr region in one piece; these offsets are relative to `bytes`.
  uint32_t attr_begin = 0, attr_end = 0;
  uint32_t shapes_begin = 0, shapes_end = 0;  // the _output_shapes entry, dropped
  uint32_t class_begin = 0, class_end = 0;    // the _class entry, rewritten
  uint32_t missing_defaults = 0;              // bit i: defaults[i] must be added
  const Defaults* defaults = nullptr;
  // When its outputs' dtypes differ (kMixedTypes): 1 + where its part's list of them
  // starts (see OutputTypeSummary); else 0.
  uint32_t mixed_types = 0;
  bool has_class = false;
  // Its _class AttrValue holds no list (a scalar `s: "loc:@a"`, another kind, or none):
  // TensorFlow's prefixing makes it an empty list (see WriteClass).
  bool class_not_list = false;
  bool simple = false;
  bool drop_attrs = false;  // holds an attr its Signature's `removable` drops
};

struct MapKey {
  std::string node;
  int32_t index;
  bool operator==(const MapKey& o) const { return index == o.index && node == o.node; }
};
struct MapKeyHash {
  size_t operator()(const MapKey& k) const {
    return std::hash<std::string>{}(k.node) * 31 + static_cast<size_t>(k.index + 1);
  }
};

struct InputMapEntry {
  std::string key_text;  // as the user wrote it, for messages
  std::string key_node;  // the key's node and output index (-1: a control key)
  int32_t key_index = 0;
  TensorRef value;
  std::string value_node;
  uint8_t dtype = 0;  // the value's DataType (0: not known)
  bool used = false;
};

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

}  // namespace

class Rewriter {
  // A resolved input: src is the original node index, or -1 - k for external k;
  // index the output index, -1 for a control input. The same layout as the output's
  // Edge, so that in the usual case the edges are written over the resolved inputs.
  using Resolved = Edge;

  // An input as parsed: the node part, copied to the part's input-name block (so
  // resolving never touches the input's pages again; the block is freed once inputs
  // are resolved), and the output index (-1 for a control input, INT32_MAX for an
  // unparsable one).
  struct InputRef {
    const char* node;
    uint32_t node_len;
    int32_t index;
    std::string_view name() const { return {node, node_len}; }
  };

 public:
  Rewriter(const char* origin, const RewriteOptions& options)
      : origin_(origin), opts_(options), registry_(options.registry), check_types_(options.check_types) {
    result_.reset(new RewrittenGraph());
    result_->prefix_ = options.prefix;
    meta_depth_ = options.depth;
    op_list_depth_ = meta_depth_ + 2;
    graph_depth_ = meta_depth_ + 1;
    node_depth_ = graph_depth_ + 1;
    attr_value_depth_ = node_depth_ + 2;
    if (!options.prefix.empty()) prefix_slash_ = options.prefix + "/";
    for (const auto& [name, frame] : options.frame_names) frame_names_[name] = frame;
    threads_ = ThreadCount(options.threads);
  }

  std::unique_ptr<RewrittenGraph> RunMeta(std::string_view meta) {
    std::vector<std::string_view> graph_parts;
    std::vector<std::string_view> op_list_parts;
    // (a field of another wire type than its declaration's is an unknown one to protobuf:
    // kept with the rest)
    Reader r(meta, origin_, meta_depth_);
    Field f;
    size_t rest_size = 0;  // of the fields other than graph_def, copied below in one block
    while (r.Next(f)) {
      if (f.number == 2 && IsBytes(f)) {
        graph_parts.push_back(f.data);
        continue;
      }
      if (f.number == 1 && IsBytes(f)) {
        Reader mr(f.data, origin_, meta_depth_ + 1);
        Field mf;
        while (mr.Next(mf)) {
          if (mf.number == 2 && IsBytes(mf)) op_list_parts.push_back(mf.data);
        }
      }
      rest_size += f.raw.size();
    }
    wire::Buffer& rest = result_->meta_rest_;
    rest.reserve(rest_size);
    Reader again(meta, origin_, meta_depth_);
    while (again.Next(f)) {
      if (f.number != 2 || !IsBytes(f)) rest.append(f.raw.data(), f.raw.size());
    }
    for (std::string_view part : op_list_parts) result_->op_list_.append(part.data(), part.size());
    op_list_origin_ = origin_;
    if (!opts_.variable_collections.empty() && opts_.variable_prefix == prefix_slash_)
      ReadVariableCollections(rest.view());
    return Run(graph_parts, op_list_parts);
  }

  std::unique_ptr<RewrittenGraph> RunGraph(std::string_view graph_def, std::string_view op_list) {
    std::vector<std::string_view> graph_parts{graph_def};
    std::vector<std::string_view> op_list_parts;
    if (!op_list.empty()) op_list_parts.push_back(op_list);
    result_->op_list_.assign(op_list.data(), op_list.size());
    op_list_origin_ = op_list.data();
    op_list_depth_ = 0;
    graph_depth_ = meta_depth_;  // (the GraphDef is the root, or as deep as options.depth says)
    node_depth_ = graph_depth_ + 1;
    attr_value_depth_ = node_depth_ + 2;
    return Run(graph_parts, op_list_parts);
  }

 private:
  // Whether a field is length-delimited: a string, bytes or message field of any other
  // wire type is an unknown field to protobuf (kept, never read as the field).
  static bool IsBytes(const Field& f) { return f.type == wire::kLengthDelimited; }
  size_t Offset(const char* p) const { return static_cast<size_t>(p - origin_); }

  // A length-delimited `string` field's value: valid UTF-8 (what proto3 requires).
  // (origin: where the buffer holding `f` starts, for the offset in a message; null: the input's)
  std::string_view StringOf(const Field& f, const char* what, const char* origin = nullptr) const {
    if (!wire::IsValidUtf8(f.data)) {
      throw ParseError(std::string(what) + " is not valid UTF-8",
                       static_cast<size_t>(f.data.data() - (origin != nullptr ? origin : origin_)));
    }
    return f.data;
  }

  std::unique_ptr<RewrittenGraph> Run(const std::vector<std::string_view>& graph_parts,
                                      const std::vector<std::string_view>& op_list_parts) {
    if (!opts_.prefix.empty() && !IsValidNodeName(opts_.prefix)) {
      // As TensorFlow's importer checks the prefix (e.g. a scope with a backslash).
      throw GraphError("Imported node name prefix " + Quote(prefix_slash_) + " would lead to invalid node names",
                       opts_.prefix);
    }
    ParseOpList(op_list_parts, op_list_parts.empty() ? origin_ : op_list_origin_);
    for (std::string_view part : graph_parts) ParseGraph(part);
    ParseNodes();
    ParseInputMap();
    ResolveInputs();
    if (variables_ != nullptr && !in_order_) {
      // Order's walk is serial: the variables' lookups take the other cores meanwhile.
      LookupVariables(threads_, [this] { Order(); });
    } else {
      Order();
      LookupVariables(threads_);
    }
    ChooseNames();
    if (type_error_.load()) ThrowFirstTypeError();
    std::vector<LargeBlock>().swap(part_in_types_);
    std::vector<std::vector<uint8_t>>().swap(part_mixed_types_);
    ChooseDevices();
    Emit();
    FinishVariables();
    return std::move(result_);
  }

  // --- stage 1: op defaults and function names -------------------------------------------

  // The file's OpDefs, each parsed now: the registry's OpDef of its op instead where the
  // registry has one (RewriteOptions::registry). Ops the graph uses that the file does
  // not list are looked up in the registry as they come (see OpOf).
  void ParseOpList(const std::vector<std::string_view>& parts, const char* origin) {
    // (a bare GraphDef's op list is a separate buffer: its offsets count from its own start)
    std::vector<std::pair<std::string_view, std::string_view>> listed;  // in file order
    const int op_depth = op_list_depth_ + 1;
    for (std::string_view part : parts) {
      Reader r(part, origin, op_list_depth_);
      Field f;
      while (r.Next(f)) {
        if (f.number != 1 || !IsBytes(f)) continue;
        listed.emplace_back(OpNameOf(f.data, origin, op_depth), f.data);
      }
    }
    for (const auto& [name, op_def] : listed) {
      const std::string_view registered = registry_ != nullptr ? registry_->Find(name) : std::string_view();
      if (registered.empty()) {
        ParseOpDef(name, op_def, origin, op_depth, {}, nullptr);
      } else {
        ParseOpDef(name, registered, registry_->origin(), kRegistryOpDepth, op_def, origin, op_depth);
      }
    }
  }

  // (`depth`: the OpDef's, for protobuf's nesting limit: see wire::Reader)
  std::string_view OpNameOf(std::string_view op_def, const char* origin, int depth) const {
    std::string_view name;
    Reader r(op_def, origin, depth);
    Field f;
    while (r.Next(f)) {
      if (f.number == 1 && IsBytes(f)) name = StringOf(f, "OpDef.name", origin);
    }
    return name;
  }

  // Reads the OpDef of `op_name` into op_defaults_ and op_signatures_. `producer`: the
  // file's OpDef of the op when `op_def` is the registry's (else empty), for the attrs
  // a node drops (Signature::removable).
  // (`depth`, `producer_depth`: the OpDefs' nesting depths)
  void ParseOpDef(std::string_view op_name, std::string_view op_def, const char* origin, int depth,
                  std::string_view producer, const char* producer_origin, int producer_depth = 0,
                  bool function = false) const {
    Defaults defaults;
    Signature sig;
    std::vector<std::string_view> attr_names;
    Reader opr(op_def, origin, depth);
    Field of;
    while (opr.Next(of)) {
      if (!IsBytes(of)) continue;  // (none of the fields read here is a scalar: else unknown)
      if (of.number == 2 || of.number == 3) {
        const bool input = of.number == 2;
        AddArg(of.data, origin, depth + 1, input ? sig.inputs : sig.outputs, input ? sig.input_types : sig.output_types,
               sig);
      } else if (of.number == 4) {
        std::string_view attr_name, default_value;
        const bool has_default = ReadAttrDef(op_name, of.data, origin, depth + 1, attr_name, default_value);
        attr_names.push_back(attr_name);
        if (default_value.data() == nullptr && !function)
          sig.required.push_back(ReadRequired(of.data, origin, depth + 1));
        if (has_default) {
          bool replaced = false;
          for (auto& d : defaults) {
            if (d.first == attr_name) {
              d.second = default_value;
              replaced = true;
            }
          }
          if (!replaced) defaults.emplace_back(attr_name, default_value);
        }
      }
    }
    for (Signature::CountAttr& c : sig.count_attrs) {
      for (const auto& [name, value] : defaults) {
        if (name == c.name) {
          c.default_value = value;
          c.has_default = true;
        }
      }
    }
    for (Signature::TypeAttr& t : sig.type_attrs) {
      for (const auto& [name, value] : defaults) {
        if (name == t.name) t.default_type = static_cast<uint8_t>(std::max(0, TypeOf(value)));
      }
    }
    FinishTypes(sig);
    if (!producer.empty() && opts_.add_default_attrs) {
      Reader pr(producer, producer_origin, producer_depth);
      Field pf;
      while (pr.Next(pf)) {
        if (pf.number != 4 || !IsBytes(pf)) continue;
        std::string_view attr_name, default_value;
        if (!ReadAttrDef(op_name, pf.data, producer_origin, producer_depth + 1, attr_name, default_value, true)) {
          continue;
        }
        if (std::find(attr_names.begin(), attr_names.end(), attr_name) != attr_names.end()) continue;
        sig.removable.emplace_back(attr_name, default_value);
      }
    }
    FinishRequired(sig);
    if (function) {  // (a function's calls get no defaults)
      function_signatures_[op_name] = std::move(sig);
      return;
    }
    op_defaults_[op_name] = std::move(defaults);
    op_signatures_[op_name] = std::move(sig);
  }

  static void FinishRequired(Signature& sig) {
    for (size_t i = 0; i < sig.required.size(); ++i) {
      const std::string_view name = sig.required[i].name;
      if (i >= Signature::kMaxRequiredBits || name.size() >= 64) {
        sig.required_all |= uint64_t{1} << Signature::kMaxRequiredBits;
        continue;
      }
      sig.required_all |= uint64_t{1} << i;
      sig.required_sizes |= uint64_t{1} << name.size();
    }
  }

  // An AttrDef without a default: its name, type and minimum.
  Signature::Required ReadRequired(std::string_view attr_def, const char* origin, int depth) const {
    Signature::Required out;
    bool has_minimum = false;
    Reader r(attr_def, origin, depth);
    Field f;
    while (r.Next(f)) {
      if (f.number == 1 && IsBytes(f))
        out.name = StringOf(f, "AttrDef.name", origin);
      else if (f.number == 2 && IsBytes(f))
        out.type = StringOf(f, "AttrDef.type", origin);
      else if (f.number == 5 && f.type == wire::kVarint)
        has_minimum = f.varint != 0;
      else if (f.number == 6 && f.type == wire::kVarint)
        out.minimum = static_cast<int64_t>(f.varint);
    }
    if (!has_minimum) out.minimum = 0;
    return out;
  }

  // An AttrDef's name and default; false when it has none to apply. A default is
  // copied into nodes unparsed: it must be an AttrValue protobuf's parser reads (as a
  // node's attr value is checked), else a ParseError naming the op and attr. Attr names
  // starting with '_' are never in a registered OpDef (TF takes defaults from its
  // registry), so such a default is not applied; `any_name`: it is returned all the same
  // (TensorFlow's Python importer drops a node's attr holding the producer's default,
  // whatever its name).
  bool ReadAttrDef(std::string_view op_name, std::string_view attr_def, const char* origin, int depth,
                   std::string_view& name, std::string_view& default_value, bool any_name = false) const {
    bool has_default = false;
    Reader ar(attr_def, origin, depth);
    Field af;
    while (ar.Next(af)) {
      if (!IsBytes(af)) continue;
      if (af.number == 1) {
        name = StringOf(af, "AttrDef.name", origin);
      } else if (af.number == 3) {
        default_value = af.data;
        has_default = true;
      }
    }
    proto_check::Problem problem;
    if (has_default && !proto_check::Check(proto_check::kAttrValue, default_value, depth + 1, problem)) {
      throw ParseError(
          "OpDef " + Quote(op_name) + ": malformed AttrDef: attr " + Quote(name) + " default_value: " + problem.what,
          static_cast<size_t>(problem.at - (origin != nullptr ? origin : origin_)));
    }
    return has_default && (any_name || !(!name.empty() && name[0] == '_'));
  }

  // Adds an ArgDef to the args it belongs to, and its type to `types`.
  void AddArg(std::string_view arg_def, const char* origin, int depth, Signature::Args& args,
              std::vector<Signature::ArgType>& types, Signature& sig) const {
    std::string_view number_attr, type_list_attr, type_attr;
    Signature::ArgType type;
    Reader r(arg_def, origin, depth);
    Field f;
    while (r.Next(f)) {
      if (f.number == 5 && IsBytes(f))
        number_attr = StringOf(f, "ArgDef.number_attr", origin);
      else if (f.number == 6 && IsBytes(f))
        type_list_attr = StringOf(f, "ArgDef.type_list_attr", origin);
      else if (f.number == 4 && IsBytes(f))
        type_attr = StringOf(f, "ArgDef.type_attr", origin);
      else if (f.number == 3 && f.type == wire::kVarint && IsBaseType(f.varint))
        type.fixed = static_cast<uint8_t>(f.varint);
      else if (f.number == 16 && f.type == wire::kVarint)
        type.ref = f.varint != 0 ? kRefOffset : 0;
    }
    if (type.fixed == 0 && !type_attr.empty()) {
      size_t t = 0;
      while (t < sig.type_attrs.size() && sig.type_attrs[t].name != type_attr) ++t;
      if (t == sig.type_attrs.size()) sig.type_attrs.push_back({type_attr, 0});
      if (t < Signature::kNoTypeAttr)
        type.type_attr = static_cast<uint8_t>(t);
      else
        sig.types_known = false;
    }
    // (TensorFlow's OpDef rules: number_attr or type_list_attr, never both.)
    const std::string_view count = !number_attr.empty() ? number_attr : type_list_attr;
    if (count.empty()) {
      ++args.fixed;
      types.push_back(type);
      return;
    }
    uint32_t k = 0;
    while (k < sig.count_attrs.size() && sig.count_attrs[k].name != count) ++k;
    if (k == sig.count_attrs.size()) sig.count_attrs.push_back({count, number_attr.empty(), {}, false});
    args.counted.push_back(k);
    if (k < kMaxCountAttrs)
      type.count = static_cast<int8_t>(k);
    else
      sig.types_known = false;
    types.push_back(type);
  }

  // Once an OpDef is read: whether its outputs share one type source.
  static void FinishTypes(Signature& sig) {
    if (sig.count_attrs.size() > kMaxCountAttrs || sig.type_attrs.size() > Signature::kNoTypeAttr) {
      sig.types_known = false;
    }
    for (const Signature::ArgType& t : sig.input_types) sig.simple_inputs &= t.count < 0;
    for (const Signature::TypeAttr& t : sig.type_attrs) sig.types_known &= t.name.size() < 64;
    sig.collect_types = sig.types_known && !sig.type_attrs.empty();
    if (sig.types_known) {
      sig.num_type_attrs = static_cast<uint32_t>(sig.type_attrs.size());
      for (size_t t = 0; t < sig.type_attrs.size(); ++t) {
        sig.type_attr_names[t] = sig.type_attrs[t].name;
        sig.type_attr_sizes |= uint64_t{1} << sig.type_attrs[t].name.size();
        sig.type_defaults[t] = sig.type_attrs[t].default_type;
      }
    }
    sig.uniform_outputs = !sig.output_types.empty();
    for (const Signature::ArgType& t : sig.output_types) {
      const Signature::ArgType& first = sig.output_types[0];
      const bool type_list = t.count >= 0 && sig.count_attrs[static_cast<size_t>(t.count)].is_type_list;
      if (type_list || t.fixed != first.fixed || t.type_attr != first.type_attr || t.ref != first.ref) {
        sig.uniform_outputs = false;
      }
    }
  }

  // The DataType an AttrValue holds in its `type` (as the last member of its oneof to
  // be set: protobuf's rule); -1 when it holds no member (unset), 0 when it holds
  // something else or a number no DataType has.
  static int TypeOf(std::string_view attr_value) {
    const auto* b = reinterpret_cast<const unsigned char*>(attr_value.data());
    if (attr_value.size() == 2 && b[0] == 0x30 && b[1] < 0x80) return IsBaseType(b[1]) ? b[1] : 0;  // the usual form
    return TypeOfSlow(attr_value);
  }
  __attribute__((noinline)) static int TypeOfSlow(std::string_view attr_value) {
    int type = -1;
    try {
      Reader r(attr_value, attr_value.data(), 0);  // (malformed: not checked here)
      Field f;
      while (r.Next(f)) {
        if (f.number == 6 && f.type == wire::kVarint)
          type = IsBaseType(f.varint) ? static_cast<int>(f.varint) : 0;
        else if (f.number >= 1 && f.number <= 10)
          type = 0;
      }
    } catch (const ParseError&) {
      return 0;  // (malformed: not checked here)
    }
    return type;
  }

  // --- stage 2: index nodes ------------------------------------------------------------------

  void ParseGraph(std::string_view graph) {
    struct ReleaseWhenDone {
      const Rewriter* self;
      std::string_view range;
      ~ReleaseWhenDone() { self->ReleaseInput(range.data(), range.data() + range.size()); }
    } release{this, graph};
    // Room for nodes of 64 bytes or more, so the list is not copied as it grows (room
    // never used costs no memory).
    node_spans_.reserve(node_spans_.size() + graph.size() / 64 + 16);
    const char* from = graph.data();
    if (threads_ >= 2 && graph.size() >= kSplitScanMin) from = ScanInHalves(graph);
    const char* const end = graph.data() + graph.size();
    ScanFields(graph.substr(static_cast<size_t>(from - graph.data())), end,
               [this](const Field& f) { TakeGraphField(f); });
  }

  // A field of the GraphDef, in file order. (node, library and debug_info of another
  // wire type are unknown fields to protobuf: kept in the tail as others are.)
  void TakeGraphField(const Field& f) {
    if (f.number == 1 && IsBytes(f)) {
      node_spans_.push_back(f.data);
      return;
    }
    if (f.number == 5 && IsBytes(f)) {
      // debug_info is keyed by the old node names and is not kept by TensorFlow's graph,
      // but protobuf's parser reads it with the file: what it refuses there, so does this.
      CheckDebugInfo(f.data);
      return;
    }
    if (f.number == 3 && f.type == wire::kVarint) return;  // (the deprecated `version`: a graph keeps none)
    if (f.number == 2 && IsBytes(f)) ParseLibrary(f.data);
    graph_tail_.append(f.raw.data(), f.raw.size());
  }

  // Refuses a GraphDef.debug_info (a GraphDebugInfo, one level below the GraphDef) that
  // protobuf's parser refuses (see proto_check.h).
  __attribute__((noinline)) void CheckDebugInfo(std::string_view debug_info) const {
    proto_check::Problem problem;
    if (!proto_check::Check(proto_check::kGraphDebugInfo, debug_info, graph_depth_ + 1, problem)) {
      throw ParseError(std::string("malformed GraphDef.debug_info: ") + problem.what, Offset(problem.at));
    }
  }

  // Calls take(f) for each field of `range` front to back, up to the first field that
  // starts at or after `stop`; returns where that field starts (the range's end when
  // there is none). Finding where each field starts is a chain of dependent loads (a
  // length, then a jump past it), one cache miss per node; the bytes are read front to
  // back, so a prefetch a fixed distance ahead of the chain turns that into a stream.
  template <typename Take>
  const char* ScanFields(std::string_view range, const char* stop, Take&& take) const {
    Reader r(range, origin_, graph_depth_);
    Field f;
    const char* const range_end = range.data() + range.size();
    const char* prefetched = range.data();
    const char* at = range.data();
    while (at < stop && r.Next(f)) {
      const char* want =
          range_end - f.raw.data() > static_cast<ptrdiff_t>(kPrefetchAhead) ? f.raw.data() + kPrefetchAhead : range_end;
      for (; prefetched < want; prefetched += 64) __builtin_prefetch(prefetched);
      take(f);
      at = f.raw.data() + f.raw.size();
    }
    return at;
  }

  // The boundary scan is serial: each field's start depends on the one before. A large
  // GraphDef is scanned in two halves at once: the second from a node boundary found
  // near its middle by pattern (a run of fields that look like NodeDefs), kept only when
  // the scan of the first half lands exactly on it, so the result is always the serial
  // scan's. Returns where the serial scan must go on from (the end when the halves met).
  const char* ScanInHalves(std::string_view graph) {
    const char* const begin = graph.data();
    const char* const end = begin + graph.size();
    const char* const sync = FindNodeRun(begin + graph.size() / 2, end);
    if (sync == nullptr) return begin;
    LargeVector<std::string_view> second_nodes;
    std::vector<Field> second_other;
    bool second_ok = false;
    const char* first_stop = begin;
    ParallelFor(2, 2, [&](size_t half) {
      if (half == 0) {
        first_stop = ScanFields(graph, sync, [this](const Field& f) { TakeGraphField(f); });
        return;
      }
      // Nothing here has effects until the halves are known to meet: any surprise
      // (including malformed bytes) just leaves the second half to the serial scan.
      second_nodes.reserve(static_cast<size_t>(end - sync) / 64 + 16);
      try {
        ScanFields(std::string_view(sync, static_cast<size_t>(end - sync)), end, [&](const Field& f) {
          if (f.number == 1 && IsBytes(f))
            second_nodes.push_back(f.data);
          else
            second_other.push_back(f);
        });
        second_ok = true;
      } catch (const ParseError&) {
        second_ok = false;
      }
    });
    if (first_stop != sync || !second_ok) return first_stop;
    node_spans_.insert(node_spans_.end(), second_nodes.begin(), second_nodes.end());
    for (const Field& f : second_other) TakeGraphField(f);
    return end;
  }

  // The first position in [from, from + kSyncSearch) where kSyncRun fields in a row (or
  // all up to `end`) read as GraphDef.node fields holding a NodeDef that starts with its
  // name, as serializers write them; nullptr if there is none.
  const char* FindNodeRun(const char* from, const char* end) const {
    const char* const last = end - from > static_cast<ptrdiff_t>(kSyncSearch) ? from + kSyncSearch : end;
    for (const char* p = from; p < last; ++p) {
      if (static_cast<uint8_t>(*p) != 0x0a) continue;  // field 1, length-delimited
      Reader r(std::string_view(p, static_cast<size_t>(end - p)), origin_, graph_depth_);
      Field f;
      int fields = 0;
      bool at_end = false;
      try {
        for (; fields < kSyncRun; ++fields) {
          if (!r.Next(f)) {
            at_end = true;
            break;
          }
          if (f.number != 1 || f.type != wire::kLengthDelimited || f.data.empty() ||
              static_cast<uint8_t>(f.data[0]) != 0x0a)
            break;
        }
      } catch (const ParseError&) {
        continue;  // not a run of fields from here
      }
      if (fields == kSyncRun || (fields > 0 && at_end)) return p;
    }
    return nullptr;
  }

  void ParseLibrary(std::string_view lib) {
    const int depth = graph_depth_ + 1;  // (FunctionDefLibrary; FunctionDef, its signature below)
    Reader r(lib, origin_, depth);
    Field f;
    while (r.Next(f)) {
      if (f.number != 1 || !IsBytes(f)) continue;
      Reader fr(f.data, origin_, depth + 1);
      Field ff;
      while (fr.Next(ff)) {
        if (ff.number != 1 || !IsBytes(ff)) continue;
        const std::string_view name = OpNameOf(ff.data, origin_, depth + 2);
        functions_.insert(name);
        // A call of the function is checked against its signature, as TensorFlow's
        // importer checks it (its inputs' and outputs' counts and dtypes).
        ParseOpDef(name, ff.data, origin_, depth + 2, {}, nullptr, 0, /*function=*/true);
      }
    }
  }

  // Parses the node spans in parallel. Each part keeps its own input list (no copy);
  // node.input_begin is global, part_input_base_[p] is where part p starts. Each part
  // then enters its nodes in the table of original names, while the others parse.
  void ParseNodes() {
    const size_t n = node_spans_.size();
    if (n >= 0x7fffffff) throw SizeLimitError("too many nodes");
    nodes_.resize(n);
    name_hashes_.resize(n);
    devices_.resize(n);
    num_outputs_.resize(n);
    out_types_.resize(n);
    parts_ = PartCount(n);
    SplitParts();
    name_table_.resize(TableCapacity(n));
    ParallelFor(parts_, threads_, [&](size_t part) {  // (one part, no thread, for a small graph)
      auto [a, b] = Range(name_table_.size(), parts_, part);
      std::memset(static_cast<void*>(name_table_.data() + a), 0, (b - a) * sizeof(NameSlot));
    });
    std::atomic<bool> duplicate{false};
    part_devices_.clear();
    part_devices_.resize(parts_);
    part_inputs_.assign(parts_, {});
    part_in_types_.clear();
    part_in_types_.resize(check_types_ ? parts_ : 0);
    part_mixed_types_.assign(parts_, {});
    part_strings_.resize(parts_);
    part_input_strings_.resize(parts_);
    part_input_strings_end_.assign(parts_, nullptr);
    ParallelFor(parts_, threads_, [&](size_t part) {
      auto [a, b] = PartRange(part);
      LargeVector<InputRef>& inputs = part_inputs_[part];
      inputs.reserve((b - a) * 3);
      uint8_t* in_types = nullptr;
      // The copied strings never outgrow the nodes they come from (they are distinct
      // fields of them). Input names go to a block of their own, freed once resolved.
      size_t bound = 0;
      for (size_t i = a; i < b; ++i) bound += node_spans_[i].size();
      part_strings_[part] = LargeBlock(bound + 1);
      // One entry per input (each input field takes two bytes or more).
      if (check_types_) {
        part_in_types_[part] = LargeBlock(bound / 2 + 1);
        in_types = reinterpret_cast<uint8_t*>(part_in_types_[part].get());
      }
      // Once the inputs are resolved, the block becomes this part's output (see Emit):
      // its virtual size covers what the output usually needs.
      part_input_strings_[part] = LargeBlock(OutputEstimate(bound, b - a));
      char* strings = part_strings_[part].get();
      char* input_strings = part_input_strings_[part].get();
      PartDevices& devices = part_devices_[part];
      OpCache op_cache;
      std::string_view device;
      size_t released = a;
      for (size_t i = a; i < b; ++i) {
        ::new (static_cast<void*>(&nodes_[i])) RawNode();  // (sized without being constructed)
        try {                                              // (no cost unless something throws)
          ParseNode(node_spans_[i], nodes_[i], inputs, strings, input_strings, device, num_outputs_[i], op_cache,
                    in_types, out_types_[i], part_mixed_types_[part]);
        } catch (const ParseError& e) {
          RethrowNamingNode(i, e);
        }
        name_hashes_[i] = HashName(nodes_[i].name());
        devices_[i] = device.empty() || opts_.clear_devices ? 0 : devices.Intern(device, static_cast<uint32_t>(i));
        if (i + 1 - released == 4096) {  // the pages read so far are done with
          ReleaseInput(node_spans_[released].data(), node_spans_[i].data() + node_spans_[i].size());
          released = i + 1;
        }
      }
      part_input_strings_end_[part] = input_strings;
      if (b > released)
        ReleaseInput(node_spans_[released].data(), node_spans_[b - 1].data() + node_spans_[b - 1].size());
      InsertNames(a, b, duplicate);
    });
    FillLaterVector<uint8_t>().swap(num_outputs_);  // (in the name table now)
    FillLaterVector<uint8_t>().swap(out_types_);
    if (duplicate.load()) ThrowFirstDuplicate();
    size_t total = 0;
    part_input_base_.assign(parts_, 0);
    for (size_t part = 0; part < parts_; ++part) {
      part_input_base_[part] = total;
      total += part_inputs_[part].size();
    }
    if (total >= 0x7fffffff) throw SizeLimitError("too many inputs");
    total_inputs_ = total;
    ParallelFor(parts_, threads_, [&](size_t part) {
      auto [a, b] = PartRange(part);
      for (size_t i = a; i < b; ++i) nodes_[i].input_begin += static_cast<uint32_t>(part_input_base_[part]);
    });
    // (node_spans_ and name_hashes_ are freed by ResolveInputs: see FreeInto)
  }

  // How many parts the parse, resolve, device and write stages split n nodes into: one
  // for a small graph or one thread; else up to four per thread (at least 32k nodes
  // each), taken by the threads as they come free, so a core the machine slows down
  // does less of the work. The output does not depend on it.
  size_t PartCount(size_t n) const {
    if (n < 4096 || threads_ <= 1) return 1;
    return std::max<size_t>(threads_, std::min<size_t>(size_t{threads_} * 4, n / 32768));
  }

  // The parts' node ranges (part_begin_), balanced on each node's bytes plus a fixed
  // cost per node, the later parts smaller (see GuidedSplit). The nodes lie one after the
  // other in the GraphDef, so the bytes of nodes [0, i) are told by the address of node i.
  void SplitParts() {
    const size_t n = node_spans_.size();
    if (parts_ <= 1) {
      part_begin_ = {0, n};
      return;
    }
    constexpr uint64_t kPerNode = 128;  // bytes' worth of work per node
    const char* first = node_spans_[0].data();
    const char* end = node_spans_[n - 1].data() + node_spans_[n - 1].size();
    part_begin_ = GuidedSplit(n, parts_, [&](size_t i) {
      const char* at = i < n ? node_spans_[i].data() : end;
      return static_cast<uint64_t>(at >= first ? at - first : 0) + kPerNode * i;
    });
  }
  std::pair<size_t, size_t> PartRange(size_t part) const { return {part_begin_[part], part_begin_[part + 1]}; }

  // The untouched storage of an array just sized (FillLaterVector), as a PageSink.
  template <typename Vector>
  static PageSink SinkOf(Vector& v) {
    return {reinterpret_cast<char*>(v.data()), reinterpret_cast<char*>(v.data() + v.size())};
  }

  // Frees a scratch array, its whole 2 MiB pages first moved into `sink` (the
  // storage of an array a later stage fills): those need no fresh zeroed pages.
  template <typename Vector>
  static void FreeInto(Vector& v, PageSink& sink) {
    if (!v.empty()) MovePages(v.data(), v.data() + v.size(), sink);
    Vector().swap(v);
  }

  // Input pages of a private file mapping can be dropped once read: the kernel
  // reloads them from the file if they are touched again. Keeps peak memory near
  // one copy of the data.
  void ReleaseInput(const char* begin, const char* end) const {
    if (opts_.release_input_pages) ReleaseFilePages(begin, static_cast<size_t>(end - begin));
  }

  // The defaults of the ops a part has seen (a graph has few distinct ops): saves a
  // hash-map lookup per node. Direct-mapped on the op's length and a few of its bytes.
  struct OpCache {
    static constexpr size_t kSlots = 64, kMaxOp = 47;
    struct Slot {
      char op[kMaxOp];
      uint8_t size = 0xff;  // 0xff: empty
      const Defaults* defaults = nullptr;
      const Signature* signature = nullptr;
    };
    Slot slots[kSlots];
  };

  // The defaults and signature of `op` (see DefaultsOf, SignatureOf).
  std::pair<const Defaults*, const Signature*> CachedOpOf(std::string_view op, OpCache& cache) const {
    if (op.size() > OpCache::kMaxOp) return {DefaultsOf(op), SignatureOf(op)};
    const size_t h = op.size() * 31u + static_cast<unsigned char>(op[0]) * 7u +
                     static_cast<unsigned char>(op[op.size() / 2]) * 3u + static_cast<unsigned char>(op.back());
    OpCache::Slot& slot = cache.slots[h & (OpCache::kSlots - 1)];
    if (slot.size == op.size() && SameBytes(std::string_view(slot.op, slot.size), op))
      return {slot.defaults, slot.signature};
    slot.defaults = DefaultsOf(op);
    slot.signature = SignatureOf(op);
    std::memcpy(slot.op, op.data(), op.size());
    slot.size = static_cast<uint8_t>(op.size());
    return {slot.defaults, slot.signature};
  }

  // The signature nodes of `op` are checked against (a function's, else its OpDef's;
  // none for ops neither the registry nor the file's op list has): their outputs are
  // always noted, for input_map keys.
  const Signature* SignatureOf(std::string_view op) const {
    if (!functions_.empty() && functions_.count(op)) {
      auto it = function_signatures_.find(op);
      return it == function_signatures_.end() ? nullptr : &it->second;
    }
    return OpOf(op).second;
  }

  // The parsed OpDef of `op` (nulls when neither the file nor the registry has it). The
  // registry's OpDefs of ops the file does not list are parsed on first use, by the
  // parse's threads: then every lookup takes the lock (a part's OpCache saves most).
  std::pair<const Defaults*, const Signature*> OpOf(std::string_view op) const {
    std::unique_lock<std::mutex> lock(op_mutex_, std::defer_lock);
    if (registry_ != nullptr) lock.lock();
    auto it = op_signatures_.find(op);
    if (it == op_signatures_.end()) {
      const std::string_view registered = registry_ != nullptr ? registry_->Find(op) : std::string_view();
      if (registered.empty()) return {nullptr, nullptr};
      // (keyed by the registry's copy of the name: `op` lies in a node, which may be released)
      ParseOpDef(OpNameOf(registered, registry_->origin(), kRegistryOpDepth), registered, registry_->origin(),
                 kRegistryOpDepth, {}, nullptr);
      it = op_signatures_.find(op);
    }
    return {&op_defaults_.find(op)->second, &it->second};
  }

  // The count an AttrValue gives a counted arg: its int (number_attr) or the length of
  // its list of types (type_list_attr); -1 when it has none.
  int64_t CountOf(std::string_view attr_value, bool is_type_list) const {
    int64_t count = -1;
    Reader r(attr_value, origin_, attr_value_depth_);
    Field f;
    while (r.Next(f)) {
      if (!is_type_list && f.number == 3 && f.type == wire::kVarint) {
        count = static_cast<int64_t>(f.varint);
      } else if (is_type_list && f.number == 1 && f.type == wire::kLengthDelimited) {
        if (count < 0) count = 0;
        Reader lr(f.data, origin_, attr_value_depth_ + 1);
        Field lf;
        while (lr.Next(lf)) {
          if (lf.number != 6) continue;
          if (lf.type == wire::kVarint) {
            ++count;
          } else if (lf.type == wire::kLengthDelimited) {  // packed: its varints as protobuf reads them
            Reader packed(lf.data, origin_, attr_value_depth_ + 2);
            try {
              for (; !packed.done(); ++count) packed.ReadVarint("packed type");
            } catch (const ParseError&) {
              return -1;  // (malformed: no count)
            }
          }
        }
      }
    }
    return count;
  }

  // A node's input or output count by its op's signature and the values of the count
  // attrs (the node's, else the defaults); -1 when one is missing or out of range.
  static int64_t ArgCountOf(const Signature::Args& args, const int64_t* values) {
    int64_t total = args.fixed;
    for (uint32_t k : args.counted) {
      if (values[k] < 0 || values[k] > 0x7fffffff) return -1;
      total += values[k];
    }
    return total;
  }

  // An attr entry's part in its op's signature: the value of a count attr, the type of a
  // type attr (duplicates: the last wins). See ParseNode.
  __attribute__((always_inline)) static void NoteCountsAndTypes(const Signature* sig, std::string_view key,
                                                                std::string_view value, const char** count_values,
                                                                uint32_t* count_sizes, uint32_t& count_set,
                                                                const std::string_view* type_names,
                                                                uint32_t num_type_names, uint64_t type_name_sizes,
                                                                uint8_t* types) {
    if (sig != nullptr && !sig->fixed()) {
      for (size_t c = 0; c < sig->count_attrs.size() && c < kMaxCountAttrs; ++c) {
        if (SameBytes(sig->count_attrs[c].name, key)) {
          count_values[c] = value.data();
          count_sizes[c] = static_cast<uint32_t>(value.size());
          count_set |= 1u << c;
        }
      }
    }
    if (key.size() < 64 && ((type_name_sizes >> key.size()) & 1) != 0) {
      for (uint32_t t = 0; t < num_type_names; ++t) {
        if (SameName(key, type_names[t])) {
          const int v = TypeOf(value);  // (-1: the value is unset, the default stands)
          types[t] = v >= 0 ? static_cast<uint8_t>(v) : sig->type_defaults[t];
        }
      }
    }
  }

  // NoteCountsAndTypes over every attr entry of a node, from the start (its signature
  // known only after some of them were read).
  __attribute__((noinline)) void RecountAttrs(std::string_view bytes, const Signature* sig, const char** count_values,
                                              uint32_t* count_sizes, uint32_t& count_set,
                                              const std::string_view* type_names, uint32_t num_type_names,
                                              uint64_t type_name_sizes, uint8_t* types) {
    count_set = 0;
    if (type_name_sizes != 0) std::memcpy(types, sig->type_defaults, Signature::kNoTypeAttr + 1);
    ForEachAttr(bytes, [&](std::string_view key, std::string_view value) {
      NoteCountsAndTypes(sig, key, value, count_values, count_sizes, count_set, type_names, num_type_names,
                         type_name_sizes, types);
    });
  }

  // visit(key, value) for each attr map entry of a NodeDef's bytes, in order.
  template <typename Visit>
  void ForEachAttr(std::string_view node_bytes, Visit&& visit) {
    Reader r(node_bytes, origin_, node_depth_);
    Field f;
    while (r.Next(f)) {
      if (f.number != 5 || !IsBytes(f)) continue;
      std::string_view key, value;
      SplitAttrEntry(f.data, key, value);
      visit(key, value);
    }
  }

  // in_types (null when types are not checked) gets one entry per data input, at the
  // input's index in `inputs`: see TypeNode. (Written once the node is read: a byte
  // store may alias anything, so one per input as it is read would make the compiler
  // reload the rest.)
  void ParseNode(std::string_view bytes, RawNode& node, LargeVector<InputRef>& inputs, char*& strings,
                 char*& input_strings, std::string_view& device_out, uint8_t& outputs_out, OpCache& op_cache,
                 uint8_t* in_types, uint8_t& type_out, std::vector<uint8_t>& mixed_types) {
    node.bytes = bytes;
    std::string_view name, op, device, class_list, class_value;
    // The op's signature and, once seen, the node's values of its count attrs (bit c of
    // count_set: count_values[c] holds attr c's value; the array is not cleared per node).
    const Signature* sig = nullptr;
    const char* count_values[kMaxCountAttrs];  // (not initialized: read only where count_set says)
    uint32_t count_sizes[kMaxCountAttrs];
    uint32_t count_set = 0;
    // The same for the op's type attrs, when checked: the DataType each has (the node's,
    // else the default; 0: not known), [kNoTypeAttr] 0 for args of a fixed type.
    const std::string_view* type_names = nullptr;
    uint32_t num_type_names = 0;
    uint64_t type_name_sizes = 0;  // (see Signature::type_attr_sizes)
    uint8_t types[Signature::kNoTypeAttr + 1];
    bool attrs_before_op = false;
    uint32_t data_inputs = 0;
    node.input_begin = static_cast<uint32_t>(inputs.size());
    Reader r(bytes, origin_, node_depth_);
    Field f;
    // Layout tracking for the writer's fast path (see RawNode).
    int state = 0;  // 0: fields 1-4, 1: attrs, 2: fields after the attrs
    bool simple = true;
    uint32_t present = 0;  // bit i: defaults[i] present and set
    // Attr keys seen so far (for duplicates); plain arrays, not zeroed for every node.
    const char* key_data[32];
    uint32_t key_size[32];
    size_t num_keys = 0;
    bool check_unset = false;     // the op has attrs without a default (Signature::required)
    bool unset_attr = false;      // an attr holds no value
    uint64_t required_sizes = 0;  // the op's Signature::required_sizes (0: none to check)
    uint64_t required_seen = 0;   // bit i: an entry keyed required[i] (Signature::required_all)
    const char* base = bytes.data();
    auto rel = [base](const char* p) { return static_cast<uint32_t>(p - base); };
    node.attr_begin = node.attr_end = static_cast<uint32_t>(bytes.size());
    while (r.Next(f)) {
      // (fields 1-5 of another wire type are unknown fields to protobuf: as field 8 here,
      // and the writer keeps them with the fields after the attrs)
      const uint32_t num = f.number <= 5 && f.type != wire::kLengthDelimited ? kUnknownField : f.number;
      if (num == 5) {
        if (state == 0) {
          state = 1;
          node.attr_begin = rel(f.raw.data());
        } else if (state == 2) {
          simple = false;
        }
      } else if (num <= 4) {
        if (state != 0) simple = false;
      } else if (state != 2) {
        if (state == 1)
          node.attr_end = rel(f.raw.data());
        else
          node.attr_begin = node.attr_end = rel(f.raw.data());
        state = 2;
      }
      switch (num) {
        // Names and inputs must follow TensorFlow's ASCII name rules (checked below and
        // when inputs are resolved), so their UTF-8 check would be redundant.
        case 1:
          name = f.data;
          break;
        case 2:
          op = StringOf(f, "NodeDef.op");
          node.defaults = nullptr;
          sig = nullptr;
          if (!op.empty()) std::tie(node.defaults, sig) = CachedOpOf(op, op_cache);
          check_unset = sig != nullptr && !sig->required.empty();
          required_sizes = check_unset ? sig->required_sizes : 0;
          required_seen = 0;
          type_name_sizes = 0;
          if (in_types != nullptr && sig != nullptr && sig->collect_types) {
            type_names = sig->type_attr_names;
            num_type_names = sig->num_type_attrs;
            type_name_sizes = sig->type_attr_sizes;
            std::memcpy(types, sig->type_defaults, sizeof types);
          }
          attrs_before_op = state != 0;
          break;
        case 3: {
          const TensorRef ref = ParseTensorName(f.data);
          wire::CopyBytes(input_strings, ref.node.data(), ref.node.size());
          inputs.push_back(InputRef{input_strings, static_cast<uint32_t>(ref.node.size()), ref.index});
          input_strings += ref.node.size();
          data_inputs += ref.index >= 0 ? 1 : 0;
          break;
        }
        case 4:
          device = StringOf(f, "NodeDef.device");
          break;
        case 5: {
          std::string_view key, value;
          SplitAttrEntry(f.data, key, value);
          if (num_keys < 32) {
            for (size_t k = 0; k < num_keys; ++k) {  // duplicate keys: last wins
              simple &= !SameBytes(std::string_view(key_data[k], key_size[k]), key);
            }
            key_data[num_keys] = key.data();
            key_size[num_keys++] = static_cast<uint32_t>(key.size());
          } else {
            simple = false;
          }
          if (SameBytes(key, "_class")) {
            node.has_class = true;
            class_list = ListOf(value);
            class_value = value;
            node.class_begin = rel(f.raw.data());
            node.class_end = node.class_begin + static_cast<uint32_t>(f.raw.size());
          }
          CheckNodeField(bytes, proto_check::kAttrValue, value, attr_value_depth_, key);
          if (SameBytes(key, "_output_shapes") && !opts_.keep_output_shapes) {  // (checked: well-formed)
            // (TensorFlow's importer reads it as list(shape), then clears it; a value of
            // another kind it cannot read so stays in the node)
            if (HoldsShapeList(value)) {
              node.shapes_begin = rel(f.raw.data());
              node.shapes_end = node.shapes_begin + static_cast<uint32_t>(f.raw.size());
            } else {
              result_->kept_output_shapes_attr_.store(true, std::memory_order_relaxed);
            }
          }
          if (SameBytes(key, "_class")) {  // (checked: well-formed)
            node.class_not_list = !HoldsList(value);
            if (node.class_not_list || ListHoldsOnlyNonStrings(class_list)) {
              result_->class_not_list_.store(true, std::memory_order_relaxed);
            }
          }
          NoteCountsAndTypes(sig, key, value, count_values, count_sizes, count_set, type_names, num_type_names,
                             type_name_sizes, types);
          // (a set value's first byte is mostly the tag of its oneof member, fields 1-10:
          // 0x08-0x57; the value is parsed only when it is not)
          if (check_unset && (value.empty() || static_cast<uint8_t>(value[0] - 0x08) >= 0x50) && !AttrIsSet(value)) {
            unset_attr = true;
          }
          if (key.size() < 64 && ((required_sizes >> key.size()) & 1) != 0) {
            const Signature::Required* req = sig->required.data();
            const size_t n = std::min(sig->required.size(), Signature::kMaxRequiredBits);
            for (size_t i = 0; i < n; ++i) {
              if (SameName(key, req[i].name)) required_seen |= uint64_t{1} << i;
            }
          }
          if (sig != nullptr && !sig->removable.empty() && Removable(*sig, key, value)) {
            node.drop_attrs = true;
            simple = false;  // (dropped by the slow path)
          }
          {
            const Defaults* defaults = node.defaults;
            if (defaults != nullptr) {
              for (size_t d = 0; d < defaults->size() && d < 32; ++d) {
                if (SameBytes((*defaults)[d].first, key)) {
                  if (AttrIsSet(value))
                    present |= 1u << d;
                  else
                    simple = false;  // present but unset: replaced in place by the slow path
                }
              }
            }
          }
          break;
        }
        // (copied through unparsed, as is an unknown field, which the reader has checked)
        case 6:
          if (f.type == wire::kLengthDelimited)
            CheckNodeField(bytes, proto_check::kDebugInfo, f.data, node_depth_ + 1, {});
          break;
        case 7:
          if (f.type == wire::kLengthDelimited)
            CheckNodeField(bytes, proto_check::kFullType, f.data, node_depth_ + 1, {});
          break;
        default:
          break;
      }
    }
    if (state == 1) node.attr_end = static_cast<uint32_t>(bytes.size());
    if (attrs_before_op && sig != nullptr) {
      // (rare: attr entries came before the op field, read before its signature was
      // known: their counts and types are read again, as TensorFlow checks the node
      // whatever its fields' order)
      RecountAttrs(bytes, sig, count_values, count_sizes, count_set, type_names, num_type_names, type_name_sizes,
                   types);
    }
    if (node.defaults != nullptr && node.defaults->size() > 32) simple = false;
    if (node.defaults != nullptr) {
      const uint32_t all = node.defaults->size() >= 32 ? 0xffffffffu : ((1u << node.defaults->size()) - 1);
      node.missing_defaults = all & ~present;
    }
    node.simple = simple;
    node.input_count = static_cast<uint32_t>(inputs.size()) - node.input_begin;
    node.strings = strings;
    for (std::string_view piece : {name, op, class_value}) {
      wire::CopyBytes(strings, piece.data(), piece.size());
      strings += piece.size();
    }
    device_out = device;
    node.name_len = static_cast<uint32_t>(name.size());
    node.op_len = static_cast<uint32_t>(op.size());
    node.class_value_len = static_cast<uint32_t>(class_value.size());
    // ListOf returns a view inside the AttrValue (or an empty one).
    node.class_list_offset = class_list.empty() ? 0 : static_cast<uint32_t>(class_list.data() - class_value.data());
    node.class_list_len = static_cast<uint32_t>(class_list.size());
    if (!IsValidNodeName(node.name())) {
      throw GraphError("Node " + Quote(node.name()) + " (at byte offset " + std::to_string(Offset(bytes.data())) +
                           "): invalid node name",
                       std::string(node.name()));
    }
    if (node.op().empty()) {
      throw GraphError("Node " + Quote(node.name()) + ": NodeDef has no op", std::string(node.name()));
    }
    // (attrs before the op field were read without its signature: all checked again)
    if (check_unset && (unset_attr || attrs_before_op || required_seen != sig->required_all)) {
      CheckRequiredAttrs(node, bytes, *sig);
    }
    outputs_out = kUnknownOutputs;
    type_out = 0;
    if (sig != nullptr) {
      int64_t values[kMaxCountAttrs];
      if (sig->fixed()) {
        if (data_inputs != sig->inputs.fixed && opts_.check_signatures)
          ThrowInputCount(node, sig->inputs.fixed, data_inputs);
        if (sig->outputs.fixed < kUnknownOutputs) outputs_out = static_cast<uint8_t>(sig->outputs.fixed);
      } else {
        outputs_out = CheckCountedSignature(node, *sig, count_values, count_sizes, count_set, data_inputs, values);
      }
      if (in_types != nullptr && sig->types_known) {
        if (!sig->collect_types) types[Signature::kNoTypeAttr] = 0;  // (every arg's type is fixed)
        // Entries are read for data inputs only (the first data_inputs: a data input
        // after a control input is an error before its entry is read).
        uint8_t* input_types = in_types + node.input_begin;
        const Signature::ArgType* args = sig->input_types.data();
        // (the usual case, as the outputs' below; else 0s, then TypeNode)
        const size_t m = sig->simple_inputs ? std::min<size_t>(sig->input_types.size(), data_inputs) : 0;
        for (size_t j = 0; j < data_inputs; ++j) input_types[j] = j < m ? ArgTypeOf(args[j], types) : 0;
        if (sig->uniform_outputs) type_out = ArgTypeOf(sig->output_types[0], types);
        if (!sig->simple_inputs || (!sig->uniform_outputs && !sig->output_types.empty())) {
          const NodeAttrs attrs{*sig, types, values, count_values, count_sizes, count_set};
          TypeNode(node, attrs, data_inputs, input_types, type_out, mixed_types);
        }
        return;
      }
    }
    if (in_types != nullptr) {
      for (size_t j = 0; j < data_inputs; ++j) in_types[node.input_begin + j] = 0;  // (not checked)
    }
  }

  // Inside ParseNode's handler of `e`: a ParseError of node i's own bytes (a wire error
  // the reader found in them, a string not UTF-8) is rethrown naming the node, as its
  // other errors do: by its name when that can be read (see ReadableName), else by its
  // index. Anything else (named already, or about an OpDef its op reads) is rethrown as
  // it is.
  [[noreturn]] __attribute__((noinline, cold)) void RethrowNamingNode(size_t i, const ParseError& e) const {
    const std::string_view bytes = node_spans_[i];
    const size_t begin = Offset(bytes.data());
    std::string what = e.what();
    if (e.offset() < begin || e.offset() > begin + bytes.size() || what.rfind("Node ", 0) == 0) throw;
    const std::string suffix = " (at byte offset " + std::to_string(e.offset()) + ")";
    if (what.size() >= suffix.size() && what.compare(what.size() - suffix.size(), suffix.size(), suffix) == 0) {
      what.resize(what.size() - suffix.size());
    }
    std::string_view name;
    const std::string node = ReadableName(bytes, name)
                                 ? "Node " + Quote(name)
                                 : "Node #" + std::to_string(i) + " of the GraphDef (its name not readable)";
    throw ParseError(node + ": malformed NodeDef: " + what, e.offset());
  }

  // The name of a NodeDef that does not parse (the last name field at its top level),
  // read without trusting its bytes: fields front to back, as far as where each ends
  // can be told (varints of any length, groups skipped whatever their depth), up to
  // the first whose end cannot (a length past the end, wire type 6 or 7, a stray
  // end-group tag). False when no name field was read before that.
  static bool ReadableName(std::string_view bytes, std::string_view& name) {
    const char* p = bytes.data();
    const char* const end = p + bytes.size();
    auto varint = [&p, end](uint64_t& v) {
      v = 0;
      for (int shift = 0; p < end;) {
        const auto b = static_cast<uint8_t>(*p++);
        if (shift < 64) {
          v |= uint64_t{b & 0x7fu} << shift;
          shift += 7;
        }
        if (b < 0x80) return true;
      }
      return false;
    };
    bool found = false;
    size_t groups = 0;
    uint64_t tag, v;
    while (p < end && varint(tag)) {
      switch (tag & 7) {
        case wire::kVarint:
          if (!varint(v)) return found;
          break;
        case wire::kFixed64:
          if (end - p < 8) return found;
          p += 8;
          break;
        case wire::kFixed32:
          if (end - p < 4) return found;
          p += 4;
          break;
        case wire::kLengthDelimited:
          if (!varint(v) || v > static_cast<uint64_t>(end - p)) return found;
          if (groups == 0 && (tag >> 3) == 1) {
            name = std::string_view(p, static_cast<size_t>(v));
            found = true;
          }
          p += v;
          break;
        case wire::kStartGroup:
          ++groups;
          break;
        case wire::kEndGroup:
          if (groups == 0) return found;
          --groups;
          break;
        default:
          return found;
      }
    }
    return found;
  }

  // Refuses a node whose field the rewriter copies through unparsed (an attr's value,
  // keyed `key`; experimental_debug_info or experimental_type: no key) is a message
  // protobuf's parser refuses, at nesting depth `depth` (see proto_check.h).
  __attribute__((always_inline)) void CheckNodeField(std::string_view node_bytes, proto_check::Message msg,
                                                     std::string_view field, int depth, std::string_view key) const {
    proto_check::Problem problem;
    if (!proto_check::Check(msg, field, depth, problem)) ThrowBadNodeField(node_bytes, msg, key, problem);
  }
  [[noreturn]] __attribute__((noinline)) void ThrowBadNodeField(std::string_view node_bytes, proto_check::Message msg,
                                                                std::string_view key,
                                                                const proto_check::Problem& problem) const {
    std::string_view name;  // (the node's name may come after the field: read it here)
    Reader r(node_bytes, origin_, node_depth_);
    Field f;
    while (r.Next(f)) {
      if (f.number == 1 && f.type == wire::kLengthDelimited) name = f.data;
    }
    const std::string what = msg == proto_check::kAttrValue   ? "attr " + Quote(key) + " value"
                             : msg == proto_check::kDebugInfo ? std::string("experimental_debug_info")
                                                              : std::string("experimental_type");
    throw ParseError("Node " + Quote(name) + ": malformed NodeDef: " + what + ": " + problem.what, Offset(problem.at));
  }

  // Refuses a node whose attr without a default holds no value (the last entry of its
  // key: duplicates' last wins), as TensorFlow's importer does: a missing value for a
  // non-list attr, or an empty list shorter than the attr's minimum; then one that
  // lacks such attrs (TensorFlow: "NodeDef missing attr(s) ...", names sorted).
  void CheckRequiredAttrs(const RawNode& node, std::string_view bytes, const Signature& sig) {
    std::vector<std::string_view> missing;
    for (const Signature::Required& attr : sig.required) {
      std::string_view last;
      bool found = false;
      ForEachAttr(bytes, [&](std::string_view key, std::string_view value) {
        if (key == attr.name) {
          last = value;
          found = true;
        }
      });
      if (!found) {
        if (std::find(missing.begin(), missing.end(), attr.name) == missing.end()) missing.push_back(attr.name);
        continue;
      }
      if (AttrIsSet(last)) continue;
      const std::string where = "Node " + Quote(node.name()) + " (op " + Quote(node.op()) + "): ";
      if (attr.type.substr(0, 5) != "list(") {
        throw GraphError(where + "AttrValue missing value with expected type '" + std::string(attr.type) +
                             "' for attr '" + std::string(attr.name) + "'",
                         std::string(node.name()));
      }
      if (attr.minimum > 0) {
        throw GraphError(where + "Length for attr '" + std::string(attr.name) + "' of 0 must be at least minimum " +
                             std::to_string(attr.minimum),
                         std::string(node.name()));
      }
    }
    if (missing.empty()) return;
    std::sort(missing.begin(), missing.end());
    std::string names;
    for (std::string_view m : missing) names += (names.empty() ? "'" : ", '") + std::string(m) + "'";
    throw GraphError("Node " + Quote(node.name()) + " (op " + Quote(node.op()) + "): NodeDef missing attr" +
                         (missing.size() > 1 ? "s " : " ") + names + " from its OpDef",
                     std::string(node.name()));
  }

  // Whether a node's attr is one its op's registry OpDef lacks and the file's OpDef
  // has, at the default that gives (Signature::removable): TensorFlow's importer drops it.
  // It compares the parsed messages, so another encoding of the default counts too
  // (parsed only when the bytes differ; a rare path: newer producers' attrs only).
  static bool Removable(const Signature& sig, std::string_view key, std::string_view value) {
    for (const auto& [name, default_value] : sig.removable) {
      if (name == key) return SameAttrValue(value, default_value);
    }
    return false;
  }

  // Whether an attr's key is `name` (a type attr's: mostly "T" or "dtype", so compared
  // inline).
  static bool SameName(std::string_view key, std::string_view name) {
    return key.size() == name.size() && !key.empty() && key[0] == name[0] &&
           (key.size() == 1 || std::memcmp(key.data() + 1, name.data() + 1, key.size() - 1) == 0);
  }

  static constexpr size_t kMaxCountAttrs = 8;

  // The DataType of each value of a single-typed arg (0: not known), given each type
  // attr's (see ParseNode).
  static uint8_t ArgTypeOf(const Signature::ArgType& arg, const uint8_t* types) {
    const uint8_t t = arg.fixed | types[arg.type_attr];  // (one of them is 0)
    return t == 0 ? 0 : static_cast<uint8_t>(t + arg.ref);
  }

  // What the type check reads of a node's attrs (see ParseNode).
  struct NodeAttrs {
    const Signature& sig;
    const uint8_t* types;   // each type attr's DataType (see ParseNode)
    const int64_t* counts;  // each count attr's count (-1: not known); only if !sig.fixed()
    const char* const* count_values;
    const uint32_t* count_sizes;
    uint32_t count_set;

    // The AttrValue of count attr c (the node's, else the default; empty: neither).
    std::string_view CountValue(size_t c) const {
      if ((count_set >> c) & 1) return {count_values[c], count_sizes[c]};
      return sig.count_attrs[c].has_default ? sig.count_attrs[c].default_value : std::string_view();
    }
    // Calls emit(dtype) for each value of `args` in order, up to `limit` of them; false
    // when a count or a type list is not known (then the values after it are not told).
    template <typename Emit>
    bool ForEachType(const std::vector<Signature::ArgType>& args, size_t limit, Emit&& emit) const {
      size_t done = 0;
      for (const Signature::ArgType& arg : args) {
        if (done >= limit) return true;
        if (arg.count < 0) {
          emit(ArgTypeOf(arg, types));
          ++done;
          continue;
        }
        const auto c = static_cast<size_t>(arg.count);
        if (sig.count_attrs[c].is_type_list) {
          const std::string_view list = CountValue(c);
          if (list.empty()) return false;
          const bool ok = ForEachListType(list, [&](int t) {
            if (done < limit) emit(static_cast<uint8_t>(t != 0 ? t + arg.ref : 0));
            ++done;
          });
          if (!ok) return false;
          continue;
        }
        const int64_t n = counts[c];
        if (n < 0) return false;
        const uint8_t t = ArgTypeOf(arg, types);
        for (int64_t k = 0; k < n && done < limit; ++k, ++done) emit(t);
      }
      return true;
    }
  };

  // Calls f(DataType, 0 for none) for each type a list(type) AttrValue lists (its
  // `list` fields merged, as protobuf merges them); false if it is malformed.
  template <typename F>
  static bool ForEachListType(std::string_view attr_value, F&& f) {
    try {
      // (values checked as protobuf reads them, or defaults: depths as of a root)
      Reader r(attr_value, attr_value.data(), 0);
      Field af;
      while (r.Next(af)) {
        if (af.number != 1 || af.type != wire::kLengthDelimited) continue;
        Reader lr(af.data, af.data.data(), 1);
        Field lf;
        while (lr.Next(lf)) {
          if (lf.number != 6) continue;
          if (lf.type == wire::kVarint) {
            f(IsBaseType(lf.varint) ? static_cast<int>(lf.varint) : 0);
          } else if (lf.type == wire::kLengthDelimited) {  // packed
            Reader pr(lf.data, lf.data.data(), 2);
            while (!pr.done()) {
              const uint64_t t = pr.ReadVarint("packed DataType");
              f(IsBaseType(t) ? static_cast<int>(t) : 0);
            }
          }
        }
      }
    } catch (const ParseError&) {
      return false;
    }
    return true;
  }

  // Notes the types of a node for the dtype check: the DataType each of its data
  // inputs takes (in_types[j]; left 0 where not known), and the summary of its
  // outputs' (type_out, see OutputTypeSummary; a list of them in mixed_types when they
  // differ). (ParseNode does the usual cases itself: TypeNode the others.)
  __attribute__((noinline)) void TypeNode(RawNode& node, const NodeAttrs& attrs, uint32_t data_inputs,
                                          uint8_t* in_types, uint8_t& type_out,
                                          std::vector<uint8_t>& mixed_types) const {
    const Signature& sig = attrs.sig;
    if (!sig.simple_inputs) {
      uint32_t j = 0;
      attrs.ForEachType(sig.input_types, data_inputs, [&](uint8_t t) { in_types[j++] = t; });
    }
    if (sig.output_types.empty() || sig.uniform_outputs) return;
    // Up to kUnknownOutputs - 1 of them (as many as the outputs noted for the name table).
    uint8_t types[kUnknownOutputs];
    size_t count = 0;
    bool same = true;
    const bool known = attrs.ForEachType(sig.output_types, kUnknownOutputs, [&](uint8_t t) {
      same &= count == 0 || t == types[0];
      types[count++] = t;
    });
    if (!known || count == 0 || count >= kUnknownOutputs) return;
    if (same) {
      type_out = types[0];
      return;
    }
    node.mixed_types = static_cast<uint32_t>(mixed_types.size()) + 1;
    mixed_types.push_back(static_cast<uint8_t>(count));
    mixed_types.insert(mixed_types.end(), types, types + count);
    type_out = kMixedTypes;
  }

  // The check of a node whose op has counted args (see Signature); returns its outputs,
  // and each count attr's count in values (-1: not known).
  uint8_t CheckCountedSignature(const RawNode& node, const Signature& sig, const char* const* count_values,
                                const uint32_t* count_sizes, uint32_t count_set, uint32_t data_inputs,
                                int64_t* values) const {
    if (sig.count_attrs.size() > kMaxCountAttrs) return kUnknownOutputs;
    for (size_t c = 0; c < sig.count_attrs.size(); ++c) {
      const Signature::CountAttr& attr = sig.count_attrs[c];
      values[c] = (count_set >> c) & 1 ? CountOf({count_values[c], count_sizes[c]}, attr.is_type_list) : -1;
      if (values[c] < 0 && attr.has_default) values[c] = CountOf(attr.default_value, attr.is_type_list);
    }
    const int64_t expected = ArgCountOf(sig.inputs, values);
    if (expected >= 0 && expected != data_inputs && opts_.check_signatures)
      ThrowInputCount(node, expected, data_inputs);
    const int64_t outputs = ArgCountOf(sig.outputs, values);
    return outputs >= 0 && outputs < kUnknownOutputs ? static_cast<uint8_t>(outputs) : kUnknownOutputs;
  }

  [[noreturn]] __attribute__((noinline, cold)) static void ThrowInputCount(const RawNode& node, int64_t expected,
                                                                           uint32_t data_inputs) {
    throw GraphError("Node " + Quote(node.name()) + ": op " + Quote(node.op()) + " takes " + std::to_string(expected) +
                         " data input" + (expected == 1 ? "" : "s") + " (by its OpDef), the NodeDef has " +
                         std::to_string(data_inputs),
                     std::string(node.name()));
  }

  // The default attrs TensorFlow would add to a node of `op` (none for functions).
  const Defaults* DefaultsOf(std::string_view op) const {
    if (!opts_.add_default_attrs || (op_defaults_.empty() && registry_ == nullptr)) return nullptr;
    if (!functions_.empty() && functions_.count(op)) return nullptr;
    const Defaults* defaults = OpOf(op).first;
    return defaults == nullptr || defaults->empty() ? nullptr : defaults;
  }

  // Key and value of a map<string, AttrValue> entry. The usual layout (key, then value,
  // each once) is read directly; anything else goes through the general reader.
  // (Inlined into the parse loop: one call per attr entry cost more than the split.)
  __attribute__((always_inline)) void SplitAttrEntry(std::string_view entry, std::string_view& key,
                                                     std::string_view& value) {
    const auto* b = reinterpret_cast<const unsigned char*>(entry.data());
    const size_t n = entry.size();
    if (n >= 2 && b[0] == 0x0a && b[1] < 0x80 && 2u + b[1] <= n) {
      const size_t klen = b[1];
      const size_t at = 2 + klen;
      if (at == n || (at + 2 <= n && b[at] == 0x12 && b[at + 1] < 0x80 && at + 2 + b[at + 1] == n)) {
        key = std::string_view(entry.data() + 2, klen);
        value = at == n ? std::string_view() : std::string_view(entry.data() + at + 2, n - at - 2);
        if (!wire::IsValidUtf8(key)) throw ParseError("NodeDef.attr key is not valid UTF-8", Offset(key.data()));
        return;
      }
    }
    SplitAttrEntrySlow(entry, key, value);
  }
  __attribute__((noinline)) void SplitAttrEntrySlow(std::string_view entry, std::string_view& key,
                                                    std::string_view& value) {
    key = {};
    value = {};
    Reader er(entry, origin_, node_depth_ + 1);
    Field ef;
    while (er.Next(ef)) {
      if (!IsBytes(ef)) continue;  // (an unknown field of the map entry)
      if (ef.number == 1)
        key = StringOf(ef, "NodeDef.attr key");
      else if (ef.number == 2)
        value = ef.data;
    }
  }

  // Whether an AttrValue's value (its oneof, the last member on the wire winning, as
  // protobuf reads it) is the list (field 1); false for another member or none. A field
  // of another wire type than its declaration's is an unknown one, no member.
  bool HoldsList(std::string_view attr_value) {
    Reader r(attr_value, origin_, attr_value_depth_);
    Field f;
    uint32_t last = 0;
    while (r.Next(f)) {
      const uint32_t n = f.number;
      const bool member = (n == 3 || n == 5 || n == 6) ? f.type == wire::kVarint
                          : n == 4                     ? f.type == wire::kFixed32
                          : (n >= 1 && n <= 10)        ? f.type == wire::kLengthDelimited
                                                       : false;
      if (member) last = n;
    }
    return last == 1;
  }

  // Whether ListValue `list` holds no string (field 2) but values of another kind (i, f,
  // b, type, shape, tensor, func): TensorFlow's Python importer reads such a `_class`
  // as that list and fails on its first value (a TypeError), under a prefix too.
  bool ListHoldsOnlyNonStrings(std::string_view list) {
    Reader r(list, origin_, attr_value_depth_ + 1);
    Field f;
    bool other = false;
    while (r.Next(f)) {
      const uint32_t member = ListMember(f);
      if (member == 2) return false;
      other = other || member != 0;
    }
    return other;
  }

  // Whether AttrValue `attr_value` reads as a list(shape): a list holding shapes or
  // nothing, no value of another kind.
  bool HoldsShapeList(std::string_view attr_value) {
    if (!HoldsList(attr_value)) return false;
    Reader r(ListOf(attr_value), origin_, attr_value_depth_ + 1);
    Field f;
    while (r.Next(f)) {
      const uint32_t member = ListMember(f);
      if (member != 0 && member != 7) return false;
    }
    return true;
  }

  // The ListValue member (2 s, 3 i, 4 f, 5 b, 6 type, 7 shape, 8 tensor, 9 func) whose
  // value(s) field `f` holds, as protobuf reads it; 0 for an unknown field (another
  // number, or a wire type the member cannot have) or an empty packed run.
  static uint32_t ListMember(const Field& f) {
    const uint32_t n = f.number;
    const bool bytes = f.type == wire::kLengthDelimited;
    if (n == 2 || (n >= 7 && n <= 9)) return bytes ? n : 0;
    const bool packed = bytes && !f.data.empty();
    if (n == 3 || n == 5 || n == 6) return f.type == wire::kVarint || packed ? n : 0;
    if (n == 4) return f.type == wire::kFixed32 || packed ? n : 0;
    return 0;
  }

  // The ListValue payload of an AttrValue (field 1), merged if repeated.
  std::string_view ListOf(std::string_view attr_value) {
    std::string_view list;
    Reader r(attr_value, origin_, attr_value_depth_);
    Field f;
    while (r.Next(f)) {
      // (of another wire type: an unknown field, as protobuf reads it)
      if (f.number == 1 && f.type == wire::kLengthDelimited) {
        list = f.data;  // a repeated message field merges; _class is never split in practice
      }
    }
    return list;
  }

  template <typename Fn>
  void ForEachClassEntry(const RawNode& node, Fn&& fn) {
    Reader r(node.class_list(), origin_, attr_value_depth_ + 1);
    Field f;
    while (r.Next(f)) {
      if (f.number == 2 && f.type == wire::kLengthDelimited) fn(f.data);  // (else unknown)
    }
  }

  // An entry of the table of original names: `key` is the name's hash fingerprint, the
  // summary of the node's output dtypes (OutputTypeSummary) and the node index + 1 (0:
  // an empty slot), `name` where the name's bytes are, their
  // size and the node's number of outputs (see NameRef), so that checking a candidate
  // and the output an input names reads the name alone, not the node's parse record:
  // one cache miss fewer per lookup.
  struct NameSlot {
    uint64_t key;
    uint64_t name;
  };
  // A name's address in the low 48 bits (0 when it does not fit or the name is longer
  // than 254 bytes: the name is then read through the node's record), the node's
  // outputs in the next 8 (kUnknownOutputs: not checked), the name's size in the top 8.
  static constexpr uint64_t kAddressMask = (uint64_t{1} << 48) - 1;
  static uint64_t NameRef(std::string_view name, uint8_t outputs) {
    const auto address = reinterpret_cast<uintptr_t>(name.data());
    const uint64_t out = static_cast<uint64_t>(outputs) << 48;
    if (address > kAddressMask || name.size() >= 0xff) return out;
    return static_cast<uint64_t>(address) | out | (static_cast<uint64_t>(name.size()) << 56);
  }
  static uint8_t OutputsOf(const NameSlot& slot) { return static_cast<uint8_t>(slot.name >> 48); }
  // Whether the node in `slot` (index i) is called `name`.
  bool SlotHasName(const NameSlot& slot, uint32_t i, std::string_view name) const {
    if ((slot.name & kAddressMask) == 0) return nodes_[i].name() == name;
    const size_t size = static_cast<size_t>(slot.name >> 56);
    const auto* data = reinterpret_cast<const char*>(static_cast<uintptr_t>(slot.name & kAddressMask));
    return size == name.size() && std::memcmp(data, name.data(), size) == 0;
  }

  // Enters nodes [a, b) in the table of original names while other parts enter theirs
  // (a slot is claimed with a compare-and-swap of its key; its name ref follows, and
  // until it does a reader compares through the node's record). A name already there
  // sets `duplicate`: ThrowFirstDuplicate then reports the first in file order.
  void InsertNames(size_t a, size_t b, std::atomic<bool>& duplicate) {
    const size_t mask = name_table_.size() - 1;
    constexpr size_t kAhead = 16;  // slots prefetched ahead: the table is far larger than the cache
    for (size_t i = a; i < b; ++i) {
      if (i + kAhead < b) __builtin_prefetch(&name_table_[name_hashes_[i + kAhead] & mask], 1);
      const uint64_t h = name_hashes_[i];
      const uint64_t fp = Fingerprint(h);
      const uint64_t key = fp | uint64_t{out_types_[i]} << 32 | (i + 1);
      const std::string_view name = nodes_[i].name();
      for (size_t slot = h & mask;; slot = (slot + 1) & mask) {
        NameSlot& s = name_table_[slot];
        uint64_t e = __atomic_load_n(&s.key, __ATOMIC_ACQUIRE);
        if (e == 0) {
          if (__atomic_compare_exchange_n(&s.key, &e, key, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            __atomic_store_n(&s.name, NameRef(name, num_outputs_[i]), __ATOMIC_RELEASE);
            break;
          }
          // Another part took the slot first: e is now its key.
        }
        if (Fingerprint(e) != fp) continue;
        const uint32_t j = static_cast<uint32_t>(e & kIndexMask) - 1;
        const NameSlot seen{e, __atomic_load_n(&s.name, __ATOMIC_ACQUIRE)};
        if (SlotHasName(seen, j, name)) {
          duplicate.store(true, std::memory_order_relaxed);
          break;
        }
      }
    }
  }

  // Throws the error for the first node (in file order) whose name an earlier node has.
  [[noreturn]] void ThrowFirstDuplicate() const {
    std::unordered_set<std::string_view, FastHash> seen;
    for (const RawNode& node : nodes_) {
      if (!seen.insert(node.name()).second) {
        throw GraphError("Duplicate node name in graph: " + Quote(node.name()), std::string(node.name()));
      }
    }
    throw GraphError("Duplicate node name in graph", std::string());  // (unreachable: the parts found one)
  }

  int64_t FindOriginal(std::string_view name) const { return FindOriginalHashed(name, HashName(name)); }

  // Whether `name` is a scope of a name in the file (see BuildPrefixTable).
  bool IsOriginalPrefix(std::string_view name) {
    const auto name_of = [this](size_t i) { return nodes_[i].name(); };
    if (!gdef_prefixes_built_) {
      BuildPrefixTable(gdef_prefixes_, nodes_.size(), name_of);
      gdef_prefixes_built_ = true;
    }
    return PrefixTableHas(gdef_prefixes_, name, name_of);
  }

  // --- the variable collections (RewriteOptions::variable_collections) -------------------------

  // The VariableDefs of the collections asked for that are present as bytes_list (views
  // into `rest`, the result's copy of the MetaGraphDef's other fields).
  void ReadVariableCollections(std::string_view rest) {
    const std::vector<std::string_view> keys(opts_.variable_collections.begin(), opts_.variable_collections.end());
    std::vector<std::vector<std::string_view>> values;
    std::vector<char> present;
    if (!CollectionBytesLists(rest, keys, &values, &present)) return;  // (the caller's own reading reports it)
    auto v = std::make_unique<RewrittenGraph::Variables>();
    for (size_t k = 0; k < keys.size(); ++k) {
      if (!present[k]) continue;
      v->keys.emplace_back(keys[k]);
      v->counts.push_back(values[k].size());
      v->defs.insert(v->defs.end(), values[k].begin(), values[k].end());
    }
    v->prefix = opts_.variable_prefix;
    variables_ = std::move(v);
  }

  // Looks the variables' names up in the original names' table (none is renamed, or
  // FinishVariables drops the result). The table holds the names without the prefix, so
  // they are looked up as the VariableDefs write them (the prefix, a valid node name, has
  // no ':' to change how a name splits) and the prefix goes on the names handed back.
  // Rows hold original node indices until FinishVariables.
  void LookupVariables(unsigned threads, const std::function<void()>& beside = {}) {
    if (variables_ == nullptr) return;
    struct Names {
      const std::string_view* names;
      std::string_view operator[](size_t k) const { return names[k]; }
    };
    FindNodes find = [this](const std::string_view* names, size_t count, const FoundNode& found) {
      const Names array{names};
      std::vector<int64_t> index(count);
      LookupPipeline<Names> pipeline(*this, array, 0, count);
      for (size_t k = 0; k < count; ++k) index[k] = FindOriginalHashed(names[k], pipeline.Advance(k));
      // The ops in a second pass, each node's parse record fetched ahead.
      constexpr size_t kAhead = 16;
      for (size_t k = 0; k < count; ++k) {
        if (k + kAhead < count && index[k + kAhead] >= 0)
          __builtin_prefetch(&nodes_[static_cast<size_t>(index[k + kAhead])]);
        const int64_t i = index[k];
        found(k, i, i < 0 ? std::string_view() : nodes_[static_cast<size_t>(i)].op());
      }
    };
    DistinctVariableDefs& d = variables_->rows;
    d = LookupDistinctVariableDefs(find, variables_->defs, "", 2048, threads, beside, prefix_slash_);
    // The op types point into the parse scratch, which Emit recycles.
    variables_->op_storage.assign(d.op_types.begin(), d.op_types.end());
    for (size_t t = 0; t < d.op_types.size(); ++t) d.op_types[t] = variables_->op_storage[t];
  }

  // Hands the variables' rows to the result, node indices moved to output positions;
  // none if a node was renamed.
  void FinishVariables() {
    if (variables_ == nullptr || !new_name_ends_.empty()) return;
    DistinctVariableDefs& d = variables_->rows;
    if (!in_order_) {
      for (VariableDefRow& row : d.rows) {
        for (int64_t& node : row.node) {
          if (node >= 0) node = position_[static_cast<size_t>(node)];
        }
      }
    }
    result_->variables_ = std::move(variables_);
  }

  // --- stage 3: inputs and order ---------------------------------------------------------------

  // The inputs an input_map key replaces, of one range of nodes: (position in resolved_,
  // input_map entry), in GraphDef order.
  using MappedInputs = std::vector<std::pair<size_t, uint32_t>>;

  void ParseInputMap() {
    for (size_t m = 0; m < opts_.input_map.size(); ++m) {
      const auto& [key, value] = opts_.input_map[m];
      const int given = m < opts_.input_map_dtypes.size() ? opts_.input_map_dtypes[m] : 0;
      const bool known =
          given > 0 && IsBaseType(static_cast<uint64_t>(given > kRefOffset ? given - kRefOffset : given));
      const uint8_t dtype = known ? static_cast<uint8_t>(given) : 0;
      TensorRef k = ParseMapKey(key);
      TensorRef v = ParseTensorName(value);
      // A tensor key below the control slot ("x:-2") is output -2 of x to TensorFlow's
      // importer: no input uses it, and it is reported only when x is not in the file.
      // (A key naming no node, "" or "^", is one no input uses: reported as unused.)
      const bool below_control = k.index < -1;
      if (v.node.empty())
        throw InputMapError("input_map value " + Quote(value) + " for key " + Quote(key) + " names no node");
      if ((k.control() && !below_control) != v.control()) {
        throw InputMapError("input_map maps " + Quote(key) + " to " + Quote(value) +
                            ": a control input must map to a control input (\"^name\"), a tensor to a tensor");
      }
      MapKey mk{std::string(k.node), k.index};
      auto it = input_map_index_.find(mk);
      if (it != input_map_index_.end()) {
        // Two spellings of one key ("x" and "x:0"): the later wins, as in TensorFlow.
        input_map_[it->second].value_node = std::string(v.node);
        input_map_[it->second].value = v;
        input_map_[it->second].dtype = dtype;
        continue;
      }
      InputMapEntry entry;
      entry.key_text = k.control() && !below_control ? "^" + std::string(k.node)
                                                     : std::string(k.node) + ":" + std::to_string(k.index);
      entry.key_node = std::string(k.node);
      entry.key_index = k.index;
      entry.value_node = std::string(v.node);
      entry.value = v;
      entry.dtype = dtype;
      input_map_index_.emplace(std::move(mk), input_map_.size());
      input_map_.push_back(std::move(entry));
    }
    // Keys' views point into input_map_ strings from here on.
    for (auto& e : input_map_) {
      e.value.node = e.value_node;
      const uint64_t bit = HashName(e.key_node) >> (64 - kMapFilterBits);
      map_filter_[bit / 64] |= uint64_t{1} << (bit % 64);
    }
  }

  // An input_map key as TensorFlow's Python importer hands it on: "^name" (a control
  // key: all after the '^', which may hold a ':'), or "name:index" with an int32 index
  // after the last ':' (the normalised spelling the Python layer passes; the name may be
  // empty; "name:-k", k >= 2, lies below the control slot); any other spelling as
  // ParseTensorName reads an input ("x" for "x:0").
  static TensorRef ParseMapKey(std::string_view key) {
    TensorRef ref;
    if (!key.empty() && key[0] == '^') {
      ref.node = key.substr(1);
      ref.index = -1;
      return ref;
    }
    const size_t colon = key.rfind(':');
    if (colon != std::string_view::npos) {
      size_t p = colon + 1;
      const bool negative = p < key.size() && key[p] == '-';
      if (negative) ++p;
      int64_t k = 0;
      bool digits = p < key.size();
      for (; p < key.size(); ++p) {
        if (key[p] < '0' || key[p] > '9' || k > (int64_t{1} << 31)) {
          digits = false;
          break;
        }
        k = k * 10 + (key[p] - '0');
      }
      if (digits && (negative ? k >= 2 && k <= (int64_t{1} << 31) : k < (int64_t{1} << 31))) {
        ref.node = key.substr(0, colon);
        ref.index = static_cast<int32_t>(negative ? -k : k);
        return ref;
      }
    }
    return ParseTensorName(key);
  }

  static std::string_view NameOf(const InputRef& input) { return input.name(); }
  static std::string_view NameOf(std::string_view name) { return name; }

  // Name lookups miss the cache twice (table slot, the candidate's name): a sequence of
  // lookups (a part's inputs, or its colocation targets) runs as a software pipeline,
  // prefetching those two for the names kAhead and kAhead/2 places ahead of the one
  // being looked up.
  template <class Names>
  class LookupPipeline {
   public:
    static constexpr size_t kAhead = 24, kRing = 32;
    // For the lookups of names [begin, end) of `inputs`, in order.
    LookupPipeline(const Rewriter& rw, const Names& inputs, size_t begin, size_t end)
        : rw_(rw), inputs_(inputs), end_(end), mask_(rw.name_table_.size() - 1) {
      for (size_t k = begin; k < begin + kAhead && k < end; ++k) HashAndPrefetchSlot(k);
      for (size_t k = begin; k < begin + kAhead / 2 && k < end; ++k) PrefetchName(k);
    }
    // Advances the pipeline to name k and returns its hash.
    uint64_t Advance(size_t k) {
      if (k + kAhead < end_) HashAndPrefetchSlot(k + kAhead);
      if (k + kAhead / 2 < end_) PrefetchName(k + kAhead / 2);
      return ring_[k % kRing];
    }

   private:
    void HashAndPrefetchSlot(size_t k) {
      const uint64_t h = HashName(NameOf(inputs_[k]));
      ring_[k % kRing] = h;
      __builtin_prefetch(&rw_.name_table_[h & mask_]);
    }
    // The name of the first candidate for lookup k (its fingerprint matches).
    void PrefetchName(size_t k) const {
      const uint64_t h = ring_[k % kRing];
      const uint64_t fp = Fingerprint(h);
      for (size_t slot = h & mask_;; slot = (slot + 1) & mask_) {
        const NameSlot& s = rw_.name_table_[slot];
        if (s.key == 0) return;
        if (Fingerprint(s.key) == fp) {
          const uint64_t address = s.name & kAddressMask;
          if (address != 0) __builtin_prefetch(reinterpret_cast<const char*>(static_cast<uintptr_t>(address)));
          return;
        }
      }
    }

    const Rewriter& rw_;
    const Names& inputs_;
    const size_t end_;
    const size_t mask_;
    uint64_t ring_[kRing] = {};
  };

  // A node's output dtype summary, as its name table key holds it: its outputs'
  // DataType when they share one, kMixedTypes when they differ (RawNode::mixed_types
  // lists them), 0 when not known (then not checked).
  static uint8_t OutputTypeSummary(uint64_t key) { return static_cast<uint8_t>((key & kOwnerBits) >> 32); }

  // The node called `name` (hash h), or -1; its outputs to *outputs and its output
  // dtype summary to *types if asked.
  int64_t FindOriginalHashed(std::string_view name, uint64_t h, uint8_t* outputs = nullptr,
                             uint8_t* types = nullptr) const {
    const size_t mask = name_table_.size() - 1;
    const uint64_t fp = Fingerprint(h);
    size_t slot = h & mask;
    for (uint64_t e; (e = name_table_[slot].key) != 0; slot = (slot + 1) & mask) {
      if (Fingerprint(e) != fp) continue;
      const uint32_t i = static_cast<uint32_t>(e & kIndexMask) - 1;
      if (SlotHasName(name_table_[slot], i, name)) {
        if (outputs != nullptr) *outputs = OutputsOf(name_table_[slot]);
        if (types != nullptr) *types = OutputTypeSummary(e);
        return i;
      }
    }
    return -1;
  }

  // Input j of a node as written in the file (for messages only: reads the input's pages).
  std::string InputText(const RawNode& node, uint32_t j) const {
    Reader r(node.bytes, origin_, node_depth_);
    Field f;
    uint32_t seen = 0;
    while (r.Next(f)) {
      if (f.number == 3 && IsBytes(f) && seen++ == j) return std::string(f.data);
    }
    return std::string();
  }

  // Resolves node i's inputs; returns CountPending(i). With in_types (the types its
  // part's inputs take, see TypeNode), notes in type_error_ when a data input's dtype
  // does not fit (ThrowFirstTypeError then reports the first in TensorFlow's order).
  bool ResolveNode(size_t i, const LargeVector<InputRef>& inputs, size_t base, MappedInputs* mapped,
                   LookupPipeline<LargeVector<InputRef>>& pipeline, const uint8_t* in_types) {
    const RawNode& node = nodes_[i];
    bool seen_control = false;
    for (uint32_t j = 0; j < node.input_count; ++j) {
      const size_t k = node.input_begin - base + j;
      const uint64_t hash = pipeline.Advance(k);
      const TensorRef ref{inputs[k].name(), inputs[k].index};
      if (ref.control()) {
        seen_control = true;
      } else if (seen_control) {
        throw GraphError("Node " + Quote(node.name()) + ": control input " + Quote(InputText(node, j)) +
                             " must come after the data inputs",
                         std::string(node.name()));
      }
      if (ref.index == INT32_MAX) {
        throw GraphError("Node " + Quote(node.name()) + ": bad output index in input " + Quote(InputText(node, j)),
                         std::string(node.name()));
      }
      Resolved& res = resolved_[node.input_begin + j];
      if (mapped != nullptr && MayBeMapKey(hash)) {
        auto it = input_map_index_.find(MapKey{std::string(ref.node), ref.index});
        if (it != input_map_index_.end()) {
          const InputMapEntry& e = input_map_[it->second];
          // (the source, an external tensor, is numbered by MapInputs once every range
          // is resolved: in the order the inputs use them)
          mapped->emplace_back(node.input_begin + j, static_cast<uint32_t>(it->second));
          res.src = -1;
          res.index = e.value.index;
          if (in_types != nullptr && ref.index >= 0 && !TypeFits(in_types[k], e.dtype)) {
            type_error_.store(true, std::memory_order_relaxed);
          }
          continue;
        }
      }
      uint8_t outputs = kUnknownOutputs, types = 0;
      int64_t src = FindOriginalHashed(ref.node, hash, &outputs, &types);
      if (src < 0) {
        throw GraphError("Node " + Quote(node.name()) + ": Unknown input node " + Quote(InputText(node, j)),
                         std::string(node.name()));
      }
      if (ref.index >= 0 && outputs != kUnknownOutputs && ref.index >= outputs && opts_.check_signatures) {
        throw GraphError("Node " + Quote(node.name()) + ": input " + Quote(InputText(node, j)) +
                             ": Connecting to invalid output " + std::to_string(ref.index) + " of source node " +
                             Quote(ref.node) + " which has " + std::to_string(outputs) + " output" +
                             (outputs == 1 ? "" : "s"),
                         std::string(node.name()));
      }
      res.src = static_cast<int32_t>(src);
      res.index = ref.index;
      // (A mixed summary fits no type: its outputs' list is then looked at.)
      if (in_types != nullptr && ref.index >= 0 && !TypeFits(in_types[k], types) &&
          (types != kMixedTypes || !TypeFits(in_types[k], MixedOutputType(static_cast<size_t>(src), ref.index)))) {
        type_error_.store(true, std::memory_order_relaxed);
      }
    }
    return CountPending(i);
  }

  // Whether an input taking DataType `want` may be fed one of DataType `have` (0 for
  // either: not known, not checked).
  static bool TypeFits(uint8_t want, uint8_t have) {
    return want == have || want == 0 || have == 0 || TypesCompatible(want, have);  // (the usual case first)
  }

  // The part whose parse range holds node i.
  size_t PartOf(size_t i) const {
    return static_cast<size_t>(std::upper_bound(part_begin_.begin(), part_begin_.end(), i) - part_begin_.begin()) - 1;
  }

  // The DataType of output `index` of node src, whose outputs' dtypes differ (0: not known).
  uint8_t MixedOutputType(size_t src, int32_t index) const {
    const RawNode& node = nodes_[src];
    if (node.mixed_types == 0 || index < 0) return 0;
    const uint8_t* list = part_mixed_types_[PartOf(src)].data() + (node.mixed_types - 1);
    return static_cast<uint32_t>(index) < list[0] ? list[1 + index] : 0;
  }

  // The DataType of output `index` of node src (0: not known).
  uint8_t OutputType(size_t src, int32_t index) const {
    uint8_t types = 0;
    const std::string_view name = nodes_[src].name();
    FindOriginalHashed(name, HashName(name), nullptr, &types);
    return types == kMixedTypes ? MixedOutputType(src, index) : types;
  }

  // Throws the error TensorFlow's importer gives for the first data edge whose dtypes do
  // not fit, in the order it adds edges: node by node in creation order, each node's
  // inputs in order, except the edges from nodes created after it (a loop's back
  // edges), which it adds once all nodes are in.
  [[noreturn]] __attribute__((noinline, cold)) void ThrowFirstTypeError() const {
    const size_t n = nodes_.size();
    std::vector<std::pair<uint32_t, uint32_t>> back_edges;
    for (size_t pos = 0; pos < n; ++pos) {
      const uint32_t i = OrderAt(pos);
      for (uint32_t j = 0; j < nodes_[i].input_count; ++j) {
        const Resolved& res = resolved_[nodes_[i].input_begin + j];
        if (res.index < 0) continue;
        const size_t src = static_cast<size_t>(res.src);
        if (res.src >= 0 && (in_order_ ? src : size_t{position_[src]}) > pos)
          back_edges.emplace_back(i, j);
        else
          CheckEdgeType(i, j);
      }
    }
    for (const auto& [i, j] : back_edges) CheckEdgeType(i, j);
    throw GraphError("a data input's dtype does not fit its source's", std::string());  // (unreachable: one was found)
  }

  // Throws TensorFlow's error if input j of node i is fed a dtype it does not take.
  void CheckEdgeType(uint32_t i, uint32_t j) const {
    const RawNode& node = nodes_[i];
    const size_t part = PartOf(i);
    const auto* in_types = reinterpret_cast<const uint8_t*>(part_in_types_[part].get());
    const uint8_t want = in_types[node.input_begin - part_input_base_[part] + j];
    const Resolved& res = resolved_[node.input_begin + j];
    const size_t external = static_cast<size_t>(-1 - static_cast<int64_t>(res.src));
    const uint8_t have = res.src >= 0 ? OutputType(static_cast<size_t>(res.src), res.index) : external_types_[external];
    if (TypeFits(want, have)) return;
    const std::string source =
        res.src >= 0 ? FinalNameString(static_cast<uint32_t>(res.src)) : result_->external_[external];
    throw GraphError("Input " + std::to_string(j) + " of node " + FinalNameString(i) + " was passed " +
                         DataTypeName(have) + " from " + source + ":" + std::to_string(res.index) +
                         " incompatible with expected " + DataTypeName(want) + ".",
                     std::string(node.name()));
  }

  // For Order, from node i's resolved inputs (while its record is at hand): how many
  // of them it waits for, and where they begin. False when the node is not ready once
  // all nodes before it in the GraphDef are done (then GraphDef order is not kept).
  bool CountPending(size_t i) {
    const RawNode& node = nodes_[i];
    const Resolved* inputs = resolved_.data() + node.input_begin;
    input_begin_[i] = node.input_begin;
    int32_t count = static_cast<int32_t>(node.input_count);
    if (IsMerge(node.op())) {
      int32_t controls = 0;
      bool back_edge = false;
      for (uint32_t j = 0; j < node.input_count; ++j) {
        if (inputs[j].index < 0)
          ++controls;
        else if (inputs[j].src >= 0 && IsNextIteration(nodes_[static_cast<size_t>(inputs[j].src)].op()))
          back_edge = true;
      }
      if (back_edge) count = controls + 1;
    }
    int32_t earlier = 0;
    for (uint32_t j = 0; j < node.input_count; ++j) {
      if (inputs[j].src < 0)
        --count;  // mapped inputs count as already there
      else if (static_cast<size_t>(inputs[j].src) < i)
        ++earlier;
    }
    pending_[i] = count;
    return count <= 0 || earlier >= count;
  }

  // Room for the output of nodes of `bytes` bytes in all, `count` of them.
  size_t OutputEstimate(size_t bytes, size_t count) const {
    return bytes + count * (prefix_slash_.size() * 3 + 24) + 1;
  }

  // Resolves the inputs of nodes [a, b) of a part; false when one of them is out of
  // GraphDef order (see CountPending).
  bool ResolveRange(size_t part, size_t a, size_t b, MappedInputs* mapped) {
    if (a == b) return true;
    const size_t base = part_input_base_[part];
    LookupPipeline<LargeVector<InputRef>> pipeline(
        *this, part_inputs_[part], nodes_[a].input_begin - base,
        b < nodes_.size() ? nodes_[b].input_begin - base : total_inputs_ - base);
    bool in_order = true;
    const uint8_t* in_types = check_types_ ? reinterpret_cast<const uint8_t*>(part_in_types_[part].get()) : nullptr;
    for (size_t i = a; i < b; ++i) in_order &= ResolveNode(i, part_inputs_[part], base, mapped, pipeline, in_types);
    return in_order;
  }

  // Numbers the external tensors the input_map's values name in the order the inputs
  // (in GraphDef order) first use them, and points the mapped inputs at them.
  void MapInputs(const std::vector<MappedInputs>& mapped) {
    std::vector<uint32_t> external_of(input_map_.size(), kNone);
    for (const MappedInputs& range : mapped) {
      for (const auto& [at, m] : range) {
        InputMapEntry& e = input_map_[m];
        e.used = true;
        if (external_of[m] == kNone) {
          external_of[m] = static_cast<uint32_t>(result_->external_.size());
          result_->external_.push_back(e.value_node);
          external_types_.push_back(e.dtype);
        }
        resolved_[at].src = -1 - static_cast<int32_t>(external_of[m]);
      }
    }
  }

  // Whether an input whose node name hashes to `hash` may be an input_map key's (no
  // false negatives; false positives are looked up).
  bool MayBeMapKey(uint64_t hash) const {
    const uint64_t bit = hash >> (64 - kMapFilterBits);
    return (map_filter_[bit / 64] >> (bit % 64) & 1) != 0;
  }

  void ResolveInputs() {
    resolved_.resize(total_inputs_);
    pending_.resize(nodes_.size());
    input_begin_.resize(nodes_.size() + 1);
    input_begin_.back() = static_cast<uint32_t>(total_inputs_);
    {
      PageSink sink = SinkOf(resolved_);
      FreeInto(node_spans_, sink);
      FreeInto(name_hashes_, sink);
    }
    // The work is in the inputs, not spread over the nodes as the parts' bytes are: the
    // nodes are split again on their inputs, each range within one part.
    struct NodeRange {
      size_t part, a, b;
    };
    std::vector<NodeRange> ranges;
    const size_t n = nodes_.size();
    const std::vector<size_t> bounds = GuidedSplit(n, parts_ == 1 ? 1 : 2 * parts_, [&](size_t i) {
      return i < n ? size_t{nodes_[i].input_begin} : total_inputs_;
    });
    for (size_t part = 0, r = 0; part < parts_; ++part) {
      auto [a, b] = PartRange(part);
      for (size_t at = a; at < b;) {
        while (bounds[r + 1] <= at) ++r;  // (bounds.back() is n: past every node)
        const size_t end = std::min(b, bounds[r + 1]);
        ranges.push_back({part, at, end});
        at = end;
      }
    }
    std::vector<char> range_in_order(ranges.size(), 1);
    std::vector<MappedInputs> mapped(input_map_.empty() ? 0 : ranges.size());
    ParallelFor(ranges.size(), threads_, [&](size_t k) {
      range_in_order[k] = ResolveRange(ranges[k].part, ranges[k].a, ranges[k].b, mapped.empty() ? nullptr : &mapped[k]);
    });
    in_order_ = std::all_of(range_in_order.begin(), range_in_order.end(), [](char c) { return c != 0; });
    MapInputs(mapped);
    // The inputs are resolved: their records' pages go to the output's node entries
    // (filled by Emit), their strings' blocks become the output chunks (see Emit).
    result_->nodes_.resize(nodes_.size());
    {
      PageSink sink = SinkOf(result_->nodes_);
      for (LargeVector<InputRef>& inputs : part_inputs_) FreeInto(inputs, sink);
    }
    std::vector<LargeVector<InputRef>>().swap(part_inputs_);
    // As TensorFlow: a key no input uses is an error only when its node is not in the
    // GraphDef or it names an output the node lacks (an unused placeholder may be mapped).
    std::vector<std::string> unused;
    for (const auto& e : input_map_) {
      if (e.used) continue;
      uint8_t outputs = kUnknownOutputs;
      const int64_t node = FindOriginalHashed(e.key_node, HashName(e.key_node), &outputs);
      if (node < 0 || (e.key_index >= 0 && outputs != kUnknownOutputs && e.key_index >= outputs)) {
        unused.push_back(e.key_text);
      }
    }
    if (!unused.empty()) {
      std::string msg = "Attempted to map inputs that were not found in graph_def: [";
      for (size_t i = 0; i < unused.size(); ++i) msg += (i ? ", " : "") + unused[i];
      throw InputMapError(msg + "]");
    }
  }

  static bool IsMerge(std::string_view op) { return op == "Merge" || op == "RefMerge"; }
  static bool IsNextIteration(std::string_view op) { return op == "NextIteration" || op == "RefNextIteration"; }

  // TensorFlow's importer creates nodes in topological order, taking the ready node
  // with the smallest GraphDef index first; a Merge fed by a NextIteration (a loop)
  // waits for its control inputs and one data input only.
  void Order() {
    const size_t n = nodes_.size();
    // (ResolveInputs counted each node's inputs to wait for: pending_, and in_order_.)
    FillLaterVector<int32_t> pending;
    pending.swap(pending_);
    FillLaterVector<uint32_t> input_begin;
    input_begin.swap(input_begin_);
    const bool in_order = in_order_;
    if (!in_order) {  // (in order, order_ and position_ stay empty: see OrderAt)
      order_.resize(n);
      // Consumers of each node, as a compressed adjacency list.
      LargeVector<uint32_t> start(n + 1, 0);
      for (const Resolved& res : resolved_) {
        if (res.src >= 0) ++start[static_cast<size_t>(res.src) + 1];
      }
      for (size_t i = 0; i < n; ++i) start[i + 1] += start[i];
      FillLaterVector<uint32_t> consumers(start[n]);  // every slot filled below
      LargeVector<uint32_t> fill(start.begin(), start.end() - 1);
      for (size_t i = 0; i < n; ++i) {
        for (uint32_t k = input_begin[i]; k < input_begin[i + 1]; ++k) {
          const Resolved& res = resolved_[k];
          if (res.src >= 0) consumers[fill[static_cast<size_t>(res.src)]++] = static_cast<uint32_t>(i);
        }
      }
      // The smallest ready node first. A cursor walks the nodes in GraphDef order and
      // yields each one that is ready when reached; a node it passed while still
      // waiting goes to a min-heap once ready. The heap holds only the nodes out of
      // order, so a mostly ordered graph costs little more than a scan.
      std::priority_queue<uint32_t, std::vector<uint32_t>, std::greater<uint32_t>> late;
      size_t cursor = 0;
      size_t done = 0;
      for (;;) {
        while (cursor < n && pending[cursor] > 0) ++cursor;
        uint32_t o;
        if (!late.empty() && (cursor >= n || late.top() < cursor)) {
          o = late.top();
          late.pop();
        } else if (cursor < n) {
          o = static_cast<uint32_t>(cursor++);
        } else {
          break;
        }
        order_[done++] = o;
        for (uint32_t k = start[o]; k < start[o + 1]; ++k) {
          const uint32_t c = consumers[k];
          if (--pending[c] == 0 && c < cursor) late.push(c);
        }
      }
      if (done != n) {
        std::vector<bool> placed(n, false);
        for (size_t k = 0; k < done; ++k) placed[order_[k]] = true;
        std::string names;
        size_t shown = 0;
        for (size_t i = 0; i < n && shown < 5; ++i) {
          if (!placed[i]) names += (shown++ ? ", " : "") + Quote(nodes_[i].name());
        }
        size_t first = 0;
        while (placed[first]) ++first;
        throw GraphError(
            "GraphDef has a cycle (not a while loop) through " + std::to_string(n - done) + " nodes, e.g. " + names,
            std::string(nodes_[first].name()));
      }
      position_.resize(n);
      for (size_t k = 0; k < n; ++k) position_[order_[k]] = static_cast<uint32_t>(k);
    }
  }

  // The original index of the node at output position k.
  uint32_t OrderAt(size_t k) const { return in_order_ ? static_cast<uint32_t>(k) : order_[k]; }

  // --- stage 4: names and devices ---------------------------------------------------------------

  bool ExistsInTarget(std::string_view name) const {
    for (const NameLookup* g : opts_.existing) {
      if (g->HasName(name) || g->HasPrefix(name)) return true;
    }
    return false;
  }

  // Each clashing node's new name depends only on the target's names and the file's
  // original ones, not on other nodes' new names: the nodes are checked in parallel,
  // and the first clash that is an error is the first in output order, as a walk in
  // that order meets it. When the target holds far fewer names than the file, the
  // clashes are found from the target's side instead: only the file's nodes a target
  // name is, or lies under, can clash.
  void ChooseNames() {
    if (opts_.existing.empty()) return;
    if (!opts_.prefix.empty()) {
      // "prefix/x" exists as a name or a scope only where some name starts with "prefix/".
      bool any = false;
      for (const NameLookup* g : opts_.existing) any = any || g->HasPrefix(opts_.prefix);
      if (!any) return;
    }
    struct PartNames {
      std::vector<uint32_t> renamed;  // the renamed nodes, in node order
      std::string names;              // their new names, one after the other
      std::vector<size_t> ends;       // where each ends in `names`
      size_t error_pos = SIZE_MAX;    // output position of the first error
      uint32_t error_node = 0;
      std::string error_name;
    };
    // Node i's new name, when `full` (its scoped name) clashes.
    auto rename = [this](uint32_t i, const std::string& full, std::string& candidate, PartNames& mine) {
      for (int k = 1;; ++k) {
        candidate.assign(full).append("_").append(std::to_string(k));
        if (!ExistsInTarget(candidate) && FindOriginal(candidate) < 0 && !IsOriginalPrefix(candidate)) break;
      }
      // Like TensorFlow, the check above compares the scoped candidate with unscoped
      // names, so it can pick another imported node's final name; TensorFlow then
      // silently creates two nodes of that name. Refuse instead.
      if (!prefix_slash_.empty() && FindOriginal(std::string_view(candidate).substr(prefix_slash_.size())) >= 0) {
        const size_t pos = in_order_ ? i : position_[i];
        if (pos < mine.error_pos) {
          mine.error_pos = pos;
          mine.error_node = i;
          mine.error_name = candidate;
        }
        return;
      }
      mine.renamed.push_back(i);
      mine.names.append(candidate);
      mine.ends.push_back(mine.names.size());
    };
    size_t target_names = 0;
    for (const NameLookup* g : opts_.existing) target_names += g->NameCount();
    std::vector<PartNames> found;
    if (target_names < nodes_.size() / 8) {
      // A file node clashes when its scoped name is a target name or one's scope.
      std::vector<uint32_t> clashing;
      for (const NameLookup* g : opts_.existing) {
        g->ForEachName([&](std::string_view name) {
          if (name.size() <= prefix_slash_.size() || name.compare(0, prefix_slash_.size(), prefix_slash_) != 0) return;
          const std::string_view rest = name.substr(prefix_slash_.size());
          for (size_t end = rest.find('/');; end = rest.find('/', end + 1)) {
            const int64_t i = FindOriginal(rest.substr(0, end));
            if (i >= 0) clashing.push_back(static_cast<uint32_t>(i));
            if (end == std::string_view::npos) break;
          }
        });
      }
      if (clashing.empty()) return;
      std::sort(clashing.begin(), clashing.end());
      clashing.erase(std::unique(clashing.begin(), clashing.end()), clashing.end());
      found.resize(1);
      std::string full, candidate;
      for (const uint32_t i : clashing) {
        full.assign(prefix_slash_).append(nodes_[i].name());
        rename(i, full, candidate, found[0]);
      }
    } else {
      IsOriginalPrefix(std::string_view());  // (builds its set before the threads ask)
      found.resize(parts_);
      ParallelFor(parts_, threads_, [&](size_t part) {
        auto [a, b] = PartRange(part);
        PartNames& mine = found[part];
        std::string full = prefix_slash_;
        std::string candidate;
        for (size_t i = a; i < b; ++i) {
          full.resize(prefix_slash_.size());
          full.append(nodes_[i].name());
          if (ExistsInTarget(full)) rename(static_cast<uint32_t>(i), full, candidate, mine);
        }
      });
    }
    const PartNames* error = nullptr;
    size_t total = 0;
    for (const PartNames& p : found) {
      if (p.error_pos != SIZE_MAX && (error == nullptr || p.error_pos < error->error_pos)) error = &p;
      total += p.renamed.size();
    }
    if (error != nullptr) {
      const std::string_view name = nodes_[error->error_node].name();
      throw GraphError("Node " + Quote(name) + " clashes with the target graph and would be renamed to " +
                           Quote(error->error_name) + ", the name another imported node gets",
                       std::string(name));
    }
    if (total == 0) return;
    renamed_.assign(nodes_.size(), kNone);
    size_t chars = 0;
    for (const PartNames& p : found) chars += p.names.size();
    new_names_.reserve(chars);
    new_name_ends_.reserve(total);
    for (const PartNames& p : found) {
      for (size_t k = 0; k < p.renamed.size(); ++k) {
        renamed_[p.renamed[k]] = static_cast<uint32_t>(new_name_ends_.size());
        new_name_ends_.push_back(new_names_.size() + p.ends[k]);
      }
      new_names_.append(p.names);
    }
  }

  // The final name of node i as two pieces (prefix, rest) to avoid building strings.
  std::pair<std::string_view, std::string_view> FinalName(uint32_t i) const {
    if (!renamed_.empty() && renamed_[i] != kNone) return {std::string_view(), NewName(renamed_[i])};
    return {prefix_slash_, nodes_[i].name()};
  }
  std::string FinalNameString(uint32_t i) const {
    auto [a, b] = FinalName(i);
    std::string s(a);
    s.append(b.data(), b.size());
    return s;
  }

  // Devices are put in canonical form while parsing (the spec is at hand then), in a
  // table per part. A node keeps an id: 0 for none, kBadDevice for a spec DeviceSpec
  // rejects (an error only if the node keeps its own device: colocated ops take their
  // target's), else a 1-based index into its part's table; ChooseDevices turns those
  // into indices of device_table_.
  static constexpr uint32_t kBadDevice = 0xffffffffu;
  struct PartDevices {
    std::deque<std::string> specs;                                 // the specs seen (the input's pages get dropped)
    std::unordered_map<std::string_view, uint32_t, FastHash> ids;  // spec (in specs) -> id
    std::vector<std::string> canonical;                            // id - 1 -> canonical form
    std::vector<std::pair<uint32_t, std::string>> errors;          // (node, message) of bad specs
    std::string_view last;                                         // consecutive nodes mostly share a device
    uint32_t last_id = 0;

    uint32_t Intern(std::string_view spec, uint32_t node) {
      if (last_id != 0 && spec == last) return last_id;
      auto it = ids.find(spec);
      if (it == ids.end()) {
        std::string error;
        std::optional<std::string> canon = CanonicalDevice(spec, &error);
        if (!canon) {
          errors.emplace_back(node, std::move(error));
          return kBadDevice;
        }
        canonical.push_back(std::move(*canon));
        it = ids.emplace(specs.emplace_back(spec), static_cast<uint32_t>(canonical.size())).first;
      }
      last = it->first;
      last_id = it->second;
      return last_id;
    }
    const std::string& ErrorOf(uint32_t node) const {
      for (const auto& e : errors) {
        if (e.first == node) return e.second;
      }
      static const std::string unknown = "invalid device";
      return unknown;
    }
  };

  void ChooseDevices() {
    const size_t n = nodes_.size();
    device_table_.assign(1, std::string());
    std::vector<uint32_t> base(parts_);
    for (size_t part = 0; part < parts_; ++part) {
      base[part] = static_cast<uint32_t>(device_table_.size() - 1);
      for (std::string& d : part_devices_[part].canonical) device_table_.push_back(std::move(d));
    }
    // Non-colocated ops keep their own device; in parallel, in file order. The targets
    // of each colocated op (other than itself, in listed order) are noted for the pass
    // below: colocation_[i] is 1 + the index of its first target in the part's list
    // (0: not colocated), ended by kNone.
    LargeVector<uint32_t> colocation(n, 0);
    std::vector<LargeVector<uint32_t>> targets(parts_);
    ParallelFor(parts_, threads_, [&](size_t part) {
      auto [a, b] = PartRange(part);
      // The part's loc:@ targets (names, and the node naming each) are looked up in
      // one pipelined sequence, then the nodes are walked in order: errors come in the
      // order a node-by-node walk meets them.
      // (Reserved for one target per node: untouched room costs no memory.)
      LargeVector<std::string_view> names;
      LargeVector<uint32_t> owners;
      names.reserve(b - a);
      owners.reserve(b - a);
      std::exception_ptr parse_error;
      size_t parsed_end = b;
      for (size_t i = a; i < b && !parse_error; ++i) {
        if (!nodes_[i].has_class) continue;
        try {
          ForEachClassEntry(nodes_[i], [&](std::string_view s) {
            if (s.size() < 5 || std::memcmp(s.data(), "loc:@", 5) != 0) return;
            names.push_back(s.substr(5));
            owners.push_back(static_cast<uint32_t>(i));
          });
        } catch (...) {
          parse_error = std::current_exception();
          parsed_end = i;
        }
      }
      LargeVector<int64_t> found(names.size());
      {
        LookupPipeline<LargeVector<std::string_view>> pipeline(*this, names, 0, names.size());
        for (size_t k = 0; k < names.size(); ++k) found[k] = FindOriginalHashed(names[k], pipeline.Advance(k));
      }
      LargeVector<uint32_t>& list = targets[part];
      list.reserve(2 * names.size());  // each target, and one end mark per colocated op
      size_t next = 0;                 // into names / owners / found
      auto take_targets = [&](size_t i) {
        for (; next < owners.size() && owners[next] == i; ++next) {
          if (found[next] < 0) {
            throw GraphError(
                "Node " + Quote(nodes_[i].name()) + " expects to be colocated with unknown node " + Quote(names[next]),
                std::string(nodes_[i].name()));
          }
          if (static_cast<size_t>(found[next]) != i) list.push_back(static_cast<uint32_t>(found[next]));
        }
      };
      for (size_t i = a; i < parsed_end; ++i) {
        const RawNode& node = nodes_[i];
        const size_t first = list.size();
        take_targets(i);
        uint32_t& d = devices_[i];
        if (list.size() > first) {
          list.push_back(kNone);
          colocation[i] = static_cast<uint32_t>(first + 1);  // takes a target's device below
          d = 0;
        } else if (d == kBadDevice) {
          // (TensorFlow's DeviceSpec message, which names no node: the error's node does)
          throw GraphError(part_devices_[part].ErrorOf(static_cast<uint32_t>(i)), std::string(node.name()));
        } else if (d != 0) {
          d += base[part];
        }
      }
      if (parse_error) {
        take_targets(parsed_end);  // the entries before the malformed one
        std::rethrow_exception(parse_error);
      }
    });
    std::vector<PartDevices>().swap(part_devices_);
    // Each colocated op takes the device of its first listed target that has one,
    // looked up as the import goes, in creation order (as TensorFlow's Python does).
    std::vector<size_t> part_end(parts_);
    for (size_t part = 0; part < parts_; ++part) part_end[part] = PartRange(part).second;
    auto first_target = [&](uint32_t i) {
      size_t part = 0;
      while (i >= part_end[part]) ++part;
      return targets[part].data() + colocation[i] - 1;
    };
    auto colocate = [&](uint32_t i) {
      if (colocation[i] == 0) return;
      for (const uint32_t* t = first_target(i); *t != kNone; ++t) {
        if (devices_[*t] != 0) {
          devices_[i] = devices_[*t];
          return;
        }
      }
    };
    // The targets' devices lie anywhere: prefetched a few ops ahead.
    constexpr size_t kAhead = 16;
    auto prefetch = [&](uint32_t i) {
      if (colocation[i] != 0) __builtin_prefetch(&devices_[*first_target(i)]);
    };
    for (size_t k = 0; k < n; ++k) {
      if (k + kAhead < n) prefetch(OrderAt(k + kAhead));
      colocate(OrderAt(k));
    }
  }

  // --- stage 5: write --------------------------------------------------------------------------

  static bool AttrIsSet(std::string_view attr_value) {
    // An AttrValue with no member of its oneof (fields 1-10) counts as missing.
    // (a field of another wire type is unknown to protobuf; but here malformed-looking
    // values are left alone, their checks report them: depth 0, the most lenient)
    Reader r(attr_value, attr_value.data(), 0);
    Field f;
    try {
      while (r.Next(f)) {
        if (f.number >= 1 && f.number <= 10) return true;
      }
    } catch (const ParseError&) {
      return true;  // leave malformed values alone; consumers will report them
    }
    return false;
  }

  // Per-thread scratch space, reused for every node.
  struct Scratch {
    wire::Buffer list_buf, value_buf, entry_buf;
    struct Control {
      std::string_view a, b;  // the source's final name, in two pieces
      Edge edge;
    };
    std::vector<Control> controls;
    std::vector<std::string_view> present;
    struct AttrRef {
      std::string_view key, value, raw;
    };
    std::vector<AttrRef> attrs;
    std::vector<std::string_view> rest;
    // The distinct _output_shapes entries this part has kept aside (see EmitNode): a
    // graph has a few dozen, repeated node after node; each is stored once.
    std::unordered_map<std::string_view, uint32_t, FastHash> shapes_kept;
    std::deque<std::string> shapes_keys;  // what shapes_kept's keys view (stable)
    char varint1[10], varint2[10];
    std::string_view Varint(uint64_t v) {
      return {varint1, static_cast<size_t>(wire::WriteVarint(varint1, v) - varint1)};
    }
    std::string_view Varint2(uint64_t v) {
      return {varint2, static_cast<size_t>(wire::WriteVarint(varint2, v) - varint2)};
    }
  };

  void WriteClass(wire::Buffer& out, const RawNode& node, std::string_view attr_value, Scratch& s) {
    // Rebuild AttrValue{list{s: ...}} with loc:@ entries pointing at the final names.
    wire::Buffer& list = s.list_buf;
    wire::Buffer& scratch = s.value_buf;
    wire::Buffer& entry = s.entry_buf;
    list.clear();
    if (node.class_not_list && !prefix_slash_.empty()) {
      // TensorFlow's importer, putting a node under its prefix, takes the _class value
      // as a list (mutable_list): one holding anything else, or nothing, becomes an
      // empty list (its unknown fields kept).
      scratch.clear();
      wire::PutBytes(scratch, 1, std::string_view());
      Reader vr(attr_value, origin_, attr_value_depth_);
      Field vf;
      while (vr.Next(vf)) {
        if (vf.number > 10) scratch.append(vf.raw.data(), vf.raw.size());
      }
      entry.clear();
      wire::PutBytes(entry, 1, "_class");
      wire::PutBytes(entry, 2, scratch.view());
      wire::PutBytes(out, 5, entry.view());
      return;
    }
    Reader r(node.class_list(), origin_, attr_value_depth_ + 1);
    Field f;
    while (r.Next(f)) {
      if (f.number == 2 && IsBytes(f) && f.data.size() >= 5 && std::memcmp(f.data.data(), "loc:@", 5) == 0) {
        // Targets exist (ChooseDevices checked); with no node renamed, the final name
        // is the prefix plus the name written here (no lookup into other nodes).
        std::string_view a = prefix_slash_, b = f.data.substr(5);
        if (!new_name_ends_.empty()) std::tie(a, b) = FinalName(static_cast<uint32_t>(FindOriginal(b)));
        wire::PutBytesParts(list, 2, std::string_view("loc:@"), a, b);
      } else {
        list.append(f.raw.data(), f.raw.size());
      }
    }
    scratch.clear();
    // Other AttrValue fields than `list` are kept as they were.
    Reader vr(attr_value, origin_, attr_value_depth_);
    Field vf;
    bool wrote_list = false;
    while (vr.Next(vf)) {
      if (vf.number == 1 && IsBytes(vf)) {
        if (!wrote_list) wire::PutBytes(scratch, 1, list.view());
        wrote_list = true;
      } else {
        scratch.append(vf.raw.data(), vf.raw.size());
      }
    }
    entry.clear();
    wire::PutBytes(entry, 1, "_class");
    wire::PutBytes(entry, 2, scratch.view());
    wire::PutBytes(out, 5, entry.view());
  }

  static void WriteFrameName(wire::Buffer& out, std::string_view frame, Scratch& s) {
    s.value_buf.clear();
    wire::PutBytes(s.value_buf, 2, frame);
    s.entry_buf.clear();
    wire::PutBytes(s.entry_buf, 1, "frame_name");
    wire::PutBytes(s.entry_buf, 2, s.value_buf.view());
    wire::PutBytes(out, 5, s.entry_buf.view());
  }

  void Emit() {
    RewrittenGraph& g = *result_;
    const size_t parts = parts_;
    local_inputs_ = new_name_ends_.empty() && input_map_.empty();
    // (g.nodes_ was sized by ResolveInputs, to take the input records' pages)
    g.chunks_.clear();
    g.chunks_.resize(parts + 1);
    if (opts_.collect_output_shapes && !opts_.keep_output_shapes) {
      g.shape_chunks_.resize(parts + 1);
      g.shape_spans_.resize(g.nodes_.size());
    }
    // In file order, node k's edges are no more than its resolved inputs, which start
    // at or after the edges written so far: they are written in place over resolved_
    // (one part per range of inputs), which then becomes the output's edge array.
    const bool in_place = in_order_ && parts == parts_;
    std::vector<FillLaterVector<Edge>> part_edges(in_place ? 0 : parts);
    std::vector<size_t> part_num_edges(parts, 0);
    std::vector<size_t> part_edge_base(parts, 0);
    if (new_name_ends_.empty()) {
      // Every node keeps its original name under the prefix: the table of original
      // names' keys, with indices moved to output positions, is the output's table.
      // Made before writing (which then looks no name up), so the original table is
      // not held beside the whole output.
      g.table_.resize(name_table_.size());
      ParallelFor(parts, threads_, [&](size_t part) {
        auto [a, b] = Range(name_table_.size(), parts, part);
        for (size_t s = a; s < b; ++s) {
          const uint64_t e = name_table_[s].key & ~kOwnerBits;  // (the output's table has no dtypes)
          g.table_[s] = e == 0 || in_order_ ? e : Fingerprint(e) | (position_[(e & kIndexMask) - 1] + uint64_t{1});
        }
      });
      FillLaterVector<NameSlot>().swap(name_table_);
    }
    ParallelFor(parts, threads_, [&](size_t part) {
      auto [a, b] = PartRange(part);
      wire::Buffer& out = g.chunks_[part];
      // Fresh pages cost the kernel a zeroing pass each: the output starts in the
      // part's input-strings block (backed as far as its strings went), and the parse
      // scratch pages dropped behind the writer move to the output's untouched pages
      // ahead of it (RecyclePages).
      // The output's block is backed up to this offset. (A grown block holds the old
      // one's pages at its start: ResizeLarge moves them there, or copies as many.)
      size_t touched = 0;
      if (parts == parts_ && part < part_input_strings_.size() && part_input_strings_[part].get() != nullptr) {
        touched = static_cast<size_t>(part_input_strings_end_[part] - part_input_strings_[part].get());
        out = wire::Buffer(std::move(part_input_strings_[part]));
      }
      // The output's size estimate (a reservation: a larger output moves its pages to a
      // larger block) and, unless the edges go in place, a bound on the part's edges.
      // In place (file order, the parse's parts) the part's nodes lie back to back in
      // one GraphDef: their span, read from two records instead of a pass over all of
      // them (96 bytes each).
      size_t estimate = 0, edge_bound = 0;
      const char* first_byte = b > a ? nodes_[a].bytes.data() : nullptr;
      const char* last_byte = b > a ? nodes_[b - 1].bytes.data() + nodes_[b - 1].bytes.size() : nullptr;
      if (in_place && last_byte >= first_byte &&
          static_cast<size_t>(last_byte - first_byte) <= (b - a) * size_t{4096} + (size_t{1} << 20)) {
        estimate = static_cast<size_t>(last_byte - first_byte);
      } else {
        for (size_t k = a; k < b; ++k) {
          const RawNode& node = nodes_[OrderAt(k)];
          estimate += node.bytes.size();
          edge_bound += node.input_count;
        }
      }
      out.reserve(OutputEstimate(estimate, b - a));
      Scratch scratch;
      Edge* edges;
      if (in_place) {
        part_edge_base[part] = part_input_base_[part];
        edges = resolved_.data() + part_input_base_[part];
      } else {
        part_edges[part].resize(edge_bound);
        edges = part_edges[part].data();
      }
      size_t& num_edges = part_num_edges[part];
      // Input pages below the smallest original index still to come in this part are
      // done with (other parts rarely need them; if they do, the kernel reloads them).
      const bool release = opts_.release_input_pages && b > a;
      std::vector<uint32_t> pending_min;  // out of order: smallest original index from k on
      if (release && !in_order_) {
        pending_min.resize(b - a);
        uint32_t m = kNone;
        for (size_t k = b; k-- > a;) {
          m = std::min(m, order_[k]);
          pending_min[k - a] = m;
        }
      }
      const size_t first = a;  // (structured bindings cannot be captured before C++20)
      auto first_pending = [&, first](size_t k) {
        return in_order_ ? static_cast<uint32_t>(k) : pending_min[k - first];
      };
      const char* released = release ? nodes_[first_pending(a)].bytes.data() : nullptr;
      const char* input_end = nullptr;
      if (release) {
        uint32_t last = static_cast<uint32_t>(b - 1);
        if (!in_order_) {
          last =
              *std::max_element(order_.begin() + static_cast<ptrdiff_t>(a), order_.begin() + static_cast<ptrdiff_t>(b));
        }
        input_end = nodes_[last].bytes.data() + nodes_[last].bytes.size();
      }
      // With nothing renamed or mapped, writing a node reads its own parse record and
      // strings only (see EmitNode, WriteClass). This part parsed nodes [a, b): the
      // records of the leading ones it has already written (all, in file order; out of
      // order, up to the first written elsewhere or not yet) are dropped as it goes, so
      // the parse records and the whole output are never held at once.
      const bool drop_scratch = local_inputs_ && parts == parts_ && b > a;
      PageDropper drop_nodes, drop_strings;
      size_t written = a;  // nodes [a, written) of this part's parse range are written
      if (drop_scratch) {
        drop_nodes = PageDropper(&nodes_[a]);
        drop_strings = PageDropper(part_strings_[part].get());
      }
      PageSink sink;
      auto output_sink = [&]() -> PageSink* {
        touched = std::max(touched, out.size());
        sink.next = out.data() + touched;
        sink.end = out.data() + out.capacity();
        return &sink;
      };
      for (size_t k = a; k < b; ++k) {
        EmitNode(k, static_cast<uint32_t>(part), out, edges, num_edges, scratch);
        if (((k - a) & 4095) == 4095 && k + 1 < b) {
          if (release) {
            const char* done = nodes_[first_pending(k + 1)].bytes.data();
            if (done > released) {
              ReleaseInput(released, done);
              released = done;
            }
          }
          if (drop_scratch) {
            while (written < b && (in_order_ ? written <= k : position_[written] >= a && position_[written] <= k))
              ++written;
            if (written < b) {
              drop_strings.Advance(nodes_[written].strings, output_sink());
              touched = static_cast<size_t>(sink.next - out.data());
              drop_nodes.Advance(&nodes_[written], output_sink());
              touched = static_cast<size_t>(sink.next - out.data());
            }
          }
        }
      }
      if (release && input_end > released) ReleaseInput(released, input_end);
      if (drop_scratch) {
        // The part is written: what is left of its scratch below the first record still
        // needed elsewhere (none, in file order) goes now, whole 4 KiB pages only (the
        // next part's records may share the last page), not when the whole graph is.
        while (written < b && (in_order_ || (position_[written] >= a && position_[written] < b))) ++written;
        const RawNode& last = nodes_[b - 1];
        drop_strings.Advance(written < b ? nodes_[written].strings
                                         : last.strings + last.name_len + last.op_len + last.class_value_len);
        drop_nodes.Advance(nodes_.data() + written);
      }
    });
    // Lay the edges out one part after the other.
    size_t total = 0;
    std::vector<size_t> base(parts);
    for (size_t part = 0; part < parts; ++part) {
      base[part] = total;
      total += part_num_edges[part];
    }
    if (in_place) {
      // Close the gaps left by duplicate control inputs (parts in order: moves go down).
      for (size_t part = 0; part < parts; ++part) {
        if (base[part] != part_edge_base[part] && part_num_edges[part] != 0) {
          std::memmove(resolved_.data() + base[part], resolved_.data() + part_edge_base[part],
                       part_num_edges[part] * sizeof(Edge));
        }
      }
      resolved_.resize(total);
      g.edges_ = std::move(resolved_);
    } else {
      // The resolved inputs are done with: their pages back the edges.
      g.edges_.resize(total);
      PageSink sink = SinkOf(g.edges_);
      FreeInto(resolved_, sink);
    }
    ParallelFor(parts, threads_, [&](size_t part) {
      auto [a, b] = PartRange(part);
      for (size_t k = a; k < b; ++k) g.nodes_[k].edge_begin += static_cast<uint32_t>(base[part]);
      if (!in_place) {
        std::copy(part_edges[part].begin(), part_edges[part].begin() + static_cast<ptrdiff_t>(part_num_edges[part]),
                  g.edges_.begin() + static_cast<ptrdiff_t>(base[part]));
        FillLaterVector<Edge>().swap(part_edges[part]);
      }
    });
    g.chunks_.back().append(graph_tail_);
    if (g.graph_def_size() > kMaxMessageSize) {
      throw SizeLimitError("the rewritten GraphDef is " + std::to_string(g.graph_def_size()) +
                           " bytes, over protobuf's 2 GiB limit");
    }
    if (!new_name_ends_.empty()) {
      g.BuildHashTable();  // (else made above)
      // (their names from the file, one after the other: views made once it is full)
      size_t chars = 0;
      for (size_t i = 0; i < nodes_.size(); ++i) chars += renamed_[i] != kNone ? nodes_[i].name().size() : 0;
      g.renamed_names_.reserve(chars);
      std::vector<std::pair<uint32_t, size_t>> ends;
      ends.reserve(new_name_ends_.size());
      for (size_t k = 0; k < nodes_.size(); ++k) {
        const uint32_t i = OrderAt(k);
        if (renamed_[i] == kNone) continue;
        g.renamed_names_.append(nodes_[i].name());
        ends.emplace_back(static_cast<uint32_t>(k), g.renamed_names_.size());
      }
      g.renamed_.reserve(ends.size());
      size_t begin = 0;
      for (const auto& [k, end] : ends) {
        g.renamed_.emplace_back(k, std::string_view(g.renamed_names_).substr(begin, end - begin));
        begin = end;
      }
    }
  }

  // Compares the strings a1+b1 and a2+b2 without building them.
  static int CompareSplit(std::string_view a1, std::string_view b1, std::string_view a2, std::string_view b2) {
    if (a1 == a2) {  // the usual case: both under the import scope
      const int c = b1.compare(b2);
      return c == 0 ? 0 : (c < 0 ? -1 : 1);
    }
    size_t i = 0, j = 0;
    const size_t n1 = a1.size() + b1.size(), n2 = a2.size() + b2.size();
    while (i < n1 && j < n2) {
      const unsigned char c1 = static_cast<unsigned char>(i < a1.size() ? a1[i] : b1[i - a1.size()]);
      const unsigned char c2 = static_cast<unsigned char>(j < a2.size() ? a2[j] : b2[j - a2.size()]);
      if (c1 != c2) return c1 < c2 ? -1 : 1;
      ++i;
      ++j;
    }
    return (n1 == n2) ? 0 : (n1 < n2 ? -1 : 1);
  }

  // Writes node k's NodeDef to `out` and its edges to edges[num_edges...] (edge_begin
  // is relative to `edges` until Emit lays the parts out).
  void EmitNode(size_t k, uint32_t chunk, wire::Buffer& out, Edge* edges, size_t& num_edges, Scratch& s) {
    RewrittenGraph& g = *result_;
    const uint32_t i = OrderAt(k);
    const RawNode& node = nodes_[i];
    RewrittenGraph::NodeEntry& entry = g.nodes_[k];
    // Written straight into `out`, its length guessed from the input node's (almost
    // always the same number of varint bytes).
    wire::OpenBytes field(out, 1, node.bytes.size());
    auto [pa, pb] = FinalName(i);
    wire::PutBytesParts(out, 1, pa, pb);
    entry.name_offset = static_cast<uint32_t>(field.written() - pa.size() - pb.size());
    entry.name_size = static_cast<uint32_t>(pa.size() + pb.size());
    wire::PutBytes(out, 2, node.op());
    entry.op_offset = static_cast<uint32_t>(field.written() - node.op().size());
    entry.op_size = static_cast<uint32_t>(node.op().size());

    // Inputs: data inputs in order, then control inputs sorted by name, without duplicates
    // (what TensorFlow's graph renders from its edges); or, with keep_input_spelling, as
    // the file spells them (see WriteSpelledInput). The edges follow the first form.
    entry.edge_begin = static_cast<uint32_t>(num_edges);
    s.controls.clear();
    uint32_t data_inputs = 0;
    // When no node was renamed and nothing mapped, an input's final name is the prefix
    // plus the name written in this node's own input: read it from the node's bytes
    // (fields 1-4 come first in the usual layout) rather than from the source node,
    // which lies anywhere in memory.
    const bool local = local_inputs_ && node.simple;
    const bool spell = opts_.keep_input_spelling;
    Reader local_reader(node.bytes.substr(0, local   ? node.attr_begin
                                             : spell ? node.bytes.size()
                                                     : 0),
                        origin_, node_depth_);
    Field local_field;
    for (uint32_t j = 0; j < node.input_count; ++j) {
      const Resolved& res = resolved_[node.input_begin + j];
      Edge e{res.src >= 0 ? (in_order_ ? res.src : static_cast<int32_t>(position_[static_cast<size_t>(res.src)]))
                          : res.src,
             res.index};
      std::string_view a, b;
      if (local || spell) {
        // ParseNode read the same bytes: exactly input_count inputs, well formed.
        bool found = false;
        while (!found && local_reader.Next(local_field)) found = local_field.number == 3 && IsBytes(local_field);
        if (!found)
          throw ParseError("node " + Quote(node.name()) + " changed while being read", Offset(node.bytes.data()));
      }
      if (local) {
        a = prefix_slash_;
        b = ParseTensorName(local_field.data).node;
      } else if (res.src >= 0) {
        std::tie(a, b) = FinalName(static_cast<uint32_t>(res.src));
      } else {
        b = g.external_[static_cast<size_t>(-1 - res.src)];
      }
      if (spell) {
        // (TensorFlow's own importer renames an input only once it has renamed the source,
        // so on a back edge from a renamed node its NodeDef keeps the stale name, which
        // names another node or none; TensorFlow's importer must be handed the real one.)
        const bool renamed = res.src >= 0 && !renamed_.empty() && renamed_[static_cast<size_t>(res.src)] != kNone;
        WriteSpelledInput(out, local_field.data, res, renamed, a, b);
      }
      if (res.index < 0) {
        s.controls.push_back(Scratch::Control{a, b, e});
        continue;
      }
      if (spell) {
        edges[num_edges++] = e;
        ++data_inputs;
        continue;
      }
      if (res.index > 0) {
        char digits[16];
        wire::PutBytesParts(out, 3, a, b, OutputSuffix(digits, static_cast<uint32_t>(res.index)));
      } else {
        wire::PutBytesParts(out, 3, a, b);
      }
      // In place, this may overwrite input j itself (never a later one): it was read above.
      edges[num_edges++] = e;
      ++data_inputs;
    }
    if (!s.controls.empty()) {
      auto less = [](const Scratch::Control& x, const Scratch::Control& y) {
        return CompareSplit(x.a, x.b, y.a, y.b) < 0;
      };
      if (!std::is_sorted(s.controls.begin(), s.controls.end(), less)) {
        std::sort(s.controls.begin(), s.controls.end(), less);
      }
      for (size_t c = 0; c < s.controls.size(); ++c) {
        const Scratch::Control& ctl = s.controls[c];
        if (c > 0 && CompareSplit(ctl.a, ctl.b, s.controls[c - 1].a, s.controls[c - 1].b) == 0) continue;
        if (!spell) wire::PutBytesParts(out, 3, std::string_view("^"), ctl.a, ctl.b);
        edges[num_edges++] = ctl.edge;
      }
    }
    entry.edge_count = static_cast<uint32_t>(num_edges) - entry.edge_begin;
    entry.num_data_inputs = data_inputs;

    std::string_view device = device_table_[devices_[i]];
    if (!device.empty()) {
      wire::PutBytes(out, 4, device);
      entry.device_offset = static_cast<uint32_t>(field.written() - device.size());
    } else {
      entry.device_offset = 0;
    }
    entry.device_size = static_cast<uint32_t>(device.size());

    const std::string_view shapes = WriteAttrsAndRest(out, node, i, s);
    if (!g.shape_spans_.empty()) KeepShapesAside(shapes, k, chunk, s);

    entry.chunk = chunk;
    entry.size = static_cast<uint32_t>(field.written());
    entry.offset = field.Close();
  }

  // Notes node k's dropped _output_shapes entry in the part's aside buffer, each
  // distinct entry stored once (up to kMaxKeptShapes of them; then stored as they come).
  void KeepShapesAside(std::string_view shapes, size_t k, uint32_t chunk, Scratch& s) {
    RewrittenGraph& g = *result_;
    uint32_t offset = 0;
    if (!shapes.empty()) {
      auto it = s.shapes_kept.find(shapes);
      if (it != s.shapes_kept.end()) {
        offset = it->second;
      } else {
        wire::Buffer& aside = g.shape_chunks_[chunk];
        offset = static_cast<uint32_t>(aside.size());
        aside.append(shapes);
        if (s.shapes_kept.size() < kMaxKeptShapes) {
          s.shapes_keys.emplace_back(shapes);
          s.shapes_kept.emplace(s.shapes_keys.back(), offset);
        }
      }
    }
    g.shape_spans_[k] = {offset, static_cast<uint32_t>(shapes.size())};
  }
  static constexpr size_t kMaxKeptShapes = 4096;

  // An input as TensorFlow's importer keeps it in the node's NodeDef (what
  // Operation.node_def and export_meta_graph show): the file's spelling ("x:0", "x",
  // control inputs in the file's order, duplicates kept) under the prefix; an input of a
  // `renamed` node as "name:index" or "^name"; a mapped one as written above ("^y", "y",
  // "y:k": TensorFlow's importer, given the mapping onto itself, respells those and drops
  // repeated mapped control inputs).
  void WriteSpelledInput(wire::Buffer& out, std::string_view text, const Resolved& res, bool renamed,
                         std::string_view a, std::string_view b) const {
    const bool control = res.index < 0;
    if (res.src >= 0 && !renamed) {  // (a control input's text starts with '^': that made it one)
      if (control) {
        wire::PutBytesParts(out, 3, std::string_view("^"), prefix_slash_, text.substr(1));
      } else {
        wire::PutBytesParts(out, 3, prefix_slash_, text);
      }
      return;
    }
    if (control) {
      wire::PutBytesParts(out, 3, std::string_view("^"), a, b);
      return;
    }
    // (TensorFlow's importer spells an input it remaps or renames "name:k", also k = 0;
    // the drop-in hands it the Consts it makes of input_map values with the nodes.)
    char digits[16];
    wire::PutBytesParts(out, 3, a, b, OutputSuffix(digits, static_cast<uint32_t>(res.index)));
  }

  // ":k" for output k, written at the end of `buf`.
  static std::string_view OutputSuffix(char (&buf)[16], uint32_t k) {
    char* end = buf + sizeof buf;
    char* p = end;
    do {
      *--p = static_cast<char>('0' + k % 10);
      k /= 10;
    } while (k != 0);
    *--p = ':';
    return std::string_view(p, static_cast<size_t>(end - p));
  }

  static void WriteDefault(wire::Buffer& out, std::string_view key, std::string_view value, Scratch& s) {
    wire::PutBytesParts(out, 5, std::string_view("\x0a", 1), std::string_view(s.Varint(key.size())), key,
                        std::string_view("\x12", 1), std::string_view(s.Varint2(value.size())), value);
  }

  // Writes the node's attrs (defaults added, _class rewritten, _output_shapes dropped)
  // and its fields after them; returns the dropped _output_shapes entry (or empty).
  std::string_view WriteAttrsAndRest(wire::Buffer& out, const RawNode& node, uint32_t index, Scratch& s) {
    const bool frame_override = !frame_names_.empty() && (node.op() == "Enter" || node.op() == "RefEnter");
    if (node.simple && !frame_override) {
      // Fast path: the attr region in at most three pieces around the _output_shapes
      // entry (dropped) and the _class entry (rewritten), then defaults, then the rest.
      const char* base = node.bytes.data();
      uint32_t pos = node.attr_begin;
      auto copy_to = [&](uint32_t end) {
        if (end > pos) out.append(base + pos, end - pos);
      };
      struct Span {
        uint32_t begin, end;
        bool is_class;
      } spans[2];
      int num_spans = 0;
      if (node.shapes_end != 0) spans[num_spans++] = {node.shapes_begin, node.shapes_end, false};
      if (node.has_class && node.class_end != 0) spans[num_spans++] = {node.class_begin, node.class_end, true};
      if (num_spans == 2 && spans[1].begin < spans[0].begin) std::swap(spans[0], spans[1]);
      for (int k = 0; k < num_spans; ++k) {
        copy_to(spans[k].begin);
        if (spans[k].is_class) WriteClass(out, node, node.class_value(), s);
        pos = spans[k].end;
      }
      copy_to(node.attr_end);
      if (node.defaults != nullptr && node.missing_defaults != 0) {
        for (size_t d = 0; d < node.defaults->size(); ++d) {
          if (node.missing_defaults & (1u << d))
            WriteDefault(out, (*node.defaults)[d].first, (*node.defaults)[d].second, s);
        }
      }
      if (node.bytes.size() > node.attr_end) out.append(base + node.attr_end, node.bytes.size() - node.attr_end);
      return node.bytes.substr(node.shapes_begin, node.shapes_end - node.shapes_begin);
    }
    // General path: which attr keys the node has (the last of duplicate keys wins).
    auto& attrs = s.attrs;
    auto& rest = s.rest;
    auto& present = s.present;
    attrs.clear();
    rest.clear();
    Reader r(node.bytes, origin_, node_depth_);
    Field f;
    while (r.Next(f)) {
      if (f.number == 5 && IsBytes(f)) {
        Scratch::AttrRef a{{}, {}, f.raw};
        SplitAttrEntry(f.data, a.key, a.value);
        attrs.push_back(a);
      } else if (f.number > 5 || !IsBytes(f)) {  // (fields 1-4 are written anew; unknown ones kept)
        rest.push_back(f.raw);
      }
    }
    const Defaults* defaults = node.defaults;
    const Signature* sig = node.drop_attrs ? SignatureOf(node.op()) : nullptr;
    std::string_view frame;
    if (frame_override) {
      auto it = frame_names_.find(FinalNameString(index));
      if (it != frame_names_.end()) frame = it->second;
    }
    present.clear();
    std::string_view shapes;
    for (size_t a = 0; a < attrs.size(); ++a) {
      const Scratch::AttrRef& attr = attrs[a];
      bool superseded = false;
      for (size_t b = a + 1; b < attrs.size(); ++b) {
        if (attrs[b].key == attr.key) superseded = true;
      }
      if (superseded) continue;
      if (attr.key == "_output_shapes" && !opts_.keep_output_shapes) {
        if (HoldsShapeList(attr.value)) {
          shapes = attr.raw;
          continue;
        }
        result_->kept_output_shapes_attr_.store(true, std::memory_order_relaxed);
      }
      if (sig != nullptr && Removable(*sig, attr.key, attr.value)) continue;
      if (defaults) {
        bool has_default = false;
        for (const auto& d : *defaults) has_default |= d.first == attr.key;
        if (has_default && !AttrIsSet(attr.value)) continue;  // replaced by the default below
      }
      present.push_back(attr.key);
      if (!frame.empty() && attr.key == "frame_name") {
        WriteFrameName(out, frame, s);
      } else if (attr.key == "_class") {
        WriteClass(out, node, attr.value, s);
      } else {
        out.append(attr.raw.data(), attr.raw.size());
      }
    }
    if (!frame.empty() && std::find(present.begin(), present.end(), "frame_name") == present.end()) {
      WriteFrameName(out, frame, s);
      present.push_back("frame_name");
    }
    if (defaults) {
      for (const auto& [key, value] : *defaults) {
        if (std::find(present.begin(), present.end(), key) != present.end()) continue;
        WriteDefault(out, key, value, s);
      }
    }
    for (std::string_view raw : rest) out.append(raw.data(), raw.size());
    return shapes;
  }

  const char* origin_;
  unsigned threads_ = 1;
  LargeVector<std::string_view> node_spans_;
  const char* op_list_origin_ = nullptr;
  // How deep the nodes lie in the message protobuf parses (MetaGraphDef 0, GraphDef 1,
  // NodeDef 2; a GraphDef alone: NodeDef 1), for its nesting limit (see CheckNodeField),
  // and their attr values (under the map entry).
  int meta_depth_ = 0;     // the MetaGraphDef's (RewriteOptions::depth)
  int op_list_depth_ = 2;  // its stripped_op_list's (a GraphDef's op list alone: 0)
  int graph_depth_ = 1;    // the GraphDef's (alone: 0)
  int node_depth_ = 2;
  int attr_value_depth_ = 4;
  const RewriteOptions& opts_;
  std::unique_ptr<RewrittenGraph> result_;
  std::string prefix_slash_;

  // Parsed OpDefs, keyed by names in the file or the registry (see ParseOpList, OpOf).
  mutable std::unordered_map<std::string_view, Defaults, FastHash> op_defaults_;
  mutable std::unordered_map<std::string_view, Signature, FastHash> op_signatures_;
  const OpRegistry* registry_ = nullptr;  // RewriteOptions::registry
  mutable std::mutex op_mutex_;
  FillLaterVector<uint8_t>
      num_outputs_;  // per node, by ParseNode: its outputs (or kUnknownOutputs), until in the name table
  // The dtype check (RewriteOptions::check_types): per node, by ParseNode, its outputs'
  // dtype summary until in the name table (see OutputTypeSummary); per part, the type
  // each input takes (one entry per entry of part_inputs_) and the lists of the
  // outputs' dtypes of nodes whose outputs differ (RawNode::mixed_types); per input_map
  // target (external), its dtype. type_error_: an edge whose dtypes do not fit was seen.
  const bool check_types_;
  FillLaterVector<uint8_t> out_types_;
  std::vector<LargeBlock> part_in_types_;
  std::vector<std::vector<uint8_t>> part_mixed_types_;
  std::vector<uint8_t> external_types_;
  std::atomic<bool> type_error_{false};
  std::unordered_set<std::string_view, FastHash> functions_;
  // Each function's signature (an OpDef), for its calls; filled before nodes are parsed.
  mutable std::unordered_map<std::string_view, Signature, FastHash> function_signatures_;
  FillLaterVector<RawNode> nodes_;  // filled by ParseNodes' parts
  std::vector<LargeVector<InputRef>> part_inputs_;
  std::vector<LargeBlock> part_strings_;
  std::vector<LargeBlock> part_input_strings_;  // InputRef names, until resolved; then the output's
  std::vector<char*> part_input_strings_end_;   // the end of what each block holds
  std::vector<size_t> part_input_base_;
  size_t parts_ = 1;
  std::vector<size_t> part_begin_;  // part p parses, resolves and writes nodes [part_begin_[p], part_begin_[p + 1])
  size_t total_inputs_ = 0;
  bool in_order_ = false;
  bool local_inputs_ = false;              // see EmitNode
  FillLaterVector<Resolved> resolved_;     // every entry written by ResolveNode
  FillLaterVector<int32_t> pending_;       // per node, by CountPending: inputs Order waits for
  FillLaterVector<uint32_t> input_begin_;  // per node, by CountPending: where its inputs begin (then the end)
  std::string graph_tail_;
  FillLaterVector<NameSlot> name_table_;                  // see NameSlot and Fingerprint()
  std::unique_ptr<RewrittenGraph::Variables> variables_;  // see LookupVariables
  FillLaterVector<uint64_t> name_hashes_;                 // HashName of each original name (freed by ResolveInputs)
  std::vector<PrefixEntry> gdef_prefixes_;
  bool gdef_prefixes_built_ = false;

  std::vector<InputMapEntry> input_map_;
  std::unordered_map<MapKey, size_t, MapKeyHash> input_map_index_;
  // The keys' node names' hashes, as bits of a filter (MayBeMapKey).
  static constexpr unsigned kMapFilterBits = 12;
  std::array<uint64_t, (size_t{1} << kMapFilterBits) / 64> map_filter_{};

  FillLaterVector<uint32_t> order_;     // output position -> original index
  FillLaterVector<uint32_t> position_;  // original index -> output position
  std::vector<uint32_t> renamed_;       // per node, an index into new_name_ends_ or kNone (empty: none renamed)
  std::string new_names_;               // the renamed nodes' new names, one after the other
  std::vector<size_t> new_name_ends_;   // where each ends in new_names_
  std::string_view NewName(uint32_t k) const {
    const size_t begin = k == 0 ? 0 : new_name_ends_[k - 1];
    return std::string_view(new_names_).substr(begin, new_name_ends_[k] - begin);
  }
  FillLaterVector<uint32_t> devices_;  // per node: see PartDevices
  std::vector<PartDevices> part_devices_;
  std::vector<std::string> device_table_;  // [0] = "", then every part's canonical devices
  std::unordered_map<std::string, std::string> frame_names_;
};

namespace {

// The rewrite's scratch (hundreds of MB for a large graph) was freed in worker
// threads' arenas; hand those pages back to the system now rather than keep them.
void ReturnFreedMemory() {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

}  // namespace

std::string DataTypeString(int dtype) { return DataTypeName(dtype); }

std::unique_ptr<RewrittenGraph> RewriteMetaGraph(std::string_view meta_graph, const RewriteOptions& options) {
  if (meta_graph.size() > kMaxMessageSize) {
    throw SizeLimitError("the MetaGraphDef is " + std::to_string(meta_graph.size()) +
                         " bytes, over protobuf's 2 GiB limit");
  }
  std::unique_ptr<RewrittenGraph> result;
  {
    Rewriter rewriter(meta_graph.data(), options);
    result = rewriter.RunMeta(meta_graph);
  }
  ReturnFreedMemory();
  return result;
}

std::vector<std::string_view> MetaGraphRestParts(std::string_view meta_graph, int depth) {
  if (meta_graph.size() > kMaxMessageSize) {
    throw SizeLimitError("the MetaGraphDef is " + std::to_string(meta_graph.size()) +
                         " bytes, over protobuf's 2 GiB limit");
  }
  std::vector<std::string_view> parts;
  Reader r(meta_graph, meta_graph.data(), depth);
  Field f;
  while (r.Next(f)) {
    if (f.number == 2 && f.type == wire::kLengthDelimited) continue;
    // Fields next to each other in the input are one piece.
    if (!parts.empty() && parts.back().data() + parts.back().size() == f.raw.data()) {
      parts.back() = std::string_view(parts.back().data(), parts.back().size() + f.raw.size());
    } else {
      parts.push_back(f.raw);
    }
  }
  return parts;
}

std::string MetaGraphRest(std::string_view meta_graph) {
  const std::vector<std::string_view> parts = MetaGraphRestParts(meta_graph);
  size_t size = 0;
  for (std::string_view p : parts) size += p.size();
  std::string rest;
  rest.reserve(size);
  for (std::string_view p : parts) rest.append(p.data(), p.size());
  return rest;
}

std::unique_ptr<RewrittenGraph> RewriteGraphDef(std::string_view graph_def, std::string_view op_list,
                                                const RewriteOptions& options) {
  if (graph_def.size() > kMaxMessageSize) {
    throw SizeLimitError("the GraphDef is " + std::to_string(graph_def.size()) + " bytes, over protobuf's 2 GiB limit");
  }
  // Offsets in errors are relative to the GraphDef; the op list is parsed on its own.
  std::unique_ptr<RewrittenGraph> result;
  {
    Rewriter rewriter(graph_def.data(), options);
    result = rewriter.RunGraph(graph_def, op_list);
  }
  ReturnFreedMemory();
  return result;
}

}  // namespace fastmeta
