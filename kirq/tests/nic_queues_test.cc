// SPDX-License-Identifier: GPL-2.0-only
//
// NIC queues from interrupt names (the drivers' own formats), the hex masks
// of xps_cpus and affinity_hint, and a PCI function's interfaces.

#include "kirq/nic_queues.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kirq/tests/kernel_tree.h"

namespace irqd::kirq {
namespace {

using test::KernelTree;

struct NameCase {
  const char* name;
  int index;
  QueueKind kind;
};

TEST(NicQueue, TheDriversNamesGiveQueueAndKind) {
  const std::vector<NameCase> cases = {
      // virtio_net: vring names input.N / output.N after the device.
      {"virtio2-input.0", 0, QueueKind::kRx},
      {"virtio3-output.3", 3, QueueKind::kTx},
      {"virtio2-config", -1, QueueKind::kNone},
      {"virtio2-control", -1, QueueKind::kNone},
      {"virtio1-req.0", -1, QueueKind::kNone},  // virtio-blk
      // mlx5 and ena: combined, with "@pci:<bdf>".
      {"mlx5_comp7@pci:0000:3b:00.0", 7, QueueKind::kCombined},
      {"mlx5_async0@pci:0000:3b:00.0", -1, QueueKind::kNone},
      {"ena-comp-2@pci:0000:00:05.0", 2, QueueKind::kCombined},
      {"ena-mgmnt@pci:0000:00:05.0", -1, QueueKind::kNone},
      // ice/i40e: driver-iface-kind-N; ixgbe, igb, bnxt: iface-kind-N.
      {"ice-eth0-TxRx-11", 11, QueueKind::kCombined},
      {"i40e-ens1f0-TxRx-0", 0, QueueKind::kCombined},
      {"eth2-rx-3", 3, QueueKind::kRx},
      {"eth2-tx-0", 0, QueueKind::kTx},
      {"enp1s0-TxRx-5", 5, QueueKind::kCombined},
      {"eth0-combined-1", 1, QueueKind::kCombined},
      {"qede0-fp-4", 4, QueueKind::kCombined},
      // The bare interface (igb's "other" vector), control vectors, storage.
      {"eth2", -1, QueueKind::kNone},
      {"i40e-0000:3b:00.0:misc", -1, QueueKind::kNone},
      {"nvme0q1", -1, QueueKind::kNone},
      {"eth0-event-1", -1, QueueKind::kNone},
      {"-rx-1", -1, QueueKind::kNone},
      {"eth0-rx-", -1, QueueKind::kNone},
      {"eth0-rx-99999999", -1, QueueKind::kNone},
  };
  for (const NameCase& c : cases) {
    const NicQueue q = nic_queue_of(c.name);
    EXPECT_EQ(q.index, c.index) << c.name;
    EXPECT_EQ(q.kind, c.kind) << c.name;
  }
  EXPECT_TRUE(nic_queue_of("eth2-tx-1").transmits());
  EXPECT_TRUE(nic_queue_of("mlx5_comp1").transmits());
  EXPECT_FALSE(nic_queue_of("eth2-rx-1").transmits());
}

TEST(HexCpumask, TheKernelsFormsBothWays) {
  EXPECT_EQ(parse_hex_cpumask("03\n"), (std::vector<unsigned>{0, 1}));
  EXPECT_EQ(parse_hex_cpumask("ff"), (std::vector<unsigned>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(parse_hex_cpumask("00"), (std::vector<unsigned>{}));
  EXPECT_EQ(parse_hex_cpumask("00000001,00000000"), (std::vector<unsigned>{32}));
  EXPECT_EQ(parse_hex_cpumask("1,80000000"), (std::vector<unsigned>{31, 32}));
  EXPECT_EQ(parse_hex_cpumask("A"), (std::vector<unsigned>{1, 3}));
  for (const char* bad : {"", "\n", "0-3", "x1", ",1", "1,", "123456789,00000000", "1,,0"})
    EXPECT_FALSE(parse_hex_cpumask(bad)) << bad;
  EXPECT_EQ(format_hex_cpumask({}), "0");
  EXPECT_EQ(format_hex_cpumask({0, 1}), "3");
  EXPECT_EQ(format_hex_cpumask({3}), "8");
  EXPECT_EQ(format_hex_cpumask({32}), "1,00000000");
  EXPECT_EQ(format_hex_cpumask({0, 63, 64}), "1,80000000,00000001");
  for (const std::vector<unsigned>& cpus : std::vector<std::vector<unsigned>>{{}, {5}, {0, 31, 32, 95}})
    EXPECT_EQ(parse_hex_cpumask(format_hex_cpumask(cpus)), cpus);
}

TEST(NetInterfaces, ThroughVirtioToThePciFunction) {
  KernelTree t("vm-virtio");
  const KernelRoots roots{t.proc(), t.sys()};
  EXPECT_EQ(net_interfaces_of(roots, "0000:00:03.0"), (std::vector<std::string>{"eth0"}));
  EXPECT_EQ(net_interfaces_of(roots, "0000:00:02.0"), (std::vector<std::string>{}));  // virtio-blk
  EXPECT_EQ(net_interfaces_of(roots, "0000:99:00.0"), (std::vector<std::string>{}));
  EXPECT_EQ(xps_path(roots, "eth0", 3), t.sys() + "/class/net/eth0/queues/tx-3/xps_cpus");
}

}  // namespace
}  // namespace irqd::kirq
