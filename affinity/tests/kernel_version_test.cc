// SPDX-License-Identifier: GPL-2.0-only
//
// Kernel versions: what is accepted, which generation each maps to, and the
// traits each generation has (see kernel_version.h for the sources).

#include "affinity/kernel_version.h"

#include <gtest/gtest.h>
#include <sys/utsname.h>

#include <set>
#include <string>

namespace irqd {
namespace {

KernelVersion Parse(const std::string& text) {
  auto v = parse_kernel_version(text);
  EXPECT_TRUE(v.ok()) << text << ": " << v.error().message;
  return v.ok() ? v.value() : KernelVersion{};
}

void ExpectVersion(const std::string& text, unsigned major, unsigned minor, unsigned patch) {
  KernelVersion v = Parse(text);
  EXPECT_EQ(v.major, major) << text;
  EXPECT_EQ(v.minor, minor) << text;
  EXPECT_EQ(v.patch, patch) << text;
  EXPECT_EQ(v.text, text);
}

TEST(KernelVersion, AcceptsReleasesAndPackageVersions) {
  ExpectVersion("6.1", 6, 1, 0);
  ExpectVersion("6.12.117", 6, 12, 117);
  ExpectVersion("6.12.117+deb12-amd64", 6, 12, 117);
  ExpectVersion("6.19-rc3", 6, 19, 0);
  ExpectVersion("6.18", 6, 18, 0);
  ExpectVersion("6.1.0-37-amd64", 6, 1, 0);  // Debian 12's uname -r for its 6.1
  ExpectVersion("6.11.4-301.fc41.x86_64", 6, 11, 4);
  ExpectVersion("6.6.87.2-microsoft-standard-WSL2", 6, 6, 87);
  ExpectVersion("6.8.0-45-generic", 6, 8, 0);
  ExpectVersion("7.0", 7, 0, 0);
  ExpectVersion("v6.18", 6, 18, 0);
}

TEST(KernelVersion, RefusesWhatIsNotARelease) {
  for (const char* bad : {"", "6", "6.", "6.x", "six", "6.1.", "6.1 ", " 6.1", "6..1", "-6.1", "6.1+", "6.1.x",
                          "1234567.1", "6.1234567", "6,1", "latest", "6.1-\x01"}) {
    auto v = parse_kernel_version(bad);
    ASSERT_FALSE(v.ok()) << "'" << bad << "' was accepted";
    EXPECT_EQ(v.error().message, "kernel version '" + std::string(bad) +
                                     "' is not a kernel release (accepted: MAJOR.MINOR[.PATCH][suffix] from 6.1 on, "
                                     "e.g. 6.1, 6.12.117, 6.12.117+deb12-amd64, 6.19-rc3, or live)");
  }
}

TEST(KernelVersion, RefusesLinesOlderThanTheCodeRead) {
  for (const char* old : {"5.15", "5.15.0-91-generic", "6.0", "4.19.325"}) {
    auto v = parse_kernel_version(old);
    ASSERT_FALSE(v.ok()) << old;
    EXPECT_EQ(v.error().message,
              "kernel version '" + std::string(old) +
                  "' is older than 6.1, the oldest line irqd reproduces (accepted: MAJOR.MINOR[.PATCH][suffix] from "
                  "6.1 on, e.g. 6.1, 6.12.117, 6.12.117+deb12-amd64, 6.19-rc3, or live)");
  }
}

TEST(KernelVersion, LiveIsThisMachinesRelease) {
  struct utsname u {};
  ASSERT_EQ(uname(&u), 0);
  auto live = parse_kernel_version("live");
  auto direct = parse_kernel_version(u.release);
  ASSERT_EQ(live.ok(), direct.ok()) << u.release;
  if (!live.ok()) {
    EXPECT_NE(live.error().message.find(u.release), std::string::npos) << live.error().message;
    return;
  }
  EXPECT_EQ(live->text, u.release);
  EXPECT_EQ(live->major, direct->major);
  EXPECT_EQ(live->minor, direct->minor);
  EXPECT_EQ(live->patch, direct->patch);
}

TEST(KernelVersion, DefaultIs618) {
  KernelVersion v = default_kernel_version();
  EXPECT_EQ(v.major, 6U);
  EXPECT_EQ(v.minor, 18U);
  EXPECT_EQ(v.text, "6.18");
  EXPECT_EQ(kernel_generation(v), KernelGeneration::k6_16To6_18);
  KernelVersion plain;  // the struct's own defaults are 6.18 too
  EXPECT_EQ(kernel_generation(plain), KernelGeneration::k6_16To6_18);
}

TEST(KernelVersion, AtLeast) {
  KernelVersion v = Parse("6.12.36");
  EXPECT_TRUE(kernel_at_least(v, 6, 12, 36));
  EXPECT_TRUE(kernel_at_least(v, 6, 12));
  EXPECT_TRUE(kernel_at_least(v, 5, 99, 99));
  EXPECT_FALSE(kernel_at_least(v, 6, 12, 37));
  EXPECT_FALSE(kernel_at_least(v, 6, 13));
  EXPECT_FALSE(kernel_at_least(v, 7, 0));
}

TEST(KernelVersion, Generations) {
  auto gen = [](const char* text) { return kernel_generation(Parse(text)); };
  EXPECT_EQ(gen("6.1"), KernelGeneration::kUpTo6_10);
  EXPECT_EQ(gen("6.1.0-37-amd64"), KernelGeneration::kUpTo6_10);
  EXPECT_EQ(gen("6.6.87"), KernelGeneration::kUpTo6_10);
  EXPECT_EQ(gen("6.10.14"), KernelGeneration::kUpTo6_10);
  EXPECT_EQ(gen("6.11"), KernelGeneration::k6_11To6_15);
  EXPECT_EQ(gen("6.12.117+deb12-amd64"), KernelGeneration::k6_11To6_15);
  EXPECT_EQ(gen("6.15.11"), KernelGeneration::k6_11To6_15);
  EXPECT_EQ(gen("6.16-rc1"), KernelGeneration::k6_16To6_18);
  EXPECT_EQ(gen("6.18.2"), KernelGeneration::k6_16To6_18);
  EXPECT_EQ(gen("6.19"), KernelGeneration::k6_19On);
  EXPECT_EQ(gen("6.19-rc3"), KernelGeneration::k6_19On);
  EXPECT_EQ(gen("7.0"), KernelGeneration::k6_19On);
}

TEST(KernelVersion, EachGenerationHasASummaryAndARepresentative) {
  std::set<std::string_view> seen;
  ASSERT_EQ(all_kernel_generations().size(), 4U);
  for (KernelGeneration g : all_kernel_generations()) {
    EXPECT_FALSE(generation_summary(g).empty());
    EXPECT_TRUE(seen.insert(generation_summary(g)).second);
    EXPECT_EQ(kernel_generation(representative_version(g)), g);
  }
  EXPECT_EQ(generation_summary(KernelGeneration::k6_11To6_15), "6.11-6.15: double-pop sort");
  EXPECT_EQ(representative_version(KernelGeneration::kUpTo6_10).text, "6.10");
}

TEST(KernelVersion, TraitsChangeWhereTheCodeChanged) {
  auto traits = [](const char* text) { return kernel_traits(Parse(text)); };
  // lib/sort.c: double-pop from v6.11.
  EXPECT_EQ(traits("6.10.14").sort, KernelSort::kOnePop);
  EXPECT_EQ(traits("6.11").sort, KernelSort::kDoublePop);
  EXPECT_EQ(traits("6.19").sort, KernelSort::kDoublePop);
  // nummasks and packed sets from v6.16.
  EXPECT_FALSE(traits("6.15.11").nr_masks);
  EXPECT_TRUE(traits("6.16").nr_masks);
  EXPECT_TRUE(traits("6.19").nr_masks);
  // Cluster-aware grouping from v6.19.
  EXPECT_FALSE(traits("6.18.9").cluster_aware);
  EXPECT_TRUE(traits("6.19-rc1").cluster_aware);
  // A set of size 0.
  EXPECT_EQ(traits("6.1").zero_size_set, ZeroSizeSet::kOrIntoFollowingVectors);
  EXPECT_EQ(traits("6.2.16").zero_size_set, ZeroSizeSet::kOrIntoFollowingVectors);
  EXPECT_EQ(traits("6.3").zero_size_set, ZeroSizeSet::kOops);
  EXPECT_EQ(traits("6.12.35").zero_size_set, ZeroSizeSet::kOops);
  EXPECT_EQ(traits("6.12.36").zero_size_set, ZeroSizeSet::kNoMasks);
  EXPECT_EQ(traits("6.12.117+deb12-amd64").zero_size_set, ZeroSizeSet::kNoMasks);
  EXPECT_EQ(traits("6.15").zero_size_set, ZeroSizeSet::kOops);
  EXPECT_EQ(traits("6.16").zero_size_set, ZeroSizeSet::kNoMasks);
}

}  // namespace
}  // namespace irqd
