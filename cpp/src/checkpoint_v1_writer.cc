// Writing V1 checkpoint files (SaverDef.V1), as TensorFlow's SaveSlices op writes them:
// one sorted string table per file, its metadata under "" and each slice's values
// under its EncodeTensorNameSlice key. See fastmeta/checkpoint.h.
#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "checkpoint_internal.h"
#include "fastmeta/checkpoint.h"

namespace fastmeta {

using ckpt_internal::EncodeShape;
using ckpt_internal::EncodeSlice;
using ckpt_internal::PutLenDelim;
using ckpt_internal::PutTag;
using ckpt_internal::PutVarint64;
using ckpt_internal::ShapeString;
using ckpt_internal::SliceShown;

namespace {

// TensorFlow's checkpoint version (TF_CHECKPOINT_VERSION) written in every file's metadata.
constexpr uint64_t kProducer = 1;
// TensorFlow refuses a slice whose serialized size it estimates above this.
constexpr uint64_t kMaxMessageBytes = uint64_t{1} << 31;
// The slack TensorFlow adds to that estimate for the TensorProto's own fields.
constexpr uint64_t kTensorProtoSlack = 1024;

// How a slice's values are stored: the TensorProto field SaveSlices fills for the
// dtype, and the most bytes TensorFlow counts per element when it estimates the size
// (its MaxBytesPerElement; 0: a dtype SaveSlices does not save).
struct Field {
  uint32_t number = 0;
  uint64_t max_bytes = 0;
};

Field FieldOf(int32_t dt) {
  switch (dt) {
    case dtype::kFloat:
      return {5, 4};
    case dtype::kDouble:
      return {6, 8};
    case dtype::kInt32:
    case dtype::kInt16:
    case dtype::kInt8:
    case dtype::kQInt8:
    case dtype::kQInt16:
    case dtype::kQInt32:
      return {7, 10};
    case dtype::kUInt8:
    case dtype::kQUInt8:
      return {7, 2};
    case dtype::kUInt16:
    case dtype::kQUInt16:
      return {7, 3};
    case dtype::kString:
      return {8, 10};  // (plus each string's bytes)
    case dtype::kComplex64:
      return {9, 8};
    case dtype::kInt64:
      return {10, 10};
    case dtype::kBool:
      return {11, 1};
    case dtype::kComplex128:
      return {12, 16};
    case dtype::kHalf:
      return {13, 3};
    default:
      return {};
  }
}

// Element i of fixed-size dtype `dt` at `p` as the int64 protobuf stores in a varint field.
int64_t VarintValue(int32_t dt, const char* p) {
  switch (dt) {
    case dtype::kInt32:
    case dtype::kQInt32: {
      int32_t v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case dtype::kInt16:
    case dtype::kQInt16: {
      int16_t v;
      std::memcpy(&v, p, 2);
      return v;
    }
    case dtype::kUInt16:
    case dtype::kQUInt16:
    case dtype::kHalf: {
      uint16_t v;
      std::memcpy(&v, p, 2);
      return v;
    }
    case dtype::kInt8:
    case dtype::kQInt8:
      return static_cast<int8_t>(*p);
    case dtype::kBool:
      return *p != 0 ? 1 : 0;
    case dtype::kInt64: {
      int64_t v;
      std::memcpy(&v, p, 8);
      return v;
    }
    default:
      return static_cast<uint8_t>(*p);  // uint8, quint8
  }
}

// One slice to store: its key, and its SavedTensorSlices value as `head` followed by
// `payload` (the caller's bytes for floating-point and complex values, else `owned`).
struct Stored {
  std::string key;
  std::string head;
  std::string owned;
  std::string_view payload;
};

// A tensor of the metadata: its full shape, dtype and slices, in the order first given.
struct MetaTensor {
  std::string name;
  std::vector<int64_t> shape;
  int32_t dtype = 0;
  std::vector<TensorSlice> slices;
};

}  // namespace

void WriteSlicesTo(const std::string& filename, const std::vector<WriteEntry>& entries,
                   const table::BuildOptions& options, const table::Writer::Sink& sink) {
  std::vector<MetaTensor> meta;
  std::map<std::string, size_t> meta_index;
  std::deque<Stored> stored;
  std::map<std::string, const Stored*> by_key;
  // TensorFlow's SaveSlices kernel adds its tensors to the file in name order, sorted
  // with std::sort: not a stable sort, so the slices of one partitioned variable are
  // listed in the metadata in the order that sort leaves them (not the order given).
  // The same sort over the same sequence leaves them as TensorFlow's does.
  std::vector<size_t> order(entries.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&entries](size_t a, size_t b) { return entries[a].key < entries[b].key; });
  for (size_t i : order) {
    const WriteEntry& w = entries[i];
    const std::string where = filename + ": tensor '" + w.key + "'";
    if (w.key.empty()) throw CheckpointError(filename + ": tensor name must not be empty");
    const Field field = FieldOf(w.dtype);
    if (field.number == 0) {
      throw CheckpointError(where + ": dtype " + dtype::Name(w.dtype) +
                            " cannot be written in the V1 format (TensorFlow's SaveSlices does not save it)");
    }
    // The slice in full-tensor coordinates ("-" for a whole dimension), and the shape
    // of the whole tensor.
    const bool sliced = !w.slice.empty();
    TensorSlice slice = sliced ? w.slice : TensorSlice(w.shape.size());
    for (SliceExtent& x : slice) {
      if (x.length == -1) x.start = 0;  // (a whole dimension starts at 0, whatever was given)
    }
    const std::vector<int64_t>& full = sliced ? w.full_shape : w.shape;
    ckpt_internal::CheckWriteSlice(slice, full, w.shape, where);
    uint64_t n = 1;
    for (const int64_t len : w.shape) {
      if (len != 0 && n > (uint64_t{1} << 62) / static_cast<uint64_t>(len)) {
        throw CheckpointError(where + ": shape " + ShapeString(w.shape) + " is too large");
      }
      n *= static_cast<uint64_t>(len);
    }
    // (TensorFlow's estimate counts at least field.max_bytes per element: refused here
    // already when that alone passes 2 GiB, so that no product below can overflow.)
    if (n > kMaxMessageBytes / field.max_bytes) {
      throw CheckpointError(where + SliceShown("", slice) + ": too large for one V1 slice (TensorFlow's " +
                            "conservative estimate: " + std::to_string(n) + " elements of up to " +
                            std::to_string(field.max_bytes) + " bytes, over 2 GiB)");
    }
    if (w.dtype == dtype::kString) {
      if (w.strings.size() != n) {
        throw CheckpointError(where + ": " + std::to_string(w.strings.size()) + " strings for shape " +
                              ShapeString(w.shape));
      }
    } else if (n * dtype::ByteSize(w.dtype) != w.data.size()) {
      throw CheckpointError(where + ": " + std::to_string(w.data.size()) + " bytes for " + dtype::Name(w.dtype) +
                            ShapeString(w.shape));
    }

    // The metadata: a name's slices must agree on the tensor and not overlap.
    auto [it, fresh] = meta_index.emplace(w.key, meta.size());
    if (fresh) {
      meta.push_back(MetaTensor{w.key, full, w.dtype, {}});
    }
    MetaTensor& t = meta[it->second];
    if (t.shape != full || t.dtype != w.dtype) {
      throw CheckpointError(where + ": given as " + dtype::Name(w.dtype) + ShapeString(full) + " after " +
                            dtype::Name(t.dtype) + ShapeString(t.shape));
    }
    for (const TensorSlice& other : t.slices) {
      if (other == slice ||
          ckpt_internal::Overlap(ckpt_internal::ResolveSlice(other, full), ckpt_internal::ResolveSlice(slice, full))) {
        throw CheckpointError(where + ": slice" + SliceShown("", slice) + " overlaps another slice given");
      }
    }
    t.slices.push_back(slice);

    // The value: SavedTensorSlices{data: SavedSlice{name, slice, data: TensorProto}}.
    std::string saved_slice;
    PutLenDelim(&saved_slice, 1, w.key);
    PutLenDelim(&saved_slice, 2, EncodeSlice(slice));
    uint64_t bound = saved_slice.size() + kTensorProtoSlack + field.max_bytes * n;
    for (std::string_view s : w.strings) bound += s.size();
    if (bound > kMaxMessageBytes) {
      throw CheckpointError(where + SliceShown("", slice) + ": too large for one V1 slice (TensorFlow's " +
                            "conservative estimate: " + std::to_string(bound) + " bytes, over 2 GiB)");
    }
    Stored& s = stored.emplace_back();
    s.key = EncodeTensorNameSlice(w.key, slice);
    std::string proto_head;  // the TensorProto up to its payload
    uint64_t proto_size = 0;
    if (w.dtype == dtype::kString) {
      for (std::string_view e : w.strings) PutLenDelim(&s.owned, field.number, e);
      s.payload = s.owned;
      proto_size = s.owned.size();
    } else if (n > 0) {
      const bool fixed = w.dtype == dtype::kFloat || w.dtype == dtype::kDouble || w.dtype == dtype::kComplex64 ||
                         w.dtype == dtype::kComplex128;
      if (fixed) {
        s.payload = w.data;  // packed fixed-width values: the array's little-endian bytes
      } else {
        const size_t elem = dtype::ByteSize(w.dtype);
        s.owned.reserve(static_cast<size_t>(n) * 2);
        for (uint64_t e = 0; e < n; ++e) {
          PutVarint64(&s.owned, static_cast<uint64_t>(VarintValue(w.dtype, w.data.data() + e * elem)));
        }
        s.payload = s.owned;
      }
      PutTag(&proto_head, field.number, 2);
      PutVarint64(&proto_head, s.payload.size());
      proto_size = proto_head.size() + s.payload.size();
    }
    // (An empty tensor stores an empty TensorProto: SaveSlices creates the message.)
    PutTag(&saved_slice, 3, 2);
    PutVarint64(&saved_slice, proto_size);
    const uint64_t slice_size = saved_slice.size() + proto_size;
    PutTag(&s.head, 2, 2);
    PutVarint64(&s.head, slice_size);
    s.head += saved_slice;
    s.head += proto_head;
    if (!by_key.emplace(s.key, &s).second) {
      throw CheckpointError(where + ": slice" + SliceShown("", slice) + " given twice");
    }
  }

