// SPDX-License-Identifier: GPL-2.0-only

#include "host/live_latency.h"

#include <cstddef>

namespace irqd {

void LiveLatency::record(std::uint64_t ns) {
  std::size_t i = 0;
  while (i < kBoundsNs.size() && ns > kBoundsNs[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(ns, std::memory_order_relaxed);
  // A load first: once the maximum has settled, a record writes nothing
  // more to this line than the count and the sum.
  std::uint64_t seen = max_ns_.load(std::memory_order_relaxed);
  while (ns > seen && !max_ns_.compare_exchange_weak(seen, ns, std::memory_order_relaxed)) {
  }
}

std::uint64_t LiveLatency::count() const {
  std::uint64_t n = 0;
  for (const auto& c : counts_) n += c.load(std::memory_order_relaxed);
  return n;
}

std::array<std::uint64_t, LiveLatency::kBoundsNs.size() + 1> LiveLatency::counts() const {
  std::array<std::uint64_t, kBoundsNs.size() + 1> out{};
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = counts_[i].load(std::memory_order_relaxed);
  return out;
}

}  // namespace irqd
