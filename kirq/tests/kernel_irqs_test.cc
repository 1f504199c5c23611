// SPDX-License-Identifier: GPL-2.0-only
//
// kirq/kernel_irqs.h and kirq/tune.h (the library behind irqd tune),
// in-process, on fake trees copied from captures (kirq/tests/data):
// vm-virtio is this development VM as captured (2 CPUs, virtio-pci devices,
// virtio-blk's request queue managed), mq-nic a hand-made 8-CPU two-node
// machine with an mlx5-style NIC (1 async + 8 completion vectors, unmanaged)
// and an NVMe (admin + 8 managed I/O queues). The writer is injected where a
// test plays the kernel's refusal (EIO) or another answer.

#include "kirq/kernel_irqs.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "affinity/topology.h"
#include "device/pci_sysfs.h"
#include "kirq/tests/kernel_tree.h"
#include "kirq/tune.h"

namespace irqd {
namespace {

using test::KernelTree;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The mq-nic machine: CPUs 0-3 on node 0, 4-7 on node 1.
constexpr const char* kMqTopology = "synthetic:pack:2 [numa] core:4 pu:1";

kirq::KernelRoots roots_of(const KernelTree& t) { return kirq::KernelRoots{t.proc(), t.sys()}; }

std::vector<unsigned> irq_numbers(const std::vector<kirq::KernelIrq>& irqs) {
  std::vector<unsigned> out;
  out.reserve(irqs.size());
  for (const kirq::KernelIrq& k : irqs) out.push_back(k.irq);
  return out;
}

// ---------------------------------------------------------------- parsing

TEST(ParseProcInterrupts, ThisVmsLines) {
  const std::string text =
      "           CPU0       CPU1       \n"
      " 24:          1          0  IO-APIC   5-edge      ACPI:Ged\n"
      " 36:          0     164919 PCI-MSIX-0000:00:02.0   1-edge      virtio1-req.0\n"
      "NMI:          0          0   Non-maskable interrupts\n"
      "ERR:          0\n";
  auto parsed = kirq::parse_proc_interrupts(text);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_THAT(parsed->cpus, ElementsAre(0U, 1U));
  ASSERT_EQ(parsed->lines.size(), 2U);
  const kirq::InterruptLine& a = parsed->lines[0];
  EXPECT_EQ(a.irq, 24U);
  EXPECT_THAT(a.counts, ElementsAre(1U, 0U));
  EXPECT_EQ(a.chip, "IO-APIC");
  EXPECT_EQ(a.hwirq, "5-edge");
  EXPECT_EQ(a.name, "ACPI:Ged");
  const kirq::InterruptLine& b = parsed->lines[1];
  EXPECT_EQ(b.irq, 36U);
  EXPECT_THAT(b.counts, ElementsAre(0U, 164919U));
  EXPECT_EQ(b.chip, "PCI-MSIX-0000:00:02.0");
  EXPECT_EQ(b.hwirq, "1-edge");
  EXPECT_EQ(b.name, "virtio1-req.0");
}

TEST(ParseProcInterrupts, SparseCpusSharedLinesAndArmTriggers) {
  // CPU1 offline: the columns name the CPUs that are there.
  const std::string text =
      "       CPU0       CPU2       CPU3\n"
      " 11:    7   8   9   GICv3  27 Level     arch_timer\n"
      " 16:    0   1250   0  IR-IO-APIC   16-fasteoi   ehci_hcd:usb1, i801_smbus\n"
      " 17:    5   GICv3  30 Edge\n";
  auto parsed = kirq::parse_proc_interrupts(text);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_THAT(parsed->cpus, ElementsAre(0U, 2U, 3U));
  ASSERT_EQ(parsed->lines.size(), 3U);
  EXPECT_EQ(parsed->lines[0].hwirq, "27 Level");
  EXPECT_EQ(parsed->lines[0].name, "arch_timer");
  EXPECT_EQ(parsed->lines[1].name, "ehci_hcd:usb1, i801_smbus");
  EXPECT_EQ(parsed->lines[1].hwirq, "16-fasteoi");
  // A line cut short reads as zeros for the missing CPUs; no action, no name.
  EXPECT_THAT(parsed->lines[2].counts, ElementsAre(5U, 0U, 0U));
  EXPECT_EQ(parsed->lines[2].chip, "GICv3");
  EXPECT_EQ(parsed->lines[2].hwirq, "30 Edge");
  EXPECT_EQ(parsed->lines[2].name, "");
}

TEST(ParseProcInterrupts, BadInputNamesIt) {
  auto empty = kirq::parse_proc_interrupts("\n\n");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().message, "/proc/interrupts is empty");
  auto header = kirq::parse_proc_interrupts("  CPU0 CPUx\n 1: 0 0 X 1-edge a\n");
  ASSERT_FALSE(header);
  EXPECT_EQ(header.error().message, "malformed /proc/interrupts header 'CPU0 CPUx' (expected CPU0 CPU1 ...)");
  auto big = kirq::parse_proc_interrupts(" CPU0\n 99999999999: 0 X 1-edge a\n");
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().message,
            "malformed /proc/interrupts line '99999999999: 0 X 1-edge a': irq number out of range");
}

TEST(ParseQueue, QueueNumbersOfRealDriverNames) {
  const std::map<std::string, int> cases = {
      {"virtio2-input.0", 0},
      {"virtio2-output.3", 3},
      {"virtio1-req.0", 0},
      {"virtio2-config", -1},
      {"virtio3-rx", -1},
      {"virtio0-reporting_vq", -1},
      {"mlx5_comp3@pci:0000:3b:00.0", 3},
      {"mlx5_async0@pci:0000:3b:00.0", -1},
      {"nvme0q0", 0},
      {"nvme1q12", 12},
      {"eth0-TxRx-7", 7},
      {"i40e-eth0-TxRx-5", 5},
      {"ice-ens1f0-TxRx-10", 10},
      {"eth0-rx-2", 2},
      {"ixgbe-lsc", -1},
      {"eth0", -1},
      {"ens1f0", -1},
      {"virtio2", -1},
      {"ehci_hcd:usb1, i801_smbus", -1},
      {"ACPI:Ged", -1},
      {"timer", -1},
      {"", -1},
      {"7", -1},
      {"hisi_sas-event1", -1},
      {"qedf-admin0", -1},
  };
  for (const auto& [name, queue] : cases) EXPECT_EQ(kirq::parse_queue(name), queue) << name;
}

