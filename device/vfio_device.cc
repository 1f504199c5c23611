// SPDX-License-Identifier: GPL-2.0-only

#include "device/vfio_device.h"

#include <fcntl.h>
#include <linux/pci_regs.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <utility>

#include "device/pci_sysfs.h"

namespace irqd {

namespace detail {
// One live mmap. Shared by the BarMapping that uses it and (weakly) by the
// device, so whichever goes first unmaps it, once.
struct BarRegion {
  void* addr = nullptr;
  std::size_t size = 0;
  unsigned bar = 0;
  void unmap() {
    if (addr != nullptr) ::munmap(addr, size);
    addr = nullptr;
  }
  BarRegion() = default;
  ~BarRegion() { unmap(); }
  BarRegion(const BarRegion&) = delete;
  BarRegion& operator=(const BarRegion&) = delete;
  BarRegion(BarRegion&&) = delete;
  BarRegion& operator=(BarRegion&&) = delete;
};
}  // namespace detail

namespace {

namespace fs = std::filesystem;

std::string hex(std::uint32_t v) {
  char buf[16];
  (void)std::snprintf(buf, sizeof buf, "0x%x", v);
  return buf;
}

// The last path component a sysfs symlink points at ("" when there is no
// link): .../iommu_groups/7 -> "7", .../drivers/vfio-pci -> "vfio-pci".
std::string link_basename(const std::string& link) {
  std::error_code ec;
  fs::path target = fs::read_symlink(link, ec);
  if (ec) return "";
  return target.filename().string();
}

Error sys_error(const std::string& bdf, const std::string& what, const std::string& node, int err) {
  return Error{bdf + ": " + what + " failed: " + errno_string(err) + vfio::errno_hint(err, node, bdf)};
}

int ioctl_errno(int rc) { return rc < 0 ? errno : 0; }

}  // namespace

// ---------------------------------------------------------------- BarMapping

BarMapping& BarMapping::operator=(BarMapping&& other) noexcept {
  if (this != &other) {
    reset();
    region_ = std::move(other.region_);
  }
  return *this;
}

bool BarMapping::valid() const { return region_ != nullptr && region_->addr != nullptr; }
unsigned BarMapping::bar() const { return region_ ? region_->bar : 0; }
std::size_t BarMapping::size() const { return valid() ? region_->size : 0; }
volatile std::uint8_t* BarMapping::data() const {
  return valid() ? static_cast<volatile std::uint8_t*>(region_->addr) : nullptr;
}

std::uint32_t BarMapping::read32(std::size_t offset) const {
  // One 32-bit MMIO load: a device register must not be read bytewise.
  return *reinterpret_cast<volatile std::uint32_t*>(data() + offset);
}

void BarMapping::write32(std::size_t offset, std::uint32_t value) const {
  *reinterpret_cast<volatile std::uint32_t*>(data() + offset) = value;
}

void BarMapping::reset() {
  if (region_) region_->unmap();
  region_.reset();
}

// ---------------------------------------------------------------- sysfs helpers

namespace vfio {

Result<std::string> normalize_bdf(const std::string& bdf) {
  // The short form BB:DD.F is domain 0000; the rest is pci::parse_bdf's.
  auto full = pci::parse_bdf(bdf.size() == 7 ? "0000:" + bdf : bdf);
  if (!full) return Error{"invalid PCI address '" + bdf + "' (expected DDDD:BB:DD.F or BB:DD.F, e.g. 0000:00:01.0)"};
  return full;
}

std::string pci_driver(const VfioPaths& paths, const std::string& bdf) { return pci::current_driver(paths.sysfs, bdf); }

std::string errno_hint(int err, const std::string& node, const std::string& bdf) {
  switch (err) {
    case EBUSY: return ": another process holds " + bdf + " or its IOMMU group (find it with `fuser -v " + node + "`)";
    case EACCES:
    case EPERM: return ": run as root, or give this user " + node + " (chown, or a udev rule)";
    default: return "";
  }
}

Error set_iommu_error(const std::string& bdf, const std::string& container_node, int err) {
  if (err != EPERM) return sys_error(bdf, "VFIO_SET_IOMMU(VFIO_TYPE1v2_IOMMU)", container_node, err);
  return Error{bdf + ": VFIO_SET_IOMMU(VFIO_TYPE1v2_IOMMU) failed: " + errno_string(err) +
               ": this platform has no interrupt remapping, and vfio_iommu_type1 refuses it (with it off, the "
               "device could send any MSI it likes); enable interrupt remapping in the firmware or on the kernel "
               "command line (intremap=on, a VM needs a vIOMMU with interrupt remapping), or accept the risk "
               "knowingly: echo 1 > /sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts (persistently: "
               "options vfio_iommu_type1 allow_unsafe_interrupts=1 in /etc/modprobe.d/)"};
}

std::vector<std::string> group_peers(const VfioPaths& paths, int group, const std::string& bdf) {
  std::vector<std::string> peers;
  for (const pci::GroupPeer& p : pci::read_group_peers(paths.sysfs, group, bdf))
    peers.push_back(p.bdf + " (" + (p.driver.empty() ? "no driver" : p.driver) + ")");
  return peers;
}

}  // namespace vfio

// ---------------------------------------------------------------- open

Result<std::unique_ptr<VfioDevice>> VfioDevice::open(const std::string& bdf_in, const VfioPaths& paths,
                                                     FaultHook fault) {
  auto norm = vfio::normalize_bdf(bdf_in);
  if (!norm) return norm.error();
  const std::string bdf = *norm;

  // sysfs first: it answers "why not" better than any ioctl can.
  const std::string devdir = paths.sysfs + "/bus/pci/devices/" + bdf;
  std::error_code ec;
  if (!fs::exists(devdir, ec))
    return Error{"no PCI device " + bdf + " (" + devdir + " is missing; `lspci -D` lists the addresses)"};
  const std::string group_name = link_basename(devdir + "/iommu_group");
  if (group_name.empty())
    return Error{bdf + " has no IOMMU group: no IOMMU is active; enable the IOMMU (intel_iommu=on / amd_iommu=on " +
                 "on the kernel command line, VT-d / AMD-Vi in the firmware)"};
  char* end = nullptr;
  const long group_id = std::strtol(group_name.c_str(), &end, 10);
  if (*end != '\0' || group_id < 0 || group_id > INT_MAX)
    return Error{bdf + ": unexpected IOMMU group '" + group_name + "' in " + devdir + "/iommu_group"};
  const std::string driver = vfio::pci_driver(paths, bdf);
  // vfio-pci or a variant driver: both give the same VFIO device.
  if (!pci::is_vfio_pci_driver(paths.sysfs, driver)) {
    std::string msg = driver.empty() ? bdf + " is not bound to any driver" : bdf + " is bound to " + driver;
    msg += ", not vfio-pci: bind it with `irqd bind " + bdf + "`";
    if (!fs::exists(paths.sysfs + "/bus/pci/drivers/vfio-pci", ec))
      msg += " (vfio-pci is not loaded: modprobe vfio-pci)";
    return Error{msg};
  }

  std::unique_ptr<VfioDevice> d(new VfioDevice());
  d->bdf_ = bdf;
  d->fault_ = std::move(fault);
  d->group_id_ = static_cast<int>(group_id);

  const std::string container_node = paths.dev_vfio + "/vfio";
  d->container_fd_ = UniqueFd(::open(container_node.c_str(), O_RDWR | O_CLOEXEC));
  if (!d->container_fd_.valid()) {
    const int err = errno;
    if (err == ENOENT) return Error{container_node + " is missing: load vfio-pci: modprobe vfio-pci"};
    return sys_error(bdf, "open " + container_node, container_node, err);
  }
  const std::string group_node = paths.dev_vfio + "/" + group_name;
  d->group_fd_ = UniqueFd(::open(group_node.c_str(), O_RDWR | O_CLOEXEC));
  if (!d->group_fd_.valid()) {
    const int err = errno;
    if (err == ENOENT && fs::exists(paths.dev_vfio + "/noiommu-" + group_name, ec))
      return Error{bdf + " is in VFIO no-IOMMU mode (" + paths.dev_vfio + "/noiommu-" + group_name +
                   "), which irqd does not use: enable the IOMMU (intel_iommu=on / amd_iommu=on)"};
    if (err == ENOENT)
      return Error{group_node + " is missing although " + bdf + " is bound to vfio-pci (is devtmpfs mounted on " +
                   paths.dev_vfio.substr(0, paths.dev_vfio.rfind('/')) + "?)"};
    return sys_error(bdf, "open " + group_node, group_node, err);
  }

  const int container = d->container_fd_.get();
  const int group = d->group_fd_.get();
  const int version = ::ioctl(container, VFIO_GET_API_VERSION);
  if (version < 0)
    return Error{container_node + " is not a VFIO container (VFIO_GET_API_VERSION: " + errno_string(errno) + ")"};
  if (version != VFIO_API_VERSION)
    return Error{container_node + ": VFIO API version " + std::to_string(version) + ", irqd speaks " +
                 std::to_string(VFIO_API_VERSION)};
  if (::ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0)
    return Error{container_node + " does not offer VFIO_TYPE1v2_IOMMU: load it: modprobe vfio_iommu_type1"};

  vfio_group_status status{};
  status.argsz = sizeof status;
  if (int err = ioctl_errno(::ioctl(group, VFIO_GROUP_GET_STATUS, &status)))
    return sys_error(bdf, "VFIO_GROUP_GET_STATUS on " + group_node, group_node, err);
  if ((status.flags & VFIO_GROUP_FLAGS_VIABLE) == 0) {
    std::string msg = "IOMMU group " + group_name + " of " + bdf +
                      " is not viable: every device in it must be bound to vfio-pci or to no driver;";
    for (const auto& peer : vfio::group_peers(paths, d->group_id_, bdf)) msg += " " + peer;
    return Error{msg};
  }
  if (int err = ioctl_errno(::ioctl(group, VFIO_GROUP_SET_CONTAINER, &container)))
    return sys_error(bdf, "VFIO_GROUP_SET_CONTAINER on " + group_node, group_node, err);
  if (int err = ioctl_errno(::ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)))
    return vfio::set_iommu_error(bdf, container_node, err);
  // The kernel sets FD_CLOEXEC on the device fd itself.
  d->device_fd_ = UniqueFd(::ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf.c_str()));
  if (!d->device_fd_.valid()) return sys_error(bdf, "VFIO_GROUP_GET_DEVICE_FD", group_node, errno);
  const int dev = d->device_fd_.get();

  d->info_.argsz = sizeof d->info_;
  if (int err = ioctl_errno(::ioctl(dev, VFIO_DEVICE_GET_INFO, &d->info_)))
    return sys_error(bdf, "VFIO_DEVICE_GET_INFO", group_node, err);
  if ((d->info_.flags & VFIO_DEVICE_FLAGS_PCI) == 0)
    return Error{bdf + " is not a vfio-pci device (VFIO_DEVICE_GET_INFO flags " + hex(d->info_.flags) + ")"};
  // An index the device does not have reads as count 0.
  auto irq_info = [&](std::uint32_t index, vfio_irq_info* out) -> Status {
    *out = vfio_irq_info{};
    out->argsz = sizeof *out;
    out->index = index;
    if (index >= d->info_.num_irqs) return ok_status();
    if (int err = ioctl_errno(::ioctl(dev, VFIO_DEVICE_GET_IRQ_INFO, out)))
      return sys_error(bdf, "VFIO_DEVICE_GET_IRQ_INFO(" + std::to_string(index) + ")", group_node, err);
    return ok_status();
  };
  if (auto st = irq_info(VFIO_PCI_MSIX_IRQ_INDEX, &d->msix_); !st) return st.error();
  if (auto st = irq_info(VFIO_PCI_REQ_IRQ_INDEX, &d->req_); !st) return st.error();

  // MSI-X messages are memory writes by the device: without Bus Master not
  // one is delivered (observed in the lab: every fire lost). Memory space
  // so the BARs answer.
  auto command = d->config_read(PCI_COMMAND, 2);
  if (!command) return command.error();
  if (auto st = d->config_write(PCI_COMMAND, 2, *command | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER); !st)
    return st.error();

  if (d->req_.count >= 1 && (d->req_.flags & VFIO_IRQ_INFO_EVENTFD) != 0) {
    d->request_fd_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!d->request_fd_.valid()) return sys_error(bdf, "eventfd for the device request", group_node, errno);
    const int fd = d->request_fd_.get();
    if (auto st = d->set_irqs(VFIO_PCI_REQ_IRQ_INDEX, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, 0,
                              std::span<const int>(&fd, 1), 1);
        !st)
      return st.error();
  }
  return d;
}

