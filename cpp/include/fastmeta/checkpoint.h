// TensorFlow V2 checkpoints ("tensor bundles") without TensorFlow, and reading the
// legacy V1 format (SliceReader, at the end).
//
// A bundle with prefix P is
//   P.index                      a LevelDB-style sorted string table mapping
//                                "" -> BundleHeaderProto and every tensor key
//                                -> BundleEntryProto
//   P.data-00000-of-0000N ...    the tensor bytes, one file per shard
//
// Everything here is hand-decoded from the wire format (no libprotobuf) and every
// length read from a file is bounds-checked: corrupt input raises CheckpointError,
// it never crashes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "fastmeta/errors.h"

namespace fastmeta {

// Raised for every checkpoint problem: I/O, corrupt bytes, unsupported content.
// The message names the file and, where known, the tensor and byte offset.
class CheckpointError : public Error {
 public:
  // NUL bytes (the stored keys of slices are binary) are written "\0": what() is a C
  // string, and a message must not end where a key has one.
  explicit CheckpointError(const std::string& message) : Error(Escaped(message)) {}

 private:
  static std::string Escaped(const std::string& message) {
    std::string out;
    out.reserve(message.size());
    for (char c : message) {
      if (c == '\0')
        out += "\\0";
      else
        out += c;
    }
    return out;
  }
};

// ---- CRC32C (Castagnoli), as TensorFlow/LevelDB use it ----
namespace crc32c {
uint32_t Extend(uint32_t crc, const void* data, size_t n);
inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }
constexpr uint32_t kMaskDelta = 0xa282ead8u;
inline uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }
inline uint32_t Unmask(uint32_t masked) {
  uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}
}  // namespace crc32c

// ---- Snappy (raw block format, as used for LevelDB table blocks) ----
namespace snappy {
// Decompresses a raw snappy block. Throws CheckpointError (with `what` as context) on
// malformed input or if the uncompressed size would exceed max_output.
std::string Uncompress(std::string_view compressed, const std::string& what, size_t max_output = size_t{1} << 31);
// A valid (literal-only) snappy encoding; used by tests and the writer's
// optional compressed-index mode.
std::string CompressLiteral(std::string_view raw);
}  // namespace snappy

// ---- tensorflow.DataType values that can appear in a bundle ----
namespace dtype {
enum : int32_t {
  kInvalid = 0,
  kFloat = 1,
  kDouble = 2,
  kInt32 = 3,
  kUInt8 = 4,
  kInt16 = 5,
  kInt8 = 6,
  kString = 7,
  kComplex64 = 8,
  kInt64 = 9,
  kBool = 10,
  kQInt8 = 11,
  kQUInt8 = 12,
  kQInt32 = 13,
  kBFloat16 = 14,
  kQInt16 = 15,
  kQUInt16 = 16,
  kUInt16 = 17,
  kComplex128 = 18,
  kHalf = 19,
  kResource = 20,
  kVariant = 21,
  kUInt32 = 22,
  kUInt64 = 23,
  kFloat8E5M2 = 24,
  kFloat8E4M3FN = 25,
  kFloat8E4M3FNUZ = 26,
  kFloat8E4M3B11FNUZ = 27,
  kFloat8E5M2FNUZ = 28,
  kInt4 = 29,
  kUInt4 = 30,
  kInt2 = 31,
  kUInt2 = 32,
  kFloat4E2M1FN = 33,
};
// Bytes per element for fixed-size ("memcpy-able") types, 0 otherwise.
size_t ByteSize(int32_t dt);
// TensorFlow's short name ("float32", "bfloat16", "string", ...), or "dtype_<n>".
std::string Name(int32_t dt);
}  // namespace dtype

// One extent of a TensorSliceProto; length == -1 means "the whole dimension".
struct SliceExtent {
  int64_t start = 0;
  int64_t length = -1;
  bool operator==(const SliceExtent& o) const { return start == o.start && length == o.length; }
};
using TensorSlice = std::vector<SliceExtent>;