TEST(MsiIndex, PerDeviceAndGlobalDomains) {
  EXPECT_EQ(kirq::msi_index_of("PCI-MSIX-0000:00:03.0", "2-edge"), 2);
  EXPECT_EQ(kirq::msi_index_of("IR-PCI-MSIX-0000:3b:00.0", "8-edge"), 8);
  EXPECT_EQ(kirq::msi_index_of("PCI-MSI-0000:00:1f.2", "0-edge"), 0);
  // The global domain: (pci_dev_id << 11) | index.
  EXPECT_EQ(kirq::msi_index_of("PCI-MSI", "524288-edge"), 0);
  EXPECT_EQ(kirq::msi_index_of("IR-PCI-MSI", "1048581-edge"), 5);
  EXPECT_EQ(kirq::msi_index_of("IO-APIC", "5-edge"), -1);
  EXPECT_EQ(kirq::msi_index_of("ITS-MSI", "524288 Edge"), -1);
  EXPECT_EQ(kirq::msi_index_of("PCI-MSIXY", "1-edge"), -1);
  EXPECT_EQ(kirq::msi_index_of("PCI-MSIX-0000:00:03.0", ""), -1);
}

// Found by the property check of kirq/tests/fuzz/proc_interrupts_fuzz (an
// index is -1 or one the kernel can give): a per-device hwirq past int's
// range was cast to a negative index ("3000000000-edge" -> -1294967296),
// and one past the 2048 entries of an MSI-X table was taken as an index.
TEST(MsiIndex, AnHwirqNoTableHasIsNoIndex) {
  EXPECT_EQ(kirq::msi_index_of("PCI-MSIX-0000:00:03.0", "2047-edge"), 2047);
  EXPECT_EQ(kirq::msi_index_of("PCI-MSIX-0000:00:03.0", "2048-edge"), -1);
  EXPECT_EQ(kirq::msi_index_of("PCI-MSIX-0000:00:03.0", "3000000000-edge"), -1);
  EXPECT_EQ(kirq::msi_index_of("PCI-MSI-0000:00:1f.2", "18446744073709551615-edge"), -1);
  EXPECT_EQ(kirq::msi_index_of("PCI-MSI", "18446744073709551615-edge"), 2047);
}

// ------------------------------------------------------- reading captures

TEST(ReadIrqs, ThisVmEveryInterrupt) {
  KernelTree t("vm-virtio");
  auto table = kirq::read_irqs(roots_of(t));
  ASSERT_TRUE(table) << table.error().message;
  EXPECT_THAT(table->cpus, ElementsAre(0U, 1U));
  EXPECT_THAT(irq_numbers(table->irqs), ElementsAre(24U, 25U, 26U, 28U, 29U, 30U, 31U, 32U, 33U, 34U, 35U, 36U, 37U,
                                                    38U, 39U, 40U, 41U, 42U, 43U));
  const kirq::KernelIrq& tty = table->irqs[2];
  EXPECT_EQ(tty.name, "ttyS0");
  EXPECT_TRUE(tty.bdfs.empty());
  EXPECT_EQ(tty.mode, "");
  EXPECT_EQ(tty.msi_index, -1);
}

TEST(ReadIrqs, ThisVmsVirtioBlkHasOneManagedVector) {
  KernelTree t("vm-virtio");
  auto table = kirq::read_irqs(roots_of(t), "0000:00:02.0");
  ASSERT_TRUE(table) << table.error().message;
  ASSERT_EQ(table->irqs.size(), 2U);
  const kirq::KernelIrq& config = table->irqs[0];
  const kirq::KernelIrq& req = table->irqs[1];
  EXPECT_EQ(config.irq, 35U);
  EXPECT_EQ(config.name, "virtio1-config");
  EXPECT_EQ(config.msi_index, 0);
  EXPECT_EQ(config.queue, -1);
  EXPECT_FALSE(config.managed);
  EXPECT_EQ(req.irq, 36U);
  EXPECT_EQ(req.name, "virtio1-req.0");
  EXPECT_EQ(req.msi_index, 1);
  EXPECT_EQ(req.queue, 0);
  EXPECT_TRUE(req.managed);
  EXPECT_EQ(req.affinity, "0-1");
  EXPECT_TRUE(req.has_effective);
  EXPECT_EQ(req.effective, "1");
  EXPECT_EQ(req.node, 0);
  EXPECT_EQ(req.mode, "msix");
  EXPECT_THAT(req.bdfs, ElementsAre("0000:00:02.0"));
  EXPECT_EQ(req.chip, "PCI-MSIX-0000:00:02.0");
  EXPECT_EQ(req.total(), req.counts[0] + req.counts[1]);
}

TEST(ReadIrqs, SharedIntxLineBelongsToBothFunctions) {
  KernelTree t("mq-nic");
  auto table = kirq::read_irqs(roots_of(t));
  ASSERT_TRUE(table) << table.error().message;
  ASSERT_GE(table->irqs.size(), 2U);
  const kirq::KernelIrq& usb = table->irqs[1];
  EXPECT_EQ(usb.irq, 16U);
  EXPECT_THAT(usb.bdfs, ElementsAre("0000:00:1a.0", "0000:00:1f.3"));
  EXPECT_EQ(usb.mode, "intx");
  EXPECT_EQ(usb.queue, -1);
  auto one = kirq::read_irqs(roots_of(t), "0000:00:1f.3");
  ASSERT_TRUE(one);
  EXPECT_THAT(irq_numbers(one->irqs), ElementsAre(16U));
}

