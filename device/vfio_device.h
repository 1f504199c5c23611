// SPDX-License-Identifier: GPL-2.0-only
//
// VfioDevice: a PCI function bound to vfio-pci, driven through the VFIO
// type1 container interface (include/uapi/linux/vfio.h), as an MsixDevice.
// Thin on purpose: each call is one ioctl, named after it.
//
//   open()                /dev/vfio/vfio, GET_API_VERSION, CHECK_EXTENSION(TYPE1v2),
//                         /dev/vfio/<group>, GROUP_GET_STATUS, GROUP_SET_CONTAINER,
//                         SET_IOMMU(TYPE1v2), GROUP_GET_DEVICE_FD, DEVICE_GET_INFO,
//                         GET_IRQ_INFO(MSIX, REQ), PCI_COMMAND |= MEMORY | MASTER,
//                         SET_IRQS(REQ, DATA_EVENTFD | ACTION_TRIGGER)
//   set_msix_eventfds()   SET_IRQS(MSIX, DATA_EVENTFD | ACTION_TRIGGER, start, count, fds)
//   disable_msix()        SET_IRQS(MSIX, DATA_NONE | ACTION_TRIGGER, 0, 0)
//   close()               SET_IRQS(REQ, DATA_NONE, 0, 0), munmap every BAR mapping,
//                         close the device fd, then (the group's last device)
//                         the group and container fds (vfio::Group)
//
// Every fd is close-on-exec and the device must never be held across a
// fork() without exec(): a child that inherits the device fd or a BAR
// mapping keeps the device open, and an unbind then waits for it forever.

#pragma once

#include <linux/vfio.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/fault.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "device/msix_device.h"

namespace irqd {

// Where open() looks; tests point both at a fake tree in a temp dir.
struct VfioPaths {
  std::string sysfs = "/sys";          // .../bus/pci/devices/BDF, .../kernel/iommu_groups/N
  std::string dev_vfio = "/dev/vfio";  // .../vfio (the container), .../N (the groups)
};

namespace detail {
struct BarRegion;
}

namespace vfio {

// A byte range inside a region or BAR.
struct ByteRange {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  bool operator==(const ByteRange&) const = default;
};

// Where a function's MSI-X table and pending-bit array live, from its
// MSI-X capability in config space (PCI_CAP_ID_MSIX: PCI_MSIX_FLAGS,
// PCI_MSIX_TABLE, PCI_MSIX_PBA).
struct MsixLayout {
  unsigned table_bar = 0;          // PCI_MSIX_TABLE_BIR
  std::uint32_t table_offset = 0;  // PCI_MSIX_TABLE_OFFSET
  unsigned table_size = 0;         // entries: PCI_MSIX_FLAGS_QSIZE + 1
  unsigned pba_bar = 0;
  std::uint32_t pba_offset = 0;
  // The table's bytes (16 per entry) in table_bar.
  ByteRange table() const { return {table_offset, std::uint64_t{table_size} * 16}; }
};

// The parts of a BAR of bar_size bytes that map_bar() maps: the sparse
// areas when the region offers only those (VFIO_REGION_INFO_CAP_SPARSE_MMAP;
// kernels before 4.16 cut the MSI-X table out that way), else the whole
// BAR; less every page that holds a byte of `table` (the MSI-X table, when
// it lies in this BAR). Ascending, page-aligned, none empty.
std::vector<ByteRange> mappable_ranges(std::uint64_t bar_size, const std::optional<std::vector<ByteRange>>& sparse,
                                       const std::optional<ByteRange>& table, std::uint64_t page_size);

// Reserves `size` bytes of address space (PROT_NONE, no memory behind it)
// and maps each of `ranges` of fd (at file_offset + range offset) over it
// with MAP_FIXED; what lies between stays PROT_NONE, so an access there
// faults. The caller munmaps (addr, size). All or nothing. fault: "mmap".
Result<void*> map_ranges(int fd, std::uint64_t file_offset, std::uint64_t size, int prot,
                         const std::vector<ByteRange>& ranges, const FaultHook& fault = {});

}  // namespace vfio

namespace vfio {

// One IOMMU group this process opened: /dev/vfio/<id>, attached to a type1v2
// container of its own. The kernel lets one file open a group at a time
// (vfio_group_fops_open: EBUSY for the second), so every function of the
// group this process hosts must go through this one object; a GroupSet
// hands it out. Closing it closes the group fd, then the container.
class Group {
 public:
  // /dev/vfio/vfio, GET_API_VERSION, CHECK_EXTENSION(TYPE1v2),
  // /dev/vfio/<id>, GROUP_GET_STATUS (viable), GROUP_SET_CONTAINER,
  // SET_IOMMU(TYPE1v2). bdf: the function it is opened for, in errors.
  static Result<std::unique_ptr<Group>> open(const VfioPaths& paths, int id, const std::string& bdf);
  // Adopts fds already opened and set up (Group::open, or a test's opener).
  Group(int id, std::string node, UniqueFd container, UniqueFd group)
      : id_(id), node_(std::move(node)), container_(std::move(container)), group_(std::move(group)) {}
  ~Group();  // the group fd, then the container
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  int id() const { return id_; }
  const std::string& node() const { return node_; }  // "/dev/vfio/7"
  int fd() const { return group_.get(); }
  int container_fd() const { return container_.get(); }
  // The functions opened through it: claim() is false when `bdf` already
  // is (a second VfioDevice for one function would share its MSI-X table).
  bool claim(const std::string& bdf);
  void unclaim(const std::string& bdf);
  const std::vector<std::string>& devices() const { return devices_; }  // in claim order

