// The shared fuzz target for the rewriter harnesses: one input, several option
// combinations, and invariants checked on every successful rewrite. Any exception
// other than a fastmeta::Error, and any broken invariant, aborts (a finding).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fastmeta/errors.h"
#include "fastmeta/names.h"
#include "fastmeta/rewriter.h"
#include "fastmeta/variable_defs.h"
#include "fastmeta/wire.h"

namespace fastmeta_fuzz {

[[noreturn]] inline void Die(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fastmeta fuzz invariant broken: %s: %s\n", what, detail.c_str());
  std::abort();
}

// Checks the node index of a rewrite against its own bytes.
inline void CheckIndex(const fastmeta::RewrittenGraph& g) {
  const size_t n = g.num_nodes();
  for (size_t i = 0; i < n; ++i) {
    const auto& e = g.node(i);
    if (g.node_def(i).size() != e.size) Die("node payload out of range", std::to_string(i));
    std::string_view name = g.name(i);
    if (g.Find(name) != static_cast<int64_t>(i)) Die("Find(name(i)) != i", std::string(name));
    if (!fastmeta::IsValidNodeName(name)) Die("rewritten node name invalid", std::string(name));
    const fastmeta::Edge* edges = g.edges(i);
    for (uint32_t k = 0; k < e.edge_count; ++k) {
      const int32_t src = edges[k].src;
      if (src >= 0 && static_cast<size_t>(src) >= n) Die("edge source out of range", std::string(name));
      if (src < 0 && static_cast<size_t>(-1 - static_cast<int64_t>(src)) >= g.external().size()) {
        Die("external edge out of range", std::string(name));
      }
    }
    if (e.num_data_inputs > e.edge_count) Die("more data inputs than edges", std::string(name));
  }
}

// Runs one rewrite; returns nullptr when the core rejects the input with a typed error.
inline std::unique_ptr<fastmeta::RewrittenGraph> TryRewrite(std::string_view data, const fastmeta::RewriteOptions& o) {
  try {
    auto g = fastmeta::RewriteMetaGraph(data, o);
    CheckIndex(*g);
    return g;
  } catch (const fastmeta::Error&) {
    return nullptr;
  }
}

inline std::string MetaOf(const fastmeta::RewrittenGraph& g) {
  // MetaGraphDef{graph_def = ..., the rest}: rest first, then field 2.
  std::string out(g.meta_rest());
  std::string tag;
  tag.push_back(0x12);
  uint64_t v = g.graph_def().size();
  while (v >= 0x80) {
    tag.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  tag.push_back(static_cast<char>(v));
  return out + tag + g.graph_def();
}

inline void RunRewriteTarget(const uint8_t* bytes, size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  try {
    (void)fastmeta::MetaGraphRest(data);
  } catch (const fastmeta::Error&) {
  }
  // A bare GraphDef, with the second half as an OpList.
  try {
    fastmeta::RewriteOptions bare;
    bare.threads = 1;
    (void)fastmeta::RewriteGraphDef(data.substr(0, size / 2), data.substr(size / 2), bare);
  } catch (const fastmeta::Error&) {
  }

  // 1. Plain.
  fastmeta::RewriteOptions plain;
  plain.threads = 1;  // one core per fuzzer (threads only start at 4096 nodes anyway)
  std::unique_ptr<fastmeta::RewrittenGraph> first = TryRewrite(data, plain);
  if (!first) return;

  // The output of a rewrite is a valid graph: rewriting it again must succeed.
  {
    fastmeta::RewriteOptions again;
    again.threads = 1;
    again.add_default_attrs = false;
    const std::string meta = MetaOf(*first);
    auto second = TryRewrite(meta, again);
    if (!second) {
      try {
        fastmeta::RewriteMetaGraph(meta, again);
      } catch (const fastmeta::Error& e) {
        Die("re-rewriting a rewrite failed", e.what());
      }
    }
    if (second->num_nodes() != first->num_nodes()) Die("node count changed on re-rewrite", "");
  }

  // 2. Scope, cleared devices, and the first result as an existing graph (forces _k suffixes).
  {
    fastmeta::RewriteOptions o;
    o.threads = 1;
    o.prefix = "imp/s.c-o>pe";
    o.clear_devices = true;
    fastmeta::NameSet names;
    for (size_t i = 0; i < first->num_nodes() && i < 8; ++i) names.Add("imp/s.c-o>pe/" + std::string(first->name(i)));
    o.existing.push_back(first.get());
    o.existing.push_back(&names);
    auto g = TryRewrite(data, o);
    if (g && g->num_nodes() != first->num_nodes()) Die("node count depends on the scope", "");
  }

  // 3. An input_map built from inputs the graph really has, plus frame names and a
  //    prefix taken from the input (often invalid: must be rejected cleanly).
  {
    fastmeta::RewriteOptions o;
    o.threads = 1;
    bool have_data = false, have_control = false;
    for (size_t i = 0; i < first->num_nodes() && !(have_data && have_control); ++i) {
      const auto& e = first->node(i);
      const fastmeta::Edge* edges = first->edges(i);
      for (uint32_t k = 0; k < e.edge_count; ++k) {
        if (edges[k].src < 0) continue;
        std::string src(first->name(static_cast<size_t>(edges[k].src)));
        if (edges[k].index < 0 && !have_control) {
          o.input_map.emplace_back("^" + src, "^ext_ctl");
          have_control = true;
        } else if (edges[k].index >= 0 && !have_data) {
          o.input_map.emplace_back(src + ":" + std::to_string(edges[k].index), "ext:3");
          have_data = true;
        }
      }
    }
    if (first->num_nodes() > 0) o.frame_names.emplace_back("p/" + std::string(first->name(0)), "frame");
    o.prefix = size > 0 ? std::string(data.substr(size - 1)) + "p" : "p";
    if (fastmeta::IsValidNodeName(o.prefix)) o.prefix = "p";
    (void)TryRewrite(data, o);
    o.prefix = "p";
    auto g = TryRewrite(data, o);
    if (!g && (have_data || have_control)) {
      try {
        fastmeta::RewriteMetaGraph(data, o);
      } catch (const fastmeta::InputMapError& e) {
        Die("an input_map of existing inputs was refused", e.what());
      } catch (const fastmeta::Error&) {
      }
    }
    // An unused key is always an error.
    o.input_map.emplace_back("no_such_node_anywhere:0", "x:0");
    try {
      fastmeta::RewriteMetaGraph(data, o);
      Die("an unused input_map key was accepted", "");
    } catch (const fastmeta::Error&) {
    }
  }

  // 4. The import's bulk variable path: pieces of the input read as VariableDefs, and
  //    VariableDefs naming the graph's own nodes (found, so their rows are filled in).
  {
    std::vector<std::string> owned;
    for (size_t i = 0; i < first->num_nodes() && i < 4; ++i) {
      const std::string name(first->name(i));
      fastmeta::wire::Buffer def;
      fastmeta::wire::PutBytes(def, 1, name + ":0");
      fastmeta::wire::PutBytes(def, 2, name);
      fastmeta::wire::PutBytes(def, 3, name + ":" + std::to_string(i));
      fastmeta::wire::PutBytes(def, 6, name + ":00");
      owned.push_back(std::string(def.view()) + std::string(data.substr(0, i)));
    }
    std::vector<std::string_view> defs{data, data.substr(size / 3), data.substr(0, size / 2)};
    for (const std::string& d : owned) defs.push_back(d);
    std::vector<std::string_view> op_types;
    std::vector<std::string> names;
    const auto rows = fastmeta::LookupVariableDefs(*first, defs, "", &op_types, &names);
    if (rows.size() != defs.size() || names.size() != defs.size()) Die("variable rows: wrong count", "");
    for (const fastmeta::VariableDefRow& row : rows) {
      for (int j = 0; j < 4; ++j) {
        if (row.node[j] < 0) {
          if (row.op[j] != -1 || row.output[j] != -1) Die("variable rows: a missing name has an op or output", "");
          continue;
        }
        if (static_cast<size_t>(row.node[j]) >= first->num_nodes()) Die("variable rows: node out of range", "");
        if (row.op[j] < 0 || static_cast<size_t>(row.op[j]) >= op_types.size() ||
            op_types[static_cast<size_t>(row.op[j])] != first->op(static_cast<size_t>(row.node[j]))) {
          Die("variable rows: wrong op type", "");
        }
      }
      if (!(row.flags & fastmeta::VariableDefRow::kParsed) && row.flags != 0) Die("variable rows: flags unparsed", "");
    }
    // The same defs twice, deduplicated (in slices of 2): each distinct one is a row
    // equal to its row above.
    std::vector<std::string_view> twice(defs);
    twice.insert(twice.end(), defs.begin(), defs.end());
    const auto distinct = fastmeta::LookupDistinctVariableDefs(*first, twice, "", 2);
    if (distinct.row_of.size() != twice.size() || distinct.first.size() != distinct.rows.size()) {
      Die("distinct variable rows: wrong count", "");
    }
    for (size_t k = 0; k < twice.size(); ++k) {
      const auto r = static_cast<size_t>(distinct.row_of[k]);
      if (r >= distinct.rows.size() || twice[static_cast<size_t>(distinct.first[r])] != twice[k]) {
        Die("distinct variable rows: a def maps to another", "");
      }
      const fastmeta::VariableDefRow& a = distinct.rows[r];
      const fastmeta::VariableDefRow& b = rows[k % defs.size()];
      for (int j = 0; j < 4; ++j) {
        if (a.node[j] != b.node[j] || (a.op[j] < 0) != (b.op[j] < 0) ||
            (a.op[j] >= 0 &&
             distinct.op_types[static_cast<size_t>(a.op[j])] != op_types[static_cast<size_t>(b.op[j])])) {
          Die("distinct variable rows: a row differs", "");
        }
      }
      if (a.flags != b.flags) Die("distinct variable rows: flags differ", "");
    }
  }

  // 5. A collection's values read straight from the bytes (the import's variable
  //    collections): views inside the input, or false; never a crash. Looked up during
  //    the rewrite, they are the rows of the lookups on the finished graph.
  {
    fastmeta::RewriteOptions o;
    o.variable_collections = {"variables", "trainable_variables"};
    auto g = TryRewrite(data, o);
    if (g && g->variables() != nullptr) {
      const auto* v = g->variables();
      const auto after = fastmeta::LookupDistinctVariableDefs(*g, v->defs, "");
      if (after.rows.size() != v->rows.rows.size() || after.row_of != v->rows.row_of)
        Die("variables on the way: rows", "");
      for (size_t r = 0; r < after.rows.size(); ++r) {
        for (int j = 0; j < 4; ++j) {
          const int64_t a = after.rows[r].op[j], b = v->rows.rows[r].op[j];
          if (after.rows[r].node[j] != v->rows.rows[r].node[j] || (a < 0) != (b < 0) ||
              (a >= 0 && after.op_types[static_cast<size_t>(a)] != v->rows.op_types[static_cast<size_t>(b)])) {
            Die("variables on the way: a row differs", "");
          }
        }
      }
    }
  }
  {
    const std::vector<std::string_view> keys{"variables", "", data.substr(0, 3)};
    std::vector<std::vector<std::string_view>> lists;
    const bool ok = fastmeta::CollectionBytesLists(data, keys, &lists);
    if (lists.size() != keys.size()) Die("collection values: not one list per key", "");
    for (const auto& values : lists) {
      if (!ok && !values.empty()) Die("collection values: values with false", "");
      for (std::string_view v : values) {
        if (v.data() < data.data() || v.data() + v.size() > data.data() + data.size()) {
          Die("collection values: a view outside the input", "");
        }
      }
    }
  }
}

}  // namespace fastmeta_fuzz
