// SPDX-License-Identifier: GPL-2.0-only
//
// One conformance suite, run against every reactor and hand-off mode: a
// reactor that does not pass all of it is not done. The device side is
// plain eventfds written by the test, so every count is known exactly.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <latch>
#include <mutex>
#include <set>
#include <thread>

#include "base/unique_fd.h"
#include "dispatch/dispatcher.h"
#include "dispatch/sys.h"

namespace irqd {
namespace {

struct Variant {
  const char* name;
  ReactorKind reactor;
  UringMethod method;
  std::uint64_t busy_poll_ns;
  Handoff handoff;
};

std::string variant_name(const testing::TestParamInfo<Variant>& info) { return info.param.name; }

const Variant kVariants[] = {
    {"io_uring_read_queue", ReactorKind::kIoUring, UringMethod::kReadSqe, 0, Handoff::kQueue},
    {"io_uring_read_inline", ReactorKind::kIoUring, UringMethod::kReadSqe, 0, Handoff::kInline},
    {"io_uring_poll_queue", ReactorKind::kIoUring, UringMethod::kPollMultishot, 0, Handoff::kQueue},
    {"io_uring_poll_inline", ReactorKind::kIoUring, UringMethod::kPollMultishot, 0, Handoff::kInline},
    {"io_uring_busy_queue", ReactorKind::kIoUring, UringMethod::kReadSqe, 20'000, Handoff::kQueue},
    {"epoll_queue", ReactorKind::kEpoll, UringMethod::kReadSqe, 0, Handoff::kQueue},
    {"epoll_inline", ReactorKind::kEpoll, UringMethod::kReadSqe, 0, Handoff::kInline},
    {"thread_queue", ReactorKind::kThread, UringMethod::kReadSqe, 0, Handoff::kQueue},
    {"thread_inline", ReactorKind::kThread, UringMethod::kReadSqe, 0, Handoff::kInline},
};

// Inline variants have no queue to fill.
std::vector<Variant> queue_variants() {
  std::vector<Variant> out;
  for (const Variant& v : kVariants)
    if (v.handoff == Handoff::kQueue) out.push_back(v);
  return out;
}

std::set<std::string> open_fds() {
  std::set<std::string> fds;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) fds.insert(e.path().filename());
  return fds;
}

unsigned online_cpus() { return static_cast<unsigned>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN))); }

