// SPDX-License-Identifier: GPL-2.0-only

#include "cli/devices_command.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <ostream>
#include <utility>

#include "base/table.h"
#include "cli/irqs_command.h"
#include "cli/test_env.h"

namespace irqd {

namespace {

using nlohmann::json;

std::string hex6(std::uint32_t v) {
  std::array<char, 16> buf{};
  (void)std::snprintf(buf.data(), buf.size(), "0x%06x", v);
  return buf.data();
}

std::string or_none(const std::string& s) { return s.empty() ? "none" : s; }
std::string int_or_none(int v) { return v < 0 ? "none" : std::to_string(v); }

std::string vfio_cell(const pci::PciFunction& fn) {
  if (fn.vfio_can_take()) return fn.driver == pci::kVfioPci ? "yes (on vfio-pci)" : "yes";
  std::string out = "no: ";
  for (std::size_t i = 0; i < fn.vfio_blockers.size(); i++) out += (i ? "; " : "") + fn.vfio_blockers[i].reason;
  return out;
}

json str_or_null(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }
json int_or_null(int v) { return v < 0 ? json(nullptr) : json(v); }

// One line, whatever the message holds.
int fail(std::ostream& err, const std::string& command, std::string message, int code) {
  std::replace(message.begin(), message.end(), '\n', ' ');
  err << "irqd: error: irqd " << command << ": " << message << "\n";
  err.flush();
  return code;
}

// Lines go out as the actions happen (an unbind may wait on a VFIO user);
// the writes are counted so that an error says whether anything changed.
struct Progress {
  std::ostream& out;
  int writes = 0;

