// SPDX-License-Identifier: GPL-2.0-only
//
// Injected faults (base/fault.h): every system call a bind, a dispatch
// start, a move and an unbind make is failed in turn, on a Host that
// already serves another software device. After each failure:
//   - the error names the call that failed and its errno;
//   - nothing is left behind: the process has the same open files
//     (/proc/self/fd) and the same threads (/proc/self/task) as before the
//     operation, the device was closed and destroyed (MSI-X off, every
//     eventfd gone, the vector domain torn down with it);
//   - the other device keeps being served (its handled count grows after
//     the failure), and its final report accounts for every fire exactly.
//
// The calls are found, not listed: a first pass records what the operation
// calls, so a new system call on the path is failed too, and a seam taken
// off the path fails the test ("the seam is on the path" below).

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "host/host.h"
#include "host/plugin.h"

namespace irqd {
namespace {

namespace fs = std::filesystem;

std::set<std::string> entries(const char* dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename());
  return out;
}
std::set<std::string> open_fds() { return entries("/proc/self/fd"); }
std::set<std::string> threads() { return entries("/proc/self/task"); }

// A joined thread may still be listed for a moment while the kernel reaps
// it: wait for the list to settle (a guard against hangs, not a timing
// assertion), then compare.
std::set<std::string> threads_settled(const std::set<std::string>& expected) {
  std::set<std::string> now = threads();
  for (int i = 0; i < 5000 && now != expected; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    now = threads();
  }
  return now;
}
// The same for a count: where a dispatcher was restarted, its threads are
// new ones (new ids), so only their number can be compared.
std::size_t threads_settled(std::size_t expected) {
  std::size_t now = threads().size();
  for (int i = 0; i < 5000 && now != expected; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    now = threads().size();
  }
  return now;
}

// The errno each call fails with: what the kernel returns when the
// resource runs out or the request is refused.
int errno_for(const std::string& call) {
  static const std::map<std::string, int> kErrno = {
      {"eventfd", EMFILE},
      {"io_uring_setup", ENOMEM},
      {"io_uring_register", ENOMEM},
      {"epoll_create1", EMFILE},
      {"epoll_ctl", ENOMEM},
      {"pthread_create", EAGAIN},
      {"sched_setaffinity", EINVAL},
      {"VFIO_DEVICE_SET_IRQS", ENOSPC},
      {"mmap", ENOMEM},
  };
  auto it = kErrno.find(call);
  return it == kErrno.end() ? EIO : it->second;
}

// The words of the error that name each call.
std::string named_as(const std::string& call) { return call == "VFIO_DEVICE_SET_IRQS" ? "SET_IRQS" : call; }

// The FaultHook: records every call while armed and fails `call` from its
// `from`-th occurrence on (every later one too: a resource that ran out
// stays out), or only that occurrence (once). Called from the control
// thread and from the threads being started, hence the lock.
class Injector {
 public:
  FaultHook hook() {
    return [this](std::string_view call) { return on(call); };
  }
  void record() { arm("", 0, false); }
  void fail(const std::string& call, unsigned from, bool once = false) { arm(call, from, once); }
  void disarm() {
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = false;
  }
  std::vector<std::string> calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  unsigned failed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return failed_;
  }

 private:
  void arm(const std::string& call, unsigned from, bool once) {
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = true;
    target_ = call;
    from_ = from;
    once_ = once;
    seen_ = 0;
    failed_ = 0;
    calls_.clear();
  }
  int on(std::string_view call) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!armed_) return 0;
    calls_.emplace_back(call);
    if (target_.empty() || call != target_) return 0;
    ++seen_;
    if (seen_ < from_ || (once_ && seen_ > from_)) return 0;
    ++failed_;
    return errno_for(target_);
  }

  mutable std::mutex mu_;
  bool armed_ = false;
  std::string target_;
  unsigned from_ = 0;
  bool once_ = false;
  unsigned seen_ = 0;
  unsigned failed_ = 0;
  std::vector<std::string> calls_;
};

