// Equality of serialized AttrValues as messages (see attr_value.h): each side is
// rewritten in one canonical encoding (known fields in number order, scalars as
// minimal varints or their fixed bits, repeated scalars packed, a singular message's
// pieces merged, a map's entries by key, unknown fields by number) and the two
// encodings are compared.

#include "attr_value.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "attr_schema.h"
#include "fastmeta/errors.h"
#include "fastmeta/wire.h"

namespace fastmeta {
namespace {

using wire::Field;
using wire::Reader;
// (Readers here re-read bytes protobuf or the rewriter already accepted: at depth 0,
// the most lenient nesting limit, they refuse nothing those did.)

// The messages and their fields: attr_schema's (string fields are compared as bytes).
using Msg = attr_schema::Message;
using FieldSpec = attr_schema::Field;
using attr_schema::kAttrValue;
using attr_schema::kBool;
using attr_schema::kBytes;
using attr_schema::kF32;
using attr_schema::kF64;
using attr_schema::kI32;
using attr_schema::Kind;
using attr_schema::kMap;
using attr_schema::kMessage;
using attr_schema::kMessages;
using attr_schema::kOneof;
using attr_schema::kRepeated;
using attr_schema::kSingular;
using attr_schema::kString;
using attr_schema::kU32;
using attr_schema::MessageSpec;

// protobuf's default recursion limit: deeper values do not parse.
constexpr int kMaxDepth = 100;

struct TooDeep {};

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void PutTag(std::string& out, uint32_t number, wire::WireType type) { PutVarint(out, uint64_t{number} << 3 | type); }

void PutBytes(std::string& out, uint32_t number, std::string_view data) {
  PutTag(out, number, wire::kLengthDelimited);
  PutVarint(out, data.size());
  out.append(data.data(), data.size());
}

uint64_t Fixed(std::string_view raw) {
  uint64_t v = 0;
  for (size_t k = 0; k < raw.size(); ++k) v |= uint64_t{static_cast<uint8_t>(raw[k])} << (8 * k);
  return v;
}

// A varint as the field's kind holds it.
uint64_t Normalized(Kind kind, uint64_t v) {
  switch (kind) {
    case kI32:
      return static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(static_cast<uint32_t>(v))));
    case kU32:
      return static_cast<uint32_t>(v);
    case kBool:
      return v != 0 ? 1 : 0;
    default:
      return v;
  }
}

bool IsFixed(Kind kind) { return kind == kF32 || kind == kF64; }
bool IsBytes(Kind kind) { return kind == kBytes || kind == kString; }
bool IsScalar(Kind kind) { return !IsBytes(kind) && kind != kMessage; }
wire::WireType WireOf(Kind kind) {
  if (kind == kF32) return wire::kFixed32;
  if (kind == kF64) return wire::kFixed64;
  if (IsBytes(kind) || kind == kMessage) return wire::kLengthDelimited;
  return wire::kVarint;
}

void PutScalar(std::string& out, Kind kind, uint64_t v) {
  if (kind == kF32 || kind == kF64) {
    for (int k = 0; k < (kind == kF32 ? 4 : 8); ++k) out.push_back(static_cast<char>((v >> (8 * k)) & 0xff));
  } else {
    PutVarint(out, v);
  }
}

void Canonical(Msg msg, std::string_view bytes, std::string& out, int depth);

std::string CanonicalOf(Msg msg, std::string_view bytes, int depth) {
  std::string out;
  Canonical(msg, bytes, out, depth);
  return out;
}

// One field's value as read so far.
struct Slot {
  bool seen = false;
  uint64_t scalar = 0;
  std::string_view bytes;
  std::string pieces;                      // a singular message: its pieces, one after the other (= merged)
  std::vector<uint64_t> scalars;           // repeated scalars
  std::vector<std::string> items;          // repeated bytes / messages (canonical)
  std::map<std::string, std::string> map;  // key: canonical AttrValue
  void Clear() { *this = Slot(); }
};

struct Unknown {
  uint32_t number;
  uint32_t index;  // (its place among the unknown fields: the order within a number)
  wire::WireType type;
  uint64_t varint;
  std::string_view data;  // fixed: the bytes; length-delimited: the payload; group: the whole field
};

// An entry of a map field whose entries are `entry_msg`s (key = 1, a string; value = 2).
void ReadMapEntry(Msg entry_msg, std::string_view entry, Slot& slot, int depth) {
  std::string_view key;
  std::string value;  // the value's pieces (merged)
  Reader r(entry, entry.data(), 0);
  Field f;
  while (r.Next(f)) {
    if (f.type != wire::kLengthDelimited) continue;
    if (f.number == 1)
      key = f.data;
    else if (f.number == 2)
      value.append(f.data.data(), f.data.size());
  }
  slot.map[std::string(key)] = CanonicalOf(attr_schema::FieldOf(entry_msg, 2)->msg, value, depth + 1);
}

