// SPDX-License-Identifier: GPL-2.0-only
//
// The lifecycle on a real VFIO device, inside the VFIO lab guest
// (device/tests/vfio_lab/run.sh): the vector domain and the Binding over
// VfioDevice, the host unbinding on the kernel's device request while the
// device fires, the leak report, and `irqd serve` itself answering an
// unbind through sysfs. Each case ends with the device bound to vfio-pci
// again, so the next one can open it.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "base/tests/temp_dir.h"
#include "device/tests/vfio_lab/guest_kernel.h"
#include "device/vector_domain.h"
#include "device/vfio_device.h"
#include "dispatch/sys.h"
#include "host/host.h"

namespace irqd {
namespace {

using irqd::test::slurp;

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr std::size_t kIvPosition = 8;  // ivshmem BAR0 registers
constexpr std::size_t kDoorbell = 12;
constexpr int kArriveMs = 5000;  // a bound on waiting under TCG, not a measurement

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): no thread sets the environment
  return v != nullptr ? v : fallback;
}

const std::string& lab_bdf() {
  static const std::string bdf = env_or("VFIO_LAB_BDF", "");
  return bdf;
}

std::string driver_of(const std::string& bdf) {
  std::error_code ec;
  return fs::read_symlink("/sys/bus/pci/devices/" + bdf + "/driver", ec).filename().string();
}

unsigned proc_interrupt_lines(const std::string& bdf) {
  std::ifstream in("/proc/interrupts");
  unsigned n = 0;
  for (std::string line; std::getline(in, line);)
    if (line.find("vfio-msix[") != std::string::npos && line.find("(" + bdf + ")") != std::string::npos) n++;
  return n;
}

std::uint64_t wait_read(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, ms) != 1) return 0;
  std::uint64_t c = 0;
  return ::read(fd, &c, sizeof c) == static_cast<ssize_t>(sizeof c) ? c : 0;
}

// fork+exec (posix_spawn), never a bare fork: a child holding the device
// fd or a BAR mapping would block the kernel's unbind forever.
pid_t spawn(const std::vector<std::string>& argv, const std::string& out = "", const std::string& err = "") {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (!out.empty())
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!err.empty())
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

