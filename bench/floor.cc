// SPDX-License-Identifier: GPL-2.0-only

#include "bench/floor.h"

#include <fmt/format.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "base/unique_fd.h"

namespace irqd {
namespace {

std::string errno_text(std::string_view what, int err) { return std::string(what) + ": " + errno_string(err); }

std::uint64_t clock_ns(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<std::uint64_t>(ts.tv_nsec);
}

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// A ring torn down however the loop leaves.
class Ring {
 public:
  Ring() = default;
  ~Ring() {
    if (live_) io_uring_queue_exit(&ring_);
  }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  int init(unsigned entries, unsigned flags) {
    io_uring_params params{};
    params.flags = flags;
    const int r = io_uring_queue_init_params(entries, &ring_, &params);
    live_ = r == 0;
    return r;
  }
  io_uring* get() { return &ring_; }

 private:
  io_uring ring_{};
  bool live_ = false;
};

bool pin_self(unsigned cpu, std::string& why) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (int err = pthread_setaffinity_np(pthread_self(), sizeof set, &set); err != 0) {
    why = errno_text(fmt::format("floor: cannot pin a thread to CPU {}: pthread_setaffinity_np", cpu), err);
    return false;
  }
  return true;
}

// The first error any thread hits.
class Failure {
 public:
  void set(std::string what) {
    std::lock_guard lock(mu_);
    if (what_.empty()) what_ = std::move(what);
  }
  std::string what() {
    std::lock_guard lock(mu_);
    return what_;
  }

 private:
  std::mutex mu_;
  std::string what_;
};

// Waits until CLOCK_MONOTONIC reaches due_ns as the firing engine does
// (device/firing_engine.cc): sleep while more than 50 us away, then spin.
bool wait_until(std::uint64_t due_ns, const std::atomic<bool>& stop) {
  constexpr std::uint64_t kSpinNs = 50'000;
  constexpr std::uint64_t kMaxSleepNs = 10'000'000;
  while (true) {
    if (stop.load(std::memory_order_relaxed)) return false;
    const std::uint64_t now = clock_ns(CLOCK_MONOTONIC);
    if (now >= due_ns) return true;
    if (due_ns - now > kSpinNs) {
      const std::uint64_t wake = std::min(due_ns - kSpinNs, now + kMaxSleepNs);
      const timespec ts{static_cast<time_t>(wake / 1'000'000'000), static_cast<long>(wake % 1'000'000'000)};
      ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    } else {
      cpu_relax();
    }
  }
}

}  // namespace

std::string_view floor_method_name(FloorMethod method) {
  switch (method) {
    case FloorMethod::kUringRead: return "uring-read";
    case FloorMethod::kUringPoll: return "uring-poll";
    case FloorMethod::kEpoll: return "epoll";
    case FloorMethod::kThread: return "thread";
  }
  return "?";
}

Result<FloorMethod> parse_floor_method(std::string_view what, const std::string& name) {
  for (FloorMethod m : kFloorMethods)
    if (floor_method_name(m) == name) return m;
  return Error{fmt::format("{}: unknown floor method '{}' (accepted: {})", what, name, kFloorMethodNames)};
}

unsigned floor_uring_flags() { return IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN; }

void floor_epoll_loop(std::span<const int> fds, FloorReader& r) {
  UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  if (!ep.valid()) return r.fail(errno_text("epoll_create1", errno));
  for (std::size_t i = 0; i < fds.size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;  // level-triggered
    ev.data.u32 = static_cast<std::uint32_t>(i);
    if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fds[i], &ev) != 0) return r.fail(errno_text("epoll_ctl", errno));
  }
  r.ready();
  std::vector<epoll_event> evs(fds.size());
  FloorTally t;
  while (t.stops < fds.size()) {
    const int n = ::epoll_wait(ep.get(), evs.data(), static_cast<int>(evs.size()), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return r.fail(errno_text("epoll_wait", errno));
    }
    t.events += static_cast<std::uint64_t>(n);
    for (int i = 0; i < n; ++i) {
      // Level-triggered epoll said readable and this is the fd's only
      // reader: the blocking read returns at once.
      std::uint64_t v;
      if (::read(fds[evs[i].data.u32], &v, sizeof v) != sizeof v) return r.fail(errno_text("read", errno));
      t.count(v);
    }
    t.publish(r.progress);
  }
}

