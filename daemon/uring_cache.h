// SPDX-License-Identifier: GPL-2.0-only
//
// The file behind reactor.calibration_cache: what the io_uring reactor's
// kAuto measured, by uring_choice_key() (kernel, CPU model, CPUs, hand-off,
// busy poll), so that `irqd run` measures once per machine and kernel and
// then starts with the same method every time:
//
//   {"irqd_uring_choice": 2,
//    "choices": {"linux 6.12.48; AMD EPYC ...; 2 CPUs; handoff queue; busy_poll_ns 0":
//                {"method": "poll-multishot", "why": "measured on CPU 1, ...", "read_per_s": 452000.0}}}
//
// Delete the file (or the entry) to measure again. A file that cannot be
// read or parsed is a miss, and is replaced at the next store; a failed
// store is reported through warn and costs the next start a measurement.

#pragma once

#include <functional>
#include <string>

#include "dispatch/dispatcher.h"

namespace irqd {

UringChoiceCache file_uring_cache(const std::string& path, std::function<void(const std::string&)> warn);

}  // namespace irqd
