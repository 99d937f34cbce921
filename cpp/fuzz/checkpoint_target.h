// The checkpoint index fuzz target (shared by the libFuzzer harness and the C++ test
// that replays tests/regressions/checkpoint_index_fuzzer/): the table reader, block
// parsing, snappy, and the BundleHeaderProto / BundleEntryProto decoders.
// Block checksums would stop almost every mutation, so the first input byte picks a
// mode: 0 feeds the bytes as a whole file; 1 and 2 wrap them as a data block (raw or
// snappy-compressed type byte) inside a well-formed table with valid CRCs; 3 wraps
// them as the index block. Every value found is also decoded as a header and entry.
// Every input is also read as a V1 (tensor slice) checkpoint: see RunV1 (bit 2 of the
// first byte: in blocks of one entry each); what reads is written back as a V1 file
// and must read back the same.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fastmeta/checkpoint.h"
#include "fastmeta/errors.h"

namespace fastmeta_fuzz {
namespace ckpt {

inline void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

inline void PutFixed32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Appends block contents + trailer (type, masked crc32c of contents+type); returns its handle.
inline std::pair<uint64_t, uint64_t> AddBlock(std::string& file, std::string_view contents, unsigned char type) {
  const uint64_t offset = file.size();
  file.append(contents.data(), contents.size());
  file.push_back(static_cast<char>(type));
  const uint32_t crc = fastmeta::crc32c::Value(file.data() + offset, contents.size() + 1);
  PutFixed32(file, fastmeta::crc32c::Mask(crc));
  return {offset, contents.size()};
}

// A block with one entry (key, value) and one restart point.
inline std::string OneEntryBlock(std::string_view key, std::string_view value) {
  std::string b;
  PutVarint(b, 0);
  PutVarint(b, key.size());
  PutVarint(b, value.size());
  b.append(key.data(), key.size());
  b.append(value.data(), value.size());
  PutFixed32(b, 0);
  PutFixed32(b, 1);
  return b;
}

inline std::string Footer(std::pair<uint64_t, uint64_t> meta, std::pair<uint64_t, uint64_t> index) {
  std::string f;
  PutVarint(f, meta.first);
  PutVarint(f, meta.second);
  PutVarint(f, index.first);
  PutVarint(f, index.second);
  f.resize(40, '\0');
  const uint64_t magic = 0xdb4775248b80fb57ull;
  for (int i = 0; i < 8; ++i) f.push_back(static_cast<char>((magic >> (8 * i)) & 0xff));
  return f;
}

inline std::string Wrap(std::string_view payload, int mode) {
  std::string file;
  std::string empty;
  PutFixed32(empty, 0);
  PutFixed32(empty, 1);
  if (mode == 1 || mode == 2) {
    auto data = AddBlock(file, payload, mode == 1 ? 0 : 1);
    auto meta = AddBlock(file, empty, 0);
    std::string handle;
    PutVarint(handle, data.first);
    PutVarint(handle, data.second);
    auto index = AddBlock(file, OneEntryBlock("\xff\xff\xff\xff", handle), 0);
    return file + Footer(meta, index);
  }
  // mode 3: a valid data block, the payload as the index block.
  std::string header = fastmeta::EncodeHeader(fastmeta::BundleHeader{1, 0, 1, 0, {}});
  AddBlock(file, OneEntryBlock("", header), 0);
  auto meta = AddBlock(file, empty, 0);
  auto index = AddBlock(file, payload, 0);
  return file + Footer(meta, index);
}

// V1 checkpoints: the payload is a run of varint-length-prefixed chunks, the first
// the "" entry (a SavedTensorSlices holding the metadata), each further one the stored
// value of the next slice that metadata lists (its key computed here, so mutations
// reach the value decoders); the table is built around them with valid checksums.
inline void RunV1(std::string_view payload, bool small_blocks) {
  std::vector<std::string> chunks;
  size_t pos = 0;
  while (pos < payload.size() && chunks.size() < 64) {
    uint64_t n = 0;
    int shift = 0;
    while (pos < payload.size() && shift < 35) {
      const auto b = static_cast<unsigned char>(payload[pos++]);
      n |= static_cast<uint64_t>(b & 0x7f) << shift;
      shift += 7;
      if ((b & 0x80) == 0) break;
    }
    n = std::min<uint64_t>(n, payload.size() - pos);
    chunks.emplace_back(payload.substr(pos, static_cast<size_t>(n)));
    pos += static_cast<size_t>(n);
  }
  if (chunks.empty()) return;
  std::vector<std::pair<std::string, std::string>> kvs{{"", chunks[0]}};
  try {
    std::string meta_only = fastmeta::table::Build(kvs);
    fastmeta::SliceReader probe({"v1"}, {meta_only});
    size_t next = 1;
    for (const std::string& name : probe.names()) {
      for (const auto& part : probe.Tensor(name).parts) {
        if (next >= chunks.size()) break;
        kvs.emplace_back(fastmeta::EncodeTensorNameSlice(name, part.slice), chunks[next++]);
      }
    }
    std::sort(kvs.begin(), kvs.end());
    kvs.erase(std::unique(kvs.begin(), kvs.end(), [](const auto& a, const auto& b) { return a.first == b.first; }),
              kvs.end());
    // (small blocks: every entry in a block of its own, as TensorFlow's writer leaves
    // large values, which are then read straight into place)
    fastmeta::table::BuildOptions options;
    if (small_blocks) options.block_size = 1;
    const std::string file = fastmeta::table::Build(kvs, options);
    fastmeta::SliceReader reader({"v1"}, {file});
    // Oracle: the same entries in one block (every value read from the block whole)
    // read the same, or fail the same.
    std::unique_ptr<fastmeta::SliceReader> whole;
    if (small_blocks) {
      const std::string one_block = fastmeta::table::Build(kvs);
      try {
        whole = std::make_unique<fastmeta::SliceReader>(std::vector<std::string>{"v1"},
                                                        std::vector<std::string_view>{one_block});
      } catch (const fastmeta::Error&) {
        std::abort();  // (the metadata opened in small blocks)
      }
    }
    // What reading `name` gives: its bytes (strings with their lengths), or nothing.
    auto read = [](const fastmeta::SliceReader& r, const std::string& name) -> std::optional<std::string> {
      try {
        std::string out;
        if (r.Tensor(name).dtype == fastmeta::dtype::kString) {
          for (const std::string& s : r.ReadStrings(name)) out += std::to_string(s.size()) + ":" + s;
          return out;
        }
        r.ReadWith(name, [&](size_t bytes) {
          if (bytes > (size_t{64} << 20)) std::abort();  // (bounded by what the file stores)
          out.resize(bytes);
          return out.data();
        });
        return out;
      } catch (const fastmeta::Error&) {
        return std::nullopt;
      }
    };
    // The tensors read, to write back (strings: the elements, kept alive here).
    std::vector<fastmeta::WriteEntry> back;
    std::vector<std::string> values;
    std::vector<std::vector<std::string>> string_values;
    values.reserve(reader.names().size());
    string_values.reserve(reader.names().size());
    for (const std::string& name : reader.names()) {
      const std::optional<std::string> got = read(reader, name);
      try {
        if (got && reader.Tensor(name).dtype != fastmeta::dtype::kString && reader.TensorBytes(name) != got->size()) {
          std::abort();
        }
      } catch (const fastmeta::Error&) {
        std::abort();  // (it was read)
      }
      if (whole && read(*whole, name) != got) std::abort();
      if (!got) continue;
      const fastmeta::SliceTensor& t = reader.Tensor(name);
      fastmeta::WriteEntry w;
      w.key = name;
      w.dtype = t.dtype;
      w.shape = t.shape;
      if (t.dtype == fastmeta::dtype::kString) {
        string_values.push_back(reader.ReadStrings(name));
        for (const std::string& e : string_values.back()) w.strings.emplace_back(e);
      } else {
        values.push_back(*got);
        w.data = values.back();
      }
      back.push_back(std::move(w));
    }
    // Oracle: what was read, written back as whole tensors in a V1 file (each dtype
    // TensorFlow's SaveSlices takes), reads back the same.
    std::vector<fastmeta::WriteEntry> writable;
    for (fastmeta::WriteEntry& w : back) {
      try {
        std::string alone;
        fastmeta::WriteSlicesTo("alone", {w}, {}, [&alone](std::string_view b) { alone.append(b); });
        writable.push_back(std::move(w));
      } catch (const fastmeta::CheckpointError& e) {
        // (a dtype SaveSlices does not save, or a tensor named "": read, never written)
        const std::string_view why(e.what());
        if (why.find("cannot be written in the V1 format") == std::string_view::npos &&
            why.find("tensor name must not be empty") == std::string_view::npos) {
          std::abort();
        }
      }
    }
    std::unique_ptr<fastmeta::SliceReader> again;
    std::string rewritten;
    try {
      fastmeta::WriteSlicesTo("back", writable, {}, [&rewritten](std::string_view b) { rewritten.append(b); });
      again = std::make_unique<fastmeta::SliceReader>(std::vector<std::string>{"back"},
                                                      std::vector<std::string_view>{rewritten});
    } catch (const fastmeta::Error&) {
      std::abort();
    }
    if (again->names().size() != writable.size()) std::abort();
    for (const fastmeta::WriteEntry& w : writable) {
      if (read(*again, w.key) != read(reader, w.key)) std::abort();
    }
  } catch (const fastmeta::Error&) {
  }
}

}  // namespace ckpt

inline void RunCheckpointTarget(const uint8_t* data, size_t size) {
  if (size == 0) return;
  const int mode = data[0] % 4;
  const std::string_view payload(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string file = mode == 0 ? std::string(payload) : ckpt::Wrap(payload, mode);
  try {
    auto kvs = fastmeta::table::ReadAll(file, "fuzz.index");
    for (const auto& kv : kvs) {
      try {
        (void)fastmeta::DecodeHeader(kv.second, "header");
      } catch (const fastmeta::Error&) {
      }
      try {
        fastmeta::BundleEntry e = fastmeta::DecodeEntry(kv.second, "entry");
        try {
          (void)e.NumElements(kv.first);
        } catch (const fastmeta::Error&) {
        }
      } catch (const fastmeta::Error&) {
      }
    }
  } catch (const fastmeta::Error&) {
  }
  // The decoders straight on the payload too.
  try {
    (void)fastmeta::DecodeEntry(payload, "entry");
  } catch (const fastmeta::Error&) {
  }
  try {
    (void)fastmeta::snappy::Uncompress(payload, "snappy", size_t{64} << 20);
  } catch (const fastmeta::Error&) {
  }
  ckpt::RunV1(payload, (data[0] & 4) != 0);
}

}  // namespace fastmeta_fuzz
