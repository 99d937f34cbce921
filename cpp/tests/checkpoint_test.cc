// Unit tests for the checkpoint core: CRC32C vectors, snappy decoding, the table
// format, slice-name encoding, a bundle write -> read round trip, and V1 files.
#undef NDEBUG
#include "fastmeta/checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "check.h"
#include "wire_builders.h"

using namespace fastmeta;

template <typename Fn>
static std::string ExpectError(Fn fn) {
  try {
    fn();
  } catch (const CheckpointError& e) {
    return e.what();
  }
  std::fprintf(stderr, "expected CheckpointError\n");
  std::abort();
}

static void TestCrc32c() {
  char buf[32];
  std::memset(buf, 0, sizeof buf);
  CHECK(crc32c::Value(buf, sizeof buf) == 0x8a9136aau);
  std::memset(buf, 0xff, sizeof buf);
  CHECK(crc32c::Value(buf, sizeof buf) == 0x62a8ab43u);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<char>(i);
  CHECK(crc32c::Value(buf, sizeof buf) == 0x46dd794eu);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<char>(31 - i);
  CHECK(crc32c::Value(buf, sizeof buf) == 0x113fdb5cu);
  CHECK(crc32c::Value("123456789", 9) == 0xe3069283u);
  CHECK(crc32c::Value("", 0) == 0u);
  CHECK(crc32c::Extend(crc32c::Value("hello ", 6), "world", 5) == crc32c::Value("hello world", 11));
  // Long, unaligned input: hardware and software paths must agree with byte-at-a-time extension.
  std::string big(1000, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + 3);
  uint32_t c = 0;
  for (char ch : big) c = crc32c::Extend(c, &ch, 1);
  CHECK(c == crc32c::Value(big.data(), big.size()));
  CHECK(crc32c::Value(big.data() + 1, 999) == crc32c::Extend(0, big.data() + 1, 999));
  const uint32_t v = crc32c::Value("foo", 3);
  CHECK(crc32c::Mask(v) != v);
  CHECK(crc32c::Mask(crc32c::Mask(v)) != v);
  CHECK(crc32c::Unmask(crc32c::Mask(v)) == v);
  CHECK(crc32c::Unmask(crc32c::Unmask(crc32c::Mask(crc32c::Mask(v)))) == v);
}

static void TestSnappy() {
  // literal "abc", copy-1 (len 9, offset 3), literal "X"
  const std::string a(
      "\x0d\x08"
      "abc"
      "\x15\x03"
      "\x00X",
      9);
  CHECK(snappy::Uncompress(a, "t") == "abcabcabcabcX");
  // literal "0123456789", copy-2 (len 10, offset 10)
  const std::string b(
      "\x14\x24"
      "0123456789"
      "\x26\x0a\x00",
      15);
  CHECK(snappy::Uncompress(b, "t") == "01234567890123456789");
  // copy-4 (len 2, offset 1) -> run of one byte
  const std::string c(
      "\x03\x00"
      "z"
      "\x07\x01\x00\x00\x00",
      8);
  CHECK(snappy::Uncompress(c, "t") == "zzz");
  // long literal with a 1-byte length (61 bytes)
  std::string lit(61, 'q');
  std::string d = std::string("\x3d") + "\xf0" + "\x3c" + lit;
  CHECK(snappy::Uncompress(d, "t") == lit);
  CHECK(snappy::Uncompress(std::string("\x00", 1), "t").empty());
  // The literal-only encoder round-trips, across the 64 KiB chunking.
  std::string big(200000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31);
  CHECK(snappy::Uncompress(snappy::CompressLiteral(big), "t") == big);
  CHECK(snappy::Uncompress(snappy::CompressLiteral("hi"), "t") == "hi");
  // Corrupt inputs never crash.
  ExpectError([] { snappy::Uncompress(std::string("\x05\x01\x00", 3), "t"); });  // offset 0 / past
  ExpectError([] {
    snappy::Uncompress(std::string("\x05\x10"
                                   "ab",
                                   4),
                       "t");
  });  // truncated literal
  ExpectError([] {
    snappy::Uncompress(std::string("\x02\x08"
                                   "abc",
                                   5),
                       "t");
  });  // overflow length
  ExpectError([] {
    snappy::Uncompress(std::string("\x05\x00"
                                   "a",
                                   3),
                       "t");
  });  // short output
  ExpectError([] { snappy::Uncompress(std::string("\xff\xff\xff\xff\xff\xff", 6), "t"); });
  ExpectError([] {
    snappy::Uncompress(std::string("\x08\x00"
                                   "a"
                                   "\x0d\x05",
                                   5),
                       "t");
  });  // offset > out
  ExpectError([] { snappy::Uncompress("", "t"); });
}

static void TestTable() {
  std::vector<std::pair<std::string, std::string>> kvs;
  kvs.emplace_back("", "header");
  for (int i = 0; i < 500; ++i) {
    char key[32];
    std::snprintf(key, sizeof key, "layer_%04d/kernel", i);
    kvs.emplace_back(key, std::string(static_cast<size_t>(i % 17), static_cast<char>('a' + i % 26)));
  }
  for (bool snappy : {false, true}) {
    table::BuildOptions o;
    o.block_size = 256;  // many data blocks
    o.snappy = snappy;
    const std::string t = table::Build(kvs, o);
    CHECK(table::ReadAll(t, "mem") == kvs);
    // Flip every 7th byte in turn: always an error or (in a value) a CRC error; never a crash.
    for (size_t i = 0; i < t.size(); i += 7) {
      std::string bad = t;
      bad[i] = static_cast<char>(bad[i] ^ 0x5a);
      try {
        auto out = table::ReadAll(bad, "mem");
        (void)out;
      } catch (const CheckpointError&) {
      }
    }
    for (size_t n = 0; n < t.size(); n += 13) ExpectError([&] { table::ReadAll(t.substr(0, n), "mem"); });
  }
  const std::string msg = ExpectError([] { table::ReadAll(std::string(48, 'x'), "f.index"); });
  CHECK(msg.find("f.index") != std::string::npos);
  CHECK(msg.find("magic") != std::string::npos);
}

