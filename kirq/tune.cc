// SPDX-License-Identifier: GPL-2.0-only

#include "kirq/tune.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <system_error>
#include <utility>

#include "affinity/cpulist.h"
#include "base/state_dir.h"
#include "base/table.h"
#include "base/unique_fd.h"

namespace irqd {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

// A restore file is an object holding an array of objects: 3 levels.
constexpr int kRestoreLevels = 3;
constexpr int kMaxRestoreLevels = 8;

// A string as the restore file holds it: JSON strings are UTF-8, so bytes
// that are not (Linux lets an interface be renamed to such bytes, and its
// interrupts are named after it) are written as U+FFFD; --restore compares
// the names it reads now in that form.
std::string as_written(const std::string& s) {
  return json::parse(json(s).dump(-1, ' ', false, json::error_handler_t::replace)).get<std::string>();
}

std::string dash_if_empty(const std::string& s) { return s.empty() ? "-" : s; }
std::string int_or_dash(int v) { return v < 0 ? "-" : std::to_string(v); }

// The CPUs of a cpulist as the kernel prints it ("" is no CPU); nullopt
// when it is not a cpulist at all.
std::optional<std::vector<unsigned>> cpus_of(const std::string& list) {
  if (list.empty()) return std::vector<unsigned>{};
  auto cpus = parse_cpulist(list);
  if (!cpus) return std::nullopt;
  return *cpus;
}

bool same_cpus(const std::string& a, const std::string& b) {
  auto x = cpus_of(a);
  auto y = cpus_of(b);
  return x && y ? *x == *y : a == b;
}

std::string cpulist(const std::vector<unsigned>& cpus) {
  if (cpus.empty()) return "";
  return cpumask_of(*std::max_element(cpus.begin(), cpus.end()) + 1, cpus).to_list();
}

std::string affinity_path(const kirq::KernelRoots& roots, unsigned irq) {
  return roots.proc + "/irq/" + std::to_string(irq) + "/smp_affinity_list";
}

// Writes one mask and reads it back.
WriteOutcome write_mask(const kirq::KernelRoots& roots, const ProcWrite& write, unsigned irq, const std::string& name,
                        const std::string& from, const std::string& to) {
  WriteOutcome o{irq, name, from, to, WriteOutcome::State::kWritten, ""};
  const std::string path = affinity_path(roots, irq);
  const int rc = write(path, to + "\n");
  if (rc == EIO || rc == EPERM) {
    // write_irq_affinity(): !irq_can_set_affinity_usr() -> EIO, EPERM
    // since the file became read-only for such interrupts.
    o.state = WriteOutcome::State::kRefused;
    o.detail = std::string(rc == EIO ? "EIO" : "EPERM");
    return o;
  }
  if (rc != 0) {
    o.state = WriteOutcome::State::kFailed;
    o.detail = path + ": " + errno_string(rc);
    return o;
  }
  const std::string back = std::string(kirq::read_line(path));
  std::string trimmed = back;
  while (!trimmed.empty() && (trimmed.back() == ' ' || trimmed.back() == '\r')) trimmed.pop_back();
  if (!same_cpus(trimmed, to)) {
    o.state = WriteOutcome::State::kMismatch;
    o.detail = dash_if_empty(trimmed);
  }
  return o;
}

WriteOutcome xps_outcome(const std::string& iface, int queue, const std::string& from, const std::string& to) {
  WriteOutcome o{0, iface + " tx-" + std::to_string(queue), from, to, WriteOutcome::State::kWritten, ""};
  o.xps = true;
  return o;
}

// Writes one xps_cpus (hex, as bitmap_parse reads it) and reads it back.
WriteOutcome write_xps(const ProcWrite& write, const std::string& path, const std::string& iface, int queue,
                       const std::string& from, const std::vector<unsigned>& to) {
  WriteOutcome o = xps_outcome(iface, queue, from, cpulist(to));
  if (const int rc = write(path, kirq::format_hex_cpumask(to) + "\n"); rc != 0) {
    o.state = WriteOutcome::State::kFailed;
    o.detail = path + ": " + errno_string(rc);
    return o;
  }
  const std::string back = kirq::read_line(path);
  auto cpus = kirq::parse_hex_cpumask(back);
  if (!cpus || *cpus != to) {
    o.state = WriteOutcome::State::kMismatch;
    o.detail = cpus ? dash_if_empty(cpulist(*cpus)) : "'" + back + "'";
  }
  return o;
}

std::string timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  std::array<char, 32> buf{};
  const std::size_t n = std::strftime(buf.data(), buf.size(), "%Y%m%dT%H%M%SZ", &tm);
  return {buf.data(), n};
}

// Creates path (never over an existing file) with text, synced to disk
// before any mask is written.
int create_file(const std::string& path, const std::string& text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return errno;
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return errno;
  return 0;
}

}  // namespace

