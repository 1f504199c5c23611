// SPDX-License-Identifier: GPL-2.0-only

#include "cli/irqs_command.h"

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <ostream>
#include <vector>

#include "base/table.h"
#include "cli/devices_command.h"
#include "cli/test_env.h"

namespace irqd {
namespace {

using json = nlohmann::ordered_json;

std::string dash_if_empty(const std::string& s) { return s.empty() ? "-" : s; }
std::string int_or_dash(int v) { return v < 0 ? "-" : std::to_string(v); }
json int_or_null(int v) { return v < 0 ? json(nullptr) : json(v); }

std::string joined(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

}  // namespace

kirq::KernelRoots kernel_roots_from_env() {
  kirq::KernelRoots roots;
  if (const char* p = test_env(kProcRootEnv)) roots.proc = p;
  if (const char* s = test_env(kSysfsRootEnv)) roots.sysfs = s;
  return roots;
}

Result<IrqsView> load_irqs(const kirq::KernelRoots& roots, const std::string& device) {
  IrqsView view;
  if (device != "all") {
    auto dev = kirq::find_device(roots, device);
    if (!dev) return Error{"--device: " + dev.error().message};
    view.device = std::move(*dev);
  }
  auto table = kirq::read_irqs(roots, view.device ? view.device->bdf : "");
  if (!table) return table.error();
  view.table = std::move(*table);
  return view;
}

std::string format_counts(const kirq::IrqTable& table, const kirq::KernelIrq& irq) {
  std::string out;
  for (std::size_t i = 0; i < irq.counts.size() && i < table.cpus.size(); ++i)
    if (irq.counts[i] != 0)
      out += (out.empty() ? "" : " ") + std::to_string(table.cpus[i]) + ":" + std::to_string(irq.counts[i]);
  return dash_if_empty(out);
}

std::string format_irqs_table(const IrqsView& view) {
  std::string out;
  const bool one = view.device.has_value();
  if (one) {
    out += kirq::describe_device(*view.device) + ": " + std::to_string(view.table.irqs.size()) + " interrupts\n";
    if (view.table.irqs.empty()) return out;
  }
  std::vector<std::vector<std::string>> rows{
      {"IRQ", one ? "VEC" : "DEVICE", "NAME", "QUEUE", "AFFINITY", "EFFECTIVE", "NODE", "MANAGED", "TOTAL", "PER-CPU"}};
  for (const kirq::KernelIrq& k : view.table.irqs) {
    rows.push_back({std::to_string(k.irq), one ? int_or_dash(k.msi_index) : dash_if_empty(joined(k.bdfs, ",")),
                    dash_if_empty(k.name), int_or_dash(k.queue), dash_if_empty(k.affinity), dash_if_empty(k.effective),
                    std::to_string(k.node), k.managed ? "yes" : "no", std::to_string(k.total()),
                    format_counts(view.table, k)});
  }
  return out + align(rows);
}

std::string format_irqs_json(const IrqsView& view) {
  json root;
  if (view.device) {
    const kirq::KernelDevice& d = *view.device;
    root["device"] = {{"name", d.name},
                      {"pci", d.bdf},
                      {"path", d.path},
                      {"driver", d.driver.empty() ? json(nullptr) : json(d.driver)},
                      {"class", d.class_code.empty() ? json(nullptr) : json(d.class_code)},
                      {"numa_node", d.numa_node},
                      {"local_cpulist", d.local_cpulist.empty() ? json(nullptr) : json(d.local_cpulist)}};
  } else {
    root["device"] = nullptr;
  }
  root["cpus"] = view.table.cpus;
  json irqs = json::array();
  for (const kirq::KernelIrq& k : view.table.irqs) {
    irqs.push_back({{"irq", k.irq},
                    {"name", k.name},
                    {"chip", k.chip},
                    {"hwirq", k.hwirq},
                    {"msi_index", int_or_null(k.msi_index)},
                    {"queue", int_or_null(k.queue)},
                    {"pci", k.bdfs},
                    {"mode", k.mode.empty() ? json(nullptr) : json(k.mode)},
                    {"smp_affinity_list", k.affinity},
                    {"effective_affinity_list", k.has_effective ? json(k.effective) : json(nullptr)},
                    {"node", k.node},
                    {"managed", k.managed},
                    {"counts", k.counts},
                    {"total", k.total()}});
  }
  root["irqs"] = std::move(irqs);
  return root.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

int run_irqs(const IrqsFlags& flags, const kirq::KernelRoots& roots, std::ostream& out, std::ostream& err) {
  auto view = load_irqs(roots, flags.device);
  if (!view) {
    std::string message = view.error().message;
    std::replace(message.begin(), message.end(), '\n', ' ');
    err << "irqd: error: irqd irqs: " << message << "\n";
    return 2;
  }
  out << (flags.json ? format_irqs_json(*view) : format_irqs_table(*view));
  return out.flush() ? 0 : 1;
}

std::string kernel_irqs_help() {
  return std::string(
             "NAME is a network interface (eth0), another class device (nvme0, vda), a virtio device (virtio2; "
             "virtio devices lead to their PCI function) or a PCI address DDDD:BB:DD.F. MANAGED: the kernel "
             "spreads and owns the affinity (smp_affinity_list is read-only, or the write is refused with "
             "EIO/EPERM); irqd tune never writes those.\n"
             "For testing: ") +
         kProcRootEnv + "=DIR reads (and tune --apply writes) a fake /proc tree instead of /proc; " + kSysfsRootEnv +
         "=DIR a fake /sys tree instead of /sys; IRQD_TUNE_STATE_DIR=DIR is where tune --apply saves restore files "
         "instead of /run/irqd/tune; tune --topology SPEC (live, synthetic:..., xml:PATH) plans on another machine's "
         "topology, for captures of other machines.\n";
}

}  // namespace irqd
