// SPDX-License-Identifier: GPL-2.0-only
//
// LatencyHistogram: exact below 256 ns, every bucket across 1 ns .. 10 s
// within the documented bound (< 1/128 relative, never under), percentiles
// against a sorted copy of the samples, clamping, merge, the empty case.

#include "dispatch/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

namespace irqd {
namespace {

constexpr std::uint64_t kMax = LatencyHistogram::kMaxValue;

// The highest value of the bucket v lands in, read back through the public
// API: nonempty_buckets() reports it uncapped.
std::uint64_t bucket_high(std::uint64_t v) {
  LatencyHistogram h;
  h.record(v);
  const auto buckets = h.nonempty_buckets();
  EXPECT_EQ(buckets.size(), 1U);
  return buckets.empty() ? 0 : buckets.front().first;
}

// The true percentile: the ceil(p% * n)-th smallest sample, as the header
// defines it. p is chosen by the callers so that p * n / 100 is exact or
// clearly not an integer.
std::uint64_t true_percentile(std::vector<std::uint64_t> samples, double p) {
  std::sort(samples.begin(), samples.end());
  const auto n = static_cast<double>(samples.size());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * n - 1e-9));
  rank = std::clamp<std::size_t>(rank, 1, samples.size());
  return samples[rank - 1];
}

// The documented bound: the answer is never below the true value and
// exceeds it by less than 1/128 of it (exactly 0 below 256 ns).
void expect_within_bucket_error(std::uint64_t got, std::uint64_t truth, double p) {
  EXPECT_GE(got, truth) << "p" << p;
  EXPECT_LT((got - truth) * 128, std::max<std::uint64_t>(truth, 1)) << "p" << p << " true " << truth << " got " << got;
  if (truth < 256) {
    EXPECT_EQ(got, truth) << "p" << p;
  }
}

void check_percentiles(const std::vector<std::uint64_t>& samples, std::span<const double> ps) {
  LatencyHistogram h;
  for (const std::uint64_t v : samples) h.record(v);
  for (const double p : ps) expect_within_bucket_error(h.percentile(p), true_percentile(samples, p), p);
}

constexpr std::array kPs = {0.1, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0};

TEST(LatencyHistogram, EmptyAnswersZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0U);
  EXPECT_EQ(h.min(), 0U);
  EXPECT_EQ(h.max(), 0U);
  EXPECT_EQ(h.clamped(), 0U);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.percentile(50), 0U);
  EXPECT_EQ(h.percentile(100), 0U);
  EXPECT_TRUE(h.nonempty_buckets().empty());
}

TEST(LatencyHistogram, ResetReturnsToEmpty) {
  LatencyHistogram h;
  h.record(5);
  h.record(kMax + 1);
  h.reset();
  EXPECT_EQ(h.count(), 0U);
  EXPECT_EQ(h.min(), 0U);
  EXPECT_EQ(h.max(), 0U);
  EXPECT_EQ(h.clamped(), 0U);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.percentile(100), 0U);
  EXPECT_TRUE(h.nonempty_buckets().empty());
  // min must start afresh, not remember 5.
  h.record(7);
  EXPECT_EQ(h.min(), 7U);
}

TEST(LatencyHistogram, ZeroIsRecordedAsZero) {
  LatencyHistogram h;
  h.record(0);
  EXPECT_EQ(h.count(), 1U);
  EXPECT_EQ(h.min(), 0U);
  EXPECT_EQ(h.percentile(100), 0U);
  EXPECT_EQ(h.nonempty_buckets(), (std::vector<std::pair<std::uint64_t, std::uint64_t>>{{0, 1}}));
}

TEST(LatencyHistogram, ExactBelowLinearRange) {
  LatencyHistogram h;
  for (std::uint64_t v = 0; v < 256; ++v) h.record(v);
  const auto buckets = h.nonempty_buckets();
  ASSERT_EQ(buckets.size(), 256U);
  for (std::uint64_t v = 0; v < 256; ++v) EXPECT_EQ(buckets[v], std::make_pair(v, std::uint64_t{1}));
  // 256 samples 0..255: rank k is the value k - 1, exactly.
  EXPECT_EQ(h.percentile(50), 127U);
  EXPECT_EQ(h.percentile(99), 253U);  // ceil(253.44) = 254th
  EXPECT_EQ(h.percentile(100), 255U);
  EXPECT_EQ(h.min(), 0U);
  EXPECT_EQ(h.max(), 255U);
}

