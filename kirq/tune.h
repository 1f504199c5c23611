// SPDX-License-Identifier: GPL-2.0-only
//
// Tuning a device's kernel interrupts with irqd's planners (the library
// behind `irqd tune`): the plan and its diff against the masks the kernel
// has now, the kernel planner's prediction for the managed vectors, the
// writes to /proc/irq/N/smp_affinity_list with a read-back, and the restore
// file that puts every mask back.
//
// The device's vectors are planned in MSI-X index order as one device:
// leading and trailing vectors that the kernel does not manage (or, when
// none is managed, that carry no queue number: config, async, admin) are
// the pre/post vectors, the rest are spread. A NIC (interrupts named as
// queues, kirq/nic_queues.h) is planned by queue instead: each queue takes
// one vector of the plan and every interrupt of the queue (its rx and tx,
// or its combined one) gets that vector's mask, as the vendors' scripts
// and the kernel's combined channels keep a queue on one CPU. Managed
// interrupts are never written; their masks are compared with what the
// `kernel` planner predicts for the whole machine, a live check of the
// planner.

#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "affinity/plan.h"
#include "affinity/topology.h"
#include "base/result.h"
#include "kirq/kernel_irqs.h"
#include "kirq/nic_queues.h"

namespace irqd {

// Where restore files go when the caller names none.
inline constexpr const char* kTuneStateDir = "/run/irqd/tune";
// One vector of the device.
struct TuneRow {
  kirq::KernelIrq irq;
  kirq::NicQueue queue;  // the NIC queue it serves (kNone: not a queue, or not a NIC)
  std::string current;   // smp_affinity_list now
  std::string planned;   // what the planner gives (a cpulist); "" none
  bool changes = false;  // not managed, current known, and planned differs
  // current could not be read (a missing or garbled smp_affinity_list):
  // never written, since nothing could put it back.
  bool current_unknown = false;
  // Why it is left as it is, or what its planned mask is when it is not
  // one of the spread ones (unfilled, pre/post, no hint); "" otherwise.
  std::string why;
};

// A NIC queue of a plan by queue: its interrupts, in MSI-X order.
struct TuneQueue {
  int index = -1;
  std::string kinds;              // "rx+tx", "rxtx", "rx"
  std::vector<std::size_t> rows;  // into TunePlan::rows
  std::string planned;            // the queue's mask ("" unfilled without one)
};

// One transmit queue's XPS next to the CPUs of its queue's interrupts.
struct XpsRow {
  std::string iface;
  int queue = -1;
  std::string path;     // .../queues/tx-N/xps_cpus
  std::string current;  // as read (hex); "" unreadable
  std::string current_cpus;
  std::string planned_cpus;  // the queue's interrupt CPUs after the plan
  bool changes = false;
  std::string why;  // why it is not written; "" otherwise
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
  bool hint = false;        // --planner hint: each interrupt's affinity_hint, no planner
  std::string cpus;         // the CPUs planned on, as a cpulist
  std::string cpus_reason;  // "--cpus", "NUMA node 1", "every CPU: the device has no NUMA node"
  PlanRequest request;      // vectors, pre, post as planned
  std::vector<TuneRow> rows;
  // Managed vectors: the kernel planner on the whole machine with the pre
  // and post vectors the unmanaged ones imply.
  PlanRequest kernel_request;
  std::vector<ManagedCheck> managed;
  // A NIC planned by queue: request.vectors counts queues (and the
  // interrupts that are not queues as pre/post vectors).
  bool by_queue = false;
  std::vector<TuneQueue> queues;
  std::vector<XpsRow> xps;  // with --xps (plan_xps)