// Each distinct call and how often it was made, in order of first call.
std::vector<std::pair<std::string, unsigned>> tally(const std::vector<std::string>& calls) {
  std::vector<std::pair<std::string, unsigned>> out;
  for (const std::string& c : calls) {
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& p) { return p.first == c; });
    if (it == out.end()) {
      out.emplace_back(c, 1);
    } else {
      it->second++;
    }
  }
  return out;
}

std::set<std::string> names(const std::vector<std::string>& calls) { return {calls.begin(), calls.end()}; }

// What a device backend saw of its life, kept after the host dropped it.
struct DeviceTrace {
  bool closed = false;
  bool destroyed = false;
};

// The device of a "vfio" spec: a software device the test keeps, behind a
// proxy the host owns, so that what the host did to it can be checked after
// the host destroyed the proxy.
class ProxyDevice final : public MsixDevice {
 public:
  ProxyDevice(std::shared_ptr<SoftwareDevice> dev, std::shared_ptr<DeviceTrace> trace)
      : dev_(std::move(dev)), trace_(std::move(trace)) {}
  ~ProxyDevice() override { trace_->destroyed = true; }
  ProxyDevice(const ProxyDevice&) = delete;
  ProxyDevice& operator=(const ProxyDevice&) = delete;
  const std::string& name() const override { return dev_->name(); }
  const char* backend() const override { return "vfio"; }
  unsigned msix_count() const override { return dev_->msix_count(); }
  bool msix_can_grow() const override { return dev_->msix_can_grow(); }
  Status set_msix_eventfds(unsigned start, std::span<const int> fds) override {
    return dev_->set_msix_eventfds(start, fds);
  }
  Status disable_msix() override { return dev_->disable_msix(); }
  std::uint64_t consume_stamp(unsigned index, std::uint64_t count) override {
    return dev_->consume_stamp(index, count);
  }
  int request_fd() const override { return dev_->request_fd(); }
  void close() override {
    trace_->closed = true;
    dev_->close();
  }

 private:
  std::shared_ptr<SoftwareDevice> dev_;
  std::shared_ptr<DeviceTrace> trace_;
};

constexpr unsigned kVectors = 4;

struct ReactorCase {
  const char* name;
  ReactorKind reactor;
  UringMethod method;
  std::set<std::string> own_calls;  // what only this reactor calls
  // What arming one more vector on a lane that already runs calls: the
  // bind and the move of a device whose CPUs another device's vectors
  // keep busy (soft0) start no thread of the engine's.
  std::set<std::string> arm_calls;
};
// Named by its name in test names and ctest's list, not by its bytes.
void PrintTo(const ReactorCase& c, std::ostream* os) { *os << c.name; }

class Faults : public ::testing::TestWithParam<ReactorCase> {
 protected:
  void SetUp() override {
    auto t = Topology::load("live");
    ASSERT_TRUE(t.ok()) << t.error().message;
    topo_ = std::make_unique<Topology>(std::move(*t));
    HostOptions o;
    o.dispatch.reactor = GetParam().reactor;
    o.dispatch.uring_method = GetParam().method;
    o.fault = injector_.hook();
    o.open_vfio = [this](const std::string& bdf) -> Result<std::unique_ptr<MsixDevice>> {
      SoftwareDevice::Options so;
      so.nvectors = kVectors;
      so.self_armed = false;
      so.name = bdf;
      so.fault = injector_.hook();  // its request eventfd and SET_IRQS
      auto d = SoftwareDevice::create(so);
      if (!d) return Error{bdf + ": " + d.error().message};
      backend_ = std::shared_ptr<SoftwareDevice>(std::move(*d));
      trace_ = std::make_shared<DeviceTrace>();
      return std::unique_ptr<MsixDevice>(std::make_unique<ProxyDevice>(backend_, trace_));
    };
    o.make_driver = [](const DeviceSpec& spec) -> Result<std::unique_ptr<Driver>> {
      if (!spec.plugin.empty()) {
        // The build tree trusted from its top down (a CI clone may lie under /tmp).
        PluginTrust trust = PluginTrust::of_this_process();
        trust.unchecked_through = IRQD_TEST_BUILD_ROOT;
        return load_plugin(spec.plugin, spec.driver_params, {}, trust);
      }
      return make_driver(spec.driver, spec.driver_options);
    };
    host_ = std::make_unique<Host>(*topo_, o);
    // The device that must go on being served whatever fails next to it.
    ASSERT_TRUE(host_->add(software("soft0", FirePattern::Kind::kSaturate)).ok());
  }

