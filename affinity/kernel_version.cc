// SPDX-License-Identifier: GPL-2.0-only

#include "affinity/kernel_version.h"

#include <sys/utsname.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <optional>

namespace irqd {
namespace {

constexpr std::string_view kAccepted =
    "accepted: MAJOR.MINOR[.PATCH][suffix] from 6.1 on, e.g. 6.1, 6.12.117, 6.12.117+deb12-amd64, 6.19-rc3, "
    "or live";

// The oldest line whose code was read (the 6.1 kernel/irq/affinity.c and
// the lib/sort.c of v5.x-v6.10).
constexpr unsigned kOldestMajor = 6;
constexpr unsigned kOldestMinor = 1;

// Where each generation starts.
constexpr std::array<unsigned, 2> kDoublePopSortSince{6, 11};  // lib/sort.c double-pop
constexpr std::array<unsigned, 2> kGroupCpusInLibSince{6, 3};  // f7b3ea8cf72f
constexpr std::array<unsigned, 2> kNrMasksSince{6, 16};        // nummasks, NULL for 0 groups
// "lib/group_cpus: make group CPU cluster aware". The issue names 6.19; note
// that akpm's mm-nonmm-stable took it on 2026-01-27, during the 6.19-rc
// cycle, which points at the merge window after 6.19. One constant to move
// if a 6.19 kernel proves otherwise.
constexpr std::array<unsigned, 2> kClusterAwareSince{6, 19};

constexpr std::array<KernelGeneration, 4> kGenerations{KernelGeneration::kUpTo6_10, KernelGeneration::k6_11To6_15,
                                                       KernelGeneration::k6_16To6_18, KernelGeneration::k6_19On};

bool since(const KernelVersion& v, const std::array<unsigned, 2>& mm) { return kernel_at_least(v, mm[0], mm[1]); }

// Up to 6 digits at text[*pos]; advances *pos.
std::optional<unsigned> number_at(std::string_view text, std::size_t* pos) {
  std::size_t start = *pos;
  unsigned value = 0;
  while (*pos < text.size() && std::isdigit(static_cast<unsigned char>(text[*pos])) && *pos - start < 6)
    value = value * 10 + static_cast<unsigned>(text[(*pos)++] - '0');
  if (*pos == start || (*pos < text.size() && std::isdigit(static_cast<unsigned char>(text[*pos]))))
    return std::nullopt;
  return value;
}

Result<KernelVersion> parse_release(std::string_view text, std::string_view shown) {
  auto bad = [&] {
    return Error{"kernel version '" + std::string(shown) + "' is not a kernel release (" + std::string(kAccepted) +
                 ")"};
  };
  std::size_t pos = 0;
  if (!text.empty() && text[0] == 'v') pos = 1;
  KernelVersion v;
  auto major = number_at(text, &pos);
  if (!major || pos >= text.size() || text[pos] != '.') return bad();
  ++pos;
  auto minor = number_at(text, &pos);
  if (!minor) return bad();
  v.major = *major;
  v.minor = *minor;
  v.patch = 0;
  if (pos + 1 < text.size() && text[pos] == '.' && std::isdigit(static_cast<unsigned char>(text[pos + 1]))) {
    ++pos;
    auto patch = number_at(text, &pos);
    if (!patch) return bad();
    v.patch = *patch;
  }
  if (pos < text.size()) {
    // A suffix: "-rc3", "+deb12-amd64", "-37-amd64", ".fc41.x86_64".
    constexpr std::string_view kSeparators = "-+_~.";
    if (kSeparators.find(text[pos]) == std::string_view::npos || pos + 1 == text.size()) return bad();
    if (text[pos] == '.' && !std::isdigit(static_cast<unsigned char>(text[pos + 1]))) return bad();
    for (std::size_t i = pos; i < text.size(); ++i)
      if (!std::isgraph(static_cast<unsigned char>(text[i]))) return bad();
  }
  if (v.major < kOldestMajor || (v.major == kOldestMajor && v.minor < kOldestMinor))
    return Error{"kernel version '" + std::string(shown) + "' is older than 6.1, the oldest line irqd reproduces (" +
                 std::string(kAccepted) + ")"};
  v.text = std::string(text);
  return v;
}

}  // namespace

Result<KernelVersion> parse_kernel_version(std::string_view text) {
  if (text == "live") {
    struct utsname u {};
    if (uname(&u) != 0) return Error{"kernel version 'live': uname failed: " + errno_string(errno)};
    auto v = parse_release(u.release, u.release);
    if (!v) return Error{"kernel version 'live' is this machine's uname release, and " + v.error().message};
    return v;
  }
  return parse_release(text, text);
}

KernelVersion default_kernel_version() { return KernelVersion{6, 18, 0, "6.18"}; }

bool kernel_at_least(const KernelVersion& v, unsigned major, unsigned minor, unsigned patch) {
  if (v.major != major) return v.major > major;
  if (v.minor != minor) return v.minor > minor;
  return v.patch >= patch;
}

KernelGeneration kernel_generation(const KernelVersion& v) {
  if (since(v, kClusterAwareSince)) return KernelGeneration::k6_19On;
  if (since(v, kNrMasksSince)) return KernelGeneration::k6_16To6_18;
  if (since(v, kDoublePopSortSince)) return KernelGeneration::k6_11To6_15;
  return KernelGeneration::kUpTo6_10;
}

std::string_view generation_summary(KernelGeneration g) {
  switch (g) {
    case KernelGeneration::kUpTo6_10: return "up to 6.10: one-pop heapsort, unfilled vectors get empty masks";
    case KernelGeneration::k6_11To6_15: return "6.11-6.15: double-pop sort";
    case KernelGeneration::k6_16To6_18: return "6.16-6.18: nr_masks, sets compacted";
    case KernelGeneration::k6_19On: return "6.19 on: cluster-aware grouping";
  }
  return "?";
}

std::span<const KernelGeneration> all_kernel_generations() { return kGenerations; }

KernelVersion representative_version(KernelGeneration g) {
  switch (g) {
    case KernelGeneration::kUpTo6_10: return KernelVersion{6, 10, 0, "6.10"};
    case KernelGeneration::k6_11To6_15: return KernelVersion{6, 15, 0, "6.15"};
    case KernelGeneration::k6_16To6_18: return KernelVersion{6, 18, 0, "6.18"};
    case KernelGeneration::k6_19On: return KernelVersion{6, 19, 0, "6.19"};
  }
  return default_kernel_version();
}

KernelTraits kernel_traits(const KernelVersion& v) {
  KernelTraits t;
  t.sort = since(v, kDoublePopSortSince) ? KernelSort::kDoublePop : KernelSort::kOnePop;
  t.nr_masks = since(v, kNrMasksSince);
  t.cluster_aware = since(v, kClusterAwareSince);
  if (!since(v, kGroupCpusInLibSince)) {
    t.zero_size_set = ZeroSizeSet::kOrIntoFollowingVectors;
  } else if (since(v, kNrMasksSince) || (v.major == 6 && v.minor == 12 && v.patch >= 36)) {
    t.zero_size_set = ZeroSizeSet::kNoMasks;
  } else {
    t.zero_size_set = ZeroSizeSet::kOops;
  }
  return t;
}

}  // namespace irqd
