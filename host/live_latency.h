// SPDX-License-Identifier: GPL-2.0-only
//
// Live trigger-to-handler latency of a hosted device: fixed buckets
// updated with relaxed atomics from the threads that run handlers, read at
// any time by the control thread, the control socket and the metrics
// endpoint. The bucket bounds live here, with the only thing that records
// into them; daemon/metrics.h exposes them as a Prometheus histogram.

#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace irqd {

// Upper bounds (`le`) of irqd_dispatch_latency_seconds, in nanoseconds:
// 1 us .. 1 s in 1-2.5-5 steps, then +Inf. The cross-CPU wake of a busy
// machine is tens of microseconds, a paced busy-poll about one.
inline constexpr std::array<std::uint64_t, 19> kLatencyBoundsNs = {
    1'000,      2'500,       5'000,       10'000,      25'000,       50'000,     100'000,
    250'000,    500'000,     1'000'000,   2'500'000,   5'000'000,    10'000'000, 25'000'000,
    50'000'000, 100'000'000, 250'000'000, 500'000'000, 1'000'000'000};

// Trigger-to-handler latency as it accrues, readable while the device
// runs: counts per Prometheus-style upper bound (kBoundsNs, then +Inf).
class LiveLatency {
 public:
  // The bounds the metrics endpoint exposes, so a scrape needs no rebucketing.
  static constexpr std::array<std::uint64_t, kLatencyBoundsNs.size()> kBoundsNs = kLatencyBoundsNs;
  void record(std::uint64_t ns);
  // Non-cumulative count per bound, the last for +Inf.
  std::array<std::uint64_t, kBoundsNs.size() + 1> counts() const;
  std::uint64_t sum_ns() const { return sum_ns_.load(std::memory_order_relaxed); }
  std::uint64_t count() const;  // the buckets' sum
  // The largest latency recorded, exact (the buckets only bound it).
  std::uint64_t max_ns() const { return max_ns_.load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<std::uint64_t>, kBoundsNs.size() + 1> counts_{};
  std::atomic<std::uint64_t> sum_ns_{0};
  std::atomic<std::uint64_t> max_ns_{0};
};

}  // namespace irqd
