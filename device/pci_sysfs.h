// SPDX-License-Identifier: GPL-2.0-only
//
// The sysfs side of handing a PCI function to VFIO: list the functions with
// what VFIO needs to know (driver, IOMMU group, MSI-X table size), and move
// one to vfio-pci and back with driver_override, the sequence of
// Documentation/driver-api/vfio.rst done for the user:
//
//   bind    remember the original driver (state file), driver_override =
//           "vfio-pci", drivers/<orig>/unbind, bus/pci/drivers_probe, check
//           that the driver link now names vfio-pci
//   unbind  drivers/vfio-pci/unbind (blocks until the VFIO user, e.g. irqd
//           serve, releases the device on the kernel's request),
//           driver_override = "\n" (cleared), drivers_probe (the original
//           driver takes it back), forget the state file
//
// Before either writes anything it looks at who uses the device: bind
// refuses a function with an interface up or a block device mounted,
// swapped on or stacked under (its driver's unbind would pull them away);
// unbind names the processes holding the device's VFIO files and refuses
// when one is not irqd (the kernel's unbind would wait, unkillable, until
// that process lets go). Both can be forced.
//
// Every path lies under PciPaths::sysfs (and ::proc) so that tests run on
// fake trees, and
// every sysfs write goes through SysfsIo::write so that a test can record
// what was written where, in order, and play the kernel's part (a fake tree
// cannot move the driver link by itself).

#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"

namespace irqd::pci {

inline constexpr const char* kVfioPci = "vfio-pci";

struct PciPaths {
  std::string sysfs = "/sys";
  // One file per function irqd bound, holding its original driver, so that
  // unbind can give it back from any process (and after a restart).
  std::string state_dir = "/run/irqd/bound";
  // self/mountinfo, swaps and every <pid>/fd, for the in-use checks.
  std::string proc = "/proc";
};

// "0000:00:03.0" (lower case) from "DDDD:BB:DD.F" in hex, device <= 1f and
// function <= 7; an error naming the accepted form otherwise.
Result<std::string> parse_bdf(const std::string& text);

// The MSI-X table size as the config space tells it.
struct MsixCount {
  enum class State {
    kCount,      // count entries
    kNone,       // no MSI-X capability
    kNeedsRoot,  // the capability list lies past the 64 bytes non-root may read
    kUnreadable  // no config file, or one too short to be a config space
  };
  State state = State::kUnreadable;
  unsigned count = 0;
};

// Walks the capability list of a config space image from offset 0x34 (as
// pci_find_capability: at most 48 hops, pointers below 0x40 end it) to
// PCI_CAP_ID_MSIX (0x11): table size = (Message Control & 0x7ff) + 1.
MsixCount msix_from_config(std::span<const std::uint8_t> config);
// "64", "none", "unknown (needs root)", "unknown".
std::string format_msix(const MsixCount& msix);

// Another member of a function's IOMMU group.
struct GroupPeer {
  std::string bdf;
  std::string driver;  // "" when unbound
};
// The driver a function is bound to ("" when none), from its driver link.
std::string current_driver(const std::string& sysfs_root, const std::string& bdf);
// The other functions in IOMMU group `group`, with their drivers, by address.
std::vector<GroupPeer> read_group_peers(const std::string& sysfs_root, int group, const std::string& bdf);

// Whether `driver` is vfio-pci or one of its variant drivers
// (mlx5_vfio_pci, hisi_acc_vfio_pci, pds-vfio-pci, virtio-vfio-pci, ...),
// which give userspace the same VFIO device. A variant is known by its
// module using vfio_pci_core (sysfs module/vfio_pci_core/holders/), or,
// where the module cannot be seen (built in), by the kernel's naming
// convention: "vfio_pci" or "vfio-pci" in its name.
bool is_vfio_pci_driver(const std::string& sysfs_root, const std::string& driver);

// Whether a driver leaves an IOMMU group usable by VFIO: a vfio-pci (or
// vfio variant) driver, or one with driver_managed_dma (pci-stub,
// pcieport). Unbound ("") is fine too.
bool driver_leaves_group_viable(const std::string& driver);

// One reason VFIO cannot take a function, and what fixes it.
struct VfioBlocker {
  std::string reason;  // short: "no IOMMU group"
  std::string fix;     // "turn the IOMMU on (...)"
};

struct PciFunction {
  std::string bdf;
  std::string vendor;            // "1af4"
  std::string device;            // "1041"
  std::uint32_t class_code = 0;  // 0x020000
  int header_type = -1;          // config byte 0x0e & 0x7f; -1 when unreadable
  std::string driver;            // basename of the driver link; "" when unbound
  std::string driver_override;   // "" when unset (sysfs shows "(null)")
  int iommu_group = -1;          // -1: none
  int numa_node = -1;            // -1: none
  MsixCount msix;
  std::vector<GroupPeer> group_peers;  // the group's other members, by BDF
  std::vector<VfioBlocker> vfio_blockers;