TEST(LatencyHistogram, PercentileRankIsCeilOfPTimesCount) {
  // 1..200, all exact: the answer names the rank directly.
  LatencyHistogram h;
  for (std::uint64_t v = 1; v <= 200; ++v) h.record(v);
  EXPECT_EQ(h.percentile(0.5), 1U);     // rank 1
  EXPECT_EQ(h.percentile(0.6), 2U);     // ceil(1.2) = 2
  EXPECT_EQ(h.percentile(50), 100U);    // exactly 100, not 101
  EXPECT_EQ(h.percentile(50.1), 101U);  // ceil(100.2)
  EXPECT_EQ(h.percentile(99.5), 199U);  // exactly 199 although 99.5 / 100 * 200 is computed in doubles
  EXPECT_EQ(h.percentile(100), 200U);
  // 99.9 is not a double; 99.9% of 1000 must still be rank 999, not 1000.
  LatencyHistogram g;
  g.record_n(1, 999);
  g.record(200);
  EXPECT_EQ(g.percentile(99.9), 1U);
  EXPECT_EQ(g.percentile(99.91), 200U);
}

TEST(LatencyHistogram, EveryBucketWithinRelativeErrorBound) {
  // Walk the buckets from 0 to kMaxValue, each found as [lo, high(lo)]:
  // the bucket's width bounds the error of any value in it.
  std::uint64_t lo = 0;
  std::uint64_t prev_hi = 0;
  std::uint64_t prev_width = 1;
  std::size_t buckets = 0;
  while (lo <= kMax) {
    const std::uint64_t hi = bucket_high(lo);
    ASSERT_GE(hi, lo);
    if (lo < 256) {
      ASSERT_EQ(hi, lo) << "values below 256 ns must be exact";
    } else {
      // hi - lo = width - 1 and lo >= 128 * width: error < 1/128 < 1%.
      ASSERT_LT((hi - lo) * 128, lo) << "bucket [" << lo << ", " << hi << "]";
      ASSERT_LE((hi - lo) * 100, lo);
      // Widths grow monotonically and are powers of two (log-linear).
      const std::uint64_t width = hi - lo + 1;
      ASSERT_EQ(width & (width - 1), 0U) << lo;
      ASSERT_GE(width, prev_width) << lo;
      prev_width = width;
    }
    // index_of / highest_in agree: both ends and the middle of the bucket
    // map to the same bucket, and it is not the previous one.
    ASSERT_EQ(bucket_high(hi), hi);
    ASSERT_EQ(bucket_high(lo + (hi - lo) / 2), hi);
    if (buckets > 0) {
      ASSERT_GT(hi, prev_hi);
    }

    // The same through percentile(): with kMaxValue recorded too, max()
    // does not cap, and the lower sample's percentile is its bucket's top.
    LatencyHistogram h;
    h.record(lo);
    h.record(hi);
    h.record(kMax);
    const std::uint64_t capped = std::min(hi, kMax);
    ASSERT_EQ(h.percentile(100.0 / 3), capped) << lo;  // rank 1: lo
    ASSERT_EQ(h.percentile(200.0 / 3), capped) << lo;  // rank 2: hi
    ASSERT_EQ(h.percentile(100), kMax);

    prev_hi = hi;
    lo = hi + 1;
    ++buckets;
  }
  // The layout in the header: 256 exact + 26 magnitudes * 128 + 150 steps
  // of the magnitude holding 10 s.
  EXPECT_EQ(buckets, 3478U);
  EXPECT_EQ(prev_hi, 10'066'329'599U);
}

TEST(LatencyHistogram, UniformOneToThousand) {
  std::vector<std::uint64_t> samples;
  samples.reserve(1000);
  for (std::uint64_t v = 1; v <= 1000; ++v) samples.push_back(v);
  check_percentiles(samples, kPs);

  LatencyHistogram h;
  for (const std::uint64_t v : samples) h.record(v);
  // p50 is the 500th sample = 500, p99 the 990th = 990; each reported as
  // its bucket's top, within 1/128 above.
  EXPECT_GE(h.percentile(50), 500U);
  EXPECT_LT((h.percentile(50) - 500) * 128, 500U);
  EXPECT_GE(h.percentile(99), 990U);
  EXPECT_LT((h.percentile(99) - 990) * 128, 990U);
  EXPECT_EQ(h.percentile(100), 1000U);
  EXPECT_EQ(h.min(), 1U);
  EXPECT_DOUBLE_EQ(h.mean(), 500.5);
}

TEST(LatencyHistogram, Bimodal) {
  // 9000 fast samples 2000..2999 ns, 1000 slow ones 1.000..1.999 ms.
  std::vector<std::uint64_t> samples;
  samples.reserve(10'000);
  for (int rep = 0; rep < 9; ++rep) {
    for (std::uint64_t v = 2000; v < 3000; ++v) samples.push_back(v);
  }
  for (std::uint64_t v = 1'000'000; v < 2'000'000; v += 1000) samples.push_back(v);
  check_percentiles(samples, kPs);
  check_percentiles(samples, std::array{90.0, 90.01});  // the last fast sample, then the first slow one

  LatencyHistogram h;
  for (const std::uint64_t v : samples) h.record(v);
  EXPECT_EQ(true_percentile(samples, 50), 2555U);  // 5000th: 2000 + 4999 / 9
  EXPECT_EQ(true_percentile(samples, 99), 1'899'000U);
  expect_within_bucket_error(h.percentile(50), 2555, 50);
  expect_within_bucket_error(h.percentile(99), 1'899'000, 99);
  EXPECT_LT(h.percentile(90), 3100U);
  EXPECT_GE(h.percentile(90.01), 1'000'000U);
}

TEST(LatencyHistogram, LogUniformRandom) {
  // Fixed seed: deterministic. Values spread over all magnitudes 1 ns..10 s.
  std::mt19937_64 rng(12345);
  std::uniform_real_distribution<double> exponent(0.0, 10.0);
  std::vector<std::uint64_t> samples;
  samples.reserve(100'000);
  for (int i = 0; i < 100'000; ++i) samples.push_back(static_cast<std::uint64_t>(std::pow(10.0, exponent(rng))));
  check_percentiles(samples, kPs);
  check_percentiles(samples, std::array{5.0, 33.3, 66.6, 95.0, 99.5});
}

TEST(LatencyHistogram, MaxIsExactAndIsP100) {
  LatencyHistogram h;
  h.record(1000);
  h.record(1'000'001);  // its bucket's top is higher: max must not be bucketed
  EXPECT_EQ(h.max(), 1'000'001U);
  EXPECT_GT(bucket_high(1'000'001), 1'000'001U);
  EXPECT_EQ(h.percentile(100), h.max());
  EXPECT_EQ(h.percentile(99.99), h.max());  // rank 2 of 2
  EXPECT_EQ(h.min(), 1000U);

  // Same bucket as the maximum, below it: percentile caps at max.
  LatencyHistogram g;
  g.record(1000);
  g.record(1001);
  EXPECT_EQ(g.percentile(50), 1001U);
  EXPECT_EQ(g.percentile(100), 1001U);
}

TEST(LatencyHistogram, ClampsAboveTenSeconds) {
  LatencyHistogram h;
  h.record(kMax);  // at the limit: not clamped
  h.record(kMax + 1);
  h.record(UINT64_MAX);
  EXPECT_EQ(h.count(), 3U);
  EXPECT_EQ(h.clamped(), 2U);
  EXPECT_EQ(h.max(), kMax);
  EXPECT_EQ(h.min(), kMax);
  EXPECT_EQ(h.percentile(100), kMax);
  EXPECT_EQ(h.percentile(1), kMax);
  EXPECT_DOUBLE_EQ(h.mean(), static_cast<double>(kMax));  // the mean counts clamped values as kMaxValue
  const auto buckets = h.nonempty_buckets();
  ASSERT_EQ(buckets.size(), 1U);
  EXPECT_EQ(buckets[0].second, 3U);
  EXPECT_GE(buckets[0].first, kMax);
}

TEST(LatencyHistogram, RecordN) {
  LatencyHistogram a;
  LatencyHistogram b;
  a.record_n(300, 5);
  for (int i = 0; i < 5; ++i) b.record(300);
  EXPECT_EQ(a.count(), b.count());
  EXPECT_EQ(a.nonempty_buckets(), b.nonempty_buckets());
  EXPECT_EQ(a.mean(), b.mean());

  // n = 0 records nothing: min and max stay untouched.
  a.record_n(1, 0);
  a.record_n(kMax + 1, 0);
  EXPECT_EQ(a.count(), 5U);
  EXPECT_EQ(a.min(), 300U);
  EXPECT_EQ(a.max(), 300U);
  EXPECT_EQ(a.clamped(), 0U);

  a.record_n(kMax + 1, 4);
  EXPECT_EQ(a.clamped(), 4U);
}

TEST(LatencyHistogram, MeanFromExactSum) {
  LatencyHistogram h;
  for (std::uint64_t v = 1; v <= 4; ++v) h.record(v);
  EXPECT_DOUBLE_EQ(h.mean(), 2.5);
  // The mean uses the recorded values, not bucket tops.
  LatencyHistogram g;
  g.record(1'000'001);
  g.record(1'000'003);
  EXPECT_DOUBLE_EQ(g.mean(), 1'000'002.0);
  // 2^40 samples of 10 s sum to ~1.1e22, past 2^64: the sum must not wrap.
  LatencyHistogram big;
  big.record_n(kMax, std::uint64_t{1} << 40);
  EXPECT_DOUBLE_EQ(big.mean(), static_cast<double>(kMax));
}

TEST(LatencyHistogram, MergeEqualsRecordingAllInOne) {
  LatencyHistogram a;
  LatencyHistogram b;
  LatencyHistogram all;
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> exponent(1.0, 10.5);  // 10 ns .. 31 s: some clamp
  for (int i = 0; i < 20'000; ++i) {
    const auto v = static_cast<std::uint64_t>(std::pow(10.0, exponent(rng)));
    (i % 3 == 0 ? a : b).record(v);
    all.record(v);
  }
  a.record(3);  // the overall min on a's side only: b.merge(a) must take it
  all.record(3);
  ASSERT_LT(a.min(), b.min());
  ASSERT_GT(all.clamped(), 0U);

  LatencyHistogram merged = a;
  merged.merge(b);
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_EQ(merged.clamped(), all.clamped());
  EXPECT_EQ(merged.mean(), all.mean());
  EXPECT_EQ(merged.nonempty_buckets(), all.nonempty_buckets());
  for (const double p : kPs) EXPECT_EQ(merged.percentile(p), all.percentile(p)) << "p" << p;

  // The other order gives the same.
  LatencyHistogram other = b;
  other.merge(a);
  EXPECT_EQ(other.min(), all.min());
  EXPECT_EQ(other.nonempty_buckets(), all.nonempty_buckets());
}

TEST(LatencyHistogram, MergeWithEmpty) {
  LatencyHistogram a;
  a.record(500);
  a.record(700);
  const LatencyHistogram empty;

  LatencyHistogram into_a = a;
  into_a.merge(empty);
  EXPECT_EQ(into_a.count(), 2U);
  EXPECT_EQ(into_a.min(), 500U);
  EXPECT_EQ(into_a.max(), 700U);

  LatencyHistogram into_empty;
  into_empty.merge(a);
  EXPECT_EQ(into_empty.count(), 2U);
  EXPECT_EQ(into_empty.min(), 500U);  // not the empty side's 0
  EXPECT_EQ(into_empty.max(), 700U);
  EXPECT_EQ(into_empty.nonempty_buckets(), a.nonempty_buckets());

  LatencyHistogram both_empty;
  both_empty.merge(empty);
  EXPECT_EQ(both_empty.count(), 0U);
  EXPECT_EQ(both_empty.min(), 0U);
  EXPECT_EQ(both_empty.percentile(50), 0U);
}

}  // namespace
}  // namespace irqd
