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
  std::size_t size = 0;  // the whole reservation: the BAR's size
  unsigned bar = 0;
  std::vector<vfio::ByteRange> mapped;  // the rest is PROT_NONE
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

const std::vector<vfio::ByteRange>& BarMapping::mapped() const {
  static const std::vector<vfio::ByteRange> kNone;
  return valid() ? region_->mapped : kNone;
}

std::vector<vfio::ByteRange> BarMapping::holes() const {
  std::vector<vfio::ByteRange> out;
  if (!valid()) return out;
  std::uint64_t at = 0;
  for (const vfio::ByteRange& r : region_->mapped) {
    if (r.offset > at) out.push_back({at, r.offset - at});
    at = r.offset + r.size;
  }
  if (at < region_->size) out.push_back({at, region_->size - at});
  return out;
}

bool BarMapping::accessible(std::size_t offset, std::size_t len) const {
  if (!valid()) return false;
  for (const vfio::ByteRange& r : region_->mapped)
    if (offset >= r.offset && len <= r.size && offset - r.offset <= r.size - len) return true;
  return false;
}

std::uint32_t BarMapping::read32(std::size_t offset) const {
  if (!accessible(offset, 4)) {
    ++refused_;
    return 0xffffffffu;
  }
  // One 32-bit MMIO load: a device register must not be read bytewise.
  return *reinterpret_cast<volatile std::uint32_t*>(data() + offset);
}

void BarMapping::write32(std::size_t offset, std::uint32_t value) const {
  if (!accessible(offset, 4)) {
    ++refused_;
    return;
  }
  *reinterpret_cast<volatile std::uint32_t*>(data() + offset) = value;
}

BarMapping BarMapping::adopt(void* addr, std::size_t size, unsigned bar, std::vector<vfio::ByteRange> mapped) {
  auto region = std::make_shared<detail::BarRegion>();
  region->addr = addr;
  region->size = size;
  region->bar = bar;
  region->mapped = std::move(mapped);
  return BarMapping(std::move(region));
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

std::vector<ByteRange> mappable_ranges(std::uint64_t bar_size, const std::optional<std::vector<ByteRange>>& sparse,
                                       const std::optional<ByteRange>& table, std::uint64_t page_size) {
  std::vector<ByteRange> allowed;
  if (sparse) {
    for (const ByteRange& a : *sparse)
      if (a.size != 0 && a.offset < bar_size) allowed.push_back({a.offset, std::min(a.size, bar_size - a.offset)});
    std::sort(allowed.begin(), allowed.end(),
              [](const ByteRange& x, const ByteRange& y) { return x.offset < y.offset; });
  } else if (bar_size != 0) {
    allowed.push_back({0, bar_size});
  }
  if (!table || table->size == 0) return allowed;
  // mmap works in pages: every page the table touches goes.
  const std::uint64_t hole_begin = table->offset / page_size * page_size;
  const std::uint64_t hole_end = (table->offset + table->size + page_size - 1) / page_size * page_size;
  std::vector<ByteRange> out;
  for (const ByteRange& a : allowed) {
    const std::uint64_t end = a.offset + a.size;
    if (end <= hole_begin || a.offset >= hole_end) {
      out.push_back(a);
      continue;
    }
    if (a.offset < hole_begin) out.push_back({a.offset, hole_begin - a.offset});
    if (end > hole_end) out.push_back({hole_end, end - hole_end});
  }
  return out;
}

Result<void*> map_ranges(int fd, std::uint64_t file_offset, std::uint64_t size, int prot,
                         const std::vector<ByteRange>& ranges, const FaultHook& fault) {
  // The reservation: address space only (no access, no memory), so the
  // holes fault and nothing else can be mapped into them.
  void* base = ::mmap(nullptr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED)
    return Error{"reserving " + std::to_string(size) + " bytes of address space failed: " + errno_string(errno)};
  for (const ByteRange& r : ranges) {
    int err = inject_fault(fault, "mmap");
    void* want = static_cast<std::uint8_t*>(base) + r.offset;
    void* got =
        err != 0 ? MAP_FAILED
                 : ::mmap(want, r.size, prot, MAP_SHARED | MAP_FIXED, fd, static_cast<off_t>(file_offset + r.offset));
    if (got == MAP_FAILED && err == 0) err = errno;
    if (got == MAP_FAILED) {
      ::munmap(base, size);
      return Error{"mmap of bytes " + std::to_string(r.offset) + "-" + std::to_string(r.offset + r.size - 1) +
                   " failed: " + errno_string(err)};
    }
  }
  return base;
}

std::vector<std::string> group_peers(const VfioPaths& paths, int group, const std::string& bdf) {
  std::vector<std::string> peers;
  for (const pci::GroupPeer& p : pci::read_group_peers(paths.sysfs, group, bdf))
    peers.push_back(p.bdf + " (" + (p.driver.empty() ? "no driver" : p.driver) + ")");
  return peers;
}

}  // namespace vfio

