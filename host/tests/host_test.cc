// SPDX-License-Identifier: GPL-2.0-only
//
// The host lifecycle in-process, on software devices: every unbind trigger
// (command, hot-unplug, device request, end of run) runs the same sequence
// in the DESIGN.md order, and unbinding while the device fires at full rate
// loses nothing: fired == handled + dropped, with the reason of each drop.

#include "host/host.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "dispatch/sys.h"
#include "host/report.h"

namespace irqd {
namespace {

std::set<std::string> open_fds() {
  std::set<std::string> fds;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) fds.insert(e.path().filename());
  return fds;
}

Topology live_topology() {
  auto t = Topology::load("live");
  EXPECT_TRUE(t.ok()) << t.error().message;
  return std::move(*t);
}

HostOptions saturating(ReactorKind reactor = ReactorKind::kIoUring) {
  HostOptions o;
  o.dispatch.reactor = reactor;
  return o;
}

DeviceSpec soft(unsigned vectors, std::string name = "soft0") {
  DeviceSpec s;
  s.kind = DeviceSpec::Kind::kSoftware;
  s.vectors = vectors;
  s.name = std::move(name);
  s.firing.pattern.kind = FirePattern::Kind::kSaturate;
  return s;
}

// The step kinds of a report, release entries collapsed into one.
std::vector<std::string> step_kinds(const UnbindReport& r) {
  std::vector<std::string> out;
  for (const auto& s : r.steps) {
    std::string k = unbind_step_name(s.step);
    if (out.empty() || out.back() != k) out.push_back(k);
  }
  return out;
}

const std::vector<std::string> kDesignOrder = {"stop-arming",     "drain",        "remove",
                                               "release",         "disable-msix", "close-eventfds",
                                               "domain-teardown", "close-device", "report"};

// An open_vfio that hands the host an unarmed software device under the
// PCI address it was asked for, so a test can fire it as the hardware.
// The host does not count a backend's fires; the test does, through *dev.
std::function<Result<std::unique_ptr<MsixDevice>>(const std::string&)> backend_standing_for_vfio(unsigned nvectors,
                                                                                                 SoftwareDevice** dev) {
  return [nvectors, dev](const std::string& bdf) -> Result<std::unique_ptr<MsixDevice>> {
    SoftwareDevice::Options so;
    so.nvectors = nvectors;
    so.self_armed = false;
    so.name = bdf;
    auto d = SoftwareDevice::create(so);
    if (!d) return d.error();
    *dev = d->get();
    return std::unique_ptr<MsixDevice>(std::move(*d));
  };
}

TEST(Host, CommandUnbindWhileFiringAccountsForEveryInterrupt) {
  Topology topo = live_topology();
  for (ReactorKind reactor : {ReactorKind::kIoUring, ReactorKind::kEpoll, ReactorKind::kThread}) {
    SCOPED_TRACE(std::string(reactor_name(reactor)));
    Host host(topo, saturating(reactor));
    ASSERT_TRUE(host.add(soft(16)).ok());
    std::thread commander([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      host.request_unbind("soft0", "command");
    });
    host.run({});
    commander.join();
    ASSERT_EQ(host.reports().size(), 1u);
    const DeviceReport& r = host.reports()[0];
    EXPECT_EQ(r.unbind.reason, "command");
    EXPECT_EQ(step_kinds(r.unbind), kDesignOrder);
    EXPECT_TRUE(r.fired_known);
    EXPECT_GT(r.fired, 0u);
    EXPECT_EQ(r.fired, r.dispatch.handled() + r.dropped())
        << "handled " << r.dispatch.handled() << " queue_full " << r.dispatch.dropped_queue_full() << " after_drain "
        << r.unbind.dropped_after_drain_total();
    EXPECT_TRUE(r.accounted());
    EXPECT_TRUE(r.unbind.leaks.empty());
    EXPECT_EQ(r.unbind.managed_sets_released, 1u);
    EXPECT_TRUE(r.unbind.errors.empty());
  }
}

TEST(Host, DropPolicyUnderPressureStillAccountsEveryFire) {
  Topology topo = live_topology();
  HostOptions o = saturating();
  o.dispatch.when_full = FullPolicy::kDrop;
  o.dispatch.queue_capacity = 2;
  Host host(topo, o);
  ASSERT_TRUE(host.add(soft(64)).ok());
  std::thread commander([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    host.request_unbind("soft0", "command");
  });
  host.run({});
  commander.join();
  const DeviceReport& r = host.reports().at(0);
  EXPECT_EQ(r.fired, r.dispatch.handled() + r.dispatch.dropped_queue_full() + r.unbind.dropped_after_drain_total());
}

// A daemon rebinds for weeks: the host keeps the latest report_history
// reports whole, counts every unbind in its totals, and shows each report
// to on_report before it can be dropped.
TEST(Host, KeepsTheLatestReportsAndTotalsOverEveryUnbind) {
  Topology topo = live_topology();
  HostOptions o = saturating();
  o.report_history = 3;
  std::vector<std::string> seen;
  o.on_report = [&seen](const DeviceReport& r) { seen.push_back(r.name + "/" + r.unbind.reason); };
  Host host(topo, o);
  std::uint64_t handled = 0;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(host.add(soft(2, "soft" + std::to_string(i))).ok());
    auto r = host.unbind("soft" + std::to_string(i), "command " + std::to_string(i));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ((*r)->name, "soft" + std::to_string(i));
    EXPECT_TRUE((*r)->accounted());
    handled += (*r)->dispatch.handled();
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"soft0/command 0", "soft1/command 1", "soft2/command 2", "soft3/command 3",
                                            "soft4/command 4"}));
  ASSERT_EQ(host.reports().size(), 3U);
  EXPECT_EQ(host.reports()[0].name, "soft2");
  EXPECT_EQ(host.reports()[1].name, "soft3");
  EXPECT_EQ(host.reports()[2].name, "soft4");
  const ReportTotals& t = host.report_totals();
  EXPECT_EQ(t.unbinds, 5U);
  EXPECT_EQ(t.not_accounted, 0U);
  EXPECT_EQ(t.handled, handled);
  EXPECT_EQ(t.leaked_vectors, 0U);
  EXPECT_EQ(t.errors, 0U);

  const auto j = nlohmann::json::parse(format_host_report(host.reports(), t));
  ASSERT_EQ(j["devices"].size(), 3U);
  EXPECT_EQ(j["devices"][0]["name"], "soft2");
  EXPECT_EQ(j["totals"]["unbinds"], 5);
  EXPECT_EQ(j["totals"]["listed"], 3);
  EXPECT_EQ(j["totals"]["not_accounted"], 0);
  EXPECT_EQ(j["totals"]["handled"], handled);
}