static void TestSliceName() {
  // Checked against keys TensorFlow wrote for a variable partitioned in 2 on axis 0:
  // EncodeTensorNameSlice("v", {[0,5), full}).
  TensorSlice s = {{0, 5}, {0, -1}};
  const std::string k = EncodeTensorNameSlice("v", s);
  const std::string want(
      "\x00"
      "v"
      "\x00\x01"
      "\x01\x02"
      "\x80\x85"
      "\x80\x7f",
      10);
  CHECK(k == want);
  // Large and negative numbers use multi-byte signed encodings.
  CHECK(EncodeTensorNameSlice("a", {{100, 1000}}).size() == 1 + 3 + 2 + 2 + 2);
  CHECK(EncodeTensorNameSlice(std::string("\x00\xff", 2), {}) == std::string("\x00"
                                                                             "\x00\xff"
                                                                             "\xff\x00"
                                                                             "\x00\x01"
                                                                             "\x00",
                                                                             8));
}

static std::string TempPrefix() {
  char tmpl[] = "/tmp/fastmeta_ckpt_testXXXXXX";
  char* dir = mkdtemp(tmpl);
  CHECK(dir != nullptr);
  return std::string(dir) + "/model";
}

static std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
static void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}

static void TestRoundTrip() {
  const std::string prefix = TempPrefix();
  std::vector<float> w = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
  std::vector<int64_t> step = {42};
  std::vector<int32_t> part0 = {0, 1, 2, 3, 4, 5};  // rows 0..1 of a [3,3] tensor
  std::vector<int32_t> part1 = {6, 7, 8};           // row 2
  std::vector<std::string_view> strs = {"hello", "", std::string_view("\x00\xff", 2)};

  std::vector<WriteEntry> entries(5);
  entries[0].key = "w";
  entries[0].dtype = dtype::kFloat;
  entries[0].shape = {2, 3};
  entries[0].data = std::string_view(reinterpret_cast<const char*>(w.data()), w.size() * 4);
  entries[1].key = "global_step";
  entries[1].dtype = dtype::kInt64;
  entries[1].data = std::string_view(reinterpret_cast<const char*>(step.data()), 8);
  entries[2].key = "names";
  entries[2].dtype = dtype::kString;
  entries[2].shape = {3};
  entries[2].strings = strs;
  entries[3].key = "p";
  entries[3].dtype = dtype::kInt32;
  entries[3].shape = {2, 3};
  entries[3].full_shape = {3, 3};
  entries[3].slice = {{0, 2}, {0, -1}};
  entries[3].data = std::string_view(reinterpret_cast<const char*>(part0.data()), 24);
  entries[4].key = "p";
  entries[4].dtype = dtype::kInt32;
  entries[4].shape = {1, 3};
  entries[4].full_shape = {3, 3};
  entries[4].slice = {{2, 1}, {0, -1}};
  entries[4].data = std::string_view(reinterpret_cast<const char*>(part1.data()), 12);
  WriteBundle(prefix, entries);

  {
    BundleReader r(prefix);
    CHECK(r.header().num_shards == 1);
    CHECK(r.header().producer == 1);
    const auto vars = r.VariableKeys();
    CHECK((vars == std::vector<std::string>{"global_step", "names", "p", "w"}));
    CHECK(r.keys().size() == 6);  // + two slice keys
    CHECK(r.Entry("w").shape == (std::vector<int64_t>{2, 3}));
    const std::string raw = r.ReadRaw("w");
    CHECK(raw.size() == 24 && std::memcmp(raw.data(), w.data(), 24) == 0);
    CHECK(r.ReadRaw("global_step") == std::string_view(reinterpret_cast<const char*>(step.data()), 8));
    auto got = r.ReadStrings("names");
    CHECK(got.size() == 3 && got[0] == "hello" && got[1].empty() && got[2] == strs[2]);
    const std::string p = r.ReadAssembled("p");
    CHECK(p.size() == 36);
    for (int i = 0; i < 9; ++i) {
      int32_t x;
      std::memcpy(&x, p.data() + 4 * i, 4);
      CHECK(x == i);
    }
    CHECK(r.Entry("p").slices.size() == 2);
    ExpectError([&] { r.ReadRaw("missing"); });
    ExpectError([&] { r.ReadRaw("names"); });
  }

  // Odd indexes TensorFlow aborts on, reads wrongly or lists: each refused with a
  // CheckpointError naming the index (and the tensor, where there is one).
  {
    const std::string odd = prefix + "_odd";
    WriteFile(DataFilename(odd, 0, 1), std::string(8, '\0'));
    auto header = [](int32_t shards, int32_t endianness) {
      BundleHeader h;
      h.num_shards = shards;
      h.endianness = endianness;
      h.producer = 1;
      return EncodeHeader(h);
    };
    auto entry = [](int32_t dt, std::vector<int64_t> shape, bool unknown_rank = false, int32_t shard = 0) {
      BundleEntry e;
      e.dtype = dt;
      e.shape = std::move(shape);
      e.unknown_rank = unknown_rank;
      e.shard_id = shard;
      e.size = 8;
      return EncodeEntry(e);
    };
    const std::vector<std::pair<std::vector<std::pair<std::string, std::string>>, std::string>> cases = {
        {{{"", header(1, 0)}, {"u", entry(dtype::kFloat, {}, true)}}, "tensor 'u': shape has unknown rank"},
        {{{"", header(1, 0)}, {"u", entry(dtype::kFloat, {2, -1})}}, "tensor 'u'"},
        {{{"", header(1, 0)}, {"u", entry(0, {2})}}, "tensor 'u'"},
        {{{"", header(1, 0)}, {"u", entry(999, {2})}}, "tensor 'u'"},
        {{{"", header(1, 0)}, {"u", std::string("\x0a\xff", 2)}}, "tensor 'u'"},
        {{{"", header(0, 0)}, {"u", entry(dtype::kFloat, {2})}}, "invalid num_shards 0"},
        {{{"", header(1, 0)}, {"u", entry(dtype::kFloat, {2}, false, 1)}}, "tensor 'u' has shard_id 1"},
        {{{"u", entry(dtype::kFloat, {2})}}, "no header entry"},
    };
    for (const auto& c : cases) {
      WriteFile(odd + ".index", table::Build(c.first));
      const std::string msg = ExpectError([&] {
        BundleReader r(odd);
        (void)r.ReadRaw("u");
      });
      CHECK(msg.rfind(odd + ".index: ", 0) == 0);
      CHECK(msg.find(c.second) != std::string::npos);
    }
  }

  // Corrupt a data byte: the read names the data file and tensor.
  const std::string data_path = DataFilename(prefix, 0, 1);
  const std::string data = ReadFile(data_path);
  for (const char* name : {"w", "names"}) {
    size_t off;
    {
      BundleReader r(prefix);
      off = static_cast<size_t>(r.Entry(name).offset) + 1;
    }
    std::string bad = data;
    bad[off] = static_cast<char>(bad[off] ^ 1);
    WriteFile(data_path, bad);
    BundleReader r(prefix);
    const std::string msg = ExpectError([&] {
      if (std::string(name) == "w")
        r.ReadRaw(name);
      else
        r.ReadStrings(name);
    });
    CHECK(msg.find(data_path) != std::string::npos);
    CHECK(msg.find(name) != std::string::npos);
  }
  WriteFile(data_path, data.substr(0, 10));
  {
    BundleReader r(prefix);
    const std::string msg = ExpectError([&] { r.ReadRaw("w"); });
    CHECK(msg.find("truncated") != std::string::npos);
  }
  ::unlink(data_path.c_str());
  {
    BundleReader r(prefix);
    const std::string msg = ExpectError([&] { r.ReadRaw("w"); });
    CHECK(msg.find(data_path) != std::string::npos);
  }
  const std::string index = ReadFile(prefix + ".index");
  for (size_t i = 0; i < index.size(); ++i) {
    std::string b = index;
    b[i] = static_cast<char>(b[i] ^ 0x20);
    WriteFile(prefix + ".index", b);
    try {
      BundleReader r(prefix);
    } catch (const CheckpointError&) {
    }
  }
  WriteFile(prefix + ".index", index.substr(0, index.size() - 1));
  ExpectError([&] { BundleReader r(prefix); });
  std::filesystem::remove_all(std::filesystem::path(prefix).parent_path());
}