TEST(ReadIrqs, VectorsInMsiIndexOrderAndOnesWithoutAHandler) {
  KernelTree t("mq-nic");
  // Index order, not irq order: swap two vectors' hwirqs.
  std::string text = t.read("proc/interrupts");
  const auto swap = [&](const std::string& a, const std::string& b) {
    const std::size_t i = text.find(a);
    const std::size_t j = text.find(b);
    ASSERT_NE(i, std::string::npos);
    ASSERT_NE(j, std::string::npos);
    text.replace(i, a.size(), b);
    text.replace(text.find(b, i + b.size()), b.size(), a);
  };
  swap("0000:5e:00.0 1-edge", "0000:5e:00.0 2-edge");
  t.write("proc/interrupts", text);
  // A vector allocated but never requested: in msi_irqs, not in /proc/interrupts.
  t.write("sys/devices/pci0000:5d/0000:5d:00.0/0000:5e:00.0/msi_irqs/79", "msix\n");
  auto table = kirq::read_irqs(roots_of(t), "0000:5e:00.0");
  ASSERT_TRUE(table) << table.error().message;
  // 79 has no index: irq order for all.
  EXPECT_THAT(irq_numbers(table->irqs), ElementsAre(70U, 71U, 72U, 73U, 74U, 75U, 76U, 77U, 78U, 79U));
  EXPECT_EQ(table->irqs.back().name, "");
  EXPECT_THAT(table->irqs.back().counts, ElementsAre(0U, 0U, 0U, 0U, 0U, 0U, 0U, 0U));
  EXPECT_EQ(table->irqs.back().affinity, "");
  EXPECT_FALSE(table->irqs.back().has_effective);
  t.write("sys/devices/pci0000:5d/0000:5d:00.0/0000:5e:00.0/msi_irqs/79", "");
  std::filesystem::remove(t.path("sys/devices/pci0000:5d/0000:5d:00.0/0000:5e:00.0/msi_irqs/79"));
  auto indexed = kirq::read_irqs(roots_of(t), "0000:5e:00.0");
  ASSERT_TRUE(indexed);
  EXPECT_THAT(irq_numbers(indexed->irqs), ElementsAre(70U, 72U, 71U, 73U, 74U, 75U, 76U, 77U, 78U));
}

TEST(ReadIrqs, NoProcInterruptsIsAnError) {
  KernelTree t("vm-virtio");
  std::filesystem::remove(t.path("proc/interrupts"));
  auto table = kirq::read_irqs(roots_of(t));
  ASSERT_FALSE(table);
  EXPECT_EQ(table.error().message, "cannot read " + t.proc() + "/interrupts: No such file or directory");
}

TEST(FindDevice, VirtioDevicesLeadToTheirPciFunction) {
  KernelTree t("vm-virtio");
  auto eth0 = kirq::find_device(roots_of(t), "eth0");
  ASSERT_TRUE(eth0) << eth0.error().message;
  EXPECT_EQ(eth0->bdf, "0000:00:03.0");
  EXPECT_THAT(eth0->path, ElementsAre("eth0", "virtio2", "0000:00:03.0"));
  EXPECT_EQ(eth0->driver, "virtio-pci");
  EXPECT_EQ(eth0->class_code, "0x020000");
  EXPECT_EQ(eth0->numa_node, -1);
  EXPECT_EQ(eth0->local_cpulist, "0-1");
  auto vda = kirq::find_device(roots_of(t), "vda");
  ASSERT_TRUE(vda) << vda.error().message;
  EXPECT_THAT(vda->path, ElementsAre("vda", "virtio1", "0000:00:02.0"));
  auto virtio4 = kirq::find_device(roots_of(t), "virtio4");
  ASSERT_TRUE(virtio4) << virtio4.error().message;
  EXPECT_THAT(virtio4->path, ElementsAre("virtio4", "0000:00:05.0"));
  auto bdf = kirq::find_device(roots_of(t), "00:01.0");
  ASSERT_TRUE(bdf) << bdf.error().message;
  EXPECT_EQ(bdf->bdf, "0000:00:01.0");
  EXPECT_EQ(bdf->name, "00:01.0");
  EXPECT_THAT(bdf->path, ElementsAre("0000:00:01.0"));
}

TEST(FindDevice, NvmeAndNicBehindBridges) {
  KernelTree t("mq-nic");
  auto nic = kirq::find_device(roots_of(t), "ens1f0np0");
  ASSERT_TRUE(nic) << nic.error().message;
  EXPECT_EQ(nic->bdf, "0000:3b:00.0");
  EXPECT_THAT(nic->path, ElementsAre("ens1f0np0", "0000:3b:00.0"));
  EXPECT_EQ(nic->driver, "mlx5_core");
  EXPECT_EQ(nic->numa_node, 1);
  EXPECT_EQ(nic->local_cpulist, "4-7");
  auto nvme = kirq::find_device(roots_of(t), "nvme0");
  ASSERT_TRUE(nvme) << nvme.error().message;
  EXPECT_EQ(nvme->bdf, "0000:5e:00.0");
  EXPECT_EQ(nvme->driver, "nvme");
}

TEST(FindDevice, ErrorsNameTheAcceptedForms) {
  KernelTree t("vm-virtio");
  const kirq::KernelRoots roots = roots_of(t);
  auto lo = kirq::find_device(roots, "lo");
  ASSERT_FALSE(lo);
  EXPECT_EQ(lo.error().message,
            "'lo' is a virtual device (no " + t.sys() + "/class/net/lo/device): it has no interrupts of its own");
  auto eth9 = kirq::find_device(roots, "eth9");
  ASSERT_FALSE(eth9);
  EXPECT_EQ(eth9.error().message,
            "no device 'eth9' (accepted: a network interface (here: eth0), a class device such as nvme0 or vda, a "
            "virtio device such as virtio2, or a PCI address DDDD:BB:DD.F)");
  auto gone = kirq::find_device(roots, "0000:00:09.0");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().message,
            "no PCI function 0000:00:09.0 in " + t.sys() + "/bus/pci/devices (irqd devices lists them)");
  auto bad = kirq::find_device(roots, "0000:zz:01.0");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("0000:zz:01.0"));
}

TEST(FindProcesses, ByComm) {
  KernelTree t("vm-virtio");
  t.write("proc/812/comm", "irqbalance\n");
  t.write("proc/900/comm", "bash\n");
  t.write("proc/77/comm", "irqbalance\n");
  t.write("proc/self/comm", "irqbalance\n");  // not a pid
  EXPECT_THAT(kirq::find_processes(t.proc(), "irqbalance"), ElementsAre(77, 812));
  EXPECT_TRUE(kirq::find_processes(t.proc(), "tuned").empty());
  EXPECT_EQ(kirq::read_boot_id(roots_of(t)), "7f975dd6-8f4a-4517-9153-e2574cf164a6") << "captured boot id";
}

// ---------------------------------------------------------------- planning

kirq::KernelIrq vec(bool managed, int queue) {
  kirq::KernelIrq k;
  k.managed = managed;
  k.queue = queue;
  return k;
}

