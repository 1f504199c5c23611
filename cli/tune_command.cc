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
      !flags.save.empty() || flags.xps || flags.json || !flags.save_profile.empty() || !flags.profile.empty() ||
      flags.if_present || flags.ban_from_irqbalance || !flags.udev_wants.empty())
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
  std::vector<WriteOutcome> outcomes = restore_masks(*file, roots, pci::write_sysfs);
  const std::vector<WriteOutcome> xps = restore_xps(*file, roots, pci::write_sysfs);
  outcomes.insert(outcomes.end(), xps.begin(), xps.end());
  out << "irqd tune: restoring " << plural(file->irqs.size(), "interrupt", "interrupts")
      << (file->xps.empty() ? "" : " and " + plural(file->xps.size(), "xps_cpus", "xps_cpus")) << " of " << file->device
      << " (" << file->pci << ") from " << flags.restore << "\n"
      << format_outcomes(outcomes);
  out.flush();
  return any_failed(outcomes) ? kExitFailed : 0;
}

// --udev-wants IFACE: the units the udev rule asks systemd to start.
int run_udev_wants(const TuneFlags& flags, const kirq::KernelRoots& roots, std::ostream& out, std::ostream& err) {
  if (!flags.device.empty() || !flags.planner.empty() || !flags.cpus.empty() || flags.apply || flags.xps ||
      flags.json || !flags.save_profile.empty() || !flags.profile.empty() || flags.ban_from_irqbalance)
    return fail(err, "--udev-wants IFACE takes no other flag (accepted: " + std::string(kTuneUsage) + ")");
  std::string units;
  for (const std::string& name : profiles_for_interface(flags.profile_dir, roots, flags.udev_wants))
    units += (units.empty() ? "" : " ") + std::string("irqd-tune@") + name + ".service";
  if (!units.empty()) out << "IRQD_TUNE_WANTS=" << units << "\n";
  out.flush();
  return 0;
}

// --profile NAME: the flags it saved, or the error; present=false when the
// device is not there and --if-present says that is fine.
Result<TuneFlags> flags_of_profile(const TuneFlags& given, const kirq::KernelRoots& roots, bool& present,
                                   std::string& named) {
  if (!given.device.empty() || !given.planner.empty() || !given.cpus.empty() || given.xps ||
      !given.save_profile.empty() || given.ban_from_irqbalance)
    return Error{
        "--profile NAME takes the device, planner, CPUs and options from the profile: give only --apply, "
        "--save, --if-present, --json, --kernel (accepted: " +
        std::string(kTuneUsage) + ")"};
  auto profile = load_profile(given.profile_dir, given.profile);
  if (!profile) return profile.error();
  TuneFlags f = given;
  // The PCI address outlives interface names; the name as given is the
  // fallback for a profile saved without one.
  auto device =
      profile->pci.empty() ? kirq::find_device(roots, profile->device) : kirq::find_device(roots, profile->pci);
  if (!device && !profile->pci.empty()) device = kirq::find_device(roots, profile->device);
  f.device = device && !profile->pci.empty() && device->bdf == profile->pci ? profile->pci : profile->device;
  // Present means there is something to tune: the function is there, a
  // driver has it (an unbound function keeps its sysfs directory) and it
  // has interrupts.
  present = false;
  if (device && !device->driver.empty()) {
    auto irqs = kirq::read_irqs(roots, device->bdf);
    present = irqs && !irqs->irqs.empty();
  }
  named = profile->device + (profile->pci.empty() || profile->pci == profile->device ? "" : " (" + profile->pci + ")") +
          (device && device->driver.empty() ? ", bound to no driver," : "");
  f.planner = profile->planner;
  f.cpus = profile->cpus;
  f.xps = profile->xps;
  f.ban_from_irqbalance = profile->ban_from_irqbalance;
  return f;
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

void tune_paths_from_env(TuneFlags& flags) {
  flags.state_dir = tune_state_dir_from_env();
  if (const char* dir = test_env("IRQD_TUNE_PROFILE_DIR")) flags.profile_dir = dir;
  if (const char* file = test_env("IRQD_IRQBALANCE_BANNED")) flags.irqbalance.banned = file;
  if (const char* dir = test_env("IRQD_IRQBALANCE_DROPIN_DIR")) flags.irqbalance.dropin_dir = dir;
  if (const char* unit = test_env("IRQD_IRQBALANCE_UNIT")) flags.irqbalance.units = {unit};
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) flags.irqbalance.policy_script = policy_script_beside(self.string());
  if (const char* script = test_env("IRQD_IRQBALANCE_POLICY")) flags.irqbalance.policy_script = script;
}