// The exit status, or -1 if it did not end within ms.
int wait_exit(pid_t pid, int ms) {
  int status = 0;
  for (int waited = 0; waited <= ms; waited += 10) {
    if (::waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

pid_t start_sysfs_unbind(const std::string& bdf) {
  return spawn({"/bin/sh", "-c", "echo -n " + bdf + " > /sys/bus/pci/drivers/vfio-pci/unbind"});
}

// driver_override stays vfio-pci (the lab's init set it): a probe binds the
// device again.
void rebind(const std::string& bdf) {
  std::ofstream("/sys/bus/pci/drivers_probe") << bdf;
  ASSERT_EQ(driver_of(bdf), "vfio-pci");
}

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

class HostLab : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(lab_bdf().empty()) << "no $VFIO_LAB_BDF: this program runs inside the VFIO lab guest";
    ASSERT_EQ(driver_of(lab_bdf()), "vfio-pci");
    auto t = Topology::load("live");
    ASSERT_TRUE(t.ok()) << t.error().message;
    topo_ = std::make_unique<Topology>(std::move(*t));
  }
  std::unique_ptr<Topology> topo_;
};

TEST_F(HostLab, VectorDomainOnVfioPreparesOnceArmsAndTearsDown) {
  auto dev = VfioDevice::open(lab_bdf());
  ASSERT_TRUE(dev.ok()) << dev.error().message;
  auto bar = (*dev)->map_bar(0);
  ASSERT_TRUE(bar.ok()) << bar.error().message;
  const std::uint32_t ivpos = bar->read32(kIvPosition);
  {
    VectorDomain domain(**dev);
    auto got = domain.alloc(4, 4);
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ(*got, (std::vector<unsigned>{0, 1, 2, 3}));
    EXPECT_EQ(domain.size(), 64u);  // sized from GET_IRQ_INFO(MSIX)
    EXPECT_EQ(proc_interrupt_lines(lab_bdf()), 4u);
    for (unsigned v = 0; v < 4; ++v) {
      bar->write32(kDoorbell, (ivpos << 16) | v);
      EXPECT_EQ(wait_read(domain.eventfd(v), kArriveMs), 1u) << "vector " << v;
    }
    // vfio-pci before 6.5 sets NORESIZE: MSI-X stays at the 4 entries it
    // was enabled with; from 6.5 it grows.
    EXPECT_EQ((*dev)->msix_can_grow(), guest_has_dynamic_msix());
    auto past = domain.alloc_at(10);
    if (guest_has_dynamic_msix()) {
      // 6.5 on: entry 10 is allocated and armed now, and it fires.
      ASSERT_TRUE(past.ok()) << past.error().message;
      EXPECT_EQ(*past, 10u);
      bar->write32(kDoorbell, (ivpos << 16) | 10);
      EXPECT_EQ(wait_read(domain.eventfd(10), kArriveMs), 1u);
    } else {
      ASSERT_FALSE(past.ok());
      EXPECT_NE(past.error().message.find("cannot grow (VFIO_IRQ_INFO_NORESIZE)"), std::string::npos)
          << past.error().message;
    }
    EXPECT_TRUE(domain.teardown());
    EXPECT_EQ(domain.prepare_calls(), 1u);
    EXPECT_EQ(domain.teardown_calls(), 1u);
    EXPECT_EQ(proc_interrupt_lines(lab_bdf()), 0u);  // teardown disabled MSI-X
  }
}

TEST_F(HostLab, DeviceRequestUnbindsWhileFiringAndCountsExactly) {
  const std::string bdf = lab_bdf();
  VfioDevice* vfio = nullptr;
  HostOptions o;
  o.open_vfio = [&](const std::string& b) -> Result<std::unique_ptr<MsixDevice>> {
    auto d = VfioDevice::open(b);
    if (!d) return d.error();
    vfio = d->get();
    return std::unique_ptr<MsixDevice>(std::move(*d));
  };
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> fired{0}, lost{0};
  std::thread firer;
  std::vector<std::string> steps_seen;
  o.unbind_hooks.before_step = [&](UnbindStep step) {
    steps_seen.push_back(unbind_step_name(step));
    if (step != UnbindStep::kStopArming) return;
    stopping = true;  // the firer finishes its fire-and-wait, then stops
    firer.join();
  };
  std::vector<std::string> log;
  o.log = [&](const std::string& line) { log.push_back(line); };
  Host host(*topo_, o);
  DeviceSpec spec;
  spec.kind = DeviceSpec::Kind::kVfio;
  spec.name = bdf;
  ASSERT_TRUE(host.add(spec).ok());
  auto bar = vfio->map_bar(0);
  ASSERT_TRUE(bar.ok()) << bar.error().message;
  const std::uint32_t ivpos = bar->read32(kIvPosition);
  // The count driver spreads one managed vector per possible CPU
  // (irq_calc_affinity_vectors), entries 0..n-1.
  const unsigned n = std::min(64u, topo_->possible().weight());
  firer = std::thread([&, n] {
    for (std::uint64_t i = 0; !stopping.load(); ++i) {
      const unsigned v = static_cast<unsigned>(i % n);
      const std::uint64_t before = host.handled(bdf, v);
      bar->write32(kDoorbell, (ivpos << 16) | v);
      fired++;
      // Fire and wait: back-to-back doorbells on one vector coalesce.
      const std::uint64_t deadline = monotonic_ns() + std::uint64_t{kArriveMs} * 1'000'000;
      while (host.handled(bdf, v) == before && monotonic_ns() < deadline) std::this_thread::yield();
      if (host.handled(bdf, v) == before) lost++;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const pid_t writer = start_sysfs_unbind(bdf);
  ASSERT_GT(writer, 0);
  host.run({});
  EXPECT_EQ(wait_exit(writer, 10000), 0) << "the sysfs unbind did not complete after irqd released the device";

  ASSERT_EQ(host.reports().size(), 1u);
  const DeviceReport& r = host.reports()[0];
  EXPECT_EQ(r.unbind.reason, "device request");
  EXPECT_EQ(r.backend, "vfio");
  EXPECT_EQ(step_kinds(r.unbind), kDesignOrder);
  EXPECT_EQ(steps_seen, (std::vector<std::string>{"stop-arming", "drain", "remove", "release", "disable-msix",
                                                  "close-eventfds", "domain-teardown", "close-device", "report"}));
  EXPECT_EQ(lost.load(), 0u);
  EXPECT_GT(fired.load(), 0u);
  EXPECT_EQ(r.dispatch.handled(), fired.load());
  EXPECT_EQ(r.dropped(), 0u);
  EXPECT_TRUE(r.unbind.leaks.empty());
  EXPECT_TRUE(r.unbind.errors.empty());
  EXPECT_EQ(proc_interrupt_lines(bdf), 0u);
  EXPECT_EQ(driver_of(bdf), "");
  std::printf("host-lab: fired %llu doorbells, handled %llu, unbind on device request\n",
              static_cast<unsigned long long>(fired.load()), static_cast<unsigned long long>(r.dispatch.handled()));
  rebind(bdf);
}

TEST_F(HostLab, LeakyDriverOnVfioIsReportedAndEverythingIsReleased) {
  const std::string bdf = lab_bdf();
  HostOptions o;
  o.open_vfio = [](const std::string& b) -> Result<std::unique_ptr<MsixDevice>> {
    auto d = VfioDevice::open(b);
    if (!d) return d.error();
    return std::unique_ptr<MsixDevice>(std::move(*d));
  };
  Host host(*topo_, o);
  DeviceSpec spec;
  spec.kind = DeviceSpec::Kind::kVfio;
  spec.name = bdf;
  spec.driver = "leaky";
  spec.driver_options.max_vectors = 4;
  ASSERT_TRUE(host.add(spec).ok());
  EXPECT_EQ(proc_interrupt_lines(bdf), 4u);
  auto r = host.unbind(bdf, "command");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ((*r)->unbind.leaks.size(), 1u);
  EXPECT_EQ((*r)->unbind.leaks[0].driver, "leaky");
  EXPECT_EQ((*r)->unbind.leaks[0].indices, (std::vector<unsigned>{0, 1, 2, 3}));
  EXPECT_EQ(proc_interrupt_lines(bdf), 0u);
  // Released for real: it opens again at once.
  auto again = VfioDevice::open(bdf);
  EXPECT_TRUE(again.ok()) << again.error().message;
}

TEST_F(HostLab, IrqdServeReleasesTheDeviceWhenTheKernelAsks) {
  const std::string bdf = lab_bdf();
  const std::string irqd = env_or("IRQD_LAB_IRQD", "/lab/irqd");
  ASSERT_TRUE(fs::exists(irqd)) << irqd;
  const pid_t serve = spawn({irqd, "serve", "--device", "vfio:" + bdf, "--report", "/tmp/serve.json"}, "/tmp/serve.out",
                            "/tmp/serve.err");
  ASSERT_GT(serve, 0);
  for (int i = 0; i < 1000 && slurp("/tmp/serve.err").find("irqd: serving") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_NE(slurp("/tmp/serve.err").find("irqd: serving"), std::string::npos) << slurp("/tmp/serve.err");
  EXPECT_GT(proc_interrupt_lines(bdf), 0u);
  const pid_t writer = start_sysfs_unbind(bdf);
  EXPECT_EQ(wait_exit(serve, 20000), 0) << slurp("/tmp/serve.err");
  EXPECT_EQ(wait_exit(writer, 10000), 0);
  json report = json::parse(slurp("/tmp/serve.json"));
  ASSERT_EQ(report["devices"].size(), 1u);
  const json& d = report["devices"][0];
  EXPECT_EQ(d["reason"], "device request");
  EXPECT_EQ(d["backend"], "vfio");
  EXPECT_TRUE(d["fired"].is_null());
  std::vector<std::string> kinds;
  for (const json& s : d["unbind"])
    if (kinds.empty() || kinds.back() != s["step"]) kinds.push_back(s["step"]);
  EXPECT_EQ(kinds, kDesignOrder);
  EXPECT_NE(slurp("/tmp/serve.out").find(bdf + " (vfio, driver count): unbound on device request"), std::string::npos)
      << slurp("/tmp/serve.out");
  EXPECT_EQ(proc_interrupt_lines(bdf), 0u);
  rebind(bdf);
}

}  // namespace
}  // namespace irqd
