// SPDX-License-Identifier: GPL-2.0-only
//
// Soak (ctest label soak): a software device firing at full rate goes
// through IRQD_SOAK_CYCLES unbind/bind cycles and as many moves of one of
// its vectors (default 1000 each: CI's bounded variant; set it to 100000
// for the long run by hand). After every cycle the report accounts for
// every fire; at the end the process holds as many fds and threads as
// after the warm-up, and its RSS has not grown by more than a bounded
// history of reports could explain.
//
// Not a timing test: nothing here depends on how fast a cycle is.

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "base/tests/rss.h"
#include "base/tests/sanitizers.h"
#include "host/host.h"

namespace irqd {
namespace {

namespace fs = std::filesystem;

unsigned soak_cycles() {
  const char* env = std::getenv("IRQD_SOAK_CYCLES");  // NOLINT(concurrency-mt-unsafe): before threads
  if (env == nullptr || *env == '\0') return 1000;
  char* end = nullptr;
  const unsigned long n = std::strtoul(env, &end, 10);
  if (*end != '\0' || n == 0 || n > 10'000'000) {
    ADD_FAILURE() << "IRQD_SOAK_CYCLES=" << env << ": expected 1..10000000";
    return 1;
  }
  return static_cast<unsigned>(n);
}

std::size_t count_entries(const char* dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}
std::size_t open_fds() { return count_entries("/proc/self/fd"); }
std::size_t threads() { return count_entries("/proc/self/task"); }

// A joined thread may still be listed for a moment while the kernel reaps
// it: wait for the count to settle (a guard against hangs, not a timing
// assertion).
std::size_t threads_settled(std::size_t expected) {
  std::size_t now = threads();
  for (int i = 0; i < 5000 && now != expected; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    now = threads();
  }
  return now;
}

DeviceSpec saturating_device() {
  DeviceSpec s;
  s.kind = DeviceSpec::Kind::kSoftware;
  s.name = "soft0";
  s.vectors = 4;
  s.firing.pattern.kind = FirePattern::Kind::kSaturate;
  // Vector 0 unmanaged (a pre-vector): the moves take it to any CPU, as
  // the host refuses for a managed one outside its mask.
  s.driver_options.affinity.pre_vectors = 1;
  return s;
}

class Soak : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = Topology::load("live");
    ASSERT_TRUE(t.ok()) << t.error().message;
    topo_ = std::make_unique<Topology>(std::move(*t));
    host_ = std::make_unique<Host>(*topo_, HostOptions{});
    ASSERT_TRUE(host_->add(saturating_device()).ok());
  }

  // One unbind/bind cycle; the report must account for every fire.
  void cycle(unsigned i) {
    auto r = host_->unbind("soft0", "command");
    ASSERT_TRUE(r.ok()) << "cycle " << i << ": " << r.error().message;
    const DeviceReport& rep = **r;
    ASSERT_TRUE(rep.fired_known);
    ASSERT_EQ(rep.fired, rep.dispatch.handled() + rep.dropped())
        << "cycle " << i << ": handled " << rep.dispatch.handled() << " dropped " << rep.dropped();
    ASSERT_TRUE(rep.unbind.leaks.empty()) << "cycle " << i;
    ASSERT_TRUE(rep.unbind.problems.empty()) << "cycle " << i;
    ASSERT_TRUE(rep.unbind.errors.empty()) << "cycle " << i << ": " << rep.unbind.errors.front();
    ASSERT_TRUE(rep.dispatch.errors.empty()) << "cycle " << i << ": " << rep.dispatch.errors.front();
    Status s = host_->add(saturating_device());
    ASSERT_TRUE(s.ok()) << "cycle " << i << ": " << s.error().message;
  }

  std::unique_ptr<Topology> topo_;
  std::unique_ptr<Host> host_;
};

// The warm-up fills what is allocated once (the report history, the
// allocator's per-thread arenas); from then on a cycle must give back all
// it takes.
constexpr unsigned kWarmup = 64;
// What RSS may drift by over the whole run: about the size of 32 more kept
// reports' histograms; keeping every report would grow it by ~90 KiB a
// cycle (88 MiB over the default 1000).
constexpr std::uint64_t kRssSlackKib = 8 * 1024;

