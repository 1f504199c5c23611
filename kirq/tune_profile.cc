// SPDX-License-Identifier: GPL-2.0-only

#include "kirq/tune_profile.h"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>

#include "base/atomic_file.h"
#include "base/state_dir.h"

namespace irqd {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

constexpr std::size_t kMaxProfileName = 64;
constexpr std::size_t kMaxProfileBytes = 64 * 1024;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  std::size_t start = 0;
  while (start < s.size() && (s[start] == ' ' || s[start] == '\t')) ++start;
  return s.substr(start);
}

// The last non-empty ExecStart= of a unit file ("" none): what systemd runs.
std::string exec_start_of(const std::string& unit_text) {
  std::istringstream in(unit_text);
  std::string line, exec;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.starts_with("ExecStart=")) exec = trim(line.substr(10));
  }
  return exec;
}

}  // namespace

Status check_profile_name(std::string_view name) {
  const auto bad = std::find_if_not(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
  });
  if (name.empty() || name.size() > kMaxProfileName || bad != name.end() || name.front() == '.')
    return Error{"profile name '" + std::string(name) +
                 "' (accepted: 1-64 of A-Z a-z 0-9 _ . -, not starting with '.')"};
  return ok_status();
}

std::string format_profile(const TuneProfile& p) {
  json root = {{"irqd_tune_profile", kProfileFormat},
               {"device", p.device},
               {"pci", p.pci},
               {"planner", p.planner},
               {"cpus", p.cpus},
               {"xps", p.xps},
               {"ban_from_irqbalance", p.ban_from_irqbalance}};
  return root.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<TuneProfile> parse_profile(const std::string& text, const std::string& path, const std::string& name) {
  const std::string not_ours = path + " is not a profile of irqd tune --save-profile";
  const json root = json::parse(text, nullptr, false);
  if (root.is_discarded() || !root.is_object()) return Error{not_ours + " (not a JSON object)"};
  if (!root.contains("irqd_tune_profile") || !root["irqd_tune_profile"].is_number_integer())
    return Error{not_ours + " (no \"irqd_tune_profile\" format number)"};
  if (root["irqd_tune_profile"].get<std::int64_t>() != kProfileFormat)
    return Error{path + " has profile format " + root["irqd_tune_profile"].dump() +
                 " (accepted: " + std::to_string(kProfileFormat) + ")"};
  TuneProfile p;
  p.name = name;
  for (auto [key, into] : {std::pair<const char*, std::string*>{"device", &p.device},
                           {"pci", &p.pci},
                           {"planner", &p.planner},
                           {"cpus", &p.cpus}}) {
    if (!root.contains(key) || !root[key].is_string())
      return Error{not_ours + " (\"" + key + "\" is missing or not a string)"};
    *into = root[key].get<std::string>();
  }
  for (auto [key, into] :
       {std::pair<const char*, bool*>{"xps", &p.xps}, {"ban_from_irqbalance", &p.ban_from_irqbalance}}) {
    if (!root.contains(key)) continue;
    if (!root[key].is_boolean()) return Error{not_ours + " (\"" + key + "\" is not true or false)"};
    *into = root[key].get<bool>();
  }
  if (p.device.empty() && p.pci.empty()) return Error{not_ours + " (neither \"device\" nor \"pci\" names a device)"};
  if (p.planner.empty()) return Error{not_ours + " (\"planner\" is empty)"};
  return p;
}

Result<std::string> save_profile(const std::string& dir, const TuneProfile& profile) {
  if (Status s = check_profile_name(profile.name); !s) return Error{"--save-profile: " + s.error().message};
  if (Status s = ensure_state_dir(dir); !s) return Error{"--save-profile: " + s.error().message};
  const std::string path = dir + "/" + profile.name + ".json";
  if (Status s = replace_file(path, format_profile(profile), 0644); !s)
    return Error{"--save-profile: " + path + ": " + s.error().message};
  return path;
}

Result<TuneProfile> load_profile(const std::string& dir, const std::string& name) {
  if (Status s = check_profile_name(name); !s) return Error{"--profile: " + s.error().message};
  const std::string path = dir + "/" + name + ".json";
  auto text = kirq::read_text_file(path);
  if (!text)
    return Error{"--profile " + name + ": no such profile (" + text.error().message +
                 "; save one with --save-profile " + name + ")"};
  if (text->size() > kMaxProfileBytes) return Error{path + " is over 64 KiB: not a profile of irqd tune"};
  return parse_profile(*text, path, name);
}

std::vector<std::string> profiles_for_interface(const std::string& dir, const kirq::KernelRoots& roots,
                                                const std::string& iface) {
  std::vector<std::string> names;
  auto device = kirq::find_device(roots, iface);
  const std::string bdf = device ? device->bdf : "";
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    const std::string file = e.path().filename().string();
    if (!file.ends_with(".json")) continue;
    const std::string name = file.substr(0, file.size() - 5);
    if (!check_profile_name(name)) continue;
    auto profile = load_profile(dir, name);
    if (!profile) continue;
    if (profile->device == iface || (!bdf.empty() && (profile->pci == bdf || profile->device == bdf)))
      names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string policy_script_beside(const std::string& binary) {
  return (fs::path(binary).parent_path().parent_path() / "lib/irqd/irqbalance-policy").string();
}

Result<std::string> ban_from_irqbalance(const IrqbalanceBan& paths, const std::string& bdf, bool write) {
  const std::string what = "--ban-from-irqbalance: ";
  std::error_code ec;
  if (paths.policy_script.empty() || !fs::exists(paths.policy_script, ec))
    return Error{what + "irqd's irqbalance policy script " + paths.policy_script +
                 " is not installed (install irqd's package, or cmake --install)"};
  std::string unit, exec;
  for (const std::string& u : paths.units) {
    auto text = kirq::read_text_file(u);
    if (!text) continue;
    unit = u;
    exec = exec_start_of(*text);
    break;
  }
  if (unit.empty()) return Error{what + "irqbalance is not installed (no irqbalance.service)"};
  if (exec.empty()) return Error{what + unit + " has no ExecStart= to add --policyscript to"};
  const std::string option = "--policyscript=" + paths.policy_script;
  if (exec.find("--policyscript") != std::string::npos && exec.find(option) == std::string::npos)
    return Error{what + "irqbalance already runs a policy script of its own (" + unit + ": " + exec +
                 "); it takes one: have it print ban=true for the interrupts of " + bdf};

  // The banned list, one PCI address per line.
  std::string list;
  if (auto text = kirq::read_text_file(paths.banned); text) list = *text;
  std::istringstream in(list);
  bool listed = false;
  for (std::string line; std::getline(in, line);) listed = listed || trim(line) == bdf;
  std::string done;
  const std::string dropin = paths.dropin_dir + "/irqd.conf";
  const std::string command = exec.find(option) == std::string::npos ? exec + " " + option : exec;
  const std::string text =
      "# Written by irqd tune --ban-from-irqbalance: irqbalance asks irqd's policy\n"
      "# script about each interrupt, which bans those of the PCI functions in\n# " +
      paths.banned + ". The command is " + unit + "'s own.\n[Service]\nExecStart=\nExecStart=" + command + "\n";
  auto old = kirq::read_text_file(dropin);
  const bool dropin_in_place = old && *old == text;
  if (!write && (!listed || !dropin_in_place))
    return Error{what + "the ban is not in place (" +
                 (!listed ? bdf + " is not in " + paths.banned : dropin + " is missing or out of date") +
                 ") and this run writes nothing there: run irqd tune --device " + bdf +
                 " --planner P --apply --ban-from-irqbalance once"};
  if (!listed) {
    if (!list.empty() && list.back() != '\n') list += '\n';
    if (list.empty()) list = "# PCI functions irqbalance leaves alone (irqd tune --ban-from-irqbalance)\n";
    list += bdf + "\n";
    const std::string parent = fs::path(paths.banned).parent_path().string();
    if (Status s = ensure_state_dir(parent); !s) return Error{what + s.error().message};
    if (Status s = replace_file(paths.banned, list, 0644); !s)
      return Error{what + paths.banned + ": " + s.error().message};
    done = bdf + " added to " + paths.banned;
  } else {
    done = bdf + " is in " + paths.banned + " already";
  }
  if (!dropin_in_place) {
    if (Status s = ensure_state_dir(paths.dropin_dir); !s) return Error{what + s.error().message};
    if (Status s = replace_file(dropin, text, 0644); !s) return Error{what + dropin + ": " + s.error().message};
    done += "; " + dropin + " written (systemctl daemon-reload && systemctl restart irqbalance puts it in force)";
  } else {
    done += "; " + dropin + " in place already";
  }
  return done;
}

}  // namespace irqd