// Blocking eventfds standing in for a device's vectors. Each fire queues
// its stamp before the eventfd write, so a read of count c always finds c
// stamps; consume() pops them and returns the oldest.
class FakeDevice {
 public:
  explicit FakeDevice(unsigned n) : stamps_(n) {
    for (unsigned i = 0; i < n; ++i) fds_.emplace_back(eventfd(0, EFD_CLOEXEC));
  }
  int fd(unsigned v) const { return fds_[v].get(); }
  void fire(unsigned v, std::uint64_t count = 1) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (std::uint64_t i = 0; i < count; ++i) stamps_[v].push_back(monotonic_ns());
    }
    ASSERT_EQ(eventfd_add(fds_[v].get(), count), 0);
  }
  std::uint64_t consume(unsigned v, std::uint64_t count) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& q = stamps_[v];
    if (q.size() < count) {
      missing_stamps_ += count;
      return 0;
    }
    std::uint64_t oldest = q.front();
    q.erase(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(count));
    return oldest;
  }
  std::uint64_t missing_stamps() {
    std::lock_guard<std::mutex> lock(mu_);
    return missing_stamps_;
  }
  // True once nothing is pending on the vector's eventfd (a reactor read it).
  bool drained(unsigned v) const {
    pollfd p{fds_[v].get(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 0;
  }

 private:
  std::vector<UniqueFd> fds_;
  std::mutex mu_;
  std::vector<std::deque<std::uint64_t>> stamps_;
  std::uint64_t missing_stamps_ = 0;
};

// A guard against hangs, not a timing assertion.
template <typename Pred>
bool eventually(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

class ReactorConformance : public testing::TestWithParam<Variant> {
 protected:
  static DispatchOptions options(FakeDevice& dev) {
    DispatchOptions o;
    const Variant& v = GetParam();
    o.reactor = v.reactor;
    o.uring_method = v.method;
    o.busy_poll_ns = v.busy_poll_ns;
    o.handoff = v.handoff;
    o.consume_stamp = [&dev](unsigned v, std::uint64_t c) { return dev.consume(v, c); };
    return o;
  }
  // Vectors 0..n-1 spread over the machine's CPUs (at most two).
  static std::vector<VectorBinding> bindings(const FakeDevice& dev, unsigned n) {
    std::vector<VectorBinding> b;
    unsigned cpus = std::min(2U, online_cpus());
    for (unsigned v = 0; v < n; ++v) b.push_back({v, dev.fd(v), v % cpus});
    return b;
  }
};

TEST_P(ReactorConformance, CountsEveryInterruptExactly) {
  constexpr unsigned kVectors = 8;
  constexpr unsigned kFires = 300;
  FakeDevice dev(kVectors);
  auto d = Dispatcher::start(bindings(dev, kVectors), options(dev));
  ASSERT_TRUE(d.ok()) << d.error().message;
  for (unsigned k = 0; k < kFires; ++k)
    for (unsigned v = 0; v < kVectors; ++v) dev.fire(v);
  const DispatchStats& s = (*d)->stop();
  EXPECT_EQ(s.handled(), kVectors * kFires);
  EXPECT_LE(s.invocations(), kVectors * kFires);
  EXPECT_GE(s.invocations(), kVectors);
  EXPECT_EQ(s.dropped_queue_full(), 0U);
  for (unsigned v = 0; v < kVectors; ++v) EXPECT_EQ(s.handled_per_vector[v], kFires) << "vector " << v;
  EXPECT_EQ(s.latency.count(), s.invocations());
  EXPECT_EQ(dev.missing_stamps(), 0U) << "a reactor consumed more interrupts than it read";
}

TEST_P(ReactorConformance, HandlesLiveTrafficThenDrainsTheRest) {
  FakeDevice dev(4);
  std::atomic<std::uint64_t> seen{0};
  DispatchOptions o = options(dev);
  o.handler = [&](unsigned, std::uint64_t count, std::uint64_t) { seen += count; };
  auto d = Dispatcher::start(bindings(dev, 4), o);
  ASSERT_TRUE(d.ok()) << d.error().message;
  dev.fire(2, 5);
  ASSERT_TRUE(eventually([&] { return seen.load() == 5; })) << "a live interrupt was never handled";
  dev.fire(0, 7);
  dev.fire(3, 1);
  const DispatchStats& s = (*d)->stop();
  EXPECT_EQ(seen.load(), 13U);
  EXPECT_EQ(s.handled(), 13U);
  EXPECT_EQ(s.handled_per_vector, (std::vector<std::uint64_t>{7, 0, 5, 1}));
}

// The unbind sequence's first two steps: after stop_arming() a reactor
// still drains what was signalled before it, and once stop() returns it
// reads nothing more (what arrives later stays in the eventfd for the
// binding to account as dropped after the drain).
TEST_P(ReactorConformance, StopArmingThenDrainAccountsForWhatWasSignalled) {
  FakeDevice dev(4);
  auto d = Dispatcher::start(bindings(dev, 4), options(dev));
  ASSERT_TRUE(d.ok()) << d.error().message;
  dev.fire(1, 3);
  dev.fire(2, 4);
  (*d)->stop_arming();
  (*d)->stop_arming();  // idempotent
  dev.fire(3, 2);       // signalled before the drain finished, or after it
  const DispatchStats& s = (*d)->stop();
  dev.fire(0, 6);  // after stop(): nobody reads it
  std::uint64_t late = 0;
  ASSERT_EQ(::read(dev.fd(0), &late, sizeof late), static_cast<ssize_t>(sizeof late));
  EXPECT_EQ(late, 6U);
  EXPECT_EQ(s.handled_per_vector[1], 3U);
  EXPECT_EQ(s.handled_per_vector[2], 4U);
  // Vector 3's fires were either drained or are still in the eventfd:
  // never lost, never counted twice.
  std::uint64_t left3 = 0;
  if (!dev.drained(3)) {
    ASSERT_EQ(::read(dev.fd(3), &left3, sizeof left3), static_cast<ssize_t>(sizeof left3));
  }
  EXPECT_EQ(s.handled_per_vector[3] + left3, 2U);
}

TEST_P(ReactorConformance, ThreadsAndHandlersRunOnTheServingCpu) {
  FakeDevice dev(4);
  std::mutex mu;
  std::set<std::pair<unsigned, int>> where;  // (vector, cpu seen in handler)
  DispatchOptions o = options(dev);
  o.handler = [&](unsigned v, std::uint64_t, std::uint64_t) {
    std::lock_guard<std::mutex> lock(mu);
    where.insert({v, sched_getcpu()});
  };
  auto binds = bindings(dev, 4);
  auto d = Dispatcher::start(binds, o);
  ASSERT_TRUE(d.ok()) << d.error().message;
  for (unsigned v = 0; v < 4; ++v) dev.fire(v);
  const DispatchStats& s = (*d)->stop();
  for (const CpuStats& c : s.cpus) {
    EXPECT_EQ(c.reactor_ran_on, static_cast<int>(c.cpu));
    if (GetParam().handoff == Handoff::kQueue) {
      EXPECT_EQ(c.worker_ran_on, static_cast<int>(c.cpu));
    }
  }
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(where.size(), 4U);
  for (const auto& [v, cpu] : where) EXPECT_EQ(cpu, static_cast<int>(binds[v].cpu)) << "vector " << v;
}

TEST_P(ReactorConformance, LatencyIsNeverNegativeAndCpuTimeIsCounted) {
  FakeDevice dev(2);
  auto d = Dispatcher::start(bindings(dev, 2), options(dev));
  ASSERT_TRUE(d.ok()) << d.error().message;
  for (int k = 0; k < 50; ++k) {
    dev.fire(0);
    dev.fire(1);
  }
  const DispatchStats& s = (*d)->stop();
  for (const CpuStats& c : s.cpus) {
    EXPECT_EQ(c.negative_latency, 0U);
    EXPECT_GT(c.reactor_cpu_ns, 0U);
  }
  EXPECT_EQ(s.latency.count(), s.invocations());
}

TEST_P(ReactorConformance, StopClosesEveryFdItOpened) {
  FakeDevice dev(4);
  std::set<std::string> before = open_fds();
  {
    auto d = Dispatcher::start(bindings(dev, 4), options(dev));
    ASSERT_TRUE(d.ok()) << d.error().message;
    dev.fire(1);
    (*d)->stop();
  }
  EXPECT_EQ(open_fds(), before);
}

TEST_P(ReactorConformance, UnusableCpuFailsAndLeavesNothingRunning) {
  FakeDevice dev(2);
  std::set<std::string> before = open_fds();
  std::vector<VectorBinding> b{{0, dev.fd(0), 0}, {1, dev.fd(1), 4000}};
  auto d = Dispatcher::start(b, options(dev));
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("CPU 4000"), std::string::npos) << d.error().message;
  EXPECT_EQ(open_fds(), before);
}

// Lanes start in CPU order: the lane of CPU 0 is up (and has read vector
// 0's pending interrupts, or reads them in the stop's drain) before the lane
// of CPU 4000 fails. What it read comes back with the error, every count
// of it, and the eventfd is left empty: nothing read is thrown away.
TEST_P(ReactorConformance, AFailedStartReturnsWhatTheLanesThatStartedRead) {
  FakeDevice dev(2);
  dev.fire(0, 5);
  std::vector<VectorBinding> b{{0, dev.fd(0), 0}, {1, dev.fd(1), 4000}};
  DispatchStats partial;
  auto d = Dispatcher::start(b, options(dev), &partial);
  ASSERT_FALSE(d.ok());
  EXPECT_TRUE(dev.drained(0));
  EXPECT_EQ(partial.handled() + partial.dropped_queue_full(), 5U);
  ASSERT_GE(partial.handled_per_vector.size(), 1U);
  EXPECT_EQ(partial.handled_per_vector[0], partial.handled());
}

// Vector 1's fd cannot be read at all (/dev/null opened write-only: every
// read fails with EBADF at once). A reactor that retried it would spin its
// CPU for ever. Either the reactor refuses it when starting (epoll cannot
// watch /dev/null), or it reports it once, stops reading it and serves the
// other vector as before.
TEST_P(ReactorConformance, AnUnreadableVectorIsReportedOnceAndTheOthersAreServed) {
  FakeDevice dev(1);
  UniqueFd unreadable(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  ASSERT_TRUE(unreadable.valid());
  std::vector<VectorBinding> b{{0, dev.fd(0), 0}, {1, unreadable.get(), 0}};
  auto d = Dispatcher::start(b, options(dev));
  if (!d.ok()) {
    EXPECT_NE(d.error().message.find("epoll_ctl"), std::string::npos) << d.error().message;
    return;
  }
  for (int i = 0; i < 20; ++i) {
    dev.fire(0);
    ASSERT_TRUE(eventually([&] { return dev.drained(0); }));
  }
  const DispatchStats& s = (*d)->stop();
  EXPECT_EQ(s.handled(), 20U);
  ASSERT_EQ(s.errors.size(), 1U);
  EXPECT_NE(s.errors[0].find("vector 1"), std::string::npos) << s.errors[0];
  EXPECT_NE(s.errors[0].find("Bad file descriptor"), std::string::npos) << s.errors[0];
}

// The worker sits in the handler of the first interrupt; further reads of
// the same vector fill its queue (capacity 2) and the next one finds it
// full. Every step waits for the eventfd to be read, so it is not a race.
class QueuePressure : public ReactorConformance {
 protected:
  static DispatchStats run_with_full_queue(FullPolicy policy) {
    FakeDevice dev(1);
    std::latch entered(1);
    std::latch release(1);
    std::atomic<bool> first{true};
    DispatchOptions o = options(dev);
    o.queue_capacity = 2;
    o.when_full = policy;
    o.handler = [&](unsigned, std::uint64_t, std::uint64_t) {
      if (first.exchange(false)) {
        entered.count_down();
        release.wait();
      }
    };
    auto d = Dispatcher::start({{0, dev.fd(0), 0}}, o);
    EXPECT_TRUE(d.ok()) << d.error().message;
    dev.fire(0);
    entered.wait();
    for (int i = 0; i < 3; ++i) {  // two fill the queue, the third finds it full
      dev.fire(0);
      EXPECT_TRUE(eventually([&] { return dev.drained(0); }));
    }
    release.count_down();
    return (*d)->stop();
  }
};

TEST_P(QueuePressure, BackoffLosesNothing) {
  DispatchStats s = run_with_full_queue(FullPolicy::kBackoff);
  EXPECT_EQ(s.handled(), 4U);
  EXPECT_EQ(s.dropped_queue_full(), 0U);
  EXPECT_GE(s.cpus.at(0).backoffs, 1U);
}

TEST_P(QueuePressure, DropCountsWithItsReason) {
  DispatchStats s = run_with_full_queue(FullPolicy::kDrop);
  EXPECT_EQ(s.handled(), 3U);
  EXPECT_EQ(s.dropped_queue_full(), 1U);
  EXPECT_EQ(s.dropped_per_vector.at(0), 1U);
  EXPECT_EQ(s.handled() + s.dropped_queue_full(), 4U);
}

INSTANTIATE_TEST_SUITE_P(Reactors, ReactorConformance, testing::ValuesIn(kVariants), variant_name);
INSTANTIATE_TEST_SUITE_P(Reactors, QueuePressure, testing::ValuesIn(queue_variants()), variant_name);

TEST(ReactorNames, RoundTripAndUnknown) {
  for (ReactorKind k : {ReactorKind::kIoUring, ReactorKind::kEpoll, ReactorKind::kThread}) {
    auto back = reactor_from_name(reactor_name(k));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, k);
  }
  auto bad = reactor_from_name("kqueue");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "unknown reactor 'kqueue' (accepted: io_uring, epoll, thread)");
}