namespace {

// What --apply writes: the masks, then the XPS that follows them.
struct Changes {
  std::size_t masks = 0;
  std::size_t xps = 0;
  std::size_t total() const { return masks + xps; }
};

Changes changes_of(const TunePlan& plan) {
  Changes c;
  for (const TuneRow& r : plan.rows) c.masks += r.changes ? 1 : 0;
  for (const XpsRow& x : plan.xps) c.xps += x.changes ? 1 : 0;
  return c;
}

Result<TuneFlags> resolve_profile(const TuneFlags& given, const kirq::KernelRoots& roots, std::ostream& out,
                                  bool& nothing_to_do) {
  nothing_to_do = false;
  if (given.profile.empty()) {
    if (given.if_present)
      return Error{"--if-present goes with --profile NAME (accepted: " + std::string(kTuneUsage) + ")"};
    return given;
  }
  bool present = true;
  std::string named;
  auto flags = flags_of_profile(given, roots, present, named);
  if (!flags) return flags.error();
  if (!present && given.if_present) {
    out << "irqd tune: profile " << given.profile << ": " << named << " is not present now; nothing to do\n";
    nothing_to_do = true;
  }
  return flags;
}

}  // namespace

int run_tune(const TuneFlags& given, const kirq::KernelRoots& roots, std::ostream& out, std::ostream& err) {
  if (!given.restore.empty()) return run_restore(given, roots, out, err);
  if (!given.udev_wants.empty()) return run_udev_wants(given, roots, out, err);
  bool nothing_to_do = false;
  auto resolved = resolve_profile(given, roots, out, nothing_to_do);
  if (!resolved) return fail(err, resolved.error().message);
  if (nothing_to_do) return out.flush() ? 0 : kExitFailed;
  const TuneFlags& flags = *resolved;
  std::ostream& note = flags.json ? err : out;  // --json: stdout holds the JSON only
  if (flags.device.empty()) return fail(err, "--device is required (accepted: " + std::string(kTuneUsage) + ")");
  if (flags.planner.empty()) return fail(err, "--planner is required (accepted: " + planner_names() + ", hint)");
  auto options = tune_planner_from_name(flags.planner);
  if (!options) return fail(err, "--planner: " + options.error().message);
  if (!flags.save_profile.empty())
    if (Status s = check_profile_name(flags.save_profile); !s) return fail(err, "--save-profile: " + s.error().message);
  std::optional<std::vector<unsigned>> cpus_given;
  if (!flags.cpus.empty()) {
    auto cpus = parse_cpulist(flags.cpus);
    if (!cpus) return fail(err, "--cpus: " + cpus.error().message);
    cpus_given = *cpus;
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
  auto choice = choose_tune_cpus(*topo, *device, cpus_given, flags.cpus);
  if (!choice) return fail(err, choice.error().message);
  auto table = kirq::read_irqs(roots, device->bdf);
  if (!table) return fail(err, table.error().message);
  auto kernel = tune_kernel_version(flags, roots);
  if (!kernel) return fail(err, kernel.error().message);
  options->kernel = *kernel;
  auto plan = make_tune_plan(*topo, choice->cpus, choice->reason, *device, table->irqs, *options);
  if (!plan) return fail(err, plan.error().message);
  if (flags.xps)
    if (Status s = plan_xps(*plan, roots); !s) return fail(err, s.error().message);

  const Changes changing = changes_of(*plan);
  std::vector<unsigned> unmanaged;
  for (const TuneRow& r : plan->rows)
    if (!r.irq.managed) unmanaged.push_back(r.irq.irq);
  // The restore file comes first, before any output: when it cannot be
  // made, the error is the only thing said and nothing is written.
  const RestoreFile restore = restore_file_for(*plan, kirq::read_boot_id(roots));
  std::string saved;
  if (flags.apply && changing.total() > 0) {
    auto path = save_restore_file(flags.save, flags.state_dir, device->name, format_restore_file(restore));
    if (!path) return fail(err, path.error().message + "; nothing written");
    saved = *path;
  }
  if (!flags.save_profile.empty()) {
    TuneProfile profile{flags.save_profile,       flags.device, device->bdf, flags.planner, flags.cpus, flags.xps,
                        flags.ban_from_irqbalance};
    auto path = save_profile(flags.profile_dir, profile);
    if (!path) return fail(err, path.error().message + "; nothing written");
    note << "profile " << flags.save_profile << " saved to " << *path << ": systemctl enable irqd-tune@"
         << flags.save_profile << ".service applies it at every boot and whenever " << flags.device
         << " appears again\n";
  }
  if (!flags.json) out << format_tune_plan(*plan);
  if (!flags.ban_from_irqbalance)
    if (std::string warning = irqbalance_warning(roots, unmanaged, plan->cpus); !warning.empty())
      err << "irqd: warning: " << warning << " (or give --ban-from-irqbalance)\n" << std::flush;
  if (!flags.apply) {
    if (flags.json) out << format_tune_json(*plan, nullptr, "");
    note << "dry run: nothing written"
         << (changing.total() == 0 ? "; nothing would change"
                                   : " (--apply writes the " + std::to_string(changing.total()) + " changes)")
         << (flags.ban_from_irqbalance ? "; --ban-from-irqbalance acts with --apply" : "") << "\n";
    return out.flush() && note.flush() ? 0 : kExitFailed;
  }
  std::vector<WriteOutcome> outcomes;
  if (changing.total() == 0) {
    note << "nothing to write: every unmanaged interrupt has its planned mask already"
         << (flags.xps ? " and every transmit queue its XPS" : "") << "\n";
  } else {
    note << "restore file: " << saved << "\n" << std::flush;
    outcomes = apply_tune_plan(*plan, roots, pci::write_sysfs);
    const std::vector<WriteOutcome> xps = apply_xps(*plan, pci::write_sysfs);
    outcomes.insert(outcomes.end(), xps.begin(), xps.end());
    if (!flags.json)
      out << format_outcomes(outcomes) << "irqd tune --restore " << saved << " puts the "
          << plural(restore.irqs.size(), "mask", "masks")
          << (restore.xps.empty() ? "" : " and " + plural(restore.xps.size(), "xps_cpus", "xps_cpus")) << " back\n";
  }
  int rc = any_failed(outcomes) ? kExitFailed : 0;
  if (flags.ban_from_irqbalance) {
    // A profile's ban was written by the interactive run that set it up;
    // applied again (irqd-tune@.service, /etc read-only) it is checked,
    // and a missing one is a warning: the masks are written either way.
    const bool from_profile = !given.profile.empty();
    auto done = ban_from_irqbalance(flags.irqbalance, device->bdf, !from_profile);
    if (done) {
      note << "irqbalance: " << *done << "\n";
    } else if (from_profile) {
      err << "irqd: warning: irqd tune: " << done.error().message << "\n";
    } else {
      err << "irqd: error: irqd tune: " << done.error().message << "\n";
      rc = kExitFailed;
    }
  }
  if (flags.json) out << format_tune_json(*plan, &outcomes, saved);
  out.flush();
  return rc;
}

}  // namespace irqd
