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
std::string_view ReadBlock(std::string_view file, const Handle& h, const std::string& filename,
                           const char* what, std::deque<std::string>* keep) {
  if (h.offset > file.size() || h.size > file.size() - h.offset ||
      kBlockTrailerSize > file.size() - h.offset - h.size) {
    throw CheckpointError(filename + ": " + what + " block at offset " + std::to_string(h.offset) +
                          " (size " + std::to_string(h.size) + ") runs past the end of the file (" +
                          std::to_string(file.size()) + " bytes); truncated?");
  }
  std::string scratch;
  const std::string_view block = CheckedBlock(
      file.substr(static_cast<size_t>(h.offset), static_cast<size_t>(h.size) + kBlockTrailerSize), h, filename,
      what, &scratch);
  if (block.data() != scratch.data()) return block;
  keep->push_back(std::move(scratch));
  return keep->back();
}

// Calls fn(key, value) for each of a block's entries (the value a view of `block`),
// checking the keys strictly increase and, given `max_key` (the block's index entry),
// do not pass it.
template <typename Fn>
void ParseBlock(std::string_view block, const std::string& ctx, Fn fn, const std::string* max_key = nullptr) {
  if (block.size() < 4) throw CheckpointError(ctx + ": block too short (" +
                                              std::to_string(block.size()) + " bytes)");
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
    if (shared > key.size()) c.Fail("entry shares " + std::to_string(shared) +
                                    " bytes with a " + std::to_string(key.size()) + "-byte key");
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
    throw CheckpointError(filename + ": bad table magic number in footer (at byte " +
                          std::to_string(file_size - 8) + "); not a checkpoint table, or truncated");
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
    throw CheckpointError(filename + ": too short to be a checkpoint table (" +
                          std::to_string(file.size()) + " bytes); truncated?");
  }
  const auto [meta_handle, index_handle] =
      DecodeFooter(file.substr(file.size() - kFooterSize), file.size(), filename);
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

std::vector<std::pair<std::string, std::string>> ReadAll(std::string_view file,
                                                         const std::string& filename) {
  std::vector<std::pair<std::string, std::string>> out;
  std::deque<std::string> keep;
  ForEachEntry(file, filename, &keep,
               [&](const std::string& key, std::string_view value) { out.emplace_back(key, std::string(value)); });
  return out;
}

namespace {

class BlockBuilder {
 public:
  explicit BlockBuilder(int restart_interval) : interval_(restart_interval) { restarts_.push_back(0); }
  void Add(const std::string& key, const std::string& value) {
    size_t shared = 0;
    if (counter_ < interval_) {
      const size_t min_len = std::min(last_key_.size(), key.size());
      while (shared < min_len && last_key_[shared] == key[shared]) ++shared;
    } else {
      restarts_.push_back(static_cast<uint32_t>(buffer_.size()));
      counter_ = 0;
    }
    ckpt_internal::PutVarint64(&buffer_, shared);
    ckpt_internal::PutVarint64(&buffer_, key.size() - shared);
    ckpt_internal::PutVarint64(&buffer_, value.size());
    buffer_.append(key, shared, std::string::npos);
    buffer_.append(value);
    last_key_ = key;
    ++counter_;
  }
  size_t EstimatedSize() const { return buffer_.size() + restarts_.size() * 4 + 4; }
  bool empty() const { return buffer_.empty(); }
  std::string Finish() {
    std::string out = std::move(buffer_);
    for (uint32_t r : restarts_) ckpt_internal::PutFixed32(&out, r);
    ckpt_internal::PutFixed32(&out, static_cast<uint32_t>(restarts_.size()));
    buffer_.clear();
    restarts_.assign(1, 0);
    counter_ = 0;
    last_key_.clear();
    return out;
  }

 private:
  int interval_;
  std::string buffer_;
  std::vector<uint32_t> restarts_;
  int counter_ = 0;
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

std::string Build(const std::vector<std::pair<std::string, std::string>>& kvs,
                  const BuildOptions& options) {
  std::string file;
  BlockBuilder data(options.block_restart_interval);
  BlockBuilder index(1);
  BlockBuilder meta(options.block_restart_interval);
  auto write_block = [&](BlockBuilder* b) {
    std::string contents = b->Finish();
    unsigned char type = kNoCompression;
    if (options.snappy) {
      std::string compressed = snappy::CompressLiteral(contents);
      // Like TF: keep the compression only if it saves at least 12.5%.
      if (compressed.size() < contents.size() - contents.size() / 8) {
        contents = std::move(compressed);
        type = kSnappyCompression;
      }
    }
    std::string handle;
    ckpt_internal::PutVarint64(&handle, file.size());
    ckpt_internal::PutVarint64(&handle, contents.size());
    file.append(contents);
    file.push_back(static_cast<char>(type));
    uint32_t crc = crc32c::Value(contents.data(), contents.size());
    crc = crc32c::Extend(crc, &type, 1);
    ckpt_internal::PutFixed32(&file, crc32c::Mask(crc));
    return handle;
  };
  std::string last_key;
  bool pending = false;
  std::string pending_handle;
  for (size_t i = 0; i < kvs.size(); ++i) {
    const std::string& key = kvs[i].first;
    if (i > 0 && !(kvs[i - 1].first < key)) {
      throw CheckpointError("table::Build: keys not strictly increasing at '" + key + "'");
    }
    if (pending) {
      ShortestSeparator(&last_key, key);
      index.Add(last_key, pending_handle);
      pending = false;
    }
    data.Add(key, kvs[i].second);
    last_key = key;
    if (data.EstimatedSize() >= options.block_size) {
      pending_handle = write_block(&data);
      pending = true;
    }
  }
  if (!data.empty()) {
    pending_handle = write_block(&data);
    pending = true;
  }
  const std::string meta_handle = write_block(&meta);
  if (pending) {
    ShortSuccessor(&last_key);
    index.Add(last_key, pending_handle);
  }
  const std::string index_handle = write_block(&index);
  std::string footer = meta_handle + index_handle;
  footer.resize(40, '\0');
  ckpt_internal::PutFixed32(&footer, static_cast<uint32_t>(kTableMagic & 0xffffffffu));
  ckpt_internal::PutFixed32(&footer, static_cast<uint32_t>(kTableMagic >> 32));
  file.append(footer);
  return file;
}

}  // namespace table
}  // namespace fastmeta