Result<CpuChoice> choose_tune_cpus(const Topology& topo, const kirq::KernelDevice& dev,
                                   const std::optional<std::vector<unsigned>>& given, const std::string& given_text) {
  const CpuMask& present = topo.present();
  if (given) {
    for (unsigned cpu : *given)
      if (cpu >= present.size() || !present.test_cpu(cpu))
        return Error{"--cpus '" + given_text + "': CPU " + std::to_string(cpu) +
                     " is not a CPU of this machine (accepted: CPUs of " + present.to_list() + ")"};
    return CpuChoice{*given, "--cpus"};
  }
  const int node = dev.numa_node;
  std::string why;
  if (node < 0) {
    why = "every CPU: the device has no NUMA node";
  } else if (!topo.node_exists(static_cast<unsigned>(node))) {
    why = "every CPU: the device's NUMA node " + std::to_string(node) + " is not in the topology";
  } else {
    CpuMask local(present.size());
    local.assign_and(topo.node_cpus(static_cast<unsigned>(node)), present);
    if (!local.empty()) return CpuChoice{local.to_vector(), "the device's NUMA node " + std::to_string(node)};
    why = "every CPU: the device's NUMA node " + std::to_string(node) + " has no CPUs";
  }
  return CpuChoice{present.to_vector(), why};
}

// The restore file: --save FILE, else a new file under kTuneStateDir.
Result<std::string> save_restore_file(const std::string& save, const std::string& state_dir, const std::string& device,
                                      const std::string& text) {
  if (!save.empty()) {
    if (int rc = create_file(save, text); rc != 0)
      return Error{"cannot create the restore file " + save + ": " + errno_string(rc) +
                   (rc == EEXIST ? " (it would hide an earlier state: restore it or choose another --save)" : "")};
    return save;
  }
  const std::string dir = state_dir.empty() ? kTuneStateDir : state_dir;
  if (Status s = ensure_state_dir(dir); !s) return Error{s.error().message + " (or give --save FILE)"};
  const std::string base = dir + "/" + device + "-" + timestamp();
  for (int i = 1; i < 100; ++i) {
    const std::string path = base + (i == 1 ? "" : "-" + std::to_string(i)) + ".json";
    const int rc = create_file(path, text);
    if (rc == 0) return path;
    if (rc != EEXIST) return Error{"cannot create the restore file " + path + ": " + errno_string(rc)};
  }
  return Error{"cannot create a restore file " + base + "*.json: all taken (give --save FILE)"};
}

bool any_failed(const std::vector<WriteOutcome>& outcomes) {
  return std::any_of(outcomes.begin(), outcomes.end(), [](const WriteOutcome& o) {
    return o.state == WriteOutcome::State::kFailed || o.state == WriteOutcome::State::kMismatch ||
           o.state == WriteOutcome::State::kSkipped;
  });
}

void infer_pre_post(const std::vector<kirq::KernelIrq>& irqs, unsigned& pre, unsigned& post) {
  const bool any_managed = std::any_of(irqs.begin(), irqs.end(), [](const kirq::KernelIrq& k) { return k.managed; });
  auto edge = [&](const kirq::KernelIrq& k) { return any_managed ? !k.managed : k.queue < 0; };
  pre = 0;
  post = 0;
  while (pre < irqs.size() && edge(irqs[pre])) ++pre;
  if (pre == irqs.size()) return;  // no spread vector: all are pre vectors
  while (post < irqs.size() - pre && edge(irqs[irqs.size() - 1 - post])) ++post;
}

namespace {

// Which vector of the plan each interrupt takes its mask from, and the
// request that plans them. Per interrupt: pre/post by infer_pre_post. By
// queue: the interrupts that are not queues are pre vectors (post when
// they come after the last queue), then one vector per queue in queue
// order.
struct Slots {
  std::vector<std::size_t> of_row;
  unsigned vectors = 0, pre = 0, post = 0;
  std::vector<TuneQueue> queues;
};

Slots slots_per_interrupt(const std::vector<kirq::KernelIrq>& irqs) {
  Slots s;
  s.vectors = static_cast<unsigned>(irqs.size());
  infer_pre_post(irqs, s.pre, s.post);
  for (std::size_t i = 0; i < irqs.size(); ++i) s.of_row.push_back(i);
  return s;
}

Slots slots_per_queue(const std::vector<kirq::NicQueue>& queues) {
  Slots s;
  std::size_t last_queue = 0;
  std::map<int, TuneQueue> by_index;
  for (std::size_t i = 0; i < queues.size(); ++i) {
    if (!queues[i].is_queue()) continue;
    last_queue = i;
    TuneQueue& q = by_index[queues[i].index];
    q.index = queues[i].index;
    q.rows.push_back(i);
    const std::string kind(kirq::queue_kind_name(queues[i].kind));
    if (("+" + q.kinds + "+").find("+" + kind + "+") == std::string::npos)
      q.kinds += (q.kinds.empty() ? "" : "+") + kind;
  }
  for (std::size_t i = 0; i < queues.size(); ++i)
    if (!queues[i].is_queue()) ++(i < last_queue ? s.pre : s.post);
  s.vectors = s.pre + static_cast<unsigned>(by_index.size()) + s.post;
  s.of_row.assign(queues.size(), 0);
  std::size_t pre = 0, post = 0, slot = s.pre;
  for (std::size_t i = 0; i < queues.size(); ++i)
    if (!queues[i].is_queue()) s.of_row[i] = i < last_queue ? pre++ : s.pre + by_index.size() + post++;
  for (auto& [index, q] : by_index) {
    for (std::size_t row : q.rows) s.of_row[row] = slot;
    ++slot;
    s.queues.push_back(std::move(q));
  }
  return s;
}

// What a row is, when it is not simply one of the spread vectors.
std::string why_of(const VectorPlacement& v, const Plan& plan, const Slots& slots, bool by_queue) {
  const std::string things = by_queue ? "queues" : "vectors";
  switch (v.role) {
    case VectorRole::kPre:
    case VectorRole::kPost: return by_queue ? "not a queue: the default affinity (a pre/post vector)" : "";
    case VectorRole::kUnfilled: {
      const unsigned spread = slots.vectors - slots.pre - slots.post;
      const unsigned masks = plan.masks_per_set.empty() ? 0 : plan.masks_per_set.front();
      const std::string count = std::to_string(spread) + " " + things + " got " + std::to_string(masks) +
                                " masks (more " + things + " than CPUs)";
      return v.cpus.empty() ? "unfilled: " + count + "; no mask, left as it was"
                            : "unfilled: " + count + "; the default affinity";
    }
    case VectorRole::kSpread: break;
  }
  return "";
}

void finish_row(TuneRow& row) {
  auto current = cpus_of(row.current);
  row.current_unknown = !row.irq.managed && (!current || current->empty());
  row.changes =
      !row.irq.managed && !row.current_unknown && !row.planned.empty() && !same_cpus(row.current, row.planned);
  if (row.irq.managed) row.why = "managed: never written";
  if (row.current_unknown) row.why = "current mask unreadable: never written";
}

}  // namespace

