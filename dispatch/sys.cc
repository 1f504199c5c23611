// SPDX-License-Identifier: GPL-2.0-only

#include "dispatch/sys.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <ctime>
#include <string>

namespace irqd {

std::uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

std::uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

// The kernel reads the word as a plain u32: std::atomic<std::uint32_t> has
// that size and no other member on every target irqd builds for.
static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

void futex_wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected) {
  ::syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}

void futex_wake_one(std::atomic<std::uint32_t>& word) {
  ::syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

Status pin_to_cpu(unsigned cpu, const FaultHook& fault) {
  if (cpu >= CPU_SETSIZE) return Error{"CPU " + std::to_string(cpu) + " is above CPU_SETSIZE"};
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  int err = inject_fault(fault, "sched_setaffinity");
  if (err == 0 && sched_setaffinity(0, sizeof(set), &set) != 0) err = errno;
  if (err != 0)
    return Error{"cannot pin a thread to CPU " + std::to_string(cpu) + ": sched_setaffinity: " + errno_string(err)};
  int now = sched_getcpu();
  if (now != static_cast<int>(cpu))
    return Error{"thread pinned to CPU " + std::to_string(cpu) + " runs on CPU " + std::to_string(now)};
  return ok_status();
}

Status check_kernel_release(std::string_view release) {
  unsigned major = 0;
  unsigned minor = 0;
  const char* p = release.data();
  const char* end = release.data() + release.size();
  auto [after_major, ec1] = std::from_chars(p, end, major);
  bool parsed = ec1 == std::errc() && after_major < end && *after_major == '.';
  if (parsed) {
    auto [after_minor, ec2] = std::from_chars(after_major + 1, end, minor);
    parsed = ec2 == std::errc();
  }
  if (!parsed) return Error{"cannot tell the kernel version from '" + std::string(release) + "'"};
  if (major > kMinKernelMajor || (major == kMinKernelMajor && minor >= kMinKernelMinor)) return ok_status();
  return Error{"Linux " + std::string(release) + " is older than " + std::to_string(kMinKernelMajor) + "." +
               std::to_string(kMinKernelMinor) +
               ", the oldest kernel irqd dispatches on (it needs IORING_ASYNC_CANCEL_ANY, 5.19, and RWF_NOWAIT "
               "reads of eventfds, 5.12)"};
}

std::int64_t eventfd_read_nowait(int fd) {
  std::uint64_t value = 0;
  iovec iov{&value, sizeof(value)};
  for (;;) {
    ssize_t n = preadv2(fd, &iov, 1, -1, RWF_NOWAIT);
    if (n == sizeof(value)) return static_cast<std::int64_t>(value);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return 0;
    return n < 0 ? -errno : -EIO;
  }
}

std::int64_t eventfd_read_blocking(int fd) {
  std::uint64_t value = 0;
  for (;;) {
    ssize_t n = read(fd, &value, sizeof(value));
    if (n == sizeof(value)) return static_cast<std::int64_t>(value);
    if (n < 0 && errno == EINTR) continue;
    return n < 0 ? -errno : -EIO;
  }
}

int eventfd_add(int fd, std::uint64_t value) {
  for (;;) {
    ssize_t n = write(fd, &value, sizeof(value));
    if (n == sizeof(value)) return 0;
    if (n < 0 && errno == EINTR) continue;
    return n < 0 ? -errno : -EIO;
  }
}

}  // namespace irqd
