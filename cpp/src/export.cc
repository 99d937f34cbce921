// ExportNodes: see fastmeta/export.h.
#include "fastmeta/export.h"

#include <string_view>
#include <unordered_map>

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

class Exporter {
 public:
  Exporter(const RewrittenGraph& g, const std::vector<std::pair<std::string, ExportOpRule>>& rules) : g_(g) {
    std::unordered_map<std::string_view, const ExportOpRule*> by_op;
    by_op.reserve(rules.size());
    for (const auto& [op, rule] : rules) by_op[op] = &rule;
    rule_of_.resize(g.num_nodes());
    // (op types repeat in runs: the last one looked up is tried first)
    std::string_view last_op;
    const ExportOpRule* last_rule = nullptr;
    bool have_last = false;
    for (size_t i = 0; i < g.num_nodes(); ++i) {
      const std::string_view op = g.op(i);
      if (!have_last || op != last_op) {
        auto it = by_op.find(op);
        last_rule = it == by_op.end() ? nullptr : it->second;
        last_op = op;
        have_last = true;
      }
      rule_of_[i] = last_rule;
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
    const std::string_view node = g_.node_def(i);
    if (rule->outputs == 0) {
      wire::PutBytes(out, 1, node);
      return true;
    }
    const std::string_view entry = g_.output_shapes(i);
    if (!RecordedShapes(entry, shapes)) return false;
    const size_t want = static_cast<size_t>(rule->outputs);
    if (rule->outputs == ExportOpRule::kOutputsNotKnown) {
      wire::PutBytesParts(out, 1, node, shapes.empty() ? std::string_view() : entry);
      return true;
    }
    if (shapes.size() == want) {
      wire::PutBytesParts(out, 1, node, entry);
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
    wire::PutBytesParts(out, 1, node, field);
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
  std::vector<const ExportOpRule*> rule_of_;
  std::unordered_map<uint32_t, Shape> memo_;
};

}  // namespace

ExportedNodes ExportNodes(const RewrittenGraph& g, const std::vector<std::pair<std::string, ExportOpRule>>& rules) {
  return Exporter(g, rules).Run();
}

}  // namespace fastmeta