std::string TunePlan::planner_text() const { return hint ? "hint" : std::string(planner_name(planner)); }

Result<TuneOptions> tune_planner_from_name(std::string_view name) {
  if (name == "hint") return TuneOptions{PlannerKind::kKernel, true, default_kernel_version()};
  auto kind = planner_from_name(name);
  if (!kind) {
    std::string names;
    for (const PlannerInfo& p : all_planners()) names += std::string(p.name) + ", ";
    return Error{"unknown planner '" + std::string(name) + "' (accepted: " + names + "hint)"};
  }
  return TuneOptions{*kind, false, default_kernel_version()};
}

Result<TunePlan> make_tune_plan(const Topology& topo, const std::vector<unsigned>& cpus, std::string cpus_reason,
                                const kirq::KernelDevice& device, const std::vector<kirq::KernelIrq>& irqs,
                                PlannerKind planner, const KernelVersion& kernel) {
  return make_tune_plan(topo, cpus, std::move(cpus_reason), device, irqs, TuneOptions{planner, false, kernel});
}

Result<TunePlan> make_tune_plan(const Topology& topo, const std::vector<unsigned>& cpus, std::string cpus_reason,
                                const kirq::KernelDevice& device, const std::vector<kirq::KernelIrq>& irqs,
                                const TuneOptions& options) {
  if (irqs.empty())
    return Error{"--device '" + device.name + "': " + device.bdf + " has no interrupts (no msi_irqs, no INTx line)"};
  auto restricted = topo.restrict_to(cpus);
  if (!restricted) return Error{"--cpus: " + restricted.error().message};
  TunePlan p;
  p.device = device;
  p.planner = options.planner;
  p.hint = options.hint;
  p.cpus = cpulist(cpus);
  p.cpus_reason = std::move(cpus_reason);
  std::vector<kirq::NicQueue> queues;
  for (const kirq::KernelIrq& k : irqs) queues.push_back(kirq::nic_queue_of(k.name));
  p.by_queue = std::any_of(queues.begin(), queues.end(), [](const kirq::NicQueue& q) { return q.is_queue(); });
  Slots slots = p.by_queue ? slots_per_queue(queues) : slots_per_interrupt(irqs);
  p.request.vectors = slots.vectors;
  p.request.pre_vectors = slots.pre;
  p.request.post_vectors = slots.post;
  p.request.planner = options.planner;
  p.request.kernel = options.kernel;
  std::optional<Plan> plan;
  if (!options.hint) {
    auto made = make_plan(*restricted, p.request);
    if (!made) return Error{"planning " + std::to_string(slots.vectors) + " vectors: " + made.error().message};
    plan = std::move(*made);
  }
  for (std::size_t i = 0; i < irqs.size(); ++i) {
    TuneRow row;
    row.irq = irqs[i];
    row.queue = queues[i];
    row.current = irqs[i].affinity;
    if (plan) {
      const VectorPlacement& v = plan->vectors[slots.of_row[i]];
      row.planned = v.cpus.to_list();
      row.why = why_of(v, *plan, slots, p.by_queue);
    } else {
      row.planned = irqs[i].hint;
      if (row.planned.empty()) row.why = "no affinity_hint: left as it was";
    }
    finish_row(row);
    p.rows.push_back(std::move(row));
  }
  for (TuneQueue& q : slots.queues) {
    q.planned = p.rows[q.rows.front()].planned;
    p.queues.push_back(std::move(q));
  }
  if (std::none_of(irqs.begin(), irqs.end(), [](const kirq::KernelIrq& k) { return k.managed; })) return p;

  // The kernel spread the managed vectors over every possible CPU when the
  // driver allocated them (irq_create_affinity_masks), one per interrupt;
  // no --cpus there.
  p.kernel_request = p.request;
  p.kernel_request.vectors = static_cast<unsigned>(irqs.size());
  infer_pre_post(irqs, p.kernel_request.pre_vectors, p.kernel_request.post_vectors);
  p.kernel_request.planner = PlannerKind::kKernel;
  auto kplan = make_plan(topo, p.kernel_request);
  if (!kplan) return Error{"kernel planner check: " + kplan.error().message};
  for (std::size_t i = 0; i < irqs.size(); ++i) {
    if (!irqs[i].managed) continue;
    ManagedCheck c;
    c.irq = irqs[i].irq;
    c.name = irqs[i].name;
    c.current = irqs[i].affinity;
    c.predicted = kplan->vectors[i].cpus.to_list();
    c.match = same_cpus(c.current, c.predicted);
    c.effective = irqs[i].effective;
    if (auto eff = cpus_of(c.effective); eff && !eff->empty())
      c.effective_in_mask = std::all_of(eff->begin(), eff->end(), [&](unsigned cpu) {
        return cpu < kplan->vectors[i].cpus.size() && kplan->vectors[i].cpus.test_cpu(cpu);
      });
    p.managed.push_back(std::move(c));
  }
  return p;
}