  bool vfio_can_take() const { return vfio_blockers.empty(); }
};

// Every /sys/bus/pci/devices entry, by BDF.
Result<std::vector<PciFunction>> list_pci_functions(const std::string& sysfs_root = "/sys");
// One function; bdf must be normalized (parse_bdf).
Result<PciFunction> read_pci_function(const std::string& sysfs_root, const std::string& bdf);
// Whether the vfio-pci driver is registered (bus/pci/drivers/vfio-pci).
bool vfio_pci_loaded(const std::string& sysfs_root);

// Writes value to path as `echo -n value > path` would (one write(2), no
// O_CREAT): 0, or the errno.
int write_sysfs(const std::string& path, const std::string& value);

struct SysfsIo {
  // Every sysfs write of bind and unbind goes through here.
  std::function<int(const std::string& path, const std::string& value)> write = write_sysfs;
  // One line per action, once it is done, and a notice before the one that
  // may block (the vfio-pci unbind).
  std::function<void(const std::string& line)> log;
};

// ------------------------------------------------------------ in use

// One reason a function is in use by this machine, as a line for the user.
struct DeviceUser {
  enum class Kind {
    kInterfaceUp,  // "eth0 is up"
    kMounted,      // "nvme0n1p1 is mounted on /boot/efi"
    kSwap,         // "nvme0n1p3 is swap"
    kHeld,         // "nvme0n1 is held by dm-0" (device mapper, md, bcache ...)
    kUnknown,      // "whether nvme0n1 is mounted is unknown: cannot read .../mountinfo: ..."
  };
  Kind kind = Kind::kUnknown;
  std::string name;      // the interface or block device: "eth0", "nvme0n1p2"
  std::string line;      // what the user reads
  bool root_fs = false;  // it (or what it holds up) is mounted on /
};

// What uses function bdf (normalized): its network interfaces that are up
// (flags & IFF_UP), and its block devices and their partitions (any
// directory with a dev file and holders/ below the function's sysfs
// directory, symlinks not followed, at most 10 levels down: NVMe's
// nvme/nvmeN/nvmeNnM, virtio's virtioN/block/vda, SCSI's
// hostN/.../block/sdX) that are mounted (<proc>/self/mountinfo, by
// major:minor or by source /dev/NAME), swapped on (<proc>/swaps) or held
// by a stacked device (holders/, followed down so that a dm-0 mounted on /
// marks the root filesystem). In the order found, by sysfs name.
std::vector<DeviceUser> find_users(const PciPaths& paths, const std::string& bdf);

// A process holding one of a function's VFIO files open: the group node
// /dev/vfio/N, the device's cdev /dev/vfio/devices/vfioX, or a VFIO
// device fd whose fdinfo names the function (vfio-device-syspath, Linux
// 6.8 and later).
struct VfioHolder {
  int pid = 0;
  std::string comm;  // <proc>/PID/comm
  std::string file;  // "/dev/vfio/3", "/dev/vfio/devices/vfio0", "a VFIO device fd"
  // irqd (comm "irqd") registers the device request and lets go of the
  // device when the kernel signals it, which the unbind write does.
  bool is_irqd() const { return comm == "irqd"; }
};
// Every process under paths.proc holding one of bdf's VFIO files (iommu
// group `group`, -1: none), by pid. Processes whose fd directory this one
// may not read (another user's, unless root) are not seen.
std::vector<VfioHolder> find_vfio_holders(const PciPaths& paths, const std::string& bdf, int group);

struct BindOptions {
  // 0: refuse a function in use (find_users); 1: bind it anyway, saying
  // what is taken away; 2: even when it holds the root filesystem.
  int force = 0;
};

struct UnbindOptions {
  // false: refuse when a process other than irqd holds the VFIO device;
  // true: write the unbind anyway (it waits until that process lets go).
  bool force = false;
};

struct BindReport {
  std::string bdf;
  std::string original_driver;  // "" when it had none
  bool changed = false;         // false: it was already on vfio-pci
  int iommu_group = -1;
  // Group members on drivers that keep the group from being viable: VFIO
  // opens the group only once they are on vfio-pci or unbound.
  std::vector<GroupPeer> group_blockers;
};

// Moves bdf to vfio-pci. Already on vfio-pci: a no-op that says so. The
// other members of its IOMMU group are reported, never moved. A function in
// use (find_users) is refused, every user named, unless options.force says
// otherwise; then each user is logged before the first write. On a failure
// after driver_override was written, driver_override is cleared again and
// the original driver asked to take the device back.
Result<BindReport> bind_to_vfio(const std::string& bdf, const PciPaths& paths = {}, const SysfsIo& io = {},
                                const BindOptions& options = {});

struct UnbindReport {
  std::string bdf;
  bool was_on_vfio = false;
  bool original_known = false;  // a state file told the original driver
  std::string original_driver;  // "" when it had none (or unknown)
  std::string driver;           // the driver it has now; "" when unbound
  bool changed = false;         // false: nothing to undo
};

// Gives bdf back to the driver it had before bind_to_vfio. Without a state
// file (irqd did not bind it) the original driver is unknown: the device is
// left unbound and the report says so. Before the vfio-pci unbind, the
// processes holding the device are logged; one that is not irqd refuses
// the unbind (nothing written) unless options.force.
Result<UnbindReport> unbind_from_vfio(const std::string& bdf, const PciPaths& paths = {}, const SysfsIo& io = {},
                                      const UnbindOptions& options = {});

}  // namespace irqd::pci
