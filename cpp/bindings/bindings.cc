// The only file that knows about Python: adapts fastmeta's C++ core to pybind11.
// Bytes and buffers go in, bytes and plain values come out; no protobuf objects cross.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fastmeta/checkpoint.h"
#include "fastmeta/errors.h"
#include "fastmeta/export.h"
#include "fastmeta/mapped_file.h"
#include "fastmeta/rewriter.h"
#include "fastmeta/text_format.h"
#include "fastmeta/variable_defs.h"

namespace py = pybind11;

namespace fastmeta_python {

using fastmeta::RewriteOptions;
using fastmeta::RewrittenGraph;
// export_nodes' rule: (op type, outputs, missing, output args: (number_attr, type_list_attr, type_attr)).
using ExportRuleTuple =
    std::tuple<std::string, int32_t, int, std::vector<std::tuple<std::string, std::string, std::string>>>;

// The MappedFile whose bytes `b` are: itself, or what a memoryview of one (a slice) is
// of; null for any other buffer.
const fastmeta::MappedFile* MappedFileOf(const py::handle& b) {
  py::handle exporter = b;
  if (PyMemoryView_Check(b.ptr()) && PyMemoryView_GET_BUFFER(b.ptr())->obj != nullptr) {
    exporter = PyMemoryView_GET_BUFFER(b.ptr())->obj;
  }
  return py::isinstance<fastmeta::MappedFile>(exporter) ? &py::cast<const fastmeta::MappedFile&>(exporter) : nullptr;
}

// A view of any C-contiguous buffer. The buffer_info must be created and released
// with the GIL held; the view stays valid while the caller keeps the object alive.
struct BufferView {
  explicit BufferView(const py::buffer& b) : info(b.request()), file(MappedFileOf(b)) {
    if (info.ndim > 1 || (info.ndim == 1 && info.strides[0] != info.itemsize)) {
      throw py::type_error("expected a contiguous bytes-like object");
    }
  }
  std::string_view view() const {
    return std::string_view(static_cast<const char*>(info.ptr), static_cast<size_t>(info.size * info.itemsize));
  }
  py::buffer_info info;
  // The mapped file the bytes are of, if any (kept alive by `info`): see Checked.
  const fastmeta::MappedFile* file;
};

// f(), then the mapped files' check: a result computed from a file that changed while
// it was read is never returned, nor the error the zeros of a truncated one made.
template <typename F>
auto Checked(std::initializer_list<const fastmeta::MappedFile*> files, F&& f) {
  auto check = [&] {
    for (const fastmeta::MappedFile* file : files) {
      if (file != nullptr) file->CheckUnchanged();
    }
  };
  try {
    auto result = f();
    check();
    return result;
  } catch (const fastmeta::FileChangedError&) {
    throw;
  } catch (...) {
    check();
    throw;
  }
}

RewriteOptions MakeOptions(const std::string& prefix, bool clear_devices,
                           const std::vector<std::pair<std::string, std::string>>& input_map,
                           const std::vector<const RewrittenGraph*>& existing,
                           const std::vector<std::string>& existing_names, bool add_default_attrs,
                           const std::vector<std::pair<std::string, std::string>>& frame_names, unsigned threads,
                           bool keep_output_shapes, bool check_signatures, bool keep_input_spelling,
                           bool collect_output_shapes, bool check_types, const std::vector<int>& input_map_dtypes,
                           std::shared_ptr<fastmeta::NameSet>& names_holder) {
  RewriteOptions options;
  options.prefix = prefix;
  options.clear_devices = clear_devices;
  options.input_map = input_map;
  options.add_default_attrs = add_default_attrs;
  options.frame_names = frame_names;
  options.threads = threads;
  options.keep_output_shapes = keep_output_shapes;
  options.check_signatures = check_signatures;
  options.check_types = check_types;
  options.input_map_dtypes = input_map_dtypes;
  options.keep_input_spelling = keep_input_spelling;
  options.collect_output_shapes = collect_output_shapes;
  for (const RewrittenGraph* g : existing) options.existing.push_back(g);
  if (!existing_names.empty()) {
    names_holder = std::make_shared<fastmeta::NameSet>();
    for (const std::string& n : existing_names) names_holder->Add(n);
    options.existing.push_back(names_holder.get());
  }
  return options;
}

py::bytes Bytes(std::string_view s) { return py::bytes(s.data(), s.size()); }

// Error messages quote names and keys from the input, which need not be UTF-8:
// never let a message fail to convert (that would replace the typed error).
py::str Message(std::string_view s) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "backslashreplace");
  if (!o) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(o);
}
py::str Str(std::string_view s) { return py::str(s.data(), s.size()); }

void CheckIndex(const RewrittenGraph& g, int64_t i) {
  if (i < 0 || static_cast<size_t>(i) >= g.num_nodes()) throw py::index_error("node index out of range");
}

// A read-only, one-dimensional byte buffer over [data, data + size), for def_buffer.
py::buffer_info ReadOnlyBytes(const char* data, size_t size) {
  return py::buffer_info(const_cast<char*>(data), 1, py::format_descriptor<unsigned char>::format(), 1,
                         {static_cast<py::ssize_t>(size)}, {1}, /*readonly=*/true);
}

// Memory a C++ container owns, lent to Python as a read-only byte buffer (np.frombuffer
// keeps this object alive): large results go out without a copy into a bytes object.
struct OwnedBuffer {
  std::shared_ptr<void> owner;
  const char* data = nullptr;
  size_t size = 0;
};

template <typename T>
py::object Owned(std::vector<T>&& v) {
  auto held = std::make_shared<std::vector<T>>(std::move(v));
  const auto* data = reinterpret_cast<const char*>(held->data());
  const size_t size = held->size() * sizeof(T);
  return py::cast(OwnedBuffer{std::move(held), data, size});
}

// The rows of distinct VariableDefs for Python: (rows: native int64, 15 columns, see
// fastmeta::VariableDefRow, an OwnedBuffer; the op types the rows index; the prefixed
// variable names, UTF-8 back to back (bytes), and their int64 offsets, one more than the
// rows (an OwnedBuffer); the row of each def, native int32 (an OwnedBuffer); {row: def
// bytes} for the rows whose def has a SaveSliceInfoDef, which the caller parses).
py::tuple VariableRows(fastmeta::DistinctVariableDefs&& found, const std::vector<std::string_view>& defs) {
  py::list types;
  for (std::string_view op : found.op_types) types.append(Str(op));
  const py::bytes names(found.names);
  py::dict slice_defs;
  for (size_t r = 0; r < found.rows.size(); ++r) {
    if (found.rows[r].flags & fastmeta::VariableDefRow::kSliceInfo) {
      slice_defs[py::int_(r)] = Bytes(defs[static_cast<size_t>(found.first[r])]);
    }
  }
  static_assert(sizeof(fastmeta::VariableDefRow) == 15 * sizeof(int64_t), "a row is 15 int64 columns");
  return py::make_tuple(Owned(std::move(found.rows)), types, names, Owned(std::move(found.name_offsets)),
                        Owned(std::move(found.row_of)), slice_defs);
}

}  // namespace fastmeta_python

