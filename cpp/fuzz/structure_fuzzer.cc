// libFuzzer harness with a structure-aware mutator: inputs are parsed as a tree of
// protobuf wire fields (length-delimited payloads that parse cleanly are treated as
// sub-messages), one field somewhere in the tree is mutated (tag number, wire type,
// length prefix, varint value or encoding, duplication, deletion, payload bytes),
// and the tree is serialized again with consistent lengths unless the mutation is
// "lie about a length". Seeds are valid .meta files; the target is the rewriter.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "rewrite_target.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace {

struct Node {
  uint64_t number = 0;
  uint32_t type = 0;
  uint64_t varint = 0;
  std::string bytes;           // fixed32/64 raw bytes, or a leaf payload
  std::vector<Node> children;  // parsed sub-message (type 2 only)
  bool message = false;
  int64_t length_delta = 0;  // a lying length prefix
  int overlong = 0;          // extra 0x80 continuation bytes on the tag
};

bool GetVarint(const char*& p, const char* end, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    const uint8_t b = static_cast<uint8_t>(*p++);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

bool Parse(const char* p, const char* end, std::vector<Node>& out, int depth) {
  if (depth > 24) return false;
  while (p < end) {
    Node n;
    uint64_t tag;
    if (!GetVarint(p, end, tag)) return false;
    n.number = tag >> 3;
    n.type = static_cast<uint32_t>(tag & 7);
    if (n.number == 0) return false;
    switch (n.type) {
      case 0:
        if (!GetVarint(p, end, n.varint)) return false;
        break;
      case 1:
      case 5: {
        const size_t k = n.type == 1 ? 8 : 4;
        if (static_cast<size_t>(end - p) < k) return false;
        n.bytes.assign(p, k);
        p += k;
        break;
      }
      case 2: {
        uint64_t len;
        if (!GetVarint(p, end, len) || len > static_cast<uint64_t>(end - p)) return false;
        n.bytes.assign(p, static_cast<size_t>(len));
        std::vector<Node> kids;
        if (len > 0 && Parse(p, p + len, kids, depth + 1)) {
          n.children = std::move(kids);
          n.message = true;
          n.bytes.clear();
        }
        p += len;
        break;
      }
      default:
        return false;
    }
    out.push_back(std::move(n));
  }
  return true;
}

void PutVarint(std::string& out, uint64_t v, int overlong = 0) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  if (overlong == 0) {
    out.push_back(static_cast<char>(v));
    return;
  }
  // Non-canonical encoding: padding continuation bytes (over 10 bytes in all is invalid).
  out.push_back(static_cast<char>(v | 0x80));
  for (int i = 1; i < overlong; ++i) out.push_back(static_cast<char>(0x80));
  out.push_back(0);
}

void Serialize(const std::vector<Node>& nodes, std::string& out) {
  for (const Node& n : nodes) {
    PutVarint(out, (n.number << 3) | n.type, n.overlong);
    switch (n.type) {
      case 0:
        PutVarint(out, n.varint);
        break;
      case 2: {
        std::string payload;
        if (n.message)
          Serialize(n.children, payload);
        else
          payload = n.bytes;
        PutVarint(out, static_cast<uint64_t>(static_cast<int64_t>(payload.size()) + n.length_delta));
        out += payload;
        break;
      }
      default:
        out += n.bytes;
        break;
    }
  }
}

// All nodes in the tree, for a uniform pick.
void Collect(std::vector<Node>& nodes, std::vector<std::vector<Node>*>& lists, std::vector<Node*>& all) {
  lists.push_back(&nodes);
  for (Node& n : nodes) {
    all.push_back(&n);
    if (n.message) Collect(n.children, lists, all);
  }
}

const uint64_t kInteresting[] = {0,
                                 1,
                                 2,
                                 0x7f,
                                 0x80,
                                 0xff,
                                 0x7fffffff,
                                 0x80000000,
                                 0xffffffff,
                                 0x100000000ull,
                                 0x7fffffffffffffffull,
                                 0xffffffffffffffffull};

void MutateNode(Node& n, std::minstd_rand& rng) {
  switch (rng() % 8) {
    case 0:
      n.number = n.number ^ (1u << (rng() % 4));
      if (n.number == 0) n.number = 1;
      break;
    case 1:
      n.type = static_cast<uint32_t>(rng() % 6);
      if (n.type == 2 && !n.message && n.bytes.empty()) n.bytes = "a";
      break;
    case 2:
      n.length_delta = static_cast<int64_t>(rng() % 5) - 2;
      if (rng() % 4 == 0) n.length_delta = 1 << 30;
      break;
    case 3:
      n.varint = kInteresting[rng() % (sizeof kInteresting / sizeof kInteresting[0])];
      break;
    case 4:
      n.overlong = 1 + static_cast<int>(rng() % 10);
      break;
    case 5:
      if (!n.message && !n.bytes.empty()) n.bytes[rng() % n.bytes.size()] ^= static_cast<char>(1u << (rng() % 8));
      break;
    case 6:
      if (!n.message) {
        static const char* kStrings[] = {"",       "^a",
                                         "a:1",    "loc:@a",
                                         "_class", "\xff\xfe",
                                         "/gpu:0", "/job:w/task:1/device:CPU:0",
                                         "a/b",    "x:99999999999",
                                         "Merge",  "NextIteration",
                                         "Enter",  "frame_name",
                                         "^",      ":0",
                                         "a>b"};
        n.bytes = kStrings[rng() % (sizeof kStrings / sizeof kStrings[0])];
      }
      break;
    default:
      if (n.message && !n.children.empty()) {
        n.message = false;  // flatten to bytes: keep the serialized payload, lose the tree
        std::string payload;
        Serialize(n.children, payload);
        n.children.clear();
        n.bytes = payload;
      }
      break;
  }
}

}  // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  std::minstd_rand rng(seed);
  std::vector<Node> tree;
  if (rng() % 8 == 0 ||
      !Parse(reinterpret_cast<const char*>(data), reinterpret_cast<const char*>(data) + size, tree, 0) ||
      tree.empty()) {
    return LLVMFuzzerMutate(data, size, max_size);
  }
  std::vector<std::vector<Node>*> lists;
  std::vector<Node*> all;
  Collect(tree, lists, all);
  const unsigned op = rng() % 4;
  // Pointers into the tree are only valid until the next change: one change per Collect.
  if (op == 0 && !lists.empty()) {
    std::vector<Node>& l = *lists[rng() % lists.size()];
    if (!l.empty()) {
      const size_t i = rng() % l.size();
      if (rng() % 2)
        l.insert(l.begin() + static_cast<long>(i), l[i]);  // duplicate (repeated / last-wins)
      else
        l.erase(l.begin() + static_cast<long>(i));
    }
  } else if (op == 1 && !lists.empty()) {
    std::vector<Node>& l = *lists[rng() % lists.size()];
    if (l.size() > 1) std::swap(l[rng() % l.size()], l[rng() % l.size()]);
  } else {
    const int count = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < count; ++k) {
      if (k > 0) {
        lists.clear();
        all.clear();
        Collect(tree, lists, all);
      }
      MutateNode(*all[rng() % all.size()], rng);
    }
  }
  std::string out;
  Serialize(tree, out);
  if (out.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
  std::memcpy(data, out.data(), out.size());
  return out.size();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fastmeta_fuzz::RunRewriteTarget(data, size);
  return 0;
}
