// SPDX-License-Identifier: GPL-2.0-only
//
// The few system calls the dispatch path makes outside io_uring, thin and
// under their kernel names.

#pragma once

#include <cstdint>

#include "base/result.h"

namespace irqd {

// CLOCK_MONOTONIC in ns (vDSO, no system call).
std::uint64_t monotonic_ns();
// CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID), ns.
std::uint64_t thread_cpu_ns();

// Pins the calling thread to one CPU with sched_setaffinity() and checks
// with sched_getcpu() that it now runs there.
Status pin_to_cpu(unsigned cpu);

// Reads an eventfd's count without blocking, even on a blocking fd
// (preadv2 with RWF_NOWAIT: eventfd honours IOCB_NOWAIT). Returns the count,
// 0 when there is nothing to read, or -errno.
std::int64_t eventfd_read_nowait(int fd);
// Blocking read of an eventfd's count; retries on EINTR. Returns the count
// or -errno.
std::int64_t eventfd_read_blocking(int fd);
// Adds value to an eventfd's count. Returns 0 or -errno.
int eventfd_add(int fd, std::uint64_t value);

}  // namespace irqd
