// SPDX-License-Identifier: GPL-2.0-only
//
// The variables that point irqd at fake /sys and /proc trees and state
// directories (IRQD_SYSFS_ROOT, IRQD_PROC_ROOT, IRQD_BIND_STATE_DIR,
// IRQD_TUNE_STATE_DIR) steer where root reads and writes, and a fake /proc
// also skips tune's root check. They exist for the test suite: an irqd
// built without tests (-DIRQD_TESTS=OFF: the release preset, the Debian
// packages) ignores them, so nobody who can set a root process's
// environment can redirect its writes.

#pragma once

#include <cstdlib>

namespace irqd {

#ifdef IRQD_TEST_ENV
inline constexpr bool kTestEnvHonoured = true;
#else
inline constexpr bool kTestEnvHonoured = false;
#endif

// The variable's value when this build honours it and it is set and not
// empty; nullptr otherwise. Read before any thread starts.
inline const char* test_env(const char* name) {
  if (!kTestEnvHonoured) return nullptr;
  const char* value = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): before threads
  return value != nullptr && *value != '\0' ? value : nullptr;
}

}  // namespace irqd