// At least one report is kept: unbind() returns a pointer to it.
TEST(Host, AHistoryOfZeroStillKeepsTheLastReport) {
  Topology topo = live_topology();
  HostOptions o = saturating();
  o.report_history = 0;
  Host host(topo, o);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(host.add(soft(1)).ok());
    auto r = host.unbind("soft0", "command");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, &host.reports().back());
  }
  EXPECT_EQ(host.reports().size(), 1U);
  EXPECT_EQ(host.report_totals().unbinds, 2U);
}

TEST(Host, HotUnplugRunsTheSequenceWithItsReason) {
  Topology topo = live_topology();
  Host host(topo, saturating());
  ASSERT_TRUE(host.add(soft(8)).ok());
  Host::RunOptions run;
  run.unplug_after_s = 0.1;
  host.run(run);
  const DeviceReport& r = host.reports().at(0);
  EXPECT_EQ(r.unbind.reason, "hot-unplug");
  EXPECT_EQ(step_kinds(r.unbind), kDesignOrder);
  EXPECT_TRUE(r.accounted());
}

TEST(Host, DurationUnbindsEveryDeviceInOrderOfBinding) {
  Topology topo = live_topology();
  Host host(topo, saturating());
  ASSERT_TRUE(host.add(soft(4, "soft0")).ok());
  ASSERT_TRUE(host.add(soft(4, "soft1")).ok());
  EXPECT_EQ(host.add(soft(4, "soft1")).error().message, "device soft1 is already bound");
  Host::RunOptions run;
  run.duration_s = 0.1;
  host.run(run);
  ASSERT_EQ(host.reports().size(), 2u);
  EXPECT_EQ(host.reports()[0].name, "soft0");
  EXPECT_EQ(host.reports()[1].name, "soft1");
  for (const DeviceReport& r : host.reports()) {
    EXPECT_EQ(r.unbind.reason, "duration");
    EXPECT_TRUE(r.accounted());
  }
  EXPECT_TRUE(host.bound().empty());
}

