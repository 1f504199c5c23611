// SPDX-License-Identifier: GPL-2.0-only
//
// A NIC's interrupts as queues: which receive, transmit or combined queue
// an interrupt serves, read from the names the common drivers give them,
// and the transmit steering (XPS) of a queue, the hex masks of
// /sys/class/net/IFACE/queues/tx-N/xps_cpus.
//
// The names, as the drivers print them:
//   virtio_net   virtio2-input.0, virtio2-output.0 (virtio2-config: none)
//   mlx5         mlx5_comp3@pci:0000:3b:00.0 (combined; mlx5_async0: none)
//   ena          ena-comp-3@pci:0000:00:05.0 (combined; ena-mgmnt: none)
//   ice, i40e    ice-eth0-TxRx-3, i40e-eth0-TxRx-3
//   ixgbe, igb,  eth0-TxRx-3, eth0-rx-3, eth0-tx-3 (the bare eth0: none)
//   bnxt, and the generic <iface>-<kind>-<N> rule
// nvme0q1, virtio1-req.0 and every name not listed are not NIC queues.

#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kirq/kernel_irqs.h"

namespace irqd::kirq {

enum class QueueKind { kNone, kRx, kTx, kCombined };

struct NicQueue {
  int index = -1;  // -1 with kNone
  QueueKind kind = QueueKind::kNone;

  bool is_queue() const { return kind != QueueKind::kNone; }
  // Transmits: its queue's tx-N has an xps_cpus.
  bool transmits() const { return kind == QueueKind::kTx || kind == QueueKind::kCombined; }
};

// "rx", "tx", "rxtx"; "" for kNone.
std::string_view queue_kind_name(QueueKind kind);

// The NIC queue an interrupt of this name serves.
NicQueue nic_queue_of(std::string_view name);

// The network interfaces of a PCI function (those whose class/net entry
// resolves below the function, virtio's included), sorted.
std::vector<std::string> net_interfaces_of(const KernelRoots& roots, const std::string& bdf);

// sysfs/class/net/IFACE/queues/tx-N/xps_cpus
std::string xps_path(const KernelRoots& roots, const std::string& iface, int queue);

// The CPUs of a hex mask as the kernel prints one (%*pb: "03",
// "00000000,000000ff"), nullopt when it is not one.
std::optional<std::vector<unsigned>> parse_hex_cpumask(std::string_view text);
// The hex form the kernel's bitmap_parse() reads: 32-bit groups separated
// by commas, the first without leading zeros ("0" for no CPU).
std::string format_hex_cpumask(const std::vector<unsigned>& cpus);

}  // namespace irqd::kirq
