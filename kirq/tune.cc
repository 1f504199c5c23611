// SPDX-License-Identifier: GPL-2.0-only

#include "kirq/tune.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
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

Result<TunePlan> make_tune_plan(const Topology& topo, const std::vector<unsigned>& cpus, std::string cpus_reason,
                                const kirq::KernelDevice& device, const std::vector<kirq::KernelIrq>& irqs,
                                PlannerKind planner, const KernelVersion& kernel) {
  if (irqs.empty())
    return Error{"--device '" + device.name + "': " + device.bdf + " has no interrupts (no msi_irqs, no INTx line)"};
  auto restricted = topo.restrict_to(cpus);
  if (!restricted) return Error{"--cpus: " + restricted.error().message};
  TunePlan p;
  p.device = device;
  p.planner = planner;
  p.cpus = cpulist(cpus);
  p.cpus_reason = std::move(cpus_reason);
  p.request.vectors = static_cast<unsigned>(irqs.size());
  infer_pre_post(irqs, p.request.pre_vectors, p.request.post_vectors);
  p.request.planner = planner;
  p.request.kernel = kernel;
  auto plan = make_plan(*restricted, p.request);
  if (!plan) return Error{"planning " + std::to_string(irqs.size()) + " vectors: " + plan.error().message};
  for (std::size_t i = 0; i < irqs.size(); ++i) {
    TuneRow row;
    row.irq = irqs[i];
    row.current = irqs[i].affinity;
    row.planned = plan->vectors[i].cpus.to_list();
    auto current = cpus_of(row.current);
    row.current_unknown = !irqs[i].managed && (!current || current->empty());
    row.changes = !irqs[i].managed && !row.current_unknown && !same_cpus(row.current, row.planned);
    p.rows.push_back(std::move(row));
  }
  if (std::none_of(irqs.begin(), irqs.end(), [](const kirq::KernelIrq& k) { return k.managed; })) return p;

  // The kernel spread the managed vectors over every possible CPU when the
  // driver allocated them (irq_create_affinity_masks); no --cpus there.
  p.kernel_request = p.request;
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

RestoreFile restore_file_for(const TunePlan& plan, const std::string& boot_id) {
  RestoreFile f;
  f.boot_id = boot_id;
  f.device = plan.device.name;
  f.pci = plan.device.bdf;
  f.planner = std::string(planner_name(plan.planner));
  f.cpus = plan.cpus;
  for (const TuneRow& r : plan.rows)
    if (!r.irq.managed && !r.current_unknown) f.irqs.push_back({r.irq.irq, r.irq.name, r.current});
  return f;
}

std::string format_restore_file(const RestoreFile& file) {
  json irqs = json::array();
  for (const RestoreEntry& e : file.irqs)
    irqs.push_back({{"irq", e.irq}, {"name", e.name}, {"smp_affinity_list", e.affinity}});
  json root = {{"irqd_tune_restore", kRestoreFormat},
               {"boot_id", file.boot_id},
               {"device", file.device},
               {"pci", file.pci},
               {"planner", file.planner},
               {"cpus", file.cpus},
               {"irqs", std::move(irqs)}};
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
  if (root["irqd_tune_restore"].get<std::int64_t>() != kRestoreFormat)
    return Error{path + " has restore format " + root["irqd_tune_restore"].dump() +
                 " (accepted: " + std::to_string(kRestoreFormat) + ")"};
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
  return f;
}

std::vector<WriteOutcome> apply_tune_plan(const TunePlan& plan, const kirq::KernelRoots& roots,
                                          const ProcWrite& write) {
  std::vector<WriteOutcome> out;
  for (const TuneRow& r : plan.rows)
    if (r.changes) out.push_back(write_mask(roots, write, r.irq.irq, r.irq.name, r.current, r.planned));
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
      plan.planner == PlannerKind::kKernel ? " (Linux " + plan.request.kernel.text + ")" : "";
  out += "plan: planner " + std::string(planner_name(plan.planner)) + kernel_line + ", " +
         std::to_string(plan.request.vectors) + " vectors (pre " + std::to_string(plan.request.pre_vectors) +
         ", post " + std::to_string(plan.request.post_vectors) + "), on CPUs " + plan.cpus + " (" + plan.cpus_reason +
         ")\n";
  std::vector<std::vector<std::string>> rows{{"IRQ", "VEC", "NAME", "QUEUE", "CURRENT", "", "PLANNED", ""}};
  unsigned changes = 0;
  for (const TuneRow& r : plan.rows) {
    std::vector<std::string> row{std::to_string(r.irq.irq), int_or_dash(r.irq.msi_index), dash_if_empty(r.irq.name),
                                 int_or_dash(r.irq.queue), dash_if_empty(r.current)};
    if (r.irq.managed) {
      row.insert(row.end(), {"", "-", "managed: never written"});
    } else if (r.current_unknown) {
      row.insert(row.end(), {"", r.planned, "current mask unreadable: never written"});
    } else if (r.changes) {
      row.insert(row.end(), {"->", r.planned, ""});
      ++changes;
    } else {
      row.insert(row.end(), {"=", r.planned, "unchanged"});
    }
    rows.push_back(std::move(row));
  }
  out += align(rows);
  out += std::to_string(changes) + " of " + std::to_string(plan.rows.size()) + " interrupts change\n";
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
    rows.push_back({std::to_string(o.irq), dash_if_empty(o.name), dash_if_empty(o.from), "->", o.to, result});
  }
  return align(rows);
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