TEST(Host, LeakyDriverLeakIsReportedWithDriverAndVectors) {
  Topology topo = live_topology();
  Host host(topo, saturating());
  DeviceSpec spec = soft(8);
  spec.driver = "leaky";
  spec.driver_options.max_vectors = 3;
  ASSERT_TRUE(host.add(spec).ok());
  auto r = host.unbind("soft0", "command");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ((*r)->unbind.leaks.size(), 1u);
  EXPECT_EQ((*r)->unbind.leaks[0].driver, "leaky");
  EXPECT_EQ((*r)->unbind.leaks[0].indices, (std::vector<unsigned>{0, 1, 2}));
  EXPECT_EQ((*r)->unbind.managed_sets_released, 0u);
  EXPECT_TRUE((*r)->accounted());
}

TEST(Host, DeviceRequestFromTheBackendUnbindsThatDevice) {
  // A backend opened through open_vfio is not counted by the host (a real
  // device does not say how often it fired), so the test fires it itself.
  Topology topo = live_topology();
  SoftwareDevice* dev = nullptr;
  HostOptions o = saturating();
  o.open_vfio = backend_standing_for_vfio(8, &dev);
  std::atomic<bool> stop{false};
  std::thread firer;
  std::uint64_t fired = 0;
  // The firer plays the hardware until the device is closed: it fires
  // through the whole drain / remove / release / disable sequence.
  o.unbind_hooks.before_step = [&](UnbindStep step) {
    if (step != UnbindStep::kCloseDevice) return;
    fired = dev->total_fired();
    stop = true;
    firer.join();
  };
  Host host(topo, o);
  DeviceSpec spec;
  spec.kind = DeviceSpec::Kind::kVfio;
  spec.name = "0000:00:01.0";
  ASSERT_TRUE(host.add(spec).ok());
  // What the kernel's VFIO request does: signal the request eventfd through
  // a reference of its own. Not dev->request_unplug() from another thread:
  // the request makes the control thread unbind and destroy the device,
  // and nothing orders that after the call's last access to it
  // (ThreadSanitizer reported the read of its fd, and the write(), racing
  // with its destruction).
  const UniqueFd request(::dup(dev->request_fd()));
  ASSERT_TRUE(request.valid());
  firer = std::thread([&] {
    for (std::uint64_t i = 1; !stop.load(); ++i) dev->fire(static_cast<unsigned>(i % 8), monotonic_ns());
  });
  std::thread requester([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    eventfd_add(request.get(), 1);
  });
  host.run({});
  requester.join();
  const DeviceReport& r = host.reports().at(0);
  EXPECT_EQ(r.unbind.reason, "device request");
  EXPECT_FALSE(r.fired_known);
  EXPECT_GT(fired, 0u);
  EXPECT_EQ(fired, r.dispatch.handled() + r.dropped());
}

// The VFIO lab's shape on the software device: fire one vector, wait until
// the driver counted it, next; the firer stops when unbind starts, so the
// counts must match exactly, with nothing dropped.
TEST(Host, FireAndWaitUntilUnbindCountsExactly) {
  Topology topo = live_topology();
  SoftwareDevice* dev = nullptr;
  HostOptions o = saturating();
  o.open_vfio = backend_standing_for_vfio(4, &dev);
  std::atomic<bool> stopping{false};
  std::thread firer;
  std::uint64_t fired = 0;
  o.unbind_hooks.before_step = [&](UnbindStep step) {
    if (step != UnbindStep::kStopArming) return;
    stopping = true;
    firer.join();
  };
  Host host(topo, o);
  DeviceSpec spec;
  spec.kind = DeviceSpec::Kind::kVfio;
  spec.name = "0000:00:02.0";
  ASSERT_TRUE(host.add(spec).ok());
  std::vector<unsigned> entries;
  for (unsigned v = 0; v < 4; ++v)
    if (dev->eventfd(v) >= 0) entries.push_back(v);
  ASSERT_FALSE(entries.empty());
  firer = std::thread([&] {
    for (std::size_t i = 0; !stopping.load(); ++i) {
      const unsigned v = entries[i % entries.size()];
      const std::uint64_t before = host.handled(spec.name, v);
      ASSERT_TRUE(dev->fire(v, monotonic_ns()));
      ++fired;
      while (host.handled(spec.name, v) == before) std::this_thread::yield();
    }
  });
  std::thread requester([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    host.request_unbind(spec.name, "command");
  });
  host.run({});
  requester.join();
  const DeviceReport& r = host.reports().at(0);
  EXPECT_GT(fired, 0u);
  EXPECT_EQ(r.dispatch.handled(), fired);
  EXPECT_EQ(r.dropped(), 0u);
}

