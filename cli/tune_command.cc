// SPDX-License-Identifier: GPL-2.0-only

#include "cli/tune_command.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <set>
#include <system_error>
#include <utility>

#include "affinity/cpulist.h"
#include "base/table.h"
#include "base/unique_fd.h"
#include "cli/irqs_command.h"
#include "cli/test_env.h"
#include "device/pci_sysfs.h"

namespace irqd {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

constexpr int kExitUsage = 2;
constexpr int kExitFailed = 1;

std::string plural(std::size_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

int fail(std::ostream& err, std::string message, int code = kExitUsage) {
  std::replace(message.begin(), message.end(), '\n', ' ');
  err << "irqd: error: irqd tune: " << message << "\n";
  err.flush();
  return code;
}

std::string planner_names() {
  std::string out;
  for (const PlannerInfo& p : all_planners()) out += (out.empty() ? "" : ", ") + std::string(p.name);
  return out;
}

Status check_root(const kirq::KernelRoots& roots, std::string_view what) {
  // A fake tree (IRQD_PROC_ROOT) is guarded by its own file modes.
  if (roots.real_proc() && ::geteuid() != 0)
    return Error{std::string(what) + " needs root (it writes /proc/irq/N/smp_affinity_list): run it with sudo"};
  return ok_status();
}

int run_restore(const TuneFlags& flags, const kirq::KernelRoots& roots, std::ostream& out, std::ostream& err) {
  if (!flags.device.empty() || !flags.planner.empty() || !flags.cpus.empty() || !flags.kernel.empty() || flags.apply ||
      !flags.save.empty())
    return fail(err, "--restore FILE takes no other flag (accepted: " + std::string(kTuneUsage) + ")");
  if (Status s = check_root(roots, "--restore"); !s) return fail(err, s.error().message);
  auto text = kirq::read_text_file(flags.restore);
  if (!text) return fail(err, "--restore: " + text.error().message);
  auto file = parse_restore_file(*text, flags.restore);
  if (!file) return fail(err, "--restore: " + file.error().message);
  const std::string boot_id = kirq::read_boot_id(roots);
  if (!file->boot_id.empty() && !boot_id.empty() && file->boot_id != boot_id)
    return fail(err, "--restore: " + flags.restore + " is from another boot (boot_id " + file->boot_id + ", now " +
                         boot_id + "): interrupt numbers may name other devices now; nothing written");
  const std::vector<WriteOutcome> outcomes = restore_masks(*file, roots, pci::write_sysfs);
  out << "irqd tune: restoring " << plural(file->irqs.size(), "interrupt", "interrupts") << " of " << file->device
      << " (" << file->pci << ") from " << flags.restore << "\n"
      << format_outcomes(outcomes);
  out.flush();
  return any_failed(outcomes) ? kExitFailed : 0;
}

}  // namespace

Result<KernelVersion> tune_kernel_version(const TuneFlags& flags, const kirq::KernelRoots& roots) {
  if (!flags.kernel.empty()) {
    auto v = parse_kernel_version(flags.kernel);
    if (!v) return Error{"--kernel: " + v.error().message};
    return *v;
  }
  std::string release = kirq::read_line(roots.proc + "/sys/kernel/osrelease");
  while (!release.empty() && (release.back() == ' ' || release.back() == '\r')) release.pop_back();
  if (release.empty()) return default_kernel_version();
  auto v = parse_kernel_version(release);
  if (!v) return Error{"the running kernel: " + v.error().message + " (give --kernel)"};
  return *v;
}

std::string tune_state_dir_from_env() {
  if (const char* dir = test_env(kTuneStateDirEnv)) return dir;
  return kTuneStateDir;
}

int run_tune(const TuneFlags& flags, const kirq::KernelRoots& roots, std::ostream& out, std::ostream& err) {
  if (!flags.restore.empty()) return run_restore(flags, roots, out, err);
  if (flags.device.empty()) return fail(err, "--device is required (accepted: " + std::string(kTuneUsage) + ")");
  if (flags.planner.empty()) return fail(err, "--planner is required (accepted: " + planner_names() + ")");
  auto planner = planner_from_name(flags.planner);
  if (!planner) return fail(err, "--planner: " + planner.error().message);
  std::optional<std::vector<unsigned>> given;
  if (!flags.cpus.empty()) {
    auto cpus = parse_cpulist(flags.cpus);
    if (!cpus) return fail(err, "--cpus: " + cpus.error().message);
    given = *cpus;
  }
  if (!flags.save.empty() && !flags.apply)
    return fail(err, "--save FILE goes with --apply (nothing is saved without it)");
  if (flags.apply) {
    if (Status s = check_root(roots, "--apply"); !s) return fail(err, s.error().message);
  }
  auto device = kirq::find_device(roots, flags.device);
  if (!device) return fail(err, "--device: " + device.error().message);
  auto topo = Topology::load(flags.topology);
  if (!topo) return fail(err, "--topology: " + topo.error().message);
  auto choice = choose_tune_cpus(*topo, *device, given, flags.cpus);
  if (!choice) return fail(err, choice.error().message);
  auto table = kirq::read_irqs(roots, device->bdf);
  if (!table) return fail(err, table.error().message);
  auto kernel = tune_kernel_version(flags, roots);
  if (!kernel) return fail(err, kernel.error().message);
  auto plan = make_tune_plan(*topo, choice->cpus, choice->reason, *device, table->irqs, *planner, *kernel);
  if (!plan) return fail(err, plan.error().message);

  std::vector<unsigned> changing;
  std::vector<unsigned> unmanaged;
  for (const TuneRow& r : plan->rows) {
    if (r.changes) changing.push_back(r.irq.irq);
    if (!r.irq.managed) unmanaged.push_back(r.irq.irq);
  }
  // The restore file comes first, before any output: when it cannot be
  // made, the error is the only thing said and nothing is written.
  const RestoreFile restore = restore_file_for(*plan, kirq::read_boot_id(roots));
  std::string saved;
  if (flags.apply && !changing.empty()) {
    auto path = save_restore_file(flags.save, flags.state_dir, device->name, format_restore_file(restore));
    if (!path) return fail(err, path.error().message + "; nothing written");
    saved = *path;
  }
  out << format_tune_plan(*plan);
  if (std::string warning = irqbalance_warning(roots, unmanaged, plan->cpus); !warning.empty())
    err << "irqd: warning: " << warning << "\n" << std::flush;
  if (!flags.apply) {
    out << "dry run: nothing written"
        << (changing.empty() ? "; nothing would change\n"
                             : " (--apply writes the " + std::to_string(changing.size()) + " changes)\n");
    return out.flush() ? 0 : kExitFailed;
  }
  if (changing.empty()) {
    out << "nothing to write: every unmanaged interrupt has its planned mask already\n";
    return out.flush() ? 0 : kExitFailed;
  }
  out << "restore file: " << saved << "\n" << std::flush;
  const std::vector<WriteOutcome> outcomes = apply_tune_plan(*plan, roots, pci::write_sysfs);
  out << format_outcomes(outcomes) << "irqd tune --restore " << saved << " puts the "
      << plural(restore.irqs.size(), "mask", "masks") << " back\n";
  out.flush();
  return any_failed(outcomes) ? kExitFailed : 0;
}

}  // namespace irqd