VfioDevice::~VfioDevice() { close(); }

// ---------------------------------------------------------------- SET_IRQS

Status VfioDevice::check_open(const char* what) const {
  if (closed()) return Error{bdf_ + ": " + what + " on a closed device"};
  return ok_status();
}

Status VfioDevice::set_irqs(std::uint32_t index, std::uint32_t flags, unsigned start, std::span<const int> fds,
                            unsigned count) const {
  // struct vfio_irq_set ends in the fds (__s32 each); build it in u32s so
  // the header is aligned.
  std::vector<std::uint32_t> buf((sizeof(vfio_irq_set) + sizeof(std::int32_t) * fds.size() + 3) / 4);
  auto* set = reinterpret_cast<vfio_irq_set*>(buf.data());
  set->argsz = static_cast<std::uint32_t>(sizeof(vfio_irq_set) + sizeof(std::int32_t) * fds.size());
  set->flags = flags;
  set->index = index;
  set->start = start;
  set->count = count;
  if (!fds.empty()) std::memcpy(set->data, fds.data(), sizeof(std::int32_t) * fds.size());
  int err = inject_fault(fault_, "VFIO_DEVICE_SET_IRQS");
  if (err == 0 && ::ioctl(device_fd_.get(), VFIO_DEVICE_SET_IRQS, set) == 0) return ok_status();
  if (err == 0) err = errno;
  std::string msg = bdf_ + ": VFIO_DEVICE_SET_IRQS(" +
                    (index == VFIO_PCI_MSIX_IRQ_INDEX  ? std::string("MSIX")
                     : index == VFIO_PCI_REQ_IRQ_INDEX ? std::string("REQ")
                                                       : std::to_string(index)) +
                    ", start " + std::to_string(start) + ", count " + std::to_string(count) +
                    ") failed: " + errno_string(err);
  if (err == ENOSPC) msg += ": the CPUs are out of interrupt vectors; arm fewer entries or give the host more CPUs";
  return Error{msg};
}