TEST(Host, MovingAVectorUnderLoadLosesAndDoublesNothing) {
  Topology topo = live_topology();
  const unsigned last = topo.present().to_vector().back();
  Host host(topo, saturating());
  // Vector 0 unmanaged (a pre-vector: default affinity), so it may move
  // to any CPU; the managed ones stay inside their masks.
  DeviceSpec spec = soft(8);
  spec.driver_options.affinity.pre_vectors = 1;
  ASSERT_TRUE(host.add(spec).ok());
  auto before = host.status("soft0");
  ASSERT_TRUE(before.ok());
  ASSERT_FALSE(before->vectors.front().affinity_managed);
  const unsigned index = before->vectors.front().index;
  const int home = before->vectors.front().serving_cpu;
  // Back and forth between the first and the last CPU, under full load.
  for (int i = 0; i < 6; ++i) {
    const unsigned to = (i % 2 == 0) == (home == static_cast<int>(last)) ? topo.present().first() : last;
    ASSERT_TRUE(host.move("soft0", index, to).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto after = host.status("soft0");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->moves, topo.present().weight() > 1 ? 6u : 0u);
  EXPECT_EQ(after->vectors.front().serving_cpu, home);
  auto r = host.unbind("soft0", "command");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE((*r)->accounted()) << "fired " << (*r)->fired << " handled " << (*r)->dispatch.handled() << " dropped "
                                 << (*r)->dropped();
  // The live counters and the dispatchers' merged totals agree.
  EXPECT_GE((*r)->dispatch.handled(), after->handled);
}

// Issue 15's check: 1000 moves of one vector of a saturating device while
// a paced device is measured and a third is unbound and bound again every
// 100 moves. Every device's report is exact (fired == handled + dropped).
// The numbers (unarmed time per move, the paced device's p99 with and
// without moves) are printed for the record, never asserted.
TEST(Host, AThousandMovesUnderSaturationLeaveEveryDeviceAccounted) {
  Topology topo = live_topology();
  if (topo.present().weight() < 2) GTEST_SKIP() << "one CPU: nowhere to move to";
  Host host(topo, saturating());
  DeviceSpec moving = soft(8, "moving");
  moving.driver_options.affinity.pre_vectors = 1;  // vector 0 unmanaged: it may move anywhere
  DeviceSpec paced = soft(8, "paced");
  paced.firing.pattern.kind = FirePattern::Kind::kRate;
  paced.firing.pattern.rate = 20'000;
  DeviceSpec churn = soft(8, "churn");
  churn.firing.pattern.kind = FirePattern::Kind::kRate;
  churn.firing.pattern.rate = 20'000;
  ASSERT_TRUE(host.add(moving).ok());
  ASSERT_TRUE(host.add(paced).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto quiet = host.unbind("paced", "command");
  ASSERT_TRUE(quiet.ok());
  EXPECT_TRUE((*quiet)->accounted());
  const std::uint64_t p99_without = (*quiet)->dispatch.latency.percentile(99);

  ASSERT_TRUE(host.add(paced).ok());
  ASSERT_TRUE(host.add(churn).ok());
  const Vector v = host.status("moving")->vectors.front();
  const unsigned first = topo.present().first();
  const unsigned last = topo.present().to_vector().back();
  for (int m = 0; m < 1000; ++m) {
    ASSERT_TRUE(host.move("moving", v.index,
                          m % 2 == 0 ? (v.serving_cpu == static_cast<int>(first) ? last : first)
                                     : static_cast<unsigned>(v.serving_cpu))
                    .ok());
    if (m % 100 == 99) {
      auto r = host.unbind("churn", "command");
      ASSERT_TRUE(r.ok());
      EXPECT_TRUE((*r)->accounted()) << "churn fired " << (*r)->fired << " handled " << (*r)->dispatch.handled();
      ASSERT_TRUE(host.add(churn).ok());
    }
  }
  const auto st = host.status("moving");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->moves, 1000u);
  auto busy = host.unbind("paced", "command");
  ASSERT_TRUE(busy.ok());
  EXPECT_TRUE((*busy)->accounted());
  for (const char* name : {"moving", "churn"}) {
    auto r = host.unbind(name, "command");
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE((*r)->accounted()) << name << " fired " << (*r)->fired << " handled " << (*r)->dispatch.handled()
                                   << " dropped " << (*r)->dropped();
  }
  std::printf(
      "[ moves    ] 1000 moves: unarmed p50 %.1f us, p99 %.1f us, max %.1f us; paced p99 %.1f us without "
      "moves, %.1f us with\n",
      st->move_unarmed_p50_ns / 1e3, st->move_unarmed_p99_ns / 1e3, st->move_unarmed_max_ns / 1e3, p99_without / 1e3,
      (*busy)->dispatch.latency.percentile(99) / 1e3);
}

// A driver that notes where each vector's handler last ran: the worker of
// the vector's serving CPU, if the dispatcher really serves it there.
class WhereDriver : public Driver {
 public:
  const std::string& name() const override { return name_; }
  Status probe(Binding& b) override {
    // The first vector unmanaged: it may be moved to any CPU.
    AffinitySpec affd;
    affd.pre_vectors = 1;
    auto set = b.alloc_managed_vectors(2, b.device().msix_count(), kIrqMsix | kIrqAffinity, affd);
    return set ? ok_status() : Status(set.error());
  }
  void remove(Binding&) override {}
  void handle(unsigned index, std::uint64_t, std::uint64_t) override {
    if (index < ran_on.size()) ran_on[index].store(sched_getcpu());
  }
  std::array<std::atomic<int>, 8> ran_on{};

 private:
  std::string name_ = "where";
};

TEST(Host, AMovedVectorIsHandledOnItsNewCpu) {
  Topology topo = live_topology();
  if (topo.present().weight() < 2) GTEST_SKIP() << "one CPU: nowhere to move to";
  WhereDriver* where = nullptr;
  HostOptions o = saturating();
  o.make_driver = [&](const DeviceSpec&) -> Result<std::unique_ptr<Driver>> {
    auto d = std::make_unique<WhereDriver>();
    where = d.get();
    return std::unique_ptr<Driver>(std::move(d));
  };
  Host host(topo, o);
  ASSERT_TRUE(host.add(soft(8)).ok());
  const Vector v = host.status("soft0")->vectors.front();
  const unsigned to = v.serving_cpu == static_cast<int>(topo.present().first()) ? topo.present().to_vector().back()
                                                                                : topo.present().first();
  ASSERT_TRUE(host.move("soft0", v.index, to).ok());
  where->ran_on[v.index].store(-1);
  // A guard against hangs, not a timing assertion: wait for a handler call after the move.
  for (int i = 0; i < 3000 && where->ran_on[v.index].load() < 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(where->ran_on[v.index].load(), static_cast<int>(to));
  EXPECT_EQ(host.status("soft0")->vectors.front().serving_cpu, static_cast<int>(to));
}

// As the kernel: a managed vector's affinity is not the user's to change.
// Moved outside its mask it is refused and stays served where it was;
// inside its mask it moves.
TEST(Host, AManagedVectorMovesOnlyInsideItsMask) {
  Topology topo = live_topology();
  if (topo.present().weight() < 2) GTEST_SKIP() << "one CPU: every mask holds all of it";
  Host host(topo, saturating());
  ASSERT_TRUE(host.add(soft(8)).ok());
  const auto st = host.status("soft0");
  ASSERT_TRUE(st.ok());
  const auto managed = std::find_if(st->vectors.begin(), st->vectors.end(), [&](const Vector& v) {
    return v.affinity_managed && v.cpus.weight() < topo.present().weight();
  });
  ASSERT_NE(managed, st->vectors.end()) << "spread over two CPUs, some mask leaves one out";
  unsigned outside = 0;
  while (managed->cpus.test_cpu(outside)) ++outside;
  Status refused = host.move("soft0", managed->index, outside);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message, "soft0: vector " + std::to_string(managed->index) +
                                         " is managed: it is served inside its mask " + managed->cpus.to_list() +
                                         " only (the kernel refuses affinity changes of managed interrupts); CPU " +
                                         std::to_string(outside) + " is outside it");
  EXPECT_EQ(host.status("soft0")->moves, 0u);
  EXPECT_EQ(host.status("soft0")->vectors[static_cast<std::size_t>(managed - st->vectors.begin())].serving_cpu,
            managed->serving_cpu);
  // Inside its mask (its own CPU: nothing to do) it is accepted.
  EXPECT_TRUE(host.move("soft0", managed->index, static_cast<unsigned>(managed->serving_cpu)).ok());
  auto r = host.unbind("soft0", "command");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE((*r)->accounted());
}

// 16 devices share the engine's lanes: the dispatch threads are one
// reactor and one worker per serving CPU, not per device.
TEST(Host, DevicesShareOneReactorAndWorkerPerCpu) {
  Topology topo = live_topology();
  Host host(topo, saturating());
  for (unsigned d = 0; d < 16; ++d) ASSERT_TRUE(host.add(soft(16, "soft" + std::to_string(d))).ok());
  EXPECT_EQ(host.dispatch_threads(), 2 * std::min(16u, topo.present().weight()));
  for (unsigned d = 0; d < 16; ++d) {
    auto r = host.unbind("soft" + std::to_string(d), "command");
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE((*r)->accounted()) << "soft" << d;
  }
  EXPECT_EQ(host.dispatch_threads(), 0u);
}

TEST(Host, MoveRefusesAnUnknownVectorOrCpu) {
  Topology topo = live_topology();
  Host host(topo, saturating());
  ASSERT_TRUE(host.add(soft(4)).ok());
  EXPECT_EQ(host.move("soft0", 3, 0).error().message,
            "soft0: vector 3 is not allocated (allocated: " + std::to_string(host.status("soft0")->vectors.size()) +
                " vectors)");
  EXPECT_EQ(host.move("soft0", 0, 4096).error().message,
            "CPU 4096 is not a CPU irqd may use (accepted: " + topo.present().to_list() + ")");
  EXPECT_EQ(host.move("nic9", 0, 0).error().message, "no bound device named nic9");
}

// A topology that claims CPUs this machine lacks: the kernel refuses to
// pin a thread there, as it refuses a CPU outside the process's cpuset.
// Every vector starts on CPU 0 (planner single).
constexpr unsigned kMissingCpu = 1023;
Topology topology_with_a_missing_cpu() {
  auto t = Topology::load("synthetic:pack:1 core:1024 pu:1");
  EXPECT_TRUE(t.ok()) << t.error().message;
  return std::move(*t);
}

// The new dispatcher's lane on CPU 0 starts (and reads) before its lane on
// the missing CPU fails; what it read is the device's, and the device goes
// on being served at its old CPU.
TEST(Host, AFailedMoveUnderLoadLosesNothing) {
  if (::sysconf(_SC_NPROCESSORS_CONF) > static_cast<long>(kMissingCpu)) GTEST_SKIP() << "CPU 1023 exists here";
  Topology topo = topology_with_a_missing_cpu();
  Host host(topo, saturating());
  DeviceSpec spec = soft(4);
  spec.planner = PlannerKind::kSingle;
  ASSERT_TRUE(host.add(spec).ok());
  for (int i = 0; i < 5; ++i) {
    Status s = host.move("soft0", 0, kMissingCpu);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message.find("1023"), std::string::npos) << s.error().message;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto st = host.status("soft0");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->vectors.front().serving_cpu, 0);
  EXPECT_EQ(st->moves, 0U);
  auto r = host.unbind("soft0", "command");
  ASSERT_TRUE(r.ok());
  EXPECT_GT((*r)->fired, 0U);
  EXPECT_TRUE((*r)->accounted()) << "fired " << (*r)->fired << " handled " << (*r)->dispatch.handled() << " dropped "
                                 << (*r)->dropped();
}

