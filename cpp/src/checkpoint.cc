// BundleReader / WriteBundle: TensorFlow V2 checkpoints (tensor bundles).
#include "fastmeta/checkpoint.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>
#include <set>

#include "checkpoint_internal.h"
#include "fastmeta/mapped_file.h"

namespace fastmeta {

namespace ckpt_internal {

std::string ErrnoText() { return std::strerror(errno); }

bool FileExists(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0;
}

std::vector<std::pair<std::string, std::string>> ReadIndexTable(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) throw CheckpointError(path + ": cannot open: " + ErrnoText());
  if (!S_ISREG(st.st_mode)) {
    throw CheckpointError(path + ": not a regular file (" + (S_ISDIR(st.st_mode) ? "a directory" : "a pipe or device") +
                          "): a checkpoint index is read by its size");
  }
  std::optional<MappedFile> file;
  try {
    file.emplace(path);
  } catch (const FileError& e) {
    throw CheckpointError(e.what());
  }
  std::vector<std::pair<std::string, std::string>> kvs;
  try {
    kvs = table::ReadAll(file->data(), path);
  } catch (const CheckpointError&) {
    if (!file->changed()) throw;  // (else what was read may be zeros: say so instead)
  }
  if (file->changed()) throw CheckpointError(path + ": the index changed (was truncated?) while being read");
  return kvs;
}

void SwapBytes(char* data, size_t size, int32_t dt) {
  size_t unit = dtype::ByteSize(dt);
  if (dt == dtype::kComplex64 || dt == dtype::kComplex128) unit /= 2;  // (each part)
  if (unit <= 1) return;
  for (size_t i = 0; i + unit <= size; i += unit) std::reverse(data + i, data + i + unit);
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

// How a message names slice `s` of tensor `key` (its stored key is binary): "emb (slice
// 0,2:-)", TensorFlow's notation (start,length per dimension, "-" for all of it).
std::string SliceShown(const std::string& key, const TensorSlice& s) {
  std::string out = key + " (slice ";
  for (size_t d = 0; d < s.size(); ++d) {
    if (d > 0) out += ':';
    out += s[d].length < 0 ? "-" : std::to_string(s[d].start) + "," + std::to_string(s[d].length);
  }
  return out + ")";
}

bool CheckWriteSlice(const TensorSlice& slice, const std::vector<int64_t>& full, const std::vector<int64_t>& shape,
                     const std::string& where) {
  if (slice.size() != full.size() || shape.size() != full.size()) {
    throw CheckpointError(where + ": slice rank mismatch");
  }
  bool whole = true;
  for (size_t d = 0; d < slice.size(); ++d) {
    const SliceExtent& x = slice[d];
    const int64_t start = x.length == -1 ? 0 : x.start;
    const int64_t len = x.length == -1 ? full[d] : x.length;
    if (full[d] < 0 || x.length < -1 || start < 0 || len < 0 || start > full[d] || len > full[d] - start ||
        len != shape[d]) {
      throw CheckpointError(where + ": slice extent " + std::to_string(d) + " does not fit shape " + ShapeString(full));
    }
    if (start != 0 || len != full[d]) whole = false;
  }
  return whole;
}

}  // namespace ckpt_internal

using ckpt_internal::Cursor;

namespace {

constexpr int kTensorBundleVersion = 1;
constexpr int kTensorBundleMinProducer = 0;

using ckpt_internal::ErrnoText;
using ckpt_internal::FileExists;
using ckpt_internal::ForEachSliceRun;
using ckpt_internal::ShapeString;
using ckpt_internal::SliceShown;
using ckpt_internal::SwapBytes;

}  // namespace

std::string MetaFilename(const std::string& prefix) { return prefix + ".index"; }

std::string DataFilename(const std::string& prefix, int32_t shard, int32_t num_shards) {
  char buf[64];
  std::snprintf(buf, sizeof buf, ".data-%05d-of-%05d", shard, num_shards);
  return prefix + buf;
}

// ---------------------------------------------------------------------------
// Reader

struct BundleReader::ShardFile {
  std::string path;
  int fd = -1;
  ~ShardFile() {
    if (fd >= 0) ::close(fd);
  }
};

BundleReader::BundleReader(std::string prefix) : prefix_(std::move(prefix)) {
  index_path_ = MetaFilename(prefix_);
  if (!FileExists(index_path_)) {
    throw CheckpointError(index_path_ + ": checkpoint index not found (no such file)");
  }
  auto kvs = ckpt_internal::ReadIndexTable(index_path_);
  if (kvs.empty() || !kvs[0].first.empty()) {
    throw CheckpointError(index_path_ +
                          ": no header entry (empty key); corrupt, or not a V2 "
                          "checkpoint index");
  }
  header_ = DecodeHeader(kvs[0].second, index_path_ + ": header entry");
  if (header_.num_shards <= 0) {
    throw CheckpointError(index_path_ + ": header has invalid num_shards " + std::to_string(header_.num_shards));
  }
  // (As TensorFlow: BIG is swapped; any other value, LITTLE or one it does not know,
  // is read as it is.)
  big_endian_ = header_.endianness == 1;
  if (header_.producer < kTensorBundleMinProducer) {
    throw CheckpointError(index_path_ + ": checkpoint producer version " + std::to_string(header_.producer) +
                          " is too old");
  }
  if (header_.min_consumer > kTensorBundleVersion) {
    throw CheckpointError(index_path_ +
                          ": checkpoint requires reader version >= " + std::to_string(header_.min_consumer) +
                          " (this reader: " + std::to_string(kTensorBundleVersion) + ")");
  }
  for (int32_t b : header_.bad_consumers) {
    if (b == kTensorBundleVersion) {
      throw CheckpointError(index_path_ + ": checkpoint disallows reader version " + std::to_string(b));
    }
  }
  keys_.reserve(kvs.size() - 1);
  for (size_t i = 1; i < kvs.size(); ++i) {
    const std::string& key = kvs[i].first;
    BundleEntry e = DecodeEntry(kvs[i].second, index_path_ + ": entry for tensor '" + key + "'");
    if (e.slices.empty() && (e.shard_id < 0 || e.shard_id >= header_.num_shards)) {
      throw CheckpointError(index_path_ + ": tensor '" + key + "' has shard_id " + std::to_string(e.shard_id) +
                            " but the bundle has " + std::to_string(header_.num_shards) + " shard(s)");
    }
    if (e.offset < 0 || e.size < 0) {
      throw CheckpointError(index_path_ + ": tensor '" + key + "' has negative offset/size");
    }
    for (int64_t d : e.shape) {
      if (d < 0)
        throw CheckpointError(index_path_ + ": tensor '" + key + "' has invalid shape " + ShapeString(e.shape));
    }
    keys_.push_back(key);
    entries_.emplace(key, std::move(e));
  }
}

BundleReader::~BundleReader() = default;

std::vector<std::string> BundleReader::VariableKeys() const {
  std::set<std::string> slice_keys;
  for (const auto& kv : entries_) {
    for (const TensorSlice& s : kv.second.slices) slice_keys.insert(EncodeTensorNameSlice(kv.first, s));
  }
  std::vector<std::string> out;
  for (const std::string& k : keys_) {
    if (slice_keys.count(k) == 0) out.push_back(k);
  }
  return out;
}

const BundleEntry& BundleReader::Entry(const std::string& key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    throw CheckpointError(index_path_ + ": tensor '" + key + "' not found in checkpoint");
  }
  return it->second;
}

