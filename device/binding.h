// SPDX-License-Identifier: GPL-2.0-only
//
// Binding: one driver bound to one device, and the vector-ownership rule of
// DESIGN.md. Two allocation calls, each always one kind:
//
//   alloc_vectors()          explicit: the caller owns the returned
//                            VectorSet (RAII) and frees it. Still alive at
//                            unbind: reported as that driver's leak, then
//                            freed, once.
//   alloc_managed_vectors()  managed: put on the binding's release list
//                            (devres) and freed by it at unbind, in reverse
//                            order of registration. Freeing it by hand is
//                            caught and reported, never a second free.
//
// Nothing else decides ownership (the lesson of the pcim_alloc_irq_vectors()
// series, where pcim_enable_device() silently turned later allocations
// into managed ones and pci_free_irq_vectors() then freed them twice).
//
// A Binding is driven from one thread (the host's control thread): probe,
// allocations, frees and unbind. Only Driver::handle() runs elsewhere.

#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "affinity/cpumask.h"
#include "affinity/plan.h"
#include "affinity/topology.h"
#include "base/result.h"
#include "device/msix_device.h"
#include "device/vector_domain.h"

namespace irqd {

class Binding;

// pci_alloc_irq_vectors() flags.
inline constexpr unsigned kIrqMsix = 1u << 0;      // PCI_IRQ_MSIX; required (MSI-X is all irqd hosts)
inline constexpr unsigned kIrqAffinity = 1u << 1;  // PCI_IRQ_AFFINITY: spread over the CPUs

// struct irq_affinity: vectors kept out of the spreading at the start and
// end, and the sizes of the sets between them (empty: one set).
struct AffinitySpec {
  unsigned pre_vectors = 0;
  unsigned post_vectors = 0;
  std::vector<unsigned> sets;
};

enum class Ownership { kExplicit, kManaged };
const char* ownership_name(Ownership ownership);

// One allocated MSI-X entry.
struct Vector {
  unsigned index = 0;                          // MSI-X table entry
  int eventfd = -1;                            // owned by the domain; valid while the set is alive
  CpuMask cpus;                                // its affinity
  bool affinity_managed = false;               // the kernel would manage it (a spread vector)
  int serving_cpu = -1;                        // the CPU the x86 allocator would pick (affinity/plan.h)
  Ownership ownership = Ownership::kExplicit;  // which call allocated it
};

// The driver: probe() allocates what it needs, remove() is its last word,
// handle() runs per interrupt on the worker (or reactor) thread of the
// vector's serving CPU.
class Driver {
 public:
  virtual ~Driver() = default;
  virtual const std::string& name() const = 0;
  virtual Status probe(Binding& binding) = 0;
  virtual void remove(Binding& binding) = 0;
  virtual void handle(unsigned index, std::uint64_t count, std::uint64_t stamp_ns) = 0;
};

namespace detail {
struct SetRecord;
}

// A non-owning view of an allocated set, explicit or managed. Stays valid
// (and says !live()) after the set is freed.
class VectorSetRef {
 public:
  VectorSetRef() = default;
  explicit VectorSetRef(std::shared_ptr<detail::SetRecord> record) : record_(std::move(record)) {}
  bool valid() const { return record_ != nullptr; }
  bool live() const;
  Ownership ownership() const;
  const std::vector<Vector>& vectors() const;
  // "explicit vectors 0-3" / "managed vector 7".
  std::string describe() const;

 private:
  friend class Binding;
  friend class VectorSet;
  std::shared_ptr<detail::SetRecord> record_;
};

// An explicit set: freed when the handle goes (or by free()).
class VectorSet {
 public:
  VectorSet() = default;
  VectorSet(VectorSet&& other) noexcept = default;
  VectorSet& operator=(VectorSet&& other) noexcept;
  ~VectorSet();
  VectorSet(const VectorSet&) = delete;
  VectorSet& operator=(const VectorSet&) = delete;

  // pci_free_irq_vectors() for this set. An error if the binding already
  // freed it (it was reported as a leak at unbind).
  Status free();
  const VectorSetRef& ref() const { return ref_; }
  const std::vector<Vector>& vectors() const { return ref_.vectors(); }
  std::size_t size() const { return ref_.valid() ? vectors().size() : 0; }