  // SavedTensorSlices{meta: SavedTensorSliceMeta{tensor: [...], versions}}.
  std::string tensors;
  for (const MetaTensor& t : meta) {
    std::string m;
    PutLenDelim(&m, 1, t.name);
    PutLenDelim(&m, 2, EncodeShape(t.shape));
    PutTag(&m, 3, 0);
    PutVarint64(&m, static_cast<uint64_t>(t.dtype));
    for (const TensorSlice& s : t.slices) PutLenDelim(&m, 4, EncodeSlice(s));
    PutLenDelim(&tensors, 1, m);
  }
  std::string versions;
  PutTag(&versions, 1, 0);
  PutVarint64(&versions, kProducer);
  PutLenDelim(&tensors, 2, versions);
  std::string meta_value;
  PutLenDelim(&meta_value, 1, tensors);

  table::Writer table(options, sink);
  table.Add(std::string(), {meta_value});
  for (const auto& [key, s] : by_key) table.Add(key, {s->head, s->payload});
  table.Finish();
}

void WriteSlices(const std::string& filename, const std::vector<WriteEntry>& entries,
                 const table::BuildOptions& options) {
  ckpt_internal::OutputFile out(filename, filename + ckpt_internal::TempSuffix());
  WriteSlicesTo(filename, entries, options, [&out](std::string_view bytes) { out.Write(bytes); });
  out.Commit();
}

}  // namespace fastmeta
