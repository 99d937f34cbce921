// LevelDB-format sorted string tables, as TensorFlow writes them for <prefix>.index
// (tensorflow/core/lib/io/table*.cc): data blocks of prefix-compressed entries with
// restart points, an (empty) metaindex block, an index block, a 48-byte footer.
#include <algorithm>
#include <deque>
#include <functional>

#include "checkpoint_internal.h"
#include "fastmeta/checkpoint.h"

namespace fastmeta {
namespace table {
namespace {

using ckpt_internal::Cursor;

constexpr uint64_t kTableMagic = 0xdb4775248b80fb57ull;
constexpr unsigned char kNoCompression = 0;
constexpr unsigned char kSnappyCompression = 1;

using Handle = BlockHandle;

Handle DecodeHandle(Cursor* c) {
  Handle h;
  h.offset = c->Varint64();
  h.size = c->Varint64();
  return h;
}

// Reads, checksums and (if needed) decompresses one block of a table held whole in
// `file`: a view of it, or of its decompressed copy appended to *keep (a deque: views of
// earlier blocks stay valid).
std::string_view ReadBlock(std::string_view file, const Handle& h, const std::string& filename, const char* what,
                           std::deque<std::string>* keep) {
  if (h.offset > file.size() || h.size > file.size() - h.offset ||
      kBlockTrailerSize > file.size() - h.offset - h.size) {
    throw CheckpointError(filename + ": " + what + " block at offset " + std::to_string(h.offset) + " (size " +
                          std::to_string(h.size) + ") runs past the end of the file (" + std::to_string(file.size()) +
                          " bytes); truncated?");
  }
  std::string scratch;
  const std::string_view block =
      CheckedBlock(file.substr(static_cast<size_t>(h.offset), static_cast<size_t>(h.size) + kBlockTrailerSize), h,
                   filename, what, &scratch);
  if (block.data() != scratch.data()) return block;
  keep->push_back(std::move(scratch));
  return keep->back();
}

// Calls fn(key, value) for each of a block's entries (the value a view of `block`),
// checking the keys strictly increase and, given `max_key` (the block's index entry),
// do not pass it.
template <typename Fn>
void ParseBlock(std::string_view block, const std::string& ctx, Fn fn, const std::string* max_key = nullptr) {
  if (block.size() < 4) throw CheckpointError(ctx + ": block too short (" + std::to_string(block.size()) + " bytes)");
  const uint32_t num_restarts = ckpt_internal::LoadFixed32(block.data() + block.size() - 4);
  const size_t max_restarts = (block.size() - 4) / 4;
  if (num_restarts > max_restarts) {
    throw CheckpointError(ctx + ": bad restart count " + std::to_string(num_restarts));
  }
  const size_t limit = block.size() - 4 - size_t{num_restarts} * 4;
  Cursor c(std::string_view(block.data(), limit), ctx);
  std::string key, last;
  bool first = true;
  while (!c.done()) {
    const uint32_t shared = c.Varint32();
    const uint32_t non_shared = c.Varint32();
    const uint32_t value_len = c.Varint32();
    if (shared > key.size())
      c.Fail("entry shares " + std::to_string(shared) + " bytes with a " + std::to_string(key.size()) + "-byte key");
    key.resize(shared);
    key.append(c.Bytes(non_shared));
    if (!first && !(last < key)) {
      throw CheckpointError(ctx + ": keys out of order ('" + last + "' then '" + key + "')");
    }
    if (max_key != nullptr && key > *max_key) {
      throw CheckpointError(ctx + ": key '" + key + "' beyond its index entry");
    }
    fn(key, c.Bytes(value_len));
    last = key;
    first = false;
  }
}

}  // namespace

std::pair<BlockHandle, BlockHandle> DecodeFooter(std::string_view footer, uint64_t file_size,
                                                 const std::string& filename) {
  const uint64_t magic = ckpt_internal::LoadFixed64(footer.data() + kFooterSize - 8);
  if (magic != kTableMagic) {
    throw CheckpointError(filename + ": bad table magic number in footer (at byte " + std::to_string(file_size - 8) +
                          "); not a checkpoint table, or truncated");
  }
  Cursor fc(footer.substr(0, kFooterSize - 8), filename + ": footer", file_size - kFooterSize);
  const BlockHandle meta_handle = DecodeHandle(&fc);
  const BlockHandle index_handle = DecodeHandle(&fc);
  return {meta_handle, index_handle};
}

std::string_view CheckedBlock(std::string_view stored, const BlockHandle& h, const std::string& filename,
                              const char* what, std::string* scratch) {
  const std::string ctx = filename + ": " + what + " block at offset " + std::to_string(h.offset);
  const size_t n = static_cast<size_t>(h.size);
  if (stored.size() != n + kBlockTrailerSize) {
    throw CheckpointError(ctx + ": " + std::to_string(stored.size()) + " bytes read of its " +
                          std::to_string(n + kBlockTrailerSize) + "; truncated?");
  }
  const char* p = stored.data();
  const uint32_t want = crc32c::Unmask(ckpt_internal::LoadFixed32(p + n + 1));
  if (want != crc32c::Value(p, n + 1)) throw CheckpointError(ctx + ": block checksum mismatch");
  const auto type = static_cast<unsigned char>(p[n]);
  if (type == kNoCompression) return std::string_view(p, n);
  if (type == kSnappyCompression) {
    *scratch = snappy::Uncompress(std::string_view(p, n), ctx);
    return *scratch;
  }
  throw CheckpointError(ctx + ": unknown block compression type " + std::to_string(type));
}

void ForEachInBlock(std::string_view block, const std::string& ctx,
                    const std::function<void(const std::string&, std::string_view)>& fn, const std::string* limit) {
  ParseBlock(block, ctx, fn, limit);
}

namespace {

// ReadAll's walk: fn(key, value) for each entry, a value a view of `file` (an
// uncompressed block) or of a decompressed block appended to *keep.
void ForEachEntry(std::string_view file, const std::string& filename, std::deque<std::string>* keep,
                  const std::function<void(const std::string&, std::string_view)>& fn) {
  if (file.size() < kFooterSize) {
    throw CheckpointError(filename + ": too short to be a checkpoint table (" + std::to_string(file.size()) +
                          " bytes); truncated?");
  }
  const auto [meta_handle, index_handle] = DecodeFooter(file.substr(file.size() - kFooterSize), file.size(), filename);
  // The metaindex block: TF writes it empty and never reads it; we only verify its
  // checksum so that no byte of the file goes unchecked (except the footer padding).
  ReadBlock(file, meta_handle, filename, "metaindex", keep);

  std::vector<std::pair<std::string, std::string_view>> index_entries;
  const std::string index_ctx = filename + ": index block";
  ParseBlock(ReadBlock(file, index_handle, filename, "index", keep), index_ctx,
             [&](const std::string& key, std::string_view value) { index_entries.emplace_back(key, value); });

  std::string last;
  bool first = true;
  for (const auto& ie : index_entries) {
    Cursor hc(ie.second, index_ctx + " entry");
    const Handle h = DecodeHandle(&hc);
    const std::string ctx = filename + ": data block at offset " + std::to_string(h.offset);
    ParseBlock(
        ReadBlock(file, h, filename, "data", keep), ctx,
        [&](const std::string& key, std::string_view value) {
          if (!first && !(last < key)) {  // (across blocks; within one, ParseBlock checks)
            throw CheckpointError(ctx + ": keys out of order ('" + last + "' then '" + key + "')");
          }
          first = false;
          last = key;
          fn(key, value);
        },
        &ie.first);
  }
}

}  // namespace

std::vector<std::pair<std::string, std::string>> ReadAll(std::string_view file, const std::string& filename) {
  std::vector<std::pair<std::string, std::string>> out;
  std::deque<std::string> keep;
  ForEachEntry(file, filename, &keep,
               [&](const std::string& key, std::string_view value) { out.emplace_back(key, std::string(value)); });
  return out;
}

namespace {

// One block's contents as it grows: entries (prefix-compressed keys, restart points
// every `restart_interval` entries) held as pieces, small ones copied together and large
// values kept as the caller's views (written when the block is, without a copy).
class BlockBuilder {
 public:
  explicit BlockBuilder(int restart_interval) : interval_(restart_interval) { restarts_.push_back(0); }
  void Add(const std::string& key, const std::vector<std::string_view>& value) {
    size_t shared = 0;
    if (counter_ < interval_) {
      const size_t min_len = std::min(last_key_.size(), key.size());
      while (shared < min_len && last_key_[shared] == key[shared]) ++shared;
    } else {
      restarts_.push_back(static_cast<uint32_t>(size_));
      counter_ = 0;
    }
    size_t value_size = 0;
    for (std::string_view v : value) value_size += v.size();
    std::string head;
    ckpt_internal::PutVarint64(&head, shared);
    ckpt_internal::PutVarint64(&head, key.size() - shared);
    ckpt_internal::PutVarint64(&head, value_size);
    head.append(key, shared, std::string::npos);
    Copy(head);  // (a key of 4 KiB or more too: `head` dies here)
    for (std::string_view v : value) Append(v);
    last_key_ = key;
    ++counter_;
  }
  size_t EstimatedSize() const { return size_ + restarts_.size() * 4 + 4; }
  bool empty() const { return size_ == 0; }
  // The finished block's pieces (valid until the next Add), its restart array last.
  const std::vector<std::string_view>& Finish() {
    std::string& tail = Owned();
    for (uint32_t r : restarts_) ckpt_internal::PutFixed32(&tail, r);
    ckpt_internal::PutFixed32(&tail, static_cast<uint32_t>(restarts_.size()));
    views_.clear();
    for (const Piece& p : pieces_)
      views_.push_back(p.borrowed.data() != nullptr ? p.borrowed : std::string_view(p.owned));
    return views_;
  }
  void Reset() {
    pieces_.clear();
    restarts_.assign(1, 0);
    counter_ = 0;
    size_ = 0;
    last_key_.clear();
  }

