// SPDX-License-Identifier: GPL-2.0-only
//
// The few system calls the dispatch path makes outside io_uring, thin and
// under their kernel names.

#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include "base/fault.h"
#include "base/result.h"
#include "base/thread_name.h"

namespace irqd {

// CLOCK_MONOTONIC in ns (vDSO, no system call).
std::uint64_t monotonic_ns();
// CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID), ns.
std::uint64_t thread_cpu_ns();

// Pins the calling thread to one CPU with sched_setaffinity() and checks
// with sched_getcpu() that it now runs there. `fault`: tests only.
Status pin_to_cpu(unsigned cpu, const FaultHook& fault = {});

// The oldest kernel irqd's dispatch path runs on, and why: a stop cancels
// in-flight reads with IORING_ASYNC_CANCEL_ANY (5.19; before it the cancel
// fails with EINVAL and a stop waits for ever on idle vectors), eventfd
// reads use RWF_NOWAIT (5.12; before it epoll spins and the drain reads
// nothing), multishot poll (5.13). 6.1 is the oldest line the QEMU labs
// boot and run the reactor conformance suite on.
inline constexpr unsigned kMinKernelMajor = 6;
inline constexpr unsigned kMinKernelMinor = 1;
// Ok on 6.1 or later; else an error naming the running kernel, the
// minimum and why. release is uname(2)'s (e.g. "6.1.0-37-amd64").
Status check_kernel_release(std::string_view release);

// futex(2) on a 32-bit word private to this process. The worker sleeps
// with these rather than std::atomic::wait: libstdc++'s wait spins and then
// calls sched_yield() before it sleeps, and on the CPU the worker shares
// with its reactor each yield hands that CPU to the reactor for the rest of
// its slice (perf: a third of the serving CPU in sched_yield at 100k/s).
// Sleeps while word == expected; returns on a wake, a changed value or a
// signal (the caller re-checks).
void futex_wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected);
// Wakes one thread sleeping in futex_wait on word.
void futex_wake_one(std::atomic<std::uint32_t>& word);

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