// ---- checkpoint helpers (owned by the checkpoint section below) ----
namespace fastmeta_checkpoint {

// The Python class C++ CheckpointErrors become; fastmeta.checkpoint installs its own.
py::object& CheckpointErrorClass() {
  static py::object* cls = new py::object();
  return *cls;
}

// Tensor names: str (UTF-8) or bytes.
std::string KeyArg(const py::handle& h) {
  if (py::isinstance<py::bytes>(h)) return std::string(py::reinterpret_borrow<py::bytes>(h));
  if (py::isinstance<py::str>(h)) {
    py::object b = py::reinterpret_steal<py::object>(PyUnicode_AsEncodedString(h.ptr(), "utf-8", "surrogateescape"));
    if (!b) throw py::error_already_set();
    return std::string(py::reinterpret_borrow<py::bytes>(b));
  }
  throw py::type_error("tensor name must be str or bytes");
}

py::str KeyStr(const std::string& k) {
  PyObject* o = PyUnicode_DecodeUTF8(k.data(), static_cast<Py_ssize_t>(k.size()), "surrogateescape");
  if (!o) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(o);
}

// A BundleEntryProto as a dict; "slices" (a partitioned tensor's, as lists of (start,
// length)) only `with_slices`: a summary of every entry holds their count alone, so that
// opening an index costs no Python object per stored extent.
py::dict EntryDict(const fastmeta::BundleEntry& e, bool with_slices = true) {
  py::dict d;
  d["dtype"] = e.dtype;
  d["dtype_name"] = fastmeta::dtype::Name(e.dtype);
  d["shape"] = py::tuple(py::cast(e.shape));
  d["unknown_rank"] = e.unknown_rank;
  d["shard_id"] = e.shard_id;
  d["offset"] = e.offset;
  d["size"] = e.size;
  d["crc32c"] = e.crc32c;
  d["num_slices"] = e.slices.size();
  if (!with_slices) return d;
  py::list slices;
  for (const auto& s : e.slices) {
    py::list ext;
    for (const auto& x : s) ext.append(py::make_tuple(x.start, x.length));
    slices.append(py::tuple(ext));
  }
  d["slices"] = slices;
  return d;
}

// A string tensor's elements as a list of bytes.
py::object BytesList(const std::vector<std::string>& strs) {
  py::list out(strs.size());
  for (size_t i = 0; i < strs.size(); ++i) out[i] = py::bytes(strs[i]);
  return std::move(out);
}

// A writable C-contiguous buffer (read_into's target), held (exported) while the
// returned info lives: a bytearray cannot be resized under a read with the GIL released.
py::buffer_info WritableInfo(const py::buffer& out) {
  py::buffer_info info = out.request(/*writable=*/true);
  py::ssize_t stride = info.itemsize;
  for (size_t d = info.shape.size(); d-- > 0;) {
    if (info.shape[d] > 1 && info.strides[d] != stride)
      throw py::type_error("read_into: the buffer is not C-contiguous");
    stride *= info.shape[d];
  }
  return info;
}

fastmeta::TensorSlice SliceArg(const py::handle& h) {
  fastmeta::TensorSlice s;
  for (const py::handle& x : h) {
    auto t = py::cast<std::pair<int64_t, int64_t>>(x);
    s.push_back({t.first, t.second});
  }
  return s;
}

py::list SliceList(const fastmeta::TensorSlice& s) {
  py::list ext;
  for (const auto& x : s) ext.append(py::make_tuple(x.start, x.length));
  return ext;
}

// A V1 tensor as a dict shaped like EntryDict's: its full dtype and shape; "slices"
// lists its slices unless it is stored whole; "shard_id" the file holding its first
// slice; "parts" every (slice, file). (Nothing is read: what its slices store is
// SliceReader::StoredBytes.) "slices" and "parts" only `with_slices`, as EntryDict's.
py::dict SliceTensorDict(const fastmeta::SliceTensor& t, bool with_slices = true) {
  py::dict d;
  d["dtype"] = t.dtype;
  d["dtype_name"] = fastmeta::dtype::Name(t.dtype);
  d["shape"] = py::tuple(py::cast(t.shape));
  d["unknown_rank"] = false;
  d["shard_id"] = t.parts.empty() ? 0 : t.parts[0].file;
  const bool whole = t.parts.size() == 1 && std::all_of(t.parts[0].slice.begin(), t.parts[0].slice.end(),
                                                        [](const fastmeta::SliceExtent& x) { return x.length == -1; });
  d["num_slices"] = whole ? 0 : t.parts.size();
  if (!with_slices) return d;
  py::list parts;
  for (const auto& part : t.parts) parts.append(py::make_tuple(py::tuple(SliceList(part.slice)), part.file));
  py::list slices;
  if (!whole) {
    for (const auto& part : t.parts) slices.append(py::tuple(SliceList(part.slice)));
  }
  d["slices"] = slices;
  d["parts"] = parts;
  return d;
}

// The tensors a writer is given from Python: [(name, dtype enum, shape, data[,
// full_shape, slice[, shard]])], data a contiguous buffer or, for DT_STRING, a list of
// bytes. The entries view the Python objects, held here.
struct WriteEntries {
  explicit WriteEntries(const py::list& items) {
    entries.reserve(items.size());
    for (const py::handle& item : items) {
      py::tuple t = py::reinterpret_borrow<py::tuple>(item);
      if (t.size() != 4 && t.size() != 6 && t.size() != 7) {
        throw py::value_error("entry must be (name, dtype, shape, data[, full_shape, slice[, shard]])");
      }
      fastmeta::WriteEntry w;
      w.key = KeyArg(t[0]);
      w.dtype = py::cast<int32_t>(t[1]);
      w.shape = py::cast<std::vector<int64_t>>(t[2]);
      if (w.dtype == fastmeta::dtype::kString) {
        for (const py::handle& s : t[3]) {
          if (!py::isinstance<py::bytes>(s)) throw py::type_error("string tensor elements must be bytes");
          char* p = nullptr;
          Py_ssize_t n = 0;
          PyBytes_AsStringAndSize(s.ptr(), &p, &n);
          w.strings.emplace_back(p, static_cast<size_t>(n));
          keep.push_back(py::reinterpret_borrow<py::object>(s));
        }
      } else {
        buffers.push_back(std::make_unique<fastmeta_python::BufferView>(py::reinterpret_borrow<py::buffer>(t[3])));
        w.data = buffers.back()->view();
      }
      if (t.size() >= 6 && !t[5].is_none()) {
        w.full_shape = py::cast<std::vector<int64_t>>(t[4]);
        w.slice = SliceArg(t[5]);
      }
      if (t.size() == 7) w.shard = py::cast<int32_t>(t[6]);
      entries.push_back(std::move(w));
    }
  }
  std::vector<fastmeta::WriteEntry> entries;
  std::vector<std::unique_ptr<fastmeta_python::BufferView>> buffers;
  std::vector<py::object> keep;
};

}  // namespace fastmeta_checkpoint
// ---- end checkpoint helpers ----

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastmeta's C++ core (private; use the fastmeta package)";
  // ---- rewriter ----
  using namespace fastmeta_python;
  // Errors map onto fastmeta.errors' classes (which also derive from the matching builtins).
  py::module_ errors = py::module_::import("fastmeta.errors");
  static py::object parse_error = errors.attr("ParseError");
  static py::object graph_error = errors.attr("GraphError");
  static py::object input_map_error = errors.attr("InputMapError");
  static py::object size_error = errors.attr("SizeLimitError");
  static py::object not_found_error = errors.attr("MetaGraphNotFoundError");
  static py::object file_error = errors.attr("FileError");
  static py::object file_changed_error = errors.attr("FileChangedError");
  static py::object base_error = errors.attr("Error");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const fastmeta::ParseError& e) {
      py::set_error(parse_error, py::make_tuple(Message(e.what()), e.offset()));
    } catch (const fastmeta::GraphError& e) {
      py::set_error(graph_error, py::make_tuple(Message(e.what()), Message(e.node())));
    } catch (const fastmeta::InputMapError& e) {
      py::set_error(input_map_error, Message(e.what()));
    } catch (const fastmeta::SizeLimitError& e) {
      py::set_error(size_error, Message(e.what()));
    } catch (const fastmeta::FileChangedError& e) {
      py::set_error(file_changed_error, py::make_tuple(Message(e.what()), Message(e.path())));
    } catch (const fastmeta::FileError& e) {
      py::set_error(e.missing() ? not_found_error : file_error, py::make_tuple(Message(e.what()), Message(e.path())));
    } catch (const fastmeta::Error& e) {
      py::set_error(base_error, Message(e.what()));
    }
  });

  py::class_<RewrittenGraph, std::shared_ptr<RewrittenGraph>>(m, "RewrittenGraph")
      .def_property_readonly("num_nodes", &RewrittenGraph::num_nodes)
      .def_property_readonly("prefix", [](const RewrittenGraph& g) { return Str(g.prefix()); })
      .def_property_readonly("class_not_list", &RewrittenGraph::class_not_list)
      .def("graph_def",
           [](const RewrittenGraph& g) {
             // One copy, from the chunks straight into the new bytes object.
             PyObject* obj = PyBytes_FromStringAndSize(nullptr, static_cast<py::ssize_t>(g.graph_def_size()));
             if (obj == nullptr) throw py::error_already_set();
             char* out = PyBytes_AsString(obj);
             {
               py::gil_scoped_release release;
               g.CopyGraphDef(out);
             }
             return py::reinterpret_steal<py::bytes>(obj);
           })
      .def("graph_def_size", &RewrittenGraph::graph_def_size)
      .def("meta_rest", [](const RewrittenGraph& g) { return Bytes(g.meta_rest()); })
      .def("op_list", [](const RewrittenGraph& g) { return Bytes(g.op_list()); })
      .def("graph_tail", [](const RewrittenGraph& g) { return Bytes(g.graph_tail()); })
      .def("find", &RewrittenGraph::Find, py::arg("name"))
      .def(
          "variable_rows",
          [](const RewrittenGraph& g, const py::list& defs, const std::string& prefix) {
            // Serialized VariableDefs (bytes) -> the rows of the distinct ones: see VariableRows.
            // The bytes objects stay alive in `defs` while released.
            std::vector<std::string_view> views;
            views.reserve(defs.size());
            for (py::handle item : defs) {
              if (!PyBytes_Check(item.ptr())) throw py::type_error("variable_rows: every VariableDef must be bytes");
              views.emplace_back(PyBytes_AS_STRING(item.ptr()), static_cast<size_t>(PyBytes_GET_SIZE(item.ptr())));
            }
            fastmeta::DistinctVariableDefs found;
            {
              py::gil_scoped_release release;
              found = fastmeta::LookupDistinctVariableDefs(g, views, prefix);
            }
            return VariableRows(std::move(found), views);
          },
          py::arg("defs"), py::arg("prefix"))
      .def(
          "variable_rows_of",
          [](RewrittenGraph& g, const std::vector<std::string>& keys, const std::string& prefix) -> py::object {
            // variable_rows for the VariableDefs of collections `keys` (one after the
            // other), read from the MetaGraphDef's collection_def here: no bytes object
            // per value. Adds each key's count; None when a key is absent or not a bytes_list.
            // Looked up during the rewrite (RewriteOptions::variable_collections)? Handed
            // over once (the import's one call), then freed.
            if (const RewrittenGraph::Variables* v = g.variables();
                v != nullptr && !v->handed_over && v->keys == keys && v->prefix == prefix) {
              const std::unique_ptr<RewrittenGraph::Variables> taken = g.TakeVariableRows();
              return py::make_tuple(VariableRows(std::move(taken->rows), taken->defs), py::cast(taken->counts));
            }
            std::vector<std::string_view> views;
            std::vector<size_t> counts;
            fastmeta::DistinctVariableDefs found;
            bool ok = true;
            {
              py::gil_scoped_release release;
              std::vector<std::vector<std::string_view>> values;
              ok = fastmeta::CollectionBytesLists(g.meta_rest(),
                                                  std::vector<std::string_view>(keys.begin(), keys.end()), &values);
              for (const auto& v : values) {
                views.insert(views.end(), v.begin(), v.end());
                counts.push_back(v.size());
              }
              if (ok) found = fastmeta::LookupDistinctVariableDefs(g, views, prefix);
            }
            if (!ok) return py::none();
            return py::make_tuple(VariableRows(std::move(found), views), py::cast(counts));
          },
          py::arg("keys"), py::arg("prefix"))
      .def("variables_looked_up",
           [](const RewrittenGraph& g) -> py::object {
             // The variable collections the rewrite looked up (RewriteOptions::variable_collections).
             if (g.variables() == nullptr) return py::none();
             return py::cast(g.variables()->keys);
           })
      .def("has_name_folded", &RewrittenGraph::HasNameFolded, py::arg("lower"))
      .def("has_name", &RewrittenGraph::HasName, py::arg("name"))
      .def("has_prefix", &RewrittenGraph::HasPrefix, py::arg("name"))
      .def(
          "name",
          [](const RewrittenGraph& g, int64_t i) {
            CheckIndex(g, i);
            return Str(g.name(static_cast<size_t>(i)));
          },
          py::arg("index"))
      .def(
          "op",
          [](const RewrittenGraph& g, int64_t i) {
            CheckIndex(g, i);
            return Str(g.op(static_cast<size_t>(i)));
          },
          py::arg("index"))
      .def(
          "device",
          [](const RewrittenGraph& g, int64_t i) {
            CheckIndex(g, i);
            return Str(g.device(static_cast<size_t>(i)));
          },
          py::arg("index"))
      .def(
          "node_def",
          [](const RewrittenGraph& g, int64_t i) {
            CheckIndex(g, i);
            return Bytes(g.node_def(static_cast<size_t>(i)));
          },
          py::arg("index"))
      .def(
          "num_data_inputs",
          [](const RewrittenGraph& g, int64_t i) {
            CheckIndex(g, i);
            return g.node(static_cast<size_t>(i)).num_data_inputs;
          },
          py::arg("index"))
      .def(
          "edges",
          [](const RewrittenGraph& g, int64_t i) {
            CheckIndex(g, i);
            const auto& e = g.node(static_cast<size_t>(i));
            py::list out(e.edge_count);
            const fastmeta::Edge* edges = g.edges(static_cast<size_t>(i));
            for (uint32_t k = 0; k < e.edge_count; ++k) out[k] = py::make_tuple(edges[k].src, edges[k].index);
            return out;
          },
          py::arg("index"),
          "Input edges (src, output index); src < 0 is input_map target -1-src; index -1 is a control input.")
      .def(
          "consumers",
          [](const RewrittenGraph& g, int64_t src, int64_t index) {
            const auto k = static_cast<int64_t>(g.external().size());
            if (src >= static_cast<int64_t>(g.num_nodes()) || src < -k) throw py::index_error("source out of range");
            if (index < -1 || index > INT32_MAX) throw py::index_error("output index out of range");
            std::vector<uint32_t> out;
            {
              py::gil_scoped_release release;  // the first call builds the reverse index
              out = g.Consumers(static_cast<int32_t>(src), static_cast<int32_t>(index));
            }
            return out;
          },
          py::arg("src"), py::arg("index"),
          "Nodes with an edge from output `index` (-1: control) of node `src` (< 0: external -1-src), one per edge, in "
          "order.")
      .def(
          "output_shapes",
          [](const RewrittenGraph& g, int64_t i) {
            CheckIndex(g, i);
            return Bytes(g.output_shapes(static_cast<size_t>(i)));
          },
          py::arg("index"),
          "The node's dropped `_output_shapes` entry (a serialized NodeDef holding that attr), or b'' (none, or not "
          "collected).")
      .def(
          "export_nodes",
          [](const RewrittenGraph& g, const std::vector<ExportRuleTuple>& rules, bool clear_devices,
             bool leave_external,
             const std::vector<std::tuple<std::string, std::string, std::vector<py::bytes>>>& strip, unsigned threads,
             const fastmeta::WireSchema* check, uint32_t check_message) {
            std::vector<std::pair<std::string, fastmeta::ExportOpRule>> core_rules;
            for (const auto& [op, outputs, missing, args] : rules) {
              if (outputs < fastmeta::ExportOpRule::kOutputsByAttrs || missing < 0 || missing > 2 ||
                  (outputs != fastmeta::ExportOpRule::kOutputsByAttrs && !args.empty())) {
                throw py::value_error("bad export rule for op '" + op + "'");
              }
              fastmeta::ExportOpRule rule;
              rule.outputs = outputs;
              rule.missing = static_cast<fastmeta::ExportOpRule::Missing>(missing);
              for (const auto& [number_attr, type_list_attr, type_attr] : args) {
                rule.output_args.push_back({number_attr, type_list_attr, type_attr});
              }
              core_rules.emplace_back(op, rule);
            }
            fastmeta::ExportOptions options;
            options.clear_devices = clear_devices;
            options.leave_external = leave_external;
            for (const auto& [op, attr, values] : strip) {
              fastmeta::ExportOptions::Strip s{op, attr, {}};
              for (const py::bytes& v : values) s.values.emplace_back(v);
              options.strip.push_back(std::move(s));
            }
            options.threads = threads;
            options.check = check;
            options.check_message = check_message;
            fastmeta::ExportedNodes out;
            {
              py::gil_scoped_release release;
              out = fastmeta::ExportNodes(g, core_rules, options);
            }
            py::list chunks;
            for (fastmeta::wire::Buffer& chunk : out.chunks) {
              auto held = std::make_shared<fastmeta::wire::Buffer>(std::move(chunk));
              const char* data = held->data();
              const size_t size = held->size();
              chunks.append(py::cast(OwnedBuffer{std::move(held), data, size}));
            }
            return py::make_tuple(chunks, out.left, out.left_at, out.surely_parses);
          },
          py::arg("rules"), py::arg("clear_devices") = false, py::arg("leave_external") = false,
          py::arg("strip") = std::vector<std::tuple<std::string, std::string, std::vector<py::bytes>>>(),
          py::arg("threads") = 0, py::arg("check") = nullptr, py::arg("check_message") = 0,
          "Every node's GraphDef.node field with its `_output_shapes` attr as export_meta_graph writes it "
          "(rules: (op type, outputs: n, -1 not known, -2 the caller's, -3 by the node's attrs; missing shapes: 0 "
          "unknown, 1 first input's, 2 the caller's; for -3 the OpDef's output args as (number_attr, type_list_attr, "
          "type_attr: '' when the arg's type is fixed), else [])); clear_devices: devices dropped; leave_external: "
          "nodes with an input "
          "from outside left; strip: (op type, attr, values equal to its default) entries dropped. Returns "
          "(bytes, OwnedBuffers to be joined; the nodes left to the caller; where each goes in bytes; with check, a "
          "WireSchema, whether the bytes surely parse as its message check_message: false, not sure). "
          "threads: worker threads (0: all cores), the output the same for any.")
      .def(
          "attr_values",
          [](const RewrittenGraph& g, const std::vector<std::pair<std::string, std::vector<std::string>>>& wanted) {
            std::vector<fastmeta::AttrValuesOf> found;
            {
              py::gil_scoped_release release;
              found = fastmeta::AttrValues(g, wanted);
            }
            py::list out;
            for (const auto& a : found) {
              py::list values;
              for (std::string_view v : a.values) values.append(Bytes(v));
              out.append(py::make_tuple(Str(a.op), Str(a.attr), values));
            }
            return out;
          },
          py::arg("wanted"),
          "For each (op type, attr names): (op type, attr name, the distinct serialized values its nodes hold).")
      .def("external", [](const RewrittenGraph& g) { return g.external(); })
      .def(
          "renamed",
          [](const RewrittenGraph& g) {
            py::list out;
            for (const auto& [index, name] : g.renamed()) out.append(py::make_tuple(index, Str(name)));
            return out;
          },
          "(index, name in the file) of each node renamed to avoid a clash with the target graph.")
      .def("names",
           [](const RewrittenGraph& g) {
             py::list out(g.num_nodes());
             for (size_t i = 0; i < g.num_nodes(); ++i) out[i] = Str(g.name(i));
             return out;
           })
      .def("op_histogram",
           [](const RewrittenGraph& g) {
             std::unordered_map<std::string_view, size_t> counts;
             {
               py::gil_scoped_release release;
               for (size_t i = 0; i < g.num_nodes(); ++i) ++counts[g.op(i)];
             }
             py::dict out;
             for (const auto& [k, v] : counts) out[Str(k)] = v;
             return out;
           })
      .def("device_histogram", [](const RewrittenGraph& g) {
        std::unordered_map<std::string_view, size_t> counts;
        {
          py::gil_scoped_release release;
          for (size_t i = 0; i < g.num_nodes(); ++i) ++counts[g.device(i)];
        }
        py::dict out;
        for (const auto& [k, v] : counts) out[Str(k)] = v;
        return out;
      });

  py::class_<fastmeta::OpRegistry, std::shared_ptr<fastmeta::OpRegistry>>(
      m, "OpRegistry", "OpDefs that take precedence over a file's stripped_op_list (TensorFlow's op registry).")
      .def(py::init([](const py::buffer& op_list) {
             BufferView view(op_list);
             return std::make_shared<fastmeta::OpRegistry>(std::string(view.view()));
           }),
           py::arg("op_list"), "Index a serialized OpList by op name (copied).")
      .def("__len__", &fastmeta::OpRegistry::size)
      .def(
          "find", [](const fastmeta::OpRegistry& r, const std::string& name) { return Bytes(r.Find(name)); },
          py::arg("name"), "The serialized OpDef of op `name` (empty when there is none).");

  auto rewrite_doc = "Rewrite a serialized MetaGraphDef under an import scope; returns a RewrittenGraph.";
  m.def(
      "rewrite_meta_graph",
      [](const py::buffer& data, const std::string& prefix, bool clear_devices,
         const std::vector<std::pair<std::string, std::string>>& input_map,
         const std::vector<const RewrittenGraph*>& existing, const std::vector<std::string>& existing_names,
         bool add_default_attrs, const std::vector<std::pair<std::string, std::string>>& frame_names, unsigned threads,
         bool keep_output_shapes, const std::vector<std::string>& variable_collections,
         const std::string& variable_prefix, bool check_signatures, bool keep_input_spelling,
         bool collect_output_shapes, bool check_types, const std::vector<int>& input_map_dtypes,
         const std::shared_ptr<const fastmeta::OpRegistry>& registry, int depth) {
        BufferView buf(data);
        std::shared_ptr<fastmeta::NameSet> names;
        RewriteOptions options =
            MakeOptions(prefix, clear_devices, input_map, existing, existing_names, add_default_attrs, frame_names,
                        threads, keep_output_shapes, check_signatures, keep_input_spelling, collect_output_shapes,
                        check_types, input_map_dtypes, names);
        options.registry = registry.get();  // (held by the argument until the call returns)
        options.variable_collections = variable_collections;
        options.variable_prefix = variable_prefix;
        options.depth = depth;
        // A mapped fastmeta.MappedFile is a private file mapping: its pages can be dropped
        // once read (not so the memory a read one owns: they would come back as zeros).
        options.release_input_pages =
            py::isinstance<fastmeta::MappedFile>(data) && py::cast<const fastmeta::MappedFile&>(data).mapped();
        std::unique_ptr<RewrittenGraph> result;
        {
          // Safe: only C++ objects (the pinned buffer, options) are touched while released.
          py::gil_scoped_release release;
          result = Checked({buf.file}, [&] { return fastmeta::RewriteMetaGraph(buf.view(), options); });
        }
        return std::shared_ptr<RewrittenGraph>(std::move(result));
      },
      py::arg("data"), py::arg("prefix") = "", py::arg("clear_devices") = false,
      py::arg("input_map") = std::vector<std::pair<std::string, std::string>>(),
      py::arg("existing") = std::vector<const RewrittenGraph*>(),
      py::arg("existing_names") = std::vector<std::string>(), py::arg("add_default_attrs") = true,
      py::arg("frame_names") = std::vector<std::pair<std::string, std::string>>(), py::arg("threads") = 0,
      py::arg("keep_output_shapes") = false, py::arg("variable_collections") = std::vector<std::string>(),
      py::arg("variable_prefix") = "", py::arg("check_signatures") = true, py::arg("keep_input_spelling") = false,
      py::arg("collect_output_shapes") = false, py::arg("check_types") = true,
      py::arg("input_map_dtypes") = std::vector<int>(), py::arg("registry") = py::none(), py::arg("depth") = 0,
      rewrite_doc);
  m.def(
      "rewrite_meta_graph_file",
      [](const std::string& path, const std::string& prefix, bool clear_devices,
         const std::vector<std::pair<std::string, std::string>>& input_map,
         const std::vector<const RewrittenGraph*>& existing, const std::vector<std::string>& existing_names,
         bool add_default_attrs, const std::vector<std::pair<std::string, std::string>>& frame_names, unsigned threads,
         bool keep_output_shapes, const std::vector<std::string>& variable_collections,
         const std::string& variable_prefix, bool check_signatures, bool keep_input_spelling,
         bool collect_output_shapes, bool check_types, const std::vector<int>& input_map_dtypes,
         const std::shared_ptr<const fastmeta::OpRegistry>& registry) {
        std::shared_ptr<fastmeta::NameSet> names;
        RewriteOptions options =
            MakeOptions(prefix, clear_devices, input_map, existing, existing_names, add_default_attrs, frame_names,
                        threads, keep_output_shapes, check_signatures, keep_input_spelling, collect_output_shapes,
                        check_types, input_map_dtypes, names);
        options.registry = registry.get();  // (held by the argument until the call returns)
        options.variable_collections = variable_collections;
        options.variable_prefix = variable_prefix;
        std::unique_ptr<RewrittenGraph> result;
        {
          py::gil_scoped_release release;
          fastmeta::MappedFile file(path);
          options.release_input_pages = file.mapped();
          result = Checked({&file}, [&] { return fastmeta::RewriteMetaGraph(file.data(), options); });
        }
        return std::shared_ptr<RewrittenGraph>(std::move(result));
      },
      py::arg("path"), py::arg("prefix") = "", py::arg("clear_devices") = false,
      py::arg("input_map") = std::vector<std::pair<std::string, std::string>>(),
      py::arg("existing") = std::vector<const RewrittenGraph*>(),
      py::arg("existing_names") = std::vector<std::string>(), py::arg("add_default_attrs") = true,
      py::arg("frame_names") = std::vector<std::pair<std::string, std::string>>(), py::arg("threads") = 0,
      py::arg("keep_output_shapes") = false, py::arg("variable_collections") = std::vector<std::string>(),
      py::arg("variable_prefix") = "", py::arg("check_signatures") = true, py::arg("keep_input_spelling") = false,
      py::arg("collect_output_shapes") = false, py::arg("check_types") = true,
      py::arg("input_map_dtypes") = std::vector<int>(), py::arg("registry") = py::none(),
      "Like rewrite_meta_graph, reading (memory-mapping) the file in C++.");
  m.def(
      "rewrite_graph_def",
      [](const py::buffer& data, const py::buffer& op_list, const std::string& prefix, bool clear_devices,
         const std::vector<std::pair<std::string, std::string>>& input_map,
         const std::vector<const RewrittenGraph*>& existing, const std::vector<std::string>& existing_names,
         bool add_default_attrs, const std::vector<std::pair<std::string, std::string>>& frame_names, unsigned threads,
         bool keep_output_shapes, bool check_signatures, bool keep_input_spelling, bool collect_output_shapes,
         bool check_types, const std::vector<int>& input_map_dtypes,
         const std::shared_ptr<const fastmeta::OpRegistry>& registry) {
        BufferView buf(data);
        BufferView ops(op_list);
        std::shared_ptr<fastmeta::NameSet> names;
        RewriteOptions options =
            MakeOptions(prefix, clear_devices, input_map, existing, existing_names, add_default_attrs, frame_names,
                        threads, keep_output_shapes, check_signatures, keep_input_spelling, collect_output_shapes,
                        check_types, input_map_dtypes, names);
        options.registry = registry.get();  // (held by the argument until the call returns)
        std::unique_ptr<RewrittenGraph> result;
        {
          py::gil_scoped_release release;
          result =
              Checked({buf.file, ops.file}, [&] { return fastmeta::RewriteGraphDef(buf.view(), ops.view(), options); });
        }
        return std::shared_ptr<RewrittenGraph>(std::move(result));
      },
      py::arg("data"), py::arg("op_list"), py::arg("prefix") = "", py::arg("clear_devices") = false,
      py::arg("input_map") = std::vector<std::pair<std::string, std::string>>(),
      py::arg("existing") = std::vector<const RewrittenGraph*>(),
      py::arg("existing_names") = std::vector<std::string>(), py::arg("add_default_attrs") = true,
      py::arg("frame_names") = std::vector<std::pair<std::string, std::string>>(), py::arg("threads") = 0,
      py::arg("keep_output_shapes") = false, py::arg("check_signatures") = true, py::arg("keep_input_spelling") = false,
      py::arg("collect_output_shapes") = false, py::arg("check_types") = true,
      py::arg("input_map_dtypes") = std::vector<int>(), py::arg("registry") = py::none(),
      "Rewrite a bare serialized GraphDef, defaults from a serialized OpList.");
  py::class_<fastmeta::WireSchema>(m, "WireSchema",
                                   "Message types' fields as a parser tells them apart (see export_nodes' check).")
      .def(py::init([](const std::vector<std::vector<std::tuple<uint32_t, int, bool, uint32_t, std::string>>>& messages,
                       std::vector<std::string> names) {
             fastmeta::WireSchema schema;
             schema.message_names = std::move(names);
             for (const auto& fields : messages) {
               auto& out = schema.messages.emplace_back();
               auto& out_names = schema.field_names.emplace_back();
               for (const auto& [number, kind, repeated, message, name] : fields) {
                 // (numbers past 2^16 would make the table large: refused)
                 if (number == 0 || number >= 1u << 16 || kind <= fastmeta::WireSchema::kUnknown ||
                     kind > fastmeta::WireSchema::kOther || message >= messages.size()) {
                   throw py::value_error("bad WireSchema field " + std::to_string(number));
                 }
                 if (out.size() <= number) out.resize(number + 1);
                 out[number] = {static_cast<fastmeta::WireSchema::Kind>(kind), repeated, message};
                 if (out_names.size() <= number) out_names.resize(number + 1);
                 out_names[number] = name;
               }
             }
             return schema;
           }),
           py::arg("messages"), py::arg("names") = std::vector<std::string>(),
           "messages[m]: (field number, kind: 1 varint, 2 fixed64, 3 fixed32, 4 string, 5 bytes, 6 message, 7 "
           "other; repeated; message index; field name) per field; names[m]: message m's name (for errors).")
      .def(
          "surely_parses",
          [](const fastmeta::WireSchema& schema, uint32_t message, const py::buffer& data) {
            const py::buffer_info info = data.request();
            const std::string_view bytes(static_cast<const char*>(info.ptr),
                                         static_cast<size_t>(info.size * info.itemsize));
            py::gil_scoped_release release;
            return fastmeta::SurelyParses(schema, message, bytes);
          },
          py::arg("message"), py::arg("data"),
          "True when `data` surely parses as message `message` with protobuf; false: not sure (protobuf decides).")
      .def(
          "check",
          [](const fastmeta::WireSchema& schema, uint32_t message, const py::buffer& data, int depth) {
            const py::buffer_info info = data.request();
            const std::string_view bytes(static_cast<const char*>(info.ptr),
                                         static_cast<size_t>(info.size * info.itemsize));
            py::gil_scoped_release release;
            fastmeta::CheckParses(schema, message, bytes, depth);
          },
          py::arg("message"), py::arg("data"), py::arg("depth") = 0,
          "Check that `data` parses as message `message` lying `depth` levels below its file's root, as protobuf "
          "reads it: ParseError at the first problem (its offset counted from `data`).");
  py::class_<OwnedBuffer>(m, "OwnedBuffer", py::buffer_protocol(), "Read-only bytes owned by a core result.")
      .def("__len__", [](const OwnedBuffer& b) { return b.size; })
      .def_buffer([](OwnedBuffer& b) { return ReadOnlyBytes(b.data, b.size); });
  py::class_<fastmeta::MappedFile, std::shared_ptr<fastmeta::MappedFile>>(m, "MappedFile", py::buffer_protocol())
      .def(py::init([](const std::string& path) {
             py::gil_scoped_release release;
             return std::make_shared<fastmeta::MappedFile>(path);
           }),
           py::arg("path"), "Memory-map a file read-only (errors as fastmeta exceptions).")
      .def("__len__", &fastmeta::MappedFile::size)
      .def_property_readonly("mapped", &fastmeta::MappedFile::mapped)
      .def_property_readonly("changed", &fastmeta::MappedFile::changed,
                             "Whether the mapped file was truncated or written to since it was mapped.")
      .def("check", &fastmeta::MappedFile::CheckUnchanged,
           "Raise fastmeta.errors.FileChangedError (naming the file) if `changed`: call it once the "
           "bytes have been consumed, before using what was computed from them.")
      .def_buffer([](fastmeta::MappedFile& f) { return ReadOnlyBytes(f.data().data(), f.size()); });
  m.def(
      "meta_graph_rest_ranges",
      [](const py::buffer& data, int depth) {
        BufferView buf(data);
        std::vector<std::pair<size_t, size_t>> ranges;
        {
          py::gil_scoped_release release;
          const std::string_view all = buf.view();
          Checked({buf.file}, [&] {
            for (std::string_view p : fastmeta::MetaGraphRestParts(all, depth)) {
              const size_t begin = static_cast<size_t>(p.data() - all.data());
              if (!ranges.empty() && ranges.back().second == begin)
                ranges.back().second += p.size();
              else
                ranges.emplace_back(begin, begin + p.size());
            }
            return 0;
          });
        }
        return ranges;
      },
      py::arg("data"), py::arg("depth") = 0,
      "The byte ranges [begin, end) of the MetaGraphDef's fields other than graph_def, merged where adjacent "
      "(parsed one after the other, they read as the concatenation does: no copy needed). `depth`: the "
      "MetaGraphDef's nesting depth in its file (1 in a SavedModel), for protobuf's nesting limit.");
  m.def(
      "text_to_binary",
      [](const py::buffer& data, const std::string& schema, const std::string& root, bool strict) -> py::object {
        BufferView buf(data);
        std::optional<std::vector<char>> out;
        {
          py::gil_scoped_release release;
          const auto parsed = fastmeta::text_format::Schema::Parse(schema);
          out = Checked({buf.file},
                        [&] { return fastmeta::text_format::ToBinary(parsed, parsed.Find(root), buf.view(), strict); });
        }
        if (!out) return py::none();
        return Owned(std::move(*out));
      },
      py::arg("data"), py::arg("schema"), py::arg("root"), py::arg("strict") = false,
      "The wire form of text-format `data`, a message `root` of `schema` (fastmeta.reading's description), "
      "or None where protobuf's own text reader must decide (see cpp/include/fastmeta/text_format.h); "
      "`strict`: as protobuf's Parse, not Merge, reads it.");
  m.attr("MAX_MESSAGE_SIZE") = fastmeta::kMaxMessageSize;
  // ---- checkpoint ----
  {
    namespace ck = fastmeta_checkpoint;
    using fastmeta::BundleReader;
    {
      py::object base = py::module_::import("fastmeta.errors").attr("Error");
      py::tuple bases = py::make_tuple(base, py::handle(PyExc_ValueError));
      PyObject* cls = PyErr_NewException("fastmeta._core.CheckpointError", bases.ptr(), nullptr);
      if (!cls) throw py::error_already_set();
      ck::CheckpointErrorClass() = py::reinterpret_steal<py::object>(cls);
      m.attr("CheckpointError") = ck::CheckpointErrorClass();
    }
    // Registered after the rewriter's translator, so it is tried first.
    py::register_exception_translator([](std::exception_ptr p) {
      try {
        if (p) std::rethrow_exception(p);
      } catch (const fastmeta::CheckpointError& e) {
        py::set_error(ck::CheckpointErrorClass(), fastmeta_python::Message(e.what()));
      }
    });
    m.def(
        "_set_checkpoint_error",
        [m](py::object cls) mutable {
          ck::CheckpointErrorClass() = cls;
          m.attr("CheckpointError") = cls;
        },
        py::arg("cls"), "Make C++ CheckpointErrors raise `cls` (installed by fastmeta.checkpoint).");

    py::class_<BundleReader, std::shared_ptr<BundleReader>>(
        m, "BundleReader", "A TensorFlow V2 checkpoint (tensor bundle) opened for reading.")
        .def(py::init([](const std::string& prefix) {
               py::gil_scoped_release release;
               return std::make_shared<BundleReader>(prefix);
             }),
             py::arg("prefix"))
        .def_property_readonly("prefix", &BundleReader::prefix)
        .def_property_readonly("num_shards", [](const BundleReader& r) { return r.header().num_shards; })
        .def_property_readonly("version",
                               [](const BundleReader& r) {
                                 return py::make_tuple(r.header().producer, r.header().min_consumer,
                                                       r.header().bad_consumers);
                               })
        .def(
            "keys",
            [](const BundleReader& r) {
              py::list out;
              for (const auto& k : r.keys()) out.append(py::bytes(k));
              return out;
            },
            "Every stored key (bytes, table order), slice keys included.")
        .def(
            "variable_keys",
            [](const BundleReader& r) {
              py::list out;
              for (const auto& k : r.VariableKeys()) out.append(ck::KeyStr(k));
              return out;
            },
            "User-visible tensor names (str, table order): slice keys of partitioned tensors excluded.")
        .def(
            "contains", [](const BundleReader& r, const py::handle& name) { return r.Contains(ck::KeyArg(name)); },
            py::arg("name"))
        .def(
            "entry",
            [](const BundleReader& r, const py::handle& name) { return ck::EntryDict(r.Entry(ck::KeyArg(name))); },
            py::arg("name"), "The BundleEntryProto of `name` as a dict.")
        .def(
            "entries",
            [](const BundleReader& r) {
              py::dict out;
              for (const auto& k : r.VariableKeys()) out[ck::KeyStr(k)] = ck::EntryDict(r.Entry(k), false);
              return out;
            },
            "{name: entry dict without its slices (their count: num_slices)} for every user-visible tensor.")
        .def(
            "nbytes",
            [](BundleReader& r, const py::handle& name) {
              const std::string key = ck::KeyArg(name);
              py::gil_scoped_release release;
              return r.TensorBytes(key);
            },
            py::arg("name"),
            "The bytes read_into writes for fixed-size tensor `name`, after checking they lie inside "
            "the data files as they are now.")
        .def(
            "read_into",
            [](BundleReader& r, const py::handle& name, const py::buffer& out) {
              const std::string key = ck::KeyArg(name);
              const py::buffer_info info = ck::WritableInfo(out);
              auto* data = static_cast<char*>(info.ptr);
              const auto size = static_cast<size_t>(info.size * info.itemsize);
              // Safe: `out` (held by the caller) pins the buffer; no Python object is touched.
              py::gil_scoped_release release;
              r.ReadInto(key, data, size);
            },
            py::arg("name"), py::arg("out"),
            "Read fixed-size tensor `name` (partitioned ones reassembled), CRC-verified, into the "
            "writable contiguous buffer `out` of nbytes(name) bytes.")
        .def(
            "read",
            [](BundleReader& r, const py::handle& name) -> py::object {
              const std::string key = ck::KeyArg(name);
              if (r.Entry(key).dtype == fastmeta::dtype::kString) {
                std::vector<std::string> strs;
                {
                  py::gil_scoped_release release;
                  strs = r.ReadAssembledStrings(key);
                }
                return ck::BytesList(strs);
              }
              std::string bytes;
              {
                py::gil_scoped_release release;
                bytes = r.ReadAssembled(key);
              }
              return py::bytes(bytes);
            },
            py::arg("name"),
            "The tensor's row-major bytes (bytes, the reader's own copy), CRC-verified; a list of bytes "
            "for string tensors. Partitioned tensors are reassembled from their slices.");

    using fastmeta::SliceReader;
    py::class_<SliceReader, std::shared_ptr<SliceReader>>(
        m, "SliceReader", "A TensorFlow V1 checkpoint (SaveSlices' tensor-slice tables) opened for reading.")
        .def(py::init([](const std::vector<std::string>& files) {
               py::gil_scoped_release release;
               return std::make_shared<SliceReader>(files);
             }),
             py::arg("files"))
        .def_property_readonly("files",
                               [](const SliceReader& r) {
                                 py::list out;
                                 for (const auto& f : r.files()) out.append(py::bytes(f));
                                 return out;
                               })
        .def_property_readonly("num_shards", [](const SliceReader& r) { return r.files().size(); })
        .def(
            "contains", [](const SliceReader& r, const py::handle& name) { return r.Contains(ck::KeyArg(name)); },
            py::arg("name"))
        .def(
            "entry",
            [](const SliceReader& r, const py::handle& name) {
              return ck::SliceTensorDict(r.Tensor(ck::KeyArg(name)));
            },
            py::arg("name"), "Tensor `name`'s dtype, full shape and slices as a dict.")
        .def(
            "entries",
            [](const SliceReader& r) {
              py::dict out;
              for (const auto& k : r.names()) out[ck::KeyStr(k)] = ck::SliceTensorDict(r.Tensor(k), false);
              return out;
            },
            "{name: entry dict without slices and parts (num_slices: their count)} for every tensor "
            "(sorted by name).")
        .def(
            "nbytes",
            [](const SliceReader& r, const py::handle& name) {
              const std::string key = ck::KeyArg(name);
              py::gil_scoped_release release;
              return r.TensorBytes(key);
            },
            py::arg("name"),
            "The bytes read_array returns for fixed-size tensor `name`, after checking its slices cover "
            "it and store enough data to fill it.")
        .def(
            "read_array",
            [](const SliceReader& r, const py::handle& name) -> py::object {
              const std::string key = ck::KeyArg(name);
              py::object out;
              {
                py::gil_scoped_release release;
                r.ReadWith(key, [&](size_t bytes) {
                  py::gil_scoped_acquire acquire;
                  out = py::reinterpret_steal<py::object>(
                      PyByteArray_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(bytes)));
                  if (!out) throw py::error_already_set();
                  return PyByteArray_AsString(out.ptr());
                });
              }
              return out;
            },
            py::arg("name"),
            "Fixed-size tensor `name` as a new bytearray of its row-major bytes, its slices' blocks "
            "read once (allocated only once they are known to fill it).")
        .def(
            "stored_bytes",
            [](const SliceReader& r, const py::handle& name) {
              const std::string key = ck::KeyArg(name);
              py::gil_scoped_release release;
              return r.StoredBytes(key);
            },
            py::arg("name"), "The size of the stored messages of `name`'s slices.")
        .def(
            "read",
            [](const SliceReader& r, const py::handle& name) -> py::object {
              const std::string key = ck::KeyArg(name);
              if (r.Tensor(key).dtype == fastmeta::dtype::kString) {
                std::vector<std::string> strs;
                {
                  py::gil_scoped_release release;
                  strs = r.ReadStrings(key);
                }
                return ck::BytesList(strs);
              }
              std::string bytes;
              {
                py::gil_scoped_release release;
                r.ReadWith(key, [&](size_t n) {
                  bytes.resize(n);
                  return bytes.data();
                });
              }
              return py::bytes(bytes);
            },
            py::arg("name"), "The tensor's row-major bytes, or a list of bytes for a string tensor.");

    m.def(
        "write_bundle",
        [](const std::string& prefix, const py::list& entries, size_t block_size, bool snappy, int32_t num_shards) {
          ck::WriteEntries ws(entries);
          fastmeta::WriteOptions options;
          options.table.block_size = block_size;
          options.table.snappy = snappy;
          options.num_shards = num_shards;
          py::gil_scoped_release release;
          fastmeta::WriteBundle(prefix, ws.entries, options);
        },
        py::arg("prefix"), py::arg("entries"), py::arg("block_size") = 262144, py::arg("snappy") = false,
        py::arg("num_shards") = 0,
        "Write a V2 checkpoint. entries: [(name, dtype enum, shape, data[, full_shape, "
        "slice[, shard]])]; data is a contiguous buffer, or a list of bytes for DT_STRING; slice is "
        "[(start, length)] (length -1 for a whole dimension) or None. num_shards 0: one data file, "
        "tensors in key order; N > 0: N data files, each entry in its shard's file in the order "
        "given.");
    m.def(
        "write_slices",
        [](const std::string& filename, const py::list& entries, size_t block_size) {
          ck::WriteEntries ws(entries);
          fastmeta::table::BuildOptions options;
          options.block_size = block_size;
          py::gil_scoped_release release;
          fastmeta::WriteSlices(filename, ws.entries, options);
        },
        py::arg("filename"), py::arg("entries"), py::arg("block_size") = 262144,
        "Write one V1 checkpoint file as TensorFlow's SaveSlices op would for these entries "
        "(as write_bundle's; shard is ignored), in this order.");
    m.def(
        "encode_tensor_name_slice",
        [](const py::handle& name, const py::handle& slice) {
          return py::bytes(fastmeta::EncodeTensorNameSlice(ck::KeyArg(name), ck::SliceArg(slice)));
        },
        py::arg("name"), py::arg("slice"));
    m.def("dtype_name", &fastmeta::dtype::Name, py::arg("dtype"));
    m.def("dtype_size", &fastmeta::dtype::ByteSize, py::arg("dtype"));
    m.def("data_type_string", &fastmeta::DataTypeString, py::arg("dtype"));
    m.def(
        "crc32c",
        [](const py::buffer& data) {
          fastmeta_python::BufferView v(data);
          return fastmeta::crc32c::Value(v.view().data(), v.view().size());
        },
        py::arg("data"));
  }
}
