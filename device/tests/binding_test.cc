// SPDX-License-Identifier: GPL-2.0-only
//
// The ownership rule of DESIGN.md on the software device: managed sets are
// released by the binding in reverse order, exactly once; explicit sets are
// the caller's, and a leak is reported then freed once; freeing a managed
// set by hand or freeing twice is caught; a failed probe leaves nothing
// allocated; the unbind sequence runs its steps in order; and affinity
// spreading follows irq_calc_affinity_vectors() and the kernel planner.

#include "device/binding.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "device/software_device.h"

namespace irqd {
namespace {

// A driver whose probe and remove are whatever the test says; every call is
// logged into a shared step log.
class ScriptedDriver : public Driver {
 public:
  explicit ScriptedDriver(std::vector<std::string>* log, std::string name = "scripted")
      : log_(log), name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  Status probe(Binding& b) override { return on_probe ? on_probe(b) : ok_status(); }
  void remove(Binding& b) override {
    log_->push_back("remove");
    if (on_remove) on_remove(b);
  }
  void handle(unsigned, std::uint64_t count, std::uint64_t) override { handled += count; }

  std::function<Status(Binding&)> on_probe;
  std::function<void(Binding&)> on_remove;
  std::vector<VectorSet> kept;  // explicit sets the driver holds (or leaks)
  std::atomic<std::uint64_t> handled{0};

