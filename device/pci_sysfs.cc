// SPDX-License-Identifier: GPL-2.0-only

#include "device/pci_sysfs.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>
#include <system_error>
#include <utility>

#include "base/atomic_file.h"
#include "base/state_dir.h"
#include "base/unique_fd.h"

namespace irqd::pci {

namespace fs = std::filesystem;

namespace {

// PCI config space (include/uapi/linux/pci_regs.h).
constexpr unsigned PCI_STATUS = 0x06;
constexpr unsigned PCI_STATUS_CAP_LIST = 0x10;
constexpr unsigned PCI_HEADER_TYPE = 0x0e;
constexpr unsigned PCI_CAPABILITY_LIST = 0x34;
constexpr unsigned PCI_CAP_ID_MSIX = 0x11;
constexpr unsigned PCI_MSIX_FLAGS = 2;  // Message Control, from the capability
constexpr unsigned PCI_MSIX_FLAGS_QSIZE = 0x7ff;
constexpr unsigned PCI_STD_HEADER_SIZEOF = 0x40;
constexpr unsigned PCI_CFG_SPACE_SIZE = 0x100;
constexpr unsigned PCI_FIND_CAP_TTL = 48;
constexpr std::uint32_t PCI_CLASS_BRIDGE_PCI = 0x0604;
constexpr int PCI_HEADER_TYPE_NORMAL = 0;

constexpr const char* kIommuFix =
    "turn the IOMMU on (intel_iommu=on or amd_iommu=on on the kernel command line; a VM needs a vIOMMU)";

std::string devdir(const std::string& root, const std::string& bdf) { return root + "/bus/pci/devices/" + bdf; }
std::string driver_dir(const std::string& root, const std::string& driver) {
  return root + "/bus/pci/drivers/" + driver;
}
std::string probe_path(const std::string& root) { return root + "/bus/pci/drivers_probe"; }
std::string state_path(const PciPaths& paths, const std::string& bdf) { return paths.state_dir + "/" + bdf; }

// A sysfs attribute's text without its trailing newline; nullopt when it
// cannot be read.
std::optional<std::string> read_attr(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  std::string text;
  std::array<char, 4096> buf{};
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    text.append(buf.data(), static_cast<std::size_t>(n));
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// The last component a symlink points at ("" when there is no link):
// .../drivers/virtio-pci -> "virtio-pci", .../iommu_groups/7 -> "7".
std::string link_basename(const std::string& link) {
  std::error_code ec;
  const fs::path target = fs::read_symlink(link, ec);
  return ec ? "" : target.filename().string();
}

std::optional<long> parse_long(std::string_view text, int base) {
  if (base == 16 && (text.starts_with("0x") || text.starts_with("0X"))) text.remove_prefix(2);
  long v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, base);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

std::string hex_id(const std::optional<std::string>& attr) {
  if (!attr) return "?";
  std::string_view v = *attr;
  if (v.starts_with("0x")) v.remove_prefix(2);
  return std::string(v);
}

std::string hex6(std::uint32_t v) {
  std::array<char, 16> buf{};
  (void)std::snprintf(buf.data(), buf.size(), "0x%06x", v);
  return buf.data();
}

// The config space as this process may read it: 4096 (or 256) bytes as
// root, the first 64 otherwise (the kernel's pci_read_config() cuts it).
std::optional<std::vector<std::uint8_t>> read_config(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  std::vector<std::uint8_t> cfg(4096);
  std::size_t got = 0;
  while (got < cfg.size()) {
    const ssize_t n = ::pread(fd.get(), cfg.data() + got, cfg.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  cfg.resize(got);
  return cfg;
}

std::vector<GroupPeer> group_blockers(const std::vector<GroupPeer>& peers) {
  std::vector<GroupPeer> out;
  for (const GroupPeer& p : peers)
    if (!driver_leaves_group_viable(p.driver)) out.push_back(p);
  return out;
}

std::string peer_list(const std::vector<GroupPeer>& peers) {
  std::string out;
  for (const GroupPeer& p : peers) out += (out.empty() ? "" : ", ") + p.bdf + " (" + p.driver + ")";
  return out;
}

bool is_bridge(const PciFunction& fn) {
  return (fn.class_code >> 8) == PCI_CLASS_BRIDGE_PCI ||
         (fn.header_type >= 0 && fn.header_type != PCI_HEADER_TYPE_NORMAL);
}

std::string bridge_fix(const PciFunction& fn) {
  return "vfio-pci takes only type-0 (endpoint) functions, not bridges (class " + hex6(fn.class_code) +
         "); bind the devices behind it instead";
}

std::vector<VfioBlocker> vfio_blockers(const std::string& root, const PciFunction& fn) {
  std::vector<VfioBlocker> out;
  if (is_bridge(fn)) out.push_back({"PCI bridge", bridge_fix(fn)});
  if (fn.iommu_group < 0) out.push_back({"no IOMMU group", kIommuFix});
  if (!vfio_pci_loaded(root)) out.push_back({"vfio-pci not loaded", "modprobe vfio-pci"});
  if (auto others = group_blockers(fn.group_peers); !others.empty()) {
    const std::string group = std::to_string(fn.iommu_group);
    std::string fix = "VFIO opens group " + group + " only when every member is on vfio-pci or unbound: ";
    for (std::size_t i = 0; i < others.size(); i++) fix += (i ? ", " : "") + ("irqd bind " + others[i].bdf);
    out.push_back({"group " + group + " shared with " + peer_list(others), fix});
  }
  return out;
}

// '\n' as the two characters, so that an error stays one line.
std::string quoted(const std::string& value) {
  std::string out = "'";
  for (char c : value) out += c == '\n' ? std::string("\\n") : std::string(1, c);
  return out + "'";
}

// What to do about errno err from touching a sysfs or state file.
std::string errno_fix(int err, const std::string& bdf) {
  switch (err) {
    case EACCES:
    case EPERM: return ": run as root";
    case EROFS: return ": sysfs is read-only here (a container?); run irqd on the host, as root";
    case EBUSY: return ": " + bdf + " is busy (another process or driver holds it); try again once it is released";
    case ENODEV: return ": " + bdf + " went away (hot-unplugged?); `irqd devices` lists what is there";
    default: return "";
  }
}

Error write_error(const std::string& path, const std::string& value, int err, const std::string& bdf) {
  return Error{"writing " + quoted(value) + " to " + path + " failed: " + errno_string(err) + errno_fix(err, bdf)};
}

Error unwritable(const std::string& path, int err, const std::string& bdf) {
  if (err == ENOENT)
    return Error{path + " is missing (a kernel without it, or not sysfs); " + bdf + " cannot be moved with it"};
  return Error{"cannot write " + path + ": " + errno_string(err) + errno_fix(err, bdf)};
}

// Whether this process may write each file, before anything is changed:
// not being root is then one error up front, not a half-done bind.
Status preflight(const std::vector<std::string>& paths, const std::string& bdf) {
  for (const std::string& path : paths) {
    if (::access(path.c_str(), W_OK) != 0) return unwritable(path, errno, bdf);
  }
  return ok_status();
}

void log(const SysfsIo& io, const std::string& line) {
  if (io.log) io.log(line);
}

// ------------------------------------------------------------ state file

constexpr std::string_view kStateKey = "driver=";

Status write_state(const PciPaths& paths, const std::string& bdf, const std::string& driver) {
  if (Status s = ensure_state_dir(paths.state_dir); !s)
    return Error{s.error().message + " (it keeps the original driver for irqd unbind)"};
  const std::string path = state_path(paths, bdf);
  // Renamed into place, synced: another process never reads half a file,
  // and a crash leaves the old state or the new one.
  if (Status s = replace_file(path, std::string(kStateKey) + driver + "\n"); !s)
    return Error{s.error().message + " (it keeps the original driver for irqd unbind)"};
  return ok_status();
}

// The original driver ("" for none); nullopt when there is no state file.
Result<std::optional<std::string>> read_state(const PciPaths& paths, const std::string& bdf) {
  const std::string path = state_path(paths, bdf);
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::optional<std::string>{};
  auto text = read_attr(path);
  if (!text) return Error{"cannot read " + path + " (it keeps the original driver of " + bdf + ")"};
  if (!text->starts_with(kStateKey) || text->find('\n') != std::string::npos)
    return Error{path + " is malformed (expected one line driver=NAME): remove it, and " + bdf +
                 " is then treated as not bound by irqd"};
  return std::optional<std::string>(text->substr(kStateKey.size()));
}

void remove_state(const PciPaths& paths, const std::string& bdf) {
  std::error_code ec;
  fs::remove(state_path(paths, bdf), ec);
}

std::string driver_or_none(const std::string& driver) { return driver.empty() ? "none" : driver; }

}  // namespace

std::string current_driver(const std::string& root, const std::string& bdf) {
  return link_basename(devdir(root, bdf) + "/driver");
}

std::vector<GroupPeer> read_group_peers(const std::string& root, int group, const std::string& bdf) {
  std::vector<GroupPeer> peers;
  std::error_code ec;
  const std::string dir = root + "/kernel/iommu_groups/" + std::to_string(group) + "/devices";
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string peer = entry.path().filename().string();
    if (peer == bdf) continue;
    std::string driver = current_driver(root, peer);
    peers.push_back({std::move(peer), std::move(driver)});
  }
  std::sort(peers.begin(), peers.end(), [](const GroupPeer& a, const GroupPeer& b) { return a.bdf < b.bdf; });
  return peers;
}

// ------------------------------------------------------------ reading

Result<std::string> parse_bdf(const std::string& text) {
  static constexpr std::string_view kForm = "xxxx:xx:xx.x";
  bool ok = text.size() == kForm.size();
  for (std::size_t i = 0; ok && i < text.size(); i++)
    ok = kForm[i] == 'x' ? std::isxdigit(static_cast<unsigned char>(text[i])) != 0 : text[i] == kForm[i];
  std::string bdf = text;
  std::transform(bdf.begin(), bdf.end(), bdf.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // Device 0..1f, function 0..7 (5 and 3 bits of devfn).
  if (ok) ok = parse_long(std::string_view(bdf).substr(8, 2), 16).value_or(32) <= 0x1f && bdf[11] <= '7';
  if (!ok)
    return Error{"malformed PCI address '" + text +
                 "' (accepted: DDDD:BB:DD.F in hex, device 00-1f, function 0-7, e.g. 0000:00:03.0; "
                 "`irqd devices` lists them)"};
  return bdf;
}

MsixCount msix_from_config(std::span<const std::uint8_t> config) {
  using State = MsixCount::State;
  if (config.size() < PCI_STD_HEADER_SIZEOF) return {State::kUnreadable, 0};
  // A capability past what could be read: the kernel gives non-root only
  // the standard header.
  const State past_end = config.size() < PCI_CFG_SPACE_SIZE ? State::kNeedsRoot : State::kUnreadable;
  const unsigned status = config[PCI_STATUS] | (config[PCI_STATUS + 1] << 8U);
  if ((status & PCI_STATUS_CAP_LIST) == 0) return {State::kNone, 0};
  unsigned pos = config[PCI_CAPABILITY_LIST];
  for (unsigned ttl = PCI_FIND_CAP_TTL; ttl > 0; ttl--) {
    pos &= ~3U;
    if (pos < PCI_STD_HEADER_SIZEOF) break;
    if (pos + 2 > config.size()) return {past_end, 0};
    const unsigned id = config[pos];
    if (id == 0xff) break;
    if (id == PCI_CAP_ID_MSIX) {
      if (pos + PCI_MSIX_FLAGS + 2 > config.size()) return {past_end, 0};
      const unsigned flags = config[pos + PCI_MSIX_FLAGS] | (config[pos + PCI_MSIX_FLAGS + 1] << 8U);
      return {State::kCount, (flags & PCI_MSIX_FLAGS_QSIZE) + 1};
    }
    pos = config[pos + 1];
  }
  return {State::kNone, 0};
}

std::string format_msix(const MsixCount& msix) {
  switch (msix.state) {
    case MsixCount::State::kCount: return std::to_string(msix.count);
    case MsixCount::State::kNone: return "none";
    case MsixCount::State::kNeedsRoot: return "unknown (needs root)";
    case MsixCount::State::kUnreadable: return "unknown";
  }
  return "unknown";
}

bool driver_leaves_group_viable(const std::string& driver) {
  // vfio-pci's variant drivers (mlx5_vfio_pci, hisi_acc_vfio_pci, ...)
  // carry "vfio" in their names; pci-stub and pcieport set
  // driver_managed_dma.
  return driver.empty() || driver.find("vfio") != std::string::npos || driver == "pci-stub" || driver == "pcieport";
}

bool is_vfio_pci_driver(const std::string& sysfs_root, const std::string& driver) {
  if (driver.empty()) return false;
  if (driver == kVfioPci) return true;
  std::error_code ec;
  const fs::path module = fs::read_symlink(driver_dir(sysfs_root, driver) + "/module", ec);
  if (!ec && !module.filename().empty() &&
      fs::exists(sysfs_root + "/module/vfio_pci_core/holders/" + module.filename().string(), ec))
    return true;
  return driver.find("vfio_pci") != std::string::npos || driver.find("vfio-pci") != std::string::npos;
}

bool vfio_pci_loaded(const std::string& sysfs_root) {
  std::error_code ec;
  return fs::is_directory(driver_dir(sysfs_root, kVfioPci), ec);
}

Result<PciFunction> read_pci_function(const std::string& sysfs_root, const std::string& bdf) {
  const std::string dir = devdir(sysfs_root, bdf);
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return Error{"no PCI device " + bdf + " (no " + dir + "; `irqd devices` lists the devices)"};
  PciFunction fn;
  fn.bdf = bdf;
  fn.vendor = hex_id(read_attr(dir + "/vendor"));
  fn.device = hex_id(read_attr(dir + "/device"));
  if (auto cls = read_attr(dir + "/class"))
    fn.class_code = static_cast<std::uint32_t>(parse_long(*cls, 16).value_or(0));
  fn.driver = link_basename(dir + "/driver");
  if (auto ovr = read_attr(dir + "/driver_override"); ovr && *ovr != "(null)") fn.driver_override = *ovr;
  if (auto group = parse_long(link_basename(dir + "/iommu_group"), 10)) fn.iommu_group = static_cast<int>(*group);
  if (auto node = read_attr(dir + "/numa_node")) fn.numa_node = static_cast<int>(parse_long(*node, 10).value_or(-1));
  if (auto cfg = read_config(dir + "/config")) {
    fn.msix = msix_from_config(*cfg);
    if (cfg->size() > PCI_HEADER_TYPE) fn.header_type = (*cfg)[PCI_HEADER_TYPE] & 0x7f;
  }
  if (fn.iommu_group >= 0) fn.group_peers = read_group_peers(sysfs_root, fn.iommu_group, bdf);
  fn.vfio_blockers = vfio_blockers(sysfs_root, fn);
  return fn;
}

Result<std::vector<PciFunction>> list_pci_functions(const std::string& sysfs_root) {
  const std::string dir = sysfs_root + "/bus/pci/devices";
  std::error_code ec;
  std::vector<std::string> bdfs;
  for (const auto& entry : fs::directory_iterator(dir, ec)) bdfs.push_back(entry.path().filename().string());
  if (ec) return Error{"cannot list " + dir + ": " + ec.message() + " (is sysfs mounted on " + sysfs_root + "?)"};
  std::sort(bdfs.begin(), bdfs.end());
  std::vector<PciFunction> out;
  for (const std::string& bdf : bdfs) {
    // A function removed while listing is simply not listed.
    if (auto fn = read_pci_function(sysfs_root, bdf)) out.push_back(std::move(*fn));
  }
  return out;
}

// ------------------------------------------------------------ writing

int write_sysfs(const std::string& path, const std::string& value) {
  // O_TRUNC as the shell's `>`; no O_CREAT: a missing attribute is an
  // error, never a new regular file.
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  if (!fd.valid()) return errno;
  for (;;) {
    const ssize_t n = ::write(fd.get(), value.data(), value.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    // A sysfs store takes the whole buffer or fails.
    return static_cast<std::size_t>(n) == value.size() ? 0 : EIO;
  }
}

// ------------------------------------------------------------ in use

namespace {

constexpr int kMaxUserDepth = 10;   // SCSI: BDF/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda1
constexpr int kMaxHolderDepth = 8;  // dm on md on a partition ...
constexpr unsigned kIffUp = 0x1;    // IFF_UP, include/uapi/linux/if.h

// mountinfo's octal escapes (\040 for a space) undone.
std::string unescape_mount(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])) != 0) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct Mount {
  std::string dev;     // "259:2"
  std::string source;  // "/dev/nvme0n1p2"
  std::string point;   // "/"
};

// <proc>/self/mountinfo: "ID PARENT MAJ:MIN ROOT POINT OPTS [TAGS] - FSTYPE SOURCE SUPER".
Result<std::vector<Mount>> read_mounts(const std::string& proc) {
  const std::string path = proc + "/self/mountinfo";
  auto text = read_attr(path);
  if (!text) return Error{"cannot read " + path + ": " + errno_string(errno)};
  std::vector<Mount> out;
  std::istringstream lines(*text);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream f(line);
    std::string id, parent, dev, root, point, word;
    if (!(f >> id >> parent >> dev >> root >> point)) continue;
    while (f >> word && word != "-") {
    }
    std::string fstype, source;
    f >> fstype >> source;
    out.push_back({dev, unescape_mount(source), unescape_mount(point)});
  }
  return out;
}

// <proc>/swaps: a header, then "FILENAME TYPE SIZE USED PRIORITY".
Result<std::vector<std::string>> read_swaps(const std::string& proc) {
  const std::string path = proc + "/swaps";
  auto text = read_attr(path);
  if (!text) return Error{"cannot read " + path + ": " + errno_string(errno)};
  std::vector<std::string> out;
  std::istringstream lines(*text);
  std::string line;
  std::getline(lines, line);  // Filename Type Size Used Priority
  for (; std::getline(lines, line);) {
    std::istringstream f(line);
    std::string name;
    if (f >> name) out.push_back(unescape_mount(name));
  }
  return out;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// The mount points of block device `name` (its sysfs directory `dir`).
std::vector<std::string> mount_points(const std::vector<Mount>& mounts, const std::string& name,
                                      const std::string& dir) {
  const std::string dev = read_attr(dir + "/dev").value_or("");
  std::vector<std::string> out;
  for (const Mount& m : mounts)
    if ((!dev.empty() && m.dev == dev) || m.source == "/dev/" + name) out.push_back(m.point);
  return out;
}

// What makes a block device busy, checked on the device itself and on
// whatever holds it (followed through <sysfs>/class/block/HOLDER).
struct BlockState {
  std::vector<std::string> mounts;
  bool swap = false;
};

void block_state(const std::string& name, const std::string& dir, const std::vector<Mount>& mounts,
                 const std::vector<std::string>& swaps, BlockState& state) {
  for (std::string& p : mount_points(mounts, name, dir)) state.mounts.push_back(std::move(p));
  state.swap = state.swap || std::find(swaps.begin(), swaps.end(), "/dev/" + name) != swaps.end();
}

// The entries of a directory, by name; none when it cannot be read. Never
// throws: /proc entries vanish while they are read.
std::vector<fs::path> list_dir(const std::string& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    out.push_back(it->path());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> holders_of(const std::string& dir) {
  std::vector<std::string> out;
  for (const fs::path& p : list_dir(dir + "/holders")) out.push_back(p.filename().string());
  return out;
}

// "dm-0 (mounted on /: the root filesystem)", "dm-1 (swap)", "md0".
std::string holder_text(const std::string& sysfs, const std::string& holder, const std::vector<Mount>& mounts,
                        const std::vector<std::string>& swaps, bool& root_fs, int depth) {
  const std::string dir = sysfs + "/class/block/" + holder;
  BlockState st;
  block_state(holder, dir, mounts, swaps, st);
  std::vector<std::string> what;
  if (!st.mounts.empty()) {
    const bool root = std::find(st.mounts.begin(), st.mounts.end(), "/") != st.mounts.end();
    root_fs = root_fs || root;
    what.push_back("mounted on " + join(st.mounts, ", ") + (root ? ": the root filesystem" : ""));
  }
  if (st.swap) what.push_back("swap");
  if (depth < kMaxHolderDepth)
    for (const std::string& h : holders_of(dir))
      what.push_back("held by " + holder_text(sysfs, h, mounts, swaps, root_fs, depth + 1));
  return what.empty() ? holder : holder + " (" + join(what, "; ") + ")";
}

// A block device directory: a dev file and holders/ (disks and partitions).
bool is_block_dir(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "dev", ec) && fs::is_directory(dir / "holders", ec);
}

}  // namespace

std::vector<DeviceUser> find_users(const PciPaths& paths, const std::string& bdf) {
  std::vector<DeviceUser> users;
  std::vector<fs::path> nets;
  std::vector<fs::path> blocks;
  std::error_code ec;
  // The device's own directory: its bus/pci/devices link resolved once,
  // then nothing below it followed.
  const fs::path top = fs::canonical(devdir(paths.sysfs, bdf), ec);
  if (ec) return users;
  fs::recursive_directory_iterator it(top, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::directory_entry& e = *it;
    std::error_code sec;
    if (!e.is_directory(sec) || e.is_symlink(sec)) {
      continue;
    }
    const fs::path parent = e.path().parent_path();
    if (parent.filename() == "net" && parent != top) nets.push_back(e.path());
    if (is_block_dir(e.path())) blocks.push_back(e.path());
    if (it.depth() + 1 >= kMaxUserDepth) it.disable_recursion_pending();
  }
  std::sort(nets.begin(), nets.end());
  std::sort(blocks.begin(), blocks.end());

  for (const fs::path& n : nets) {
    const std::string name = n.filename().string();
    const auto flags = parse_long(read_attr((n / "flags").string()).value_or(""), 16);
    if (flags && (static_cast<unsigned long>(*flags) & kIffUp) != 0)
      users.push_back({DeviceUser::Kind::kInterfaceUp, name, name + " is up", false});
  }
  if (blocks.empty()) return users;

  auto mounts = read_mounts(paths.proc);
  auto swaps = read_swaps(paths.proc);
  for (const fs::path& b : blocks) {
    const std::string name = b.filename().string();
    const std::string dir = b.string();
    if (!mounts) {
      users.push_back({DeviceUser::Kind::kUnknown, name,
                       "whether " + name + " is mounted is unknown: " + mounts.error().message, false});
    } else if (auto points = mount_points(*mounts, name, dir); !points.empty()) {
      const bool root = std::find(points.begin(), points.end(), "/") != points.end();
      users.push_back({DeviceUser::Kind::kMounted, name,
                       name + " is mounted on " + join(points, ", ") + (root ? " (the root filesystem)" : ""), root});
    }
    if (!swaps) {
      users.push_back({DeviceUser::Kind::kUnknown, name,
                       "whether " + name + " is swap is unknown: " + swaps.error().message, false});
    } else if (std::find(swaps->begin(), swaps->end(), "/dev/" + name) != swaps->end()) {
      users.push_back({DeviceUser::Kind::kSwap, name, name + " is swap", false});
    }
    const std::vector<Mount> no_mounts;
    const std::vector<std::string> no_swaps;
    for (const std::string& h : holders_of(dir)) {
      bool root = false;
      const std::string text =
          holder_text(paths.sysfs, h, mounts ? *mounts : no_mounts, swaps ? *swaps : no_swaps, root, 1);
      users.push_back({DeviceUser::Kind::kHeld, name, name + " is held by " + text, root});
    }
  }
  return users;
}

std::vector<VfioHolder> find_vfio_holders(const PciPaths& paths, const std::string& bdf, int group) {
  std::vector<std::string> nodes;
  if (group >= 0) nodes.push_back("/dev/vfio/" + std::to_string(group));
  for (const fs::path& e : list_dir(devdir(paths.sysfs, bdf) + "/vfio-dev"))
    nodes.push_back("/dev/vfio/devices/" + e.filename().string());

  std::vector<VfioHolder> out;
  for (const fs::path& p : list_dir(paths.proc)) {
    const auto pid = parse_long(p.filename().string(), 10);
    if (!pid) continue;
    std::string file;
    for (const fs::path& f : list_dir(p.string() + "/fd")) {
      std::error_code lec;
      const std::string target = fs::read_symlink(f, lec).string();
      if (lec) continue;
      if (std::find(nodes.begin(), nodes.end(), target) != nodes.end()) {
        file = target;
        break;
      }
      if (target == "anon_inode:[vfio-device]") {
        // fdinfo names the device (vfio-device-syspath: /sys/devices/.../BDF).
        const std::string info = read_attr(p.string() + "/fdinfo/" + f.filename().string()).value_or("");
        const std::string key = "vfio-device-syspath: ";
        if (const auto at = info.find(key); at != std::string::npos) {
          const std::string syspath = info.substr(at + key.size(), info.find('\n', at) - at - key.size());
          if (fs::path(syspath).filename() == bdf) {
            file = "a VFIO device fd";
            break;
          }
        }
      }
    }
    if (file.empty()) continue;
    out.push_back({static_cast<int>(*pid), read_attr(p.string() + "/comm").value_or("?"), file});
  }
  std::sort(out.begin(), out.end(), [](const VfioHolder& a, const VfioHolder& b) { return a.pid < b.pid; });
  return out;
}

namespace {

// After a failed bind: clear driver_override and let the original driver
// take the device back. Returns what became of it, for the error.
std::string undo_bind(const std::string& bdf, const std::string& original, const PciPaths& paths, const SysfsIo& io) {
  const std::string root = paths.sysfs;
  remove_state(paths, bdf);
  if (int err = io.write(devdir(root, bdf) + "/driver_override", "\n"); err != 0)
    return "; undo failed too: " + write_error(devdir(root, bdf) + "/driver_override", "\n", err, bdf).message;
  log(io, bdf + ": driver_override cleared");
  if (!original.empty() && current_driver(root, bdf).empty()) {
    if (int err = io.write(probe_path(root), bdf); err != 0)
      return "; undo failed too: " + write_error(probe_path(root), bdf, err, bdf).message;
    log(io, bdf + ": probed (" + probe_path(root) + ")");
  }
  return "; undone: driver_override cleared, driver now " + driver_or_none(current_driver(root, bdf));
}

// Bind's in-use check: refused with every user named, or (forced) each
// logged before the first write. The root filesystem takes force 2: a
// machine that loses / mid-bind does not come back by itself.
Status check_users(const std::string& bdf, const PciPaths& paths, const SysfsIo& io, const BindOptions& options) {
  const std::vector<DeviceUser> users = find_users(paths, bdf);
  if (users.empty()) return ok_status();
  std::vector<std::string> lines;
  bool root_fs = false;
  for (const DeviceUser& u : users) {
    lines.push_back(u.line);
    root_fs = root_fs || u.root_fs;
  }
  const std::string list = join(lines, "; ");
  if (options.force == 0)
    return Error{bdf + " is in use: " + list + ": its driver's unbind takes these away; stop them, or use --force" +
                 (root_fs ? " twice (it holds the root filesystem)" : "")};
  if (root_fs && options.force < 2)
    return Error{bdf + " holds the root filesystem: " + list +
                 ": binding it to vfio-pci takes / away from this machine, so one --force is not enough "
                 "(--force --force, if that is what you mean)"};
  for (const std::string& line : lines) log(io, bdf + ": in use, taken anyway (--force): " + line);
  return ok_status();
}

// Unbind's holder check. irqd lets go on the device request that the
// unbind write makes the kernel send (and repeat every 10 s); any other
// holder may never, and the write would wait for it unkillable (D state).
Status check_holders(const std::string& bdf, int group, const PciPaths& paths, const SysfsIo& io,
                     const UnbindOptions& options) {
  const std::vector<VfioHolder> holders = find_vfio_holders(paths, bdf, group);
  std::vector<std::string> others;
  for (const VfioHolder& h : holders)
    if (!h.is_irqd()) others.push_back("pid " + std::to_string(h.pid) + " (" + h.comm + ") through " + h.file);
  if (!others.empty() && !options.force)
    return Error{bdf + " is held by " + join(others, ", ") +
                 ": the kernel's unbind would wait, unkillable (D state), until it lets go of the device; stop it, or "
                 "use --force to wait for it"};
  for (const VfioHolder& h : holders)
    log(io, bdf + ": held by pid " + std::to_string(h.pid) + " (" + h.comm + ") through " + h.file +
                (h.is_irqd() ? ": irqd lets go when the kernel sends it the device request, which this unbind does"
                             : ": not irqd; the unbind waits until it lets go (--force)"));
  return ok_status();
}

// The function at an address as the user typed it.
Result<PciFunction> read_pci_function_at(const std::string& bdf_text, const std::string& root) {
  auto bdf = parse_bdf(bdf_text);
  if (!bdf) return bdf.error();
  return read_pci_function(root, *bdf);
}

}  // namespace

Result<BindReport> bind_to_vfio(const std::string& bdf_text, const PciPaths& paths, const SysfsIo& io,
                                const BindOptions& options) {
  auto fn = read_pci_function_at(bdf_text, paths.sysfs);
  if (!fn) return fn.error();
  const std::string bdf = fn->bdf;
  const std::string root = paths.sysfs;

  BindReport report;
  report.bdf = bdf;
  report.original_driver = fn->driver;
  report.iommu_group = fn->iommu_group;
  report.group_blockers = group_blockers(fn->group_peers);
  if (fn->driver == kVfioPci) {
    log(io, bdf + " is already on vfio-pci: nothing to do");
    return report;
  }
  if (is_vfio_pci_driver(root, fn->driver)) {
    log(io, bdf + " is already on " + fn->driver + ", a vfio-pci variant driver: nothing to do");
    return report;
  }
  // Every reason at once: loading vfio-pci does not help a device without
  // an IOMMU group, and the user should learn that before modprobe.
  std::string refused;
  if (is_bridge(*fn)) refused = bdf + " is a PCI bridge: " + bridge_fix(*fn);
  if (fn->iommu_group < 0)
    refused += (refused.empty() ? "" : "; ") + bdf + " has no IOMMU group, so vfio-pci cannot take it: " + kIommuFix;
  if (!vfio_pci_loaded(root))
    refused += (refused.empty() ? "" : "; ") + std::string("vfio-pci is not loaded (no ") + driver_dir(root, kVfioPci) +
               "): load it with `modprobe vfio-pci`";
  if (!refused.empty()) return Error{refused};
  if (auto ok = check_users(bdf, paths, io, options); !ok) return ok.error();

  const std::string override_path = devdir(root, bdf) + "/driver_override";
  const std::string unbind_path = driver_dir(root, fn->driver) + "/unbind";
  std::vector<std::string> targets{override_path, probe_path(root)};
  if (!fn->driver.empty()) targets.push_back(unbind_path);
  if (auto ok = preflight(targets, bdf); !ok) return ok.error();
  // Remembered first: whatever happens next, unbind can give it back.
  if (auto ok = write_state(paths, bdf, fn->driver); !ok) return ok.error();

  // driver_override before the unbind, so that no other driver grabs the
  // device in between.
  if (int err = io.write(override_path, kVfioPci); err != 0) {
    remove_state(paths, bdf);
    return write_error(override_path, kVfioPci, err, bdf);
  }
  log(io, bdf + ": driver_override = vfio-pci");
  std::optional<Error> failed;
  if (!fn->driver.empty()) {
    if (int err = io.write(unbind_path, bdf); err != 0)
      failed = write_error(unbind_path, bdf, err, bdf);
    else
      log(io, bdf + ": unbound from " + fn->driver);
  }
  if (!failed) {
    if (int err = io.write(probe_path(root), bdf); err != 0)
      failed = write_error(probe_path(root), bdf, err, bdf);
    else
      log(io, bdf + ": probed (" + probe_path(root) + ")");
  }
  if (!failed) {
    const std::string now = current_driver(root, bdf);
    if (now != kVfioPci)
      failed = Error{"vfio-pci did not take " + bdf + ": its driver is " + driver_or_none(now) +
                     " after driver_override and drivers_probe (`dmesg` says why)"};
  }
  if (failed) return Error{failed->message + undo_bind(bdf, fn->driver, paths, io)};
  log(io, bdf + ": now on vfio-pci (was " + driver_or_none(fn->driver) + ")");
  report.changed = true;
  return report;
}

Result<UnbindReport> unbind_from_vfio(const std::string& bdf_text, const PciPaths& paths, const SysfsIo& io,
                                      const UnbindOptions& options) {
  auto fn = read_pci_function_at(bdf_text, paths.sysfs);
  if (!fn) return fn.error();
  const std::string bdf = fn->bdf;
  const std::string root = paths.sysfs;
  auto state = read_state(paths, bdf);
  if (!state) return state.error();

  UnbindReport report;
  report.bdf = bdf;
  report.was_on_vfio = fn->driver == kVfioPci;
  report.original_known = state->has_value();
  report.original_driver = state->value_or("");
  report.driver = fn->driver;
  // Only irqd's own override: another one (pci-stub, ...) is not ours to clear.
  const bool clear_override = fn->driver_override == kVfioPci;
  const bool probe = !report.original_driver.empty() && (report.was_on_vfio || fn->driver.empty());
  if (!report.was_on_vfio && !clear_override && !probe) {
    // A state file left by a bind someone else undid says nothing now.
    if (report.original_known) remove_state(paths, bdf);
    log(io, bdf + " is not on vfio-pci (driver " + driver_or_none(fn->driver) + "): nothing to undo");
    return report;
  }

  const std::string vfio_unbind = driver_dir(root, kVfioPci) + "/unbind";
  const std::string override_path = devdir(root, bdf) + "/driver_override";
  std::vector<std::string> targets;
  if (report.was_on_vfio) targets.push_back(vfio_unbind);
  if (clear_override) targets.push_back(override_path);
  if (probe) targets.push_back(probe_path(root));
  if (auto ok = preflight(targets, bdf); !ok) return ok.error();
  if (report.was_on_vfio)
    if (auto ok = check_holders(bdf, fn->iommu_group, paths, io, options); !ok) return ok.error();

  if (report.was_on_vfio) {
    const std::string group = fn->iommu_group >= 0 ? std::to_string(fn->iommu_group) : "N";
    log(io, bdf + ": unbinding from vfio-pci (waits until its VFIO user lets go of it; `fuser -v /dev/vfio/" + group +
                "` names it)");
    if (int err = io.write(vfio_unbind, bdf); err != 0) return write_error(vfio_unbind, bdf, err, bdf);
    log(io, bdf + ": unbound from vfio-pci");
  } else {
    log(io, bdf + " is not on vfio-pci (driver " + driver_or_none(fn->driver) + ")");
  }
  // Cleared before the probe: with "vfio-pci" still there, the probe
  // would hand the device straight back to vfio-pci.
  if (clear_override) {
    if (int err = io.write(override_path, "\n"); err != 0) return write_error(override_path, "\n", err, bdf);
    log(io, bdf + ": driver_override cleared");
  }
  if (probe) {
    if (int err = io.write(probe_path(root), bdf); err != 0) return write_error(probe_path(root), bdf, err, bdf);
    log(io, bdf + ": probed (" + probe_path(root) + ")");
  }

  report.changed = true;
  report.driver = current_driver(root, bdf);
  if (report.was_on_vfio && report.driver == kVfioPci)
    return Error{bdf + " is still on vfio-pci after writing it to " + vfio_unbind + " (`dmesg` says why)"};
  if (probe && report.driver != report.original_driver)
    return Error{report.original_driver + " did not take " + bdf + " back: its driver is " +
                 driver_or_none(report.driver) + " after drivers_probe (is it loaded? `modprobe " +
                 report.original_driver + "`; `dmesg` says why)"};
  remove_state(paths, bdf);
  if (!report.original_known)
    log(io, bdf + ": left unbound: its original driver is unknown (irqd did not bind it: no " + state_path(paths, bdf) +
                "); `echo " + bdf + " > /sys/bus/pci/drivers_probe` lets the kernel choose one");
  else if (report.original_driver.empty())
    log(io, bdf + ": left unbound, as it was before irqd bind");
  else
    log(io, bdf + ": back on " + report.driver);
  return report;
}

}  // namespace irqd::pci