// A data file truncated or rewritten in place under an open reader (which has read
// from it already): reads raise CheckpointError naming the file, tensor and offset, never
// SIGBUS; bytes read before stay valid. Partitioned tensors read in place or through
// scratch give the same bytes.
static void TestFileChangesUnderAnOpenReader() {
  const std::string prefix = TempPrefix();
  std::vector<float> a(3 << 18);  // 3 MiB: read in several pieces
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i) * 0.5f;
  std::vector<int32_t> full(4 * 6);
  for (size_t i = 0; i < full.size(); ++i) full[i] = static_cast<int32_t>(i);
  std::vector<int32_t> cols0, cols1, rows0, rows1;  // [4,6] split by columns 0-1 / 2-5, rows 0 / 1-3
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 6; ++c) (c < 2 ? cols0 : cols1).push_back(full[static_cast<size_t>(r * 6 + c)]);
  }
  rows0.assign(full.begin(), full.begin() + 6);
  rows1.assign(full.begin() + 6, full.end());
  std::vector<std::string_view> strs = {"one", "two"};
  auto bytes = [](const auto& v) {
    return std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(v[0]));
  };
  std::vector<WriteEntry> entries(6);
  entries[0] = {"a", dtype::kFloat, {static_cast<int64_t>(a.size())}, bytes(a), {}, {}, {}, 0};
  entries[1] = {"cols", dtype::kInt32, {4, 2}, bytes(cols0), {}, {{0, -1}, {0, 2}}, {4, 6}, 0};
  entries[2] = {"cols", dtype::kInt32, {4, 4}, bytes(cols1), {}, {{0, -1}, {2, 4}}, {4, 6}, 0};
  entries[3] = {"rows", dtype::kInt32, {1, 6}, bytes(rows0), {}, {{0, 1}, {0, -1}}, {4, 6}, 0};
  entries[4] = {"rows", dtype::kInt32, {3, 6}, bytes(rows1), {}, {{1, 3}, {0, -1}}, {4, 6}, 0};
  entries[5] = {"s", dtype::kString, {2}, {}, strs, {}, {}, 0};
  WriteBundle(prefix, entries);
  const std::string data_path = DataFilename(prefix, 0, 1);

  BundleReader r(prefix);
  CHECK(r.ReadAssembled("cols") == bytes(full) && r.ReadAssembled("rows") == bytes(full));
  CHECK(r.TensorBytes("cols") == full.size() * 4);
  std::string into(full.size() * 4, '\0');
  r.ReadInto("rows", into.data(), into.size());
  CHECK(into == bytes(full));
  ExpectError([&] { r.ReadInto("rows", into.data(), into.size() - 1); });  // wrong buffer size
  const std::string before = r.ReadRaw("a");
  CHECK(before == bytes(a));

  // Rewritten in place (same inode), one byte of "a" changed: a checksum error, on every read.
  const uint64_t a_off = static_cast<uint64_t>(r.Entry("a").offset);
  {
    std::fstream f(data_path, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>(a_off + (2u << 20)));
    f.put('\x7f');
  }
  for (int i = 0; i < 2; ++i) {
    const std::string msg = ExpectError([&] { r.ReadRaw("a"); });
    CHECK(msg.find(data_path + ": tensor 'a'") == 0 && msg.find("checksum mismatch") != std::string::npos);
  }

  // Truncated: every path says which file, tensor and offset ran past the end.
  CHECK(::truncate(data_path.c_str(), 50) == 0);  // (slices come first: their keys start with a NUL)
  const std::string msg = ExpectError([&] { r.ReadRaw("a"); });
  CHECK(msg == data_path + ": tensor 'a' at byte offset " + std::to_string(a_off) + " (" +
                   std::to_string(a.size() * 4) + " bytes) runs past the end of the file (50 bytes); truncated?");
  ExpectError([&] { r.TensorBytes("a"); });
  ExpectError([&] { r.ReadAssembled("cols"); });
  ExpectError([&] { r.ReadInto("rows", into.data(), into.size()); });
  const std::string smsg = ExpectError([&] { r.ReadStrings("s"); });
  CHECK(smsg.find("tensor 's'") != std::string::npos && smsg.find("truncated?") != std::string::npos);
  CHECK(before == bytes(a));  // what was read is the caller's
  std::filesystem::remove_all(std::filesystem::path(prefix).parent_path());
}

