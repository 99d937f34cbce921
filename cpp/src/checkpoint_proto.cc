// Hand-rolled wire encoding of the few protos in a tensor bundle index:
// BundleHeaderProto, BundleEntryProto, TensorShapeProto, TensorSliceProto, VersionDef.
#include "checkpoint_internal.h"
#include "fastmeta/checkpoint.h"

namespace fastmeta {

using ckpt_internal::Cursor;
using ckpt_internal::PutFixed32;
using ckpt_internal::PutInt;
using ckpt_internal::PutLenDelim;
using ckpt_internal::PutTag;
using ckpt_internal::PutVarint64;

namespace dtype {

size_t ByteSize(int32_t dt) {
  switch (dt) {
    case kFloat:
    case kInt32:
    case kQInt32:
    case kUInt32:
      return 4;
    case kDouble:
    case kInt64:
    case kComplex64:
    case kUInt64:
      return 8;
    case kUInt8:
    case kInt8:
    case kBool:
    case kQInt8:
    case kQUInt8:
    case kFloat8E5M2:
    case kFloat8E4M3FN:
    case kFloat8E4M3FNUZ:
    case kFloat8E4M3B11FNUZ:
    case kFloat8E5M2FNUZ:
    case kInt4:
    case kUInt4:
    case kInt2:
    case kUInt2:
    case kFloat4E2M1FN:
      return 1;
    case kInt16:
    case kUInt16:
    case kQInt16:
    case kQUInt16:
    case kBFloat16:
    case kHalf:
      return 2;
    case kComplex128:
      return 16;
    default:
      return 0;
  }
}

std::string Name(int32_t dt) {
  switch (dt) {
    case kFloat:
      return "float32";
    case kDouble:
      return "float64";
    case kInt32:
      return "int32";
    case kUInt8:
      return "uint8";
    case kInt16:
      return "int16";
    case kInt8:
      return "int8";
    case kString:
      return "string";
    case kComplex64:
      return "complex64";
    case kInt64:
      return "int64";
    case kBool:
      return "bool";
    case kQInt8:
      return "qint8";
    case kQUInt8:
      return "quint8";
    case kQInt32:
      return "qint32";
    case kBFloat16:
      return "bfloat16";
    case kQInt16:
      return "qint16";
    case kQUInt16:
      return "quint16";
    case kUInt16:
      return "uint16";
    case kComplex128:
      return "complex128";
    case kHalf:
      return "float16";
    case kResource:
      return "resource";
    case kVariant:
      return "variant";
    case kUInt32:
      return "uint32";
    case kUInt64:
      return "uint64";
    case kFloat8E5M2:
      return "float8_e5m2";
    case kFloat8E4M3FN:
      return "float8_e4m3fn";
    case kFloat8E4M3FNUZ:
      return "float8_e4m3fnuz";
    case kFloat8E4M3B11FNUZ:
      return "float8_e4m3b11fnuz";
    case kFloat8E5M2FNUZ:
      return "float8_e5m2fnuz";
    case kInt4:
      return "int4";
    case kUInt4:
      return "uint4";
    case kInt2:
      return "int2";
    case kUInt2:
      return "uint2";
    case kFloat4E2M1FN:
      return "float4_e2m1fn";
    default:
      return "dtype_" + std::to_string(dt);
  }
}

}  // namespace dtype

int64_t BundleEntry::NumElements(const std::string& what) const {
  if (unknown_rank) throw CheckpointError(what + ": shape has unknown rank");
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw CheckpointError(what + ": negative dimension " + std::to_string(d));
    if (d != 0 && n > INT64_MAX / d) throw CheckpointError(what + ": shape overflows");
    n *= d;
  }
  return n;
}

namespace {

int32_t ToInt32(uint64_t v) { return static_cast<int32_t>(static_cast<uint32_t>(v)); }

}  // namespace

