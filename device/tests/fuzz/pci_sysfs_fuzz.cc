// SPDX-License-Identifier: GPL-2.0-only
//
// libFuzzer harness: the PCI sysfs attributes `irqd devices`, `irqd bind`
// and `irqd unbind` read. Each input is a small fake /sys (fake_tree.h:
// "@@ PATH" sections): a function's vendor, device, class,
// driver_override, numa_node and config (the config space image the MSI-X
// count is walked from), its driver and iommu_group links, the group's
// other members, bus/pci/drivers/vfio-pci, and the state file irqd keeps
// of the original driver (state/BDF); "@@ arg" is the address typed
// (default 0000:00:03.0). Then parse_bdf(), list_pci_functions(),
// read_pci_function(), and bind_to_vfio() and unbind_from_vfio() with a
// writer that only records (a fake tree cannot move a driver link). The
// first 4096 bytes of the input are also walked as a config space image by
// themselves. Beyond "no crash": an accepted address is its own normal form,
// and an MSI-X count is 1..2048.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "device/pci_sysfs.h"
#include "device/tests/fuzz/fake_tree.h"

namespace {

void check_msix(const irqd::pci::MsixCount& msix) {
  if (msix.state == irqd::pci::MsixCount::State::kCount && (msix.count < 1 || msix.count > 2048)) std::abort();
  (void)irqd::pci::format_msix(msix);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static irqd::fuzz::FakeTree tree({"sys", "state"});
  check_msix(irqd::pci::msix_from_config(std::span<const std::uint8_t>(data, std::min<std::size_t>(size, 4096))));

  tree.build(std::string_view(reinterpret_cast<const char*>(data), size));
  const std::string sysfs = tree.path("sys");
  const std::string typed = tree.arg().empty() ? "0000:00:03.0" : tree.arg();
  auto bdf = irqd::pci::parse_bdf(typed);
  if (bdf) {
    auto again = irqd::pci::parse_bdf(*bdf);
    if (!again || *again != *bdf) std::abort();
  }
  if (auto functions = irqd::pci::list_pci_functions(sysfs)) {
    for (const irqd::pci::PciFunction& fn : *functions) check_msix(fn.msix);
  }
  if (!bdf) return 0;
  if (auto fn = irqd::pci::read_pci_function(sysfs, *bdf)) {
    check_msix(fn->msix);
    (void)fn->vfio_can_take();
  }
  const irqd::pci::PciPaths paths{sysfs, tree.path("state")};
  irqd::pci::SysfsIo io;
  std::size_t writes = 0;
  io.write = [&writes](const std::string&, const std::string&) {
    ++writes;
    return 0;
  };
  io.log = [](const std::string&) {};
  (void)irqd::pci::bind_to_vfio(typed, paths, io);
  (void)irqd::pci::unbind_from_vfio(typed, paths, io);
  return 0;
}
