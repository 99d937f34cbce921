// Whether bytes the rewriter copies through unparsed (a node's attr values, its
// experimental_debug_info and experimental_type) parse as protobuf's parser reads them.
#pragma once

#include <cstdint>
#include <string_view>

namespace fastmeta::proto_check {

// The messages checked (attr_value.proto, tensor.proto, tensor_shape.proto,
// resource_handle.proto, full_type.proto, node_def.proto).
enum Message : uint8_t {
  kAttrValue,
  kListValue,
  kShape,
  kDim,
  kTensor,
  kHandle,
  kDtypeAndShape,
  kVariant,
  kNameAttrList,
  kAttrEntry,  // NameAttrList.attr's map entry: string key = 1, AttrValue value = 2
  kFullType,
  kDebugInfo,  // NodeDef.ExperimentalDebugInfo
  kNumMessages,
};

// protobuf's default recursion limit: a message (or group) nested deeper than this,
// counting from the parsed root at depth 0, does not parse.
constexpr int kMaxDepth = 100;

// Where and why a message does not parse.
// (Set only when a check fails.)
struct Problem {
  const char* at;
  const char* what;
};

// Whether two bytes are one varint field of a one-byte tag and value (as a type, a bool,
// a small int or dim): valid in any message.
inline bool IsSmallVarintField(const char* p) {
  const unsigned w = static_cast<uint8_t>(p[0]) | unsigned{static_cast<uint8_t>(p[1])} << 8;
  return (w & 0x8087u) == 0 && (w & 0x78u) != 0;  // (both bytes < 0x80, wire type 0, field > 0)
}

// The general case of Check.
bool CheckSlow(Message msg, std::string_view bytes, int depth, Problem& problem);

// True when `bytes` parses as a `msg` at nesting depth `depth` (the root message: 0) as
// protobuf's parser reads it: well-formed tags and fields (known or not: a known field
// of another wire type is kept as unknown), matched groups, valid UTF-8 in `string`
// fields, whole values in packed fields, nesting within kMaxDepth. Otherwise false,
// with the first problem in `problem`. (Inline for the usual attr value: one
// varint field of one-byte tag and value, as a type, a bool or a small int; valid in
// any message.)
inline bool Check(Message msg, std::string_view bytes, int depth, Problem& problem) {
  if (bytes.size() == 2 && IsSmallVarintField(bytes.data())) return true;
  return CheckSlow(msg, bytes, depth, problem);
}

}  // namespace fastmeta::proto_check