 private:
  friend class Binding;
  explicit VectorSet(VectorSetRef ref) : ref_(std::move(ref)) {}
  VectorSetRef ref_;
};

// What the binding caught: a driver breaking the ownership rule.
struct OwnershipProblem {
  enum class Kind { kFreedManaged, kDoubleFree, kLeak };
  Kind kind;
  std::string driver;
  std::vector<unsigned> indices;
  std::string message;  // one line, names the driver, device and vectors
};

// The unbind sequence of DESIGN.md, in order.
enum class UnbindStep {
  kStopArming,     // reactors stop arming reads for the device's vectors
  kDrain,          // what is already signalled is read and accounted
  kRemove,         // driver remove()
  kRelease,        // one entry per release-list action, in reverse order
  kDisableMsix,    // SET_IRQS(MSIX, DATA_NONE, count 0)
  kCloseEventfds,  // leftovers read first (dropped, reason after_drain)
  kTeardown,       // domain .msi_teardown()
  kCloseDevice,    // the device fd (VFIO) and BAR mappings
  kReport,
};
const char* unbind_step_name(UnbindStep step);

struct UnbindTraceEntry {
  UnbindStep step;
  std::string detail;
};

struct UnbindHooks {
  // Host side: stop arming, then drain (returns a one-line summary).
  std::function<void()> stop_arming;
  std::function<std::string()> drain;
  // Called before each step runs (tests, the lab's firer).
  std::function<void(UnbindStep)> before_step;
};

struct UnbindReport {
  std::string device;
  std::string driver;
  std::string reason;  // "device request", "command", "SIGTERM", "hot-unplug", ...
  std::vector<UnbindTraceEntry> steps;
  // Signalled after the drain and before MSI-X was disabled: no handler
  // saw them (remove() had run); dropped with reason after_drain.
  std::vector<std::pair<unsigned, std::uint64_t>> dropped_after_drain;
  std::uint64_t dropped_after_drain_total() const;
  unsigned managed_sets_released = 0;
  unsigned eventfds_closed = 0;
  std::vector<OwnershipProblem> leaks;
  std::vector<OwnershipProblem> problems;  // everything caught over the binding's life, leaks included
  std::vector<std::string> errors;         // steps that failed (the sequence still ran to the end)
  // Each counted once: the vectors of every leak, and the problems that
  // are not leaks (a managed set freed by hand, a double free).
  std::size_t leaked_vectors() const;
  std::size_t other_problems() const;
};

class Binding {
 public:
  // Binds `driver` to `device`. Allocations are planned on `topo` with
  // `planner` (kernel: irq_create_affinity_masks semantics of the `kernel`
  // line). topo and driver must outlive the binding. fault: tests only
  // (base/fault.h), handed to the vector domain.
  Binding(std::unique_ptr<MsixDevice> device, Driver& driver, const Topology& topo,
          PlannerKind planner = PlannerKind::kKernel, KernelVersion kernel = default_kernel_version(),
          FaultHook fault = {});
  // Unbinds with reason "destroyed" if unbind() was not called.
  ~Binding();
  Binding(const Binding&) = delete;
  Binding& operator=(const Binding&) = delete;

  // driver.probe(*this). If it fails, the release list runs and any
  // explicit set it left alive is reported as a leak and freed: a failed
  // probe leaves nothing allocated.
  Status probe();

  Result<VectorSet> alloc_vectors(unsigned min, unsigned max, unsigned flags, const AffinitySpec& affd = {});
  Result<VectorSetRef> alloc_managed_vectors(unsigned min, unsigned max, unsigned flags, const AffinitySpec& affd = {});
  // One more vector at `index` (kAnyIndex: lowest free), default affinity.
  Result<VectorSet> alloc_vector_at(unsigned index);
  Result<VectorSetRef> alloc_managed_vector_at(unsigned index);
  // pci_free_irq_vectors(): frees an explicit set now. A managed set, or a
  // set already freed, is refused, reported and left alone.
  Status free_vectors(const VectorSetRef& set);

  // devres_add(): `release` runs once at unbind (or after a failed probe),
  // in reverse order of registration. `what` names it in the trace.
  void devres_add(std::string what, std::function<void()> release);

  // The unbind sequence; runs once (a second call returns the first report).
  const UnbindReport& unbind(std::string reason, const UnbindHooks& hooks);
  bool unbound() const;

  // Every live vector, explicit and managed, by index.
  std::vector<Vector> live_vectors() const;
  MsixDevice& device();
  const VectorDomain& domain() const;
  Driver& driver();
  const std::vector<OwnershipProblem>& problems() const;

  struct Impl;

 private:
  friend class VectorSet;
  friend class VectorSetRef;
  std::shared_ptr<Impl> impl_;  // shared: set records reach it through weak_ptrs
};

}  // namespace irqd