Status VfioDevice::set_msix_eventfds(unsigned start, std::span<const int> fds) {
  if (auto st = check_open("set_msix_eventfds"); !st) return st;
  if (fds.empty()) return Error{bdf_ + ": set_msix_eventfds with no eventfds (disable_msix() disarms every entry)"};
  const std::uint64_t last = std::uint64_t{start} + fds.size() - 1;
  if (last >= msix_.count)
    return Error{bdf_ + ": MSI-X entries " + std::to_string(start) + "-" + std::to_string(last) +
                 " lie outside its table of " + std::to_string(msix_.count) + " (0-" +
                 std::to_string(msix_.count == 0 ? 0 : msix_.count - 1) + ")"};
  if (msix_enabled_ != 0 && last >= msix_enabled_ && !msix_can_grow())
    return Error{bdf_ + ": MSI-X entries " + std::to_string(start) + "-" + std::to_string(last) + " lie past the " +
                 std::to_string(msix_enabled_) +
                 " MSI-X is enabled with and the table cannot grow (VFIO_IRQ_INFO_NORESIZE): disable MSI-X and " +
                 "arm them together"};
  const auto count = static_cast<unsigned>(fds.size());
  if (auto st =
          set_irqs(VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, start, fds, count);
      !st)
    return st;
  // The first SET_IRQS enables MSI-X with start + count entries
  // (vfio_msi_enable); a table that can grow grows to what was armed.
  if (msix_enabled_ == 0 || msix_can_grow()) msix_enabled_ = std::max(msix_enabled_, start + count);
  return ok_status();
}