 private:
  // Bytes below this are copied into the block's own buffer; longer ones are borrowed.
  static constexpr size_t kBorrowMin = 4096;
  struct Piece {
    std::string owned;
    std::string_view borrowed;  // (data() null: the piece is `owned`)
  };
  std::string& Owned() {
    if (pieces_.empty() || pieces_.back().borrowed.data() != nullptr) pieces_.emplace_back();
    return pieces_.back().owned;
  }
  // Adds bytes that outlive the block's Finish: borrowed if long.
  void Append(std::string_view bytes) {
    if (bytes.size() < kBorrowMin) return Copy(bytes);
    size_ += bytes.size();
    pieces_.push_back(Piece{std::string(), bytes});
  }
  void Copy(std::string_view bytes) {
    size_ += bytes.size();
    Owned().append(bytes);
  }

  int interval_;
  std::deque<Piece> pieces_;
  std::vector<std::string_view> views_;
  std::vector<uint32_t> restarts_;
  int counter_ = 0;
  size_t size_ = 0;
  std::string last_key_;
};

// leveldb BytewiseComparator::FindShortestSeparator / FindShortSuccessor.
void ShortestSeparator(std::string* start, const std::string& limit) {
  const size_t min_len = std::min(start->size(), limit.size());
  size_t i = 0;
  while (i < min_len && (*start)[i] == limit[i]) ++i;
  if (i >= min_len) return;
  const auto b = static_cast<unsigned char>((*start)[i]);
  if (b < 0xffu && b + 1 < static_cast<unsigned char>(limit[i])) {
    (*start)[i] = static_cast<char>(b + 1);
    start->resize(i + 1);
  }
}
void ShortSuccessor(std::string* key) {
  for (size_t i = 0; i < key->size(); ++i) {
    const auto b = static_cast<unsigned char>((*key)[i]);
    if (b != 0xffu) {
      (*key)[i] = static_cast<char>(b + 1);
      key->resize(i + 1);
      return;
    }
  }
}

}  // namespace

struct Writer::State {
  State(const BuildOptions& o, Sink s)
      : options(o), sink(std::move(s)), data(o.block_restart_interval), index(1), meta(o.block_restart_interval) {}
  BuildOptions options;
  Sink sink;
  uint64_t offset = 0;
  BlockBuilder data;
  BlockBuilder index;
  BlockBuilder meta;
  std::string last_key;
  bool any = false;
  bool pending = false;  // a data block written, its index entry not yet added
  std::string pending_handle;
  std::string snappy_scratch;