 private:
  int id_;
  std::string node_;
  UniqueFd container_;
  UniqueFd group_;
  std::vector<std::string> devices_;
};

// The IOMMU groups one owner (a Host's VFIO opener) has open: one Group per
// group node, shared by every VfioDevice opened with this set and kept
// alive by them (shared_ptr); the set holds them weakly, so the last device
// to close closes its group, and the set may go before its devices. Not
// thread-safe: one thread opens the devices. Without a set, VfioDevice::open
// opens a group of its own, and a second function of the group gets EBUSY.
class GroupSet {
 public:
  using Opener = std::function<Result<std::unique_ptr<Group>>(const VfioPaths&, int id, const std::string& bdf)>;
  GroupSet() : open_(&Group::open) {}
  explicit GroupSet(Opener open) : open_(std::move(open)) {}  // tests: a fake opener

  // The open Group of `id` under paths.dev_vfio, opening it when none is.
  Result<std::shared_ptr<Group>> acquire(const VfioPaths& paths, int id, const std::string& bdf);
  // Groups open now (held by at least one device).
  unsigned open_groups() const;
  // How often a group was opened: a shared group counts once.
  unsigned opens() const { return opens_; }

 private:
  Opener open_;
  std::map<std::string, std::weak_ptr<Group>> groups_;  // by group node
  unsigned opens_ = 0;
};

}  // namespace vfio

// An mmap of one BAR region of a VfioDevice. Unmapped when it goes, or
// earlier when the device is closed (valid() then says false and the
// accessors must not be used): it never keeps the device open. Not
// thread-safe against close(): stop every access before closing.
//
// It spans the whole BAR, but not every byte of it is mapped: the pages
// holding the MSI-X table are left PROT_NONE (holes()), and so is what a
// region offering only sparse areas does not offer. The kernel programmed
// that table with the messages it gave each vector; a write there through
// the mapping (kernels since 4.16 allow mmap of it) would send the
// device's interrupts to addresses the kernel never allocated. So a stray
// access through data() faults (SIGSEGV) instead of reprogramming a
// message, and read32()/write32() refuse offsets in a hole.
class BarMapping {
 public:
  BarMapping() = default;
  ~BarMapping() { reset(); }
  BarMapping(BarMapping&&) noexcept = default;
  BarMapping& operator=(BarMapping&& other) noexcept;
  BarMapping(const BarMapping&) = delete;
  BarMapping& operator=(const BarMapping&) = delete;