// Random garbage and random multi-byte mutations: errors only, never UB (run under ASan/UBSan).
static void TestRandomInputs() {
  uint64_t state = 0x9e3779b97f4a7c15ull;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  for (int iter = 0; iter < 20000; ++iter) {
    std::string in(next() % 64, '\0');
    for (char& ch : in) ch = static_cast<char>(next() & 0xff);
    try {
      (void)snappy::Uncompress(in, "rand", 1 << 20);
    } catch (const CheckpointError&) {
    }
  }
  std::vector<std::pair<std::string, std::string>> kvs = {{"", "h"}, {"a", "1"}, {"ab", "22"}, {"b", ""}};
  for (bool sn : {false, true}) {
    table::BuildOptions o;
    o.block_size = 8;
    o.snappy = sn;
    const std::string t = table::Build(kvs, o);
    for (int iter = 0; iter < 20000; ++iter) {
      std::string bad = t;
      const int flips = 1 + static_cast<int>(next() % 4);
      for (int f = 0; f < flips; ++f) bad[next() % bad.size()] = static_cast<char>(next() & 0xff);
      try {
        (void)table::ReadAll(bad, "rand");
      } catch (const CheckpointError&) {
      }
    }
  }
  // Random block contents behind valid checksums: exercises the block parser itself.
  for (int iter = 0; iter < 50000; ++iter) {
    std::string block(next() % 40, '\0');
    for (char& ch : block) ch = static_cast<char>(next() % 4 == 0 ? 0 : next() & 0xff);
    if (iter % 2 == 0 && block.size() >= 4) {  // plausible restart trailer
      block[block.size() - 4] = static_cast<char>(next() % 3);
      block[block.size() - 3] = block[block.size() - 2] = block[block.size() - 1] = 0;
    }
    const unsigned char type = (iter % 5 == 0) ? 1 : 0;
    std::string file = block;
    file.push_back(static_cast<char>(type));
    uint32_t crc = crc32c::Value(file.data(), file.size());
    for (int i = 0; i < 4; ++i) file.push_back(static_cast<char>((crc32c::Mask(crc) >> (8 * i)) & 0xff));
    std::string footer;
    for (int h = 0; h < 2; ++h) {
      footer.push_back(0);
      footer.push_back(static_cast<char>(block.size()));
    }
    footer.resize(40, '\0');
    const uint64_t magic = 0xdb4775248b80fb57ull;
    for (int i = 0; i < 8; ++i) footer.push_back(static_cast<char>((magic >> (8 * i)) & 0xff));
    file += footer;
    try {
      (void)table::ReadAll(file, "rand");
    } catch (const CheckpointError&) {
    }
  }
  for (int iter = 0; iter < 20000; ++iter) {
    std::string in(next() % 48, '\0');
    for (char& ch : in) ch = static_cast<char>(next() & 0xff);
    try {
      (void)DecodeEntry(in, "rand");
    } catch (const CheckpointError&) {
    }
    try {
      (void)DecodeHeader(in, "rand");
    } catch (const CheckpointError&) {
    }
  }
}