const BundleReader::ShardFile& BundleReader::CheckedShard(const std::string& shown, const BundleEntry& e) {
  const ShardFile* f = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = shards_.find(e.shard_id);
    if (it == shards_.end()) {
      auto opened = std::make_unique<ShardFile>();
      opened->path = DataFilename(prefix_, e.shard_id, header_.num_shards);
      opened->fd = ::open(opened->path.c_str(), O_RDONLY | O_CLOEXEC);
      if (opened->fd < 0) {
        throw CheckpointError(opened->path + ": cannot open checkpoint data shard " + std::to_string(e.shard_id) +
                              ": " + ErrnoText());
      }
      it = shards_.emplace(e.shard_id, std::move(opened)).first;
    }
    f = it->second.get();  // (never erased before the reader goes)
  }
  struct stat st{};
  if (::fstat(f->fd, &st) != 0) throw CheckpointError(f->path + ": fstat failed: " + ErrnoText());
  const auto file_size = static_cast<uint64_t>(st.st_size);
  const auto off = static_cast<uint64_t>(e.offset);
  if (off > file_size || static_cast<uint64_t>(e.size) > file_size - off) PastTheEnd(*f, shown, e, file_size);
  return *f;
}

void BundleReader::PastTheEnd(const ShardFile& f, const std::string& shown, const BundleEntry& e,
                              uint64_t file_size) const {
  throw CheckpointError(f.path + ": tensor '" + shown + "' at byte offset " + std::to_string(e.offset) + " (" +
                        std::to_string(e.size) + " bytes) runs past the end of the file (" + std::to_string(file_size) +
                        " bytes); truncated?");
}