// The ring is created here, on the reading thread: SINGLE_ISSUER binds it
// to the task that creates it.
void floor_uring_read_loop(std::span<const int> fds, unsigned setup_flags, FloorReader& r) {
  const auto n = static_cast<unsigned>(fds.size());
  Ring ring;
  if (const int e = ring.init(2 * n, setup_flags); e < 0) return r.fail(errno_text("io_uring_queue_init_params", -e));
  io_uring* ring_p = ring.get();
  if (const int e = io_uring_register_files(ring_p, fds.data(), n); e < 0)
    return r.fail(errno_text("io_uring_register_files", -e));
  std::vector<std::uint64_t> bufs(n);
  auto arm = [&](unsigned i) {
    io_uring_sqe* sqe = io_uring_get_sqe(ring_p);  // never null: at most n in flight, 2n entries
    io_uring_prep_read(sqe, static_cast<int>(i), &bufs[i], sizeof bufs[i], 0);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, i);
  };
  for (unsigned i = 0; i < n; ++i) arm(i);
  r.ready();
  std::vector<unsigned> rearm(n);
  FloorTally t;
  while (t.stops < n) {
    if (const int e = io_uring_submit_and_wait(ring_p, 1); e < 0) {
      if (e == -EINTR) continue;
      return r.fail(errno_text("io_uring_submit_and_wait", -e));
    }
    unsigned head;
    unsigned seen = 0;
    unsigned nrearm = 0;
    io_uring_cqe* cqe;
    bool failed = false;
    io_uring_for_each_cqe(ring_p, head, cqe) {
      ++seen;
      const auto i = static_cast<unsigned>(cqe->user_data);
      if (cqe->res != sizeof(std::uint64_t)) {
        r.fail(errno_text("IORING_OP_READ", cqe->res < 0 ? -cqe->res : EIO));
        failed = true;
        continue;
      }
      // An fd that delivered the stop token is not read again.
      if (!t.count(bufs[i])) rearm[nrearm++] = i;
    }
    io_uring_cq_advance(ring_p, seen);
    t.events += seen;
    t.publish(r.progress);
    if (failed) return;
    for (unsigned j = 0; j < nrearm; ++j) arm(rearm[j]);
  }
}

