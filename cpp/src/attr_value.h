// Equality of two serialized AttrValues as protobuf messages (not as bytes).
#pragma once

#include <string_view>

namespace fastmeta {

// Whether two serialized AttrValues are equal as the parsed messages are, which is how
// TensorFlow's Python importer compares a node's attr with its producer OpDef's default
// (RewriteOptions::registry): the same bytes are equal; otherwise both are read by the
// AttrValue schema (and the messages inside it: ListValue, TensorShapeProto,
// TensorProto, NameAttrList, ...) and compared field by field, so encodings of one
// value are equal (a repeated scalar packed or not, a varint with redundant bytes, a
// bool of 2, fields in another order, a message split in pieces, a map's entries in
// another order, a oneof member overwritten by a later one), while floats compare by
// their bits (-0.0 is not 0.0; a NaN equals the same NaN) and unknown fields count
// (compared by number, in any order). A value that does not parse is equal to nothing
// but its own bytes.
bool SameAttrValue(std::string_view a, std::string_view b);

}  // namespace fastmeta