// num_shards > 0: each entry in its shard's data file, in the order given.
static void TestShardedInGivenOrder() {
  const std::string prefix = TempPrefix();
  std::vector<float> a = {1.0f, 2.0f};
  std::vector<float> b = {3.0f};
  std::vector<float> c = {4.0f, 5.0f, 6.0f};
  std::vector<WriteEntry> entries(3);
  const std::pair<const char*, std::vector<float>*> specs[] = {{"z", &a}, {"a", &b}, {"m", &c}};
  for (size_t i = 0; i < 3; ++i) {
    entries[i].key = specs[i].first;
    entries[i].dtype = dtype::kFloat;
    entries[i].shape = {static_cast<int64_t>(specs[i].second->size())};
    entries[i].data =
        std::string_view(reinterpret_cast<const char*>(specs[i].second->data()), specs[i].second->size() * 4);
  }
  entries[1].shard = 1;  // "z", "m" in shard 0 (that order), "a" in shard 1
  WriteOptions options;
  options.num_shards = 2;
  WriteBundle(prefix, entries, options);
  BundleReader r(prefix);
  CHECK(r.header().num_shards == 2);
  CHECK(r.Entry("z").shard_id == 0 && r.Entry("z").offset == 0);
  CHECK(r.Entry("m").shard_id == 0 && r.Entry("m").offset == 8);
  CHECK(r.Entry("a").shard_id == 1 && r.Entry("a").offset == 0);
  CHECK(r.ReadRaw("m") == entries[2].data && r.ReadRaw("a") == entries[1].data);
  CHECK(ReadFile(DataFilename(prefix, 1, 2)).size() == 4);
  entries[1].shard = 2;
  ExpectError([&] { WriteBundle(prefix, entries, options); });
}

// ---- V1 (tensor slice) checkpoints ----
static std::string SliceProto(const TensorSlice& s) {
  std::string out;
  for (const SliceExtent& e : s) {
    out += Bytes(1, (e.start ? VarintField(1, static_cast<uint64_t>(e.start)) : "") +
                        (e.length >= 0 ? VarintField(2, static_cast<uint64_t>(e.length)) : ""));
  }
  return out;
}
static std::string SliceMeta(const std::string& name, const std::vector<int64_t>& shape, int32_t dt,
                             const std::vector<TensorSlice>& slices) {
  std::string shape_proto;
  for (int64_t d : shape) shape_proto += Bytes(2, VarintField(1, static_cast<uint64_t>(d)));
  std::string m = Bytes(1, name) + Bytes(2, shape_proto) + VarintField(3, static_cast<uint64_t>(dt));
  for (const TensorSlice& s : slices) m += Bytes(4, SliceProto(s));
  return Bytes(1, m);
}
static std::pair<std::string, std::string> SliceData(const std::string& name, const TensorSlice& s,
                                                     const std::string& tensor_proto) {
  return {EncodeTensorNameSlice(name, s), Bytes(2, Bytes(1, name) + Bytes(2, SliceProto(s)) + Bytes(3, tensor_proto))};
}
static std::string V1File(const std::string& metas, std::vector<std::pair<std::string, std::string>> data,
                          const table::BuildOptions& options = {}) {
  data.emplace_back("", Bytes(1, metas + Bytes(2, VarintField(1, 1))));
  std::sort(data.begin(), data.end());
  return table::Build(data, options);
}

