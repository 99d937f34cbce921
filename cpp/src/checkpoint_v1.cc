// SliceReader: TensorFlow V1 checkpoints, the "tensor slice" tables SaveSlices writes
// (SaverDef.V1). Each file is a sorted string table whose "" entry lists the tensors
// and the slices the file stores, and whose other entries hold one slice's values
// each, as a TensorProto's typed repeated fields (float_val, int_val, ...).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

#include "checkpoint_internal.h"
#include "fastmeta/checkpoint.h"

namespace fastmeta {

using ckpt_internal::ContiguousStart;
using ckpt_internal::Cursor;
using ckpt_internal::Extents;
using ckpt_internal::ForEachSliceRun;
using ckpt_internal::ResolveSlice;
using ckpt_internal::ShapeString;
using ckpt_internal::SliceShown;

namespace {

// TensorFlow's checkpoint version numbers (TF_CHECKPOINT_VERSION and its minimums).
constexpr int32_t kCheckpointVersion = 1;
constexpr int32_t kCheckpointMinProducer = 0;

// More slices of one tensor than this are refused: checking that no two overlap is
// quadratic (as in TensorFlow), and real partitioned variables have at most hundreds.
constexpr size_t kMaxSlicesPerTensor = 10000;

// How a TensorProto holds one element of each dtype in a V1 checkpoint.
enum class Wire { kNone, kVarint, kFixed32, kFixed64, kBytes };
struct Storage {
  uint32_t field = 0;  // TensorProto field number
  Wire wire = Wire::kNone;
  int components = 1;    // values per element (2 for complex numbers)
  size_t min_bytes = 1;  // fewest stored bytes an element can take
};

Storage StorageOf(int32_t dt) {
  switch (dt) {
    case dtype::kFloat:
      return {5, Wire::kFixed32, 1, 4};
    case dtype::kDouble:
      return {6, Wire::kFixed64, 1, 8};
    case dtype::kInt32:
    case dtype::kInt16:
    case dtype::kInt8:
    case dtype::kUInt8:
    case dtype::kUInt16:
    case dtype::kQInt8:
    case dtype::kQUInt8:
    case dtype::kQInt16:
    case dtype::kQUInt16:
    case dtype::kQInt32:
      return {7, Wire::kVarint, 1, 1};
    case dtype::kString:
      return {8, Wire::kBytes, 1, 2};
    case dtype::kComplex64:
      return {9, Wire::kFixed32, 2, 8};
    case dtype::kInt64:
      return {10, Wire::kVarint, 1, 1};
    case dtype::kBool:
      return {11, Wire::kVarint, 1, 1};
    case dtype::kComplex128:
      return {12, Wire::kFixed64, 2, 16};
    case dtype::kHalf:
    case dtype::kBFloat16:
      return {13, Wire::kVarint, 1, 1};
    case dtype::kUInt32:
      return {16, Wire::kVarint, 1, 1};
    case dtype::kUInt64:
      return {17, Wire::kVarint, 1, 1};
    default:
      return {};
  }
}

// Stores varint `v` as one element of `dt` at `out` (the element's native bytes).
void PutVarintElement(int32_t dt, uint64_t v, char* out) {
  switch (dt) {
    case dtype::kInt64:
    case dtype::kUInt64:
      std::memcpy(out, &v, 8);
      return;
    case dtype::kInt32:
    case dtype::kQInt32:
    case dtype::kUInt32: {
      const auto x = static_cast<uint32_t>(v);
      std::memcpy(out, &x, 4);
      return;
    }
    case dtype::kInt16:
    case dtype::kUInt16:
    case dtype::kQInt16:
    case dtype::kQUInt16:
    case dtype::kHalf:
    case dtype::kBFloat16: {
      const auto x = static_cast<uint16_t>(v);
      std::memcpy(out, &x, 2);
      return;
    }
    case dtype::kBool:
      *out = static_cast<char>(v != 0);
      return;
    default:
      *out = static_cast<char>(static_cast<uint8_t>(v));
      return;  // 8-bit types
  }
}

// The extent of slice `s` (in range, of the rank of `shape`) in dimension d: start, length.
std::pair<int64_t, int64_t> ExtentIn(const TensorSlice& s, const std::vector<int64_t>& shape, size_t d) {
  return s[d].length < 0 ? std::pair<int64_t, int64_t>{0, shape[d]}
                         : std::pair<int64_t, int64_t>{s[d].start, s[d].length};
}

// Whether two slices of a tensor of `shape` share an element, given that in every
// dimension but `dims` they have the same extent, not empty.
bool SlicesOverlapIn(const TensorSlice& a, const TensorSlice& b, const std::vector<int64_t>& shape,
                     const std::vector<uint32_t>& dims) {
  for (uint32_t d : dims) {
    const auto [as, al] = ExtentIn(a, shape, d);
    const auto [bs, bl] = ExtentIn(b, shape, d);
    if (al == 0 || bl == 0 || as + al <= bs || bs + bl <= as) return false;
  }
  return true;
}

// TensorFlow's notation of a slice alone ("0,2:-").
std::string SliceText(const TensorSlice& s) {
  const std::string shown = SliceShown("", s);  // " (slice 0,2:-)"
  const size_t at = shown.find("(slice ") + 7;
  return shown.substr(at, shown.size() - at - 1);
}

// Decodes the `count` elements of dtype `dt` held in `protos` (the TensorProto
// messages of one slice, in order: protobuf merges repeated ones) into `out`, or for
// strings into strings[0, count). Any other number of values is an error.
void DecodeValues(const std::vector<std::string_view>& protos, int32_t dt, int64_t count, char* out,
                  std::string* strings, const std::string& where) {
  const Storage st = StorageOf(dt);
  const uint64_t want = static_cast<uint64_t>(count) * static_cast<uint64_t>(st.components);
  const size_t value_size = st.wire == Wire::kFixed32 ? 4 : st.wire == Wire::kFixed64 ? 8 : dtype::ByteSize(dt);
  uint64_t got = 0;
  auto too_many = [&](const Cursor& c) {
    c.Fail("holds more than the " + std::to_string(want) + " values its slice has");
  };
  for (std::string_view proto : protos) {
    Cursor c(proto, where);
    while (!c.done()) {
      const uint64_t tag = c.Varint64();
      const auto wt = static_cast<uint32_t>(tag & 7u);
      if ((tag >> 3) != st.field) {
        c.SkipField(wt);
        continue;
      }
      if (st.wire == Wire::kBytes) {
        if (wt != 2) c.Fail("string_val has wire type " + std::to_string(wt));
        std::string_view s = c.Bytes(c.Varint64());
        if (got >= want) too_many(c);
        strings[got++].assign(s.data(), s.size());
        continue;
      }
      const uint32_t scalar_wt = st.wire == Wire::kVarint ? 0 : st.wire == Wire::kFixed32 ? 5 : 1;
      std::string_view packed;
      if (wt == 2) {
        packed = c.Bytes(c.Varint64());
      } else if (wt != scalar_wt) {
        c.Fail("field " + std::to_string(st.field) + " has wire type " + std::to_string(wt) + ", not that of " +
               dtype::Name(dt) + " values");
      }
      Cursor p(packed, where);
      if (wt == 2 && st.wire != Wire::kVarint) {
        // Fixed-width values, packed: already the elements' little-endian bytes.
        const size_t k = packed.size() / value_size;
        if (k > want - got) too_many(p);
        if (packed.size() % value_size != 0) {
          p.Bytes(k * value_size);
          p.Fail(value_size == 4 ? "truncated fixed32" : "truncated fixed64");
        }
        if (k != 0) std::memcpy(out + got * value_size, packed.data(), packed.size());
        got += k;
        continue;
      }
      Cursor& src = wt == 2 ? p : c;
      do {
        if (wt == 2 && src.done()) break;
        if (got >= want) too_many(src);
        char* dst = out + got * value_size;
        if (st.wire == Wire::kVarint) {
          PutVarintElement(dt, src.Varint64(), dst);
        } else if (st.wire == Wire::kFixed32) {
          const uint32_t v = src.Fixed32();
          std::memcpy(dst, &v, 4);
        } else {
          const uint64_t v = src.Fixed64();
          std::memcpy(dst, &v, 8);
        }
        ++got;
      } while (wt == 2);
    }
  }
  if (got != want) {
    throw CheckpointError(where + ": holds " + std::to_string(got) + " values, not the " + std::to_string(want) +
                          " its slice has");
  }
}

}  // namespace

// One file of the checkpoint: held open (or in memory), with its table's index.
struct SliceReader::File {
  std::string path;
  int fd = -1;
  std::string memory;  // the file's bytes, for the in-memory constructor
  uint64_t size = 0;
  std::vector<std::pair<std::string, table::BlockHandle>> index;  // last key of each data block
  ~File() {
    if (fd >= 0) ::close(fd);
  }