TEST(InferPrePost, ManagedVectorsDecideElseQueueNumbers) {
  unsigned pre = 9;
  unsigned post = 9;
  // NVMe: admin (unmanaged) + managed I/O queues.
  infer_pre_post({vec(false, 0), vec(true, 1), vec(true, 2)}, pre, post);
  EXPECT_EQ(pre, 1U);
  EXPECT_EQ(post, 0U);
  // Unmanaged before and after the managed ones.
  infer_pre_post({vec(false, -1), vec(false, -1), vec(true, 0), vec(false, 3)}, pre, post);
  EXPECT_EQ(pre, 2U);
  EXPECT_EQ(post, 1U);
  // None managed: the queue numbers tell (virtio-net, mlx5).
  infer_pre_post({vec(false, -1), vec(false, 0), vec(false, 0)}, pre, post);
  EXPECT_EQ(pre, 1U);
  EXPECT_EQ(post, 0U);
  infer_pre_post({vec(false, 0), vec(false, 1), vec(false, -1)}, pre, post);
  EXPECT_EQ(pre, 0U);
  EXPECT_EQ(post, 1U);
  // No queue at all: every vector a pre vector (default affinity).
  infer_pre_post({vec(false, -1), vec(false, -1)}, pre, post);
  EXPECT_EQ(pre, 2U);
  EXPECT_EQ(post, 0U);
}

Result<TunePlan> plan_on(const KernelTree& t, const std::string& device, PlannerKind planner,
                         const std::vector<unsigned>& cpus, const std::string& topology = kMqTopology) {
  auto topo = Topology::load(topology);
  if (!topo) return topo.error();
  auto dev = kirq::find_device(roots_of(t), device);
  if (!dev) return dev.error();
  auto table = kirq::read_irqs(roots_of(t), dev->bdf);
  if (!table) return table.error();
  // The captures are of 6.x kernels; the default line is the one checked.
  return make_tune_plan(*topo, cpus, "test", *dev, table->irqs, planner, default_kernel_version());
}

std::map<unsigned, std::string> planned_changes(const TunePlan& plan) {
  std::map<unsigned, std::string> out;
  for (const TuneRow& r : plan.rows)
    if (r.changes) out[r.irq.irq] = r.planned;
  return out;
}

TEST(TunePlan, MlxStyleNicPerCoreOnItsNode) {
  KernelTree t("mq-nic");
  auto plan = plan_on(t, "ens1f0np0", PlannerKind::kPerCore, {4, 5, 6, 7});
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->request.vectors, 9U);
  EXPECT_EQ(plan->request.pre_vectors, 1U);
  EXPECT_EQ(plan->request.post_vectors, 0U);
  EXPECT_EQ(plan->cpus, "4-7");
  // The async vector gets the node's CPUs, the completion vectors one core
  // each, twice round: comp0-3 are already there, comp4-7 move.
  const std::map<unsigned, std::string> want = {{60, "4-7"}, {65, "4"}, {66, "5"}, {67, "6"}, {68, "7"}};
  EXPECT_EQ(planned_changes(*plan), want);
  EXPECT_TRUE(plan->managed.empty());
  EXPECT_EQ(
      format_tune_plan(*plan),
      "irqd tune: ens1f0np0 -> 0000:3b:00.0 (mlx5_core, class 0x020000, NUMA node 1, local CPUs 4-7)\n"
      "plan: planner per-core, 8 queues of 9 interrupts, as 9 vectors (pre 1, post 0), on CPUs 4-7 (test)\n"
      "IRQ  VEC  NAME                          QUEUE   CURRENT      PLANNED\n"
      "60   0    mlx5_async0@pci:0000:3b:00.0  -       0-7      ->  4-7      not a queue: the default affinity (a "
      "pre/post vector)\n"
      "61   1    mlx5_comp0@pci:0000:3b:00.0   0 rxtx  4        =   4        unchanged\n"
      "62   2    mlx5_comp1@pci:0000:3b:00.0   1 rxtx  5        =   5        unchanged\n"
      "63   3    mlx5_comp2@pci:0000:3b:00.0   2 rxtx  6        =   6        unchanged\n"
      "64   4    mlx5_comp3@pci:0000:3b:00.0   3 rxtx  7        =   7        unchanged\n"
      "65   5    mlx5_comp4@pci:0000:3b:00.0   4 rxtx  0        ->  4\n"
      "66   6    mlx5_comp5@pci:0000:3b:00.0   5 rxtx  1        ->  5\n"
      "67   7    mlx5_comp6@pci:0000:3b:00.0   6 rxtx  2        ->  6\n"
      "68   8    mlx5_comp7@pci:0000:3b:00.0   7 rxtx  3        ->  7\n"
      "queues: each queue's interrupts on the same CPUs\n"
      "QUEUE  KIND  INTERRUPTS  PLANNED\n"
      "0      rxtx  61          4\n"
      "1      rxtx  62          5\n"
      "2      rxtx  63          6\n"
      "3      rxtx  64          7\n"
      "4      rxtx  65          4\n"
      "5      rxtx  66          5\n"
      "6      rxtx  67          6\n"
      "7      rxtx  68          7\n"
      "5 of 9 interrupts change\n");
}

// The issue's mlx5 on its node with the kernel planner of 6.1: 8 queues,
// 4 CPUs, so comp4..7 get no mask of their own. They are listed as
// unfilled, with why, and left as they are.
TEST(TunePlan, UnfilledQueuesAreListedWithWhyAndLeftAsTheyAre) {
  KernelTree t("mq-nic");
  auto topo = Topology::load(kMqTopology);
  ASSERT_TRUE(topo);
  auto dev = kirq::find_device(roots_of(t), "ens1f0np0");
  ASSERT_TRUE(dev);
  auto table = kirq::read_irqs(roots_of(t), dev->bdf);
  ASSERT_TRUE(table);
  auto v61 = parse_kernel_version("6.1");
  ASSERT_TRUE(v61);
  auto plan =
      make_tune_plan(*topo, {4, 5, 6, 7}, "test", *dev, table->irqs, TuneOptions{PlannerKind::kKernel, false, *v61});
  ASSERT_TRUE(plan) << plan.error().message;
  ASSERT_TRUE(plan->by_queue);
  ASSERT_EQ(plan->queues.size(), 8U);
  for (unsigned irq = 65; irq <= 68; ++irq) {
    const TuneRow& r = plan->rows[irq - 60];
    EXPECT_EQ(r.planned, "") << irq;
    EXPECT_FALSE(r.changes) << irq;
    EXPECT_EQ(r.why, "unfilled: 8 queues got 4 masks (more queues than CPUs); no mask, left as it was") << irq;
  }
  // From 6.16 on the kernel gives them the default affinity instead.
  auto v618 = parse_kernel_version("6.18");
  ASSERT_TRUE(v618);
  auto later =
      make_tune_plan(*topo, {4, 5, 6, 7}, "test", *dev, table->irqs, TuneOptions{PlannerKind::kKernel, false, *v618});
  ASSERT_TRUE(later);
  EXPECT_EQ(later->rows[5].planned, "4-7");
  EXPECT_TRUE(later->rows[5].changes);
  EXPECT_EQ(later->rows[5].why, "unfilled: 8 queues got 4 masks (more queues than CPUs); the default affinity");
}