static void TestV1() {
  // cols: int32 [2,3] in two slices along the second dimension (not contiguous);
  // f: float [2] whole; s: strings; h: half.
  const TensorSlice left = {{0, -1}, {0, 1}}, right = {{0, -1}, {1, 2}}, whole = {{0, -1}};
  std::string floats;
  for (float f : {1.5f, -2.0f}) floats.append(reinterpret_cast<const char*>(&f), 4);
  const std::string file = V1File(
      SliceMeta("cols", {2, 3}, dtype::kInt32, {left, right}) + SliceMeta("f", {2}, dtype::kFloat, {whole}) +
          SliceMeta("s", {2}, dtype::kString, {whole}) + SliceMeta("h", {2}, dtype::kHalf, {whole}),
      {SliceData("cols", left, Bytes(7, Varint(10) + Varint(static_cast<uint64_t>(-20)))),
       SliceData("cols", right, VarintField(7, 11) + VarintField(7, 12) + VarintField(7, 21) + VarintField(7, 22)),
       SliceData("f", whole, Bytes(5, floats)), SliceData("s", whole, Bytes(8, "ab") + Bytes(8, "")),
       SliceData("h", whole, Bytes(13, Varint(0x3c00) + Varint(0xc000)))});
  SliceReader r({"m.ckpt"}, {file});
  // The values are views of the file's blocks, or of decompressed ones: the same file
  // in snappy blocks of one entry each reads the same.
  table::BuildOptions snappy_blocks;
  snappy_blocks.block_size = 1;
  snappy_blocks.snappy = true;
  const std::string compressed = V1File(
      SliceMeta("cols", {2, 3}, dtype::kInt32, {left, right}) + SliceMeta("s", {2}, dtype::kString, {whole}),
      {SliceData("cols", left, Bytes(7, Varint(10) + Varint(static_cast<uint64_t>(-20)))),
       SliceData("cols", right, VarintField(7, 11) + VarintField(7, 12) + VarintField(7, 21) + VarintField(7, 22)),
       SliceData("s", whole, Bytes(8, "ab") + Bytes(8, ""))},
      snappy_blocks);
  SliceReader rc({"c.ckpt"}, {compressed});
  std::vector<int32_t> cols_c(6);
  rc.ReadInto("cols", reinterpret_cast<char*>(cols_c.data()), 24);
  CHECK((cols_c == std::vector<int32_t>{10, 11, 12, -20, 21, 22}));
  CHECK((rc.ReadStrings("s") == std::vector<std::string>{"ab", ""}));
  CHECK((r.names() == std::vector<std::string>{"cols", "f", "h", "s"}));
  std::vector<int32_t> cols(6);
  CHECK(r.TensorBytes("cols") == 24);
  r.ReadInto("cols", reinterpret_cast<char*>(cols.data()), 24);
  CHECK((cols == std::vector<int32_t>{10, 11, 12, -20, 21, 22}));
  float f[2];
  r.ReadInto("f", reinterpret_cast<char*>(f), sizeof f);
  CHECK(f[0] == 1.5f && f[1] == -2.0f);
  uint16_t h[2];
  r.ReadInto("h", reinterpret_cast<char*>(h), sizeof h);
  CHECK(h[0] == 0x3c00 && h[1] == 0xc000);
  CHECK((r.ReadStrings("s") == std::vector<std::string>{"ab", ""}));
  CHECK(r.Tensor("cols").parts.size() == 2 && r.StoredBytes("cols") > 10);
  CHECK(ExpectError([&] { r.ReadStrings("f"); }).find("is not a string tensor") != std::string::npos);
  CHECK(ExpectError([&] { r.ReadInto("f", reinterpret_cast<char*>(f), 4); }).find("not the 4") != std::string::npos);
  CHECK(ExpectError([&] { r.Tensor("nope"); }).find("'nope' not found") != std::string::npos);

  // Errors: too few values, overlapping slices, a huge shape over little data, two
  // files disagreeing on a dtype.
  const std::string short_file =
      V1File(SliceMeta("f", {3}, dtype::kFloat, {whole}), {SliceData("f", whole, Bytes(5, floats))});
  SliceReader short_reader({"short"}, {short_file});
  float three[3];
  CHECK(ExpectError([&] {
          short_reader.ReadInto("f", reinterpret_cast<char*>(three), sizeof three);
        }).find("short: tensor 'f' slice -: holds 2 values, not the 3 its slice has") != std::string::npos);
  const std::string overlap = V1File(SliceMeta("w", {4}, dtype::kFloat, {{{0, 2}}, {{1, 2}}}), {});
  CHECK(ExpectError([&] { SliceReader({"o"}, {overlap}); }).find("slice 1,2 overlaps slice 0,2") != std::string::npos);
  // Overlap checks look at the dimensions where extents differ; a slice differing from
  // the first in a dimension none did before brings it in (both orders of the spellings
  // of a whole extent: "-" and 0,n).
  {
    const TensorSlice top = {{0, 2}, {0, -1}}, bottom = {{2, 2}, {0, -1}}, corner = {{1, 1}, {0, 1}};
    const TensorSlice top_spelled = {{0, 2}, {0, 3}}, right_col = {{0, 4}, {2, 1}};
    CHECK(ExpectError([&] {
            SliceReader({"o"}, {V1File(SliceMeta("w", {4, 3}, dtype::kFloat, {top, bottom, corner}), {})});
          }).find("slice 1,1:0,1 overlaps slice 0,2:-") != std::string::npos);
    CHECK(ExpectError([&] {
            SliceReader({"o"}, {V1File(SliceMeta("w", {4, 3}, dtype::kFloat, {top_spelled, bottom, right_col}), {})});
          }).find("slice 0,4:2,1 overlaps slice 0,2:0,3") != std::string::npos);
    const TensorSlice q00 = {{0, 2}, {0, 1}}, q01 = {{0, 2}, {1, 2}}, q10 = {{2, 2}, {0, 1}}, q11 = {{2, 2}, {1, 2}};
    CHECK(SliceReader({"g"}, {V1File(SliceMeta("w", {4, 3}, dtype::kFloat, {q00, q11, q01, q10}), {})})
              .Tensor("w")
              .parts.size() == 4);
    const TensorSlice empty = {{0, 0}, {0, -1}};  // (shares no element with anything)
    CHECK(SliceReader({"e"}, {V1File(SliceMeta("w", {4, 3}, dtype::kFloat, {top, empty, bottom}), {})})
              .Tensor("w")
              .parts.size() == 3);
  }
  const std::string huge =
      V1File(SliceMeta("w", {int64_t{1} << 40}, dtype::kFloat, {whole}), {SliceData("w", whole, Bytes(5, floats))});
  SliceReader huge_reader({"huge"}, {huge});
  CHECK(ExpectError([&] { huge_reader.TensorBytes("w"); }).find("too few") != std::string::npos);
  const std::string as_int = V1File(SliceMeta("f", {2}, dtype::kInt32, {whole}), {});
  CHECK(ExpectError([&] {
          SliceReader({"a", "b"}, {file, as_int});
        }).find("b: tensor 'f' has dtype int32, but a stores it as float32") != std::string::npos);
  // Large fixed-width values are read straight from the file into place (the block's
  // checksum computed around them): whole, and in row slices; a flipped byte among them
  // is a checksum mismatch.
  {
    std::vector<float> big(4096);
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i) * 0.25f;
    const auto floats_of = [&](size_t from, size_t n) {
      return Bytes(5, std::string(reinterpret_cast<const char*>(big.data() + from), n * 4));
    };
    const TensorSlice top = {{0, 1024}, {0, -1}}, bottom = {{1024, 1024}, {0, -1}}, all = {{0, -1}};
    // (as TensorFlow's table writer places them: a block ends after an entry takes it
    // past its size, and an entry of twice that size starts one of its own, so each
    // large value ends a block, alone when the one before did or when it is that large)
    table::BuildOptions small_blocks;
    small_blocks.block_size = 4096;
    const std::string large = V1File(
        SliceMeta("rows", {2048, 2}, dtype::kFloat, {top, bottom}) + SliceMeta("w", {4096}, dtype::kFloat, {all}),
        {SliceData("rows", top, floats_of(0, 2048)), SliceData("rows", bottom, floats_of(2048, 2048)),
         SliceData("w", all, floats_of(0, 4096))},
        small_blocks);
    SliceReader lr({"large"}, {large});
    std::vector<float> got(4096);
    lr.ReadInto("w", reinterpret_cast<char*>(got.data()), got.size() * 4);
    CHECK(got == big);
    std::fill(got.begin(), got.end(), -1.0f);
    lr.ReadInto("rows", reinterpret_cast<char*>(got.data()), got.size() * 4);
    CHECK(got == big);
    std::string flipped = large;
    const size_t at = flipped.rfind(std::string(reinterpret_cast<const char*>(big.data() + 3000), 16));  // (w's)
    CHECK(at != std::string::npos);
    flipped[at] = static_cast<char>(flipped[at] ^ 1);
    SliceReader fr({"flipped"}, {flipped});
    CHECK(ExpectError([&] {
            fr.ReadInto("w", reinterpret_cast<char*>(got.data()), got.size() * 4);
          }).find("block checksum mismatch") != std::string::npos);
  }
  // Every truncation of a good file is a CheckpointError.
  for (size_t cut = 0; cut < file.size(); cut += 7) {
    try {
      SliceReader t({"t"}, {std::string_view(file).substr(0, cut)});
    } catch (const CheckpointError&) {
    }
  }
}

