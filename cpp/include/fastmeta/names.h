// TensorFlow's rules for node names, tensor names and device strings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fastmeta {

// A node name as TensorFlow's importer accepts it: `[A-Za-z0-9.][A-Za-z0-9_./-]*`,
// optionally followed by `>`-separated parts of the same shape.
bool IsValidNodeName(std::string_view name);

// "x" -> (x, 0); "x:3" -> (x, 3); "^x" -> (x, -1). A ':' suffix that is not all
// digits is part of the name, as in TensorFlow's ParseTensorName.
struct TensorRef {
  std::string_view node;
  int32_t index = 0;
  bool control() const { return index < 0; }
};
TensorRef ParseTensorName(std::string_view s);

// Renders an input the way Graph.as_graph_def() does: "x", "x:2" or "^x".
void AppendInputString(std::string& out, std::string_view node, int32_t index);

// The device string TensorFlow's Python layer stores after import: the spec parsed
// by DeviceSpec.from_string and rendered by to_string ("/gpu:0" -> "/device:GPU:0").
// Returns nullopt (and sets *error to the message TensorFlow raises: DeviceSpec's, or
// Python int()'s for an index, replica or task) for a spec DeviceSpec rejects.
std::optional<std::string> CanonicalDevice(std::string_view spec, std::string* error);

}  // namespace fastmeta
