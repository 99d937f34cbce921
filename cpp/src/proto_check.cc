// A table-driven check of protobuf wire data against the few messages the rewriter
// copies through unparsed (see proto_check.h), and CheckParses (export.h): the same
// rules against any schema given at run time (a whole meta graph's). Rules follow protobuf's parser (upb, as
// Python's protobuf and so TensorFlow's import_meta_graph use it):
// - a tag is a varint of at most 5 bytes below 2^32; field number 0 is refused in a
//   message (inside a group protobuf skips it); wire types 6 and 7 are refused;
// - a varint has at most 10 bytes (its last byte is not checked for overflow); a length
//   prefix at most 5 and no more than the bytes left; fixed fields are whole;
// - a start-group tag needs its end-group tag (same number), an end-group tag outside
//   its group is refused; a group is a nesting level, as a message is;
// - a known field of another wire type than its declaration's is an unknown field,
//   except a length-delimited repeated scalar: packed, so whole values only;
// - `string` fields (not `bytes`) are valid UTF-8; a map entry may lack key or value.

#include "proto_check.h"

#include <cstddef>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastmeta/errors.h"
#include "fastmeta/export.h"
#include "fastmeta/wire.h"

namespace fastmeta::proto_check {
namespace {

using attr_schema::FieldOf;
using attr_schema::kListValue;

constexpr const char* kBadTag = "truncated or overlong field tag";
constexpr const char* kBadVarint = "truncated or overlong varint";
constexpr const char* kPastEnd = "length prefix runs past the end of its message";
constexpr const char* kTruncatedFixed = "truncated fixed-size field";
constexpr const char* kTooDeep = "message nested deeper than protobuf's limit (100)";

bool Fail(Problem& problem, const char* at, const char* what) {
  problem.at = at;
  problem.what = what;
  return false;
}

// A tag: at most 5 bytes, below 2^32.
bool ReadTagSlow(const char*& p, const char* end, uint32_t& tag) {
  uint64_t v = 0;
  for (int i = 0; i < 5; ++i) {
    if (p == end) return false;
    const auto b = static_cast<uint8_t>(*p++);
    v |= uint64_t{b & 0x7fu} << (7 * i);
    if (b < 0x80) {
      if (v > 0xffffffffu) return false;
      tag = static_cast<uint32_t>(v);
      return true;
    }
  }
  return false;
}

inline bool ReadTag(const char*& p, const char* end, uint32_t& tag) {
  if (static_cast<uint8_t>(*p) < 0x80) {  // (p < end: the caller's loop)
    tag = static_cast<uint8_t>(*p++);
    return true;
  }
  return ReadTagSlow(p, end, tag);
}

// A varint of at most 10 bytes.
inline bool SkipVarint(const char*& p, const char* end) {
  const char* limit = end - p > 10 ? p + 10 : end;
  while (p < limit) {
    if (static_cast<uint8_t>(*p++) < 0x80) return true;
  }
  return false;
}

// A length prefix: at most 5 bytes, within the bytes left.
inline bool ReadLength(const char*& p, const char* end, size_t& len) {
  if (p < end && static_cast<uint8_t>(*p) < 0x80) {
    len = static_cast<uint8_t>(*p++);
  } else {
    uint64_t v = 0;
    int i = 0;
    for (;; ++i) {
      if (i == 5 || p == end) return false;
      const auto b = static_cast<uint8_t>(*p++);
      v |= uint64_t{b & 0x7fu} << (7 * i);
      if (b < 0x80) break;
    }
    if (v > static_cast<uint64_t>(end - p)) return false;
    len = static_cast<size_t>(v);
    return true;
  }
  return len <= static_cast<size_t>(end - p);
}

// Packed varints: whole values of at most 10 bytes each.
bool PackedVarintsOk(const char* p, const char* end) {
  while (p < end) {
    if (!SkipVarint(p, end)) return false;
  }
  return true;
}

// A varint, fixed64 or fixed32 value (`type`) at p, skipped; a bad one is reported where
// it starts, as the wire reader reports it.
bool SkipScalar(const char*& p, const char* end, uint32_t type, Problem& problem) {
  const char* value = p;
  if (type == wire::kVarint) return SkipVarint(p, end) || Fail(problem, value, kBadVarint);
  const ptrdiff_t width = type == wire::kFixed64 ? 8 : 4;
  if (end - p < width) return Fail(problem, value, kTruncatedFixed);
  p += width;
  return true;
}

// The rest of a group (its start tag read; `number` its field number) at nesting depth
// `depth`: unknown fields up to the matching end-group tag. (Groups are obsolete: this
// recursion is off the usual path.)
bool SkipGroup(const char*& p, const char* end, uint32_t number, int depth, Problem& problem) {
  const char* start = p;
  if (depth > kMaxDepth) return Fail(problem, start, kTooDeep);
  while (p < end) {
    const char* at = p;
    uint32_t tag;
    if (!ReadTag(p, end, tag)) return Fail(problem, at, kBadTag);
    const char* value = p;  // (where a bad value is reported, as the wire reader does)
    switch (tag & 7) {
      case wire::kVarint:
      case wire::kFixed64:
      case wire::kFixed32:
        if (!SkipScalar(p, end, tag & 7, problem)) return false;
        break;
      case wire::kLengthDelimited: {
        size_t len;
        if (!ReadLength(p, end, len)) return Fail(problem, value, kPastEnd);
        p += len;
        break;
      }
      case wire::kStartGroup:
        if (!SkipGroup(p, end, tag >> 3, depth + 1, problem)) return false;
        break;
      case wire::kEndGroup:
        if ((tag >> 3) != number) return Fail(problem, at, "end-group tag of another group");
        return true;
      default:
        return Fail(problem, at, "invalid wire type");
    }
  }
  return Fail(problem, start, "unterminated group");
}

// What the loop does on a field, by message and tag (the tables below cover one-byte
// tags; ActionOf any tag).
enum Action : uint8_t {
  kVarintField,
  kFixed64Field,
  kFixed32Field,
  kGroupField,
  kSkipBytes,  // length-delimited, payload unchecked
  kStringField,
  kPackedVarints,
  kPackedFixed32,
  kPackedFixed64,
  kFieldZero,
  kEndGroupOutside,
  kBadWireType,
  kSubMessage,  // + the Message
};

constexpr uint8_t ActionOf(Message msg, uint32_t number, uint32_t wire_type) {
  if (number == 0) return kFieldZero;
  switch (wire_type) {
    case wire::kVarint:
      return kVarintField;
    case wire::kFixed64:
      return kFixed64Field;
    case wire::kFixed32:
      return kFixed32Field;
    case wire::kStartGroup:
      return kGroupField;
    case wire::kEndGroup:
      return kEndGroupOutside;
    case wire::kLengthDelimited:
      break;
    default:
      return kBadWireType;
  }
  // (a length-delimited field: bytes, a string, a message, packed scalars of a repeated
  // field; a singular scalar's is an unknown field, as is a field not in the schema)
  const int i = attr_schema::IndexOf(msg, number);
  if (i < 0) return kSkipBytes;
  const attr_schema::Field* fs = &attr_schema::kMessages[msg].fields[i];
  switch (fs->kind) {
    case attr_schema::kString:
      return kStringField;
    case attr_schema::kMessage:
      return static_cast<uint8_t>(kSubMessage + fs->msg);
    case attr_schema::kBytes:
      return kSkipBytes;
    case attr_schema::kF32:
      return fs->label == attr_schema::kRepeated ? kPackedFixed32 : kSkipBytes;
    case attr_schema::kF64:
      return fs->label == attr_schema::kRepeated ? kPackedFixed64 : kSkipBytes;
    default:
      return fs->label == attr_schema::kRepeated ? kPackedVarints : kSkipBytes;  // (the varint kinds)
  }
}

struct ActionTables {
  uint8_t of[kNumMessages][128];
};

constexpr ActionTables MakeActionTables() {
  ActionTables t{};
  for (int m = 0; m < kNumMessages; ++m) {
    for (uint32_t tag = 0; tag < 128; ++tag) t.of[m][tag] = ActionOf(static_cast<Message>(m), tag >> 3, tag & 7);
  }
  return t;
}

constexpr ActionTables kActions = MakeActionTables();

// One loop over the fields of the message and of those inside it, no call per message
// (most values are a few small messages: a shape's dims, a list of strings): a stack of
// where each enclosing message ends, pushed only when the inner message is not the last
// field of the outer one (else the outer one ends with it). Without kStack (the usual
// case) a value that needs one starts over with it.
bool WalkWithStack(Message root, std::string_view bytes, int root_depth, Problem& problem);

template <bool kStack>
bool Walk(const Message root, const std::string_view bytes, const int root_depth, Problem& problem) {
  struct Frame {
    const char* end;
    Message msg;
    int depth;
  };
  Frame stack[kStack ? kMaxDepth + 1 : 1];
  int top = 0;
  Message msg = root;
  int depth = root_depth;
  const char* p = bytes.data();
  const char* end = p + bytes.size();
  const uint8_t* actions = kActions.of[msg];
  for (;;) {
    while (p < end) {
      const char* at = p;
      uint32_t tag = static_cast<uint8_t>(*p);
      uint32_t action;
      if (tag < 0x80) {
        ++p;
        action = actions[tag];
      } else {
        if (!ReadTagSlow(p, end, tag)) return Fail(problem, at, kBadTag);
        action = ActionOf(msg, tag >> 3, tag & 7);
      }
      const char* value = p;  // (where a bad value is reported, as the wire reader does)
      const char* data;
      size_t len;
      // A length-delimited field's payload: [data, p).
#define FASTMETA_TAKE_PAYLOAD()                                                           \
  if (p < end && static_cast<uint8_t>(*p) < 0x80 && static_cast<uint8_t>(*p) < end - p) { \
    len = static_cast<uint8_t>(*p);                                                       \
    data = p + 1;                                                                         \
  } else {                                                                                \
    if (!ReadLength(p, end, len)) return Fail(problem, value, kPastEnd);                  \
    data = p;                                                                             \
  }                                                                                       \
  p = data + len
      if (action >= kSubMessage) {
        FASTMETA_TAKE_PAYLOAD();
        if (depth >= kMaxDepth) return Fail(problem, at, kTooDeep);
        // (one varint field of one-byte tag and value, as a dim's size, or empty)
        if ((len == 2 && IsSmallVarintField(data)) || len == 0) continue;
        if (p != end) {
          if constexpr (!kStack) return WalkWithStack(root, bytes, root_depth, problem);
          stack[top++] = {end, msg, depth};
        }
        ++depth;
        msg = static_cast<Message>(action - kSubMessage);
        actions = kActions.of[msg];
        end = p;
        p = data;
        continue;
      }
      if (action == kSkipBytes) {
        FASTMETA_TAKE_PAYLOAD();
        continue;
      }
      switch (action) {
        case kVarintField:
          if (p < end && static_cast<uint8_t>(*p) < 0x80)
            ++p;
          else if (!SkipVarint(p, end))
            return Fail(problem, value, kBadVarint);
          break;
        case kFixed64Field:
          if (end - p < 8) return Fail(problem, value, kTruncatedFixed);
          p += 8;
          break;
        case kFixed32Field:
          if (end - p < 4) return Fail(problem, value, kTruncatedFixed);
          p += 4;
          break;
        case kGroupField:
          if (!SkipGroup(p, end, tag >> 3, depth + 1, problem)) return false;
          break;
        case kFieldZero:
          return Fail(problem, at, "invalid field number 0");
        case kBadWireType:
          return Fail(problem, at, "invalid wire type");
        case kEndGroupOutside:
          return Fail(problem, at, "end-group tag outside a group");
        case kStringField:
          FASTMETA_TAKE_PAYLOAD();
          if (!wire::IsValidUtf8(std::string_view(data, len))) {
            return Fail(problem, data, FieldOf(msg, tag >> 3)->bad_string);
          }
          break;
        case kPackedVarints:
          FASTMETA_TAKE_PAYLOAD();
          if (!PackedVarintsOk(data, p)) return Fail(problem, at, "packed field ends inside a value");
          break;
        case kPackedFixed32:
          FASTMETA_TAKE_PAYLOAD();
          if (len % 4 != 0) return Fail(problem, at, "packed field ends inside a value");
          break;
        case kPackedFixed64:
          FASTMETA_TAKE_PAYLOAD();
          if (len % 8 != 0) return Fail(problem, at, "packed field ends inside a value");
          break;
        default:
          break;  // (taken above)
      }
#undef FASTMETA_TAKE_PAYLOAD
    }
    if (top == 0) return true;
    // (p is where the message ended: where the enclosing one goes on)
    --top;
    end = stack[top].end;
    msg = stack[top].msg;
    depth = stack[top].depth;
    actions = kActions.of[msg];
  }
}

#if defined(__GNUC__)
__attribute__((noinline))
#endif
bool WalkWithStack(Message root, std::string_view bytes, int root_depth, Problem& problem) {
  return Walk<true>(root, bytes, root_depth, problem);
}

// Field `number` of message `message` as the schema names it ("SavedObject.registered_name"),
// or "" when it has no names.
std::string FieldName(const WireSchema& schema, uint32_t message, uint32_t number) {
  if (message < schema.message_names.size() && message < schema.field_names.size() &&
      number < schema.field_names[message].size() && !schema.field_names[message][number].empty()) {
    return schema.message_names[message] + "." + schema.field_names[message][number];
  }
  return "";
}

// CheckParses' walk of one message of `schema` (at nesting depth `depth`), recursive:
// the messages it reaches are whole files' (a GraphDef), not the few small ones above.
// A string field's invalid UTF-8 is `named` by the schema's names, when it has them; on
// a problem, `trail` gets the fields it lies in, innermost first.
bool CheckSchema(const WireSchema& schema, uint32_t message, const char* p, const char* end, int depth,
                 Problem& problem, std::string& named, std::vector<std::string>& trail) {
  const std::vector<WireSchema::Field>& fields = schema.messages[message];
  while (p < end) {
    const char* at = p;
    uint32_t tag;
    if (!ReadTag(p, end, tag)) return Fail(problem, at, kBadTag);
    const uint32_t number = tag >> 3;
    if (number == 0) return Fail(problem, at, "invalid field number 0");
    const char* value = p;  // (where a bad value is reported, as the wire reader does)
    switch (tag & 7) {
      case wire::kVarint:
      case wire::kFixed64:
      case wire::kFixed32:
        if (!SkipScalar(p, end, tag & 7, problem)) return false;
        break;
      case wire::kStartGroup:
        if (!SkipGroup(p, end, number, depth + 1, problem)) return false;
        break;
      case wire::kEndGroup:
        return Fail(problem, at, "end-group tag outside a group");
      case wire::kLengthDelimited: {
        size_t len;
        if (!ReadLength(p, end, len)) return Fail(problem, value, kPastEnd);
        const char* data = p;
        p += len;
        if (number >= fields.size()) break;  // (an unknown field: its payload is not parsed)
        const WireSchema::Field& f = fields[number];
        switch (f.kind) {
          case WireSchema::kString:
            if (!wire::IsValidUtf8(std::string_view(data, len))) {
              const std::string field = FieldName(schema, message, number);
              if (!field.empty()) named = field + " is not valid UTF-8";
              return Fail(problem, data, "invalid UTF-8 in a string field");
            }
            break;
          case WireSchema::kMessage:
            if (depth >= kMaxDepth) return Fail(problem, at, kTooDeep);
            if (!CheckSchema(schema, f.message, data, p, depth + 1, problem, named, trail)) {
              trail.push_back(FieldName(schema, message, number));
              return false;
            }
            break;
          // (a scalar's: packed values of a repeated field, else an unknown field)
          case WireSchema::kVarint:
          case WireSchema::kFixed32:
          case WireSchema::kFixed64: {
            const size_t width = f.kind == WireSchema::kFixed32 ? 4 : f.kind == WireSchema::kFixed64 ? 8 : 0;
            if (f.repeated && (width ? len % width != 0 : !PackedVarintsOk(data, p))) {
              trail.push_back(FieldName(schema, message, number));
              return Fail(problem, at, "packed field ends inside a value");
            }
            break;
          }
          default:
            break;  // (bytes, unknown)
        }
        break;
      }
      default:
        return Fail(problem, at, "invalid wire type");
    }
  }
  return true;
}

}  // namespace

bool CheckSlow(Message msg, std::string_view bytes, int depth, Problem& problem) {
  // An AttrValue holding only a list (after the one-field values Check takes, the usual
  // value: _output_shapes, _class): the ListValue, a level deeper.
  if (msg == kAttrValue && bytes.size() >= 2 && bytes[0] == '\x0a' && static_cast<uint8_t>(bytes[1]) < 0x80 &&
      static_cast<uint8_t>(bytes[1]) == bytes.size() - 2 && depth < kMaxDepth) {
    msg = kListValue;
    bytes.remove_prefix(2);
    ++depth;
  }
  return Walk<false>(msg, bytes, depth, problem);
}

}  // namespace fastmeta::proto_check

namespace fastmeta {

void CheckParses(const WireSchema& schema, uint32_t message, std::string_view data, int depth) {
  if (message >= schema.messages.size()) throw std::invalid_argument("CheckParses: no such message in the schema");
  proto_check::Problem problem{};
  std::string named;
  std::vector<std::string> trail;
  if (!proto_check::CheckSchema(schema, message, data.data(), data.data() + data.size(), depth, problem, named,
                                trail)) {
    // Where it lies: "(in MetaGraphDef.object_graph_def > SavedObjectGraph.nodes)".
    std::string where;
    for (auto it = trail.rbegin(); it != trail.rend(); ++it) {
      if (it->empty()) continue;
      where += (where.empty() ? " (in " : " > ") + *it;
    }
    if (!where.empty()) where += ")";
    throw ParseError((named.empty() ? std::string(problem.what) : named) + where,
                     static_cast<size_t>(problem.at - data.data()));
  }
}

}  // namespace fastmeta
