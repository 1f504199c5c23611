// SPDX-License-Identifier: GPL-2.0-only

#include "affinity/topology.h"

#include <hwloc.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "affinity/cpulist.h"

namespace irqd {
namespace {

struct TopologyDeleter {
  void operator()(hwloc_topology* t) const { hwloc_topology_destroy(t); }
};
using HwlocTopology = std::unique_ptr<hwloc_topology, TopologyDeleter>;

constexpr std::string_view kSpecForms =
    "accepted: live, synthetic:<hwloc synthetic string> (e.g. synthetic:pack:2 [numa] core:8 pu:2), xml:<path>";

int logical_index_of_ancestor(hwloc_topology_t topo, hwloc_obj_t pu, hwloc_obj_type_t type) {
  hwloc_obj_t obj = hwloc_get_ancestor_obj_by_type(topo, type, pu);
  return obj ? static_cast<int>(obj->logical_index) : -1;
}

// The lowest-numbered NUMA node whose cpuset holds the CPU. On machines
// with memory-only nodes sharing a locality (KNL MCDRAM, CXL) several nodes
// hold a CPU; the kernel's cpu_to_node() is the one with the CPUs, which
// is the lowest id on every machine we have seen.
unsigned node_of(hwloc_topology_t topo, unsigned cpu) {
  unsigned best = 0;
  bool found = false;
  for (hwloc_obj_t n = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, nullptr); n != nullptr;
       n = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, n)) {
    if (n->cpuset != nullptr && hwloc_bitmap_isset(n->cpuset, cpu) && (!found || n->os_index < best)) {
      best = n->os_index;
      found = true;
    }
  }
  return best;
}

// Linux lists CPUs that could be hot-added later in .../cpu/possible but
// not .../cpu/present; hwloc knows nothing of them. Read them so a live
// plan covers them the way the kernel does. Empty when sysfs is absent.
std::vector<unsigned> read_sysfs_cpulist(const char* path) {
  std::ifstream in(path);
  std::string text;
  if (!in || !std::getline(in, text)) return {};
  auto cpus = parse_cpulist(text);
  return cpus ? cpus.value() : std::vector<unsigned>{};
}

Result<Topology> from_hwloc(hwloc_topology_t topo, std::string description) {
  std::vector<CpuDesc> cpus;
  for (hwloc_obj_t pu = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_PU, nullptr); pu != nullptr;
       pu = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_PU, pu)) {
    CpuDesc d;
    d.id = pu->os_index;
    d.node = node_of(topo, pu->os_index);
    d.core = logical_index_of_ancestor(topo, pu, HWLOC_OBJ_CORE);
    d.package = logical_index_of_ancestor(topo, pu, HWLOC_OBJ_PACKAGE);
    d.l3 = logical_index_of_ancestor(topo, pu, HWLOC_OBJ_L3CACHE);
    d.l2 = logical_index_of_ancestor(topo, pu, HWLOC_OBJ_L2CACHE);
    cpus.push_back(d);
  }
  std::vector<unsigned> node_ids;
  for (hwloc_obj_t n = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, nullptr); n != nullptr;
       n = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, n))
    node_ids.push_back(n->os_index);
  return Topology::from_cpus(std::move(cpus), std::move(node_ids), std::move(description));
}

Result<Topology> load_live() {
  hwloc_topology_t raw = nullptr;
  if (hwloc_topology_init(&raw) != 0) return Error{"hwloc_topology_init failed"};
  HwlocTopology topo(raw);
  // The kernel spreads over every CPU, whatever cgroup irqd runs in.
  hwloc_topology_set_flags(raw, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED);
  if (hwloc_topology_load(raw) != 0)
    return Error{"hwloc could not read this machine (" + errno_string(errno) +
                 "); try xml:<path> with an lstopo --of xml dump (" + std::string(kSpecForms) + ")"};
  auto result = from_hwloc(raw, "live");
  if (!result) return result;

  // Hot-pluggable slots: possible, not present, not known to hwloc. They
  // get no siblings (no sibling map before a CPU first comes online) and the
  // node x86 gives them: numa_init_array() (arch/x86/mm/numa.c) deals every
  // CPU id out over the online nodes round-robin, node_online_map[cpu % n],
  // before init_cpu_to_node() moves the CPUs with an APIC id to their SRAT
  // node; a slot that was never present keeps the round-robin one. The
  // nodes online then are those with memory; hwloc's NUMA nodes (all of the
  // machine's, in id order) stand in for them. Checked in a QEMU guest:
  // affinity/tests/kernel_lab, shapes b8, b4 and b6.
  std::vector<unsigned> possible = read_sysfs_cpulist("/sys/devices/system/cpu/possible");
  std::vector<unsigned> extra;
  for (unsigned cpu : possible)
    if (!result->is_possible(cpu)) extra.push_back(cpu);
  if (extra.empty()) return result;
  std::vector<CpuDesc> cpus;
  for (unsigned cpu : result->cpu_ids()) cpus.push_back(result->cpu(cpu));
  const std::vector<unsigned>& nodes = result->node_ids();  // ascending
  for (unsigned cpu : extra) cpus.push_back(CpuDesc{cpu, nodes[cpu % nodes.size()], -1, -1, -1, -1});
  auto widened = Topology::from_cpus(std::move(cpus), result->node_ids(), "live");
  if (!widened) return widened;
  if (Status s = widened->mark_not_present(extra); !s) return s.error();
  return widened;
}

