// SPDX-License-Identifier: GPL-2.0-only
//
// A process's resident set size, for the soak tests' memory bounds.

#pragma once

#include <sys/types.h>

#include <cstdint>
#include <fstream>
#include <string>

namespace irqd::test {

// VmRSS of process pid (0: this one) in KiB, from /proc/PID/status; 0 when
// it cannot be read (the process is gone).
inline std::uint64_t rss_kib(pid_t pid = 0) {
  std::ifstream status(pid == 0 ? std::string("/proc/self/status") : "/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      std::uint64_t kib = 0;
      status >> kib;
      return kib;
    }
    status.ignore(4096, '\n');
  }
  return 0;
}

}  // namespace irqd::test