// A move whose vector can be armed neither on the new CPU nor back home
// (epoll_ctl fails from then on, both CPUs' lanes already running): the
// device is not left served by nothing, it is unbound with the reason,
// every fire accounted.
TEST(Host, AMoveThatCannotArmTheVectorAnywhereUnbindsTheDevice) {
  Topology topo = live_topology();
  if (topo.present().weight() < 2) GTEST_SKIP() << "one CPU: nowhere to move to";
  auto armed = std::make_shared<std::atomic<bool>>(false);
  HostOptions o = saturating();
  o.dispatch.reactor = ReactorKind::kEpoll;
  o.fault = [armed](std::string_view call) { return armed->load() && call == "epoll_ctl" ? ENOMEM : 0; };
  Host host(topo, o);
  DeviceSpec spec = soft(4);
  spec.driver_options.affinity.pre_vectors = 1;  // vector 0 unmanaged: it may move anywhere
  ASSERT_TRUE(host.add(spec).ok());
  const Vector v = host.status("soft0")->vectors.front();
  const unsigned to = v.serving_cpu == static_cast<int>(topo.present().first()) ? topo.present().to_vector().back()
                                                                                : topo.present().first();
  armed->store(true);
  Status s = host.move("soft0", v.index, to);
  armed->store(false);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("is out of service, so soft0 was unbound"), std::string::npos) << s.error().message;
  EXPECT_TRUE(host.bound().empty());
  ASSERT_EQ(host.reports().size(), 1U);
  const DeviceReport& r = host.reports().front();
  EXPECT_EQ(r.unbind.reason.rfind("dispatch lost: ", 0), 0U) << r.unbind.reason;
  EXPECT_TRUE(r.accounted()) << "fired " << r.fired << " handled " << r.dispatch.handled() << " dropped "
                             << r.dropped();
  EXPECT_EQ(host.move("soft0", 0, 0).error().message, "no bound device named soft0");
}