  void TearDown() override {
    if (!host_) return;
    for (const std::string& name : host_->bound())
      if (name != "soft0") (void)host_->unbind(name, "test end");
    if (host_->status("soft0").ok()) {
      auto r = host_->unbind("soft0", "test end");
      ASSERT_TRUE(r.ok());
      const DeviceReport& rep = **r;
      EXPECT_GT(rep.fired, 0U);
      EXPECT_EQ(rep.fired, rep.dispatch.handled() + rep.dropped())
          << "handled " << rep.dispatch.handled() << " dropped " << rep.dropped();
      EXPECT_TRUE(rep.unbind.errors.empty());
      EXPECT_TRUE(rep.dispatch.errors.empty());
    }
    host_.reset();
  }

  static DeviceSpec software(const std::string& name, FirePattern::Kind pattern) {
    DeviceSpec s;
    s.kind = DeviceSpec::Kind::kSoftware;
    s.name = name;
    s.vectors = kVectors;
    s.firing.pattern.kind = pattern;
    s.firing.pattern.rate = 20'000;
    s.firing.cpu = 0;  // pinned: its sched_setaffinity is on the path
    return s;
  }
  static DeviceSpec vfio() {
    DeviceSpec s;
    s.kind = DeviceSpec::Kind::kVfio;
    s.name = "0000:00:01.0";
    return s;
  }

  // soft0 handles more interrupts than it had: it is still served.
  void expect_soft0_served() {
    auto before = host_->status("soft0");
    ASSERT_TRUE(before.ok());
    std::uint64_t now = before->handled;
    // A guard against hangs, not a timing assertion.
    for (int i = 0; i < 10'000 && now == before->handled; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      now = host_->status("soft0")->handled;
    }
    EXPECT_GT(now, before->handled) << "soft0 stopped being served";
  }

