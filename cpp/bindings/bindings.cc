// The only file that knows about Python: adapts fastmeta's C++ core to pybind11.
// Bytes and buffers go in, bytes and plain values come out; no protobuf objects cross.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastmeta's C++ core (private; use the fastmeta package)";
  // ---- rewriter ----
  // ---- checkpoint ----
}
