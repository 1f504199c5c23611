// SPDX-License-Identifier: GPL-2.0-only
//
// Injected faults: the seam in front of each system call irqd makes to
// bind a device, start its dispatch, move a vector or unbind it, so a test
// can fail any one of them and check that nothing is left behind.
//
// The seam is a FaultHook carried in the options of whatever makes the
// call (HostOptions, DispatchOptions, SoftwareDevice::Options,
// FiringEngine::Options, the VectorDomain and VfioDevice constructors), never
// a global: production code leaves it empty, and the only cost is an empty
// std::function tested before a setup-time system call (none is on the
// per-interrupt path). Two Hosts in one process, or two devices of one
// host, never see each other's faults.
//
// The hook is called with the system call's kernel name, on the thread that
// is about to make it (a reactor's io_uring_setup runs on the reactor
// thread, a pin on the pinned thread), and returns 0 to let the call run or
// an errno to fail it with, exactly as the kernel would have. The names:
//
//   eventfd               a vector's eventfd (VectorDomain), a reactor's stop
//                         eventfd, a software device's request eventfd
//   io_uring_setup        io_uring_queue_init_params() (the io_uring reactor)
//   io_uring_register     io_uring_register_files()
//   epoll_create1         the epoll reactor's epoll instance
//   epoll_ctl             EPOLL_CTL_ADD of a stop or vector eventfd
//   pthread_create        a reactor, worker, reader or firing thread
//   sched_setaffinity     pinning such a thread to its CPU
//   VFIO_DEVICE_SET_IRQS  arming, disarming or disabling MSI-X entries
//                         (VfioDevice, and the software device standing in)
//   mmap                  a VFIO BAR mapping (VfioDevice::map_bar)
//
// Every error such a failure produces names the call, so the user (and the
// test) can tell which step went wrong.

#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include "base/result.h"

namespace irqd {

using FaultHook = std::function<int(std::string_view call)>;

// 0 (make the call) without a hook; otherwise what the hook says.
inline int inject_fault(const FaultHook& hook, std::string_view call) { return hook ? hook(call) : 0; }

// std::thread(fn) without the exception: a thread that cannot be created
// (EAGAIN under a systemd TasksMax or RLIMIT_NPROC) is an error naming
// pthread_create and the errno, never a std::system_error crossing into the
// caller's thread of control.
template <typename Fn>
Result<std::thread> spawn_thread(const FaultHook& hook, Fn&& fn) {
  if (int err = inject_fault(hook, "pthread_create"); err != 0) return Error{"pthread_create: " + errno_string(err)};
  try {
    return std::thread(std::forward<Fn>(fn));
  } catch (const std::system_error& e) {
    return Error{"pthread_create: " + e.code().message()};
  }
}

}  // namespace irqd