struct BundleHeader {
  int32_t num_shards = 0;
  int32_t endianness = 0;  // 0 = LITTLE, 1 = BIG
  int32_t producer = 0;
  int32_t min_consumer = 0;
  std::vector<int32_t> bad_consumers;
};

struct BundleEntry {
  int32_t dtype = 0;
  std::vector<int64_t> shape;
  bool unknown_rank = false;
  int32_t shard_id = 0;
  int64_t offset = 0;
  int64_t size = 0;
  uint32_t crc32c = 0;  // masked, as stored
  std::vector<TensorSlice> slices;

  // Number of elements (throws on an unknown rank, negative dims or overflow, the
  // message starting with `what`: "<file>: tensor 'key'").
  int64_t NumElements(const std::string& what) const;
};

// TF's key for one stored slice of a partitioned tensor
// (checkpoint::EncodeTensorNameSlice: OrderedCode of 0, name, rank, start/length...).
std::string EncodeTensorNameSlice(std::string_view name, const TensorSlice& slice);

// ---- sorted string table (the .index file) ----
namespace table {
constexpr size_t kFooterSize = 48;       // two block handles, padded, and the magic number
constexpr size_t kBlockTrailerSize = 5;  // compression type + masked CRC32C
struct BlockHandle {
  uint64_t offset = 0;
  uint64_t size = 0;  // without the trailer
};
// The (metaindex, index) handles in a table's last kFooterSize bytes; checks the magic.
std::pair<BlockHandle, BlockHandle> DecodeFooter(std::string_view footer, uint64_t file_size,
                                                 const std::string& filename);
// A block as stored (its contents and trailer, `h` saying where), checksummed: a view of
// `stored`, or, when compressed, of its contents decompressed into *scratch.
std::string_view CheckedBlock(std::string_view stored, const BlockHandle& h, const std::string& filename,
                              const char* what, std::string* scratch);
// Calls fn(key, value) for each entry of a block's contents (values are views of it),
// checking the keys strictly increase and, given `limit` (the block's index entry), do
// not pass it.
void ForEachInBlock(std::string_view block, const std::string& ctx,
                    const std::function<void(const std::string&, std::string_view)>& fn,
                    const std::string* limit = nullptr);
// Parses a whole table held in memory; returns the key/value pairs in file order
// (verified strictly increasing). `filename` is used in error messages.
std::vector<std::pair<std::string, std::string>> ReadAll(std::string_view file, const std::string& filename);

struct BuildOptions {
  size_t block_size = 262144;  // TensorFlow's table::Options default
  int block_restart_interval = 16;
  bool snappy = false;  // compress blocks (literal-only snappy); TF itself never does
};
// Writes a table entry by entry, exactly as TF's TableBuilder does (a block is written
// once an entry takes it to block_size, and before an entry of twice that), handing the
// file's bytes to `sink` in order as each block is written. A value is given in pieces; pieces of
// 4 KiB and more are not copied: they must stay valid until Finish.
class Writer {
 public:
  using Sink = std::function<void(std::string_view)>;
  Writer(const BuildOptions& options, Sink sink);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  // Keys must strictly increase (bytewise).
  void Add(const std::string& key, const std::vector<std::string_view>& value);
  // Writes the last data block, the metaindex and index blocks and the footer.
  void Finish();
  uint64_t size() const;  // bytes handed to the sink so far

 private:
  struct State;
  std::unique_ptr<State> s_;
};
// Builds a table from strictly increasing keys, exactly as TF's TableBuilder does.
std::string Build(const std::vector<std::pair<std::string, std::string>>& kvs, const BuildOptions& options = {});
}  // namespace table

// ---- wire helpers exposed for tests ----
std::string EncodeHeader(const BundleHeader& header);
std::string EncodeEntry(const BundleEntry& entry);
BundleHeader DecodeHeader(std::string_view bytes, const std::string& context);
BundleEntry DecodeEntry(std::string_view bytes, const std::string& context);