 private:
  std::vector<std::string>* log_;
  std::string name_;
};

Topology eight_cpus() {
  auto t = Topology::load("synthetic:pack:1 core:8 pu:1");
  EXPECT_TRUE(t.ok()) << t.error().message;
  return std::move(*t);
}

std::unique_ptr<SoftwareDevice> soft(unsigned n, std::string name = "soft0") {
  SoftwareDevice::Options o;
  o.nvectors = n;
  o.self_armed = false;
  o.name = std::move(name);
  auto d = SoftwareDevice::create(o);
  EXPECT_TRUE(d.ok());
  return std::move(*d);
}

std::vector<unsigned> indices(const std::vector<Vector>& v) {
  std::vector<unsigned> out;
  for (const Vector& x : v) out.push_back(x.index);
  return out;
}

std::vector<std::string> step_names(const UnbindReport& r) {
  std::vector<std::string> out;
  for (const auto& s : r.steps) out.push_back(std::string(unbind_step_name(s.step)) + ": " + s.detail);
  return out;
}

class BindingTest : public ::testing::Test {
 protected:
  Topology topo = eight_cpus();
  std::vector<std::string> log;
  ScriptedDriver driver{&log};
};

TEST_F(BindingTest, ManagedSetsAndActionsAreReleasedInReverseOrderExactlyOnce) {
  Binding b(soft(16), driver, topo);
  int a_runs = 0, b_runs = 0;
  b.devres_add("action a", [&] { ++a_runs; });
  auto first = b.alloc_managed_vectors(4, 4, kIrqMsix);
  ASSERT_TRUE(first.ok()) << first.error().message;
  b.devres_add("action b", [&] { ++b_runs; });
  auto second = b.alloc_managed_vectors(2, 2, kIrqMsix);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(indices(first->vectors()), (std::vector<unsigned>{0, 1, 2, 3}));
  EXPECT_EQ(indices(second->vectors()), (std::vector<unsigned>{4, 5}));

  const UnbindReport& r = b.unbind("command", {});
  EXPECT_EQ(step_names(r), (std::vector<std::string>{
                               "stop-arming: 6 vectors",
                               "drain: nothing dispatched",
                               "remove: driver scripted",
                               "release: managed vectors 4-5",
                               "release: action b",
                               "release: managed vectors 0-3",
                               "release: action a",
                               "disable-msix: SET_IRQS(MSIX, DATA_NONE, count 0)",
                               "close-eventfds: 6 closed, 0 interrupts dropped (after_drain)",
                               "domain-teardown: msi_teardown",
                               "close-device: soft0",
                               "report: leaked vectors 0, other ownership problems 0",
                           }));
  EXPECT_EQ(a_runs, 1);
  EXPECT_EQ(b_runs, 1);
  EXPECT_EQ(r.managed_sets_released, 4u);  // four release-list entries ran
  EXPECT_FALSE(first->live());
  EXPECT_FALSE(second->live());
  EXPECT_EQ(b.domain().allocated_count(), 0u);
  EXPECT_EQ(b.domain().teardown_calls(), 1u);
  // A second unbind returns the same report and runs nothing.
  const UnbindReport& again = b.unbind("SIGTERM", {});
  EXPECT_EQ(&again, &r);
  EXPECT_EQ(r.reason, "command");
  EXPECT_EQ(a_runs, 1);
}

TEST_F(BindingTest, ExplicitSetIsFreedByItsHandleAndNotByUnbind) {
  Binding b(soft(8), driver, topo);
  {
    auto set = b.alloc_vectors(3, 3, kIrqMsix);
    ASSERT_TRUE(set.ok());
    EXPECT_EQ(b.domain().allocated_count(), 3u);
    EXPECT_EQ(set->ref().ownership(), Ownership::kExplicit);
  }
  EXPECT_EQ(b.domain().allocated_count(), 0u);
  const UnbindReport& r = b.unbind("command", {});
  EXPECT_TRUE(r.leaks.empty());
  EXPECT_TRUE(b.problems().empty());
  EXPECT_EQ(r.managed_sets_released, 0u);
  EXPECT_EQ(step_names(r)[3], "release: release list empty");
}

TEST_F(BindingTest, FreeingAManagedSetByHandIsRefusedAndItIsReleasedOnce) {
  Binding b(soft(8), driver, topo);
  auto set = b.alloc_managed_vectors(2, 2, kIrqMsix);
  ASSERT_TRUE(set.ok());
  Status s = b.free_vectors(*set);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "freeing managed vectors 0-1 of soft0 by driver scripted refused: alloc_managed_vectors() sets are freed "
            "by the binding at unbind");
  EXPECT_TRUE(set->live());
  EXPECT_EQ(b.domain().allocated_count(), 2u);
  ASSERT_EQ(b.problems().size(), 1u);
  EXPECT_EQ(b.problems()[0].kind, OwnershipProblem::Kind::kFreedManaged);
  EXPECT_EQ(b.problems()[0].indices, (std::vector<unsigned>{0, 1}));
  const UnbindReport& r = b.unbind("command", {});
  EXPECT_EQ(r.managed_sets_released, 1u);
  EXPECT_EQ(b.domain().allocated_count(), 0u);
  EXPECT_EQ(r.problems.size(), 1u);
}

TEST_F(BindingTest, DoubleFreeIsCaughtAndDoesNotFreeTheSetThatReusedTheEntries) {
  Binding b(soft(4), driver, topo);
  auto set = b.alloc_vectors(2, 2, kIrqMsix);
  ASSERT_TRUE(set.ok());
  VectorSetRef old = set->ref();
  ASSERT_TRUE(b.free_vectors(old).ok());
  // Entries 0 and 1 go to a new owner.
  auto reuse = b.alloc_managed_vectors(2, 2, kIrqMsix);
  ASSERT_TRUE(reuse.ok());
  EXPECT_EQ(indices(reuse->vectors()), (std::vector<unsigned>{0, 1}));
  Status s = b.free_vectors(old);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "double free caught: explicit vectors 0-1 of soft0 by driver scripted were already "
            "freed; ignored");
  EXPECT_TRUE(reuse->live());
  EXPECT_EQ(b.domain().allocated_count(), 2u);
  EXPECT_NE(b.device().request_fd(), -1);
  // The handle's own destruction after the free says nothing more.
  *set = VectorSet();
  ASSERT_EQ(b.problems().size(), 1u);
  EXPECT_EQ(b.problems()[0].kind, OwnershipProblem::Kind::kDoubleFree);
}