// A multishot poll posts a CQE per wake-up it sees, so one fd can have
// several CQEs pending and a later one can be stale (the count already
// read on the first). So each batch reads each signalled fd once, with
// RWF_NOWAIT (same read path, but -EAGAIN instead of sleeping on a stale
// one); the stale ones are counted as empty.
void floor_uring_poll_loop(std::span<const int> fds, unsigned setup_flags, FloorReader& r) {
  const auto n = static_cast<unsigned>(fds.size());
  Ring ring;
  if (const int e = ring.init(2 * n, setup_flags); e < 0) return r.fail(errno_text("io_uring_queue_init_params", -e));
  io_uring* ring_p = ring.get();
  auto arm = [&](unsigned i) {
    io_uring_sqe* sqe = io_uring_get_sqe(ring_p);
    io_uring_prep_poll_multishot(sqe, fds[i], POLLIN);
    io_uring_sqe_set_data64(sqe, i);
  };
  for (unsigned i = 0; i < n; ++i) arm(i);
  r.ready();
  // Per batch: which fds were signalled (each listed once) and which lost
  // their multishot poll (no IORING_CQE_F_MORE) and need it again.
  std::vector<unsigned char> signalled(n), lost(n), stopped(n);
  std::vector<unsigned> ready_list, rearm_list;
  ready_list.reserve(n);
  rearm_list.reserve(n);
  FloorTally t;
  while (t.stops < n) {
    if (const int e = io_uring_submit_and_wait(ring_p, 1); e < 0) {
      if (e == -EINTR) continue;
      return r.fail(errno_text("io_uring_submit_and_wait", -e));
    }
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    bool failed = false;
    io_uring_for_each_cqe(ring_p, head, cqe) {
      ++seen;
      const auto i = static_cast<unsigned>(cqe->user_data);
      if (cqe->res < 0) {
        r.fail(errno_text("multishot poll", -cqe->res));
        failed = true;
        continue;
      }
      if (!signalled[i]) {
        signalled[i] = 1;
        ready_list.push_back(i);
      }
      if (!(cqe->flags & IORING_CQE_F_MORE) && !lost[i]) {
        lost[i] = 1;
        rearm_list.push_back(i);
      }
    }
    io_uring_cq_advance(ring_p, seen);
    t.events += seen;
    if (failed) return;
    for (unsigned i : ready_list) {
      signalled[i] = 0;
      std::uint64_t v;
      iovec iov{&v, sizeof v};
      const ssize_t got = ::preadv2(fds[i], &iov, 1, -1, RWF_NOWAIT);
      if (got == sizeof v) {
        if (t.count(v)) stopped[i] = 1;
      } else if (got < 0 && errno == EAGAIN) {
        ++t.empty;
      } else {
        return r.fail(errno_text("preadv2(RWF_NOWAIT)", got < 0 ? errno : EIO));
      }
    }
    ready_list.clear();
    t.publish(r.progress);
    for (unsigned i : rearm_list) {
      lost[i] = 0;
      if (!stopped[i]) arm(i);
    }
    rearm_list.clear();
  }
}

void floor_blocking_loop(int fd, FloorReader& r) {
  r.ready();
  FloorTally t;
  while (t.stops == 0) {
    std::uint64_t v;
    if (::read(fd, &v, sizeof v) != sizeof v) {
      if (errno == EINTR) continue;
      return r.fail(errno_text("read", errno));
    }
    ++t.events;
    t.count(v);
    t.publish(r.progress);
  }
}