Result<Topology> load_synthetic(const std::string& text, const std::string& spec) {
  hwloc_topology_t raw = nullptr;
  if (hwloc_topology_init(&raw) != 0) return Error{"hwloc_topology_init failed"};
  HwlocTopology topo(raw);
  if (text.empty() || hwloc_topology_set_synthetic(raw, text.c_str()) != 0 || hwloc_topology_load(raw) != 0)
    return Error{"malformed synthetic topology '" + text + "': hwloc rejected it (" + std::string(kSpecForms) + ")"};
  return from_hwloc(raw, spec);
}

Result<Topology> load_xml(const std::string& path, const std::string& spec) {
  // hwloc's own message for a missing file is generic; say which and why.
  std::ifstream probe(path);
  if (!probe)
    return Error{"cannot read topology XML '" + path + "': " + errno_string(errno) + " (" + std::string(kSpecForms) +
                 ")"};
  hwloc_topology_t raw = nullptr;
  if (hwloc_topology_init(&raw) != 0) return Error{"hwloc_topology_init failed"};
  HwlocTopology topo(raw);
  hwloc_topology_set_flags(raw, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED);
  if (hwloc_topology_set_xml(raw, path.c_str()) != 0 || hwloc_topology_load(raw) != 0)
    return Error{"cannot load topology XML '" + path + "': not a hwloc XML topology hwloc 2.x can read (" +
                 std::string(kSpecForms) + ")"};
  return from_hwloc(raw, spec);
}

std::vector<std::vector<unsigned>> group_by(const std::vector<CpuDesc>& cpus, int CpuDesc::*field) {
  std::map<int, std::vector<unsigned>> groups;
  for (const CpuDesc& c : cpus)
    if (c.*field >= 0) groups[c.*field].push_back(c.id);
  std::vector<std::vector<unsigned>> out;
  for (auto& [index, ids] : groups) {
    std::sort(ids.begin(), ids.end());
    out.push_back(std::move(ids));
  }
  return out;
}

}  // namespace

Result<Topology> Topology::load(std::string_view spec) {
  std::string s(spec);
  if (s == "live") return load_live();
  if (s.rfind("synthetic:", 0) == 0) return load_synthetic(s.substr(10), s);
  if (s.rfind("xml:", 0) == 0) return load_xml(s.substr(4), s);
  return Error{"unknown topology '" + s + "' (" + std::string(kSpecForms) + ")"};
}