// The streaming table writer gives Build's bytes whatever pieces a value comes in
// (large pieces are written from the caller's memory, small ones copied together).
static void TestTableWriterPieces() {
  std::vector<std::pair<std::string, std::string>> kvs;
  for (int i = 0; i < 60; ++i) {
    char key[32];
    std::snprintf(key, sizeof key, "k%03d", i);
    const size_t size = static_cast<size_t>((i * 7919) % 20000);
    std::string value(size, '\0');
    for (size_t j = 0; j < size; ++j) value[j] = static_cast<char>((i * 31 + j * 7) & 0xff);
    kvs.emplace_back(key, std::move(value));
  }
  for (size_t block : {size_t{512}, size_t{16384}, size_t{262144}}) {
    for (bool snappy : {false, true}) {
      table::BuildOptions o;
      o.block_size = block;
      o.snappy = snappy;
      const std::string want = table::Build(kvs, o);
      std::string got;
      table::Writer w(o, [&got](std::string_view b) { got.append(b); });
      for (size_t i = 0; i < kvs.size(); ++i) {
        const std::string& v = kvs[i].second;
        const size_t cut1 = std::min(v.size(), size_t{4096} + i), cut2 = std::min(v.size(), cut1 + 100);
        const std::string_view sv(v);
        w.Add(kvs[i].first, {sv.substr(0, cut1), sv.substr(cut1, cut2 - cut1), sv.substr(cut2)});
      }
      w.Finish();
      CHECK(got == want);
      CHECK(w.size() == want.size());
    }
  }
  // Keys of 4 KiB and more (an entry's header and key past the size borrowed from the
  // caller), sharing prefixes or not, with the writer's caller keeping none of them.
  std::vector<std::pair<std::string, std::string>> long_keys;
  for (size_t len : {size_t{4091}, size_t{4092}, size_t{4093}, size_t{5000}, size_t{9000}}) {
    long_keys.emplace_back(std::string(len, 'k') + "a", "v" + std::to_string(len));
    long_keys.emplace_back(std::string(len, 'm'), "w");
  }
  std::sort(long_keys.begin(), long_keys.end());
  for (size_t block : {size_t{512}, size_t{262144}}) {
    table::BuildOptions o;
    o.block_size = block;
    CHECK(table::ReadAll(table::Build(long_keys, o), "long") == long_keys);
    std::string got;
    {
      table::Writer lw(o, [&got](std::string_view b) { got.append(b); });
      for (const auto& kv : long_keys) lw.Add(std::string(kv.first), {kv.second});
      lw.Finish();
    }
    CHECK(table::ReadAll(got, "long") == long_keys);
  }
  table::Writer w(table::BuildOptions{}, [](std::string_view) {});
  w.Add("b", {"x"});
  CHECK(ExpectError([&] { w.Add("a", {"y"}); }).find("keys not strictly increasing at 'a'") != std::string::npos);
}