  // "kernel", "per-core", ..., "hint".
  std::string planner_text() const;
};

struct TuneOptions {
  PlannerKind planner = PlannerKind::kKernel;
  bool hint = false;  // --planner hint
  KernelVersion kernel = default_kernel_version();
};

// The planners of `irqd tune`: irqd's, and "hint". Error names them all.
Result<TuneOptions> tune_planner_from_name(std::string_view name);

// Leading/trailing vectors that are pre/post: unmanaged ones when any vector
// is managed (that is what irq_affinity.pre_vectors means), else those
// without a queue number.
void infer_pre_post(const std::vector<kirq::KernelIrq>& irqs, unsigned& pre, unsigned& post);

// Plans the device's vectors (irqs in MSI index order) with planner on topo
// restricted to cpus, and the kernel check on topo itself; the kernel
// planner reproduces the spreading of `kernel` (the running kernel's line,
// for a check of the masks it set).
Result<TunePlan> make_tune_plan(const Topology& topo, const std::vector<unsigned>& cpus, std::string cpus_reason,
                                const kirq::KernelDevice& device, const std::vector<kirq::KernelIrq>& irqs,
                                const TuneOptions& options);
Result<TunePlan> make_tune_plan(const Topology& topo, const std::vector<unsigned>& cpus, std::string cpus_reason,
                                const kirq::KernelDevice& device, const std::vector<kirq::KernelIrq>& irqs,
                                PlannerKind planner, const KernelVersion& kernel);

// --xps: each transmitting queue's xps_cpus on every network interface of
// the device, planned to the CPUs of the queue's interrupts. An error when
// the device has no network interface or no interrupt named as a queue.
Status plan_xps(TunePlan& plan, const kirq::KernelRoots& roots);

// The CPUs to plan on and why those: the given list (checked against the
// machine), else the CPUs of the device's NUMA node, else every CPU (the
// vendor scripts' `local` mode).
struct CpuChoice {
  std::vector<unsigned> cpus;
  std::string reason;
};
Result<CpuChoice> choose_tune_cpus(const Topology& topo, const kirq::KernelDevice& dev,
                                   const std::optional<std::vector<unsigned>>& given, const std::string& given_text);

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
  bool xps = false;    // an XPS write: name is "IFACE tx-N", irq unused
};

// The restore file: every unmanaged vector of the device as it was.
struct RestoreEntry {
  unsigned irq = 0;
  std::string name;
  std::string affinity;
};
struct XpsEntry {
  std::string iface;
  int queue = -1;
  std::string xps_cpus;  // as read
};
struct RestoreFile {
  std::string boot_id;
  std::string device;
  std::string pci;
  std::string planner;
  std::string cpus;
  std::vector<RestoreEntry> irqs;
  std::vector<XpsEntry> xps;
};

// Format 2 adds "xps"; a file without XPS writes is still format 1, which
// irqd versions before --xps read.
inline constexpr int kRestoreFormat = 1;
inline constexpr int kRestoreFormatXps = 2;

RestoreFile restore_file_for(const TunePlan& plan, const std::string& boot_id);
std::string format_restore_file(const RestoreFile& file);
Result<RestoreFile> parse_restore_file(const std::string& text, const std::string& path);

// Writes every changed, unmanaged vector of the plan and reads it back.
std::vector<WriteOutcome> apply_tune_plan(const TunePlan& plan, const kirq::KernelRoots& roots, const ProcWrite& write);
// Writes every changed xps_cpus of the plan and reads it back.
std::vector<WriteOutcome> apply_xps(const TunePlan& plan, const ProcWrite& write);
// Writes back every entry of the file whose interrupt still has its name.
std::vector<WriteOutcome> restore_masks(const RestoreFile& file, const kirq::KernelRoots& roots,
                                        const ProcWrite& write);
// Writes back every saved xps_cpus whose queue is still there.
std::vector<WriteOutcome> restore_xps(const RestoreFile& file, const kirq::KernelRoots& roots, const ProcWrite& write);
// One line per write: the interrupt, old -> new, and what became of it.
std::string format_outcomes(const std::vector<WriteOutcome>& outcomes);

// Saves the restore file before any mask is written (O_EXCL, synced): to
// `save` when given, else to a new file under state_dir (kTuneStateDir
// when empty). Returns the path.
Result<std::string> save_restore_file(const std::string& save, const std::string& state_dir, const std::string& device,
                                      const std::string& text);
// True when a write failed, read back otherwise, or was skipped.
bool any_failed(const std::vector<WriteOutcome>& outcomes);

// --json: the plan, its diff per interrupt and per XPS queue, and (after
// --apply) what became of each write and where the restore file is.
std::string format_tune_json(const TunePlan& plan, const std::vector<WriteOutcome>* outcomes,
                             const std::string& restore_path);

// The warning when irqbalance runs ("" when it does not).
std::string irqbalance_warning(const kirq::KernelRoots& roots, const std::vector<unsigned>& irqs,
                               const std::string& cpus);

}  // namespace irqd
