// SPDX-License-Identifier: GPL-2.0-only
//
// `irqd irqs [--device NAME] [--json]`: the kernel's interrupts of one
// device (a network interface, another class device, a virtio device or a
// PCI address), or all of them: irq number, MSI-X index, name, queue,
// smp_affinity_list, effective_affinity_list, node, managed or not, and the
// per-CPU counts of /proc/interrupts (kirq/kernel_irqs.h reads them).

#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "kirq/kernel_irqs.h"

namespace irqd {

// Tests point irqd at fake trees with these (and IRQD_SYSFS_ROOT, as irqd
// devices does); --help says so.
inline constexpr const char* kProcRootEnv = "IRQD_PROC_ROOT";

// /proc and /sys, or what IRQD_PROC_ROOT / IRQD_SYSFS_ROOT say (when set and
// not empty).
kirq::KernelRoots kernel_roots_from_env();

inline constexpr std::string_view kIrqsUsage = "irqd irqs [--device NAME|all] [--json]";

struct IrqsFlags {
  std::string device = "all";
  bool json = false;
};

// What `irqd irqs` shows: one device's interrupts, or every one.
struct IrqsView {
  std::optional<kirq::KernelDevice> device;  // empty: all
  kirq::IrqTable table;
};

Result<IrqsView> load_irqs(const kirq::KernelRoots& roots, const std::string& device);

// Nonzero per-CPU counts as "cpu:count" pairs, "-" when all are zero.
std::string format_counts(const kirq::IrqTable& table, const kirq::KernelIrq& irq);

// A line naming the device, then aligned columns: IRQ, VEC (MSI index),
// NAME, QUEUE, AFFINITY, EFFECTIVE, NODE, MANAGED, TOTAL, PER-CPU (nonzero
// only); for all interrupts a DEVICE column instead of VEC.
std::string format_irqs_table(const IrqsView& view);
// {"device":{"name","pci","path":[...],"driver","class","numa_node",
// "local_cpulist"}|null,"cpus":[..],"irqs":[{"irq","name","chip","hwirq",
// "msi_index"|null,"queue"|null,"pci":[..],"mode"|null,"smp_affinity_list",
// "effective_affinity_list"|null,"node","managed","counts":[.. per "cpus"],
// "total"}]}
std::string format_irqs_json(const IrqsView& view);

int run_irqs(const IrqsFlags& flags, const kirq::KernelRoots& roots, std::ostream& out, std::ostream& err);

// The --help footer of irqs and tune.
std::string kernel_irqs_help();

}  // namespace irqd