Status plan_xps(TunePlan& plan, const kirq::KernelRoots& roots) {
  const std::vector<std::string> ifaces = kirq::net_interfaces_of(roots, plan.device.bdf);
  if (ifaces.empty())
    return Error{"--xps: " + plan.device.bdf +
                 " has no network interface (XPS steers a network device's transmit "
                 "queues)"};
  if (!plan.by_queue)
    return Error{"--xps: no interrupt of " + plan.device.bdf +
                 " is named as a NIC queue (rx/tx/combined N), so "
                 "no transmit queue can follow one"};
  for (const TuneQueue& q : plan.queues) {
    const TuneRow* tx = nullptr;
    for (std::size_t r : q.rows)
      if (plan.rows[r].queue.transmits() && tx == nullptr) tx = &plan.rows[r];
    if (tx == nullptr) continue;  // a receive-only queue steers nothing
    // Where the queue's transmit interrupt will be: planned when written,
    // else where it is.
    const std::string cpus = tx->changes ? tx->planned : tx->current;
    for (const std::string& iface : ifaces) {
      XpsRow x;
      x.iface = iface;
      x.queue = q.index;
      x.path = kirq::xps_path(roots, iface, q.index);
      x.planned_cpus = cpus;
      std::error_code ec;
      if (!fs::exists(x.path, ec)) {
        x.why = "no /sys" + x.path.substr(roots.sysfs.size()) + " (no such transmit queue, or a kernel without XPS)";
      } else if (auto text = kirq::read_text_file(x.path); !text) {
        // xps_cpus_show() answers ENOENT for a device with one transmit
        // queue: the file is there, XPS is not.
        x.why = text.error().message.ends_with(std::strerror(ENOENT))
                    ? "no XPS: the kernel keeps none for a device with one transmit queue (xps_cpus reads ENOENT)"
                    : "unreadable: " + text.error().message;
      } else {
        x.current = std::string(text->substr(0, text->find('\n')));
        auto current = kirq::parse_hex_cpumask(x.current);
        if (!current) {
          x.why = "'" + x.current + "' is not a hex CPU mask: never written";
        } else {
          x.current_cpus = cpulist(*current);
          x.changes = !x.planned_cpus.empty() && !same_cpus(x.current_cpus, x.planned_cpus);
        }
      }
      if (x.planned_cpus.empty() && x.why.empty()) x.why = "its interrupt has no mask to follow";
      plan.xps.push_back(std::move(x));
    }
  }
  return ok_status();
}

RestoreFile restore_file_for(const TunePlan& plan, const std::string& boot_id) {
  RestoreFile f;
  f.boot_id = boot_id;
  f.device = plan.device.name;
  f.pci = plan.device.bdf;
  f.planner = plan.planner_text();
  f.cpus = plan.cpus;
  for (const TuneRow& r : plan.rows)
    if (!r.irq.managed && !r.current_unknown) f.irqs.push_back({r.irq.irq, r.irq.name, r.current});
  for (const XpsRow& x : plan.xps)
    if (!x.current_cpus.empty() || (x.why.empty() && !x.current.empty()))
      f.xps.push_back({x.iface, x.queue, x.current});
  return f;
}