TEST_F(BindingTest, ExplicitSetAliveAtUnbindIsReportedAsALeakThenFreedOnce) {
  ScriptedDriver leaky(&log, "leaky");
  Binding b(soft(8), leaky, topo);
  leaky.on_probe = [&](Binding& bb) {
    auto set = bb.alloc_vectors(3, 3, kIrqMsix);
    if (!set) return Status(set.error());
    leaky.kept.push_back(std::move(*set));
    return ok_status();
  };
  ASSERT_TRUE(b.probe().ok());
  auto managed = b.alloc_managed_vectors(1, 1, kIrqMsix);
  ASSERT_TRUE(managed.ok());

  const UnbindReport& r = b.unbind("device request", {});
  ASSERT_EQ(r.leaks.size(), 1u);
  EXPECT_EQ(r.leaks[0].driver, "leaky");
  EXPECT_EQ(r.leaks[0].indices, (std::vector<unsigned>{0, 1, 2}));
  EXPECT_EQ(r.leaks[0].message,
            "driver leaky leaked explicit vectors 0-2 of soft0 (alloc_vectors, never freed): "
            "freed at unbind");
  auto names = step_names(r);
  EXPECT_EQ(names[3], "release: managed vector 3");
  EXPECT_EQ(names[4], "release: leak: explicit vectors 0-2 (driver leaky)");
  EXPECT_EQ(names.back(), "report: leaked vectors 3, other ownership problems 0");
  EXPECT_EQ(b.domain().allocated_count(), 0u);
  EXPECT_FALSE(leaky.kept[0].ref().live());
  // The driver's handle going away afterwards frees nothing and reports
  // nothing more.
  leaky.kept.clear();
  EXPECT_EQ(b.problems().size(), 1u);
}

TEST_F(BindingTest, HandleOutlivingItsBindingIsHarmless) {
  VectorSet survivor;
  {
    Binding b(soft(4), driver, topo);
    auto set = b.alloc_vectors(1, 1, kIrqMsix);
    ASSERT_TRUE(set.ok());
    survivor = std::move(*set);
  }  // destroyed: unbound with reason "destroyed", the set reported and freed
  EXPECT_FALSE(survivor.ref().live());
  Status s = survivor.free();
  EXPECT_FALSE(s.ok());
}

TEST_F(BindingTest, FailedProbeLeavesNothingAllocated) {
  int released = 0;
  driver.on_probe = [&](Binding& b) {
    auto m = b.alloc_managed_vectors(2, 2, kIrqMsix);
    if (!m) return Status(m.error());
    b.devres_add("irq request", [&] { ++released; });
    auto e = b.alloc_vectors(2, 2, kIrqMsix);
    if (!e) return Status(e.error());
    driver.kept.push_back(std::move(*e));
    return Status(Error{"firmware did not answer"});
  };
  Binding b(soft(8), driver, topo);
  Status s = b.probe();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "driver scripted probe of soft0 failed: firmware did not answer");
  EXPECT_EQ(released, 1);
  EXPECT_EQ(b.domain().allocated_count(), 0u);
  ASSERT_EQ(b.problems().size(), 1u);
  EXPECT_EQ(b.problems()[0].kind, OwnershipProblem::Kind::kLeak);
  EXPECT_FALSE(driver.kept[0].ref().live());
  // Unbinding later runs nothing twice.
  b.unbind("command", {});
  EXPECT_EQ(released, 1);
}

