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
#include "daemon/kernel_irqs.h"

namespace irqd {

struct TuneFlags {
  std::string device;
  std::string planner;
  std::string cpus;
  bool apply = false;
  std::string save;               // restore file of --apply
  std::string restore;            // --restore FILE
  std::string topology = "live";  // hidden: plan on another machine's topology (tests on captures)
  // Not a flag: where restore files go without --save (kTuneStateDir, or
  // IRQD_TUNE_STATE_DIR: tune_state_dir_from_env()).
  std::string state_dir;
};

inline constexpr std::string_view kTuneUsage =
    "irqd tune --device NAME --planner P [--cpus LIST] [--apply] [--save FILE] | irqd tune --restore FILE";

// Where --apply saves its restore file when --save is not given.
inline constexpr const char* kTuneStateDir = "/run/irqd/tune";
inline constexpr const char* kTuneStateDirEnv = "IRQD_TUNE_STATE_DIR";
// kTuneStateDir, or what IRQD_TUNE_STATE_DIR says (when set and not empty).
std::string tune_state_dir_from_env();

// One vector of the device.
struct TuneRow {
  kirq::KernelIrq irq;
  std::string current;   // smp_affinity_list now
  std::string planned;   // what the planner gives (a cpulist)
  bool changes = false;  // not managed and planned differs from current
};

// A managed vector next to the kernel planner's prediction.
struct ManagedCheck {
  unsigned irq = 0;
  std::string name;
  std::string current;
  std::string predicted;
  bool match = false;
  std::string effective;  // effective_affinity_list; "" unknown
  bool effective_in_mask = false;
};

struct TunePlan {
  kirq::KernelDevice device;
  PlannerKind planner = PlannerKind::kKernel;
  std::string cpus;         // the CPUs planned on, as a cpulist
  std::string cpus_reason;  // "--cpus", "NUMA node 1", "every CPU: the device has no NUMA node"
  PlanRequest request;      // vectors, pre, post as planned
  std::vector<TuneRow> rows;
  // Managed vectors: the kernel planner on the whole machine with the pre
  // and post vectors the unmanaged ones imply.
  PlanRequest kernel_request;
  std::vector<ManagedCheck> managed;
};

// Leading/trailing vectors that are pre/post: unmanaged ones when any vector
// is managed (that is what irq_affinity.pre_vectors means), else those
// without a queue number.
void infer_pre_post(const std::vector<kirq::KernelIrq>& irqs, unsigned& pre, unsigned& post);

// Plans the device's vectors (irqs in MSI index order) with planner on topo
// restricted to cpus, and the kernel check on topo itself.
Result<TunePlan> make_tune_plan(const Topology& topo, const std::vector<unsigned>& cpus, std::string cpus_reason,
                                const kirq::KernelDevice& device, const std::vector<kirq::KernelIrq>& irqs,
                                PlannerKind planner);

// The diff and the kernel planner check, as printed before anything is
// written.
std::string format_tune_plan(const TunePlan& plan);

// Writes one /proc file the way `echo value > path` does: 0 or the errno.
using ProcWrite = std::function<int(const std::string& path, const std::string& value)>;

// What became of one write.
struct WriteOutcome {
  unsigned irq = 0;
  std::string name;
  std::string from;
  std::string to;
  // kRefused: EIO/EPERM, the kernel's answer for a managed interrupt (not
  // an error); kSkipped (restore): the interrupt is gone, renamed or
  // managed now; kUnchanged (restore): it has the saved mask already.
  enum class State { kWritten, kRefused, kFailed, kMismatch, kSkipped, kUnchanged } state = State::kWritten;
  std::string detail;  // the errno text, what it read back, or why skipped
};

// The restore file: every unmanaged vector of the device as it was.
struct RestoreEntry {
  unsigned irq = 0;
  std::string name;
  std::string affinity;
};
struct RestoreFile {
  std::string boot_id;
  std::string device;
  std::string pci;
  std::string planner;
  std::string cpus;
  std::vector<RestoreEntry> irqs;
};

inline constexpr int kRestoreFormat = 1;

RestoreFile restore_file_for(const TunePlan& plan, const std::string& boot_id);
std::string format_restore_file(const RestoreFile& file);
Result<RestoreFile> parse_restore_file(const std::string& text, const std::string& path);

// Writes every changed, unmanaged vector of the plan and reads it back.
std::vector<WriteOutcome> apply_tune_plan(const TunePlan& plan, const kirq::KernelRoots& roots, const ProcWrite& write);
// Writes back every entry of the file whose interrupt still has its name.
std::vector<WriteOutcome> restore_masks(const RestoreFile& file, const kirq::KernelRoots& roots,
                                        const ProcWrite& write);
std::string format_outcomes(const std::vector<WriteOutcome>& outcomes);

// The warning when irqbalance runs ("" when it does not).
std::string irqbalance_warning(const kirq::KernelRoots& roots, const std::vector<unsigned>& irqs,
                               const std::string& cpus);

int run_tune(const TuneFlags& flags, const kirq::KernelRoots& roots, std::ostream& out, std::ostream& err);

}  // namespace irqd