std::string MetaFilename(const std::string& prefix);
std::string DataFilename(const std::string& prefix, int32_t shard, int32_t num_shards);

class BundleReader {
 public:
  // Opens and fully parses prefix.index; data files are opened lazily.
  //
  // Tensor bytes are read (pread) into memory the caller owns, never mapped: a data
  // file truncated or rewritten while the reader is open makes a read raise
  // CheckpointError (past the end, or a checksum mismatch) instead of a SIGBUS, and
  // bytes already read stay valid. A data file replaced by rename keeps being read
  // from the file that was opened.
  //
  // A bundle whose header says BIG (written on a big-endian machine) is read as
  // TensorFlow reads it: each element's bytes swapped into this (little-endian)
  // machine's order after the checksum of the stored bytes is checked (a complex
  // number's two parts each), a string tensor's length checksum taken over the
  // lengths in big-endian order.
  explicit BundleReader(std::string prefix);
  ~BundleReader();
  BundleReader(const BundleReader&) = delete;
  BundleReader& operator=(const BundleReader&) = delete;

  const std::string& prefix() const { return prefix_; }
  const BundleHeader& header() const { return header_; }
  // Every key except the header, in table (bytewise) order.
  const std::vector<std::string>& keys() const { return keys_; }
  // Keys a user sees: all keys minus the stored slices of partitioned tensors
  // (exactly TF's CheckpointReader variable maps).
  std::vector<std::string> VariableKeys() const;
  bool Contains(const std::string& key) const { return entries_.count(key) != 0; }
  const BundleEntry& Entry(const std::string& key) const;  // throws if missing

  // The stored bytes of an unpartitioned fixed-size tensor, CRC-verified. Thread-safe
  // (as are all the reads).
  std::string ReadRaw(const std::string& key);
  // The elements of an unpartitioned DT_STRING tensor.
  std::vector<std::string> ReadStrings(const std::string& key);
  // A fixed-size tensor, partitioned ones reassembled from their slices (row-major bytes).
  std::string ReadAssembled(const std::string& key);
  // A string tensor, partitioned ones reassembled from their slices.
  std::vector<std::string> ReadAssembledStrings(const std::string& key);

  // The size of ReadInto's output for fixed-size tensor `key` (partitioned or not),
  // after checking that its bytes lie inside the data files as they are now: a
  // caller allocates no more than the files hold.
  uint64_t TensorBytes(const std::string& key);
  // ReadAssembled into out[0, size), a buffer the caller owns (size must be
  // TensorBytes(key)); read straight from the files, no intermediate copy.
  void ReadInto(const std::string& key, char* out, size_t size);

 private:
  struct ShardFile;
  // The entry under `key`, checked to be an unpartitioned fixed-size tensor whose
  // stored size matches its shape; named `shown` in messages (a slice's stored key is
  // binary).
  const BundleEntry& RawEntry(const std::string& key, const std::string& shown) const;
  void ReadRawInto(const std::string& key, const std::string& shown, char* out);
  std::vector<std::string> ReadStringsAs(const std::string& key, const std::string& shown);
  // The bytes of fixed-size tensor `key` (partitioned or not), without touching files.
  uint64_t ExpectedBytes(const std::string& key) const;
  // The data file of `e`, opened on first use, after checking e's bytes lie inside it
  // as it is now.
  const ShardFile& CheckedShard(const std::string& shown, const BundleEntry& e);
  // Reads e's stored bytes into out; returns their CRC32C (0 unless `crc`). Throws
  // CheckpointError if the file ends early (it shrank).
  uint32_t ReadStored(const ShardFile& f, const std::string& shown, const BundleEntry& e, char* out, bool crc);
  [[noreturn]] void PastTheEnd(const ShardFile& f, const std::string& shown, const BundleEntry& e,
                               uint64_t file_size) const;
  // The key of slice `s` of partitioned tensor `key`, after checking its entry exists
  // and fits the full tensor.
  std::string CheckedSliceKey(const std::string& key, const BundleEntry& full, const TensorSlice& s);
  // Throws unless the slices of partitioned tensor `key` store `needed` bytes or more.
  void CheckSliceBytes(const std::string& key, const BundleEntry& full, uint64_t needed) const;
  void CheckSliceEntry(const std::string& key, const BundleEntry& full, const TensorSlice& slice,
                       const std::string& slice_key, const BundleEntry& se) const;