TEST(TunePlan, KernelPlannerSpreadsOverTheGivenCpus) {
  KernelTree t("mq-nic");
  auto plan = plan_on(t, "ens1f0np0", PlannerKind::kKernel, {0, 1, 2, 3, 4, 5, 6, 7});
  ASSERT_TRUE(plan) << plan.error().message;
  // Two equal nodes: lib/sort.c puts node 1 first, so the NIC's current
  // cpumask_local_spread order is what the kernel planner gives.
  EXPECT_TRUE(planned_changes(*plan).empty());
  auto single = plan_on(t, "ens1f0np0", PlannerKind::kSingle, {6});
  ASSERT_TRUE(single) << single.error().message;
  const std::map<unsigned, std::string> want = {{60, "6"}, {61, "6"}, {62, "6"}, {64, "6"},
                                                {65, "6"}, {66, "6"}, {67, "6"}, {68, "6"}};
  EXPECT_EQ(planned_changes(*single), want);
}

TEST(TunePlan, ManagedNvmeQueuesAreCheckedAgainstTheKernelPlanner) {
  KernelTree t("mq-nic");
  auto plan = plan_on(t, "nvme0", PlannerKind::kPerCore, {0, 1, 2, 3});
  ASSERT_TRUE(plan) << plan.error().message;
  // Only the admin queue may be written.
  const std::map<unsigned, std::string> want = {{70, "0-3"}};
  EXPECT_EQ(planned_changes(*plan), want);
  EXPECT_EQ(plan->kernel_request.vectors, 9U);
  EXPECT_EQ(plan->kernel_request.pre_vectors, 1U);
  EXPECT_EQ(plan->kernel_request.planner, PlannerKind::kKernel);
  ASSERT_EQ(plan->managed.size(), 8U);
  for (const ManagedCheck& c : plan->managed) {
    EXPECT_TRUE(c.match) << c.irq;
    EXPECT_TRUE(c.effective_in_mask) << c.irq;
  }
  EXPECT_EQ(plan->managed[0].predicted, "4");
  EXPECT_EQ(plan->managed[4].predicted, "0");
  const std::string text = format_tune_plan(*plan);
  EXPECT_THAT(text, HasSubstr("71   1    nvme0q1  1      4            -        managed: never written\n"));
  EXPECT_THAT(
      text,
      HasSubstr("kernel planner check: 8 of 9 vectors are managed; planner kernel (Linux 6.18), 9 vectors (pre 1, "
                "post 0) on every CPU predicts:\n"
                "IRQ  NAME     CURRENT  PREDICTED  MASK   EFFECTIVE\n"
                "71   nvme0q1  4        4          match  4 (in mask)\n"));
  EXPECT_THAT(text, HasSubstr("\n8 of 8 managed masks match the kernel planner\n"));
}

TEST(TunePlan, AManagedMaskTheKernelPlannerDoesNotPredictIsReported) {
  KernelTree t("mq-nic");
  t.write("proc/irq/72/smp_affinity_list", "4-5\n");
  t.write("proc/irq/72/effective_affinity_list", "4\n");
  auto plan = plan_on(t, "nvme0", PlannerKind::kKernel, {0, 1, 2, 3});
  ASSERT_TRUE(plan) << plan.error().message;
  ASSERT_EQ(plan->managed.size(), 8U);
  EXPECT_FALSE(plan->managed[1].match);
  EXPECT_FALSE(plan->managed[1].effective_in_mask);
  const std::string text = format_tune_plan(*plan);
  EXPECT_THAT(text, HasSubstr("72   nvme0q2  4-5      5          DIFFERS  4 (outside the mask)\n"));
  EXPECT_THAT(text, HasSubstr("\n7 of 8 managed masks match the kernel planner\n"));
}

TEST(TunePlan, ThisVmsVirtioBlkMatchesTheKernelPlanner) {
  KernelTree t("vm-virtio");
  auto plan = plan_on(t, "vda", PlannerKind::kKernel, {0, 1}, "synthetic:core:2 pu:1");
  ASSERT_TRUE(plan) << plan.error().message;
  ASSERT_EQ(plan->managed.size(), 1U);
  EXPECT_EQ(plan->managed[0].irq, 36U);
  EXPECT_EQ(plan->managed[0].predicted, "0-1");
  EXPECT_TRUE(plan->managed[0].match);
  EXPECT_TRUE(planned_changes(*plan).empty());
}

TEST(TunePlan, ADeviceWithoutInterruptsIsAnError) {
  KernelTree t("vm-virtio");
  auto plan = plan_on(t, "0000:00:00.0", PlannerKind::kKernel, {0, 1}, "synthetic:core:2 pu:1");
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().message,
            "--device '0000:00:00.0': 0000:00:00.0 has no interrupts (no msi_irqs, no INTx line)");
}

// ----------------------------------------------------------------- writing

struct Recorder {
  std::vector<std::pair<std::string, std::string>> writes;
  std::map<std::string, int> refuse;  // path suffix -> errno

  ProcWrite io() {
    return [this](const std::string& path, const std::string& value) {
      writes.emplace_back(path, value);
      for (const auto& [suffix, err] : refuse)
        if (path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0)
          return err;
      return pci::write_sysfs(path, value);
    };
  }
};

