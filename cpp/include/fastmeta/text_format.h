// Protobuf text format to the binary wire format, for the text-format meta graph files
// TensorFlow writes (`export_meta_graph(as_text=True)`, `.pbtxt`).
//
// The reader is exact on a subset: every text it converts, protobuf's Python
// `text_format.Merge` reads as the same message (fields in text order, a later value of a
// singular field replacing an earlier one, as in the binary format). Anything outside the
// subset it declines, and the caller reads the text with protobuf instead, so that
// protobuf's messages and rules decide every error. Outside the subset: extensions, field
// numbers as names, groups, `\u`/`\U`/`\N` escapes, integers in octal, with a `+` or with
// `_`, floats other than decimal ones and inf/-inf/infinity/-infinity/nan, enum numbers
// the enum does not define, whitespace other than ASCII's, and messages nested deeper than
// kMaxTextDepth.
//
// An `Any` in its expanded form, `[type.googleapis.com/tensorflow.X] { ... }`, is read when
// its body is written as protobuf prints a message (fields in number order, each singular
// field once, no default value of a field without presence, one member per oneof, no map):
// protobuf keeps the body's serialization as the Any's `value` bytes, and for such a body
// those bytes are exactly the ones written here. The type is looked up as fastmeta's
// `fastmeta.X` (the text names TensorFlow's package, as fastmeta's alias pool does).
//
// The schema is data, not code: a list of message and enum types (see Schema::Parse), so
// that this library knows no protobuf runtime; fastmeta's Python layer writes it from its
// own descriptors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fastmeta::text_format {

inline constexpr int kMaxTextDepth = 64;

// The first 8 bytes of `name` (fewer when it is shorter, zero-padded) as a word whose byte
// i is the name's byte i: a first test when names are looked up.
inline uint64_t NameHead(std::string_view name) {
  uint64_t head = 0;
  for (size_t i = 0; i < name.size() && i < 8; ++i) head |= uint64_t{static_cast<unsigned char>(name[i])} << (8 * i);
  return head;
}

// Whether `stored` (whose NameHead is `stored_head`) is `name` (whose NameHead is `head`).
inline bool SameName(const std::string& stored, uint64_t stored_head, std::string_view name, uint64_t head) {
  return stored_head == head && stored.size() == name.size() &&
         (name.size() <= 8 || std::memcmp(stored.data() + 8, name.data() + 8, name.size() - 8) == 0);
}

struct FieldType {
  std::string name;
  uint32_t number = 0;
  int type = 0;  // FieldDescriptorProto.Type: 1 double ... 18 sint64
  bool repeated = false;
  bool packed = false;
  bool presence = false;  // whether a default value set is kept (proto3: oneof members, messages)
  int oneof = -1;         // the index of its oneof in its message, -1: none
  int ref = -1;           // the message's index (type 11) or the enum's (type 14)
  uint64_t head = 0;      // NameHead(name), set by Schema::Parse
};

struct MessageType {
  std::string name;
  bool map_entry = false;
  std::vector<FieldType> fields;

  // The field called `field_name`, or null; `head` is NameHead(field_name). (A scan:
  // messages have a few dozen fields at most, and names mostly differ in their first 8
  // bytes or their length, compared as two words.)
  const FieldType* Field(std::string_view field_name, uint64_t head) const {
    for (const FieldType& f : fields) {
      if (SameName(f.name, f.head, field_name, head)) return &f;
    }
    return nullptr;
  }
};

struct EnumValue {
  std::string name;
  int32_t number = 0;
  uint64_t head = 0;  // NameHead(name)
};

struct EnumType {
  std::string name;
  std::vector<EnumValue> values;  // in the schema's order
  std::vector<int32_t> numbers;   // sorted

  // The value called `value_name` (the first of that name), or null; `head` is
  // NameHead(value_name). (A scan, as MessageType::Field's.)
  const EnumValue* Value(std::string_view value_name, uint64_t head) const {
    for (const EnumValue& v : values) {
      if (SameName(v.name, v.head, value_name, head)) return &v;
    }
    return nullptr;
  }
};

class Schema {
 public:
  // One line per item, fields separated by single spaces:
  //   M <message full name> <map entry 0|1>
  //   F <name> <number> <type> <repeated 0|1> <packed 0|1> <presence 0|1> <oneof | -1>
  //     <message or enum index | -1>
  //   E <enum full name>
  //   V <value name> <number>
  // F lines belong to the last M, V lines to the last E; types are numbered in order.
  // Throws std::invalid_argument on a malformed description.
  static Schema Parse(std::string_view description);

  // The index of a message type by full name, -1 when absent.
  int Find(std::string_view name) const;

  const std::vector<MessageType>& messages() const { return messages_; }
  const std::vector<EnumType>& enums() const { return enums_; }

 private:
  std::vector<MessageType> messages_;
  std::vector<EnumType> enums_;
};

// The binary form of `text`, a message of type `root` (an index into the schema), or
// nullopt when the text is outside the subset above (or not valid UTF-8, or malformed:
// protobuf's own reader gives the error then). `strict`: as protobuf's `text_format.Parse`
// (not `Merge`) reads it, which refuses a singular field given twice in one message and a
// second member of a oneof: such a text is declined, for protobuf's Parse to refuse.
std::optional<std::vector<char>> ToBinary(const Schema& schema, int root, std::string_view text, bool strict = false);

}  // namespace fastmeta::text_format