// ---------------------------------------------------------------- groups

namespace vfio {

Result<std::unique_ptr<Group>> Group::open(const VfioPaths& paths, int id, const std::string& bdf) {
  std::error_code ec;
  const std::string group_name = std::to_string(id);
  const std::string container_node = paths.dev_vfio + "/vfio";
  UniqueFd container_fd(::open(container_node.c_str(), O_RDWR | O_CLOEXEC));
  if (!container_fd.valid()) {
    const int err = errno;
    if (err == ENOENT) return Error{container_node + " is missing: load vfio-pci: modprobe vfio-pci"};
    return sys_error(bdf, "open " + container_node, container_node, err);
  }
  const std::string group_node = paths.dev_vfio + "/" + group_name;
  UniqueFd group_fd(::open(group_node.c_str(), O_RDWR | O_CLOEXEC));
  if (!group_fd.valid()) {
    const int err = errno;
    if (err == ENOENT && fs::exists(paths.dev_vfio + "/noiommu-" + group_name, ec))
      return Error{bdf + " is in VFIO no-IOMMU mode (" + paths.dev_vfio + "/noiommu-" + group_name +
                   "), which irqd does not use: enable the IOMMU (intel_iommu=on / amd_iommu=on)"};
    if (err == ENOENT)
      return Error{group_node + " is missing although " + bdf + " is bound to vfio-pci (is devtmpfs mounted on " +
                   paths.dev_vfio.substr(0, paths.dev_vfio.rfind('/')) + "?)"};
    return sys_error(bdf, "open " + group_node, group_node, err);
  }

  const int container = container_fd.get();
  const int group = group_fd.get();
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
    for (const auto& peer : vfio::group_peers(paths, id, bdf)) msg += " " + peer;
    return Error{msg};
  }
  if (int err = ioctl_errno(::ioctl(group, VFIO_GROUP_SET_CONTAINER, &container)))
    return sys_error(bdf, "VFIO_GROUP_SET_CONTAINER on " + group_node, group_node, err);
  if (int err = ioctl_errno(::ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)))
    return vfio::set_iommu_error(bdf, container_node, err);
  return std::make_unique<Group>(id, group_node, std::move(container_fd), std::move(group_fd));
}

Group::~Group() {
  // The reverse of open: the group leaves its container (the kernel
  // detaches it when its fd closes), then the container goes.
  group_.reset();
  container_.reset();
}

bool Group::claim(const std::string& bdf) {
  if (std::find(devices_.begin(), devices_.end(), bdf) != devices_.end()) return false;
  devices_.push_back(bdf);
  return true;
}

void Group::unclaim(const std::string& bdf) { std::erase(devices_, bdf); }

Result<std::shared_ptr<Group>> GroupSet::acquire(const VfioPaths& paths, int id, const std::string& bdf) {
  const std::string node = paths.dev_vfio + "/" + std::to_string(id);
  if (auto it = groups_.find(node); it != groups_.end()) {
    if (auto live = it->second.lock()) return live;
    groups_.erase(it);
  }
  auto opened = open_(paths, id, bdf);
  if (!opened) return opened.error();
  ++opens_;
  std::shared_ptr<Group> group(std::move(*opened));
  groups_[node] = group;
  return group;
}

unsigned GroupSet::open_groups() const {
  unsigned n = 0;
  for (const auto& [node, weak] : groups_) n += weak.expired() ? 0 : 1;
  return n;
}

}  // namespace vfio

// ---------------------------------------------------------------- open

