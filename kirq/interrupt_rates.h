// SPDX-License-Identifier: GPL-2.0-only
//
// Interrupt counters sampled twice, turned into rates per vector and per
// CPU (the model behind `irqd top`, like util-linux irqtop): samples of the
// kernel's /proc/interrupts and of irqd's own vectors (irqd run's `stats`)
// share one shape, so both sources go through the same arithmetic. Pure
// functions over samples, so tests give exact counts and timestamps.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "kirq/kernel_irqs.h"

namespace irqd {

// The order of the rows: rate and total highest first, name (source,
// device, vector), or CPU (then rate).
enum class TopSort { kRate, kTotal, kName, kCpu };

// One counter as one sample saw it.
struct TopEntry {
  std::string source;   // "irqd" or "kernel"
  std::string device;   // irqd: the device's name; kernel: the chip (IO-APIC, PCI-MSIX-0000:00:03.0)
  unsigned vector = 0;  // irqd: the vector's index; kernel: the irq number
  std::string name;     // irqd: the ownership (managed, explicit); kernel: the action names
  // (cpu, count) pairs: irqd one pair (the serving CPU, -1 when it has
  // none), kernel one per /proc/interrupts column.
  std::vector<std::pair<int, std::uint64_t>> per_cpu;

  std::uint64_t total() const;
};

// Every counter of one source at one time (the daemon's monotonic clock for
// irqd, this process's for the kernel).
struct TopSample {
  std::uint64_t time_ns = 0;
  std::vector<TopEntry> entries;
};

// A parsed /proc/interrupts as a sample taken at time_ns.
TopSample top_sample_from_proc(const kirq::ProcInterrupts& proc, std::uint64_t time_ns);

// /proc/interrupts read now, stamped with monotonic_now_ns().
Result<TopSample> sample_proc_interrupts(const kirq::KernelRoots& roots);
// CLOCK_MONOTONIC in nanoseconds: the clock of this process's samples.
std::uint64_t monotonic_now_ns();

struct TopRow {
  std::string source;
  std::string device;
  unsigned vector = 0;
  std::string name;
  int cpu = -1;                // irqd: the serving CPU; kernel: the CPU that took most in the interval; -1 none
  std::optional<double> rate;  // per second; empty for a counter the first sample did not have
  std::uint64_t total = 0;     // as the second sample saw it
};

struct TopCpu {
  int cpu = 0;
  double rate = 0;
  std::uint64_t total = 0;
};

struct TopView {
  std::vector<TopRow> rows;
  std::vector<TopCpu> cpus;  // by CPU id
  double interval_s = 0;     // between the samples (the longest of the sources)
};

// The rows of one source between two of its samples, added to view. A
// counter that went down was reset (the device was bound again): its rate
// counts from zero. An irqd vector that moved CPU has its interval's
// interrupts on the CPU it serves now.
void add_top_rates(TopView& view, const TopSample& before, const TopSample& after);
void sort_top_rows(std::vector<TopRow>& rows, TopSort sort);

std::string_view top_sort_name(TopSort sort);

}  // namespace irqd
