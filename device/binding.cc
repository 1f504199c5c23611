// SPDX-License-Identifier: GPL-2.0-only

#include "device/binding.h"

#include <algorithm>
#include <numeric>
#include <utility>

namespace irqd {

namespace detail {
// One allocation. Shared by the binding's live list and every handle or
// view of it, so a handle never dangles: `freed` says it is gone, `owner`
// reaches the binding while that still exists.
struct SetRecord {
  Ownership ownership = Ownership::kExplicit;
  std::vector<Vector> vectors;
  std::weak_ptr<Binding::Impl> owner;
  bool freed = false;
};
}  // namespace detail

namespace {

std::vector<unsigned> indices_of(const std::vector<Vector>& vectors) {
  std::vector<unsigned> out;
  out.reserve(vectors.size());
  for (const Vector& v : vectors) out.push_back(v.index);
  return out;
}

// "vectors 0-3,7" / "vector 5".
std::string vector_list(const std::vector<unsigned>& indices) {
  std::vector<unsigned> sorted = indices;
  std::sort(sorted.begin(), sorted.end());
  std::string list;
  std::size_t i = 0;
  while (i < sorted.size()) {
    std::size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    if (!list.empty()) list += ",";
    list += std::to_string(sorted[i]);
    if (j > i) list += "-" + std::to_string(sorted[j]);
    i = j + 1;
  }
  return (sorted.size() == 1 ? "vector " : "vectors ") + list;
}

std::string describe_record(const detail::SetRecord& r) {
  return std::string(ownership_name(r.ownership)) + " " + vector_list(indices_of(r.vectors));
}

}  // namespace

const char* ownership_name(Ownership ownership) { return ownership == Ownership::kManaged ? "managed" : "explicit"; }

const char* unbind_step_name(UnbindStep step) {
  switch (step) {
    case UnbindStep::kStopArming: return "stop-arming";
    case UnbindStep::kDrain: return "drain";
    case UnbindStep::kRemove: return "remove";
    case UnbindStep::kRelease: return "release";
    case UnbindStep::kDisableMsix: return "disable-msix";
    case UnbindStep::kCloseEventfds: return "close-eventfds";
    case UnbindStep::kTeardown: return "domain-teardown";
    case UnbindStep::kCloseDevice: return "close-device";
    case UnbindStep::kReport: return "report";
  }
  return "?";
}

std::size_t UnbindReport::leaked_vectors() const {
  std::size_t n = 0;
  for (const OwnershipProblem& p : leaks) n += p.indices.size();
  return n;
}

std::size_t UnbindReport::other_problems() const {
  return static_cast<std::size_t>(std::count_if(problems.begin(), problems.end(), [](const OwnershipProblem& p) {
    return p.kind != OwnershipProblem::Kind::kLeak;
  }));
}

std::uint64_t UnbindReport::dropped_after_drain_total() const {
  std::uint64_t n = 0;
  for (const auto& [index, count] : dropped_after_drain) n += count;
  return n;
}

struct Binding::Impl {
  Impl(std::unique_ptr<MsixDevice> dev, Driver& drv, const Topology& t, PlannerKind p, KernelVersion k, FaultHook f)
      : device(std::move(dev)), driver(drv), topo(t), planner(p), kernel(std::move(k)), domain(*device, std::move(f)) {}

  struct Devres {
    std::string what;
    std::function<void()> release;
  };

  std::unique_ptr<MsixDevice> device;
  Driver& driver;
  const Topology& topo;
  PlannerKind planner;
  KernelVersion kernel;
  VectorDomain domain;  // after `device`: torn down before the device goes
  std::vector<Devres> devres;
  std::vector<std::shared_ptr<detail::SetRecord>> live;  // in allocation order
  std::vector<OwnershipProblem> problems;
  VectorDomain::Leftovers freed_leftovers;  // read from sets freed during unbind
  bool unbound = false;
  // From driver remove() on, MSI-X is about to be disabled as a whole:
  // freed entries stay armed and their eventfds open until the
  // disable-msix and close-eventfds steps, in the order of DESIGN.md.
  bool tearing_down = false;
  UnbindReport report;

