// SPDX-License-Identifier: GPL-2.0-only
//
// libFuzzer harness: /proc/interrupts as parse_proc_interrupts() reads it,
// and the names, chips and hwirqs of its lines as read_irqs() hands them to
// parse_queue() and msi_index_of(). Beyond "no crash": every line has one
// count per CPU column of the header, a queue number is -1 or a number the
// name ends with, and an MSI index is -1 or within what the kernel can
// number (at most 2048 MSI-X entries in the global domain's low 11 bits,
// the hwirq itself in a per-device domain). The parsed file is then taken
// as `irqd top` takes two samples of it, with every sort.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "kirq/interrupt_rates.h"
#include "kirq/kernel_irqs.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = irqd::kirq::parse_proc_interrupts(text);
  if (!parsed) return 0;
  for (const irqd::kirq::InterruptLine& line : parsed->lines) {
    if (line.counts.size() != parsed->cpus.size()) std::abort();
    const int queue = irqd::kirq::parse_queue(line.name);
    if (queue < -1) std::abort();
    if (queue >= 0) {
      const std::string digits = std::to_string(queue);
      if (line.name.find(digits) == std::string::npos) std::abort();
    }
    if (irqd::kirq::msi_index_of(line.chip, line.hwirq) < -1) std::abort();
  }
  const irqd::TopSample before = irqd::top_sample_from_proc(*parsed, 0);
  const irqd::TopSample after = irqd::top_sample_from_proc(*parsed, 1'000'000'000);
  irqd::TopView view;
  irqd::add_top_rates(view, irqd::TopSample{}, before);
  irqd::add_top_rates(view, before, after);
  for (irqd::TopSort sort : {irqd::TopSort::kRate, irqd::TopSort::kTotal, irqd::TopSort::kName, irqd::TopSort::kCpu})
    irqd::sort_top_rows(view.rows, sort);
  return 0;
}