TEST_F(BindingTest, UnbindRunsHostHooksAndDriverRemoveInTheDesignOrder) {
  Binding b(soft(4), driver, topo);
  ASSERT_TRUE(b.alloc_managed_vectors(4, 4, kIrqMsix).ok());
  UnbindHooks hooks;
  hooks.stop_arming = [&] { log.push_back("host: stop arming"); };
  hooks.drain = [&] {
    log.push_back("host: drain");
    return std::string("7 read, 7 dispatched");
  };
  hooks.before_step = [&](UnbindStep s) { log.push_back(std::string("step ") + unbind_step_name(s)); };
  const UnbindReport& r = b.unbind("SIGTERM", hooks);
  EXPECT_EQ(log, (std::vector<std::string>{"step stop-arming", "host: stop arming", "step drain", "host: drain",
                                           "step remove", "remove", "step release", "step disable-msix",
                                           "step close-eventfds", "step domain-teardown", "step close-device",
                                           "step report"}));
  EXPECT_EQ(r.steps[1].detail, "7 read, 7 dispatched");
  EXPECT_EQ(r.reason, "SIGTERM");
  EXPECT_EQ(r.device, "soft0");
  EXPECT_EQ(r.driver, "scripted");
}

TEST_F(BindingTest, InterruptsSignalledAfterTheDrainAreDroppedWithAReason) {
  auto dev = soft(4);
  SoftwareDevice* raw = dev.get();
  Binding b(std::move(dev), driver, topo);
  ASSERT_TRUE(b.alloc_managed_vectors(4, 4, kIrqMsix).ok());
  UnbindHooks hooks;
  hooks.drain = [&] {
    // Fired after the drain, before MSI-X is disabled: nobody reads them.
    raw->fire(0, 1);
    raw->fire(2, 2);
    raw->fire(2, 3);
    return std::string("nothing");
  };
  const UnbindReport& r = b.unbind("command", hooks);
  EXPECT_EQ(r.dropped_after_drain, (VectorDomain::Leftovers{{0, 1}, {2, 2}}));
  EXPECT_EQ(r.dropped_after_drain_total(), 3u);
  EXPECT_EQ(raw->consumed(2), 2u);  // their stamps were consumed too
  EXPECT_EQ(r.eventfds_closed, 4u);
  EXPECT_FALSE(raw->fire(1, 4));  // MSI-X is off
}

TEST_F(BindingTest, UnbindWhileFiringAccountsForEveryFire) {
  auto dev = soft(16);
  SoftwareDevice* raw = dev.get();
  Binding b(std::move(dev), driver, topo);
  ASSERT_TRUE(b.alloc_managed_vectors(16, 16, kIrqMsix).ok());
  std::atomic<bool> stop{false};
  std::thread firer([&] {
    for (std::uint64_t i = 1; !stop.load(std::memory_order_relaxed); ++i) raw->fire(static_cast<unsigned>(i % 16), i);
  });
  while (raw->total_fired() < 10000) std::this_thread::yield();
  const UnbindReport& r = b.unbind("hot-unplug", {});
  const std::uint64_t fired_at_unbind = raw->total_fired();
  // Nothing is read in this test (no dispatcher), so every accepted fire
  // must come out as dropped after the drain, and none after MSI-X went off.
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop = true;
  firer.join();
  EXPECT_EQ(raw->total_fired(), fired_at_unbind);
  EXPECT_EQ(r.dropped_after_drain_total(), fired_at_unbind);
  EXPECT_GT(raw->unarmed(), 0u);
}

