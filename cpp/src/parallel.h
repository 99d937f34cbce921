// Splitting work over the cores (internal to the core library).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <thread>
#include <utility>
#include <vector>

namespace fastmeta {

// `requested` threads, or all cores for 0.
inline unsigned ThreadCount(unsigned requested) {
  if (requested != 0) return requested;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : hw;
}

// Runs fn(0..chunks-1) on up to `threads` threads, each taking the next chunk not yet
// taken: more chunks than threads balance the load when one core runs slower (a
// shared machine). If chunks throw, the exception of the lowest chunk is rethrown: the
// same error a sequential pass would report first.
template <typename Fn>
void ParallelFor(size_t chunks, unsigned threads, Fn&& fn) {
  std::vector<std::exception_ptr> errors(chunks);
  auto run = [&](size_t c) {
    try {
      fn(c);
    } catch (...) {
      errors[c] = std::current_exception();
    }
  };
  if (threads <= 1 || chunks <= 1) {
    for (size_t c = 0; c < chunks; ++c) {
      run(c);
      if (errors[c]) std::rethrow_exception(errors[c]);
    }
    return;
  }
  std::atomic<size_t> next{0};
  auto work = [&]() {
    for (size_t c = next.fetch_add(1); c < chunks; c = next.fetch_add(1)) run(c);
  };
  std::vector<std::thread> workers;
  const size_t helpers = std::min<size_t>(threads, chunks) - 1;
  for (size_t t = 0; t < helpers; ++t) workers.emplace_back(work);
  work();
  for (std::thread& t : workers) t.join();
  for (const std::exception_ptr& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

// Splits [0, n) into `parts` contiguous ranges; returns range `part`.
inline std::pair<size_t, size_t> Range(size_t n, size_t parts, size_t part) {
  return {n * part / parts, n * (part + 1) / parts};
}

// Splits [0, n) into `parts` contiguous ranges for ParallelFor, which hands them out in
// order: range p gets a share of the work proportional to parts + 1 - p, so the last
// ranges taken are the shortest and the threads finish close together (equal ranges
// leave one thread alone with the last, or with one much heavier than the rest).
// `work(i)` is the work of items [0, i): non-decreasing, work(0) == 0. Returns the
// parts + 1 boundaries.
template <typename Work>
std::vector<size_t> GuidedSplit(size_t n, size_t parts, Work&& work) {
  std::vector<size_t> bounds(parts + 1, n);
  bounds[0] = 0;
  const double total = static_cast<double>(work(n));
  const double weights = static_cast<double>(parts) * static_cast<double>(parts + 3) / 2;  // sum of parts+1-p
  double before = 0;
  for (size_t p = 1; p < parts; ++p) {
    before += static_cast<double>(parts + 2 - p);  // the weight of range p - 1
    const double target = total * before / weights;
    size_t lo = bounds[p - 1], hi = n;  // the first i at or past the target
    while (lo < hi) {
      const size_t mid = lo + (hi - lo) / 2;
      if (static_cast<double>(work(mid)) < target)
        lo = mid + 1;
      else
        hi = mid;
    }
    bounds[p] = lo;
  }
  return bounds;
}

}  // namespace fastmeta