uint32_t BundleReader::ReadStored(const ShardFile& f, const std::string& shown, const BundleEntry& e, char* out,
                                  bool crc) {
  // In pieces, each checksummed while it is still in cache.
  constexpr size_t kPiece = size_t{1} << 20;
  uint32_t sum = 0;
  const auto total = static_cast<size_t>(e.size);
  size_t done = 0;
  while (done < total) {
    const size_t want = std::min(kPiece, total - done);
    const ssize_t n = ::pread(f.fd, out + done, want, static_cast<off_t>(static_cast<uint64_t>(e.offset) + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw CheckpointError(f.path + ": tensor '" + shown + "' (byte offset " + std::to_string(e.offset) +
                            "): read failed at byte " + std::to_string(static_cast<uint64_t>(e.offset) + done) + ": " +
                            ErrnoText());
    }
    if (n == 0) {  // the file shrank since CheckedShard looked
      struct stat st{};
      PastTheEnd(f, shown, e, ::fstat(f.fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : e.offset + done);
    }
    if (crc) sum = crc32c::Extend(sum, out + done, static_cast<size_t>(n));
    done += static_cast<size_t>(n);
  }
  return sum;
}

const BundleEntry& BundleReader::RawEntry(const std::string& key, const std::string& shown) const {
  const BundleEntry& e = Entry(key);
  if (!e.slices.empty()) {
    throw CheckpointError(index_path_ + ": tensor '" + key + "' is partitioned; read it with ReadAssembled");
  }
  const size_t elem = dtype::ByteSize(e.dtype);
  if (elem == 0) {
    throw CheckpointError(index_path_ + ": tensor '" + shown + "' has dtype " + dtype::Name(e.dtype) +
                          ", which is not a fixed-size type");
  }
  const int64_t n = e.NumElements(index_path_ + ": tensor '" + shown + "'");
  if (static_cast<uint64_t>(n) > UINT64_MAX / elem ||
      static_cast<uint64_t>(n) * elem != static_cast<uint64_t>(e.size)) {
    throw CheckpointError(index_path_ + ": tensor '" + shown + "': stored size " + std::to_string(e.size) +
                          " does not match " + dtype::Name(e.dtype) + ShapeString(e.shape));
  }
  return e;
}

void BundleReader::ReadRawInto(const std::string& key, const std::string& shown, char* out) {
  const BundleEntry& e = RawEntry(key, shown);
  const ShardFile& f = CheckedShard(shown, e);
  if (ReadStored(f, shown, e, out, true) != crc32c::Unmask(e.crc32c)) {
    throw CheckpointError(f.path + ": tensor '" + shown + "' (byte offset " + std::to_string(e.offset) + ", " +
                          std::to_string(e.size) + " bytes): checksum mismatch; data corrupt");
  }
  if (big_endian_) SwapBytes(out, static_cast<size_t>(e.size), e.dtype);
}

std::string BundleReader::ReadRaw(const std::string& key) {
  std::string out(static_cast<size_t>(RawEntry(key, key).size), '\0');
  ReadRawInto(key, key, out.data());
  return out;
}

std::vector<std::string> BundleReader::ReadStrings(const std::string& key) { return ReadStringsAs(key, key); }

std::vector<std::string> BundleReader::ReadStringsAs(const std::string& key, const std::string& shown) {
  const BundleEntry& e = Entry(key);
  if (!e.slices.empty()) {
    throw CheckpointError(index_path_ + ": tensor '" + key + "' is partitioned; read it with ReadAssembledStrings");
  }
  if (e.dtype != dtype::kString) {
    throw CheckpointError(index_path_ + ": tensor '" + shown + "' has dtype " + dtype::Name(e.dtype) + ", not string");
  }
  const int64_t n = e.NumElements(index_path_ + ": tensor '" + shown + "'");
  std::vector<std::string> out;
  if (e.size == 0) {
    if (n != 0)
      throw CheckpointError(index_path_ + ": tensor '" + shown + "': empty data for " + std::to_string(n) + " strings");
    return out;
  }
  const std::string file = DataFilename(prefix_, e.shard_id, header_.num_shards);
  if (static_cast<uint64_t>(n) > static_cast<uint64_t>(e.size)) {  // >= 1 byte per length
    throw CheckpointError(file + ": tensor '" + shown + "' (byte offset " + std::to_string(e.offset) +
                          "): " + std::to_string(e.size) + " bytes cannot hold " + std::to_string(n) + " strings");
  }
  const ShardFile& f = CheckedShard(shown, e);  // (before allocating: e.size fits the file)
  std::string stored(static_cast<size_t>(e.size), '\0');
  ReadStored(f, shown, e, stored.data(), false);
  Cursor c(stored, file + ": string tensor '" + shown + "'", static_cast<uint64_t>(e.offset));
  std::vector<uint64_t> lengths(static_cast<size_t>(n));
  uint32_t crc = 0;
  // The length checksum covers each length as a 4-byte (8 for one over 2^32 - 1)
  // integer in the writer's byte order; it is stored in that order too.
  for (auto& len : lengths) {
    len = c.Varint64();
    const int width = len <= 0xffffffffull ? 4 : 8;
    unsigned char b[8];
    for (int i = 0; i < width; ++i) {
      b[big_endian_ ? width - 1 - i : i] = static_cast<unsigned char>((len >> (8 * i)) & 0xffu);
    }
    crc = crc32c::Extend(crc, b, static_cast<size_t>(width));
  }
  const uint64_t len_crc_pos = c.abs_pos();
  std::string_view raw_len_crc = c.Bytes(4);
  uint32_t len_crc = ckpt_internal::LoadFixed32(raw_len_crc.data());
  if (big_endian_) len_crc = __builtin_bswap32(len_crc);
  if (crc32c::Unmask(len_crc) != crc) {
    throw CheckpointError(file + ": string tensor '" + shown + "': length checksum mismatch (at byte " +
                          std::to_string(len_crc_pos) + "); data corrupt");
  }
  crc = crc32c::Extend(crc, raw_len_crc.data(), 4);
  out.reserve(lengths.size());
  for (uint64_t len : lengths) {
    std::string_view s = c.Bytes(len);
    crc = crc32c::Extend(crc, s.data(), s.size());
    out.emplace_back(s);
  }
  if (!c.done()) {
    c.Fail(std::to_string(c.remaining()) + " unexpected trailing bytes");
  }
  if (crc != crc32c::Unmask(e.crc32c)) {
    throw CheckpointError(file + ": string tensor '" + shown + "' (byte offset " + std::to_string(e.offset) + ", " +
                          std::to_string(e.size) + " bytes): checksum mismatch; data corrupt");
  }
  return out;
}

std::string BundleReader::CheckedSliceKey(const std::string& key, const BundleEntry& full, const TensorSlice& s) {
  std::string sk = EncodeTensorNameSlice(key, s);
  if (!Contains(sk)) {
    throw CheckpointError(index_path_ + ": partitioned tensor '" + key + "': a slice entry is missing");
  }
  CheckSliceEntry(key, full, s, sk, Entry(sk));
  return sk;
}

void BundleReader::CheckSliceEntry(const std::string& key, const BundleEntry& full, const TensorSlice& slice,
                                   const std::string& slice_key, const BundleEntry& se) const {
  auto fail = [&](const std::string& why) {
    throw CheckpointError(index_path_ + ": partitioned tensor '" + key + "': " + why);
  };
  if (slice.size() != full.shape.size()) fail("slice rank does not match shape");
  if (!se.slices.empty()) fail("slice entry is itself partitioned");
  if (se.dtype != full.dtype) fail("slice dtype " + dtype::Name(se.dtype) + " differs");
  if (se.shape.size() != full.shape.size()) fail("slice shape rank differs");
  for (size_t d = 0; d < slice.size(); ++d) {
    const int64_t start = slice[d].length == -1 ? 0 : slice[d].start;
    const int64_t len = slice[d].length == -1 ? full.shape[d] : slice[d].length;
    if (start < 0 || len < 0 || start > full.shape[d] || len > full.shape[d] - start || se.shape[d] != len) {
      fail("slice extent " + std::to_string(d) + " out of range (stored as " + ShapeString(se.shape) + ")");
    }
  }
  (void)slice_key;
}

using ckpt_internal::ContiguousStart;
using ckpt_internal::Extents;
using ckpt_internal::ResolveSlice;

// Sets bits [first, first + count) of `bits`; returns whether any was set already.
static bool MarkRun(std::vector<uint64_t>* bits, int64_t first, int64_t count) {
  bool again = false;
  auto i = static_cast<uint64_t>(first);
  const uint64_t end = i + static_cast<uint64_t>(count);
  while (i < end) {
    const unsigned bit = static_cast<unsigned>(i % 64);
    const uint64_t n = std::min<uint64_t>(64 - bit, end - i);
    const uint64_t mask = (n == 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1) << bit;
    uint64_t& word = (*bits)[static_cast<size_t>(i / 64)];
    again |= (word & mask) != 0;
    word |= mask;
    i += n;
  }
  return again;
}

// For each slice of `full`: check(slice) checks it (its entry, its extents inside the
// full shape) and returns its key; then, after checking it overlaps no slice before it,
// read(key, slice, extents) returns true if it placed the slice itself, else
// copy(src, dst, run) is called for each of its runs. Overlaps are found with one bit per
// element of the tensor (linear in its size, which the caller has checked the files can
// fill), where comparing every pair of slices was quadratic in their number: an index
// listing a million one-element slices took hours.
template <typename Check, typename Read, typename Copy>
static void AssembleSlices(const std::string& index_path, const std::string& key, const BundleEntry& full,
                           int64_t total, Check check, Read read, Copy copy) {
  std::vector<uint64_t> placed((static_cast<size_t>(total) + 63) / 64, 0);
  int64_t covered = 0;
  for (const TensorSlice& s : full.slices) {
    const std::string sk = check(s);
    const Extents x = ResolveSlice(s, full.shape);
    bool again = false;
    ForEachSliceRun(full.shape, x.start, x.len,
                    [&](int64_t, int64_t dst, int64_t run) { again |= MarkRun(&placed, dst, run); });
    if (again) {
      throw CheckpointError(index_path + ": partitioned tensor '" + key + "' has overlapping slices");
    }
    if (!read(sk, s, x)) ForEachSliceRun(full.shape, x.start, x.len, copy);
    covered += x.count;
  }
  if (covered != total) {
    throw CheckpointError(index_path + ": partitioned tensor '" + key + "': slices cover " + std::to_string(covered) +
                          " of " + std::to_string(total) + " elements");
  }
}

void BundleReader::CheckSliceBytes(const std::string& key, const BundleEntry& full, uint64_t needed) const {
  // Before the full tensor is allocated: its slices' stored bytes must be able to fill
  // it (a corrupt full shape must not allocate more than the files hold).
  uint64_t stored = 0;
  for (const TensorSlice& s : full.slices) {
    const std::string sk = EncodeTensorNameSlice(key, s);
    if (Contains(sk)) stored += static_cast<uint64_t>(std::max<int64_t>(Entry(sk).size, 0));
  }
  if (needed > stored) {
    throw CheckpointError(index_path_ + ": partitioned tensor '" + key + "': its slices cover at most " +
                          std::to_string(stored) + " of the " + std::to_string(needed) + " bytes its full shape " +
                          ShapeString(full.shape) + " needs");
  }
}

uint64_t BundleReader::ExpectedBytes(const std::string& key) const {
  const BundleEntry& full = Entry(key);
  if (full.slices.empty()) return static_cast<uint64_t>(RawEntry(key, key).size);
  const size_t elem = dtype::ByteSize(full.dtype);
  if (elem == 0) {
    throw CheckpointError(index_path_ + ": partitioned tensor '" + key + "' has dtype " + dtype::Name(full.dtype) +
                          ", which is not a fixed-size type");
  }
  const int64_t total = full.NumElements(index_path_ + ": tensor '" + key + "'");
  if (static_cast<uint64_t>(total) > (uint64_t{1} << 40) / elem) {
    throw CheckpointError(index_path_ + ": partitioned tensor '" + key + "' is implausibly large");
  }
  CheckSliceBytes(key, full, static_cast<uint64_t>(total) * elem);
  return static_cast<uint64_t>(total) * elem;
}

uint64_t BundleReader::TensorBytes(const std::string& key) {
  const uint64_t bytes = ExpectedBytes(key);
  const BundleEntry& full = Entry(key);
  if (full.slices.empty()) {
    CheckedShard(key, full);
    return bytes;
  }
  for (const TensorSlice& s : full.slices) {
    const std::string sk = EncodeTensorNameSlice(key, s);
    if (!Contains(sk)) continue;  // (ReadInto says which is missing)
    const BundleEntry& se = Entry(sk);
    if (se.slices.empty()) CheckedShard(SliceShown(key, s), se);
  }
  return bytes;
}

void BundleReader::ReadInto(const std::string& key, char* out, size_t size) {
  const uint64_t bytes = ExpectedBytes(key);
  if (bytes != size) {
    throw CheckpointError(index_path_ + ": tensor '" + key + "' has " + std::to_string(bytes) + " bytes, not the " +
                          std::to_string(size) + " of the buffer given");
  }
  const BundleEntry& full = Entry(key);
  if (full.slices.empty()) {
    ReadRawInto(key, key, out);
    return;
  }
  const size_t elem = dtype::ByteSize(full.dtype);
  std::unique_ptr<char[]> scratch;
  size_t scratch_size = 0;
  const char* cur = nullptr;
  AssembleSlices(
      index_path_, key, full, full.NumElements(index_path_ + ": tensor '" + key + "'"),
      [&](const TensorSlice& s) { return CheckedSliceKey(key, full, s); },
      [&](const std::string& sk, const TensorSlice& s, const Extents& x) {
        const std::string shown = SliceShown(key, s);
        const int64_t at = ContiguousStart(full.shape, x);
        if (at >= 0) {  // straight into place (a slice along the first dimension)
          ReadRawInto(sk, shown, out + static_cast<size_t>(at) * elem);
          return true;
        }
        const auto n = static_cast<size_t>(RawEntry(sk, shown).size);
        if (n > scratch_size) {
          scratch.reset(new char[n]);
          scratch_size = n;
        }
        ReadRawInto(sk, shown, scratch.get());
        cur = scratch.get();
        return false;
      },
      [&](int64_t src, int64_t dst, int64_t run) {
        std::memcpy(out + static_cast<size_t>(dst) * elem, cur + static_cast<size_t>(src) * elem,
                    static_cast<size_t>(run) * elem);
      });
}

std::string BundleReader::ReadAssembled(const std::string& key) {
  std::string out(static_cast<size_t>(TensorBytes(key)), '\0');
  ReadInto(key, out.data(), out.size());
  return out;
}

std::vector<std::string> BundleReader::ReadAssembledStrings(const std::string& key) {
  const BundleEntry& full = Entry(key);
  if (full.slices.empty()) return ReadStrings(key);
  if (full.dtype != dtype::kString) {
    throw CheckpointError(index_path_ + ": tensor '" + key + "' is not a string tensor");
  }
  const int64_t total = full.NumElements(index_path_ + ": tensor '" + key + "'");
  CheckSliceBytes(key, full, static_cast<uint64_t>(total));  // (a string takes a byte or more)
  std::vector<std::string> out(static_cast<size_t>(total));
  std::vector<std::string> cur;
  AssembleSlices(
      index_path_, key, full, total, [&](const TensorSlice& s) { return CheckedSliceKey(key, full, s); },
      [&](const std::string& sk, const TensorSlice& s, const Extents&) {
        cur = ReadStringsAs(sk, SliceShown(key, s));
        return false;
      },
      [&](int64_t src, int64_t dst, int64_t run) {
        for (int64_t i = 0; i < run; ++i)
          out[static_cast<size_t>(dst + i)] = std::move(cur[static_cast<size_t>(src + i)]);
      });
  return out;
}

// ---------------------------------------------------------------------------
// Writer

namespace ckpt_internal {

std::string TempSuffix() {
  std::random_device rd;
  return ".tempstate" + std::to_string((uint64_t{rd()} << 32) | rd());
}

OutputFile::OutputFile(std::string path, std::string tmp) : path_(std::move(path)), tmp_(std::move(tmp)) {
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw CheckpointError(tmp_ + ": cannot create: " + ErrnoText());
}

OutputFile::~OutputFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

void OutputFile::Write(std::string_view bytes) {
  if (buffer_.size() + bytes.size() <= kBuffer) {
    buffer_.append(bytes);
    return;
  }
  Flush();
  if (bytes.size() >= kBuffer / 2) {
    WriteAll(bytes);
  } else {
    buffer_.append(bytes);
  }
}

void OutputFile::Flush() {
  WriteAll(buffer_);
  buffer_.clear();
}

void OutputFile::WriteAll(std::string_view bytes) {
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, std::min(left, size_t{1} << 30));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw CheckpointError(tmp_ + ": write failed: " + ErrnoText());
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

void OutputFile::Commit() {
  Flush();
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    const std::string err = ErrnoText();
    ::unlink(tmp_.c_str());
    throw CheckpointError(tmp_ + ": close failed: " + err);
  }
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const std::string err = ErrnoText();
    ::unlink(tmp_.c_str());
    throw CheckpointError(path_ + ": rename failed: " + err);
  }
}

}  // namespace ckpt_internal

