// SPDX-License-Identifier: GPL-2.0-only
//
// histogram_bench: the cost of LatencyHistogram::record(), the one call on
// the per-interrupt hot path. Values come from a pre-generated ring so the
// timed loop does nothing but record; ClobberMemory() after each call makes
// every update reach memory, as it does when record() sits between other
// calls in the dispatch loop, rather than letting the compiler keep
// count/sum/min/max in registers across iterations.
//
//   cmake --preset release && cmake --build --preset release --target histogram_bench
//   build/release/bench/histogram_bench

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "dispatch/histogram.h"

namespace irqd {
namespace {

constexpr std::size_t kRing = 4096;  // power of two: index with a mask; 32 KiB stays in L1/L2

// Values 10^lo .. 10^hi ns, log-uniform, fixed seed.
std::vector<std::uint64_t> log_uniform(double lo, double hi) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> exponent(lo, hi);
  std::vector<std::uint64_t> out(kRing);
  for (auto& v : out) v = static_cast<std::uint64_t>(std::pow(10.0, exponent(rng)));
  return out;
}

void run(benchmark::State& state, const std::vector<std::uint64_t>& values) {
  LatencyHistogram h;
  benchmark::DoNotOptimize(&h);  // h escapes: its stores are observable
  std::size_t i = 0;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): the benchmark loop idiom
    h.record(values[i++ & (kRing - 1)]);
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(h.count());
  state.SetItemsProcessed(state.iterations());
}

// One value over and over: every call increments the same bucket, so each
// waits on the previous one's store (the worst case for a dependency chain).
void BM_RecordSameValue(benchmark::State& state) { run(state, std::vector<std::uint64_t>(kRing, 12'345)); }
BENCHMARK(BM_RecordSameValue);

// Interrupt latencies as a daemon sees them: 1 us .. 100 us.
void BM_RecordMicroseconds(benchmark::State& state) { run(state, log_uniform(3, 5)); }
BENCHMARK(BM_RecordMicroseconds);

// The whole range, 1 ns .. 10 s: buckets all over the 27 KiB array.
void BM_RecordFullRange(benchmark::State& state) { run(state, log_uniform(0, 10)); }
BENCHMARK(BM_RecordFullRange);

// Half the values above 10 s: the clamp path.
void BM_RecordHalfClamped(benchmark::State& state) { run(state, log_uniform(9.7, 10.3)); }
BENCHMARK(BM_RecordHalfClamped);

}  // namespace
}  // namespace irqd

BENCHMARK_MAIN();
