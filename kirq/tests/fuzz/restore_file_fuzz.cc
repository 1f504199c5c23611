// SPDX-License-Identifier: GPL-2.0-only
//
// libFuzzer harness: the restore file `irqd tune --restore FILE` reads
// (parse_restore_file()), written by `irqd tune --apply` and then left in
// /run/irqd/tune for anyone with write access there to change. Beyond "no
// crash": a file it accepts, written back with format_restore_file(),
// parses to the same entries.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "kirq/tune.h"

namespace {

bool same(const irqd::RestoreFile& a, const irqd::RestoreFile& b) {
  if (a.boot_id != b.boot_id || a.device != b.device || a.pci != b.pci || a.planner != b.planner || a.cpus != b.cpus ||
      a.irqs.size() != b.irqs.size())
    return false;
  for (std::size_t i = 0; i < a.irqs.size(); ++i)
    if (a.irqs[i].irq != b.irqs[i].irq || a.irqs[i].name != b.irqs[i].name || a.irqs[i].affinity != b.irqs[i].affinity)
      return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto file = irqd::parse_restore_file(text, "fuzz.json");
  if (!file) return 0;
  auto again = irqd::parse_restore_file(irqd::format_restore_file(*file), "fuzz.json");
  if (!again || !same(*file, *again)) std::abort();
  return 0;
}