  // Bytes [offset, offset + n) of the file; CheckpointError if it ends before them
  // (it shrank since it was opened).
  // Bytes [offset, offset + n) of the file into dst; CheckpointError if it ends before
  // them (it shrank since it was opened).
  void ReadInto(uint64_t offset, uint64_t n, char* dst, const std::string& what) const {
    if (offset > size || n > size - offset) {
      throw CheckpointError(path + ": " + what + " at byte " + std::to_string(offset) + " (" + std::to_string(n) +
                            " bytes) runs past the end of the file (" + std::to_string(size) + " bytes); truncated?");
    }
    if (fd < 0) {
      if (n != 0) std::memcpy(dst, memory.data() + offset, static_cast<size_t>(n));
      return;
    }
    size_t done = 0;
    while (done < n) {
      const ssize_t got = ::pread(fd, dst + done, static_cast<size_t>(n) - done, static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw CheckpointError(path + ": read failed: " + ckpt_internal::ErrnoText());
      if (got == 0) {
        throw CheckpointError(path + ": " + what + " at byte " + std::to_string(offset) + ": the file ends at byte " +
                              std::to_string(offset + done) + " (it changed since it was opened)");
      }
      done += static_cast<size_t>(got);
    }
  }

  std::string Read(uint64_t offset, uint64_t n, const std::string& what) const {
    if (offset > size || n > size - offset) ReadInto(offset, n, nullptr, what);  // (throws)
    std::string out(static_cast<size_t>(n), '\0');
    ReadInto(offset, n, out.data(), what);
    return out;
  }

  // Whether the entry `key` of block `h` can be read straight into its destination: the
  // block holds that one entry, uncompressed, and its value is the way SaveSlices writes a
  // slice of fixed-width values (SavedTensorSlices{data: SavedSlice{..., data:
  // TensorProto{..., field: packed values}}}, each last in its message) whose packed
  // values are `want` bytes. Then *d says where those bytes are and holds what the
  // block's checksum needs besides them. Otherwise false: the block is read whole.
  bool PlanDirect(const table::BlockHandle& h, const std::string& key, uint32_t field, uint64_t want, Direct* d) const {
    constexpr uint64_t kProbe = 1024;      // the bytes read ahead of the values
    constexpr uint64_t kMinDirect = 4096;  // smaller values: the whole block is read
    constexpr uint64_t kMaxTail = 4096;    // the restart array after the one entry
    if (want < kMinDirect || h.size > size || h.offset > size - h.size ||
        size - h.offset - h.size < table::kBlockTrailerSize) {
      return false;
    }
    const uint64_t n = h.size;
    const std::string probe = Read(h.offset, std::min(n, kProbe), "data block");
    const char* b = probe.data();
    const char* e = b + probe.size();
    const char* p = b;
    auto varint = [&](uint64_t& v) {  // (as strict as the reader's: else false, and it decides)
      v = 0;
      for (int shift = 0; shift < 64 && p < e; shift += 7) {
        const auto c = static_cast<unsigned char>(*p++);
        if (shift == 63 && (c & 0x7e) != 0) return false;
        v |= static_cast<uint64_t>(c & 0x7f) << shift;
        if ((c & 0x80) == 0) return true;
      }
      return false;
    };
    auto at = [&] { return static_cast<uint64_t>(p - b); };
    uint64_t value_end = 0;
    // Whether a field of `len` bytes from here ends exactly at the value's end / within it.
    auto ends_the_value = [&](uint64_t len) { return at() <= value_end && len == value_end - at(); };
    auto within = [&](uint64_t len) {
      return at() <= value_end && len <= value_end - at() && len <= static_cast<uint64_t>(e - p);
    };
    uint64_t shared = 0, non_shared = 0, value_len = 0, tag = 0, len = 0;
    if (!varint(shared) || shared != 0 || !varint(non_shared) || !varint(value_len)) return false;
    if (non_shared != key.size() || static_cast<uint64_t>(e - p) < non_shared ||
        std::memcmp(p, key.data(), key.size()) != 0) {
      return false;
    }
    p += key.size();
    if (value_len > n - at()) return false;
    value_end = at() + value_len;
    // SavedTensorSlices: its data (2), alone.
    if (!varint(tag) || tag != (2u << 3 | 2u) || !varint(len) || !ends_the_value(len)) return false;
    // SavedSlice: name, slice..., then its data (3), last.
    for (;;) {
      if (!varint(tag)) return false;
      if ((tag & 7u) == 0) {
        if (!varint(len)) return false;
        continue;
      }
      if ((tag & 7u) != 2 || !varint(len)) return false;
      if ((tag >> 3) == 3) {
        if (!ends_the_value(len)) return false;
        break;
      }
      if (!within(len)) return false;
      p += len;
    }
    // TensorProto: any other fields, then the packed values, last.
    for (;;) {
      if (!varint(tag)) return false;
      const uint64_t wt = tag & 7u;
      if ((tag >> 3) == field) {
        if (wt != 2 || !varint(len) || !ends_the_value(len) || len != want) return false;
        break;
      }
      if (wt == 0) {
        if (!varint(len)) return false;
      } else if (wt == 1 || wt == 5) {
        const uint64_t w = wt == 1 ? 8 : 4;
        if (!within(w)) return false;
        p += w;
      } else if (wt == 2) {
        if (!varint(len) || !within(len)) return false;
        p += len;
      } else {
        return false;
      }
    }
    const uint64_t payload = at();
    // After the entry: its restart array only.
    const uint64_t rest = n - value_end;
    if (rest < 4 || rest > kMaxTail) return false;
    std::string tail = Read(h.offset + value_end, rest + table::kBlockTrailerSize, "data block");
    const uint32_t restarts = ckpt_internal::LoadFixed32(tail.data() + rest - 4);
    if (uint64_t{restarts} * 4 + 4 != rest || tail[rest] != 0) return false;  // (0: not compressed)
    d->use = true;
    d->offset = h.offset + payload;
    d->size = want;
    d->block_offset = h.offset;
    d->head_crc = crc32c::Value(b, static_cast<size_t>(payload));
    d->tail = std::move(tail);
    return true;
  }

  // The checked (and decompressed) contents of data or index block `h`.
  std::string Block(const table::BlockHandle& h, const char* what) const {
    if (h.size > size) {
      throw CheckpointError(path + ": " + what + " block at offset " + std::to_string(h.offset) + " (size " +
                            std::to_string(h.size) + ") runs past the end of the file (" + std::to_string(size) +
                            " bytes); truncated?");
    }
    std::string raw = Read(h.offset, h.size + table::kBlockTrailerSize, std::string(what) + " block");
    std::string scratch;
    const std::string_view contents = table::CheckedBlock(raw, h, path, what, &scratch);
    if (contents.data() != raw.data()) return scratch;
    raw.resize(contents.size());
    return raw;
  }
};

SliceReader::SliceReader(std::vector<std::string> files) : files_(std::move(files)) {
  if (files_.empty()) throw CheckpointError("a V1 checkpoint needs at least one file");
  for (size_t fi = 0; fi < files_.size(); ++fi) {
    auto f = std::make_unique<File>();
    f->path = files_[fi];
    f->fd = ::open(f->path.c_str(), O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) throw CheckpointError(f->path + ": cannot open: " + ckpt_internal::ErrnoText());
    struct stat st{};
    if (::fstat(f->fd, &st) != 0) throw CheckpointError(f->path + ": cannot stat: " + ckpt_internal::ErrnoText());
    f->size = static_cast<uint64_t>(st.st_size);
    files_impl_.push_back(std::move(f));
    Load(fi);
  }
  Finish();
}

SliceReader::SliceReader(std::vector<std::string> files, const std::vector<std::string_view>& contents)
    : files_(std::move(files)) {
  if (files_.empty() || files_.size() != contents.size()) {
    throw CheckpointError("a V1 checkpoint needs one content per file, and at least one file");
  }
  for (size_t fi = 0; fi < files_.size(); ++fi) {
    auto f = std::make_unique<File>();
    f->path = files_[fi];
    f->memory = std::string(contents[fi]);
    f->size = f->memory.size();
    files_impl_.push_back(std::move(f));
    Load(fi);
  }
  Finish();
}

SliceReader::~SliceReader() = default;

void SliceReader::Load(size_t fi) {
  {
    File& f = *files_impl_[fi];
    const std::string& path = f.path;
    std::string first_block;
    std::string_view meta_entry;
    try {
      if (f.size < table::kFooterSize) {
        throw CheckpointError(path + ": too short to be a checkpoint table (" + std::to_string(f.size) +
                              " bytes); truncated?");
      }
      const auto [meta_handle, index_handle] =
          table::DecodeFooter(f.Read(f.size - table::kFooterSize, table::kFooterSize, "footer"), f.size, path);
      (void)meta_handle;  // (the metaindex block: TensorFlow writes it empty and never reads it)
      const std::string index = f.Block(index_handle, "index");
      table::ForEachInBlock(index, path + ": index block", [&](const std::string& key, std::string_view value) {
        Cursor hc(value, path + ": index block entry");
        table::BlockHandle h;
        h.offset = hc.Varint64();
        h.size = hc.Varint64();
        f.index.emplace_back(key, h);
      });
      if (f.index.empty()) throw CheckpointError(path + ": an empty table: not a V1 checkpoint file");
      // The metadata's key, "", sorts first: the first entry of the first block.
      first_block = f.Block(f.index[0].second, "data");
      bool first = true;
      table::ForEachInBlock(first_block, path + ": data block at offset " + std::to_string(f.index[0].second.offset),
                            [&](const std::string& key, std::string_view value) {
                              if (first && !key.empty()) {
                                throw CheckpointError(path +
                                                      ": no metadata entry (empty key): not a V1 "
                                                      "checkpoint file");
                              }
                              if (first) meta_entry = value;
                              first = false;
                            });
      if (first) throw CheckpointError(path + ": an empty data block: not a V1 checkpoint file");
    } catch (const CheckpointError& e) {
      const std::string message = e.what();
      if (message.find("V1") != std::string::npos) throw;
      throw CheckpointError(message + " (read as a V1 checkpoint file)");
    }
    // SavedTensorSlices.meta (field 1); repeated occurrences merge, as protobuf's do.
    std::vector<std::string_view> metas;
    {
      Cursor c(meta_entry, path + ": metadata entry");
      while (!c.done()) {
        const uint64_t tag = c.Varint64();
        if ((tag >> 3) == 1 && (tag & 7u) == 2)
          metas.push_back(c.Bytes(c.Varint64()));
        else
          c.SkipField(static_cast<uint32_t>(tag & 7u));
      }
    }
    if (metas.empty()) {
      throw CheckpointError(path +
                            ": its metadata entry holds no SavedTensorSliceMeta: not a V1 "
                            "checkpoint file");
    }
    for (std::string_view meta : metas) {
      Cursor c(meta, path + ": metadata");
      while (!c.done()) {
        const uint64_t tag = c.Varint64();
        const auto field = tag >> 3;
        const auto wt = static_cast<uint32_t>(tag & 7u);
        if (field == 2 && wt == 2) {
          const auto v = ckpt_internal::DecodeVersions(c.Bytes(c.Varint64()), path + ": versions");
          if (v.producer < kCheckpointMinProducer) {
            throw CheckpointError(path + ": checkpoint producer version " + std::to_string(v.producer) + " is too old");
          }
          if (v.min_consumer > kCheckpointVersion) {
            throw CheckpointError(path + ": checkpoint requires reader version >= " + std::to_string(v.min_consumer) +
                                  " (this reader: " + std::to_string(kCheckpointVersion) + ")");
          }
          if (std::count(v.bad_consumers.begin(), v.bad_consumers.end(), kCheckpointVersion) != 0) {
            throw CheckpointError(path + ": checkpoint disallows reader version " + std::to_string(kCheckpointVersion));
          }
          continue;
        }
        if (field != 1 || wt != 2) {
          c.SkipField(wt);
          continue;
        }
        // SavedSliceMeta: name 1, shape 2, type 3, slice 4.
        Cursor m(c.Bytes(c.Varint64()), path + ": tensor metadata");
        std::string name;
        std::vector<int64_t> shape;
        bool unknown_rank = false;
        int32_t dt = 0;
        std::vector<TensorSlice> slices;
        while (!m.done()) {
          const uint64_t mtag = m.Varint64();
          const auto mf = mtag >> 3;
          const auto mwt = static_cast<uint32_t>(mtag & 7u);
          if (mf == 1 && mwt == 2) {
            const std::string_view n = m.Bytes(m.Varint64());
            name.assign(n.data(), n.size());
          } else if (mf == 2 && mwt == 2) {
            shape.clear();
            ckpt_internal::DecodeShape(m.Bytes(m.Varint64()), path + ": tensor metadata", &shape, &unknown_rank);
          } else if (mf == 3 && mwt == 0) {
            dt = static_cast<int32_t>(static_cast<uint32_t>(m.Varint64()));
          } else if (mf == 4 && mwt == 2) {
            slices.push_back(ckpt_internal::DecodeSlice(m.Bytes(m.Varint64()), path + ": tensor metadata"));
          } else {
            m.SkipField(mwt);
          }
        }
        const std::string what = path + ": tensor '" + name + "'";
        if (slices.empty()) continue;  // (nothing stored: TensorFlow registers nothing either)
        if (unknown_rank) throw CheckpointError(what + ": its shape has unknown rank");
        for (int64_t d : shape) {
          if (d < 0) throw CheckpointError(what + " has invalid shape " + ShapeString(shape));
        }
        auto found = tensors_.find(name);
        if (found == tensors_.end()) {
          SliceTensor t;
          t.dtype = dt;
          t.shape = shape;
          found = tensors_.emplace(name, std::move(t)).first;
        } else if (found->second.dtype != dt) {
          throw CheckpointError(what + " has dtype " + dtype::Name(dt) + ", but " +
                                files_[static_cast<size_t>(found->second.parts[0].file)] + " stores it as " +
                                dtype::Name(found->second.dtype));
        } else if (found->second.shape != shape) {
          throw CheckpointError(what + " has shape " + ShapeString(shape) + ", but " +
                                files_[static_cast<size_t>(found->second.parts[0].file)] + " stores it with shape " +
                                ShapeString(found->second.shape));
        }
        SliceTensor& t = found->second;
        for (TensorSlice& s : slices) {
          if (s.size() != shape.size()) {
            throw CheckpointError(what + ": slice " + SliceText(s) + " has rank " + std::to_string(s.size()) +
                                  ", its shape " + ShapeString(shape) + " rank " + std::to_string(shape.size()));
          }
          for (size_t d = 0; d < s.size(); ++d) {
            const SliceExtent& e = s[d];
            const bool ok =
                e.length == -1 ? e.start == 0
                               : e.start >= 0 && e.length >= 0 && e.start <= shape[d] && e.length <= shape[d] - e.start;
            if (!ok) {
              throw CheckpointError(what + ": slice " + SliceText(s) + " lies outside its shape " + ShapeString(shape));
            }
          }
          if (t.parts.size() >= kMaxSlicesPerTensor) {
            throw CheckpointError(what + " is stored in more than " + std::to_string(kMaxSlicesPerTensor) + " slices");
          }
          // Only the dimensions where extents differ can keep two slices apart (checking
          // every pair is quadratic, as TensorFlow's; per pair, this is the few
          // dimensions a partitioner splits, not the rank).
          bool empty = false;
          std::vector<char> differs(s.size(), 0);
          for (uint32_t d : t.differing_dims) differs[d] = 1;
          for (size_t d = 0; d < s.size(); ++d) {
            const std::pair<int64_t, int64_t> x = ExtentIn(s, shape, d);
            empty |= x.second == 0;
            if (!t.parts.empty() && !differs[d] && x != ExtentIn(t.parts[0].slice, shape, d)) {
              t.differing_dims.push_back(static_cast<uint32_t>(d));
            }
          }
          for (const SliceTensor::Part& other : t.parts) {
            if (empty) break;  // (no element to share)
            if (SlicesOverlapIn(s, other.slice, shape, t.differing_dims)) {
              throw CheckpointError(what + ": slice " + SliceText(s) + " overlaps slice " + SliceText(other.slice) +
                                    " (stored in " + files_[static_cast<size_t>(other.file)] + ")");
            }
          }
          SliceTensor::Part part;
          part.slice = std::move(s);
          part.file = static_cast<int32_t>(fi);
          t.parts.push_back(std::move(part));
        }
      }
    }
  }
}

void SliceReader::Finish() {
  names_.reserve(tensors_.size());
  for (const auto& entry : tensors_) names_.push_back(entry.first);
}

const SliceTensor& SliceReader::Tensor(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    throw CheckpointError(files_[0] + ": tensor '" + name + "' not found in the V1 checkpoint");
  }
  return it->second;
}

int64_t SliceReader::CheckedCoverage(const std::string& name, const SliceTensor& t) const {
  const std::string what = files_[static_cast<size_t>(t.parts[0].file)] + ": tensor '" + name + "'";
  int64_t total = 1;
  for (int64_t d : t.shape) {
    if (d != 0 && total > INT64_MAX / d) throw CheckpointError(what + ": its shape overflows");
    total *= d;
  }
  // The slices lie inside the shape and do not overlap (checked when registered), so
  // they cover it exactly when their sizes add up to it.
  int64_t covered = 0;
  for (const SliceTensor::Part& part : t.parts) covered += ResolveSlice(part.slice, t.shape).count;
  if (covered != total) {
    throw CheckpointError(what + ": its slices cover " + std::to_string(covered) + " of its " + std::to_string(total) +
                          " elements");
  }
  return total;
}

SliceReader::Located SliceReader::Locate(const std::string& name, const SliceTensor& t, bool direct) const {
  Located out;
  out.total = CheckedCoverage(name, t);
  // Each part's entry is in the first block whose last key is not below its key; a
  // block holding several of them is read once.
  std::map<std::pair<int32_t, uint64_t>, size_t> block_of;  // (file, offset) -> index in out.blocks
  const Storage st = StorageOf(t.dtype);
  // (reserved: the values are views of the blocks, which must not move, short ones
  // being held inside their strings)
  out.blocks.reserve(t.parts.size());
  for (const SliceTensor::Part& part : t.parts) {
    const Extents x = ResolveSlice(part.slice, t.shape);
    const File& f = *files_impl_[static_cast<size_t>(part.file)];
    std::string where = f.path + ": tensor '" + name + "' slice " + SliceText(part.slice);
    const std::string key = EncodeTensorNameSlice(name, part.slice);
    const auto ie = std::lower_bound(f.index.begin(), f.index.end(), key,
                                     [](const auto& entry, const std::string& k) { return entry.first < k; });
    if (ie == f.index.end()) throw CheckpointError(where + ": its data entry is missing");
    out.direct.emplace_back();
    if (direct && (st.wire == Wire::kFixed32 || st.wire == Wire::kFixed64) && ContiguousStart(t.shape, x) >= 0 &&
        f.PlanDirect(ie->second, key, st.field, static_cast<uint64_t>(x.count) * dtype::ByteSize(t.dtype),
                     &out.direct.back())) {
      out.values.emplace_back();
      out.where.push_back(std::move(where));
      continue;
    }
    auto [slot, fresh] = block_of.emplace(std::make_pair(part.file, ie->second.offset), out.blocks.size());
    if (fresh) out.blocks.push_back(f.Block(ie->second, "data"));
    const std::string& block = out.blocks[slot->second];
    std::string_view value;
    bool found = false;
    table::ForEachInBlock(
        block, f.path + ": data block at offset " + std::to_string(ie->second.offset),
        [&](const std::string& k, std::string_view v) {
          if (k == key) {
            value = v;
            found = true;
          }
        },
        &ie->first);
    if (!found) throw CheckpointError(where + ": its data entry is missing");
    if (static_cast<uint64_t>(x.count) > value.size() / st.min_bytes) {
      throw CheckpointError(where + " stores " + std::to_string(value.size()) + " bytes, too few for its " +
                            std::to_string(x.count) + " " + dtype::Name(t.dtype) + " elements");
    }
    out.values.push_back(value);
    out.where.push_back(std::move(where));
  }
  return out;
}

namespace {

// The TensorProto messages of a stored SavedTensorSlices: data (2) -> SavedSlice.data (3).
std::vector<std::string_view> TensorProtos(std::string_view stored, const std::string& where) {
  std::vector<std::string_view> out;
  Cursor c(stored, where);
  while (!c.done()) {
    const uint64_t tag = c.Varint64();
    if ((tag >> 3) != 2 || (tag & 7u) != 2) {
      c.SkipField(static_cast<uint32_t>(tag & 7u));
      continue;
    }
    Cursor s(c.Bytes(c.Varint64()), where);
    while (!s.done()) {
      const uint64_t stag = s.Varint64();
      if ((stag >> 3) == 3 && (stag & 7u) == 2)
        out.push_back(s.Bytes(s.Varint64()));
      else
        s.SkipField(static_cast<uint32_t>(stag & 7u));
    }
  }
  return out;
}

void CheckReadable(const std::string& what, int32_t dt, bool strings) {
  if (StorageOf(dt).wire == Wire::kNone) {
    throw CheckpointError(what + " has dtype " + dtype::Name(dt) + ", which a V1 checkpoint cannot hold");
  }
  if ((dt == dtype::kString) != strings) {
    throw CheckpointError(what + (strings ? " is not a string tensor" : " is a string tensor"));
  }
}

}  // namespace

uint64_t SliceReader::TensorBytes(const std::string& name) const {
  const SliceTensor& t = Tensor(name);
  CheckReadable(files_[static_cast<size_t>(t.parts[0].file)] + ": tensor '" + name + "'", t.dtype, false);
  return static_cast<uint64_t>(Locate(name, t, false).total) * dtype::ByteSize(t.dtype);
}

uint64_t SliceReader::StoredBytes(const std::string& name) const {
  const SliceTensor& t = Tensor(name);
  uint64_t bytes = 0;
  for (std::string_view v : Locate(name, t, false).values) bytes += v.size();
  return bytes;
}

void SliceReader::ReadWith(const std::string& name, const std::function<char*(size_t)>& alloc) const {
  const SliceTensor& t = Tensor(name);
  CheckReadable(files_[static_cast<size_t>(t.parts[0].file)] + ": tensor '" + name + "'", t.dtype, false);
  // (its blocks read, or where its values lie found: what they can fill is known)
  const Located located = Locate(name, t, /*direct=*/true);
  const size_t elem = dtype::ByteSize(t.dtype);
  char* out = alloc(static_cast<size_t>(located.total) * elem);
  std::vector<char> scratch;
  for (size_t i = 0; i < t.parts.size(); ++i) {
    const SliceTensor::Part& part = t.parts[i];
    const std::string& where = located.where[i];
    const Extents x = ResolveSlice(part.slice, t.shape);
    const int64_t at = ContiguousStart(t.shape, x);
    if (located.direct[i].use) {  // the values straight from the file into place
      const Direct& d = located.direct[i];
      const File& f = *files_impl_[static_cast<size_t>(part.file)];
      char* dst = out + static_cast<size_t>(at) * elem;
      f.ReadInto(d.offset, d.size, dst, "data block");
      uint32_t crc = crc32c::Extend(d.head_crc, dst, static_cast<size_t>(d.size));
      crc = crc32c::Extend(crc, d.tail.data(), d.tail.size() - 4);  // (the rest, and the type byte)
      if (crc != crc32c::Unmask(ckpt_internal::LoadFixed32(d.tail.data() + d.tail.size() - 4))) {
        throw CheckpointError(f.path + ": data block at offset " + std::to_string(d.block_offset) +
                              ": block checksum mismatch");
      }
      continue;
    }
    const auto protos = TensorProtos(located.values[i], where);
    if (at >= 0) {  // straight into place
      DecodeValues(protos, t.dtype, x.count, out + static_cast<size_t>(at) * elem, nullptr, where);
      continue;
    }
    scratch.resize(static_cast<size_t>(x.count) * elem);
    DecodeValues(protos, t.dtype, x.count, scratch.data(), nullptr, where);
    ForEachSliceRun(t.shape, x.start, x.len, [&](int64_t src, int64_t dst, int64_t run) {
      std::memcpy(out + static_cast<size_t>(dst) * elem, scratch.data() + static_cast<size_t>(src) * elem,
                  static_cast<size_t>(run) * elem);
    });
  }
}

void SliceReader::ReadInto(const std::string& name, char* out, size_t size) const {
  ReadWith(name, [&](size_t bytes) {
    if (bytes != size) {
      throw CheckpointError(files_[0] + ": tensor '" + name + "' has " + std::to_string(bytes) + " bytes, not the " +
                            std::to_string(size) + " of the buffer given");
    }
    return out;
  });
}

std::vector<std::string> SliceReader::ReadStrings(const std::string& name) const {
  const SliceTensor& t = Tensor(name);
  CheckReadable(files_[static_cast<size_t>(t.parts[0].file)] + ": tensor '" + name + "'", t.dtype, true);
  const Located located = Locate(name, t, false);
  std::vector<std::string> out(static_cast<size_t>(located.total));
  std::vector<std::string> scratch;
  for (size_t i = 0; i < t.parts.size(); ++i) {
    const Extents x = ResolveSlice(t.parts[i].slice, t.shape);
    const auto protos = TensorProtos(located.values[i], located.where[i]);
    scratch.assign(static_cast<size_t>(x.count), std::string());
    DecodeValues(protos, t.dtype, x.count, nullptr, scratch.data(), located.where[i]);
    ForEachSliceRun(t.shape, x.start, x.len, [&](int64_t src, int64_t dst, int64_t run) {
      for (int64_t j = 0; j < run; ++j) {
        out[static_cast<size_t>(dst + j)] = std::move(scratch[static_cast<size_t>(src + j)]);
      }
    });
  }
  return out;
}

}  // namespace fastmeta