Result<Topology> Topology::from_cpus(std::vector<CpuDesc> cpus, std::vector<unsigned> node_ids,
                                     std::string description) {
  if (cpus.empty()) return Error{"topology '" + description + "' has no CPU"};
  std::sort(node_ids.begin(), node_ids.end());
  node_ids.erase(std::unique(node_ids.begin(), node_ids.end()), node_ids.end());
  if (node_ids.empty()) node_ids.push_back(0);

  Topology t;
  t.description_ = std::move(description);
  unsigned max_id = 0;
  for (const CpuDesc& c : cpus) max_id = std::max(max_id, c.id);
  t.nr_cpu_ids_ = max_id + 1;
  t.nr_node_ids_ = node_ids.back() + 1;

  // A PU with no core above it is a core of its own; renumber cores densely.
  int next_core = 0;
  std::map<int, int> core_index;
  for (CpuDesc& c : cpus) {
    if (c.core < 0) {
      c.core = -2 - next_core++;  // unique, negative until renumbered below
    }
  }
  for (CpuDesc& c : cpus) {
    auto [it, inserted] = core_index.emplace(c.core, static_cast<int>(core_index.size()));
    c.core = it->second;
  }

  t.possible_ = CpuMask(t.nr_cpu_ids_);
  t.cpus_.resize(t.nr_cpu_ids_);
  for (const CpuDesc& c : cpus) {
    if (t.possible_.test_cpu(c.id))
      return Error{"topology '" + t.description_ + "' lists CPU " + std::to_string(c.id) + " twice"};
    if (!std::binary_search(node_ids.begin(), node_ids.end(), c.node))
      return Error{"CPU " + std::to_string(c.id) + " is on node " + std::to_string(c.node) + ", which is not a node"};
    t.possible_.set_cpu(c.id);
    t.cpus_[c.id] = c;
  }
  t.present_ = t.possible_;
  t.node_ids_ = std::move(node_ids);
  t.node_cpus_.assign(t.nr_node_ids_, CpuMask(t.nr_cpu_ids_));
  for (const CpuDesc& c : cpus) t.node_cpus_[c.node].set_cpu(c.id);

  // Cores keep the order of their first appearance (hwloc's logical order).
  t.cores_.resize(core_index.size());
  for (const CpuDesc& c : cpus) t.cores_[static_cast<unsigned>(c.core)].push_back(c.id);
  for (auto& core : t.cores_) std::sort(core.begin(), core.end());
  t.packages_ = group_by(cpus, &CpuDesc::package);
  t.l3_groups_ = group_by(cpus, &CpuDesc::l3);
  t.build_clusters();
  return t;
}

void Topology::build_clusters() {
  // Keyed by L2 cache, or by core (offset past every L2 index) for a PU
  // with no L2 above it.
  std::map<long long, int> index;
  clusters_.clear();
  cluster_of_.assign(nr_cpu_ids_, -1);
  present_.for_each([&](unsigned cpu) {
    const CpuDesc& c = cpus_[cpu];
    long long key = c.l2 >= 0 ? c.l2 : (1LL << 32) + c.core;
    auto [it, inserted] = index.emplace(key, static_cast<int>(clusters_.size()));
    if (inserted) clusters_.emplace_back();
    clusters_[static_cast<unsigned>(it->second)].push_back(cpu);  // ascending: for_each is
    cluster_of_[cpu] = it->second;
  });
}

const std::vector<unsigned>& Topology::cluster_cpus(unsigned cpu) const {
  static const std::vector<unsigned> kNone;
  int c = cpu < cluster_of_.size() ? cluster_of_[cpu] : -1;
  return c < 0 ? kNone : clusters_[static_cast<unsigned>(c)];
}

Result<Topology> Topology::restrict_to(const std::vector<unsigned>& cpus) const {
  std::vector<CpuDesc> kept;
  std::vector<unsigned> absent;
  for (unsigned cpu : cpus) {
    if (!possible_.test_cpu(cpu))
      return Error{"CPU " + std::to_string(cpu) + " is not a CPU of topology '" + description_ +
                   "' (accepted: " + possible_.to_list() + ")"};
    kept.push_back(cpus_[cpu]);
    if (!present_.test_cpu(cpu)) absent.push_back(cpu);
  }
  auto t = from_cpus(std::move(kept), node_ids_, description_ + " cpus " + cpumask_of(nr_cpu_ids_, cpus).to_list());
  if (!t) return t;
  if (!absent.empty()) {
    if (Status s = t->mark_not_present(absent); !s) return s.error();
  }
  return t;
}

bool Topology::node_exists(unsigned node) const { return std::binary_search(node_ids_.begin(), node_ids_.end(), node); }

Status Topology::mark_not_present(const std::vector<unsigned>& cpus) {
  CpuMask present = present_;
  for (unsigned cpu : cpus) {
    if (!possible_.test_cpu(cpu))
      return Error{"CPU " + std::to_string(cpu) + " is not a CPU of topology '" + description_ +
                   "' (accepted: " + possible_.to_list() + ")"};
    present.clear_cpu(cpu);
  }
  if (present.empty())
    return Error{"marking CPUs " + cpumask_of(nr_cpu_ids_, cpus).to_list() +
                 " not present leaves no present CPU (accepted: CPUs of " + possible_.to_list() +
                 " that leave at least one present)"};
  present_ = std::move(present);
  build_clusters();
  return ok_status();
}

}  // namespace irqd
