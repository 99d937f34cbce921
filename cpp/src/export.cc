// ExportNodes: see fastmeta/export.h.
#include "fastmeta/export.h"

#include <algorithm>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "fastmeta/errors.h"
#include "parallel.h"

namespace fastmeta {
namespace {

using wire::Field;
using wire::Reader;
// (Readers here re-read bytes protobuf or the rewriter already accepted: at depth 0,
// the most lenient nesting limit, they refuse nothing those did.)

// One ListValue.shape field holding TensorShapeProto{unknown_rank: true}.
constexpr std::string_view kUnknownShape("\x3a\x02\x18\x01", 4);
constexpr std::string_view kKey("_output_shapes");
// Fewer nodes than this: one range (threads cost more than they save).
constexpr size_t kNodesPerChunk = 4096;

// Whether NodeDef `node` holds an attr `key`.
bool HoldsAttr(std::string_view node, std::string_view key) {
  try {
    Reader r(node, node.data(), 0);
    Field f;
    while (r.Next(f)) {
      if (f.number != 5 || f.type != wire::kLengthDelimited) continue;
      Reader entry(f.data, node.data(), 0);
      Field e;
      while (entry.Next(e)) {
        if (e.number == 1 && e.type == wire::kLengthDelimited && e.data == key) return true;
      }
    }
  } catch (const Error&) {
    return true;  // (malformed: the caller's)
  }
  return false;
}

// The ListValue.shape fields (whole, tag included) of a recorded `_output_shapes`
// entry (a NodeDef.attr field); false when it holds anything else, or is malformed:
// such a node is the caller's (which reads it as it always has).
bool RecordedShapes(std::string_view entry, std::vector<std::string_view>& shapes) {
  shapes.clear();
  if (entry.empty()) return true;
  try {
    Reader outer(entry, entry.data(), 0);
    Field f;
    if (!outer.Next(f) || f.number != 5 || f.type != wire::kLengthDelimited || !outer.done()) return false;
    Reader map_entry(f.data, entry.data(), 0);
    bool keyed = false;
    Field m;
    while (map_entry.Next(m)) {
      if (m.type != wire::kLengthDelimited) return false;
      if (m.number == 1) {
        keyed = m.data == kKey;
      } else if (m.number == 2) {
        Reader value(m.data, entry.data(), 0);
        Field v;
        while (value.Next(v)) {
          if (v.number != 1 || v.type != wire::kLengthDelimited) return false;
          Reader list(v.data, entry.data(), 0);
          Field s;
          while (list.Next(s)) {
            if (s.number != 7 || s.type != wire::kLengthDelimited) return false;
            shapes.push_back(s.raw);
          }
        }
      } else {
        return false;
      }
    }
    return keyed;
  } catch (const Error&) {
    return false;
  }
}

// A NodeDef.attr map entry's key and value (no value field: ""); false when it is not
// exactly one key and at most one value, both length-delimited, or is malformed.
bool PlainEntry(std::string_view entry, std::string_view& key, std::string_view& value) {
  key = value = {};
  bool has_key = false;
  bool has_value = false;
  try {
    Reader r(entry, entry.data(), 0);
    Field f;
    while (r.Next(f)) {
      if (f.type != wire::kLengthDelimited) return false;
      if (f.number == 1 && !has_key) {
        key = f.data;
        has_key = true;
      } else if (f.number == 2 && !has_value) {
        value = f.data;
        has_value = true;
      } else {
        return false;
      }
    }
  } catch (const Error&) {
    return false;
  }
  return has_key;
}

// True when the serialized AttrValue `value` is one field `number` (length-delimited),
// and, for `inner` > 0, that field's payload is only fields `inner` (length-delimited):
// so that the message route's rewrite of it (AttrValue(list=ListValue(s=...)) for
// `_class`, AttrValue(s=...) for frame_name) parses equal to it.
bool OnlyField(std::string_view value, uint32_t number, uint32_t inner) {
  try {
    Reader r(value, value.data(), 0);
    Field f;
    if (!r.Next(f) || f.number != number || f.type != wire::kLengthDelimited || !r.done()) return false;
    if (inner == 0) return true;
    Reader in(f.data, value.data(), 0);
    Field g;
    while (in.Next(g)) {
      if (g.number != inner || g.type != wire::kLengthDelimited) return false;
    }
    return true;
  } catch (const Error&) {
    return false;
  }
}

// A varint as protobuf reads one: at most ten bytes, the tenth holding one bit at most.
bool ReadVarint(const char*& p, const char* end, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p >= end) return false;
    const auto byte = static_cast<uint8_t>(*p++);
    if (shift == 63 && byte > 1) return false;
    v |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (byte < 0x80) return true;
  }
  return false;
}

