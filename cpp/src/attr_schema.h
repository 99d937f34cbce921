// The schema of the messages a node's attr values reach, of the NodeDef fields the
// rewriter copies through unparsed (experimental_debug_info, experimental_type), and of
// the GraphDef's debug_info, which it drops: each message's fields as
// protos/fastmeta/protos/*.proto declare them. One table serves both readers of those
// bytes that go beyond the wire format: proto_check (do they parse as protobuf parses
// them?) and attr_value (are two attr values the same message?).
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>

namespace fastmeta::attr_schema {

// The messages (attr_value.proto, tensor.proto, tensor_shape.proto,
// resource_handle.proto, full_type.proto, node_def.proto, graph_debug_info.proto).
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
  kAttrEntry,  // the entry of NameAttrList.attr, a map<string, AttrValue>
  kFullType,
  kDebugInfo,  // NodeDef.ExperimentalDebugInfo
  // GraphDef.debug_info (GraphDebugInfo: proto2, so its `string` fields are not checked
  // for UTF-8 and are kBytes here) and what it holds; attr values never reach these.
  kGraphDebugInfo,
  kFileLineCol,
  kStackTrace,
  kTracesEntry,         // map<string, StackTrace> traces
  kFramesByIdEntry,     // map<fixed64, FileLineCol> frames_by_id
  kNameToTraceIdEntry,  // map<string, fixed64> name_to_trace_id
  kTracesByIdEntry,     // map<fixed64, StackTrace> traces_by_id
  kNumMessages,
  kNoMessage = kNumMessages,  // (a field that holds no message)
};

// A field's type: varints (int64; int32 and enums, sign-extended from 32 bits; uint32;
// uint64; bool), fixed-size floats (and GraphDebugInfo's fixed64 fields, as kF64: the
// same wire form), bytes, UTF-8 strings, messages.
enum Kind : uint8_t { kI64, kI32, kU32, kU64, kBool, kF32, kF64, kBytes, kString, kMessage };

enum Label : uint8_t {
  kSingular,  // proto3: no presence, written when not zero / empty
  kOneof,     // written when it is the oneof's member, whatever its value
  kRepeated,
  kMap,  // a map field: repeated entries, `msg` the entry message (key = 1, value = 2)
};

struct Field {
  uint32_t number;
  Kind kind;
  Label label;
  Message msg;             // kMessage: the message type; else kNoMessage
  const char* bad_string;  // kString: what a value that is not valid UTF-8 is called
};

struct MessageSpec {
  const Field* fields;  // in number order
  size_t size;
};

constexpr Field Scalar(uint32_t number, Kind kind, Label label = kSingular) {
  return {number, kind, label, kNoMessage, nullptr};
}
constexpr Field Msg(uint32_t number, Message msg, Label label = kSingular) {
  return {number, kMessage, label, msg, nullptr};
}
constexpr Field Str(uint32_t number, const char* bad_string, Label label = kSingular) {
  return {number, kString, label, kNoMessage, bad_string};
}

inline constexpr Field kAttrValueFields[] = {
    Msg(1, kListValue, kOneof),
    Scalar(2, kBytes, kOneof),
    Scalar(3, kI64, kOneof),
    Scalar(4, kF32, kOneof),
    Scalar(5, kBool, kOneof),
    Scalar(6, kI32, kOneof),
    Msg(7, kShape, kOneof),
    Msg(8, kTensor, kOneof),
    Str(9, "AttrValue.placeholder is not valid UTF-8", kOneof),
    Msg(10, kNameAttrList, kOneof),
};
inline constexpr Field kListValueFields[] = {
    Scalar(2, kBytes, kRepeated), Scalar(3, kI64, kRepeated),       Scalar(4, kF32, kRepeated),
    Scalar(5, kBool, kRepeated),  Scalar(6, kI32, kRepeated),       Msg(7, kShape, kRepeated),
    Msg(8, kTensor, kRepeated),   Msg(9, kNameAttrList, kRepeated),
};
inline constexpr Field kShapeFields[] = {Msg(2, kDim, kRepeated), Scalar(3, kBool)};
inline constexpr Field kDimFields[] = {Scalar(1, kI64), Str(2, "TensorShapeProto.Dim.name is not valid UTF-8")};
inline constexpr Field kTensorFields[] = {
    Scalar(1, kI32),
    Msg(2, kShape),
    Scalar(3, kI32),
    Scalar(4, kBytes),
    Scalar(5, kF32, kRepeated),
    Scalar(6, kF64, kRepeated),
    Scalar(7, kI32, kRepeated),
    Scalar(8, kBytes, kRepeated),
    Scalar(9, kF32, kRepeated),
    Scalar(10, kI64, kRepeated),
    Scalar(11, kBool, kRepeated),
    Scalar(12, kF64, kRepeated),
    Scalar(13, kI32, kRepeated),
    Msg(14, kHandle, kRepeated),
    Msg(15, kVariant, kRepeated),
    Scalar(16, kU32, kRepeated),
    Scalar(17, kU64, kRepeated),
    Scalar(18, kBytes),
};
inline constexpr Field kHandleFields[] = {
    Str(1, "ResourceHandleProto.device is not valid UTF-8"),
    Str(2, "ResourceHandleProto.container is not valid UTF-8"),
    Str(3, "ResourceHandleProto.name is not valid UTF-8"),
    Scalar(4, kU64),
    Str(5, "ResourceHandleProto.maybe_type_name is not valid UTF-8"),
    Msg(6, kDtypeAndShape, kRepeated),
};
inline constexpr Field kDtypeAndShapeFields[] = {Scalar(1, kI32), Msg(2, kShape)};
inline constexpr Field kVariantFields[] = {Str(1, "VariantTensorDataProto.type_name is not valid UTF-8"),
                                           Scalar(2, kBytes), Msg(3, kTensor, kRepeated)};