namespace ckpt_internal {

void DecodeShape(std::string_view bytes, const std::string& ctx, std::vector<int64_t>* dims, bool* unknown_rank) {
  Cursor c(bytes, ctx + " shape");
  while (!c.done()) {
    const uint64_t tag = c.Varint64();
    const auto field = tag >> 3;
    const auto wt = static_cast<uint32_t>(tag & 7u);
    if (field == 2 && wt == 2) {  // Dim
      if (dims->size() == kMaxRank) {
        throw CheckpointError(ctx + ": shape has more than " + std::to_string(kMaxRank) +
                              " dimensions (TensorFlow's limit)");
      }
      Cursor d(c.Bytes(c.Varint64()), ctx + " shape dim");
      int64_t size = 0;
      while (!d.done()) {
        const uint64_t dtag = d.Varint64();
        if ((dtag >> 3) == 1 && (dtag & 7u) == 0)
          size = static_cast<int64_t>(d.Varint64());
        else
          d.SkipField(static_cast<uint32_t>(dtag & 7u));
      }
      dims->push_back(size);
    } else if (field == 3 && wt == 0) {
      *unknown_rank = c.Varint64() != 0;
    } else {
      c.SkipField(wt);
    }
  }
}

TensorSlice DecodeSlice(std::string_view bytes, const std::string& ctx) {
  Cursor c(bytes, ctx + " slice");
  TensorSlice slice;
  while (!c.done()) {
    const uint64_t tag = c.Varint64();
    if ((tag >> 3) == 1 && (tag & 7u) == 2) {
      if (slice.size() == kMaxRank) {
        throw CheckpointError(ctx + ": slice has more than " + std::to_string(kMaxRank) +
                              " dimensions (TensorFlow's limit)");
      }
      Cursor x(c.Bytes(c.Varint64()), ctx + " slice extent");
      SliceExtent ext;
      while (!x.done()) {
        const uint64_t xtag = x.Varint64();
        const auto f = xtag >> 3;
        if (f == 1 && (xtag & 7u) == 0)
          ext.start = static_cast<int64_t>(x.Varint64());
        else if (f == 2 && (xtag & 7u) == 0)
          ext.length = static_cast<int64_t>(x.Varint64());
        else
          x.SkipField(static_cast<uint32_t>(xtag & 7u));
      }
      slice.push_back(ext);
    } else {
      c.SkipField(static_cast<uint32_t>(tag & 7u));
    }
  }
  return slice;
}

std::string EncodeShape(const std::vector<int64_t>& dims, bool unknown_rank) {
  std::string out;
  for (int64_t d : dims) {
    std::string dim;
    PutInt(&dim, 1, d);
    PutLenDelim(&out, 2, dim);
  }
  if (unknown_rank) PutInt(&out, 3, 1);
  return out;
}

std::string EncodeSlice(const TensorSlice& slice) {
  std::string out;
  for (const SliceExtent& x : slice) {
    std::string ext;
    PutInt(&ext, 1, x.start);
    if (x.length != -1) {
      PutTag(&ext, 2, 0);
      PutVarint64(&ext, static_cast<uint64_t>(x.length));
    }
    PutLenDelim(&out, 1, ext);
  }
  return out;
}

Versions DecodeVersions(std::string_view bytes, const std::string& ctx) {
  Versions out;
  Cursor v(bytes, ctx);
  while (!v.done()) {
    const uint64_t vtag = v.Varint64();
    const auto vf = vtag >> 3;
    const auto vwt = static_cast<uint32_t>(vtag & 7u);
    if (vf == 1 && vwt == 0)
      out.producer = ToInt32(v.Varint64());
    else if (vf == 2 && vwt == 0)
      out.min_consumer = ToInt32(v.Varint64());
    else if (vf == 3 && vwt == 0)
      out.bad_consumers.push_back(ToInt32(v.Varint64()));
    else if (vf == 3 && vwt == 2) {
      Cursor p(v.Bytes(v.Varint64()), ctx + " bad_consumers");
      while (!p.done()) out.bad_consumers.push_back(ToInt32(p.Varint64()));
    } else
      v.SkipField(vwt);
  }
  return out;
}

}  // namespace ckpt_internal

using ckpt_internal::DecodeShape;
using ckpt_internal::DecodeSlice;

BundleHeader DecodeHeader(std::string_view bytes, const std::string& ctx) {
  BundleHeader h;
  Cursor c(bytes, ctx);
  while (!c.done()) {
    const uint64_t tag = c.Varint64();
    const auto field = tag >> 3;
    const auto wt = static_cast<uint32_t>(tag & 7u);
    if (field == 1 && wt == 0)
      h.num_shards = ToInt32(c.Varint64());
    else if (field == 2 && wt == 0)
      h.endianness = ToInt32(c.Varint64());
    else if (field == 3 && wt == 2) {
      ckpt_internal::Versions v = ckpt_internal::DecodeVersions(c.Bytes(c.Varint64()), ctx + " version");
      h.producer = v.producer;
      h.min_consumer = v.min_consumer;
      h.bad_consumers = std::move(v.bad_consumers);
    } else
      c.SkipField(wt);
  }
  return h;
}

BundleEntry DecodeEntry(std::string_view bytes, const std::string& ctx) {
  BundleEntry e;
  Cursor c(bytes, ctx);
  while (!c.done()) {
    const uint64_t tag = c.Varint64();
    const auto field = tag >> 3;
    const auto wt = static_cast<uint32_t>(tag & 7u);
    if (field == 1 && wt == 0)
      e.dtype = ToInt32(c.Varint64());
    else if (field == 2 && wt == 2) {
      e.shape.clear();
      DecodeShape(c.Bytes(c.Varint64()), ctx, &e.shape, &e.unknown_rank);
    } else if (field == 3 && wt == 0)
      e.shard_id = ToInt32(c.Varint64());
    else if (field == 4 && wt == 0)
      e.offset = static_cast<int64_t>(c.Varint64());
    else if (field == 5 && wt == 0)
      e.size = static_cast<int64_t>(c.Varint64());
    else if (field == 6 && wt == 5)
      e.crc32c = c.Fixed32();
    else if (field == 7 && wt == 2)
      e.slices.push_back(DecodeSlice(c.Bytes(c.Varint64()), ctx));
    else
      c.SkipField(wt);
  }
  return e;
}

