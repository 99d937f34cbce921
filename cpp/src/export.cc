// ExportNodes: see fastmeta/export.h.
#include "fastmeta/export.h"

#include <algorithm>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "fastmeta/errors.h"

namespace fastmeta {
namespace {

using wire::Field;
using wire::Reader;

// One ListValue.shape field holding TensorShapeProto{unknown_rank: true}.
constexpr std::string_view kUnknownShape("\x3a\x02\x18\x01", 4);
constexpr std::string_view kKey("_output_shapes");

// The ListValue.shape fields (whole, tag included) of a recorded `_output_shapes`
// entry (a NodeDef.attr field); false when it holds anything else, or is malformed:
// such a node is the caller's (which reads it as it always has).
bool RecordedShapes(std::string_view entry, std::vector<std::string_view>& shapes) {
  shapes.clear();
  if (entry.empty()) return true;
  try {
    Reader outer(entry, entry.data());
    Field f;
    if (!outer.Next(f) || f.number != 5 || f.type != wire::kLengthDelimited || !outer.done()) return false;
    Reader map_entry(f.data, entry.data());
    bool keyed = false;
    Field m;
    while (map_entry.Next(m)) {
      if (m.type != wire::kLengthDelimited) return false;
      if (m.number == 1) {
        keyed = m.data == kKey;
      } else if (m.number == 2) {
        Reader value(m.data, entry.data());
        Field v;
        while (value.Next(v)) {
          if (v.number != 1 || v.type != wire::kLengthDelimited) return false;
          Reader list(v.data, entry.data());
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
    Reader r(entry, entry.data());
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
    Reader r(value, value.data());
    Field f;
    if (!r.Next(f) || f.number != number || f.type != wire::kLengthDelimited || !r.done()) return false;
    if (inner == 0) return true;
    Reader in(f.data, value.data());
    Field g;
    while (in.Next(g)) {
      if (g.number != inner || g.type != wire::kLengthDelimited) return false;
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
        auto attr = std::find_if(op.attrs.begin(), op.attrs.end(), [&](const OpStrip::Attr& a) { return a.name == s.attr; });
        if (attr == op.attrs.end()) attr = op.attrs.insert(op.attrs.end(), OpStrip::Attr{s.attr, {}});
        for (const std::string& v : s.values) attr->values.insert(v);
      }
      std::unordered_map<std::string_view, const OpStrip*> strip_by_op;
      for (const auto& [op, k] : index) strip_by_op[op] = &strips_[k];
      strip_of_ = PerNode(g, strip_by_op);
    }
  }

  ExportedNodes Run() {
    ExportedNodes out;
    out.bytes.reserve(g_.graph_def_size() + g_.graph_def_size() / 4);
    std::vector<std::string_view> shapes;
    std::string attr;
    for (size_t i = 0; i < g_.num_nodes(); ++i) {
      if (!Write(i, out.bytes, shapes, attr)) {
        out.left.push_back(static_cast<uint32_t>(i));
        out.left_at.push_back(out.bytes.size());
      }
    }
    return out;
  }

 private:
  // The shape of an output node `i` recorded none for.
  struct Shape {
    enum Kind : uint8_t { kRecorded, kUnknown, kByCaller, kPending } kind;
    std::string_view bytes;  // kRecorded: the ListValue.shape field
  };

  bool Write(size_t i, wire::Buffer& out, std::vector<std::string_view>& shapes, std::string& attr) {
    const ExportOpRule* rule = rule_of_[i];
    if (rule == nullptr || rule->outputs == ExportOpRule::kOutputsByCaller) return false;
    if (options_.leave_external && ExternalInput(i)) return false;
    const std::string_view node = g_.node_def(i);
    spans_.clear();
    const OpStrip* strip = strip_of_.empty() ? nullptr : strip_of_[i];
    if (options_.clear_devices || strip != nullptr) {
      if (!Filter(i, node, strip)) return false;
    } else {
      spans_.push_back(node);
    }
    if (rule->outputs == 0) {
      Emit(out, {});
      return true;
    }
    const std::string_view entry = g_.output_shapes(i);
    if (!RecordedShapes(entry, shapes)) return false;
    const size_t want = static_cast<size_t>(rule->outputs);
    if (rule->outputs == ExportOpRule::kOutputsNotKnown) {
      Emit(out, shapes.empty() ? std::string_view() : entry);
      return true;
    }
    if (shapes.size() == want) {
      Emit(out, entry);
      return true;
    }
    // A new entry: the first recorded shapes, then those of the outputs without one.
    std::string_view missing;
    if (shapes.size() < want) {
      const Shape m = MissingShape(i);
      if (m.kind == Shape::kByCaller) return false;
      missing = m.kind == Shape::kRecorded ? m.bytes : kUnknownShape;
    }
    std::string list;
    for (size_t k = 0; k < want; ++k) {
      const std::string_view s = k < shapes.size() ? shapes[k] : missing;
      list.append(s.data(), s.size());
    }
    attr.clear();
    AppendField(attr, 1, list);                                      // AttrValue.list
    std::string map_entry;
    AppendField(map_entry, 1, kKey);
    AppendField(map_entry, 2, attr);
    std::string field;
    AppendField(field, 5, map_entry);                                // NodeDef.attr
    Emit(out, field);
    return true;
  }

  // A GraphDef.node field of the kept spans of the node, then `tail`.
  void Emit(wire::Buffer& out, std::string_view tail) {
    if (spans_.size() == 1) {
      wire::PutBytesParts(out, 1, spans_[0], tail);
      return;
    }
    size_t size = tail.size();
    for (std::string_view s : spans_) size += s.size();
    wire::PutTag(out, 1, wire::kLengthDelimited);
    wire::PutVarint(out, size);
    for (std::string_view s : spans_) out.append(s);
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

  // The spans of `node` kept (into spans_): all but its device field (clear_devices)
  // and its attr entries holding a default (`strip`); false: the node is the caller's.
  bool Filter(size_t i, std::string_view node, const OpStrip* strip) {
    const bool clear = options_.clear_devices;
    const bool enter = clear && (g_.op(i) == "Enter" || g_.op(i) == "RefEnter");
    seen_.clear();
    const char* run = node.data();
    try {
      Reader r(node, node.data());
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
              if (std::find(seen_.begin(), seen_.end(), key) != seen_.end()) return false;
              seen_.push_back(key);
              drop = a.values.count(value) != 0;
              break;
            }
          }
        }
        if (drop) {
          if (f.raw.data() > run) spans_.emplace_back(run, static_cast<size_t>(f.raw.data() - run));
          run = f.raw.data() + f.raw.size();
        }
      }
    } catch (const Error&) {
      return false;
    }
    const char* end = node.data() + node.size();
    if (end > run || spans_.empty()) spans_.emplace_back(run, static_cast<size_t>(end - run));
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
  Shape MissingShape(size_t i) {
    switch (rule_of_[i]->missing) {
      case ExportOpRule::Missing::kUnknown: return {Shape::kUnknown, {}};
      case ExportOpRule::Missing::kByCaller: return {Shape::kByCaller, {}};
      case ExportOpRule::Missing::kInput0: break;
    }
    return Forwarded(static_cast<uint32_t>(i));
  }

  // The shape of node `start`'s first data input, following a chain of kInput0 nodes
  // that recorded none; a chain that comes back to itself is unknown. Each node's answer
  // is kept, so every chain is walked once.
  Shape Forwarded(uint32_t start) {
    auto hit = memo_.find(start);
    if (hit != memo_.end()) return hit->second.kind == Shape::kPending ? Shape{Shape::kUnknown, {}} : hit->second;
    std::vector<uint32_t> chain{start};
    memo_[start] = {Shape::kPending, {}};
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
      auto seen = memo_.find(src);
      if (seen != memo_.end()) {
        if (seen->second.kind != Shape::kPending) result = seen->second;
        break;  // (pending: the chain came back to itself)
      }
      memo_[src] = {Shape::kPending, {}};
      chain.push_back(src);
      cur = src;
    }
    for (uint32_t n : chain) memo_[n] = result;
    return result;
  }

  const RewrittenGraph& g_;
  const ExportOptions& options_;
  std::vector<const ExportOpRule*> rule_of_;
  std::vector<OpStrip> strips_;
  std::vector<const OpStrip*> strip_of_;  // (empty: nothing to strip)
  std::unordered_map<uint32_t, Shape> memo_;
  std::vector<std::string_view> spans_;
  std::vector<std::string_view> seen_;
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
      Reader r(node, node.data());
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

}  // namespace fastmeta