// More outputs than this: the node is the caller's (as many shapes would be written).
constexpr int64_t kMaxCountedOutputs = int64_t{1} << 20;

// The `i` of a serialized AttrValue that is that one field alone; false otherwise.
bool NumberValue(std::string_view value, int64_t& i) {
  try {
    Reader r(value, value.data(), 0);
    Field f;
    if (!r.Next(f) || f.number != 3 || f.type != wire::kVarint || !r.done()) return false;
    i = static_cast<int64_t>(f.varint);
    return true;
  } catch (const Error&) {
    return false;
  }
}

// The number of list.type entries of a serialized AttrValue that is one `list` field
// holding only `type` fields (packed or not); false otherwise.
bool TypeListCount(std::string_view value, int64_t& count) {
  count = 0;
  try {
    Reader r(value, value.data(), 0);
    Field f;
    if (!r.Next(f) || f.number != 1 || f.type != wire::kLengthDelimited || !r.done()) return false;
    Reader list(f.data, value.data(), 0);
    Field t;
    while (list.Next(t)) {
      if (t.number != 6) return false;
      if (t.type == wire::kVarint) {
        ++count;
      } else if (t.type == wire::kLengthDelimited) {
        const char* p = t.data.data();
        const char* end = p + t.data.size();
        uint64_t v;
        while (p < end) {
          if (!ReadVarint(p, end, v)) return false;
          ++count;
        }
      } else {
        return false;
      }
    }
    return true;
  } catch (const Error&) {
    return false;
  }
}

// Looks up a per-op-type entry for each node (op types repeat in runs: the last one
// looked up is tried first).
template <typename T>
std::vector<const T*> PerNode(const RewrittenGraph& g, const std::unordered_map<std::string_view, const T*>& by_op) {
  std::vector<const T*> out(g.num_nodes());
  std::string_view last_op;
  const T* last = nullptr;
  bool have_last = false;
  for (size_t i = 0; i < g.num_nodes(); ++i) {
    const std::string_view op = g.op(i);
    if (!have_last || op != last_op) {
      auto it = by_op.find(op);
      last = it == by_op.end() ? nullptr : it->second;
      last_op = op;
      have_last = true;
    }
    out[i] = last;
  }
  return out;
}

// One op type's attrs with defaults and the values that count as the default.
struct OpStrip {
  struct Attr {
    std::string_view name;
    std::unordered_set<std::string_view> values;
  };
  std::vector<Attr> attrs;
};

