// SPDX-License-Identifier: GPL-2.0-only
//
// Whether read SQEs keep up with a reactor's load, from the rate it
// serves against the rate read SQEs reached saturated when the engine
// measured them (its calibration). Near that ceiling the method measured
// faster saturated takes over; well below it read SQEs cost less (the
// count comes with the completion: no read() per interrupt).
//
// Simpler signals fail on the machines measured: the completions per
// wait grow with the reactor's batched waits at any load; the interrupts
// per read are ~1.0 paced and only ~1.15 saturated; and the CPU time of
// the reactor and its worker was higher paced at 100k/s with the queue
// hand-off (98%) than saturated (70-90%), where the firer, not the
// reactor, is the other half of the bottleneck.

#pragma once

#include <cstdint>

namespace irqd {

class LoadGauge {
 public:
  enum class Verdict { kUndecided, kBehind, kKeepingUp };

  // A window's rate: at or above kBehindPercent of the read SQEs' ceiling
  // they are about to fall behind, below kKeepingUpPercent they keep up,
  // in between the verdict stays open (hysteresis: a load near one line
  // does not flap).
  static constexpr std::uint64_t kWindowNs = 5'000'000;
  static constexpr std::uint64_t kBehindPercent = 70;
  static constexpr std::uint64_t kKeepingUpPercent = 50;
  // A verdict only after this many windows in a row agree (20 ms), so that
  // a switch (a cancel and a re-arm per vector) stays a small part of the
  // time between two.
  static constexpr unsigned kWindowsToSwitch = 4;

  // read_ceiling_per_s: what read SQEs served saturated; 0 (not measured):
  // no verdict ever.
  explicit LoadGauge(double read_ceiling_per_s = 0) : ceiling_per_s_(read_ceiling_per_s) {}

  // Whether a window has passed since the last judge(): cheap, for every
  // loop of the reactor.
  bool due(std::uint64_t now_ns) const { return now_ns - start_ns_ >= kWindowNs; }

  // At the end of a window: interrupts is a running total of what the
  // reactor served. The first call only starts the first window. Returns
  // kBehind or kKeepingUp when kWindowsToSwitch windows in a row said so,
  // else kUndecided; a window in between starts the count again.
  Verdict judge(std::uint64_t now_ns, std::uint64_t interrupts) {
    const bool first = start_ns_ == 0;
    const double seconds = static_cast<double>(now_ns - start_ns_) / 1e9;
    const double rate = static_cast<double>(interrupts - interrupts_) / seconds;
    start_ns_ = now_ns;
    interrupts_ = interrupts;
    if (first || seconds <= 0 || ceiling_per_s_ <= 0) return Verdict::kUndecided;
    Verdict window = Verdict::kUndecided;
    if (rate * 100 >= ceiling_per_s_ * kBehindPercent) window = Verdict::kBehind;
    if (rate * 100 < ceiling_per_s_ * kKeepingUpPercent) window = Verdict::kKeepingUp;
    if (window == Verdict::kUndecided || window != last_) run_ = 0;
    last_ = window;
    if (window == Verdict::kUndecided || ++run_ < kWindowsToSwitch) return Verdict::kUndecided;
    run_ = 0;
    return window;
  }

 private:
  double ceiling_per_s_;
  std::uint64_t start_ns_ = 0;
  std::uint64_t interrupts_ = 0;
  Verdict last_ = Verdict::kUndecided;
  unsigned run_ = 0;  // windows in a row that said last_
};

}  // namespace irqd