  // Until `name` has handled an interrupt: a device unbound the moment it
  // was added may not have fired yet on a loaded machine (ASan, a parallel
  // build), and then "fired > 0" says nothing about the unbind.
  void wait_until_handled(const std::string& name) {
    std::uint64_t handled = 0;
    // A guard against hangs, not a timing assertion.
    for (int i = 0; i < 10'000 && handled == 0; ++i) {
      auto st = host_->status(name);
      ASSERT_TRUE(st.ok()) << name;
      handled = st->handled;
      if (handled == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_GT(handled, 0U) << name << " never handled an interrupt";
  }

  void expect_named(const Status& s, const std::string& call) {
    ASSERT_FALSE(s.ok()) << call;
    EXPECT_NE(s.error().message.find(named_as(call)), std::string::npos) << s.error().message;
    EXPECT_NE(s.error().message.find(errno_string(errno_for(call))), std::string::npos) << s.error().message;
  }

  // Adds `spec` with every call recorded, checks the seams are on the path,
  // unbinds it again and returns what was called.
  std::vector<std::string> calls_of_add(const DeviceSpec& spec, const std::set<std::string>& expected) {
    injector_.record();
    Status s = host_->add(spec);
    injector_.disarm();
    EXPECT_TRUE(s.ok()) << s.error().message;
    std::vector<std::string> calls = injector_.calls();
    std::set<std::string> seen = names(calls);
    for (const std::string& c : expected) EXPECT_EQ(seen.count(c), 1U) << "the seam is on the path: " << c;
    if (s.ok()) {
      EXPECT_TRUE(host_->unbind(spec.name, "discovered").ok());
    }
    return calls;
  }

  Injector injector_;
  std::unique_ptr<Topology> topo_;
  std::unique_ptr<Host> host_;
  std::shared_ptr<SoftwareDevice> backend_;  // the last "vfio" device opened
  std::shared_ptr<DeviceTrace> trace_;
};

std::set<std::string> with(std::set<std::string> a, const std::set<std::string>& b) {
  a.insert(b.begin(), b.end());
  return a;
}

// Bind: open (a software device's request eventfd), probe (each vector's
// eventfd, SET_IRQS), dispatch start (threads, pins, each reactor's stop
// eventfd, ring or epoll set), and for a software device its firing engine
// (thread, pin). Each call, at each of its occurrences, failed from there on.
TEST_P(Faults, EveryCallOfABindFailsAloneAndLeavesNothingBehind) {
  for (bool software_kind : {true, false}) {
    SCOPED_TRACE(software_kind ? "software device" : "vfio backend");
    const DeviceSpec spec = software_kind ? software("soft1", FirePattern::Kind::kRate) : vfio();
    // soft0 keeps both CPUs' lanes running: the bind adds to them. Only a
    // software device's firing engine starts a thread.
    std::set<std::string> expected = with({"eventfd", "VFIO_DEVICE_SET_IRQS"}, GetParam().arm_calls);
    if (software_kind) expected = with(expected, {"pthread_create", "sched_setaffinity"});
    const auto calls = calls_of_add(spec, expected);
    backend_.reset();  // the test's reference holds the device's request eventfd
    const auto fds = open_fds();
    const auto tasks = threads();
    for (const auto& [call, count] : tally(calls)) {
      for (unsigned k = 1; k <= count; ++k) {
        SCOPED_TRACE(call + " #" + std::to_string(k) + " of " + std::to_string(count));
        trace_.reset();
        injector_.fail(call, k);
        Status s = host_->add(spec);
        injector_.disarm();
        expect_named(s, call);
        EXPECT_GE(injector_.failed(), 1U);
        EXPECT_EQ(host_->bound(), std::vector<std::string>{"soft0"});
        EXPECT_EQ(threads_settled(tasks), tasks);
        if (!software_kind && trace_) {
          // The host had the device: closed (MSI-X off, every entry
          // disarmed) and destroyed with its binding and domain.
          EXPECT_TRUE(trace_->closed);
          EXPECT_TRUE(trace_->destroyed);
          EXPECT_TRUE(backend_->closed());
          for (unsigned v = 0; v < kVectors; ++v) EXPECT_EQ(backend_->eventfd(v), -1) << "entry " << v;
        }
        backend_.reset();
        EXPECT_EQ(open_fds(), fds);
        expect_soft0_served();
      }
    }
  }
}

// Move: the dispatcher stops, then restarts with the vector elsewhere. A
// call that fails once: the move fails naming it and the device goes on
// being served where it was (a ring setup that fails once falls back to
// fewer flags and may succeed). A call that keeps failing: the restart
// where it was fails too, and the device is unbound, every fire accounted.
TEST_P(Faults, EveryCallOfAMoveFailsAndTheDeviceIsServedOrUnboundAccounted) {
  if (topo_->present().weight() < 2) GTEST_SKIP() << "one CPU: nowhere to move to";
  const auto fds = open_fds();
  const auto tasks = threads();
  // Vector 0 unmanaged (a pre-vector), so it may move to any CPU.
  DeviceSpec spec = software("soft1", FirePattern::Kind::kRate);
  spec.driver_options.affinity.pre_vectors = 1;
  ASSERT_TRUE(host_->add(spec).ok());
  const Vector v = host_->status("soft1")->vectors.front();
  const unsigned home = static_cast<unsigned>(v.serving_cpu);
  const unsigned away =
      home == topo_->present().first() ? topo_->present().to_vector().back() : topo_->present().first();

  injector_.record();
  ASSERT_TRUE(host_->move("soft1", v.index, away).ok());
  injector_.disarm();
  const auto calls = injector_.calls();
  // Every reactor but `thread` has a stop eventfd.
  // The vector alone moves, onto a lane soft0 keeps running: arming it
  // there is all the move calls.
  const std::set<std::string> expected = GetParam().arm_calls;
  for (const std::string& c : expected) EXPECT_EQ(names(calls).count(c), 1U) << "the seam is on the path: " << c;
  ASSERT_TRUE(host_->move("soft1", v.index, home).ok());

  for (const auto& [call, count] : tally(calls)) {
    for (unsigned k = 1; k <= count; ++k) {
      SCOPED_TRACE(call + " #" + std::to_string(k) + " of " + std::to_string(count));
      // Once. The dispatcher restarted at home has new threads and fds:
      // compare how many.
      const std::size_t nfds = open_fds().size();
      const std::size_t ntasks = threads().size();
      const std::uint64_t moves = host_->status("soft1")->moves;
      injector_.fail(call, k, /*once=*/true);
      Status s = host_->move("soft1", v.index, away);
      injector_.disarm();
      if (s.ok()) {
        EXPECT_EQ(call, "io_uring_setup") << "only a ring's flag fallback absorbs a fault";
        ASSERT_TRUE(host_->move("soft1", v.index, home).ok());
      } else {
        expect_named(s, call);
        auto st = host_->status("soft1");
        ASSERT_TRUE(st.ok()) << "a move that failed once unbound the device";
        EXPECT_EQ(st->moves, moves);
        EXPECT_EQ(st->vectors.front().serving_cpu, static_cast<int>(home));
        EXPECT_EQ(open_fds().size(), nfds);
        EXPECT_EQ(threads_settled(ntasks), ntasks);
        // soft1 itself is still served at home.
        const std::uint64_t before = st->handled;
        std::uint64_t now = before;
        for (int i = 0; i < 10'000 && now == before; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
          now = host_->status("soft1")->handled;
        }
        EXPECT_GT(now, before) << "soft1 is not served after a failed move";
      }
      expect_soft0_served();

      // For good: the device cannot be served anywhere and is unbound.
      const std::size_t reports = host_->reports().size();
      injector_.fail(call, k);
      s = host_->move("soft1", v.index, away);
      injector_.disarm();
      expect_named(s, call);
      EXPECT_NE(s.error().message.find("so soft1 was unbound"), std::string::npos) << s.error().message;
      EXPECT_EQ(host_->bound(), std::vector<std::string>{"soft0"});
      ASSERT_EQ(host_->reports().size(), reports + 1);
      const DeviceReport& r = host_->reports().back();
      EXPECT_EQ(r.unbind.reason.rfind("dispatch lost: ", 0), 0U) << r.unbind.reason;
      EXPECT_NE(r.unbind.reason.find(named_as(call)), std::string::npos) << r.unbind.reason;
      EXPECT_GT(r.fired, 0U);
      EXPECT_EQ(r.fired, r.dispatch.handled() + r.dropped())
          << "handled " << r.dispatch.handled() << " dropped " << r.dropped();
      EXPECT_EQ(r.unbind.eventfds_closed, r.vectors.size());
      EXPECT_EQ(open_fds(), fds);
      EXPECT_EQ(threads_settled(tasks), tasks);
      expect_soft0_served();
      ASSERT_TRUE(host_->add(spec).ok());
    }
  }
}

// Unbind: the one system call it makes that can fail is SET_IRQS(MSIX,
// DATA_NONE). The sequence still runs to its end and says why; the device
// is closed before its eventfds are read and closed, so a device that could
// not be told to stop signalling is stopped anyway and the count is exact.
TEST_P(Faults, ASetIrqsThatFailsAtUnbindIsReportedAndLosesNothing) {
  const auto fds = open_fds();
  const auto tasks = threads();
  for (bool software_kind : {true, false}) {
    SCOPED_TRACE(software_kind ? "software device" : "vfio backend");
    const DeviceSpec spec = software_kind ? software("soft1", FirePattern::Kind::kSaturate) : vfio();
    ASSERT_TRUE(host_->add(spec).ok());
    injector_.record();
    ASSERT_TRUE(host_->unbind(spec.name, "discovered").ok());
    injector_.disarm();
    EXPECT_EQ(names(injector_.calls()), std::set<std::string>{"VFIO_DEVICE_SET_IRQS"});

    ASSERT_TRUE(host_->add(spec).ok());
    if (software_kind) wait_until_handled(spec.name);
    injector_.fail("VFIO_DEVICE_SET_IRQS", 1);
    auto r = host_->unbind(spec.name, "command");
    injector_.disarm();
    ASSERT_TRUE(r.ok());
    const DeviceReport& rep = **r;
    ASSERT_EQ(rep.unbind.errors.size(), 1U);
    EXPECT_NE(rep.unbind.errors[0].find("SET_IRQS(MSIX, DATA_NONE)"), std::string::npos) << rep.unbind.errors[0];
    EXPECT_NE(rep.unbind.errors[0].find(errno_string(ENOSPC)), std::string::npos) << rep.unbind.errors[0];
    EXPECT_EQ(rep.unbind.eventfds_closed, rep.vectors.size());
    EXPECT_FALSE(rep.vectors.empty());
    EXPECT_EQ(rep.unbind.steps.back().step, UnbindStep::kReport);
    if (software_kind) {
      EXPECT_GT(rep.fired, 0U);
      EXPECT_EQ(rep.fired, rep.dispatch.handled() + rep.dropped())
          << "handled " << rep.dispatch.handled() << " dropped " << rep.dropped();
    } else {
      EXPECT_TRUE(trace_->closed);
      EXPECT_TRUE(trace_->destroyed);
      backend_.reset();
    }
    EXPECT_EQ(open_fds(), fds);
    EXPECT_EQ(threads_settled(tasks), tasks);
    expect_soft0_served();
  }
}

// dlopen(): a plugin that is no shared object fails to load (the real
// dlopen, no seam: load_plugin is what the daemon's make_driver calls), the
// device opened for it is closed again and the host goes on.
TEST_P(Faults, APluginThatCannotBeLoadedLeavesNothingBehind) {
  // In the build tree: a plugin in /tmp is refused before dlopen() is tried.
  const std::string path = std::string(IRQD_FAULT_TEST_DIR) + "/irqd-fault-" + std::to_string(::getpid()) + ".so";
  std::ofstream(path) << "not an ELF object\n";
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  const auto fds = open_fds();
  const auto tasks = threads();
  for (bool software_kind : {true, false}) {
    SCOPED_TRACE(software_kind ? "software device" : "vfio backend");
    DeviceSpec spec = software_kind ? software("soft1", FirePattern::Kind::kRate) : vfio();
    spec.plugin = path;
    trace_.reset();
    Status s = host_->add(spec);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message.find("driver plugin " + path + ": cannot load it"), std::string::npos)
        << s.error().message;
    EXPECT_EQ(host_->bound(), std::vector<std::string>{"soft0"});
    EXPECT_EQ(threads_settled(tasks), tasks);
    if (!software_kind) {
      ASSERT_TRUE(trace_);
      EXPECT_TRUE(trace_->destroyed);
      backend_.reset();
    }
    EXPECT_EQ(open_fds(), fds);
    expect_soft0_served();
  }
  fs::remove(path);
}

INSTANTIATE_TEST_SUITE_P(
    Reactors, Faults,
    ::testing::Values(
        ReactorCase{
            "io_uring_read", ReactorKind::kIoUring, UringMethod::kReadSqe, {"io_uring_setup", "io_uring_register"}, {}},
        ReactorCase{"io_uring_poll",
                    ReactorKind::kIoUring,
                    UringMethod::kPollMultishot,
                    {"io_uring_setup", "io_uring_register"},
                    {}},
        ReactorCase{"epoll", ReactorKind::kEpoll, UringMethod::kReadSqe, {"epoll_create1", "epoll_ctl"}, {"epoll_ctl"}},
        ReactorCase{
            "thread", ReactorKind::kThread, UringMethod::kReadSqe, {}, {"pthread_create", "sched_setaffinity"}}),
    [](const ::testing::TestParamInfo<ReactorCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace irqd