  std::string prefix_;
  std::string index_path_;
  BundleHeader header_;
  bool big_endian_ = false;  // header_.endianness is BIG (1)
  std::vector<std::string> keys_;
  std::map<std::string, BundleEntry> entries_;
  std::mutex mu_;  // guards shards_
  std::map<int32_t, std::unique_ptr<ShardFile>> shards_;
};

// One tensor to write. Fixed-size dtypes use `data` (row-major bytes, exactly
// num_elements * ByteSize); DT_STRING uses `strings`. A non-empty `slice` makes this
// one slice of a partitioned tensor named `key` whose full shape is `full_shape`.
struct WriteEntry {
  std::string key;
  int32_t dtype = 0;
  std::vector<int64_t> shape;
  std::string_view data;
  std::vector<std::string_view> strings;
  TensorSlice slice;
  std::vector<int64_t> full_shape;
  int32_t shard = 0;  // data file, when WriteOptions::num_shards > 0
};

struct WriteOptions {
  table::BuildOptions table;
  // 0: one data file, tensors stored in key order. N > 0: N data files
  // (prefix.data-0000i-of-0000N), each entry's bytes stored in its `shard`'s file in
  // the order the entries are given, as TensorFlow's (sharded) SaveV2 ops store them.
  int32_t num_shards = 0;
};

// Writes a bundle (prefix.index + prefix.data-00000-of-00001, or num_shards data
// files) that TensorFlow restores; files are written to temporaries and renamed into
// place.
void WriteBundle(const std::string& prefix, const std::vector<WriteEntry>& entries, const WriteOptions& options = {});

// ---- V1 checkpoints (SaverDef.V1: SaveSlices' "tensor slice" tables) ----
//
// A V1 checkpoint is one file (or one per shard: prefix-00000-of-00002...), each a
// sorted string table like a V2 index, mapping
//   ""                          -> SavedTensorSlices{meta: every tensor's name, full
//                                  shape, dtype and the slices this file stores}
//   EncodeTensorNameSlice(name, slice) -> SavedTensorSlices{data: the slice's values,
//                                  a TensorProto in its typed repeated fields}
// A tensor is the union of its slices over all the files (a whole tensor is one
// slice covering every dimension).
struct SliceTensor {
  struct Part {
    TensorSlice slice;
    int32_t file = 0;  // index into SliceReader::files()
  };
  int32_t dtype = 0;
  std::vector<int64_t> shape;
  std::vector<Part> parts;  // in file, then table, order
  // The dimensions in which some part's extent differs from the first part's: in every
  // other one, all parts have the same extent, so checking that two parts do not overlap
  // looks at these only.
  std::vector<uint32_t> differing_dims;
};

class SliceReader {
 public:
  // Opens every file and reads its table's index and metadata (the values are read when
  // a tensor is), registering each tensor's slices and checking them as TensorFlow's
  // TensorSliceReader does: versions, one dtype and shape per name across files, slices
  // inside the shape and not overlapping. Throws CheckpointError naming the file and
  // tensor. The files stay open; one truncated or rewritten in place later makes a read
  // fail (past the end, or a block checksum), never crash.
  explicit SliceReader(std::vector<std::string> files);
  // The same over tables held in memory, contents[i] being the file named files[i]
  // (for tests and fuzzing).
  SliceReader(std::vector<std::string> files, const std::vector<std::string_view>& contents);
  ~SliceReader();
  SliceReader(const SliceReader&) = delete;
  SliceReader& operator=(const SliceReader&) = delete;

  const std::vector<std::string>& files() const { return files_; }
  // Every tensor name, sorted.
  const std::vector<std::string>& names() const { return names_; }
  bool Contains(const std::string& name) const { return tensors_.count(name) != 0; }
  const SliceTensor& Tensor(const std::string& name) const;  // throws if missing