class Exporter {
 public:
  Exporter(const RewrittenGraph& g, const std::vector<std::pair<std::string, ExportOpRule>>& rules,
           const ExportOptions& options)
      : g_(g), options_(options) {
    std::unordered_map<std::string_view, const ExportOpRule*> by_op;
    by_op.reserve(rules.size());
    for (const auto& [op, rule] : rules) by_op[op] = &rule;
    rule_of_ = PerNode(g, by_op);
    if (!options.strip.empty()) {
      std::unordered_map<std::string_view, size_t> index;
      for (const ExportOptions::Strip& s : options.strip) {
        auto [it, added] = index.emplace(s.op, strips_.size());
        if (added) strips_.emplace_back();
        OpStrip& op = strips_[it->second];
        auto attr =
            std::find_if(op.attrs.begin(), op.attrs.end(), [&](const OpStrip::Attr& a) { return a.name == s.attr; });
        if (attr == op.attrs.end()) attr = op.attrs.insert(op.attrs.end(), OpStrip::Attr{s.attr, {}});
        for (const std::string& v : s.values) attr->values.insert(v);
      }
      std::unordered_map<std::string_view, const OpStrip*> strip_by_op;
      for (const auto& [op, k] : index) strip_by_op[op] = &strips_[k];
      strip_of_ = PerNode(g, strip_by_op);
    }
  }

  ExportedNodes Run() {
    const size_t n = g_.num_nodes();
    const unsigned threads = ThreadCount(options_.threads);
    // Ranges of nodes, each written into its own buffer, then joined in node order
    // (more ranges than threads: a slow core does not hold up the rest).
    const size_t chunks =
        threads <= 1 || n < kNodesPerChunk ? 1 : std::min<size_t>(n / kNodesPerChunk, size_t{threads} * 4);
    ExportedNodes out;
    out.chunks.resize(chunks);
    std::vector<std::vector<uint32_t>> left(chunks);
    std::vector<std::vector<uint64_t>> left_at(chunks);
    std::vector<char> sure(chunks, 0);
    ParallelFor(chunks, threads, [&](size_t c) {
      const auto [begin, end] = Range(n, chunks, c);
      wire::Buffer& bytes = out.chunks[c];
      const size_t estimate = g_.graph_def_size() / chunks;
      bytes.reserve(estimate + estimate / 4);
      Scratch scratch;
      for (size_t i = begin; i < end; ++i) {
        if (!Write(i, bytes, scratch)) {
          left[c].push_back(static_cast<uint32_t>(i));
          left_at[c].push_back(bytes.size());
        }
      }
      sure[c] = options_.check != nullptr && SurelyParses(*options_.check, options_.check_message, bytes.view());
    });
    out.surely_parses = options_.check != nullptr;
    uint64_t at = 0;
    for (size_t c = 0; c < chunks; ++c) {
      out.surely_parses = out.surely_parses && sure[c] != 0;
      out.left.insert(out.left.end(), left[c].begin(), left[c].end());
      for (uint64_t k : left_at[c]) out.left_at.push_back(at + k);
      at += out.chunks[c].size();
    }
    return out;
  }

 private:
  // The shape of an output node `i` recorded none for.
  struct Shape {
    enum Kind : uint8_t { kRecorded, kUnknown, kByCaller, kPending } kind;
    std::string_view bytes;  // kRecorded: the ListValue.shape field
  };

  // One range's working state. Forwarded's answers depend on the node alone (a chain
  // that comes back to itself is unknown from wherever it is entered), so each range
  // keeping its own gives the same bytes as one pass.
  struct Scratch {
    std::unordered_map<uint32_t, Shape> memo;
    std::vector<std::string_view> spans;
    std::vector<std::string_view> seen;
    std::vector<std::string_view> shapes;
    std::vector<std::string_view> keys;
    std::vector<std::string_view> values;
    std::string attr;
  };

