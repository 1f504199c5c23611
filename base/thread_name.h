// SPDX-License-Identifier: GPL-2.0-only
//
// Names the calling thread so that ps -L, top -H and perf tell irqd's
// threads apart: "irqd-rx/3" (the reactor of CPU 3), "irqd-wk/3" (its
// worker), "irqd-fire/soft0", "irqd-ctl", "irqd-metrics".

#pragma once

#include <pthread.h>

#include <string>

namespace irqd {

// The kernel keeps 15 bytes (TASK_COMM_LEN with the NUL) and
// pthread_setname_np refuses a longer name: it is cut there instead.
inline void set_thread_name(const std::string& name) {
  (void)pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace irqd
