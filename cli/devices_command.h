// SPDX-License-Identifier: GPL-2.0-only
//
// `irqd devices`, `irqd bind BDF`, `irqd unbind BDF`: the PCI functions of
// this machine and whether VFIO can take them, and moving one to vfio-pci
// and back (device/pci_sysfs.h does the sysfs work; this file formats it).
//
//   irqd devices [--json]   one row per /sys/bus/pci/devices entry: BDF,
//                           vendor:device, class, driver, driver_override,
//                           IOMMU group, NUMA node, MSI-X entries, VFIO
//                           (yes, or no: the reasons; their fixes below)
//   irqd bind [--force] BDF one line per action; then whether its IOMMU
//                           group is viable, naming the members that are not.
//                           A function in use (an interface up, a block
//                           device mounted, swapped on or held) is refused,
//                           every user named; --force binds it anyway, and
//                           one holding the root filesystem takes --force
//                           twice
//   irqd unbind [--force] BDF
//                           one line per action; the driver it has now.
//                           The processes holding its VFIO device are named
//                           first; one that is not irqd refuses the unbind
//                           (it would wait in D state) unless --force
//
// Errors are one line on stderr: exit 2 when nothing was written, 1 when a
// step failed after something was.

#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "device/pci_sysfs.h"

namespace irqd {

// Tests point irqd at fake trees with these; --help says so.
inline constexpr const char* kSysfsRootEnv = "IRQD_SYSFS_ROOT";
inline constexpr const char* kBindStateDirEnv = "IRQD_BIND_STATE_DIR";

struct DevicesFlags {
  bool json = false;          // devices
  std::string bind_bdf;       // bind
  int bind_force = 0;         // bind: how many times --force was given
  std::string unbind_bdf;     // unbind
  bool unbind_force = false;  // unbind --force
};

// /sys, /run/irqd/bound and /proc, or what IRQD_SYSFS_ROOT /
// IRQD_BIND_STATE_DIR / IRQD_PROC_ROOT say (when set and not empty, in a
// build with tests: cli/test_env.h).
pci::PciPaths devices_paths_from_env();
// The --help footer of bind and unbind.
std::string devices_help();
// The footer of `irqd devices --help`.
std::string devices_list_help();

// The table: aligned columns, one row per function, then one line per
// distinct reason VFIO cannot take one, with its fix.
std::string format_devices_table(const std::vector<pci::PciFunction>& functions);
// {"vfio_pci_loaded":bool,"devices":[{"bdf":..,"vendor":..,"device":..,
// "class":"0x020000","driver":str|null,"driver_override":str|null,
// "iommu_group":int|null,"numa_node":int|null,"msix":int|null (0: no
// MSI-X; null: unknown, see "msix_note"),"msix_note":str|null,
// "group_peers":[{"bdf":..,"driver":str|null}],"vfio":{"can_take":bool,
// "reasons":[{"reason":..,"fix":..}]}}]}
std::string format_devices_json(const std::vector<pci::PciFunction>& functions, bool vfio_pci_loaded);
// What bind ends with: whether the device's IOMMU group is viable now.
std::vector<std::string> format_bind_outcome(const pci::BindReport& report);

int run_devices(const pci::PciPaths& paths, bool json, std::ostream& out, std::ostream& err);
int run_bind(const std::string& bdf, const pci::PciPaths& paths, std::ostream& out, std::ostream& err, int force = 0);
int run_unbind(const std::string& bdf, const pci::PciPaths& paths, std::ostream& out, std::ostream& err,
               bool force = false);

}  // namespace irqd
