// SPDX-License-Identifier: GPL-2.0-only
//
// `irqd config check FILE` and `irqd config example`: the config of
// `irqd run` (config/config.h) checked without running anything, and a
// commented example that passes the check.

#pragma once

#include <iosfwd>
#include <string>

#include "config/config.h"

namespace irqd {

// "2 devices: nic0 (software, 64 vectors, driver count), nvme0 (vfio
// 0000:03:00.0, driver plugin /x.so)".
std::string describe_devices(const Config& config);

// Checks FILE ("-": standard input, named <stdin>): "FILE: ok
// (<describe_devices>)" on out and 0; otherwise
// every error on err, one per line ("irqd: error: FILE:LINE:COLUMN:
// message", sorted by position), nothing on out, and 2.
int run_config_check(const std::string& path, std::ostream& out, std::ostream& err);

// Prints example_config(); 0, or 1 when out cannot be written.
int run_config_example(std::ostream& out);

}  // namespace irqd