  bool Write(size_t i, wire::Buffer& out, Scratch& scratch) {
    std::vector<std::string_view>& shapes = scratch.shapes;
    std::string& attr = scratch.attr;
    const ExportOpRule* rule = rule_of_[i];
    if (rule == nullptr || rule->outputs == ExportOpRule::kOutputsByCaller) return false;
    if (options_.leave_external && ExternalInput(i)) return false;
    const std::string_view node = g_.node_def(i);
    // (a node keeping an `_output_shapes` of another kind is the caller's: it writes the
    // entry over that value, as TensorFlow's as_graph_def does)
    if (g_.kept_output_shapes_attr() && HoldsAttr(node, kKey)) return false;
    scratch.spans.clear();
    const OpStrip* strip = strip_of_.empty() ? nullptr : strip_of_[i];
    if (options_.clear_devices || strip != nullptr) {
      if (!Filter(i, node, strip, scratch)) return false;
    } else {
      scratch.spans.push_back(node);
    }
    int64_t outputs = rule->outputs;
    if (outputs == ExportOpRule::kOutputsByAttrs) {
      switch (CountOutputs(node, *rule, outputs, scratch)) {
        case Count::kByCaller:
          return false;
        case Count::kNotKnown:
          outputs = ExportOpRule::kOutputsNotKnown;
          break;
        case Count::kCounted:
          break;
      }
    }
    if (outputs == 0) {
      Emit(out, scratch.spans, {});
      return true;
    }
    const std::string_view entry = g_.output_shapes(i);
    if (!RecordedShapes(entry, shapes)) return false;
    const size_t want = static_cast<size_t>(outputs);
    if (outputs == ExportOpRule::kOutputsNotKnown) {
      Emit(out, scratch.spans, shapes.empty() ? std::string_view() : entry);
      return true;
    }
    if (shapes.size() == want) {
      Emit(out, scratch.spans, entry);
      return true;
    }
    // A new entry: the first recorded shapes, then those of the outputs without one.
    std::string_view missing;
    if (shapes.size() < want) {
      const Shape m = MissingShape(i, scratch.memo);
      if (m.kind == Shape::kByCaller) return false;
      missing = m.kind == Shape::kRecorded ? m.bytes : kUnknownShape;
    }
    std::string list;
    for (size_t k = 0; k < want; ++k) {
      const std::string_view s = k < shapes.size() ? shapes[k] : missing;
      list.append(s.data(), s.size());
    }
    attr.clear();
    AppendField(attr, 1, list);  // AttrValue.list
    std::string map_entry;
    AppendField(map_entry, 1, kKey);
    AppendField(map_entry, 2, attr);
    std::string field;
    AppendField(field, 5, map_entry);  // NodeDef.attr
    Emit(out, scratch.spans, field);
    return true;
  }

  enum class Count : uint8_t { kCounted, kNotKnown, kByCaller };

  // The output count of `node` by its attrs (rule.output_args, see ExportOpRule).
  static Count CountOutputs(std::string_view node, const ExportOpRule& rule, int64_t& count, Scratch& scratch) {
    const auto wanted = [&](std::string_view key) {
      for (const ExportOpRule::OutputArg& a : rule.output_args) {
        if (key == a.number_attr || key == a.type_list_attr || key == a.type_attr) return true;
      }
      return false;
    };
    // (the attrs the args name, each present once: scratch.keys[k] holds scratch.values[k])
    std::vector<std::string_view>& keys = scratch.keys;
    std::vector<std::string_view>& values = scratch.values;
    keys.clear();
    values.clear();
    try {
      Reader r(node, node.data(), 0);
      Field f;
      while (r.Next(f)) {
        if (f.number != 5) continue;
        std::string_view key;
        std::string_view value;
        if (f.type != wire::kLengthDelimited || !PlainEntry(f.data, key, value)) return Count::kByCaller;
        if (key.empty() || !wanted(key)) continue;
        if (std::find(keys.begin(), keys.end(), key) != keys.end()) return Count::kByCaller;
        keys.push_back(key);
        values.push_back(value);
      }
    } catch (const Error&) {
      return Count::kByCaller;
    }
    const auto find = [&](const std::string& key, std::string_view& value) {
      for (size_t k = 0; k < keys.size(); ++k) {
        if (keys[k] == key) {
          value = values[k];
          return true;
        }
      }
      return false;
    };
    std::string_view value;
    for (const ExportOpRule::OutputArg& a : rule.output_args) {
      const bool present = a.type_list_attr.empty() ? (a.type_attr.empty() || find(a.type_attr, value)) &&
                                                          (a.number_attr.empty() || find(a.number_attr, value))
                                                    : find(a.type_list_attr, value);
      if (!present) return Count::kNotKnown;
    }
    count = 0;
    for (const ExportOpRule::OutputArg& a : rule.output_args) {
      int64_t n = 1;
      if (!a.type_list_attr.empty()) {
        find(a.type_list_attr, value);
        if (!TypeListCount(value, n)) return Count::kByCaller;
      } else if (!a.number_attr.empty()) {
        find(a.number_attr, value);
        if (!NumberValue(value, n) || n < 0) return Count::kByCaller;
      }
      if (n > kMaxCountedOutputs - count) return Count::kByCaller;
      count += n;
    }
    return Count::kCounted;
  }

