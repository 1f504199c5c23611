// SPDX-License-Identifier: GPL-2.0-only
//
// `irqd top`: a live view, like util-linux irqtop, of interrupts per second
// per vector and per CPU, for irqd's own vectors (the `stats` command of the
// control socket, daemon/control_client.h) and the kernel's
// (/proc/interrupts, kirq/interrupt_rates.h). Two samples an interval apart
// give the rates (kirq/interrupt_rates.h); this front-end takes the
// samples, turns irqd's stats into one, and formats the table.

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
#include "kirq/interrupt_rates.h"
#include "kirq/kernel_irqs.h"

namespace irqd {

inline constexpr std::string_view kTopUsage =
    "irqd top [--socket PATH] [--source irqd|kernel|both] [--sort rate|total|name|cpu] [--interval S] [--batch] "
    "[--iterations N] [--cpu]";

enum class TopSource { kIrqd, kKernel, kBoth };

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
  // Redraw the screen (ANSI home and clear) between tables: only when the
  // output is a terminal (main sets it). Otherwise, --batch or not, plain
  // tables one after the other, a blank line between them.
  bool screen = false;
};

Result<TopOptions> parse_top_options(const TopFlags& flags);

// The footer of `irqd top --help`: the columns and the test hook.
std::string top_help();

// irqd run's `stats` result ({"time_ns":N,"devices":[{"name",...,"vectors":
// [{"index","cpu","ownership","handled"}]}]}) as a sample.
Result<TopSample> top_sample_from_stats(const nlohmann::ordered_json& stats);
// A header line, then aligned columns SOURCE DEVICE VECTOR CPU RATE/S TOTAL
// NAME (rates with one decimal, "-" where there is none); with cpus, a blank
// line and CPU RATE/S TOTAL per CPU.
std::string format_top(const TopView& view, TopSort sort, bool cpus);

// Samples and prints until done; the exit status (0, or 1 when a source
// cannot be read, with one line on err).
int run_top(const TopOptions& options, const kirq::KernelRoots& roots, std::ostream& out, std::ostream& err);

}  // namespace irqd