TEST(ApplyTunePlan, WritesEveryChangeAndReadsItBack) {
  KernelTree t("mq-nic");
  auto plan = plan_on(t, "ens1f0np0", PlannerKind::kPerCore, {4, 5, 6, 7});
  ASSERT_TRUE(plan) << plan.error().message;
  Recorder rec;
  const std::vector<WriteOutcome> out = apply_tune_plan(*plan, roots_of(t), rec.io());
  ASSERT_EQ(rec.writes.size(), 5U);
  EXPECT_EQ(rec.writes[0], std::make_pair(t.proc() + "/irq/60/smp_affinity_list", std::string("4-7\n")));
  EXPECT_EQ(rec.writes[4], std::make_pair(t.proc() + "/irq/68/smp_affinity_list", std::string("7\n")));
  EXPECT_EQ(t.affinity(60), "4-7\n");
  EXPECT_EQ(t.affinity(61), "4\n");
  EXPECT_EQ(t.affinity(65), "4\n");
  EXPECT_EQ(t.affinity(68), "7\n");
  for (const WriteOutcome& o : out) EXPECT_EQ(o.state, WriteOutcome::State::kWritten) << o.irq;
  EXPECT_EQ(format_outcomes(out),
            "60  mlx5_async0@pci:0000:3b:00.0  0-7  ->  4-7  written, reads back 4-7\n"
            "65  mlx5_comp4@pci:0000:3b:00.0   0    ->  4    written, reads back 4\n"
            "66  mlx5_comp5@pci:0000:3b:00.0   1    ->  5    written, reads back 5\n"
            "67  mlx5_comp6@pci:0000:3b:00.0   2    ->  6    written, reads back 6\n"
            "68  mlx5_comp7@pci:0000:3b:00.0   3    ->  7    written, reads back 7\n");
}

TEST(ApplyTunePlan, KernelRefusalIsManagedOtherErrorsFail) {
  KernelTree t("mq-nic");
  auto plan = plan_on(t, "ens1f0np0", PlannerKind::kPerCore, {4, 5, 6, 7});
  ASSERT_TRUE(plan) << plan.error().message;
  Recorder rec;
  // A kernel before read-only smp_affinity_list: the mode says nothing,
  // the write gets EIO (or EPERM since 2024).
  rec.refuse["/irq/65/smp_affinity_list"] = EIO;
  rec.refuse["/irq/66/smp_affinity_list"] = EPERM;
  rec.refuse["/irq/67/smp_affinity_list"] = ENOSPC;
  const std::vector<WriteOutcome> out = apply_tune_plan(*plan, roots_of(t), rec.io());
  ASSERT_EQ(out.size(), 5U);
  EXPECT_EQ(out[0].state, WriteOutcome::State::kWritten);
  EXPECT_EQ(out[1].state, WriteOutcome::State::kRefused);
  EXPECT_EQ(out[1].detail, "EIO");
  EXPECT_EQ(out[2].state, WriteOutcome::State::kRefused);
  EXPECT_EQ(out[2].detail, "EPERM");
  EXPECT_EQ(out[3].state, WriteOutcome::State::kFailed);
  EXPECT_EQ(out[4].state, WriteOutcome::State::kWritten);
  EXPECT_EQ(t.affinity(65), "0\n");
  EXPECT_EQ(t.affinity(66), "1\n");
  EXPECT_EQ(t.affinity(67), "2\n");
  EXPECT_EQ(t.affinity(68), "7\n");
  const std::string text = format_outcomes(out);
  EXPECT_THAT(text, HasSubstr("65  mlx5_comp4@pci:0000:3b:00.0   0    ->  4    refused by the kernel (EIO): managed, "
                              "left as it was\n"));
  EXPECT_THAT(text, HasSubstr("67  mlx5_comp6@pci:0000:3b:00.0   2    ->  6    FAILED: " + t.proc() +
                              "/irq/67/smp_affinity_list: No space left on device\n"));
}

TEST(ApplyTunePlan, AMaskThatReadsBackOtherwiseIsReported) {
  KernelTree t("mq-nic");
  auto plan = plan_on(t, "ens1f0np0", PlannerKind::kPerCore, {4, 5, 6, 7});
  ASSERT_TRUE(plan) << plan.error().message;
  // A kernel that keeps another mask (an offline CPU dropped, say).
  ProcWrite io = [](const std::string& path, const std::string& value) {
    return pci::write_sysfs(path, value == "4-7\n" ? "4-6\n" : value);
  };
  const std::vector<WriteOutcome> out = apply_tune_plan(*plan, roots_of(t), io);
  ASSERT_EQ(out.size(), 5U);
  EXPECT_EQ(out[0].state, WriteOutcome::State::kMismatch);
  EXPECT_EQ(out[0].detail, "4-6");
  EXPECT_THAT(format_outcomes(out), HasSubstr("written, but reads back 4-6\n"));
}

TEST(ApplyTunePlan, ManagedFilesAreNeverWritten) {
  KernelTree t("mq-nic");
  auto plan = plan_on(t, "nvme0", PlannerKind::kSingle, {3});
  ASSERT_TRUE(plan) << plan.error().message;
  Recorder rec;
  const std::vector<WriteOutcome> out = apply_tune_plan(*plan, roots_of(t), rec.io());
  ASSERT_EQ(rec.writes.size(), 1U);
  EXPECT_EQ(rec.writes[0].first, t.proc() + "/irq/70/smp_affinity_list");
  EXPECT_EQ(t.affinity(70), "3\n");
  for (unsigned irq = 71; irq <= 78; ++irq) {
    const std::string want = std::to_string(irq <= 74 ? irq - 67 : irq - 75) + "\n";
    EXPECT_EQ(t.affinity(irq), want) << irq;
  }
}

// ---------------------------------------------------------------- restoring