  // A GraphDef.node field of the kept spans of the node, then `tail`.
  static void Emit(wire::Buffer& out, const std::vector<std::string_view>& spans, std::string_view tail) {
    if (spans.size() == 1) {
      wire::PutBytesParts(out, 1, spans[0], tail);
      return;
    }
    size_t size = tail.size();
    for (std::string_view s : spans) size += s.size();
    wire::PutTag(out, 1, wire::kLengthDelimited);
    wire::PutVarint(out, size);
    for (std::string_view s : spans) out.append(s);
    out.append(tail);
  }

  bool ExternalInput(size_t i) const {
    const Edge* e = g_.edges(i);
    const uint32_t count = g_.node(i).edge_count;
    for (uint32_t k = 0; k < count; ++k) {
      if (e[k].src < 0 && e[k].index >= 0) return true;
    }
    return false;
  }

  // The spans of `node` kept (into scratch.spans): all but its device field (clear_devices)
  // and its attr entries holding a default (`strip`); false: the node is the caller's.
  bool Filter(size_t i, std::string_view node, const OpStrip* strip, Scratch& scratch) const {
    std::vector<std::string_view>& spans = scratch.spans;
    std::vector<std::string_view>& seen = scratch.seen;
    const bool clear = options_.clear_devices;
    const bool enter = clear && (g_.op(i) == "Enter" || g_.op(i) == "RefEnter");
    seen.clear();
    const char* run = node.data();
    try {
      Reader r(node, node.data(), 0);
      Field f;
      while (r.Next(f)) {
        bool drop = false;
        if (f.number == 4 && f.type == wire::kLengthDelimited && clear) {
          drop = true;
        } else if (f.number == 5 && f.type == wire::kLengthDelimited) {
          std::string_view key;
          std::string_view value;
          if (!PlainEntry(f.data, key, value)) return false;
          if (clear && key == "_class" && !OnlyField(value, 1, 2)) return false;
          if (enter && key == "frame_name" && !OnlyField(value, 2, 0)) return false;
          if (strip != nullptr) {
            for (const OpStrip::Attr& a : strip->attrs) {
              if (a.name != key) continue;
              // (twice: the last one counts once parsed)
              if (std::find(seen.begin(), seen.end(), key) != seen.end()) return false;
              seen.push_back(key);
              drop = a.values.count(value) != 0;
              break;
            }
          }
        }
        if (drop) {
          if (f.raw.data() > run) spans.emplace_back(run, static_cast<size_t>(f.raw.data() - run));
          run = f.raw.data() + f.raw.size();
        }
      }
    } catch (const Error&) {
      return false;
    }
    const char* end = node.data() + node.size();
    if (end > run || spans.empty()) spans.emplace_back(run, static_cast<size_t>(end - run));
    return true;
  }

  static void AppendField(std::string& out, uint32_t number, std::string_view payload) {
    char head[2 * 10];
    char* p = wire::WriteVarint(head, (uint64_t{number} << 3) | wire::kLengthDelimited);
    p = wire::WriteVarint(p, payload.size());
    out.append(head, static_cast<size_t>(p - head));
    out.append(payload.data(), payload.size());
  }

