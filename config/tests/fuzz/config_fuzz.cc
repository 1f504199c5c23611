// SPDX-License-Identifier: GPL-2.0-only
//
// libFuzzer harness: the configuration file of `irqd run` and `irqd config
// check`, as load_config() hands its text to parse_config(), with the
// parsers the daemon passes for the values a device owns (daemon/service.cc
// config_value_syntax(): device/'s parse_fire_pattern() and
// parse_vector_choice()). Beyond "no crash": every error line carries the
// file's name, as `irqd config check` promises (FILE:LINE:COLUMN, or FILE
// for a file-wide error); an accepted config diffs as unchanged against
// itself; every position it recorded is in the file.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config.h"
#include "device/software_device.h"

namespace {

constexpr std::string_view kName = "fuzz.toml";

irqd::ValueSyntax device_syntax() {
  auto check = [](auto parse) {
    return [parse](std::string_view text) -> irqd::Status {
      auto parsed = parse(text);
      if (!parsed) return parsed.error();
      return irqd::ok_status();
    };
  };
  return {check(irqd::parse_fire_pattern), check(irqd::parse_vector_choice)};
}

void check_pos(const irqd::SourcePos& pos, std::size_t lines) {
  if (pos.file != kName) std::abort();
  if (pos.known() && (pos.line > lines || pos.column == 0)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const irqd::ValueSyntax syntax = device_syntax();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = irqd::parse_config(text, std::string(kName), syntax);
  if (!config) {
    std::string_view message = config.error().message;
    if (message.empty()) std::abort();
    while (!message.empty()) {
      const std::size_t nl = message.find('\n');
      if (!message.substr(0, nl).starts_with(kName)) {
        std::fprintf(stderr, "error line without the file's name in:\n%s\n", config.error().message.c_str());
        std::abort();
      }
      message.remove_prefix(nl == std::string_view::npos ? message.size() : nl + 1);
    }
    return 0;
  }
  const std::size_t lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  for (const auto& [key, pos] : config->positions) check_pos(pos, lines);
  for (const irqd::DeviceConfig& d : config->devices) {
    check_pos(d.pos, lines);
    for (const auto& [key, pos] : d.positions) check_pos(pos, lines);
    if (config->find_device(d.name) == nullptr) std::abort();
  }
  const irqd::ConfigDiff diff = irqd::diff_devices(*config, *config);
  if (!diff.added.empty() || !diff.removed.empty() || !diff.changed.empty() || !diff.settings_changed.empty() ||
      diff.unchanged.size() != config->devices.size())
    std::abort();
  return 0;
}