TEST(RestoreFile, EveryUnmanagedVectorAsItWas) {
  KernelTree t("mq-nic");
  auto plan = plan_on(t, "nvme0", PlannerKind::kSingle, {3});
  ASSERT_TRUE(plan) << plan.error().message;
  const RestoreFile file = restore_file_for(*plan, "boot-1");
  const std::string text = format_restore_file(file);
  EXPECT_EQ(text,
            "{\n"
            "  \"irqd_tune_restore\": 1,\n"
            "  \"boot_id\": \"boot-1\",\n"
            "  \"device\": \"nvme0\",\n"
            "  \"pci\": \"0000:5e:00.0\",\n"
            "  \"planner\": \"single\",\n"
            "  \"cpus\": \"3\",\n"
            "  \"irqs\": [\n"
            "    {\n"
            "      \"irq\": 70,\n"
            "      \"name\": \"nvme0q0\",\n"
            "      \"smp_affinity_list\": \"0-7\"\n"
            "    }\n"
            "  ]\n"
            "}\n");
  auto back = parse_restore_file(text, "f.json");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->boot_id, "boot-1");
  EXPECT_EQ(back->device, "nvme0");
  EXPECT_EQ(back->pci, "0000:5e:00.0");
  ASSERT_EQ(back->irqs.size(), 1U);
  EXPECT_EQ(back->irqs[0].irq, 70U);
  EXPECT_EQ(back->irqs[0].name, "nvme0q0");
  EXPECT_EQ(back->irqs[0].affinity, "0-7");
}

// A mask that cannot be read is never written (nothing could put it back),
// is said so in the plan, and stays out of the restore file, which
// --restore must still accept.
TEST(RestoreFile, AMaskThatCannotBeReadIsNeverWrittenNorSaved) {
  KernelTree t("mq-nic");
  std::filesystem::remove(t.proc() + "/irq/65/smp_affinity_list");
  auto plan = plan_on(t, "ens1f0np0", PlannerKind::kPerCore, {4, 5, 6, 7});
  ASSERT_TRUE(plan) << plan.error().message;
  const std::map<unsigned, std::string> want = {{60, "4-7"}, {66, "5"}, {67, "6"}, {68, "7"}};
  EXPECT_EQ(planned_changes(*plan), want);
  EXPECT_THAT(format_tune_plan(*plan),
              ::testing::HasSubstr("65   5    mlx5_comp4@pci:0000:3b:00.0   4 rxtx  -            4        current mask "
                                   "unreadable: never written\n"));
  const std::string text = format_restore_file(restore_file_for(*plan, "boot-1"));
  auto back = parse_restore_file(text, "f.json");
  ASSERT_TRUE(back) << back.error().message;
  std::vector<unsigned> saved;
  for (const RestoreEntry& e : back->irqs) saved.push_back(e.irq);
  EXPECT_EQ(saved, (std::vector<unsigned>{60, 61, 62, 63, 64, 66, 67, 68}));
}

TEST(RestoreFile, AnythingElseIsRefusedWithTheReason) {
  const std::map<std::string, std::string> cases = {
      {"not json", "f.json is not a restore file of irqd tune --apply (not a JSON object)"},
      {"[1]", "f.json is not a restore file of irqd tune --apply (not a JSON object)"},
      {"{}", "f.json is not a restore file of irqd tune --apply (no \"irqd_tune_restore\" format number)"},
      {R"({"irqd_tune_restore":3,"irqs":[]})", "f.json has restore format 3 (accepted: 1, 2)"},
      {R"({"irqd_tune_restore":1,"irqs":[],"xps":[]})",
       "f.json is not a restore file of irqd tune --apply (\"xps\" is format 2's array)"},
      {R"({"irqd_tune_restore":2,"irqs":[],"xps":[{"iface":"eth0","queue":1}]})",
       "f.json is not a restore file of irqd tune --apply (an entry of \"xps\" lacks iface, queue or xps_cpus: "
       "{\"iface\":\"eth0\",\"queue\":1})"},
      {R"({"irqd_tune_restore":2,"irqs":[],"xps":[{"iface":"../../x","queue":1,"xps_cpus":"1"}]})",
       "f.json: xps interface '../../x' is not an interface name (accepted: 1-15 bytes, no '/')"},
      {R"({"irqd_tune_restore":2,"irqs":[],"xps":[{"iface":"eth0","queue":65536,"xps_cpus":"1"}]})",
       "f.json: xps queue 65536 is out of range (accepted: 0..65535)"},
      {R"({"irqd_tune_restore":2,"irqs":[],"xps":[{"iface":"eth0","queue":0,"xps_cpus":"0-3"}]})",
       "f.json: eth0 tx-0 has xps_cpus '0-3' (accepted: a hex CPU mask such as 0f or 00000000,000000ff)"},
      {R"({"irqd_tune_restore":1})", "f.json is not a restore file of irqd tune --apply (no \"irqs\" array)"},
      {R"({"irqd_tune_restore":1,"device":3,"irqs":[]})",
       "f.json is not a restore file of irqd tune --apply (\"device\" is not a string)"},
      {R"({"irqd_tune_restore":1,"irqs":[{"irq":5}]})",
       "f.json is not a restore file of irqd tune --apply (an entry of \"irqs\" lacks irq, name or "
       "smp_affinity_list: {\"irq\":5})"},
      {R"({"irqd_tune_restore":1,"irqs":[{"irq":5,"name":"x","smp_affinity_list":"0-"}]})",
       "f.json: irq 5 has smp_affinity_list '0-' (accepted: a CPU list such as 0-3,8)"},
      {R"({"irqd_tune_restore":1,"irqs":[{"irq":5,"name":"x","smp_affinity_list":""}]})",
       "f.json: irq 5 has smp_affinity_list '' (accepted: a CPU list such as 0-3,8)"},
      // Numbers past what they are read into: refused, never wrapped.
      {R"({"irqd_tune_restore":1,"irqs":[{"irq":4294967366,"name":"x","smp_affinity_list":"0"}]})",
       "f.json: irq 4294967366 is out of range (accepted: 0..4294967295)"},
      {R"({"irqd_tune_restore":4294967297,"irqs":[]})", "f.json has restore format 4294967297 (accepted: 1, 2)"},
  };
  for (const auto& [text, message] : cases) {
    auto parsed = parse_restore_file(text, "f.json");
    ASSERT_FALSE(parsed) << text;
    EXPECT_EQ(parsed.error().message, message) << text;
  }
}