namespace {

void WriteFileAtomically(const std::string& path, const std::string& tmp, const std::vector<std::string_view>& pieces) {
  ckpt_internal::OutputFile out(path, tmp);
  for (std::string_view piece : pieces) out.Write(piece);
  out.Commit();
}

void MakeParentDirs(const std::string& prefix) {
  const size_t slash = prefix.rfind('/');
  if (slash == std::string::npos || slash == 0) return;
  const std::string dir = prefix.substr(0, slash);
  for (size_t pos = 1;; ++pos) {
    pos = dir.find('/', pos);
    const std::string part = pos == std::string::npos ? dir : dir.substr(0, pos);
    if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) {
      throw CheckpointError(part + ": cannot create directory: " + ErrnoText());
    }
    if (pos == std::string::npos) break;
  }
}

}  // namespace

void WriteBundle(const std::string& prefix, const std::vector<WriteEntry>& entries, const WriteOptions& options) {
  // Validate and order: TF's BundleWriter keeps entries in a std::map.
  std::map<std::string, BundleEntry> index;
  std::map<std::string, const WriteEntry*> stored;               // key -> data to store
  std::vector<std::pair<std::string, const WriteEntry*>> given;  // ... in the order given
  std::map<std::string, std::vector<int32_t>> slice_shards;      // partitioned tensor -> its slices' shards
  const int32_t num_shards = options.num_shards > 0 ? options.num_shards : 1;
  for (const WriteEntry& w : entries) {
    if (w.key.empty()) throw CheckpointError(prefix + ": tensor name must not be empty");
    if (options.num_shards > 0 && (w.shard < 0 || w.shard >= num_shards)) {
      throw CheckpointError(prefix + ": tensor '" + w.key + "': shard " + std::to_string(w.shard) + " is not below " +
                            std::to_string(num_shards));
    }
    BundleEntry probe;
    probe.shape = w.shape;
    const int64_t n = probe.NumElements(prefix + ": tensor '" + w.key + "'");
    if (w.dtype == dtype::kString) {
      if (w.strings.size() != static_cast<uint64_t>(n)) {
        throw CheckpointError(prefix + ": tensor '" + w.key + "': " + std::to_string(w.strings.size()) +
                              " strings for shape " + ShapeString(w.shape));
      }
    } else {
      const size_t elem = dtype::ByteSize(w.dtype);
      if (elem == 0)
        throw CheckpointError(prefix + ": tensor '" + w.key + "': cannot write dtype " + dtype::Name(w.dtype));
      // (divided, not multiplied: a shape of 2^61 doubles must not pass for 0 bytes)
      if (w.data.size() % elem != 0 || static_cast<uint64_t>(n) != w.data.size() / elem) {
        throw CheckpointError(prefix + ": tensor '" + w.key + "': " + std::to_string(w.data.size()) + " bytes for " +
                              dtype::Name(w.dtype) + ShapeString(w.shape));
      }
    }
    if (w.slice.empty() ||
        ckpt_internal::CheckWriteSlice(w.slice, w.full_shape, w.shape, prefix + ": tensor '" + w.key + "'")) {
      if (index.count(w.key)) throw CheckpointError(prefix + ": duplicate tensor '" + w.key + "'");
      stored[w.key] = &w;
      given.emplace_back(w.key, &w);
      index[w.key];
      continue;
    }
    auto it = index.find(w.key);
    if (it != index.end() && it->second.slices.empty()) {
      throw CheckpointError(prefix + ": duplicate tensor '" + w.key + "'");
    }
    BundleEntry& full = index[w.key];
    if (!full.slices.empty() && (full.dtype != w.dtype || full.shape != w.full_shape)) {
      throw CheckpointError(prefix + ": slices of '" + w.key + "' disagree on dtype/shape");
    }
    full.dtype = w.dtype;
    full.shape = w.full_shape;
    full.slices.push_back(w.slice);
    slice_shards[w.key].push_back(w.shard);
    const std::string sk = EncodeTensorNameSlice(w.key, w.slice);
    if (stored.count(sk)) throw CheckpointError(prefix + ": duplicate slice of '" + w.key + "'");
    stored[sk] = &w;
    given.emplace_back(sk, &w);
    index[sk];
  }

  // Sharded, TF's MergeV2Checkpoints lists a partitioned tensor's slices shard by shard
  // (each shard's in the order given) and keeps the first shard's full entry, shard_id too.
  if (options.num_shards > 0) {
    for (auto& kv : slice_shards) {
      BundleEntry& full = index[kv.first];
      std::vector<size_t> order(full.slices.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return kv.second[a] < kv.second[b]; });
      std::vector<TensorSlice> sorted;
      for (size_t i : order) sorted.push_back(full.slices[i]);
      full.slices = std::move(sorted);
      full.shard_id = kv.second[order.front()];
    }
  }

  // Data files: in key order, or (num_shards > 0) in the order given (TF's SaveV2 writes
  // in the order it is given).
  if (options.num_shards <= 0) given.assign(stored.begin(), stored.end());
  std::vector<std::string> owned;  // length prefixes for string tensors
  owned.reserve(given.size() * 2);
  std::vector<std::vector<std::string_view>> shard_pieces(static_cast<size_t>(num_shards));
  std::vector<int64_t> offsets(static_cast<size_t>(num_shards), 0);
  for (auto& kv : given) {
    const WriteEntry& w = *kv.second;
    const size_t shard = options.num_shards > 0 ? static_cast<size_t>(w.shard) : 0;
    std::vector<std::string_view>& pieces = shard_pieces[shard];
    int64_t& offset = offsets[shard];
    BundleEntry& e = index[kv.first];
    e.dtype = w.dtype;
    e.shape = w.shape;
    e.shard_id = static_cast<int32_t>(shard);
    e.offset = offset;
    uint32_t crc = 0;
    int64_t size = 0;
    if (w.dtype == dtype::kString) {
      std::string lengths;
      for (std::string_view s : w.strings) {
        ckpt_internal::PutVarint64(&lengths, s.size());
        const uint64_t len = s.size();
        unsigned char b[8];
        for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>((len >> (8 * i)) & 0xffu);
        crc = crc32c::Extend(crc, b, len <= 0xffffffffull ? 4 : 8);
      }
      const uint32_t len_crc = crc32c::Mask(crc);
      ckpt_internal::PutFixed32(&lengths, len_crc);
      crc = crc32c::Extend(crc, lengths.data() + lengths.size() - 4, 4);
      size += static_cast<int64_t>(lengths.size());
      owned.push_back(std::move(lengths));
      pieces.push_back(owned.back());
      for (std::string_view s : w.strings) {
        crc = crc32c::Extend(crc, s.data(), s.size());
        pieces.push_back(s);
        size += static_cast<int64_t>(s.size());
      }
    } else {
      crc = crc32c::Value(w.data.data(), w.data.size());
      pieces.push_back(w.data);
      size = static_cast<int64_t>(w.data.size());
    }
    e.size = size;
    e.crc32c = crc32c::Mask(crc);
    offset += size;
  }

  BundleHeader header;
  header.num_shards = num_shards;
  header.producer = kTensorBundleVersion;
  std::vector<std::pair<std::string, std::string>> kvs;
  kvs.reserve(index.size() + 1);
  kvs.emplace_back(std::string(), EncodeHeader(header));
  for (const auto& kv : index) kvs.emplace_back(kv.first, EncodeEntry(kv.second));
  const std::string table_bytes = table::Build(kvs, options.table);

  MakeParentDirs(prefix);
  const std::string suffix = ckpt_internal::TempSuffix();
  for (int32_t i = 0; i < num_shards; ++i) {
    const std::string data_path = DataFilename(prefix, i, num_shards);
    WriteFileAtomically(data_path, data_path + suffix, shard_pieces[static_cast<size_t>(i)]);
  }
  const std::string index_path = MetaFilename(prefix);
  WriteFileAtomically(index_path, index_path + suffix, {table_bytes});
}

}  // namespace fastmeta
