// SPDX-License-Identifier: GPL-2.0-only

#include "dispatch/load_gauge.h"

#include <gtest/gtest.h>

#include <vector>

namespace irqd {
namespace {

using Verdict = LoadGauge::Verdict;
constexpr Verdict U = Verdict::kUndecided;
constexpr Verdict B = Verdict::kBehind;
constexpr Verdict K = Verdict::kKeepingUp;
constexpr std::uint64_t kT0 = 1'000'000'000;
constexpr std::uint64_t kWindow = LoadGauge::kWindowNs;  // 5 ms
constexpr double kCeiling = 400'000;                     // read SQEs saturated: 2000 per window

// Windows of kWindow each, serving `per_window` interrupts; the verdict
// after each. The first judge() only starts the first window.
std::vector<Verdict> windows(LoadGauge& g, const std::vector<std::uint64_t>& per_window) {
  std::uint64_t now = kT0;
  std::uint64_t served = 0;
  EXPECT_TRUE(g.due(now));
  EXPECT_EQ(g.judge(now, served), U);
  std::vector<Verdict> out;
  for (std::uint64_t n : per_window) {
    EXPECT_FALSE(g.due(now + kWindow - 1));
    now += kWindow;
    EXPECT_TRUE(g.due(now));
    out.push_back(g.judge(now, served += n));
  }
  return out;
}

// 70% of the ceiling is 1400 per window, 50% is 1000.
TEST(LoadGauge, FourWindowsNearTheCeilingInARowAreBehind) {
  LoadGauge g(kCeiling);
  EXPECT_EQ(windows(g, {2000, 1400, 5000, 1400, 2100, 2000, 1900, 1800}),
            (std::vector<Verdict>{U, U, U, B, U, U, U, B}));
}

TEST(LoadGauge, FourWindowsWellBelowItKeepUp) {
  LoadGauge g(kCeiling);
  EXPECT_EQ(windows(g, {999, 0, 500, 10}), (std::vector<Verdict>{U, U, U, K}));
}

// From 50% to 69.9% the gauge says nothing, and such a window starts the
// count again: the method in use stays.
TEST(LoadGauge, BetweenTheLinesNothingIsDecided) {
  LoadGauge g(kCeiling);
  EXPECT_EQ(windows(g, {1000, 1399, 1200, 1000, 2000, 2000, 2000, 1399, 2000, 2000, 2000, 2000}),
            (std::vector<Verdict>{U, U, U, U, U, U, U, U, U, U, U, B}));
}

// A load that alternates decides nothing: each change of verdict starts
// the count again.
TEST(LoadGauge, AnAlternatingLoadNeverSwitches) {
  LoadGauge g(kCeiling);
  EXPECT_EQ(windows(g, {2000, 10, 2000, 10, 2000, 10, 2000, 10}), (std::vector<Verdict>(8, U)));
}

// A window longer than kWindowNs (a reactor asleep for a while) is judged
// by its own length.
TEST(LoadGauge, ALongWindowIsJudgedByItsLength) {
  LoadGauge g(kCeiling);
  std::uint64_t now = kT0;
  EXPECT_EQ(g.judge(now, 0), U);
  for (std::uint64_t served = 2000; served <= 6000; served += 2000) EXPECT_EQ(g.judge(now += kWindow, served), U);
  EXPECT_EQ(g.judge(now += 100 * kWindow, 6000 + 100 * 2000), B) << "100 windows' time at the ceiling";
}

// Without a measured ceiling there is nothing to judge against.
TEST(LoadGauge, NoCeilingNoVerdict) {
  LoadGauge g;
  EXPECT_EQ(windows(g, {0, 0, 0, 0, 5000, 5000, 5000, 5000}), (std::vector<Verdict>(8, U)));
}

}  // namespace
}  // namespace irqd