// Found while triaging the control socket's fuzz findings, and by
// kirq/tests/fuzz/restore_file_fuzz on it: nlohmann parses any depth without
// recursion, but the entry quoted in the error (dump()) recursed once per
// level: a 400 KB file nested 200000 levels deep overflowed the stack
// (SIGSEGV in every build type; ASan's frames overflow at 30000).
TEST(RestoreFile, DeeplyNestedFileIsRefusedNotACrash) {
  const std::size_t depth = 200000;
  const std::string text =
      R"({"irqd_tune_restore":1,"irqs":[)" + std::string(depth, '[') + std::string(depth, ']') + "]}";
  auto parsed = parse_restore_file(text, "f.json");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().message,
            "f.json is not a restore file of irqd tune --apply (nested 200002 levels deep; irqd writes 3)");
  auto shallow = parse_restore_file(R"({"irqd_tune_restore":1,"irqs":[[[1]]]})", "f.json");
  ASSERT_FALSE(shallow);
  EXPECT_EQ(shallow.error().message,
            "f.json is not a restore file of irqd tune --apply (an entry of \"irqs\" lacks irq, name or "
            "smp_affinity_list: [[1]])");
}

TEST(RestoreMasks, PutsBackWhatApplyChangedAndSkipsWhatIsNotTheSame) {
  KernelTree t("mq-nic");
  auto plan = plan_on(t, "ens1f0np0", PlannerKind::kPerCore, {4, 5, 6, 7});
  ASSERT_TRUE(plan) << plan.error().message;
  RestoreFile file = restore_file_for(*plan, "");
  ASSERT_EQ(file.irqs.size(), 9U);
  (void)apply_tune_plan(*plan, roots_of(t), pci::write_sysfs);
  ASSERT_EQ(t.affinity(65), "4\n");
  // An entry whose interrupt went away, one that now names another, one
  // that is managed now.
  file.irqs.push_back({99, "mlx5_comp9@pci:0000:3b:00.0", "1"});
  file.irqs.push_back({70, "mlx5_comp8@pci:0000:3b:00.0", "2"});
  file.irqs.push_back({71, "nvme0q1", "1"});
  Recorder rec;
  const std::vector<WriteOutcome> out = restore_masks(file, roots_of(t), rec.io());
  ASSERT_EQ(out.size(), 12U);
  EXPECT_EQ(rec.writes.size(), 5U);
  EXPECT_EQ(t.affinity(60), "0-7\n");
  EXPECT_EQ(t.affinity(65), "0\n");
  EXPECT_EQ(t.affinity(66), "1\n");
  EXPECT_EQ(t.affinity(67), "2\n");
  EXPECT_EQ(t.affinity(68), "3\n");
  EXPECT_EQ(t.affinity(70), "0-7\n");
  EXPECT_EQ(t.affinity(71), "4\n");
  EXPECT_EQ(out[1].state, WriteOutcome::State::kUnchanged);
  EXPECT_EQ(out[9].state, WriteOutcome::State::kSkipped);
  EXPECT_EQ(out[9].detail, "no such interrupt now");
  EXPECT_EQ(out[10].state, WriteOutcome::State::kSkipped);
  EXPECT_EQ(out[10].detail, "it is now 'nvme0q0', another interrupt");
  EXPECT_EQ(out[11].state, WriteOutcome::State::kSkipped);
  EXPECT_EQ(out[11].detail, "managed now");
  const std::string text = format_outcomes(out);
  EXPECT_THAT(text, HasSubstr("60  mlx5_async0@pci:0000:3b:00.0  4-7  ->  0-7  written, reads back 0-7\n"));
  EXPECT_THAT(text, HasSubstr("61  mlx5_comp0@pci:0000:3b:00.0   4    ->  4    unchanged\n"));
  EXPECT_THAT(text, HasSubstr("99  mlx5_comp9@pci:0000:3b:00.0   -    ->  1    skipped: no such interrupt now\n"));
}

// Found by kirq/tests/fuzz/proc_irq_fuzz: an interrupt name that is not
// UTF-8 (an interface renamed to bytes that are not, as Linux allows) made
// format_restore_file() throw (nlohmann type_error 316): `irqd tune`, dry
// run or --apply, ended on "irqd: fatal: ..." before printing its plan. The
// file now holds U+FFFD for such bytes, and --restore still knows the
// interrupt by its name.
TEST(RestoreFile, NamesThatAreNotUtf8AreWrittenAndStillRecognized) {
  KernelTree t("mq-nic");
  std::string interrupts = t.read("proc/interrupts");
  const std::string from = "mlx5_comp1@pci:0000:3b:00.0";
  const std::string to = "mlx5_comp1\xff@pci:0000:3b:00.0";
  ASSERT_NE(interrupts.find(from), std::string::npos);
  interrupts.replace(interrupts.find(from), from.size(), to);
  t.write("proc/interrupts", interrupts);
  auto plan = plan_on(t, "ens1f0np0", PlannerKind::kPerCore, {4, 5, 6, 7});
  ASSERT_TRUE(plan) << plan.error().message;
  const RestoreFile file = restore_file_for(*plan, "");
  const std::string text = format_restore_file(file);
  auto back = parse_restore_file(text, "f.json");
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->irqs.size(), 9U);
  EXPECT_EQ(back->irqs[2].irq, 62U);
  EXPECT_EQ(back->irqs[2].name, "mlx5_comp1\xef\xbf\xbd@pci:0000:3b:00.0");
  (void)apply_tune_plan(*plan, roots_of(t), pci::write_sysfs);
  t.write("proc/irq/62/smp_affinity_list", "7\n");
  Recorder rec;
  const std::vector<WriteOutcome> out = restore_masks(*back, roots_of(t), rec.io());
  ASSERT_EQ(out.size(), 9U);
  EXPECT_EQ(out[2].state, WriteOutcome::State::kWritten) << out[2].detail;
  EXPECT_EQ(t.affinity(62), "5\n");
}

TEST(Irqbalance, WarningNamesTheIrqsAndTheCpus) {
  KernelTree t("mq-nic");
  EXPECT_EQ(irqbalance_warning(roots_of(t), {60, 61}, "4-7"), "");
  t.write("proc/1234/comm", "irqbalance\n");
  EXPECT_EQ(irqbalance_warning(roots_of(t), {60, 61}, "4-7"),
            "irqbalance is running (pid 1234) and will move these interrupts again: ban them from it with "
            "--banirq=60 --banirq=61 (IRQBALANCE_ARGS in /etc/default/irqbalance or /etc/sysconfig/irqbalance) and "
            "keep its other interrupts off CPUs 4-7 with IRQBALANCE_BANNED_CPULIST=4-7, then restart irqbalance");
  EXPECT_EQ(irqbalance_warning(roots_of(t), {}, "4-7"), "");
}

}  // namespace
}  // namespace irqd
