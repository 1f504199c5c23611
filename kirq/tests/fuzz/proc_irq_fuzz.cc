// SPDX-License-Identifier: GPL-2.0-only
//
// libFuzzer harness: the kernel's interrupt files as `irqd irqs` and `irqd
// tune` read them. Each input is a small fake /proc and /sys tree
// (device/tests/fuzz/fake_tree.h: "@@ PATH" sections): /proc/interrupts,
// /proc/irq/N/{smp_affinity_list,effective_affinity_list,node} (read-only
// smp_affinity_list = managed), the PCI functions' msi_irqs/, irq, class,
// numa_node, local_cpulist and driver link; "@@ arg" names the device
// (default 0000:00:03.0). What `irqd tune --device` does with it, short of
// writing: find_device(), read_irqs() of the device and of every
// interrupt, choose_tune_cpus(), make_tune_plan() on an 8-CPU two-node
// machine, its text, and --restore of the restore file it would write,
// against a writer that writes nothing.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "affinity/topology.h"
#include "device/tests/fuzz/fake_tree.h"
#include "kirq/kernel_irqs.h"
#include "kirq/tune.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static irqd::fuzz::FakeTree tree({"proc", "sys"});
  static const irqd::Topology topo = irqd::Topology::load("synthetic:pack:2 [numa] core:4 pu:1").value();
  tree.build(std::string_view(reinterpret_cast<const char*>(data), size));
  const irqd::kirq::KernelRoots roots{tree.path("proc"), tree.path("sys")};

  auto all = irqd::kirq::read_irqs(roots);
  if (all) {
    for (const irqd::kirq::KernelIrq& k : all->irqs)
      if (k.counts.size() != all->cpus.size()) std::abort();
  }
  auto device = irqd::kirq::find_device(roots, tree.arg().empty() ? "0000:00:03.0" : tree.arg());
  if (!device) return 0;
  (void)irqd::kirq::describe_device(*device);
  auto table = irqd::kirq::read_irqs(roots, device->bdf);
  if (!table) return 0;
  auto choice = irqd::choose_tune_cpus(topo, *device, std::nullopt, "");
  if (!choice) return 0;
  for (irqd::PlannerKind planner : {irqd::PlannerKind::kKernel, irqd::PlannerKind::kCompact}) {
    auto plan = irqd::make_tune_plan(topo, choice->cpus, choice->reason, *device, table->irqs, planner,
                                     irqd::default_kernel_version());
    if (!plan) continue;
    if (plan->rows.size() != table->irqs.size()) std::abort();
    (void)irqd::format_tune_plan(*plan);
    const irqd::RestoreFile restore = irqd::restore_file_for(*plan, irqd::kirq::read_boot_id(roots));
    auto parsed = irqd::parse_restore_file(irqd::format_restore_file(restore), "fuzz.json");
    if (!parsed) continue;  // a mask the kernel shows that is no cpulist is refused
    auto nothing = [](const std::string&, const std::string&) { return 0; };
    (void)irqd::format_outcomes(irqd::apply_tune_plan(*plan, roots, nothing));
    (void)irqd::format_outcomes(irqd::restore_masks(*parsed, roots, nothing));
  }
  return 0;
}