  bool valid() const;
  unsigned bar() const;
  std::size_t size() const;  // the region's size (the BAR's)
  volatile std::uint8_t* data() const;
  // The byte ranges that are mapped, and the holes between them (PROT_NONE:
  // an access faults). Both ascending; together they cover size().
  const std::vector<vfio::ByteRange>& mapped() const;
  std::vector<vfio::ByteRange> holes() const;
  // Whether [offset, offset + len) lies inside one mapped range.
  bool accessible(std::size_t offset, std::size_t len) const;
  // One 32-bit MMIO access. An offset that is not accessible(offset, 4)
  // (a hole, past the end, an invalid mapping) is refused: the read
  // returns 0xffffffff, what a PCI read nobody answers returns, and the
  // write is dropped; refused() counts both.
  std::uint32_t read32(std::size_t offset) const;
  void write32(std::size_t offset, std::uint32_t value) const;
  std::uint64_t refused() const { return refused_; }
  // munmap now; idempotent.
  void reset();
  // Takes over `size` bytes at addr, made by vfio::map_ranges() with
  // `mapped` (map_bar does this; tests map a memfd the same way).
  static BarMapping adopt(void* addr, std::size_t size, unsigned bar, std::vector<vfio::ByteRange> mapped);

 private:
  friend class VfioDevice;
  explicit BarMapping(std::shared_ptr<detail::BarRegion> region) : region_(std::move(region)) {}
  std::shared_ptr<detail::BarRegion> region_;
  mutable std::uint64_t refused_ = 0;
};

class VfioDevice final : public MsixDevice {
 public:
  // bdf: "DDDD:BB:DD.F" (or "BB:DD.F", domain 0000). The device must be
  // bound to vfio-pci and its IOMMU group viable; the errors say how to get
  // there. fault: tests only (base/fault.h), fails VFIO_DEVICE_SET_IRQS
  // and the mmap of map_bar(). groups: where the IOMMU group is shared with
  // the other functions of it this owner opened (two functions of one
  // group: a multi-function device, devices behind a bridge without ACS);
  // null: a group and container of this device's own.
  static Result<std::unique_ptr<VfioDevice>> open(const std::string& bdf, const VfioPaths& paths = {},
                                                  FaultHook fault = {}, vfio::GroupSet* groups = nullptr);
  ~VfioDevice() override;  // close()
  VfioDevice(const VfioDevice&) = delete;
  VfioDevice& operator=(const VfioDevice&) = delete;

  // MsixDevice.
  const std::string& name() const override { return bdf_; }
  const char* backend() const override { return "vfio"; }
  unsigned msix_count() const override { return msix_.count; }
  bool msix_can_grow() const override { return (msix_.flags & VFIO_IRQ_INFO_NORESIZE) == 0; }
  unsigned msix_enable_max() const override { return msix_enable_max_; }
  Status set_msix_eventfds(unsigned start, std::span<const int> fds) override;
  Status disable_msix() override;
  std::uint64_t consume_stamp(unsigned /*index*/, std::uint64_t /*count*/) override { return 0; }
  int request_fd() const override { return request_fd_.get(); }
  void close() override;

  // What open() learned (kept after close()).
  int iommu_group() const { return group_id_; }
  const vfio_device_info& device_info() const { return info_; }
  const vfio_irq_info& msix_info() const { return msix_; }
  const vfio_irq_info& req_info() const { return req_; }  // count 0: the kernel offers no device request
  // Entries MSI-X is enabled with now; 0 while disabled.
  unsigned msix_enabled() const { return msix_enabled_; }
  bool closed() const { return !device_fd_.valid(); }
  int device_fd() const { return device_fd_.get(); }
  // The group fd (shared with the group's other functions opened through
  // one GroupSet); -1 once closed.
  int group_fd() const { return group_ ? group_->fd() : -1; }

