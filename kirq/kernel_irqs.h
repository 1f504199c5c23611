// SPDX-License-Identifier: GPL-2.0-only
//
// The kernel's own interrupts as /proc and /sys show them, as plain data:
// /proc/interrupts (names, per-CPU counts), /proc/irq/N/ (smp_affinity_list,
// effective_affinity_list, node, and whether userspace may set the
// affinity at all), /sys/bus/pci/devices/*/msi_irqs (which PCI function
// owns which vector) and the class devices (eth0, vda, nvme0, virtio2) that
// lead to a PCI function. Reading only: writing is kirq/tune.h's business.
//
// Both roots are parameters so that tests run on fake trees built from
// captures of real machines (kirq/tests/data/).

#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace irqd::kirq {

// Where /proc and /sys are; tests point them at fake trees.
struct KernelRoots {
  std::string proc = "/proc";
  std::string sysfs = "/sys";

  // The running kernel's own /proc, not a fake tree.
  bool real_proc() const { return proc == "/proc"; }
};

// One numbered line of /proc/interrupts.
struct InterruptLine {
  unsigned irq = 0;
  std::vector<std::uint64_t> counts;  // one per ProcInterrupts::cpus
  std::string chip;                   // "PCI-MSIX-0000:00:03.0", "IO-APIC"
  std::string hwirq;                  // "1-edge", "27 Level"; "" when the line has none
  std::string name;                   // the action names: "virtio2-input.0", "ehci_hcd:usb1, uhci_hcd:usb2"
};

struct ProcInterrupts {
  std::vector<unsigned> cpus;  // the CPU id of each count column (header CPU3 -> 3)
  std::vector<InterruptLine> lines;
};

// Parses /proc/interrupts. Only numbered lines are kept: the architecture's
// per-CPU lines (NMI, LOC, ...) have no /proc/irq/N and no owner.
Result<ProcInterrupts> parse_proc_interrupts(std::string_view text);

// The queue number in an interrupt's name: the trailing digits after a
// separator, "@..." cut first: virtio2-input.0 -> 0, mlx5_comp3@pci:... -> 3,
// nvme0q1 -> 1, eth0-TxRx-7 -> 7. -1 for a name without one (virtio2-config,
// ACPI:Ged), for a bare device name (eth0, virtio2) and for control vectors
// (mlx5_async0, ...-admin0, ...-event1).
int parse_queue(std::string_view name);

// The MSI/MSI-X table index of a PCI vector from its /proc/interrupts chip
// and hwirq: per-device domains ("PCI-MSIX-0000:00:03.0") number hwirqs by
// index, the older global ones ("PCI-MSI", "IR-PCI-MSI") put the index in the
// low 11 bits. -1 when the chip is not a PCI MSI domain.
int msi_index_of(std::string_view chip, std::string_view hwirq);

// One interrupt with everything known of it.
struct KernelIrq {
  unsigned irq = 0;
  std::string name;
  std::string chip;
  std::string hwirq;
  int msi_index = -1;
  int queue = -1;
  std::vector<std::string> bdfs;  // PCI functions it belongs to (several: shared INTx)
  std::string mode;               // "msix", "msi", "intx" or "" (not a PCI function's)
  std::string affinity;           // smp_affinity_list as the kernel shows it; "" unreadable
  // The driver's affinity_hint as a cpulist; "" when it set none (the
  // kernel shows zeros) or the file is missing.
  std::string hint;
  bool has_effective = false;  // effective_affinity_list exists (CONFIG_GENERIC_IRQ_EFFECTIVE_AFF_MASK)
  std::string effective;       // effective_affinity_list ("" also when no CPU is effective)
  int node = -1;               // /proc/irq/N/node
  // smp_affinity_list has no write permission: the kernel creates it
  // read-only when irq_can_set_affinity_usr() is false, i.e. a managed
  // interrupt (or one whose affinity cannot be set at all). Kernels before
  // that change (2024) show 0644 and refuse the write with EIO instead.
  bool managed = false;
  std::vector<std::uint64_t> counts;  // per IrqTable::cpus

  std::uint64_t total() const;
};

struct IrqTable {
  std::vector<unsigned> cpus;  // the count columns' CPU ids
  std::vector<KernelIrq> irqs;
};

// Every numbered interrupt, or (only_bdf not empty) those of one PCI
// function ordered by MSI index (irq number where an index is unknown).
Result<IrqTable> read_irqs(const KernelRoots& roots, const std::string& only_bdf = "");

// A device as the user named it, resolved to the PCI function whose
// vectors it uses.
struct KernelDevice {
  std::string name;               // as asked: "eth0", "0000:00:03.0"
  std::string bdf;                // the PCI function
  std::vector<std::string> path;  // how it was found: eth0, virtio2, 0000:00:03.0
  std::string driver;             // of the PCI function; "" unbound
  std::string class_code;         // "0x020000"; "" unreadable
  int numa_node = -1;
  std::string local_cpulist;  // the function's local_cpulist; "" when absent
};

// name: a PCI address (DDDD:BB:DD.F, or BB:DD.F in domain 0), a network
// interface (eth0), another class device (vda, nvme0) or a virtio device
// (virtio2); virtio devices lead to their PCI parent. Errors name the
// accepted forms and the interfaces there are.
Result<KernelDevice> find_device(const KernelRoots& roots, const std::string& name);

// Processes whose /proc/PID/comm is comm, by pid.
std::vector<pid_t> find_processes(const std::string& proc_root, std::string_view comm);

// /proc/sys/kernel/random/boot_id, trimmed; "" when unreadable.
std::string read_boot_id(const KernelRoots& roots);

// A whole small file, as read(2) gives it; an error naming the path.
Result<std::string> read_text_file(const std::string& path);
// The file's first line without its newline; "" when unreadable.
std::string read_line(const std::string& path);

// "eth0 -> virtio2 -> 0000:00:03.0 (virtio-pci, class 0x020000, NUMA node
// -1, local CPUs 0-1)".
std::string describe_device(const KernelDevice& dev);

}  // namespace irqd::kirq