TEST_F(Soak, UnbindAndBindUnderLoadAccountsEveryCycleAndGivesEverythingBack) {
  const unsigned cycles = soak_cycles();
  for (unsigned i = 0; i < kWarmup; ++i) ASSERT_NO_FATAL_FAILURE(cycle(i));
  const std::size_t fds = open_fds();
  const std::size_t tasks = threads();
  const std::uint64_t rss = test::rss_kib();
  ASSERT_GT(rss, 0U) << "no VmRSS in /proc/self/status";

  for (unsigned i = 0; i < cycles; ++i) ASSERT_NO_FATAL_FAILURE(cycle(kWarmup + i));

  EXPECT_EQ(open_fds(), fds);
  EXPECT_EQ(threads_settled(tasks), tasks);
  const std::uint64_t rss_end = test::rss_kib();
  if (!test::kUnderSanitizer) {
    EXPECT_LE(rss_end, rss + kRssSlackKib)
        << "RSS " << rss << " KiB after the warm-up, " << rss_end << " KiB after " << cycles << " cycles";
  }
  const ReportTotals& t = host_->report_totals();
  EXPECT_EQ(t.unbinds, kWarmup + cycles);
  EXPECT_EQ(t.not_accounted, 0U);
  EXPECT_LE(host_->reports().size(), 32U);
  std::printf("soak: %u unbind/bind cycles, %llu interrupts handled; fds %zu, threads %zu, RSS %llu -> %llu KiB\n",
              cycles, static_cast<unsigned long long>(t.handled), fds, tasks, static_cast<unsigned long long>(rss),
              static_cast<unsigned long long>(rss_end));
}

TEST_F(Soak, MovesUnderLoadLoseNothingAndGiveEverythingBack) {
  if (topo_->present().weight() < 2) GTEST_SKIP() << "one CPU: nowhere to move to";
  const unsigned cycles = soak_cycles();
  const Vector v = host_->status("soft0")->vectors.front();
  const unsigned home = static_cast<unsigned>(v.serving_cpu);
  const unsigned away =
      home == topo_->present().first() ? topo_->present().to_vector().back() : topo_->present().first();

  // The live count only ever grows across moves, and the moves are
  // counted one by one.
  std::uint64_t handled = 0;
  auto move = [&](unsigned i) {
    const unsigned cpu = i % 2 == 0 ? away : home;
    Status s = host_->move("soft0", v.index, cpu);
    ASSERT_TRUE(s.ok()) << "move " << i << ": " << s.error().message;
    auto st = host_->status("soft0");
    ASSERT_TRUE(st.ok());
    ASSERT_EQ(st->moves, i + 1U);
    ASSERT_EQ(st->vectors.front().serving_cpu, static_cast<int>(cpu));
    ASSERT_GE(st->handled, handled) << "move " << i << ": the merged count went back";
    handled = st->handled;
  };
  for (unsigned i = 0; i < kWarmup; ++i) ASSERT_NO_FATAL_FAILURE(move(i));
  const std::size_t fds = open_fds();
  const std::size_t tasks = threads();
  const std::uint64_t rss = test::rss_kib();
  ASSERT_GT(rss, 0U) << "no VmRSS in /proc/self/status";

  for (unsigned i = kWarmup; i < kWarmup + cycles; ++i) ASSERT_NO_FATAL_FAILURE(move(i));

  EXPECT_EQ(open_fds(), fds);
  EXPECT_EQ(threads_settled(tasks), tasks);
  const std::uint64_t rss_end = test::rss_kib();
  if (!test::kUnderSanitizer) {
    EXPECT_LE(rss_end, rss + kRssSlackKib)
        << "RSS " << rss << " KiB after the warm-up, " << rss_end << " KiB after " << cycles << " moves";
  }
  // Every fire of every dispatcher the device had, accounted at the end.
  auto r = host_->unbind("soft0", "command");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const DeviceReport& rep = **r;
  EXPECT_EQ(rep.fired, rep.dispatch.handled() + rep.dropped())
      << "handled " << rep.dispatch.handled() << " dropped " << rep.dropped();
  EXPECT_GE(rep.dispatch.handled(), handled);
  EXPECT_TRUE(rep.unbind.errors.empty());
  EXPECT_TRUE(rep.dispatch.errors.empty());
  std::printf("soak: %u moves, %llu fired, %llu handled, %llu dropped; fds %zu, threads %zu, RSS %llu -> %llu KiB\n",
              kWarmup + cycles, static_cast<unsigned long long>(rep.fired),
              static_cast<unsigned long long>(rep.dispatch.handled()), static_cast<unsigned long long>(rep.dropped()),
              fds, tasks, static_cast<unsigned long long>(rss), static_cast<unsigned long long>(rss_end));
}

}  // namespace
}  // namespace irqd
