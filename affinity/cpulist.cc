// SPDX-License-Identifier: GPL-2.0-only

#include "affinity/cpulist.h"

#include <algorithm>
#include <charconv>
#include <string>

namespace irqd {
namespace {

// Above any CPU id Linux allows (NR_CPUS is at most 8192 in mainline
// configs; leave headroom) while keeping a typo like 10000000 an error.
constexpr unsigned kMaxCpuId = 65535;

Error malformed(std::string_view text, std::string_view why) {
  return Error{"malformed CPU list '" + std::string(text) + "': " + std::string(why) +
               " (accepted form: comma-separated CPU ids and ranges, e.g. 0-3,8,10-11)"};
}

bool parse_id(std::string_view s, unsigned& out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

Result<std::vector<unsigned>> parse_cpulist(std::string_view text) {
  if (text.empty()) return malformed(text, "empty");
  std::vector<unsigned> cpus;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t comma = text.find(',', pos);
    std::string_view item = text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    std::size_t dash = item.find('-');
    unsigned lo = 0;
    unsigned hi = 0;
    if (dash == std::string_view::npos) {
      if (!parse_id(item, lo)) return malformed(text, "'" + std::string(item) + "' is not a CPU id");
      hi = lo;
    } else if (!parse_id(item.substr(0, dash), lo) || !parse_id(item.substr(dash + 1), hi)) {
      return malformed(text, "'" + std::string(item) + "' is not a range A-B");
    }
    if (lo > hi) return malformed(text, "range '" + std::string(item) + "' runs backwards");
    if (hi > kMaxCpuId) return malformed(text, "CPU " + std::to_string(hi) + " is above " + std::to_string(kMaxCpuId));
    for (unsigned cpu = lo; cpu <= hi; ++cpu) cpus.push_back(cpu);
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  return cpus;
}

}  // namespace irqd