Result<std::unique_ptr<VfioDevice>> VfioDevice::open(const std::string& bdf_in, const VfioPaths& paths, FaultHook fault,
                                                     vfio::GroupSet* groups) {
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

  std::shared_ptr<vfio::Group> shared;
  if (groups != nullptr) {
    auto acquired = groups->acquire(paths, d->group_id_, bdf);
    if (!acquired) return acquired.error();
    shared = std::move(*acquired);
  } else {
    auto own = vfio::Group::open(paths, d->group_id_, bdf);
    if (!own) return own.error();
    shared = std::move(*own);
  }
  // A second VfioDevice for the function would share its MSI-X table (and
  // the kernel would hand out a second device fd): refused.
  if (!shared->claim(bdf))
    return Error{bdf + " is open already in this process (IOMMU group " + group_name +
                 "): close that VfioDevice first"};
  d->group_ = std::move(shared);  // from here on, close() unclaims it
  const std::string group_node = d->group_->node();
  const int group = d->group_->fd();
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
  d->msix_enable_max_ = d->msix_.count;

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
                            unsigned count, unsigned* short_count) const {
  if (short_count != nullptr) *short_count = 0;
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
  const int rc = err == 0 ? ::ioctl(device_fd_.get(), VFIO_DEVICE_SET_IRQS, set) : -1;
  if (rc == 0) return ok_status();
  if (rc < 0 && err == 0) err = errno;
  std::string msg = bdf_ + ": VFIO_DEVICE_SET_IRQS(" +
                    (index == VFIO_PCI_MSIX_IRQ_INDEX  ? std::string("MSIX")
                     : index == VFIO_PCI_REQ_IRQ_INDEX ? std::string("REQ")
                                                       : std::to_string(index)) +
                    ", start " + std::to_string(start) + ", count " + std::to_string(count) + ")";
  if (rc > 0) {
    // vfio_msi_enable(): pci_alloc_irq_vectors(pdev, 1, start + count)
    // gave rc < start + count vectors; vfio-pci freed them and returns rc,
    // MSI-X disabled, no eventfd armed. errno means nothing here.
    const auto enabled = static_cast<unsigned>(rc);
    if (short_count != nullptr) *short_count = enabled;
    return Error{msg + " returned " + std::to_string(rc) + ": " + msix_short_message(enabled, start + count) +
                 "; MSI-X stays disabled: arm at most " + std::to_string(rc) +
                 " entries, or free interrupt vectors on the host (fewer devices, more CPUs)"};
  }
  msg += " failed: " + errno_string(err);
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
  unsigned short_count = 0;
  if (auto st = set_irqs(VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, start, fds,
                         count, &short_count);
      !st) {
    if (short_count != 0) msix_enable_max_ = short_count;
    return st;
  }
  // The first SET_IRQS enables MSI-X with start + count entries
  // (vfio_msi_enable); a table that can grow grows to what was armed.
  if (msix_enabled_ == 0 || msix_can_grow()) msix_enabled_ = std::max(msix_enabled_, start + count);
  // The kernel's latest answer: the host found that many after all.
  msix_enable_max_ = std::max(msix_enable_max_, msix_enabled_);
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

void VfioDevice::release_group() {
  if (!group_) return;
  group_->unclaim(bdf_);
  group_.reset();  // the group's last device: the group fd, then the container
}

void VfioDevice::close() {
  if (closed()) {
    release_group();  // an open() that failed after claiming its group
    return;
  }
  // DATA_NONE with count 0 disarms the request (count 1 would signal it).
  if (request_fd_.valid())
    (void)set_irqs(VFIO_PCI_REQ_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0, {}, 0);
  // A live mapping holds the device open: the kernel would wait on it.
  for (auto& weak : mappings_)
    if (auto region = weak.lock()) region->unmap();
  mappings_.clear();
  // Closing the device fd disables MSI-X and releases the function; the
  // group and container follow when no other function holds them.
  device_fd_.reset();
  release_group();
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
  auto sparse = sparse_mmap_areas(VFIO_PCI_BAR0_REGION_INDEX + bar);
  if (!sparse) return sparse.error();
  auto layout = msix_layout();
  if (!layout) return layout.error();
  std::optional<vfio::ByteRange> table;
  if (*layout && (*layout)->table_bar == bar) table = (*layout)->table();
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  std::vector<vfio::ByteRange> ranges = vfio::mappable_ranges(info->size, *sparse, table, page);
  int prot = 0;
  if ((info->flags & VFIO_REGION_INFO_FLAG_READ) != 0) prot |= PROT_READ;
  if ((info->flags & VFIO_REGION_INFO_FLAG_WRITE) != 0) prot |= PROT_WRITE;
  auto addr = vfio::map_ranges(device_fd_.get(), info->offset, info->size, prot, ranges, fault_);
  if (!addr)
    return Error{bdf_ + ": mmap of BAR " + std::to_string(bar) + " (" + std::to_string(info->size) +
                 " bytes): " + addr.error().message};
  BarMapping mapping = BarMapping::adopt(*addr, info->size, bar, std::move(ranges));
  std::erase_if(mappings_, [](const std::weak_ptr<detail::BarRegion>& w) { return w.expired(); });
  mappings_.push_back(mapping.region_);
  return mapping;
}

Result<std::optional<vfio::MsixLayout>> VfioDevice::msix_layout() const {
  auto status = config_read(PCI_STATUS, 2);
  if (!status) return status.error();
  if ((*status & PCI_STATUS_CAP_LIST) == 0) return std::optional<vfio::MsixLayout>{};
  auto ptr = config_read(PCI_CAPABILITY_LIST, 1);
  if (!ptr) return ptr.error();
  // At most 48 capabilities fit in config space: a longer chain loops.
  unsigned at = *ptr & ~3u;
  for (int hops = 0; at >= 0x40 && hops < 48; ++hops) {
    auto id = config_read(at + PCI_CAP_LIST_ID, 1);
    if (!id) return id.error();
    if (*id == PCI_CAP_ID_MSIX) {
      auto flags = config_read(at + PCI_MSIX_FLAGS, 2);
      if (!flags) return flags.error();
      auto table = config_read(at + PCI_MSIX_TABLE, 4);
      if (!table) return table.error();
      auto pba = config_read(at + PCI_MSIX_PBA, 4);
      if (!pba) return pba.error();
      vfio::MsixLayout l;
      l.table_size = (*flags & PCI_MSIX_FLAGS_QSIZE) + 1;
      l.table_bar = *table & PCI_MSIX_TABLE_BIR;
      l.table_offset = *table & PCI_MSIX_TABLE_OFFSET;
      l.pba_bar = *pba & PCI_MSIX_PBA_BIR;
      l.pba_offset = *pba & PCI_MSIX_PBA_OFFSET;
      return std::optional<vfio::MsixLayout>(l);
    }
    auto next = config_read(at + PCI_CAP_LIST_NEXT, 1);
    if (!next) return next.error();
    at = *next & ~3u;
  }
  return std::optional<vfio::MsixLayout>{};
}

Result<std::optional<std::vector<vfio::ByteRange>>> VfioDevice::sparse_mmap_areas(unsigned index) const {
  auto info = region_info(index);
  if (!info) return info.error();
  using Areas = std::optional<std::vector<vfio::ByteRange>>;
  // The kernel says how much room the capability chain needs in argsz;
  // asked again with that much, it fills the chain in after the struct.
  if ((info->flags & VFIO_REGION_INFO_FLAG_CAPS) == 0 || info->argsz <= sizeof(vfio_region_info)) return Areas{};
  std::vector<std::uint64_t> buf((info->argsz + 7) / 8);  // aligned for the caps' u64s
  auto* full = reinterpret_cast<vfio_region_info*>(buf.data());
  full->argsz = info->argsz;
  full->index = index;
  if (::ioctl(device_fd_.get(), VFIO_DEVICE_GET_REGION_INFO, full) != 0)
    return Error{bdf_ + ": VFIO_DEVICE_GET_REGION_INFO(" + std::to_string(index) + ", argsz " +
                 std::to_string(info->argsz) + ") failed: " + errno_string(errno)};
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(buf.data());
  const std::size_t len = std::min<std::size_t>(full->argsz, buf.size() * 8);
  std::uint32_t off = (full->flags & VFIO_REGION_INFO_FLAG_CAPS) != 0 ? full->cap_offset : 0;
  for (int hops = 0; off != 0 && hops < 64; ++hops) {
    if (off < sizeof(vfio_region_info) || off + sizeof(vfio_info_cap_header) > len)
      return Error{bdf_ + ": region " + std::to_string(index) + " capability at " + std::to_string(off) +
                   " lies outside the " + std::to_string(len) + " bytes the kernel returned"};
    vfio_info_cap_header header{};
    std::memcpy(&header, bytes + off, sizeof header);
    if (header.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
      vfio_region_info_cap_sparse_mmap sparse{};
      if (off + sizeof sparse > len) break;
      std::memcpy(&sparse, bytes + off, sizeof sparse);
      std::vector<vfio::ByteRange> areas;
      for (std::uint32_t i = 0; i < sparse.nr_areas; ++i) {
        const std::size_t at = off + sizeof sparse + i * sizeof(vfio_region_sparse_mmap_area);
        if (at + sizeof(vfio_region_sparse_mmap_area) > len) break;
        vfio_region_sparse_mmap_area a{};
        std::memcpy(&a, bytes + at, sizeof a);
        areas.push_back({a.offset, a.size});
      }
      return Areas(std::move(areas));
    }
    off = header.next;
  }
  return Areas{};
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
