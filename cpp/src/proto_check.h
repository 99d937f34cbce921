// Whether bytes the rewriter copies through unparsed (a node's attr values, its
// experimental_debug_info and experimental_type) or drops unread (the GraphDef's
// debug_info) parse as protobuf's parser reads them.
#pragma once

#include <cstdint>
#include <string_view>

#include "attr_schema.h"
#include "fastmeta/wire.h"

namespace fastmeta::proto_check {

// The messages checked: attr_schema's (an attr value and all it reaches, a NodeDef's
// experimental_debug_info and experimental_type, a GraphDef's debug_info), with their
// fields as it lists them.
using Message = attr_schema::Message;
using attr_schema::kAttrValue;
using attr_schema::kDebugInfo;
using attr_schema::kFullType;
using attr_schema::kGraphDebugInfo;
using attr_schema::kNumMessages;

// protobuf's default recursion limit (see wire.h).
constexpr int kMaxDepth = wire::kMaxDepth;

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