  void Put(std::string_view bytes) {
    sink(bytes);
    offset += bytes.size();
  }
  // Writes b's block (contents and trailer); returns its handle, encoded.
  std::string WriteBlock(BlockBuilder* b) {
    std::vector<std::string_view> pieces = b->Finish();
    size_t size = 0;
    for (std::string_view p : pieces) size += p.size();
    unsigned char type = kNoCompression;
    if (options.snappy) {
      std::string contents;
      contents.reserve(size);
      for (std::string_view p : pieces) contents.append(p);
      snappy_scratch = snappy::CompressLiteral(contents);
      // Like TF: keep the compression only if it saves at least 12.5%.
      if (snappy_scratch.size() < size - size / 8) {
        pieces.assign(1, snappy_scratch);
        size = snappy_scratch.size();
        type = kSnappyCompression;
      }
    }
    std::string handle;
    ckpt_internal::PutVarint64(&handle, offset);
    ckpt_internal::PutVarint64(&handle, size);
    uint32_t crc = 0;
    for (std::string_view p : pieces) {
      crc = crc32c::Extend(crc, p.data(), p.size());
      Put(p);
    }
    crc = crc32c::Extend(crc, &type, 1);
    std::string trailer(1, static_cast<char>(type));
    ckpt_internal::PutFixed32(&trailer, crc32c::Mask(crc));
    Put(trailer);
    b->Reset();
    return handle;
  }
};

Writer::Writer(const BuildOptions& options, Sink sink) : s_(std::make_unique<State>(options, std::move(sink))) {}
Writer::~Writer() = default;

void Writer::Add(const std::string& key, const std::vector<std::string_view>& value) {
  State& s = *s_;
  if (s.any && !(s.last_key < key)) {
    throw CheckpointError("table: keys not strictly increasing at '" + key + "'");
  }
  size_t value_size = 0;
  for (std::string_view v : value) value_size += v.size();
  // An entry of twice the block size or more starts a block of its own (the block
  // before it is written first), as TF's TableBuilder does: it is then alone in its block.
  if (s.any && !s.data.empty() && key.size() + value_size >= 2 * s.options.block_size) {
    s.pending_handle = s.WriteBlock(&s.data);
    s.pending = true;
  }
  if (s.pending) {
    ShortestSeparator(&s.last_key, key);
    s.index.Add(s.last_key, {s.pending_handle});
    s.pending = false;
  }
  s.data.Add(key, value);
  s.last_key = key;
  s.any = true;
  if (s.data.EstimatedSize() >= s.options.block_size) {
    s.pending_handle = s.WriteBlock(&s.data);
    s.pending = true;
  }
}

void Writer::Finish() {
  State& s = *s_;
  if (!s.data.empty()) {
    s.pending_handle = s.WriteBlock(&s.data);
    s.pending = true;
  }
  const std::string meta_handle = s.WriteBlock(&s.meta);
  if (s.pending) {
    ShortSuccessor(&s.last_key);
    s.index.Add(s.last_key, {s.pending_handle});
    s.pending = false;
  }
  const std::string index_handle = s.WriteBlock(&s.index);
  std::string footer = meta_handle + index_handle;
  footer.resize(40, '\0');
  ckpt_internal::PutFixed32(&footer, static_cast<uint32_t>(kTableMagic & 0xffffffffu));
  ckpt_internal::PutFixed32(&footer, static_cast<uint32_t>(kTableMagic >> 32));
  s.Put(footer);
}

uint64_t Writer::size() const { return s_->offset; }

std::string Build(const std::vector<std::pair<std::string, std::string>>& kvs, const BuildOptions& options) {
  std::string file;
  Writer w(options, [&file](std::string_view bytes) { file.append(bytes); });
  for (const auto& kv : kvs) w.Add(kv.first, {kv.second});
  w.Finish();
  return file;
}

}  // namespace table
}  // namespace fastmeta