// The oldest kernel the dispatch path claims, checked at every start. In
// the lab (reactor_conformance_min_kernel) IRQD_EXPECT_KERNEL says which
// line the guest must be running, so the suite above is known to have run
// there.
TEST(MinimumKernel, OlderKernelsAreRefusedWithTheReason) {
  EXPECT_TRUE(check_kernel_release("6.1.0-37-amd64").ok());
  EXPECT_TRUE(check_kernel_release("6.12.117+deb12-amd64").ok());
  EXPECT_TRUE(check_kernel_release("7.0").ok());
  EXPECT_EQ(check_kernel_release("5.19.0-1-amd64").error().message,
            "Linux 5.19.0-1-amd64 is older than 6.1, the oldest kernel irqd dispatches on (it needs "
            "IORING_ASYNC_CANCEL_ANY, 5.19, and RWF_NOWAIT reads of eventfds, 5.12)");
  EXPECT_FALSE(check_kernel_release("6.0.12").ok());
  EXPECT_EQ(check_kernel_release("linux").error().message, "cannot tell the kernel version from 'linux'");
  utsname u{};
  ASSERT_EQ(::uname(&u), 0);
  EXPECT_TRUE(check_kernel_release(u.release).ok()) << u.release;
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read before any thread of this test starts
  if (const char* want = std::getenv("IRQD_EXPECT_KERNEL"); want != nullptr) {
    EXPECT_EQ(std::string(u.release).rfind(std::string(want) + ".", 0), 0U) << u.release << " is not " << want;
  }
}

}  // namespace
}  // namespace irqd
