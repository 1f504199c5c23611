// SPDX-License-Identifier: GPL-2.0-only
//
// The kernel's cpulist text form ("0-3,8,10-11"), as in
// /sys/devices/system/cpu/online and /proc/irq/N/smp_affinity_list.

#pragma once

#include <string_view>
#include <vector>

#include "base/result.h"

namespace irqd {

// Parses a cpulist into ascending, de-duplicated CPU ids. Accepts single ids
// and inclusive ranges separated by commas; no spaces, no empty items.
Result<std::vector<unsigned>> parse_cpulist(std::string_view text);

}  // namespace irqd