Result<FloorResult> run_floor(const FloorRunOptions& o) {
  const auto nvectors = static_cast<unsigned>(o.vector_cpus.size());
  if (nvectors == 0) return Error{"floor: no vectors"};
  if (o.fire_cpu < 0) return Error{"floor: the writer's CPU is not set"};
  std::vector<UniqueFd> owned;
  std::vector<int> fds;
  for (unsigned i = 0; i < nvectors; ++i) {
    // Blocking, as the software device's: io_uring's read waits on it.
    UniqueFd fd(::eventfd(0, EFD_CLOEXEC));
    if (!fd.valid()) return Error{errno_text("floor: eventfd", errno)};
    fds.push_back(fd.get());
    owned.push_back(std::move(fd));
  }
  // The readers: one per serving CPU over its vectors, or one per vector
  // for the blocking-thread method.
  std::vector<std::pair<unsigned, std::vector<int>>> groups;
  if (o.method == FloorMethod::kThread) {
    for (unsigned i = 0; i < nvectors; ++i) groups.push_back({o.vector_cpus[i], {fds[i]}});
  } else {
    std::map<unsigned, std::vector<int>> by_cpu;
    for (unsigned i = 0; i < nvectors; ++i) by_cpu[o.vector_cpus[i]].push_back(fds[i]);
    for (auto& [cpu, list] : by_cpu) groups.emplace_back(cpu, std::move(list));
  }

  Failure failure;
  std::atomic<std::size_t> ready{0};
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};
  std::deque<FloorProgress> progress(groups.size());
  std::vector<std::uint64_t> cpu_ns(groups.size(), 0);
  std::atomic<std::uint64_t> fired{0};
  auto signal_ready = [&ready] {
    ready.fetch_add(1);
    ready.notify_all();
  };

  std::vector<std::jthread> readers;
  readers.reserve(groups.size());
  for (std::size_t g = 0; g < groups.size(); ++g) {
    readers.emplace_back([&, g] {
      bool signalled = false;
      FloorReader r{progress[g],
                    [&] {
                      signalled = true;
                      signal_ready();
                    },
                    [&](std::string why) { failure.set(std::move(why)); }};
      std::string why;
      if (!pin_self(groups[g].first, why)) {
        failure.set(why);
      } else {
        const std::span<const int> mine = groups[g].second;
        switch (o.method) {
          case FloorMethod::kUringRead: floor_uring_read_loop(mine, floor_uring_flags(), r); break;
          case FloorMethod::kUringPoll: floor_uring_poll_loop(mine, floor_uring_flags(), r); break;
          case FloorMethod::kEpoll: floor_epoll_loop(mine, r); break;
          case FloorMethod::kThread: floor_blocking_loop(mine.front(), r); break;
        }
      }
      cpu_ns[g] = clock_ns(CLOCK_THREAD_CPUTIME_ID);
      if (!signalled) signal_ready();
    });
  }

  std::jthread writer([&] {
    std::string why;
    const bool pinned = pin_self(static_cast<unsigned>(o.fire_cpu), why);
    if (!pinned) failure.set(why);
    go.wait(false);
    if (!pinned) return;
    VectorSampler sampler(o.choice, nvectors, o.seed);
    const std::uint64_t one = 1;
    std::uint64_t count = 0;
    auto write_one = [&]() -> bool {
      if (::write(fds[sampler.next()], &one, sizeof one) != sizeof one) {
        failure.set(errno_text("floor: writer: write", errno));
        return false;
      }
      ++count;
      return true;
    };
    if (o.pattern.kind == FirePattern::Kind::kSaturate) {
      while (!stop.load(std::memory_order_relaxed))
        if (!write_one()) break;
    } else {
      ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
      FireSchedule schedule(o.pattern, o.seed);
      const std::uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
      bool ok = true;
      while (ok && wait_until(t0 + schedule.next_offset_ns(), stop)) {
        for (unsigned b = 0; ok && b < schedule.fires_per_event(); ++b) ok = write_one();
      }
    }
    fired.store(count);
  });

  // Everyone set up (or failed) before the writer starts and the clock runs.
  for (std::size_t n = ready.load(); n < groups.size(); n = ready.load()) ready.wait(n);
  const std::uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
  go.store(true);
  go.notify_all();
  if (failure.what().empty())
    std::this_thread::sleep_for(std::chrono::nanoseconds(static_cast<std::int64_t>(o.seconds * 1e9)));
  stop.store(true);
  writer.join();
  // Only now: with the writer gone nothing else raises the counts, so a
  // token cannot push a count past the eventfd maximum and block.
  for (int fd : fds) {
    const std::uint64_t token = kFloorStop;
    if (::write(fd, &token, sizeof token) != sizeof token) failure.set(errno_text("floor: stop token: write", errno));
  }
  for (std::jthread& t : readers) t.join();
  const std::uint64_t t1 = clock_ns(CLOCK_MONOTONIC);
  if (std::string why = failure.what(); !why.empty())
    return Error{fmt::format("floor {}: {}", floor_method_name(o.method), why)};

  FloorResult res;
  res.seconds = static_cast<double>(t1 - t0) / 1e9;
  res.fired = fired.load();
  for (std::size_t g = 0; g < groups.size(); ++g) {
    res.interrupts += progress[g].irqs.load(std::memory_order_relaxed);
    res.reader_cpu_ns += cpu_ns[g];
  }
  if (res.interrupts != res.fired)
    return Error{fmt::format("floor {}: fired {} but read {} (off by {})", floor_method_name(o.method), res.fired,
                             res.interrupts,
                             static_cast<std::int64_t>(res.fired) - static_cast<std::int64_t>(res.interrupts))};
  return res;
}

}  // namespace irqd
