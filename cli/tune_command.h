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
//   irqd tune --restore FILE
//       puts every saved mask back (same boot, same interrupt names).
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

namespace irqd {

struct TuneFlags {
  std::string device;
  std::string planner;
  std::string cpus;
  bool apply = false;
  std::string save;               // restore file of --apply
  std::string restore;            // --restore FILE
  std::string topology = "live";  // hidden: plan on another machine's topology (tests on captures)
  // The kernel line the kernel planner follows; "" = the one whose /proc
  // this is (<proc>/sys/kernel/osrelease), v6.18 where that file is missing.
  std::string kernel;
  // Not a flag: where restore files go without --save (kTuneStateDir, or
  // IRQD_TUNE_STATE_DIR: tune_state_dir_from_env()).
  std::string state_dir;
};

inline constexpr std::string_view kTuneUsage =
    "irqd tune --device NAME --planner P [--cpus LIST] [--kernel VERSION] [--apply] [--save FILE] | irqd tune "
    "--restore FILE";

// Where --apply saves its restore file when --save is not given: kirq's
// kTuneStateDir, or this variable.
inline constexpr const char* kTuneStateDirEnv = "IRQD_TUNE_STATE_DIR";
// kTuneStateDir, or what IRQD_TUNE_STATE_DIR says (when set and not empty).
std::string tune_state_dir_from_env();

// The kernel line to follow: --kernel, else the kernel of roots.proc.
Result<KernelVersion> tune_kernel_version(const TuneFlags& flags, const kirq::KernelRoots& roots);

int run_tune(const TuneFlags& flags, const kirq::KernelRoots& roots, std::ostream& out, std::ostream& err);

}  // namespace irqd