  Result<std::vector<Vector>> allocate(unsigned min, unsigned max, unsigned flags, const AffinitySpec& affd);
  Result<std::vector<Vector>> allocate_at(unsigned index);
  std::shared_ptr<detail::SetRecord> record(std::vector<Vector> vectors, Ownership ownership,
                                            const std::shared_ptr<Impl>& self);
  void free_record(detail::SetRecord& r);
  void report_problem(OwnershipProblem::Kind kind, const detail::SetRecord& r, std::string message);
  void run_release_list(std::vector<UnbindTraceEntry>* trace);
  void free_leaks(std::vector<UnbindTraceEntry>* trace);
};

namespace {

// irq_calc_affinity_vectors(): how many vectors spreading can use at most:
// the reserved pre/post ones plus one per possible CPU (or the sets' sum).
// The kernel fails the allocation when the reserved ones exceed min.
Result<unsigned> calc_affinity_vectors(const Topology& topo, unsigned min, unsigned max, const AffinitySpec& affd) {
  const unsigned resv = affd.pre_vectors + affd.post_vectors;
  if (resv > min)
    return Error{"pre-vectors " + std::to_string(affd.pre_vectors) + " + post-vectors " +
                 std::to_string(affd.post_vectors) + " exceed the minimum " + std::to_string(min) +
                 " (irq_calc_affinity_vectors: accepted pre + post <= min)"};
  const unsigned set_vecs =
      affd.sets.empty() ? topo.possible().weight() : std::accumulate(affd.sets.begin(), affd.sets.end(), 0u);
  return resv + std::min(set_vecs, max - resv);
}

}  // namespace

Result<std::vector<Vector>> Binding::Impl::allocate(unsigned min, unsigned max, unsigned flags,
                                                    const AffinitySpec& affd) {
  if (unbound) return Error{device->name() + ": the binding is unbound"};
  if ((flags & kIrqMsix) == 0)
    return Error{"allocation flags have no PCI_IRQ_MSIX (accepted: kIrqMsix, optionally | kIrqAffinity)"};
  if (min == 0 || max < min)
    return Error{"vector range " + std::to_string(min) + ".." + std::to_string(max) +
                 " is not valid (accepted: 1 <= min <= max)"};
  const bool spread = (flags & kIrqAffinity) != 0;
  if (!spread && (affd.pre_vectors != 0 || affd.post_vectors != 0 || !affd.sets.empty()))
    return Error{"an affinity description was given without kIrqAffinity"};
  if (spread) {
    auto capped = calc_affinity_vectors(topo, min, max, affd);
    if (!capped) return capped.error();
    max = *capped;
    if (max < min)
      return Error{device->name() + ": spreading can use at most " + std::to_string(max) + " vectors, below the " +
                   "minimum " + std::to_string(min)};
    if (!affd.sets.empty()) min = max;  // fixed set sizes: exactly their sum
  }

  auto indices = domain.alloc(min, max);
  if (!indices) return indices.error();
  const auto n = static_cast<unsigned>(indices->size());

  PlanRequest req;
  req.vectors = n;
  req.planner = planner;
  req.kernel = kernel;
  if (spread) {
    req.pre_vectors = affd.pre_vectors;
    req.post_vectors = affd.post_vectors;
    req.sets = affd.sets;
  } else {
    req.pre_vectors = n;  // no spreading: every vector keeps the default affinity
  }
  auto plan = make_plan(topo, req);
  if (!plan) {
    (void)domain.free(*indices, /*disarm=*/true);
    return Error{device->name() + ": " + plan.error().message};
  }
  std::vector<Vector> vectors(n);
  for (unsigned i = 0; i < n; ++i) {
    VectorPlacement& p = plan->vectors[i];
    vectors[i].index = (*indices)[i];
    vectors[i].eventfd = domain.eventfd((*indices)[i]);
    vectors[i].cpus = std::move(p.cpus);
    vectors[i].affinity_managed = p.managed;
    vectors[i].serving_cpu = p.serving_cpu;
  }
  return vectors;
}

Result<std::vector<Vector>> Binding::Impl::allocate_at(unsigned index) {
  if (unbound) return Error{device->name() + ": the binding is unbound"};
  auto got = domain.alloc_at(index);
  if (!got) return got.error();
  PlanRequest req;
  req.vectors = 1;
  req.pre_vectors = 1;  // pci_msix_alloc_irq_at() without an affinity descriptor
  req.planner = planner;
  req.kernel = kernel;
  auto plan = make_plan(topo, req);
  if (!plan) {
    (void)domain.free({*got}, /*disarm=*/true);
    return Error{device->name() + ": " + plan.error().message};
  }
  Vector v;
  v.index = *got;
  v.eventfd = domain.eventfd(*got);
  v.cpus = std::move(plan->vectors[0].cpus);
  v.serving_cpu = plan->vectors[0].serving_cpu;
  return std::vector<Vector>{std::move(v)};
}

std::shared_ptr<detail::SetRecord> Binding::Impl::record(std::vector<Vector> vectors, Ownership ownership,
                                                         const std::shared_ptr<Impl>& self) {
  auto r = std::make_shared<detail::SetRecord>();
  r->ownership = ownership;
  for (Vector& v : vectors) v.ownership = ownership;
  r->vectors = std::move(vectors);
  r->owner = self;
  live.push_back(r);
  return r;
}

// The one place a set is freed: marks it, returns its entries to the
// domain and drops it from the live list. While bound, the entries are
// disarmed and what their eventfds still held is kept for the report
// (dropped, after_drain) before they close.
void Binding::Impl::free_record(detail::SetRecord& r) {
  r.freed = true;
  (void)domain.free(indices_of(r.vectors), /*disarm=*/!tearing_down, &freed_leftovers);
  for (Vector& v : r.vectors) v.eventfd = -1;
  std::erase_if(live, [&](const auto& p) { return p.get() == &r; });
}

void Binding::Impl::report_problem(OwnershipProblem::Kind kind, const detail::SetRecord& r, std::string message) {
  problems.push_back(OwnershipProblem{kind, driver.name(), indices_of(r.vectors), std::move(message)});
}

void Binding::Impl::run_release_list(std::vector<UnbindTraceEntry>* trace) {
  // devres_release_all(): newest first, each once; the list is emptied
  // before anything runs, so an action that registers another cannot make
  // the loop run it.
  std::vector<Devres> list = std::move(devres);
  devres.clear();
  for (auto it = list.rbegin(); it != list.rend(); ++it) {
    it->release();
    if (trace != nullptr) trace->push_back({UnbindStep::kRelease, it->what});
  }
}

void Binding::Impl::free_leaks(std::vector<UnbindTraceEntry>* trace) {
  // Whatever explicit set is still alive now was never freed by its
  // driver: say so (driver, vectors), then free it, once.
  std::vector<std::shared_ptr<detail::SetRecord>> leaked;
  for (const auto& r : live)
    if (r->ownership == Ownership::kExplicit) leaked.push_back(r);
  for (const auto& r : leaked) {
    std::string what = describe_record(*r);
    report_problem(OwnershipProblem::Kind::kLeak, *r,
                   "driver " + driver.name() + " leaked " + what + " of " + device->name() +
                       " (alloc_vectors, never freed): freed at unbind");
    free_record(*r);
    if (trace != nullptr) trace->push_back({UnbindStep::kRelease, "leak: " + what + " (driver " + driver.name() + ")"});
  }
}

Binding::Binding(std::unique_ptr<MsixDevice> device, Driver& driver, const Topology& topo, PlannerKind planner,
                 KernelVersion kernel, FaultHook fault)
    : impl_(std::make_shared<Impl>(std::move(device), driver, topo, planner, std::move(kernel), std::move(fault))) {}

Binding::~Binding() {
  if (!impl_->unbound) unbind("destroyed", {});
}

Status Binding::probe() {
  if (impl_->unbound) return Error{impl_->device->name() + ": the binding is unbound"};
  Status s = impl_->driver.probe(*this);
  if (s) return s;
  // really_probe() failing: devres_release_all(), and here also whatever
  // explicit set the failed probe left behind, so nothing stays allocated.
  impl_->run_release_list(nullptr);
  impl_->free_leaks(nullptr);
  return Error{"driver " + impl_->driver.name() + " probe of " + impl_->device->name() +
               " failed: " + s.error().message};
}

Result<VectorSet> Binding::alloc_vectors(unsigned min, unsigned max, unsigned flags, const AffinitySpec& affd) {
  auto vectors = impl_->allocate(min, max, flags, affd);
  if (!vectors) return vectors.error();
  return VectorSet(VectorSetRef(impl_->record(std::move(*vectors), Ownership::kExplicit, impl_)));
}

Result<VectorSetRef> Binding::alloc_managed_vectors(unsigned min, unsigned max, unsigned flags,
                                                    const AffinitySpec& affd) {
  auto vectors = impl_->allocate(min, max, flags, affd);
  if (!vectors) return vectors.error();
  auto r = impl_->record(std::move(*vectors), Ownership::kManaged, impl_);
  // pcim_msi_release(): the release list frees it; the record keeps it
  // alive for the action even after every view is gone.
  devres_add(describe_record(*r), [impl = impl_.get(), r] { impl->free_record(*r); });
  return VectorSetRef(r);
}

Result<VectorSet> Binding::alloc_vector_at(unsigned index) {
  auto vectors = impl_->allocate_at(index);
  if (!vectors) return vectors.error();
  return VectorSet(VectorSetRef(impl_->record(std::move(*vectors), Ownership::kExplicit, impl_)));
}

Result<VectorSetRef> Binding::alloc_managed_vector_at(unsigned index) {
  auto vectors = impl_->allocate_at(index);
  if (!vectors) return vectors.error();
  auto r = impl_->record(std::move(*vectors), Ownership::kManaged, impl_);
  devres_add(describe_record(*r), [impl = impl_.get(), r] { impl->free_record(*r); });
  return VectorSetRef(r);
}

Status Binding::free_vectors(const VectorSetRef& set) {
  if (!set.valid()) return Error{"free_vectors: no set given"};
  detail::SetRecord& r = *set.record_;
  if (r.owner.lock() != impl_) return Error{"free_vectors: " + describe_record(r) + " belongs to another binding"};
  const std::string where = " of " + impl_->device->name() + " by driver " + impl_->driver.name();
  if (r.freed) {
    std::string message = "double free caught: " + describe_record(r) + where + " were already freed; ignored";
    impl_->report_problem(OwnershipProblem::Kind::kDoubleFree, r, message);
    return Error{message};
  }
  if (r.ownership == Ownership::kManaged) {
    std::string message = "freeing managed " + vector_list(indices_of(r.vectors)) + where +
                          " refused: alloc_managed_vectors() sets are freed by the binding at unbind";
    impl_->report_problem(OwnershipProblem::Kind::kFreedManaged, r, message);
    return Error{message};
  }
  impl_->free_record(r);
  return ok_status();
}

void Binding::devres_add(std::string what, std::function<void()> release) {
  impl_->devres.push_back({std::move(what), std::move(release)});
}

const UnbindReport& Binding::unbind(std::string reason, const UnbindHooks& hooks) {
  Impl& b = *impl_;
  if (b.unbound) return b.report;
  b.unbound = true;
  UnbindReport& rep = b.report;
  rep.device = b.device->name();
  rep.driver = b.driver.name();
  rep.reason = std::move(reason);
  auto step = [&](UnbindStep s) {
    if (hooks.before_step) hooks.before_step(s);
  };
  auto error = [&](const Status& s) {
    if (!s) rep.errors.push_back(s.error().message);
  };
  const std::size_t nlive = b.domain.allocated_count();

  step(UnbindStep::kStopArming);
  if (hooks.stop_arming) hooks.stop_arming();
  rep.steps.push_back({UnbindStep::kStopArming, std::to_string(nlive) + " vectors"});

  step(UnbindStep::kDrain);
  rep.steps.push_back({UnbindStep::kDrain, hooks.drain ? hooks.drain() : "nothing dispatched"});

  step(UnbindStep::kRemove);
  b.tearing_down = true;
  b.driver.remove(*this);
  rep.steps.push_back({UnbindStep::kRemove, "driver " + b.driver.name()});

  step(UnbindStep::kRelease);
  const std::size_t before = rep.steps.size();
  b.run_release_list(&rep.steps);
  for (std::size_t i = before; i < rep.steps.size(); ++i) rep.managed_sets_released++;
  b.free_leaks(&rep.steps);
  for (const OwnershipProblem& p : b.problems)
    if (p.kind == OwnershipProblem::Kind::kLeak) rep.leaks.push_back(p);
  if (rep.steps.size() == before) rep.steps.push_back({UnbindStep::kRelease, "release list empty"});

  step(UnbindStep::kDisableMsix);
  const Status disabled = b.domain.disable_msix();
  error(disabled);
  if (!disabled) {
    // MSI-X may still be on: the device would go on signalling the
    // eventfds the next step reads and closes, so their leftovers would not
    // be final (and a software device's firing thread would write to their
    // numbers once closed). Closing the device turns it off for sure:
    // vfio-pci disables MSI-X when the device fd is released, a software
    // device disarms every entry. The close-device step then finds it closed.
    b.device->close();
  }
  rep.steps.push_back({UnbindStep::kDisableMsix, disabled
                                                     ? "SET_IRQS(MSIX, DATA_NONE, count 0)"
                                                     : "SET_IRQS(MSIX, DATA_NONE) failed: the device is closed now"});

  step(UnbindStep::kCloseEventfds);
  // MSI-X is off: whatever the eventfds hold arrived after the drain and
  // will never be handled. Account it before the eventfds go.
  VectorDomain::Leftovers left = std::move(b.freed_leftovers);
  for (const auto& entry : b.domain.read_leftovers()) left.push_back(entry);
  std::sort(left.begin(), left.end());
  for (const auto& [index, count] : left) b.device->consume_stamp(index, count);
  rep.dropped_after_drain = std::move(left);
  rep.eventfds_closed = b.domain.close_eventfds();
  rep.steps.push_back({UnbindStep::kCloseEventfds, std::to_string(rep.eventfds_closed) + " closed, " +
                                                       std::to_string(rep.dropped_after_drain_total()) +
                                                       " interrupts dropped (after_drain)"});

  step(UnbindStep::kTeardown);
  const bool torn = b.domain.teardown();
  rep.steps.push_back({UnbindStep::kTeardown, torn ? "msi_teardown" : "never prepared"});

  step(UnbindStep::kCloseDevice);
  b.device->close();
  rep.steps.push_back({UnbindStep::kCloseDevice, b.device->name()});

  step(UnbindStep::kReport);
  rep.problems = b.problems;
  rep.steps.push_back({UnbindStep::kReport, "leaked vectors " + std::to_string(rep.leaked_vectors()) +
                                                ", other ownership problems " + std::to_string(rep.other_problems())});
  return rep;
}

bool Binding::unbound() const { return impl_->unbound; }

std::vector<Vector> Binding::live_vectors() const {
  std::vector<Vector> out;
  for (const auto& r : impl_->live) out.insert(out.end(), r->vectors.begin(), r->vectors.end());
  std::sort(out.begin(), out.end(), [](const Vector& a, const Vector& b) { return a.index < b.index; });
  return out;
}

MsixDevice& Binding::device() { return *impl_->device; }
const VectorDomain& Binding::domain() const { return impl_->domain; }
Driver& Binding::driver() { return impl_->driver; }
const std::vector<OwnershipProblem>& Binding::problems() const { return impl_->problems; }

bool VectorSetRef::live() const { return record_ != nullptr && !record_->freed; }
Ownership VectorSetRef::ownership() const { return record_->ownership; }
const std::vector<Vector>& VectorSetRef::vectors() const { return record_->vectors; }
std::string VectorSetRef::describe() const { return record_ ? describe_record(*record_) : "no set"; }

VectorSet& VectorSet::operator=(VectorSet&& other) noexcept {
  if (this != &other) {
    if (ref_.live()) (void)free();
    ref_ = std::move(other.ref_);
  }
  return *this;
}

VectorSet::~VectorSet() {
  // Freed already (by free(), or at unbind as a leak, which was reported
  // then): nothing more to do or say.
  if (ref_.live()) (void)free();
}

Status VectorSet::free() {
  if (!ref_.valid()) return ok_status();
  auto owner = ref_.record_->owner.lock();
  if (!owner) {
    ref_.record_->freed = true;
    return Error{describe_record(*ref_.record_) + ": the binding is gone (freed at its unbind)"};
  }
  // Through the binding, so a second free is caught and reported there.
  if (ref_.record_->freed) {
    std::string message = "double free caught: " + describe_record(*ref_.record_) + " of " + owner->device->name() +
                          " by driver " + owner->driver.name() + " were already freed; ignored";
    owner->report_problem(OwnershipProblem::Kind::kDoubleFree, *ref_.record_, message);
    return Error{message};
  }
  owner->free_record(*ref_.record_);
  return ok_status();
}

}  // namespace irqd