  pci::SysfsIo io() {
    pci::SysfsIo io;
    io.write = [this](const std::string& path, const std::string& value) {
      writes++;
      return pci::write_sysfs(path, value);
    };
    io.log = [this](const std::string& line) { out << line << "\n" << std::flush; };
    return io;
  }
  int exit_code() const { return writes == 0 ? 2 : 1; }
};

}  // namespace

pci::PciPaths devices_paths_from_env() {
  pci::PciPaths paths;
  if (const char* root = test_env(kSysfsRootEnv)) paths.sysfs = root;
  if (const char* dir = test_env(kBindStateDirEnv)) paths.state_dir = dir;
  if (const char* proc = test_env(kProcRootEnv)) paths.proc = proc;
  return paths;
}

std::string devices_help() {
  return std::string(
             "BDF is DDDD:BB:DD.F as `irqd devices` lists it. bind moves the function to vfio-pci "
             "(driver_override) and remembers its driver in /run/irqd/bound/BDF; unbind gives it back "
             "(it waits until a VFIO user such as irqd serve lets go). Both need root.\n"
             "bind refuses a function in use (an interface up; a block device mounted, swapped on or held by "
             "dm/md), naming each user; --force binds it anyway, --force --force also when it holds the root "
             "filesystem. unbind names the processes holding /dev/vfio/GROUP and refuses when one is not irqd "
             "(the kernel's unbind would wait for it in D state); --force unbinds anyway.\n"
             "For testing: ") +
         kSysfsRootEnv + "=DIR reads and writes a fake sysfs tree instead of /sys; " + kBindStateDirEnv +
         "=DIR keeps the original drivers there instead of /run/irqd/bound; " + kProcRootEnv +
         "=DIR reads mounts, swaps and processes there instead of /proc.\n";
}

std::string devices_list_help() {
  return std::string(
             "GROUP: the IOMMU group; MSI-X: the function's MSI-X table size; VFIO: whether irqd bind can give the "
             "function to vfio-pci, else why not, with the fix under fixes:. irqd bind BDF and irqd unbind BDF move "
             "a function listed here.\n"
             "For testing: ") +
         kSysfsRootEnv + "=DIR reads a fake sysfs tree instead of /sys.\n";
}

std::string format_devices_table(const std::vector<pci::PciFunction>& functions) {
  std::vector<std::vector<std::string>> rows{
      {"BDF", "ID", "CLASS", "DRIVER", "OVERRIDE", "GROUP", "NUMA", "MSI-X", "VFIO"}};
  std::vector<std::pair<std::string, std::string>> fixes;
  for (const pci::PciFunction& fn : functions) {
    rows.push_back({fn.bdf, fn.vendor + ":" + fn.device, hex6(fn.class_code), or_none(fn.driver),
                    or_none(fn.driver_override), int_or_none(fn.iommu_group), int_or_none(fn.numa_node),
                    pci::format_msix(fn.msix), vfio_cell(fn)});
    for (const pci::VfioBlocker& b : fn.vfio_blockers) {
      std::pair<std::string, std::string> fix{b.reason, b.fix};
      if (std::find(fixes.begin(), fixes.end(), fix) == fixes.end()) fixes.push_back(std::move(fix));
    }
  }
  std::string out = align(rows);
  if (!fixes.empty()) out += "fixes:\n";
  for (const auto& [reason, fix] : fixes) out.append("  ").append(reason).append(": ").append(fix).append("\n");
  return out;
}

std::string format_devices_json(const std::vector<pci::PciFunction>& functions, bool vfio_pci_loaded) {
  json devices = json::array();
  for (const pci::PciFunction& fn : functions) {
    json peers = json::array();
    for (const pci::GroupPeer& p : fn.group_peers) peers.push_back({{"bdf", p.bdf}, {"driver", str_or_null(p.driver)}});
    json reasons = json::array();
    for (const pci::VfioBlocker& b : fn.vfio_blockers) reasons.push_back({{"reason", b.reason}, {"fix", b.fix}});
    json msix = nullptr;
    json note = nullptr;
    switch (fn.msix.state) {
      case pci::MsixCount::State::kCount: msix = fn.msix.count; break;
      case pci::MsixCount::State::kNone: msix = 0; break;
      case pci::MsixCount::State::kNeedsRoot: note = "needs root"; break;
      case pci::MsixCount::State::kUnreadable: note = "config space unreadable"; break;
    }
    devices.push_back({{"bdf", fn.bdf},
                       {"vendor", fn.vendor},
                       {"device", fn.device},
                       {"class", hex6(fn.class_code)},
                       {"driver", str_or_null(fn.driver)},
                       {"driver_override", str_or_null(fn.driver_override)},
                       {"iommu_group", int_or_null(fn.iommu_group)},
                       {"numa_node", int_or_null(fn.numa_node)},
                       {"msix", msix},
                       {"msix_note", note},
                       {"group_peers", peers},
                       {"vfio", {{"can_take", fn.vfio_can_take()}, {"reasons", reasons}}}});
  }
  json doc = {{"vfio_pci_loaded", vfio_pci_loaded}, {"devices", devices}};
  return doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::vector<std::string> format_bind_outcome(const pci::BindReport& report) {
  const std::string group = "IOMMU group " + std::to_string(report.iommu_group);
  if (report.iommu_group < 0) return {};
  if (report.group_blockers.empty())
    return {group + " is viable: `irqd serve --device vfio:" + report.bdf + "` can open " + report.bdf};
  std::string others;
  std::string binds;
  for (const pci::GroupPeer& p : report.group_blockers) {
    others += (others.empty() ? "" : ", ") + p.bdf + " (" + p.driver + ")";
    binds += (binds.empty() ? "" : ", ") + ("irqd bind " + p.bdf);
  }
  return {group + " is not viable yet: " + others +
          " must be on vfio-pci or unbound too; irqd does not move them by itself (" + binds + ")"};
}

int run_devices(const pci::PciPaths& paths, bool json_out, std::ostream& out, std::ostream& err) {
  auto functions = pci::list_pci_functions(paths.sysfs);
  if (!functions) return fail(err, "devices", functions.error().message, 2);
  out << (json_out ? format_devices_json(*functions, pci::vfio_pci_loaded(paths.sysfs))
                   : format_devices_table(*functions));
  return out.flush() ? 0 : 1;
}

int run_bind(const std::string& bdf, const pci::PciPaths& paths, std::ostream& out, std::ostream& err, int force) {
  Progress progress{out};
  auto report = pci::bind_to_vfio(bdf, paths, progress.io(), {.force = force});
  if (!report) return fail(err, "bind", report.error().message, progress.exit_code());
  for (const std::string& line : format_bind_outcome(*report)) out << line << "\n";
  return out.flush() ? 0 : 1;
}

int run_unbind(const std::string& bdf, const pci::PciPaths& paths, std::ostream& out, std::ostream& err, bool force) {
  Progress progress{out};
  auto report = pci::unbind_from_vfio(bdf, paths, progress.io(), {.force = force});
  if (!report) return fail(err, "unbind", report.error().message, progress.exit_code());
  return out.flush() ? 0 : 1;
}

}  // namespace irqd