std::string format_restore_file(const RestoreFile& file) {
  json irqs = json::array();
  for (const RestoreEntry& e : file.irqs)
    irqs.push_back({{"irq", e.irq}, {"name", e.name}, {"smp_affinity_list", e.affinity}});
  json root = {{"irqd_tune_restore", file.xps.empty() ? kRestoreFormat : kRestoreFormatXps},
               {"boot_id", file.boot_id},
               {"device", file.device},
               {"pci", file.pci},
               {"planner", file.planner},
               {"cpus", file.cpus},
               {"irqs", std::move(irqs)}};
  if (!file.xps.empty()) {
    json xps = json::array();
    for (const XpsEntry& e : file.xps)
      xps.push_back({{"iface", e.iface}, {"queue", e.queue}, {"xps_cpus", e.xps_cpus}});
    root["xps"] = std::move(xps);
  }
  return root.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<RestoreFile> parse_restore_file(const std::string& text, const std::string& path) {
  int levels = 0;  // of nested objects and arrays
  auto nesting = [&levels](int depth, json::parse_event_t event, json&) {
    if (event == json::parse_event_t::object_start || event == json::parse_event_t::array_start)
      levels = std::max(levels, depth + 1);
    return true;
  };
  const json root = json::parse(text, nesting, false);
  const std::string not_ours = path + " is not a restore file of irqd tune --apply";
  if (root.is_discarded() || !root.is_object()) return Error{not_ours + " (not a JSON object)"};
  // nlohmann parses any depth without recursion, but dump() (an entry
  // quoted in a message) recurses once per level: refused before that.
  if (levels > kMaxRestoreLevels)
    return Error{not_ours + " (nested " + std::to_string(levels) + " levels deep; irqd writes " +
                 std::to_string(kRestoreLevels) + ")"};
  if (!root.contains("irqd_tune_restore") || !root["irqd_tune_restore"].is_number_integer())
    return Error{not_ours + " (no \"irqd_tune_restore\" format number)"};
  // Compared as the 64-bit value JSON holds: a narrowing get<int>() took
  // 2^32 + 1 for format 1.
  const std::int64_t format = root["irqd_tune_restore"].get<std::int64_t>();
  if (format != kRestoreFormat && format != kRestoreFormatXps)
    return Error{path + " has restore format " + root["irqd_tune_restore"].dump() +
                 " (accepted: " + std::to_string(kRestoreFormat) + ", " + std::to_string(kRestoreFormatXps) + ")"};
  RestoreFile f;
  auto text_field = [&](const char* key, std::string& into) {
    if (!root.contains(key)) return true;
    if (!root[key].is_string()) return false;
    into = root[key].get<std::string>();
    return true;
  };
  for (auto [key, into] : {std::pair<const char*, std::string*>{"boot_id", &f.boot_id},
                           {"device", &f.device},
                           {"pci", &f.pci},
                           {"planner", &f.planner},
                           {"cpus", &f.cpus}})
    if (!text_field(key, *into)) return Error{not_ours + " (\"" + key + "\" is not a string)"};
  if (!root.contains("irqs") || !root["irqs"].is_array()) return Error{not_ours + " (no \"irqs\" array)"};
  for (const json& e : root["irqs"]) {
    if (!e.is_object() || !e.contains("irq") || !e["irq"].is_number_unsigned() || !e.contains("name") ||
        !e["name"].is_string() || !e.contains("smp_affinity_list") || !e["smp_affinity_list"].is_string())
      return Error{not_ours + " (an entry of \"irqs\" lacks irq, name or smp_affinity_list: " + e.dump() + ")"};
    // /proc/irq/N: N is a kernel unsigned int. Checked before narrowing:
    // 2^32 + 70 used to restore irq 70.
    const std::uint64_t irq = e["irq"].get<std::uint64_t>();
    if (irq > std::numeric_limits<unsigned>::max())
      return Error{path + ": irq " + std::to_string(irq) + " is out of range (accepted: 0.." +
                   std::to_string(std::numeric_limits<unsigned>::max()) + ")"};
    RestoreEntry entry{static_cast<unsigned>(irq), e["name"].get<std::string>(),
                       e["smp_affinity_list"].get<std::string>()};
    if (!cpus_of(entry.affinity) || entry.affinity.empty())
      return Error{path + ": irq " + std::to_string(entry.irq) + " has smp_affinity_list '" + entry.affinity +
                   "' (accepted: a CPU list such as 0-3,8)"};
    f.irqs.push_back(std::move(entry));
  }
  if (!root.contains("xps")) return f;
  if (format != kRestoreFormatXps || !root["xps"].is_array()) return Error{not_ours + " (\"xps\" is format 2's array)"};
  for (const json& e : root["xps"]) {
    if (!e.is_object() || !e.contains("iface") || !e["iface"].is_string() || !e.contains("queue") ||
        !e["queue"].is_number_unsigned() || !e.contains("xps_cpus") || !e["xps_cpus"].is_string())
      return Error{not_ours + " (an entry of \"xps\" lacks iface, queue or xps_cpus: " + e.dump() + ")"};
    const std::uint64_t queue = e["queue"].get<std::uint64_t>();
    const std::string iface = e["iface"].get<std::string>();
    // The interface name becomes a path: no way out of /sys/class/net.
    if (iface.empty() || iface.size() > 15 || iface.find('/') != std::string::npos || iface == "." || iface == "..")
      return Error{path + ": xps interface '" + iface + "' is not an interface name (accepted: 1-15 bytes, no '/')"};
    if (queue > 65535)
      return Error{path + ": xps queue " + std::to_string(queue) + " is out of range (accepted: 0..65535)"};
    XpsEntry entry{iface, static_cast<int>(queue), e["xps_cpus"].get<std::string>()};
    if (!kirq::parse_hex_cpumask(entry.xps_cpus))
      return Error{path + ": " + iface + " tx-" + std::to_string(queue) + " has xps_cpus '" + entry.xps_cpus +
                   "' (accepted: a hex CPU mask such as 0f or 00000000,000000ff)"};
    f.xps.push_back(std::move(entry));
  }
  return f;
}

std::vector<WriteOutcome> apply_tune_plan(const TunePlan& plan, const kirq::KernelRoots& roots,
                                          const ProcWrite& write) {
  std::vector<WriteOutcome> out;
  for (const TuneRow& r : plan.rows)
    if (r.changes) out.push_back(write_mask(roots, write, r.irq.irq, r.irq.name, r.current, r.planned));
  return out;
}

std::vector<WriteOutcome> apply_xps(const TunePlan& plan, const ProcWrite& write) {
  std::vector<WriteOutcome> out;
  for (const XpsRow& x : plan.xps) {
    if (!x.changes) continue;
    auto cpus = cpus_of(x.planned_cpus);
    out.push_back(write_xps(write, x.path, x.iface, x.queue, x.current_cpus, cpus ? *cpus : std::vector<unsigned>{}));
  }
  return out;
}

std::vector<WriteOutcome> restore_xps(const RestoreFile& file, const kirq::KernelRoots& roots, const ProcWrite& write) {
  std::vector<WriteOutcome> out;
  for (const XpsEntry& e : file.xps) {
    const std::string path = kirq::xps_path(roots, e.iface, e.queue);
    const auto saved = kirq::parse_hex_cpumask(e.xps_cpus);
    WriteOutcome skip = xps_outcome(e.iface, e.queue, "", saved ? cpulist(*saved) : e.xps_cpus);
    skip.state = WriteOutcome::State::kSkipped;
    auto now = kirq::read_text_file(path);
    auto now_cpus = now ? kirq::parse_hex_cpumask(*now) : std::nullopt;
    if (!now || !now_cpus || !saved) {
      skip.detail = now ? "'" + *now + "' is not a hex CPU mask" : now.error().message;
    } else if (*now_cpus == *saved) {
      skip.from = cpulist(*now_cpus);
      skip.state = WriteOutcome::State::kUnchanged;
    } else {
      out.push_back(write_xps(write, path, e.iface, e.queue, cpulist(*now_cpus), *saved));
      continue;
    }
    out.push_back(skip);
  }
  return out;
}

std::vector<WriteOutcome> restore_masks(const RestoreFile& file, const kirq::KernelRoots& roots,
                                        const ProcWrite& write) {
  std::vector<WriteOutcome> out;
  auto table = kirq::read_irqs(roots);
  std::map<unsigned, const kirq::KernelIrq*> now;
  if (table)
    for (const kirq::KernelIrq& k : table->irqs) now[k.irq] = &k;
  for (const RestoreEntry& e : file.irqs) {
    WriteOutcome skip{e.irq, e.name, "", e.affinity, WriteOutcome::State::kSkipped, ""};
    auto it = now.find(e.irq);
    if (it == now.end()) {
      skip.detail = table ? "no such interrupt now" : table.error().message;
      out.push_back(skip);
      continue;
    }
    const kirq::KernelIrq& k = *it->second;
    skip.from = k.affinity;
    if (as_written(k.name) != e.name) {
      skip.detail = "it is now '" + k.name + "', another interrupt";
    } else if (k.managed) {
      skip.detail = "managed now";
    } else if (same_cpus(k.affinity, e.affinity)) {
      skip.state = WriteOutcome::State::kUnchanged;
    } else {
      out.push_back(write_mask(roots, write, e.irq, e.name, k.affinity, e.affinity));
      continue;
    }
    out.push_back(skip);
  }
  return out;
}

std::string format_tune_plan(const TunePlan& plan) {
  std::string out = "irqd tune: " + kirq::describe_device(plan.device) + "\n";
  const std::string kernel_line =
      !plan.hint && plan.planner == PlannerKind::kKernel ? " (Linux " + plan.request.kernel.text + ")" : "";
  const std::string what = plan.by_queue ? std::to_string(plan.queues.size()) +
                                               (plan.queues.size() == 1 ? " queue of " : " queues of ") +
                                               std::to_string(plan.rows.size()) + " interrupts, as " +
                                               std::to_string(plan.request.vectors) + " vectors"
                                         : std::to_string(plan.request.vectors) + " vectors";
  out += "plan: planner " + plan.planner_text() + kernel_line + ", " + what + " (pre " +
         std::to_string(plan.request.pre_vectors) + ", post " + std::to_string(plan.request.post_vectors) +
         "), on CPUs " + plan.cpus + " (" + plan.cpus_reason + ")\n";
  std::vector<std::vector<std::string>> rows{{"IRQ", "VEC", "NAME", "QUEUE", "CURRENT", "", "PLANNED", ""}};
  unsigned changes = 0;
  for (const TuneRow& r : plan.rows) {
    const std::string queue =
        !plan.by_queue       ? int_or_dash(r.irq.queue)
        : r.queue.is_queue() ? std::to_string(r.queue.index) + " " + std::string(kirq::queue_kind_name(r.queue.kind))
                             : "-";
    std::vector<std::string> row{std::to_string(r.irq.irq), int_or_dash(r.irq.msi_index), dash_if_empty(r.irq.name),
                                 queue, dash_if_empty(r.current)};
    if (r.irq.managed) {
      row.insert(row.end(), {"", "-", r.why});
    } else if (r.changes) {
      row.insert(row.end(), {"->", r.planned, r.why});
      ++changes;
    } else if (r.current_unknown || r.planned.empty()) {
      row.insert(row.end(), {"", dash_if_empty(r.planned), r.why});
    } else {
      row.insert(row.end(), {"=", r.planned, r.why.empty() ? "unchanged" : "unchanged; " + r.why});
    }
    rows.push_back(std::move(row));
  }
  out += align(rows);
  std::string summary = std::to_string(changes) + " of " + std::to_string(plan.rows.size()) + " interrupts change";
  if (plan.by_queue) {
    std::vector<std::vector<std::string>> queues{{"QUEUE", "KIND", "INTERRUPTS", "PLANNED"}};
    for (const TuneQueue& q : plan.queues) {
      std::string irqs;
      for (std::size_t r : q.rows) irqs += (irqs.empty() ? "" : ",") + std::to_string(plan.rows[r].irq.irq);
      queues.push_back({std::to_string(q.index), q.kinds, irqs, dash_if_empty(q.planned)});
    }
    out += "queues: each queue's interrupts on the same CPUs\n" + align(queues);
  }
  if (!plan.xps.empty()) {
    std::vector<std::vector<std::string>> xps{{"XPS", "CURRENT", "", "PLANNED", ""}};
    unsigned xps_changes = 0;
    for (const XpsRow& x : plan.xps) {
      const std::string name = x.iface + " tx-" + std::to_string(x.queue);
      if (!x.why.empty()) {
        xps.push_back({name, dash_if_empty(x.current_cpus), "", dash_if_empty(x.planned_cpus), x.why});
      } else if (x.changes) {
        xps.push_back({name, dash_if_empty(x.current_cpus), "->", x.planned_cpus, ""});
        ++xps_changes;
      } else {
        xps.push_back({name, dash_if_empty(x.current_cpus), "=", x.planned_cpus, "unchanged"});
      }
    }
    out += "xps: each transmit queue steered to its interrupt's CPUs\n" + align(xps);
    summary += ", " + std::to_string(xps_changes) + " of " + std::to_string(plan.xps.size()) + " xps_cpus";
  }
  out += summary + "\n";
  if (plan.managed.empty()) return out;

  out += "kernel planner check: " + std::to_string(plan.managed.size()) + " of " + std::to_string(plan.rows.size()) +
         " vectors are managed; planner kernel (Linux " + plan.kernel_request.kernel.text + "), " +
         std::to_string(plan.kernel_request.vectors) + " vectors (pre " +
         std::to_string(plan.kernel_request.pre_vectors) + ", post " +
         std::to_string(plan.kernel_request.post_vectors) + ") on every CPU predicts:\n";
  std::vector<std::vector<std::string>> check{{"IRQ", "NAME", "CURRENT", "PREDICTED", "MASK", "EFFECTIVE"}};
  unsigned matches = 0;
  for (const ManagedCheck& c : plan.managed) {
    matches += c.match ? 1 : 0;
    std::string eff = "-";
    if (!c.effective.empty()) eff = c.effective + (c.effective_in_mask ? " (in mask)" : " (outside the mask)");
    check.push_back({std::to_string(c.irq), dash_if_empty(c.name), dash_if_empty(c.current), c.predicted,
                     c.match ? "match" : "DIFFERS", eff});
  }
  out += align(check);
  out += std::to_string(matches) + " of " + std::to_string(plan.managed.size()) +
         " managed masks match the kernel planner\n";
  return out;
}

std::string format_outcomes(const std::vector<WriteOutcome>& outcomes) {
  std::vector<std::vector<std::string>> rows;
  for (const WriteOutcome& o : outcomes) {
    std::string result;
    switch (o.state) {
      case WriteOutcome::State::kWritten: result = "written, reads back " + o.to; break;
      case WriteOutcome::State::kRefused:
        result = "refused by the kernel (" + o.detail + "): managed, left as it was";
        break;
      case WriteOutcome::State::kFailed: result = "FAILED: " + o.detail; break;
      case WriteOutcome::State::kMismatch: result = "written, but reads back " + o.detail; break;
      case WriteOutcome::State::kSkipped: result = "skipped: " + o.detail; break;
      case WriteOutcome::State::kUnchanged: result = "unchanged"; break;
    }
    rows.push_back({o.xps ? "xps" : std::to_string(o.irq), dash_if_empty(o.name), dash_if_empty(o.from), "->",
                    dash_if_empty(o.to), result});
  }
  return align(rows);
}

namespace {

// A cpulist as a JSON array of CPU ids; null when it is not one (or "").
json cpus_json(const std::string& list) {
  auto cpus = cpus_of(list);
  if (!cpus || list.empty()) return nullptr;
  return *cpus;
}

json text_or_null(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

std::string_view state_name(WriteOutcome::State state) {
  switch (state) {
    case WriteOutcome::State::kWritten: return "written";
    case WriteOutcome::State::kRefused: return "refused";
    case WriteOutcome::State::kFailed: return "failed";
    case WriteOutcome::State::kMismatch: return "mismatch";
    case WriteOutcome::State::kSkipped: return "skipped";
    case WriteOutcome::State::kUnchanged: return "unchanged";
  }
  return "";
}

}  // namespace

std::string format_tune_json(const TunePlan& plan, const std::vector<WriteOutcome>* outcomes,
                             const std::string& restore_path) {
  json irqs = json::array();
  for (const TuneRow& r : plan.rows) {
    json queue = r.queue.is_queue() ? json(r.queue.index)
                                    : (!plan.by_queue && r.irq.queue >= 0 ? json(r.irq.queue) : json(nullptr));
    irqs.push_back({{"irq", r.irq.irq},
                    {"name", r.irq.name},
                    {"msi_index", r.irq.msi_index < 0 ? json(nullptr) : json(r.irq.msi_index)},
                    {"queue", std::move(queue)},
                    {"kind", text_or_null(std::string(kirq::queue_kind_name(r.queue.kind)))},
                    {"current", cpus_json(r.current)},
                    {"planned", r.irq.managed ? json(nullptr) : cpus_json(r.planned)},
                    {"managed", r.irq.managed},
                    {"change", r.changes},
                    {"why", text_or_null(r.why)}});
  }
  json root = {
      {"device", plan.device.name},
      {"pci", plan.device.bdf},
      {"driver", plan.device.driver},
      {"planner", plan.planner_text()},
      {"kernel", !plan.hint && plan.planner == PlannerKind::kKernel ? json(plan.request.kernel.text) : json(nullptr)},
      {"cpus", cpus_json(plan.cpus)},
      {"cpus_reason", plan.cpus_reason},
      {"by_queue", plan.by_queue},
      {"irqs", std::move(irqs)}};
  if (plan.by_queue) {
    json queues = json::array();
    for (const TuneQueue& q : plan.queues) {
      json members = json::array();
      for (std::size_t r : q.rows) members.push_back(plan.rows[r].irq.irq);
      queues.push_back({{"queue", q.index}, {"kind", q.kinds}, {"irqs", members}, {"planned", cpus_json(q.planned)}});
    }
    root["queues"] = std::move(queues);
  }
  if (!plan.xps.empty()) {
    json xps = json::array();
    for (const XpsRow& x : plan.xps)
      xps.push_back({{"iface", x.iface},
                     {"queue", x.queue},
                     {"path", x.path},
                     {"current", x.why.empty() || !x.current_cpus.empty() ? cpus_json(x.current_cpus) : nullptr},
                     {"planned", cpus_json(x.planned_cpus)},
                     {"change", x.changes},
                     {"why", text_or_null(x.why)}});
    root["xps"] = std::move(xps);
  }
  if (!plan.managed.empty()) {
    json check = json::array();
    for (const ManagedCheck& c : plan.managed)
      check.push_back({{"irq", c.irq},
                       {"name", c.name},
                       {"current", cpus_json(c.current)},
                       {"predicted", cpus_json(c.predicted)},
                       {"match", c.match}});
    root["kernel_check"] = std::move(check);
  }
  if (outcomes != nullptr) {
    json written = json::array();
    for (const WriteOutcome& o : *outcomes) {
      json w = {{"what", o.xps ? "xps" : "irq"}, {"name", o.name}};
      if (!o.xps) w["irq"] = o.irq;
      w["from"] = cpus_json(o.from);
      w["to"] = cpus_json(o.to);
      w["state"] = state_name(o.state);
      w["detail"] = text_or_null(o.detail);
      written.push_back(std::move(w));
    }
    root["written"] = std::move(written);
    root["restore_file"] = text_or_null(restore_path);
  }
  return root.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string irqbalance_warning(const kirq::KernelRoots& roots, const std::vector<unsigned>& irqs,
                               const std::string& cpus) {
  const std::vector<pid_t> pids = kirq::find_processes(roots.proc, "irqbalance");
  if (pids.empty() || irqs.empty()) return "";
  std::string pid_list;
  for (pid_t p : pids) pid_list += (pid_list.empty() ? "" : ", ") + std::to_string(p);
  std::string ban;
  for (unsigned irq : irqs) ban += (ban.empty() ? "" : " ") + std::string("--banirq=") + std::to_string(irq);
  return "irqbalance is running (pid " + pid_list + ") and will move these interrupts again: ban them from it with " +
         ban +
         " (IRQBALANCE_ARGS in /etc/default/irqbalance or /etc/sysconfig/irqbalance) and keep its other "
         "interrupts off CPUs " +
         cpus + " with IRQBALANCE_BANNED_CPULIST=" + cpus + ", then restart irqbalance";
}

}  // namespace irqd