Status VfioDevice::disable_msix() {
  if (auto st = check_open("disable_msix"); !st) return st;
  // vfio-pci refuses DATA_NONE with count 0 when MSI-X is not enabled:
  // already disabled is what the caller asked for.
  if (msix_enabled_ == 0) return ok_status();
  if (auto st = set_irqs(VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0, {}, 0); !st)
    return st;
  msix_enabled_ = 0;
  return ok_status();
}

void VfioDevice::close() {
  if (closed()) return;
  // DATA_NONE with count 0 disarms the request (count 1 would signal it).
  if (request_fd_.valid())
    (void)set_irqs(VFIO_PCI_REQ_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0, {}, 0);
  // A live mapping holds the device open: the kernel would wait on it.
  for (auto& weak : mappings_)
    if (auto region = weak.lock()) region->unmap();
  mappings_.clear();
  // Closing the device fd disables MSI-X and releases the function; the
  // group and container follow.
  device_fd_.reset();
  group_fd_.reset();
  container_fd_.reset();
  msix_enabled_ = 0;
}

// ---------------------------------------------------------------- regions

Result<vfio_region_info> VfioDevice::region_info(unsigned index) const {
  if (auto st = check_open("VFIO_DEVICE_GET_REGION_INFO"); !st) return st.error();
  if (index >= info_.num_regions)
    return Error{bdf_ + ": no region " + std::to_string(index) + " (the device has " +
                 std::to_string(info_.num_regions) + ")"};
  vfio_region_info info{};
  info.argsz = sizeof info;
  info.index = index;
  if (::ioctl(device_fd_.get(), VFIO_DEVICE_GET_REGION_INFO, &info) != 0)
    return Error{bdf_ + ": VFIO_DEVICE_GET_REGION_INFO(" + std::to_string(index) + ") failed: " + errno_string(errno)};
  return info;
}

