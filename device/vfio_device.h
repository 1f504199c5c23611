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
//                         close device, group and container fds
//
// Every fd is close-on-exec and the device must never be held across a
// fork() without exec(): a child that inherits the device fd or a BAR
// mapping keeps the device open, and an unbind then waits for it forever.

#pragma once

#include <linux/vfio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
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

// An mmap of one BAR region of a VfioDevice. Unmapped when it goes, or
// earlier when the device is closed (valid() then says false and the
// accessors must not be used): it never keeps the device open. Not
// thread-safe against close(): stop every access before closing.
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
  // MMIO accesses; offset + 4 must lie inside size().
  std::uint32_t read32(std::size_t offset) const;
  void write32(std::size_t offset, std::uint32_t value) const;
  // munmap now; idempotent.
  void reset();

 private:
  friend class VfioDevice;
  explicit BarMapping(std::shared_ptr<detail::BarRegion> region) : region_(std::move(region)) {}
  std::shared_ptr<detail::BarRegion> region_;
};

class VfioDevice final : public MsixDevice {
 public:
  // bdf: "DDDD:BB:DD.F" (or "BB:DD.F", domain 0000). The device must be
  // bound to vfio-pci and its IOMMU group viable; the errors say how to get
  // there. fault: tests only (base/fault.h), fails VFIO_DEVICE_SET_IRQS
  // and the mmap of map_bar().
  static Result<std::unique_ptr<VfioDevice>> open(const std::string& bdf, const VfioPaths& paths = {},
                                                  FaultHook fault = {});
  ~VfioDevice() override;  // close()
  VfioDevice(const VfioDevice&) = delete;
  VfioDevice& operator=(const VfioDevice&) = delete;

  // MsixDevice.
  const std::string& name() const override { return bdf_; }
  const char* backend() const override { return "vfio"; }
  unsigned msix_count() const override { return msix_.count; }
  bool msix_can_grow() const override { return (msix_.flags & VFIO_IRQ_INFO_NORESIZE) == 0; }
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

  // VFIO_DEVICE_GET_REGION_INFO(index): VFIO_PCI_BAR0_REGION_INDEX ..
  // VFIO_PCI_CONFIG_REGION_INDEX.
  Result<vfio_region_info> region_info(unsigned index) const;
  // pread/pwrite of a region at `offset` inside it (all or nothing).
  Status region_read(unsigned index, std::uint64_t offset, std::span<std::byte> out) const;
  Status region_write(unsigned index, std::uint64_t offset, std::span<const std::byte> in) const;
  // mmap of BAR `bar` (0..5), when the region allows it.
  Result<BarMapping> map_bar(unsigned bar);

  // PCI config space through the config region, like
  // pci_read_config_{byte,word,dword}: width 1, 2 or 4, little-endian.
  Result<std::uint32_t> config_read(unsigned offset, unsigned width) const;
  Status config_write(unsigned offset, unsigned width, std::uint32_t value) const;

 private:
  VfioDevice() = default;
  Status set_irqs(std::uint32_t index, std::uint32_t flags, unsigned start, std::span<const int> fds,
                  unsigned count) const;
  Status check_open(const char* what) const;

  std::string bdf_;
  FaultHook fault_;
  int group_id_ = -1;
  UniqueFd container_fd_;
  UniqueFd group_fd_;
  UniqueFd device_fd_;
  UniqueFd request_fd_;  // kept open after close(), for whoever still polls it
  vfio_device_info info_{};
  vfio_irq_info msix_{};
  vfio_irq_info req_{};
  unsigned msix_enabled_ = 0;
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