inline constexpr Field kNameAttrListFields[] = {Str(1, "NameAttrList.name is not valid UTF-8"),
                                                Msg(2, kAttrEntry, kMap)};
inline constexpr Field kAttrEntryFields[] = {Str(1, "NameAttrList.attr key is not valid UTF-8"), Msg(2, kAttrValue)};
inline constexpr Field kFullTypeFields[] = {Scalar(1, kI32), Msg(2, kFullType, kRepeated),
                                            Str(3, "FullTypeDef.s is not valid UTF-8", kOneof),
                                            Scalar(4, kI64, kOneof)};
inline constexpr Field kDebugInfoFields[] = {
    Str(1, "ExperimentalDebugInfo.original_node_names is not valid UTF-8", kRepeated),
    Str(2, "ExperimentalDebugInfo.original_func_names is not valid UTF-8", kRepeated)};

inline constexpr Field kGraphDebugInfoFields[] = {
    Scalar(1, kBytes, kRepeated),      Msg(2, kTracesEntry, kMap),     Msg(4, kFramesByIdEntry, kMap),
    Msg(5, kNameToTraceIdEntry, kMap), Msg(6, kTracesByIdEntry, kMap),
};
inline constexpr Field kFileLineColFields[] = {Scalar(1, kI32), Scalar(2, kI32), Scalar(3, kI32), Scalar(4, kBytes),
                                               Scalar(5, kBytes)};
inline constexpr Field kStackTraceFields[] = {Msg(1, kFileLineCol, kRepeated), Scalar(2, kF64, kRepeated)};
inline constexpr Field kTracesEntryFields[] = {Scalar(1, kBytes), Msg(2, kStackTrace)};
inline constexpr Field kFramesByIdEntryFields[] = {Scalar(1, kF64), Msg(2, kFileLineCol)};
inline constexpr Field kNameToTraceIdEntryFields[] = {Scalar(1, kBytes), Scalar(2, kF64)};
inline constexpr Field kTracesByIdEntryFields[] = {Scalar(1, kF64), Msg(2, kStackTrace)};

inline constexpr MessageSpec kMessages[kNumMessages] = {
    {kAttrValueFields, std::size(kAttrValueFields)},
    {kListValueFields, std::size(kListValueFields)},
    {kShapeFields, std::size(kShapeFields)},
    {kDimFields, std::size(kDimFields)},
    {kTensorFields, std::size(kTensorFields)},
    {kHandleFields, std::size(kHandleFields)},
    {kDtypeAndShapeFields, std::size(kDtypeAndShapeFields)},
    {kVariantFields, std::size(kVariantFields)},
    {kNameAttrListFields, std::size(kNameAttrListFields)},
    {kAttrEntryFields, std::size(kAttrEntryFields)},
    {kFullTypeFields, std::size(kFullTypeFields)},
    {kDebugInfoFields, std::size(kDebugInfoFields)},
    {kGraphDebugInfoFields, std::size(kGraphDebugInfoFields)},
    {kFileLineColFields, std::size(kFileLineColFields)},
    {kStackTraceFields, std::size(kStackTraceFields)},
    {kTracesEntryFields, std::size(kTracesEntryFields)},
    {kFramesByIdEntryFields, std::size(kFramesByIdEntryFields)},
    {kNameToTraceIdEntryFields, std::size(kNameToTraceIdEntryFields)},
    {kTracesByIdEntryFields, std::size(kTracesByIdEntryFields)},
};

// Where field `number` is in kMessages[msg].fields; -1 when the schema has none (an
// unknown field).
constexpr int IndexOf(Message msg, uint32_t number) {
  const MessageSpec& spec = kMessages[msg];
  for (size_t i = 0; i < spec.size; ++i) {
    if (spec.fields[i].number == number) return static_cast<int>(i);
  }
  return -1;
}

// Field `number` of `msg`, or nullptr when the schema has none.
inline const Field* FieldOf(Message msg, uint32_t number) {
  const int i = IndexOf(msg, number);
  return i < 0 ? nullptr : &kMessages[msg].fields[i];
}

// Whether the fields of every message are in increasing number order (attr_value
// writes them in that order).
constexpr bool InNumberOrder() {
  for (const MessageSpec& spec : kMessages) {
    for (size_t i = 1; i < spec.size; ++i) {
      if (spec.fields[i - 1].number >= spec.fields[i].number) return false;
    }
  }
  return true;
}
static_assert(InNumberOrder(), "attr_schema: a message's fields must be listed by number");

}  // namespace fastmeta::attr_schema