// The largest --duration irqd serve accepts (365 days) is 3.2e10 ms: past
// INT_MAX, a plain cast wrapped it negative and poll() waited for ever.
TEST(Host, PollTimeoutNeverWrapsForTheLongestDuration) {
  constexpr std::uint64_t kNow = 1'000'000'000;
  constexpr std::uint64_t kYearNs = 31'536'000ULL * 1'000'000'000ULL;
  EXPECT_EQ(poll_timeout_ms(kNow, kNow + kYearNs), std::numeric_limits<int>::max());
  EXPECT_EQ(poll_timeout_ms(kNow, kNow + 2'147'483'648ULL * 1'000'000ULL), std::numeric_limits<int>::max());
  EXPECT_EQ(poll_timeout_ms(kNow, kNow + 2'147'483'647ULL * 1'000'000ULL), std::numeric_limits<int>::max());
  EXPECT_EQ(poll_timeout_ms(kNow, kNow + 1), 1);  // rounded up: no spin before the deadline
  EXPECT_EQ(poll_timeout_ms(kNow, kNow + 1'000'000), 1);
  EXPECT_EQ(poll_timeout_ms(kNow, kNow + 1'000'001), 2);
  EXPECT_EQ(poll_timeout_ms(kNow, kNow), 0);
  EXPECT_EQ(poll_timeout_ms(kNow, kNow - 1), 0);
}

TEST(Host, NothingIsLeftOpenAfterUnbind) {
  Topology topo = live_topology();
  const auto before = open_fds();
  {
    Host host(topo, saturating());
    ASSERT_TRUE(host.add(soft(32)).ok());
    ASSERT_TRUE(host.unbind("soft0", "command").ok());
  }
  EXPECT_EQ(open_fds(), before);
}

TEST(Host, FailedProbeLeavesNothingBound) {
  Topology topo = live_topology();
  Host host(topo, saturating());
  DeviceSpec spec = soft(4);
  spec.driver_options.affinity.pre_vectors = 5;  // more reserved vectors than the device has
  Status s = host.add(spec);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("driver count probe of soft0 failed"), std::string::npos) << s.error().message;
  EXPECT_TRUE(host.bound().empty());
}

TEST(DeviceSpec, ParsesSoftwareAndVfioAndSaysWhatIsAccepted) {
  auto s = parse_device_spec("soft:64", 2);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->name, "soft2");
  EXPECT_EQ(s->vectors, 64u);
  auto v = parse_device_spec("vfio:0000:00:01.0", 0);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->kind, DeviceSpec::Kind::kVfio);
  EXPECT_EQ(v->name, "0000:00:01.0");
  EXPECT_EQ(parse_device_spec("soft:0", 0).error().message,
            "device 'soft:0' has an invalid vector count (accepted: soft:N with N in 1..2048, or vfio:DDDD:BB:DD.F)");
  EXPECT_EQ(parse_device_spec("vfio:00:01.0", 0).error().message,
            "device 'vfio:00:01.0' has a malformed PCI address (accepted: soft:N with N in 1..2048, or "
            "vfio:DDDD:BB:DD.F)");
  EXPECT_FALSE(parse_device_spec("nvme0", 0).ok());
}

}  // namespace
}  // namespace irqd
