// SPDX-License-Identifier: GPL-2.0-only
//
// libFuzzer harness: Topology::load() on "synthetic:<hwloc synthetic
// string>", the spec --topology and the tests hand it, bounded to
// kMaxObjects objects (bounded_synthetic.h) so that hwloc's building them
// does not eat the run. A loaded topology is then taken apart the way the
// planners do: every CPU's node, siblings and cluster, restrict_to() and
// mark_not_present().
//
// Not fuzzed: "live" reads this machine and takes no input; "xml:<path>"
// hands the file to hwloc's XML importer, which in hwloc 2.9 (Debian 12)
// crashes on malformed files (SEGV in hwloc_bitmap_or, hwloc_bitmap_set
// and hwloc_bitmap_compare_first under hwloc_topology_load(), found by an
// earlier version of this harness on mutated `lstopo --of xml` dumps):
// hwloc's to fix, and a fuzz run here would only find it again.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "affinity/tests/fuzz/bounded_synthetic.h"
#include "affinity/topology.h"

namespace {

constexpr unsigned long long kMaxObjects = 4096;

void exercise(const irqd::Topology& topo) {
  const std::vector<unsigned> ids = topo.cpu_ids();
  if (ids.empty() || topo.nr_cpu_ids() <= ids.back()) std::abort();
  for (unsigned cpu : ids) {
    if (!topo.node_exists(topo.cpu_to_node(cpu))) std::abort();
    if (!topo.node_cpus(topo.cpu_to_node(cpu)).test_cpu(cpu)) std::abort();
    (void)topo.core_siblings(cpu);
    (void)topo.cluster_cpus(cpu);
  }
  // Every other CPU: restrict to them; the first half: not present.
  std::vector<unsigned> some;
  for (std::size_t i = 0; i < ids.size(); i += 2) some.push_back(ids[i]);
  auto restricted = topo.restrict_to(some);
  if (!restricted || restricted->nr_possible() != some.size()) std::abort();
  irqd::Topology copy = topo;
  std::vector<unsigned> absent(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(ids.size() / 2));
  if (!absent.empty() && !copy.mark_not_present(absent)) std::abort();
  for (unsigned cpu : ids) (void)copy.cluster_cpus(cpu);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (!irqd::fuzz::bounded_synthetic(input, kMaxObjects)) return 0;
  auto topo = irqd::Topology::load("synthetic:" + std::string(input));
  if (topo) exercise(*topo);
  return 0;
}
