// SPDX-License-Identifier: GPL-2.0-only
//
// `irqd top`: a live view, like util-linux irqtop, of interrupts per second
// per vector and per CPU, for irqd's own vectors (the `stats` command of the
// control socket) and the kernel's (/proc/interrupts, through
// daemon/kernel_irqs.h). Two samples an interval apart give the rates.
//
// The sampling (socket, /proc) sits in run_top; turning two samples into
// rows, sorting and formatting are pure functions over the samples, so that
// tests give exact counts and timestamps and check exact output.

#pragma once

#include <cstdint>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "daemon/control.h"
#include "daemon/kernel_irqs.h"

namespace irqd {

inline constexpr std::string_view kTopUsage =
    "irqd top [--socket PATH] [--source irqd|kernel|both] [--sort rate|total|name|cpu] [--interval S] [--batch] "
    "[--iterations N] [--cpu]";

enum class TopSource { kIrqd, kKernel, kBoth };
enum class TopSort { kRate, kTotal, kName, kCpu };

// As given on the command line; parse_top_options checks them.
struct TopFlags {
  std::string socket{kDefaultControlSocket};
  std::string source = "both";
  std::string sort = "rate";
  std::string interval = "1";
  bool batch = false;
  std::string iterations;  // "" = not given
  bool cpu = false;
};

struct TopOptions {
  std::string socket{kDefaultControlSocket};
  TopSource source = TopSource::kBoth;
  TopSort sort = TopSort::kRate;
  double interval_s = 1.0;  // 0.1..60
  bool batch = false;
  // Tables to print; 0 = until SIGINT or 'q' (interactive without
  // --iterations). --batch without --iterations prints one.
  unsigned iterations = 0;
  bool cpu = false;  // also the per-CPU summary
  int timeout_ms = 5000;
};

Result<TopOptions> parse_top_options(const TopFlags& flags);

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

// irqd run's `stats` result ({"time_ns":N,"devices":[{"name",...,"vectors":
// [{"index","cpu","ownership","handled"}]}]}) as a sample.
Result<TopSample> top_sample_from_stats(const nlohmann::ordered_json& stats);
// A parsed /proc/interrupts as a sample taken at time_ns.
TopSample top_sample_from_proc(const kirq::ProcInterrupts& proc, std::uint64_t time_ns);

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

// A header line, then aligned columns SOURCE DEVICE VECTOR CPU RATE/S TOTAL
// NAME (rates with one decimal, "-" where there is none); with cpus, a blank
// line and CPU RATE/S TOTAL per CPU.
std::string format_top(const TopView& view, TopSort sort, bool cpus);

// Samples and prints until done; the exit status (0, or 1 when a source
// cannot be read, with one line on err).
int run_top(const TopOptions& options, const kirq::KernelRoots& roots, std::ostream& out, std::ostream& err);

}  // namespace irqd
