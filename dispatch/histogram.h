// SPDX-License-Identifier: GPL-2.0-only
//
// LatencyHistogram: a log-linear (HDR-style) histogram of nanosecond values
// from 1 ns to 10 s with at most 1% relative error, fixed size, no
// allocation after construction. One per thread on the hot path; merged
// after the run.
//
// Bucket layout (kSubBits = 8):
//  - 0..255 ns: one bucket per value, exact.
//  - above: each power of two [2^k, 2^(k+1)), k = 8..33, is split into 128
//    equal buckets of width 2^(k-7). A bucket [lo, hi] has lo >= 128 * width,
//    so reporting hi for any v in it overestimates by (hi - v) / v <=
//    (width - 1) / (128 * width) < 1/128 = 0.78125%, and never underestimates.
//  - 10 s = 2^33 * 1.164 lies in bucket 26 * 128 + 149 = 3477,
//    [9999220736, 10066329599], the last one: 3478 buckets (27.2 KiB).

#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace irqd {

class LatencyHistogram {
 public:
  static constexpr std::uint64_t kMaxValue = 10'000'000'000ULL;  // 10 s; larger values clamp here

  // Records one value (ns). Values above kMaxValue are clamped and counted
  // in clamped(); 0 is recorded as 0.
  void record(std::uint64_t ns) { record_n(ns, 1); }
  void record_n(std::uint64_t ns, std::uint64_t n);
  void merge(const LatencyHistogram& other);
  void reset();

  std::uint64_t count() const { return count_; }
  std::uint64_t min() const { return count_ == 0 ? 0 : min_; }
  std::uint64_t max() const { return max_; }  // exact, not bucketed
  std::uint64_t clamped() const { return clamped_; }
  double mean() const;

  // The value at percentile p (0 < p <= 100): the highest value that can
  // be in the bucket holding the ceil(p% * count)-th smallest sample,
  // capped at max(). 0 when empty.
  std::uint64_t percentile(double p) const;

  // Non-empty buckets as (highest value of the bucket, samples), ascending:
  // what a CDF plot needs.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> nonempty_buckets() const;

 private:
  // Values below 2^kSubBits are exact; above, each power of two is split in
  // 2^(kSubBits-1) linear steps: relative step 1/2^(kSubBits-1) = 1/128.
  static constexpr unsigned kSubBits = 8;
  static constexpr unsigned kSubCount = 1U << kSubBits;
  static constexpr unsigned kHalf = kSubCount / 2;
  // index_of(kMaxValue) + 1, spelled out because index_of cannot be called
  // before the class is complete; histogram.cc checks the two agree. No
  // bucket lies past the one holding kMaxValue.
  static constexpr unsigned kMaxShift = std::bit_width(kMaxValue) - kSubBits;
  static constexpr std::size_t kBuckets = (std::size_t{kMaxShift} << (kSubBits - 1)) + (kMaxValue >> kMaxShift) + 1;

  // Inline and branch-free so record() is a handful of instructions: the
  // bit width (one lzcnt/bsr; `| 1` makes it defined for 0), a cmov for the
  // shift, a shift and an add. For v < 2^kSubBits the shift is 0 and the
  // index is v itself; above, shift * kHalf skips the magnitudes below and
  // v >> shift (in [kHalf, kSubCount)) is the linear step inside this one.
  static constexpr std::size_t index_of(std::uint64_t v) {
    const unsigned width = static_cast<unsigned>(std::bit_width(v | 1));
    const unsigned shift = width > kSubBits ? width - kSubBits : 0;
    return (std::size_t{shift} << (kSubBits - 1)) + static_cast<std::size_t>(v >> shift);
  }
  static std::uint64_t highest_in(std::size_t index);

  // Exact running sum: 10 s * 2^64 samples fits in 128 bits, a uint64_t
  // would overflow after 1.8e9 clamped samples, and a floating sum would
  // drift. Adding costs one add/adc pair.
  __extension__ using Sum = unsigned __int128;

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  // UINT64_MAX while empty, so record_n updates it with a plain std::min
  // (a cmov) rather than a branch on count_; min() hides it.
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  std::uint64_t clamped_ = 0;
  Sum sum_ = 0;
};

// Defined here, not in histogram.cc, so that record() inlines into the
// caller's loop instead of costing a call per sample.
inline void LatencyHistogram::record_n(std::uint64_t ns, std::uint64_t n) {
  if (n == 0) return;  // nothing to count; must not move min/max. Folds away for record().
  const bool over = ns > kMaxValue;
  clamped_ += over ? n : 0;
  ns = over ? kMaxValue : ns;
  // The clamp is the bounds check: index_of(kMaxValue) is the last bucket.
  counts_[index_of(ns)] += n;
  count_ += n;
  sum_ += static_cast<Sum>(ns) * n;
  min_ = std::min(min_, ns);
  max_ = std::max(max_, ns);
}

}  // namespace irqd