  // The shape of any output node `i` recorded none for (by its rule, the same for all).
  Shape MissingShape(size_t i, std::unordered_map<uint32_t, Shape>& memo) const {
    switch (rule_of_[i]->missing) {
      case ExportOpRule::Missing::kUnknown:
        return {Shape::kUnknown, {}};
      case ExportOpRule::Missing::kByCaller:
        return {Shape::kByCaller, {}};
      case ExportOpRule::Missing::kInput0:
        break;
    }
    return Forwarded(static_cast<uint32_t>(i), memo);
  }

  // The shape of node `start`'s first data input, following a chain of kInput0 nodes
  // that recorded none; a chain that comes back to itself is unknown. Each node's answer
  // is kept, so every chain is walked once.
  Shape Forwarded(uint32_t start, std::unordered_map<uint32_t, Shape>& memo) const {
    auto hit = memo.find(start);
    if (hit != memo.end()) return hit->second.kind == Shape::kPending ? Shape{Shape::kUnknown, {}} : hit->second;
    std::vector<uint32_t> chain{start};
    memo[start] = {Shape::kPending, {}};
    Shape result{Shape::kUnknown, {}};
    std::vector<std::string_view> shapes;
    uint32_t cur = start;
    for (;;) {
      const Edge* e = g_.edges(cur);
      const uint32_t count = g_.node(cur).edge_count;
      const Edge* data = nullptr;
      for (uint32_t k = 0; k < count; ++k) {
        if (e[k].index >= 0) {
          data = &e[k];
          break;
        }
      }
      if (data == nullptr) break;  // (no data input: unknown)
      if (data->src < 0) {         // (a tensor of another part of the graph)
        result = {Shape::kByCaller, {}};
        break;
      }
      const auto src = static_cast<uint32_t>(data->src);
      if (!RecordedShapes(g_.output_shapes(src), shapes)) {
        result = {Shape::kByCaller, {}};
        break;
      }
      if (static_cast<size_t>(data->index) < shapes.size()) {
        result = {Shape::kRecorded, shapes[static_cast<size_t>(data->index)]};
        break;
      }
      const ExportOpRule* rule = rule_of_[src];
      if (rule == nullptr || rule->missing == ExportOpRule::Missing::kByCaller) {
        result = {Shape::kByCaller, {}};
        break;
      }
      if (rule->missing == ExportOpRule::Missing::kUnknown) break;
      auto seen = memo.find(src);
      if (seen != memo.end()) {
        if (seen->second.kind != Shape::kPending) result = seen->second;
        break;  // (pending: the chain came back to itself)
      }
      memo[src] = {Shape::kPending, {}};
      chain.push_back(src);
      cur = src;
    }
    for (uint32_t n : chain) memo[n] = result;
    return result;
  }

  const RewrittenGraph& g_;
  const ExportOptions& options_;
  std::vector<const ExportOpRule*> rule_of_;
  std::vector<OpStrip> strips_;
  std::vector<const OpStrip*> strip_of_;  // (empty: nothing to strip)
};

}  // namespace

ExportedNodes ExportNodes(const RewrittenGraph& g, const std::vector<std::pair<std::string, ExportOpRule>>& rules,
                          const ExportOptions& options) {
  return Exporter(g, rules, options).Run();
}

