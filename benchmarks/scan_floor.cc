// How fast can anything that reads every NodeDef go? The floor under the rewrite's
// "fraction of memcpy" figure, measured in one process against memcpy of the same bytes.
//
//   cmake -S . -B build/bench -DFASTMETA_BUILD_BENCHMARKS=ON && cmake --build build/bench --target scan_floor
//   build/bench/scan_floor FILE.meta [THREADS]
//
// Steps, each the median of 5 runs:
//   memcpy (recycled)  copy of the bytes into memory this process used before: the
//                      baseline of benchmarks/run.py (numpy recycles its buffer the same way);
//   memcpy (fresh)     the same into newly mapped pages (the kernel zeroes each one first);
//   boundary scan      map the file and find where each NodeDef starts (one thread: the
//                      chain of lengths is serial), prefetching ahead as the rewriter does;
//   field scan         walk every field of every NodeDef and every attr entry, doing
//                      nothing with them, on THREADS threads (default: all cores).
// A rewriter reads everything the two scans read, and on top hashes every name, resolves
// every input, orders the nodes and writes a new GraphDef into fresh memory.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <thread>
#include <vector>

#include "fastmeta/mapped_file.h"
#include "fastmeta/wire.h"

namespace {

using fastmeta::wire::Field;
using fastmeta::wire::Reader;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The GraphDef's node payloads, in file order.
std::vector<std::string_view> NodeSpans(std::string_view meta) {
  std::vector<std::string_view> spans;
  Reader r(meta, meta.data(), 0);
  Field f;
  std::string_view graph;
  while (r.Next(f)) {
    if (f.number == 2) graph = f.data;
  }
  Reader g(graph, meta.data(), 1);
  const char* prefetched = graph.data();
  const char* const end = graph.data() + graph.size();
  while (g.Next(f)) {
    const char* want = end - f.raw.data() > 2048 ? f.raw.data() + 2048 : end;
    for (; prefetched < want; prefetched += 64) __builtin_prefetch(prefetched);
    if (f.number == 1) spans.push_back(f.data);
  }
  return spans;
}

uint64_t ScanFields(const std::vector<std::string_view>& spans, size_t a, size_t b, const char* origin) {
  uint64_t sum = 0;
  Field f, e;
  for (size_t i = a; i < b; ++i) {
    Reader r(spans[i], origin, 2);
    while (r.Next(f)) {
      sum += f.number + f.data.size();
      if (f.number != 5) continue;
      Reader er(f.data, origin, 3);
      while (er.Next(e)) sum += e.number + e.data.size();
    }
  }
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: scan_floor FILE.meta [THREADS]\n");
    return 2;
  }
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const unsigned threads = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) : hw;
  std::vector<double> copy_recycled, copy_fresh, boundary, fields;
  size_t nodes = 0, size = 0;
  volatile uint64_t sink = 0;
  {
    fastmeta::MappedFile file(argv[1]);
    const std::string_view data = file.data();
    size = data.size();
    std::vector<char> src(data.begin(), data.end());
    std::vector<char> dst(size);
    std::memset(dst.data(), 1, size);
    for (int rep = 0; rep < 5; ++rep) {
      double t = Now();
      std::memcpy(dst.data(), src.data(), size);
      copy_recycled.push_back(Now() - t);
      sink = sink + static_cast<unsigned char>(dst[size / 2]);
      t = Now();
      char* fresh = static_cast<char*>(std::malloc(size));
      if (fresh == nullptr) return 1;
      std::memcpy(fresh, src.data(), size);
      copy_fresh.push_back(Now() - t);
      sink = sink + static_cast<unsigned char>(fresh[size / 2]);
      std::free(fresh);
    }
  }
  for (int rep = 0; rep < 5; ++rep) {
    double t = Now();
    fastmeta::MappedFile file(argv[1]);  // a new mapping: its pages are faulted in again
    const std::vector<std::string_view> spans = NodeSpans(file.data());
    boundary.push_back(Now() - t);
    nodes = spans.size();
    t = Now();
    std::vector<uint64_t> sums(threads);
    std::vector<std::thread> workers;
    for (unsigned k = 1; k < threads; ++k) {
      workers.emplace_back([&, k] { sums[k] = ScanFields(spans, nodes * k / threads, nodes * (k + 1) / threads, file.data().data()); });
    }
    sums[0] = ScanFields(spans, 0, nodes / threads, file.data().data());
    for (std::thread& w : workers) w.join();
    fields.push_back(Now() - t);
    for (uint64_t s : sums) sink = sink + s;
  }
  const double recycled = Median(copy_recycled), fresh = Median(copy_fresh);
  const double scan = Median(boundary), walk = Median(fields);
  std::printf("%s: %zu nodes, %.1f MB, %u threads\n", argv[1], nodes, static_cast<double>(size) / 1e6, threads);
  std::printf("  memcpy (recycled)  %.4f s  %.2f GB/s\n", recycled, static_cast<double>(size) / recycled / 1e9);
  std::printf("  memcpy (fresh)     %.4f s  %.3f of memcpy (recycled)\n", fresh, recycled / fresh);
  std::printf("  boundary scan      %.4f s  %.3f of memcpy\n", scan, recycled / scan);
  std::printf("  field scan         %.4f s  %.3f of memcpy\n", walk, recycled / walk);
  std::printf("  both scans         %.4f s  %.3f of memcpy: the floor of any reader of every NodeDef\n", scan + walk,
              recycled / (scan + walk));
  return 0;
}
