// SPDX-License-Identifier: GPL-2.0-only

#include "cli/config_command.h"

#include <iostream>
#include <iterator>
#include <ostream>

#include "daemon/service.h"

namespace irqd {

std::string describe_devices(const Config& config) {
  const std::size_t n = config.devices.size();
  std::string out = std::to_string(n) + (n == 1 ? " device: " : " devices: ");
  for (std::size_t i = 0; i < n; ++i) {
    const DeviceConfig& d = config.devices[i];
    out += (i == 0 ? "" : ", ") + d.name + " (";
    if (d.type == DeviceType::kVfio)
      out += "vfio " + d.address;
    else
      out += "software, " + std::to_string(d.vectors) + " vectors";
    out += d.driver.is_plugin() ? ", driver plugin " + d.driver.plugin : ", driver " + d.driver.name;
    out += ")";
  }
  return out;
}

int run_config_check(const std::string& path, std::ostream& out, std::ostream& err) {
  // "-": standard input, named <stdin> in messages.
  const bool stdin_file = path == "-";
  auto config = [&]() -> Result<Config> {
    if (!stdin_file) return load_config(path, config_value_syntax());
    const std::string text{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
    return parse_config(text, "<stdin>", config_value_syntax());
  }();
  if (!config) {
    // One error per line already; each gets the prefix every irqd error has.
    const std::string& message = config.error().message;
    std::size_t start = 0;
    while (start <= message.size()) {
      std::size_t end = message.find('\n', start);
      if (end == std::string::npos) end = message.size();
      err << "irqd: error: " << message.substr(start, end - start) << "\n";
      start = end + 1;
    }
    return 2;
  }
  out << (stdin_file ? "<stdin>" : path) << ": ok (" << describe_devices(*config) << ")\n";
  return out.flush() ? 0 : 1;
}

int run_config_example(std::ostream& out) {
  out << example_config();
  return out.flush() ? 0 : 1;
}

}  // namespace irqd