std::string EncodeHeader(const BundleHeader& h) {
  std::string out;
  PutInt(&out, 1, h.num_shards);
  PutInt(&out, 2, h.endianness);
  std::string version;
  PutInt(&version, 1, h.producer);
  PutInt(&version, 2, h.min_consumer);
  for (int32_t b : h.bad_consumers) {
    PutTag(&version, 3, 0);
    PutVarint64(&version, static_cast<uint64_t>(static_cast<int64_t>(b)));
  }
  PutLenDelim(&out, 3, version);
  return out;
}

std::string EncodeEntry(const BundleEntry& e) {
  std::string out;
  PutInt(&out, 1, e.dtype);
  PutLenDelim(&out, 2, ckpt_internal::EncodeShape(e.shape, e.unknown_rank));
  PutInt(&out, 3, e.shard_id);
  PutInt(&out, 4, e.offset);
  PutInt(&out, 5, e.size);
  if (e.crc32c != 0) {
    PutTag(&out, 6, 5);
    PutFixed32(&out, e.crc32c);
  }
  for (const TensorSlice& s : e.slices) PutLenDelim(&out, 7, ckpt_internal::EncodeSlice(s));
  return out;
}

// ---- OrderedCode (tensorflow/core/lib/strings/ordered_code.cc), encode side ----
namespace {

void WriteNumIncreasing(std::string* dest, uint64_t val) {
  unsigned char buf[9];
  int len = 0;
  while (val > 0) {
    ++len;
    buf[9 - len] = static_cast<unsigned char>(val & 0xffu);
    val >>= 8;
  }
  buf[9 - len - 1] = static_cast<unsigned char>(len);
  ++len;
  dest->append(reinterpret_cast<const char*>(buf + 9 - len), static_cast<size_t>(len));
}

void WriteString(std::string* dest, std::string_view s) {
  for (char ch : s) {
    if (ch == '\0') {
      dest->push_back('\0');
      dest->push_back('\xff');
    } else if (ch == '\xff') {
      dest->push_back('\xff');
      dest->push_back('\0');
    } else
      dest->push_back(ch);
  }
  dest->push_back('\0');
  dest->push_back('\x01');
}

void WriteSignedNumIncreasing(std::string* dest, int64_t val) {
  const uint64_t x = val < 0 ? ~static_cast<uint64_t>(val) : static_cast<uint64_t>(val);
  if (x < 64) {
    dest->push_back(static_cast<char>(0x80u ^ static_cast<unsigned char>(val & 0xff)));
    return;
  }
  static const unsigned char kLengthToHeaderBits[11][2] = {{0, 0},    {0x80, 0},    {0xc0, 0},   {0xe0, 0},
                                                           {0xf0, 0}, {0xf8, 0},    {0xfc, 0},   {0xfe, 0},
                                                           {0xff, 0}, {0xff, 0x80}, {0xff, 0xc0}};
  static const int kBitsToLength[64] = {1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 4,
                                        4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 7,
                                        7, 7, 7, 7, 7, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 10};
  int log2 = 63;
  while (((x >> log2) & 1u) == 0) --log2;  // x >= 64 here
  const int len = kBitsToLength[log2 + 1];
  const unsigned char sign = val < 0 ? 0xff : 0x00;
  unsigned char buf[10] = {sign, sign, 0, 0, 0, 0, 0, 0, 0, 0};
  const auto u = static_cast<uint64_t>(val);
  for (int i = 0; i < 8; ++i) buf[2 + i] = static_cast<unsigned char>((u >> (56 - 8 * i)) & 0xffu);
  unsigned char* begin = buf + 10 - len;
  begin[0] ^= kLengthToHeaderBits[len][0];
  begin[1] ^= kLengthToHeaderBits[len][1];
  dest->append(reinterpret_cast<const char*>(begin), static_cast<size_t>(len));
}

}  // namespace

std::string EncodeTensorNameSlice(std::string_view name, const TensorSlice& slice) {
  std::string buffer;
  WriteNumIncreasing(&buffer, 0);
  WriteString(&buffer, name);
  WriteNumIncreasing(&buffer, slice.size());
  for (const SliceExtent& e : slice) {
    WriteSignedNumIncreasing(&buffer, e.start);
    WriteSignedNumIncreasing(&buffer, e.length);
  }
  return buffer;
}

}  // namespace fastmeta