std::vector<AttrValuesOf> AttrValues(const RewrittenGraph& g,
                                     const std::vector<std::pair<std::string, std::vector<std::string>>>& wanted) {
  std::vector<AttrValuesOf> out;
  // per op type: (attr name, index into out)
  std::vector<std::vector<std::pair<std::string_view, size_t>>> ops(wanted.size());
  std::unordered_map<std::string_view, const std::vector<std::pair<std::string_view, size_t>>*> by_op;
  for (size_t k = 0; k < wanted.size(); ++k) {
    for (const std::string& attr : wanted[k].second) {
      ops[k].emplace_back(attr, out.size());
      out.push_back({wanted[k].first, attr, {}});
    }
    by_op[wanted[k].first] = &ops[k];
  }
  std::vector<std::unordered_set<std::string_view>> seen(out.size());
  const auto per_node = PerNode(g, by_op);
  for (size_t i = 0; i < g.num_nodes(); ++i) {
    const auto* attrs = per_node[i];
    if (attrs == nullptr) continue;
    const std::string_view node = g.node_def(i);
    try {
      Reader r(node, node.data(), 0);
      Field f;
      while (r.Next(f)) {
        if (f.number != 5 || f.type != wire::kLengthDelimited) continue;
        std::string_view key;
        std::string_view value;
        if (!PlainEntry(f.data, key, value)) continue;
        for (const auto& [name, k] : *attrs) {
          if (name == key) {
            if (seen[k].insert(value).second) out[k].values.push_back(value);
            break;
          }
        }
      }
    } catch (const Error&) {
      continue;  // (malformed: ExportNodes leaves the node)
    }
  }
  return out;
}

namespace {

// A packed repeated field's payload: whole values of `kind`.
bool PackedValues(WireSchema::Kind kind, std::string_view d) {
  switch (kind) {
    case WireSchema::kFixed64:
      return d.size() % 8 == 0;
    case WireSchema::kFixed32:
      return d.size() % 4 == 0;
    case WireSchema::kVarint: {
      const char* p = d.data();
      const char* end = p + d.size();
      uint64_t v;
      while (p < end) {
        if (!ReadVarint(p, end, v)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

bool Surely(const WireSchema& schema, uint32_t message, std::string_view data, int depth) {
  if (depth > kSurelyParsesDepth) return false;
  const std::vector<WireSchema::Field>& fields = schema.messages[message];
  static const WireSchema::Field kNoField;
  const char* p = data.data();
  const char* end = p + data.size();
  while (p < end) {
    uint64_t tag;
    if (!ReadVarint(p, end, tag) || tag > 0xffffffffu) return false;
    const uint64_t number = tag >> 3;
    if (number == 0 || (number >= 19000 && number <= 19999)) return false;
    const WireSchema::Field& f = number < fields.size() ? fields[number] : kNoField;
    const bool unknown = f.kind == WireSchema::kUnknown;
    switch (tag & 7) {
      case wire::kVarint: {
        uint64_t v;
        if (!ReadVarint(p, end, v) || !(unknown || f.kind == WireSchema::kVarint)) return false;
        break;
      }
      case wire::kFixed64:
        if (end - p < 8 || !(unknown || f.kind == WireSchema::kFixed64)) return false;
        p += 8;
        break;
      case wire::kFixed32:
        if (end - p < 4 || !(unknown || f.kind == WireSchema::kFixed32)) return false;
        p += 4;
        break;
      case wire::kLengthDelimited: {
        uint64_t len;
        if (!ReadVarint(p, end, len) || len > static_cast<uint64_t>(end - p)) return false;
        const std::string_view payload(p, static_cast<size_t>(len));
        p += len;
        switch (f.kind) {
          case WireSchema::kUnknown:
          case WireSchema::kBytes:
            break;
          case WireSchema::kString:
            if (!wire::IsValidUtf8(payload)) return false;
            break;
          case WireSchema::kMessage:
            if (f.message >= schema.messages.size() || !Surely(schema, f.message, payload, depth + 1)) return false;
            break;
          default:
            if (!f.repeated || !PackedValues(f.kind, payload)) return false;
        }
        break;
      }
      default:
        return false;  // (groups, invalid wire types)
    }
  }
  return true;
}

}  // namespace

bool SurelyParses(const WireSchema& schema, uint32_t message, std::string_view data) {
  return message < schema.messages.size() && Surely(schema, message, data, 0);
}

}  // namespace fastmeta