void Canonical(Msg msg, std::string_view bytes, std::string& out, int depth) {
  if (depth > kMaxDepth) throw TooDeep();
  const MessageSpec& spec = kMessages[msg];
  std::vector<Slot> slots(spec.size);
  std::vector<Unknown> unknown;
  size_t oneof = spec.size;  // the oneof's member, by index (spec.size: none)
  Reader r(bytes, bytes.data(), 0);
  Field f;
  while (r.Next(f)) {
    size_t i = 0;
    while (i < spec.size && spec.fields[i].number != f.number) ++i;
    const FieldSpec* fs = i < spec.size ? &spec.fields[i] : nullptr;
    const bool packed =
        fs != nullptr && fs->label == kRepeated && IsScalar(fs->kind) && f.type == wire::kLengthDelimited;
    if (fs == nullptr || (f.type != WireOf(fs->kind) && !packed)) {
      unknown.push_back({f.number, static_cast<uint32_t>(unknown.size()), f.type, f.varint,
                         f.type == wire::kStartGroup ? f.raw : f.data});
      continue;
    }
    Slot& slot = slots[i];
    if (fs->label == kOneof && oneof != i) {
      if (oneof < spec.size) slots[oneof].Clear();
      slot.Clear();
      oneof = i;
    }
    slot.seen = true;
    switch (fs->label) {
      case kSingular:
      case kOneof:
        if (fs->kind == kMessage)
          slot.pieces.append(f.data.data(), f.data.size());
        else if (IsBytes(fs->kind))
          slot.bytes = f.data;
        else
          slot.scalar = IsFixed(fs->kind) ? Fixed(f.data) : Normalized(fs->kind, f.varint);
        break;
      case kRepeated:
        if (packed) {
          Reader pr(f.data, f.data.data(), 0);
          if (IsFixed(fs->kind)) {
            const size_t width = fs->kind == kF32 ? 4 : 8;
            if (f.data.size() % width != 0) throw ParseError("packed field of a partial value", 0);
            for (size_t k = 0; k < f.data.size(); k += width) slot.scalars.push_back(Fixed(f.data.substr(k, width)));
          } else {
            while (!pr.done()) slot.scalars.push_back(Normalized(fs->kind, pr.ReadVarint("packed varint")));
          }
        } else if (fs->kind == kMessage) {
          slot.items.push_back(CanonicalOf(fs->msg, f.data, depth + 1));
        } else if (IsBytes(fs->kind)) {
          slot.items.emplace_back(f.data);
        } else {
          slot.scalars.push_back(IsFixed(fs->kind) ? Fixed(f.data) : Normalized(fs->kind, f.varint));
        }
        break;
      case kMap:
        ReadMapEntry(fs->msg, f.data, slot, depth);
        break;
    }
  }
  for (size_t i = 0; i < spec.size; ++i) {
    const FieldSpec& fs = spec.fields[i];
    const Slot& slot = slots[i];
    if (!slot.seen) continue;
    switch (fs.label) {
      case kSingular:
      case kOneof: {
        const bool always = fs.label == kOneof;
        if (fs.kind == kMessage) {
          PutBytes(out, fs.number, CanonicalOf(fs.msg, slot.pieces, depth + 1));  // (present: written)
        } else if (IsBytes(fs.kind)) {
          if (always || !slot.bytes.empty()) PutBytes(out, fs.number, slot.bytes);
        } else if (always || slot.scalar != 0) {
          PutTag(out, fs.number, WireOf(fs.kind));
          PutScalar(out, fs.kind, slot.scalar);
        }
        break;
      }
      case kRepeated:
        if (IsScalar(fs.kind)) {
          if (slot.scalars.empty()) break;
          std::string packed;
          for (uint64_t v : slot.scalars) PutScalar(packed, fs.kind, v);
          PutBytes(out, fs.number, packed);
        } else {
          for (const std::string& item : slot.items) PutBytes(out, fs.number, item);
        }
        break;
      case kMap:
        for (const auto& [key, value] : slot.map) {
          std::string entry;
          PutBytes(entry, 1, key);
          PutBytes(entry, 2, value);
          PutBytes(out, fs.number, entry);
        }
        break;
    }
  }
  // Unknown fields count by number, in any order (of one number: in order).
  std::sort(unknown.begin(), unknown.end(), [](const Unknown& a, const Unknown& b) {
    return a.number != b.number ? a.number < b.number : a.index < b.index;
  });
  for (const Unknown& u : unknown) {
    if (u.type == wire::kStartGroup) {
      out.append(u.data.data(), u.data.size());
      continue;
    }
    PutTag(out, u.number, u.type);
    if (u.type == wire::kVarint)
      PutVarint(out, u.varint);
    else if (u.type == wire::kLengthDelimited)
      PutVarint(out, u.data.size());
    if (u.type != wire::kVarint) out.append(u.data.data(), u.data.size());
  }
}

}  // namespace

bool SameAttrValue(std::string_view a, std::string_view b) {
  if (a == b) return true;
  try {
    return CanonicalOf(kAttrValue, a, 0) == CanonicalOf(kAttrValue, b, 0);
  } catch (const ParseError&) {
    return false;
  } catch (const TooDeep&) {
    return false;
  }
}

}  // namespace fastmeta