TEST_F(BindingTest, AffinitySpreadingIsCappedLikeIrqCalcAffinityVectors) {
  Binding b(soft(64), driver, topo);
  AffinitySpec affd;
  affd.pre_vectors = 1;
  auto set = b.alloc_managed_vectors(2, 64, kIrqMsix | kIrqAffinity, affd);
  ASSERT_TRUE(set.ok()) << set.error().message;
  const auto& v = set->vectors();
  ASSERT_EQ(v.size(), 9u);  // 1 pre vector + one per possible CPU
  EXPECT_FALSE(v[0].affinity_managed);
  EXPECT_EQ(v[0].cpus.weight(), 8u);
  for (unsigned i = 1; i < 9; ++i) {
    EXPECT_TRUE(v[i].affinity_managed) << i;
    EXPECT_EQ(v[i].cpus.weight(), 1u) << i;
    EXPECT_EQ(v[i].serving_cpu, static_cast<int>(i - 1)) << i;
  }
  // The same masks as the planner gives for that request.
  PlanRequest req;
  req.vectors = 9;
  req.pre_vectors = 1;
  auto plan = make_plan(topo, req);
  ASSERT_TRUE(plan.ok());
  for (unsigned i = 0; i < 9; ++i) EXPECT_EQ(v[i].cpus, plan->vectors[i].cpus) << i;
}

TEST_F(BindingTest, WithoutAffinityEveryVectorKeepsTheDefaultMask) {
  Binding b(soft(8), driver, topo);
  auto set = b.alloc_vectors(1, 4, kIrqMsix);
  ASSERT_TRUE(set.ok());
  ASSERT_EQ(set->size(), 4u);
  for (const Vector& v : set->vectors()) {
    EXPECT_FALSE(v.affinity_managed);
    EXPECT_EQ(v.cpus, topo.possible());
    EXPECT_EQ(v.eventfd, b.domain().eventfd(v.index));
  }
}

TEST_F(BindingTest, ReservedVectorsAboveMinFailLikeTheKernel) {
  Binding b(soft(8), driver, topo);
  AffinitySpec affd;
  affd.pre_vectors = 2;
  affd.post_vectors = 1;
  auto set = b.alloc_managed_vectors(2, 8, kIrqMsix | kIrqAffinity, affd);
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().message,
            "pre-vectors 2 + post-vectors 1 exceed the minimum 2 (irq_calc_affinity_vectors: "
            "accepted pre + post <= min)");
  EXPECT_EQ(b.domain().prepare_calls(), 0u);
}

TEST_F(BindingTest, AllocationsNeedMsix) {
  Binding b(soft(8), driver, topo);
  auto set = b.alloc_vectors(1, 1, 0);
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().message,
            "allocation flags have no PCI_IRQ_MSIX (accepted: kIrqMsix, optionally | kIrqAffinity)");
}

TEST_F(BindingTest, OneMoreVectorAtAnIndexAfterTheInitialSet) {
  Binding b(soft(8), driver, topo);
  ASSERT_TRUE(b.alloc_managed_vectors(4, 4, kIrqMsix).ok());
  auto extra = b.alloc_vector_at(6);
  ASSERT_TRUE(extra.ok()) << extra.error().message;
  EXPECT_EQ(indices(extra->vectors()), std::vector<unsigned>{6});
  auto managed_extra = b.alloc_managed_vector_at(kAnyIndex);
  ASSERT_TRUE(managed_extra.ok());
  EXPECT_EQ(indices(managed_extra->vectors()), std::vector<unsigned>{4});
  EXPECT_EQ(indices(b.live_vectors()), (std::vector<unsigned>{0, 1, 2, 3, 4, 6}));
  *extra = VectorSet();
  EXPECT_EQ(indices(b.live_vectors()), (std::vector<unsigned>{0, 1, 2, 3, 4}));
}

TEST_F(BindingTest, AllocationAfterUnbindIsRefused) {
  Binding b(soft(8), driver, topo);
  b.unbind("command", {});
  auto set = b.alloc_vectors(1, 1, kIrqMsix);
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().message, "soft0: the binding is unbound");
  EXPECT_EQ(b.domain().teardown_calls(), 0u);  // never prepared, never torn down
}

TEST(SoftwareDeviceRequest, HotUnplugSignalsTheRequestEventfd) {
  auto dev = soft(2);
  pollfd p{dev->request_fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);
  dev->request_unplug();
  EXPECT_EQ(::poll(&p, 1, 0), 1);
}

}  // namespace
}  // namespace irqd