  // The whole fixed-size tensor `name`, its slices' blocks read once: alloc(bytes) is
  // called (once) after its slices are found to cover it and to store enough values to
  // fill it (a corrupt shape allocates nothing), and returns where to write its
  // row-major bytes. Thread-safe, as is every read.
  void ReadWith(const std::string& name, const std::function<char*(size_t)>& alloc) const;
  // The same into out[0, size); size must be what the tensor has.
  void ReadInto(const std::string& name, char* out, size_t size) const;
  // The bytes ReadWith would ask for (reading the blocks to check them).
  uint64_t TensorBytes(const std::string& name) const;
  // The elements of a DT_STRING tensor, assembled from its slices.
  std::vector<std::string> ReadStrings(const std::string& name) const;
  // The size of the stored messages of `name`'s slices.
  uint64_t StoredBytes(const std::string& name) const;

 private:
  struct File;
  // Where a slice's values lie when they can be read straight into place (see
  // File::PlanDirect): bytes [offset, offset + size) of its file, in the block at
  // block_offset whose checksum covers head_crc's bytes, them, then `tail` (the rest of
  // the block, its type byte and stored checksum).
  struct Direct {
    bool use = false;
    uint64_t offset = 0;
    uint64_t size = 0;
    uint64_t block_offset = 0;
    uint32_t head_crc = 0;
    std::string tail;
  };
  // A tensor's stored slices found: their blocks, and per part its stored message (a
  // view of a block; empty when read directly) and how messages name it.
  struct Located {
    int64_t total = 0;
    std::vector<std::string> blocks;
    std::vector<std::string_view> values;
    std::vector<std::string> where;
    std::vector<Direct> direct;
  };
  // Registers file `fi`'s tensors from its metadata.
  void Load(size_t fi);
  // The sorted names, once every file is loaded.
  void Finish();
  // Throws unless `name`'s slices cover its shape exactly; returns its element count.
  int64_t CheckedCoverage(const std::string& name, const SliceTensor& t) const;
  // Reads the blocks of `name`'s slices and finds their values; throws if one is
  // missing, or stores too few bytes for its elements. With `direct`, a slice whose
  // values can be read straight into place is only located (its Direct).
  Located Locate(const std::string& name, const SliceTensor& t, bool direct) const;

  std::vector<std::string> files_;
  std::vector<std::unique_ptr<File>> files_impl_;
  std::vector<std::string> names_;
  std::map<std::string, SliceTensor> tensors_;
};

// Writes one V1 file at `filename` as TensorFlow's SaveSlices op writes it for these
// entries given in its inputs' order (a WriteEntry as for WriteBundle: a whole tensor,
// or with `slice` and `full_shape` one slice of one; `shard` is not used): the metadata
// lists each name once with its slices, in the order the kernel adds them (sorted by
// name, by an unstable sort: see the .cc); the values follow in key order, each a
// TensorProto in the typed field TensorFlow's writer fills (bytes identical to
// TensorFlow's file). Written to a temporary and renamed into place.
// Refused with CheckpointError, writing nothing: a dtype SaveSlices does not take
// (bfloat16, uint32, uint64, resource, variant), data that does not match its shape,
// slices of one name disagreeing on dtype or full shape, a slice given twice or
// overlapping another, and a slice TensorFlow finds too large to serialize (over 2 GiB
// by its conservative estimate). Values of 4 KiB and more are written from `data`
// itself, not copied.
void WriteSlices(const std::string& filename, const std::vector<WriteEntry>& entries,
                 const table::BuildOptions& options = {});
// The same file's bytes handed to `sink` (named `filename` in errors; nothing written
// to disk), for tests and fuzzing.
void WriteSlicesTo(const std::string& filename, const std::vector<WriteEntry>& entries,
                   const table::BuildOptions& options, const table::Writer::Sink& sink);

}  // namespace fastmeta