// WriteSlices -> SliceReader: every storage kind, slices given out of order, a large
// value written from the caller's memory; refused input leaves no file behind.
static void TestV1Writer() {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("fastmeta_v1w_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "model.ckpt").string();
  std::vector<float> big(3000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i) - 0.5f;
  const std::vector<int32_t> ints = {-1, 2147483647, -2147483647 - 1, 0, 7, -300};
  const std::vector<int64_t> longs = {-1, int64_t{1} << 62, 0};
  const std::vector<uint16_t> halves = {0x3c00, 0xfbff};
  const std::vector<uint8_t> bools = {1, 0, 1};
  const std::vector<int8_t> bytes = {-128, 127, 0, -1};
  const auto view = [](const auto& v) {
    return std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(v[0]));
  };
  std::vector<WriteEntry> entries(9);
  // (rows 500-999 first: the file lists them in that order, the values read back in place)
  entries[0] = {"rows", dtype::kFloat, {500, 3}, view(big).substr(6000), {}, {{500, 500}, {0, -1}}, {1000, 3}, 0};
  entries[1] = {"rows", dtype::kFloat, {500, 3}, view(big).substr(0, 6000), {}, {{0, 500}, {0, -1}}, {1000, 3}, 0};
  entries[2] = {"i", dtype::kInt32, {2, 3}, view(ints), {}, {}, {}, 0};
  entries[3] = {"l", dtype::kInt64, {3}, view(longs), {}, {}, {}, 0};
  entries[4] = {"h", dtype::kHalf, {2}, view(halves), {}, {}, {}, 0};
  entries[5] = {"b", dtype::kBool, {3}, view(bools), {}, {}, {}, 0};
  entries[6] = {"q", dtype::kQInt8, {2, 2}, view(bytes), {}, {}, {}, 0};
  entries[7] = {"s", dtype::kString, {2}, {}, {"", std::string_view("a\0b", 3)}, {}, {}, 0};
  entries[8] = {"e", dtype::kFloat, {0, 4}, {}, {}, {}, {}, 0};
  WriteSlices(path, entries);
  SliceReader r({path});
  CHECK((r.names() == std::vector<std::string>{"b", "e", "h", "i", "l", "q", "rows", "s"}));
  // Reads tensor `name` back into a vector like `want`; true when it equals it.
  const auto reads_back = [&r](const std::string& name, const auto& want) {
    auto got = want;
    std::fill(got.begin(), got.end(), 0);
    r.ReadInto(name, reinterpret_cast<char*>(got.data()), got.size() * sizeof(got[0]));
    return got == want;
  };
  CHECK(reads_back("rows", big));
  CHECK((r.Tensor("rows").parts[0].slice == TensorSlice{{500, 500}, {0, -1}}));
  CHECK(r.Tensor("rows").parts.size() == 2);
  CHECK(reads_back("i", ints) && reads_back("l", longs) && reads_back("h", halves));
  CHECK(reads_back("b", bools) && reads_back("q", bytes));
  CHECK((r.ReadStrings("s") == std::vector<std::string>{"", std::string("a\0b", 3)}));
  CHECK(r.TensorBytes("e") == 0 && r.Tensor("e").shape == std::vector<int64_t>({0, 4}));

  const std::string other = (dir / "bad.ckpt").string();
  std::vector<WriteEntry> bad(2, entries[1]);
  bad[1].slice = {{499, 500}, {0, -1}};
  CHECK(ExpectError([&] { WriteSlices(other, bad); }).find("overlaps another slice given") != std::string::npos);
  bad.assign(1, entries[2]);
  bad[0].dtype = dtype::kBFloat16;
  bad[0].shape = {12};
  CHECK(ExpectError([&] { WriteSlices(other, bad); }).find("bfloat16 cannot be written") != std::string::npos);
  // A shape whose byte size wraps around 2^64 (2^61 doubles "in" 0 bytes) is too large,
  // never taken for an empty tensor.
  bad[0].dtype = dtype::kDouble;
  bad[0].shape = {int64_t{1} << 61};
  bad[0].data = {};
  CHECK(ExpectError([&] { WriteSlices(other, bad); }).find("too large for one V1 slice") != std::string::npos);
  CHECK(ExpectError([&] { WriteBundle((dir / "bundle").string(), bad); }).find("0 bytes for float64[") !=
        std::string::npos);
  CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator{}) == 1);
  std::filesystem::remove_all(dir);
}

// A stored shape or slice of more than TensorFlow's 254 dimensions is refused as it is
// decoded (TensorFlow aborts on it), so a small index cannot make the reader hold an
// extent per couple of bytes; 254 are read.
static void TestRankLimit() {
  auto entry = [](size_t shape_rank, size_t slice_rank) {
    std::string shape, slice;
    for (size_t d = 0; d < shape_rank; ++d) shape += Bytes(2, VarintField(1, 1));
    for (size_t d = 0; d < slice_rank; ++d) slice += Bytes(1, "");
    return VarintField(1, dtype::kFloat) + Bytes(2, shape) + (slice_rank ? Bytes(7, slice) : std::string());
  };
  CHECK(DecodeEntry(entry(254, 254), "e").shape.size() == 254);
  CHECK(DecodeEntry(entry(254, 254), "e").slices.at(0).size() == 254);
  CHECK(ExpectError([&] { (void)DecodeEntry(entry(255, 0), "e"); }) ==
        "e: shape has more than 254 dimensions (TensorFlow's limit)");
  CHECK(ExpectError([&] { (void)DecodeEntry(entry(254, 255), "e"); }) ==
        "e: slice has more than 254 dimensions (TensorFlow's limit)");
}

int main() {
  TestRankLimit();
  TestRandomInputs();
  TestCrc32c();
  TestSnappy();
  TestTable();
  TestSliceName();
  TestRoundTrip();
  TestShardedInGivenOrder();
  TestFileChangesUnderAnOpenReader();
  TestV1();
  TestTableWriterPieces();
  TestV1Writer();
  std::cout << "checkpoint_test: OK\n";
  return 0;
}