  // VFIO_DEVICE_GET_REGION_INFO(index): VFIO_PCI_BAR0_REGION_INDEX ..
  // VFIO_PCI_CONFIG_REGION_INDEX.
  Result<vfio_region_info> region_info(unsigned index) const;
  // pread/pwrite of a region at `offset` inside it (all or nothing).
  Status region_read(unsigned index, std::uint64_t offset, std::span<std::byte> out) const;
  Status region_write(unsigned index, std::uint64_t offset, std::span<const std::byte> in) const;
  // mmap of BAR `bar` (0..5), when the region allows it, with the pages of
  // the MSI-X table left out (see BarMapping).
  Result<BarMapping> map_bar(unsigned bar);
  // The MSI-X capability's layout; nullopt when the function has none.
  Result<std::optional<vfio::MsixLayout>> msix_layout() const;
  // VFIO_REGION_INFO_CAP_SPARSE_MMAP of region `index`: the only areas of
  // it that may be mmapped; nullopt when the region has no such cap (all
  // of it may be, if FLAG_MMAP says so).
  Result<std::optional<std::vector<vfio::ByteRange>>> sparse_mmap_areas(unsigned index) const;

  // PCI config space through the config region, like
  // pci_read_config_{byte,word,dword}: width 1, 2 or 4, little-endian.
  Result<std::uint32_t> config_read(unsigned offset, unsigned width) const;
  Status config_write(unsigned offset, unsigned width, std::uint32_t value) const;

 private:
  VfioDevice() = default;
  // *short_count (when given) receives the positive count a SET_IRQS that
  // enabled MSI-X with fewer entries than asked returned (else 0).
  Status set_irqs(std::uint32_t index, std::uint32_t flags, unsigned start, std::span<const int> fds, unsigned count,
                  unsigned* short_count = nullptr) const;
  Status check_open(const char* what) const;
  void release_group();

  std::string bdf_;
  FaultHook fault_;
  int group_id_ = -1;
  std::shared_ptr<vfio::Group> group_;  // released after the device fd closes
  UniqueFd device_fd_;
  UniqueFd request_fd_;  // kept open after close(), for whoever still polls it
  vfio_device_info info_{};
  vfio_irq_info msix_{};
  vfio_irq_info req_{};
  unsigned msix_enabled_ = 0;
  unsigned msix_enable_max_ = 0;  // msix_.count until the kernel answered short
  std::vector<std::weak_ptr<detail::BarRegion>> mappings_;
};

namespace vfio {

// "0000:00:01.0" from "0000:00:01.0" or "00:01.0"; an error naming the
// accepted form otherwise.
Result<std::string> normalize_bdf(const std::string& bdf);
// The driver a PCI function is bound to ("" when none), from sysfs.
std::string pci_driver(const VfioPaths& paths, const std::string& bdf);
// The IOMMU group's members other than `bdf`, each "BDF (driver)" or
// "BDF (no driver)", for the not-viable error.
std::vector<std::string> group_peers(const VfioPaths& paths, int group, const std::string& bdf);
// What to do about errno `err` from opening or ioctl'ing VFIO node `node`
// for `bdf` (EBUSY, EACCES, EPERM); "" for any other errno.
std::string errno_hint(int err, const std::string& node, const std::string& bdf);
// The error of VFIO_SET_IOMMU on the container. EPERM there is not about
// rights: vfio_iommu_type1 refuses a group on a platform without interrupt
// remapping unless allow_unsafe_interrupts is set (a device could then
// forge any MSI); the message says that and how to allow it knowingly.
Error set_iommu_error(const std::string& bdf, const std::string& container_node, int err);

}  // namespace vfio

}  // namespace irqd