Status VfioDevice::region_read(unsigned index, std::uint64_t offset, std::span<std::byte> out) const {
  auto info = region_info(index);
  if (!info) return info.error();
  if (offset + out.size() > info->size)
    return Error{bdf_ + ": read of " + std::to_string(out.size()) + " bytes at " + std::to_string(offset) +
                 " past the end of region " + std::to_string(index) + " (" + std::to_string(info->size) + " bytes)"};
  const ssize_t n = ::pread(device_fd_.get(), out.data(), out.size(), static_cast<off_t>(info->offset + offset));
  if (n != static_cast<ssize_t>(out.size()))
    return Error{bdf_ + ": pread of region " + std::to_string(index) + " at " + std::to_string(offset) +
                 " failed: " + (n < 0 ? errno_string(errno) : "short read")};
  return ok_status();
}

Status VfioDevice::region_write(unsigned index, std::uint64_t offset, std::span<const std::byte> in) const {
  auto info = region_info(index);
  if (!info) return info.error();
  if (offset + in.size() > info->size)
    return Error{bdf_ + ": write of " + std::to_string(in.size()) + " bytes at " + std::to_string(offset) +
                 " past the end of region " + std::to_string(index) + " (" + std::to_string(info->size) + " bytes)"};
  const ssize_t n = ::pwrite(device_fd_.get(), in.data(), in.size(), static_cast<off_t>(info->offset + offset));
  if (n != static_cast<ssize_t>(in.size()))
    return Error{bdf_ + ": pwrite of region " + std::to_string(index) + " at " + std::to_string(offset) +
                 " failed: " + (n < 0 ? errno_string(errno) : "short write")};
  return ok_status();
}

Result<BarMapping> VfioDevice::map_bar(unsigned bar) {
  if (bar > VFIO_PCI_BAR5_REGION_INDEX) return Error{bdf_ + ": no BAR " + std::to_string(bar) + " (BARs are 0-5)"};
  auto info = region_info(VFIO_PCI_BAR0_REGION_INDEX + bar);
  if (!info) return info.error();
  if (info->size == 0) return Error{bdf_ + ": BAR " + std::to_string(bar) + " is not implemented (size 0)"};
  if ((info->flags & VFIO_REGION_INFO_FLAG_MMAP) == 0)
    return Error{bdf_ + ": BAR " + std::to_string(bar) + " cannot be mmapped (region flags " + hex(info->flags) +
                 "); use region_read/region_write"};
  int prot = 0;
  if ((info->flags & VFIO_REGION_INFO_FLAG_READ) != 0) prot |= PROT_READ;
  if ((info->flags & VFIO_REGION_INFO_FLAG_WRITE) != 0) prot |= PROT_WRITE;
  int err = inject_fault(fault_, "mmap");
  void* addr = err != 0
                   ? MAP_FAILED
                   : ::mmap(nullptr, info->size, prot, MAP_SHARED, device_fd_.get(), static_cast<off_t>(info->offset));
  if (addr == MAP_FAILED && err == 0) err = errno;
  if (addr == MAP_FAILED)
    return Error{bdf_ + ": mmap of BAR " + std::to_string(bar) + " (" + std::to_string(info->size) +
                 " bytes) failed: " + errno_string(err)};
  auto region = std::make_shared<detail::BarRegion>();
  region->addr = addr;
  region->size = info->size;
  region->bar = bar;
  std::erase_if(mappings_, [](const std::weak_ptr<detail::BarRegion>& w) { return w.expired(); });
  mappings_.push_back(region);
  return BarMapping(std::move(region));
}

Result<std::uint32_t> VfioDevice::config_read(unsigned offset, unsigned width) const {
  if (width != 1 && width != 2 && width != 4)
    return Error{bdf_ + ": config read width " + std::to_string(width) + " (1, 2 or 4)"};
  std::byte raw[4] = {};
  if (auto st = region_read(VFIO_PCI_CONFIG_REGION_INDEX, offset, std::span<std::byte>(raw, width)); !st)
    return st.error();
  std::uint32_t v = 0;
  for (unsigned i = 0; i < width; i++) v |= std::to_integer<std::uint32_t>(raw[i]) << (8 * i);
  return v;
}

Status VfioDevice::config_write(unsigned offset, unsigned width, std::uint32_t value) const {
  if (width != 1 && width != 2 && width != 4)
    return Error{bdf_ + ": config write width " + std::to_string(width) + " (1, 2 or 4)"};
  std::byte raw[4] = {};
  for (unsigned i = 0; i < width; i++) raw[i] = static_cast<std::byte>(value >> (8 * i));
  return region_write(VFIO_PCI_CONFIG_REGION_INDEX, offset, std::span<const std::byte>(raw, width));
}

}  // namespace irqd
