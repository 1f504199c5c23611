// SPDX-License-Identifier: GPL-2.0-only
//
// `irqd tune`: irqd's planners applied to a device's kernel interrupts, the
// way the vendors' set_irq_affinity scripts and tuna are used, with a
// kernel-exact plan, a diff before anything is written, and a way back.
//
//   irqd tune --device NAME --planner P [--cpus LIST] [--apply] [--save FILE]
//       plans the device's vectors on the live topology restricted to LIST
//       (default: the CPUs of the device's NUMA node, every CPU when it has
//       none: the vendor scripts' `local` mode) and prints the diff. With
//       --apply: saves a restore file first, then writes each changed
//       /proc/irq/N/smp_affinity_list and reads it back.
//       --xps also steers each transmit queue to its queue's interrupt
//       CPUs (queues/tx-N/xps_cpus, saved and restored like the masks);
//       --json prints the plan and diff as one JSON object;
//       --save-profile NAME keeps device, planner, CPUs and options in
//       /etc/irqd/tune.d/NAME.json for irqd-tune@NAME.service;
//       --ban-from-irqbalance (with --apply) keeps irqbalance off the
//       device's interrupts for good.
//   irqd tune --profile NAME [--apply] [--if-present] [--json]
//       the same with a saved profile; --if-present: a device that is not
//       there now is not an error (the unit at boot).
//   irqd tune --udev-wants IFACE
//       for the udev rule: IRQD_TUNE_WANTS=irqd-tune@A.service ... for the
//       profiles of that interface (nothing when none); always exit 0.
//   irqd tune --restore FILE
//       puts every saved mask and xps_cpus back (same boot, same interrupt
//       names).
//
// The device's vectors are planned in MSI-X index order as one device:
// leading and trailing vectors that the kernel does not manage (or, when
// none is managed, that carry no queue number: config, async, admin) are
// the pre/post vectors, the rest are spread. Managed interrupts are never
// written; their masks are compared with what the `kernel` planner predicts
// for the whole machine, a live check of the planner.
//
// Exit: 0 done; 2 nothing written (bad input, unknown device, not root,
// CPUs outside the machine); 1 a write failed or read back otherwise.

#pragma once

#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "affinity/plan.h"
#include "affinity/topology.h"
#include "base/result.h"
#include "kirq/kernel_irqs.h"
#include "kirq/tune.h"
#include "kirq/tune_profile.h"

namespace irqd {

struct TuneFlags {
  std::string device;
  std::string planner;
  std::string cpus;
  bool apply = false;
  bool xps = false;
  bool json = false;
  std::string save_profile;  // --save-profile NAME
  std::string profile;       // --profile NAME
  bool if_present = false;
  bool ban_from_irqbalance = false;
  std::string udev_wants;         // --udev-wants IFACE
  std::string save;               // restore file of --apply
  std::string restore;            // --restore FILE
  std::string topology = "live";  // hidden: plan on another machine's topology (tests on captures)
  // The kernel line the kernel planner follows; "" = the one whose /proc
  // this is (<proc>/sys/kernel/osrelease), v6.18 where that file is missing.
  std::string kernel;
  // Not a flag: where restore files go without --save (kTuneStateDir, or
  // IRQD_TUNE_STATE_DIR: tune_state_dir_from_env()).
  std::string state_dir;
  // Not flags: the profile directory (kTuneProfileDir, or
  // IRQD_TUNE_PROFILE_DIR) and irqbalance's files (IRQD_IRQBALANCE_* in
  // the test build); tune_paths_from_env() fills them.
  std::string profile_dir = kTuneProfileDir;
  IrqbalanceBan irqbalance;
};

inline constexpr std::string_view kTuneUsage =
    "irqd tune --device NAME --planner P [--cpus LIST] [--kernel VERSION] [--xps] [--json] [--apply [--save FILE] "
    "[--ban-from-irqbalance]] [--save-profile NAME] | irqd tune --profile NAME [--apply] [--if-present] [--json] | "
    "irqd tune --udev-wants IFACE | irqd tune --restore FILE";

// Where --apply saves its restore file when --save is not given: kirq's
// kTuneStateDir, or this variable.
inline constexpr const char* kTuneStateDirEnv = "IRQD_TUNE_STATE_DIR";
// kTuneStateDir, or what IRQD_TUNE_STATE_DIR says (when set and not empty).
std::string tune_state_dir_from_env();
// state_dir, profile_dir and irqbalance's paths: the installed ones, or
// the test build's variables.
void tune_paths_from_env(TuneFlags& flags);

// The kernel line to follow: --kernel, else the kernel of roots.proc.
Result<KernelVersion> tune_kernel_version(const TuneFlags& flags, const kirq::KernelRoots& roots);

int run_tune(const TuneFlags& flags, const kirq::KernelRoots& roots, std::ostream& out, std::ostream& err);

}  // namespace irqd
