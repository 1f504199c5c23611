// SPDX-License-Identifier: GPL-2.0-only

#include "dispatch/histogram.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace irqd {

std::uint64_t LatencyHistogram::highest_in(std::size_t index) {
  // Here, in a member body, the class is complete and index_of is usable in
  // a constant expression: pin the layout the header spells out by hand.
  static_assert(index_of(kMaxValue) == kBuckets - 1, "kBuckets must end at the bucket holding kMaxValue");
  static_assert(index_of(kSubCount - 1) == kSubCount - 1 && index_of(kSubCount) == kSubCount,
                "the exact range must continue straight into the first log-linear bucket");

  if (index < kSubCount) return index;  // exact range: one value per bucket
  // Inverse of index_of: index = shift * kHalf + (v >> shift) with
  // v >> shift in [kHalf, kSubCount).
  const auto shift = static_cast<unsigned>(index / kHalf - 1);
  const std::uint64_t step = index % kHalf + kHalf;
  return ((step + 1) << shift) - 1;
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  clamped_ += other.clamped_;
  // An empty side holds min_ = UINT64_MAX and max_ = 0, so plain min/max
  // leave the other side's values alone.
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void LatencyHistogram::reset() { *this = LatencyHistogram{}; }

double LatencyHistogram::mean() const {
  if (count_ == 0) return 0;
  return static_cast<double>(static_cast<long double>(sum_) / static_cast<long double>(count_));
}

std::uint64_t LatencyHistogram::percentile(double p) const {
  if (count_ == 0) return 0;

  // rank = ceil(p% * count), in [1, count]. p is a double and 99.9 is not
  // exactly representable, so p / 100 * count can land a few ulps above an
  // integer (999.0000000000001 for 99.9% of 1000) and ceil would step a
  // whole sample too far; shaving 1e-12 relative (~4500 ulps) absorbs that.
  // The cost is that a true rank within 1e-12 relative above an integer
  // rounds down to it, which only matters past 10^12 samples. p <= 0 (and
  // NaN) means rank 1, p >= 100 the last sample.
  const auto count = static_cast<double>(count_);
  double x = p / 100.0 * count;
  x -= x * 1e-12;
  std::uint64_t rank = 1;
  if (x >= count) {
    rank = count_;
  } else if (x > 1) {
    rank = std::min(count_, static_cast<std::uint64_t>(std::ceil(x)));
  }

  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(highest_in(i), max_);
  }
  return max_;  // unreachable: the buckets sum to count_ >= rank
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> LatencyHistogram::nonempty_buckets() const {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    if (counts_[i] != 0) out.emplace_back(highest_in(i), counts_[i]);
  }
  return out;
}

}  // namespace irqd
