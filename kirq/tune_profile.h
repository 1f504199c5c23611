// SPDX-License-Identifier: GPL-2.0-only
//
// What outlives one `irqd tune` run. A profile (`--save-profile NAME`)
// keeps how a device is tuned: the device, its planner, CPUs and options,
// not the masks, which depend on the boot; `irqd-tune@NAME.service` applies
// it at boot and, through the udev rule asking `--udev-wants`, whenever the
// device's interface appears again. `--ban-from-irqbalance` keeps
// irqbalance off a device's interrupts for good: irqbalance asks irqd's
// policy script about each interrupt, and the script bans those of the PCI
// functions listed in /etc/irqd/irqbalance-banned (by address, which stays
// the same across boots, unlike irq numbers).

#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "kirq/kernel_irqs.h"

namespace irqd {

inline constexpr const char* kTuneProfileDir = "/etc/irqd/tune.d";

struct TuneProfile {
  std::string name;
  std::string device;   // as the user named it: eth0, 0000:3b:00.0
  std::string pci;      // the PCI function it was when saved
  std::string planner;  // kernel, per-core, ..., hint
  std::string cpus;     // --cpus as given; "" for the device's NUMA node
  bool xps = false;
  bool ban_from_irqbalance = false;
};

inline constexpr int kProfileFormat = 1;

// A name that is also a systemd instance name and a file name:
// [A-Za-z0-9_.-], 1-64 bytes, not starting with '.'.
Status check_profile_name(std::string_view name);

std::string format_profile(const TuneProfile& profile);
Result<TuneProfile> parse_profile(const std::string& text, const std::string& path, const std::string& name);

// Writes DIR/NAME.json (replacing an older one atomically); the path.
Result<std::string> save_profile(const std::string& dir, const TuneProfile& profile);
Result<TuneProfile> load_profile(const std::string& dir, const std::string& name);

// The profiles whose device is iface, or iface's PCI function, by name.
// Unreadable or foreign files are passed over: this runs from udev.
std::vector<std::string> profiles_for_interface(const std::string& dir, const kirq::KernelRoots& roots,
                                                const std::string& iface);

// Where --ban-from-irqbalance writes, and what it reads.
struct IrqbalanceBan {
  std::string banned = "/etc/irqd/irqbalance-banned";
  std::string dropin_dir = "/etc/systemd/system/irqbalance.service.d";
  // irqbalance's unit, first found wins (an administrator's copy first).
  std::vector<std::string> units = {"/etc/systemd/system/irqbalance.service",
                                    "/usr/lib/systemd/system/irqbalance.service",
                                    "/lib/systemd/system/irqbalance.service"};
  std::string policy_script;  // irqd's, installed beside the binary
};

// Adds bdf to the banned list and writes irqbalance's drop-in (its own
// ExecStart= plus --policyscript=); returns what was done, for the user.
// write=false (a profile applied by irqd-tune@.service, where /etc is
// read-only) only checks that both are in place, an error saying what is
// missing otherwise.
Result<std::string> ban_from_irqbalance(const IrqbalanceBan& paths, const std::string& bdf, bool write = true);

// The policy script beside a binary: BINDIR/../lib/irqd/irqbalance-policy.
std::string policy_script_beside(const std::string& binary);

}  // namespace irqd
