// SPDX-License-Identifier: GPL-2.0-only
//
// libFuzzer harness: parse_cpulist(), the parser behind the config file's
// `cpus`, --cpus, --offline-cpus, /proc/irq/N/smp_affinity_list and
// /sys/devices/system/cpu/possible. Beyond "no crash": an accepted list is
// ascending, without duplicates, within the CPU id limit, and reads back
// the same from the kernel's own form (CpuMask::to_list()).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "affinity/cpulist.h"
#include "affinity/cpumask.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto cpus = irqd::parse_cpulist(text);
  if (!cpus) return 0;
  if (cpus->empty()) std::abort();  // an accepted list names a CPU
  for (std::size_t i = 1; i < cpus->size(); ++i)
    if ((*cpus)[i - 1] >= (*cpus)[i]) std::abort();
  const std::string list = irqd::cpumask_of(cpus->back() + 1, *cpus).to_list();
  auto again = irqd::parse_cpulist(list);
  if (!again || *again != *cpus) std::abort();
  return 0;
}
