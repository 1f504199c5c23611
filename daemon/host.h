// SPDX-License-Identifier: GPL-2.0-only
//
// Host: the lifecycle of DESIGN.md for a set of devices, on one control
// thread: bind -> probe -> dispatch -> unbind -> release -> report.
//
// Each hosted device gets a Binding (device/), the driver's vectors go to
// a Dispatcher of their own (dispatch/), and a software device also gets
// the firing engine that plays its hardware. Unbind is one sequence
// whatever triggered it: the device's request (VFIO REQ IRQ, or a
// software hot-unplug), a command (request_unbind(), later the control
// socket), a signal, or the end of the run. For every device the report
// checks fired == handled + dropped, dropped carrying its reason.

#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "affinity/plan.h"
#include "affinity/topology.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "daemon/drivers.h"
#include "device/binding.h"
#include "device/software_device.h"
#include "dispatch/dispatcher.h"

namespace irqd {

struct DeviceSpec {
  enum class Kind { kSoftware, kVfio };
  Kind kind = Kind::kSoftware;
  std::string name;      // software: soft0, soft1, ...; vfio: the PCI address
  unsigned vectors = 0;  // software: MSI-X table size
};
// "soft:N" (N in 1..2048; named soft<ordinal>) or "vfio:DDDD:BB:DD.F".
Result<DeviceSpec> parse_device_spec(std::string_view text, unsigned software_ordinal);

struct HostOptions {
  // Reactor, hand-off and queue settings; the handler and the stamp source
  // are set per device.
  DispatchOptions dispatch;
  PlannerKind planner = PlannerKind::kKernel;
  std::string driver = "count";
  DriverOptions driver_options;
  // How software devices are fired; none when fire is false.
  bool fire = true;
  FiringEngine::Options firing;
  // Opens a VFIO device by PCI address (the serve command passes
  // VfioDevice::open; tests may pass their own). Unset: vfio: refused.
  std::function<Result<std::unique_ptr<MsixDevice>>(const std::string& bdf)> open_vfio;
  // Extra hooks every unbind runs as well (tests, the VFIO lab's firer).
  UnbindHooks unbind_hooks;
  // One line per event (bind, each unbind step, report), without newline.
  std::function<void(const std::string&)> log;
};

struct DeviceReport {
  std::string name;
  std::string backend;
  std::string driver;
  std::vector<Vector> vectors;  // as dispatched
  bool fired_known = false;     // software devices count their fires
  std::uint64_t fired = 0;
  std::uint64_t unarmed = 0;  // fires the device refused with MSI-X off (never happened)
  DispatchStats dispatch;
  UnbindReport unbind;
  std::uint64_t dropped() const { return dispatch.dropped_queue_full() + unbind.dropped_after_drain_total(); }
  // fired == handled + dropped; true when the device cannot count fires.
  bool accounted() const { return !fired_known || fired == dispatch.handled() + dropped(); }
};

class Host {
 public:
  Host(const Topology& topo, HostOptions options);
  ~Host();  // unbinds what is still bound, reason "shutdown"
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  // Opens the device, binds the driver, probes, starts dispatching its
  // vectors and, for a software device, firing. Nothing is left behind on
  // failure.
  Status add(const DeviceSpec& spec);
  std::vector<std::string> bound() const;
  // The driver bound to a device, for live counts (its counters are
  // atomics, safe to read from any thread); null when not bound.
  const CountingDriver* driver(const std::string& name) const;
  // The device, e.g. to map a VFIO BAR in the lab; null when not bound.
  MsixDevice* device(const std::string& name);

  // The unbind sequence for one device, on the calling (control) thread.
  // HostOptions::unbind_hooks see each step too.
  Result<const DeviceReport*> unbind(const std::string& name, const std::string& reason);

  // From any thread: ask run() to unbind a device, or everything.
  void request_unbind(std::string name, std::string reason);
  void request_stop(std::string reason);

  struct RunOptions {
    int signal_fd = -1;         // a signalfd for SIGTERM/SIGINT, read by run()
    double duration_s = 0;      // > 0: unbind everything after this long ("duration")
    double unplug_after_s = 0;  // > 0: hot-unplug every software device after this long
  };
  // Serves until no device is left: each device's request unbinds it
  // (reason "device request" / "hot-unplug"), a signal or request_stop()
  // unbinds all.
  void run(const RunOptions& options);

  // Reports in unbind order.
  const std::vector<DeviceReport>& reports() const { return reports_; }

 private:
  struct Hosted;
  struct Command {
    std::string name;  // empty: every device
    std::string reason;
  };
  void log(const std::string& line) const;
  Hosted* find(const std::string& name);
  void unbind_all(const std::string& reason);
  std::vector<Command> take_commands();

  const Topology& topo_;
  HostOptions options_;
  std::vector<std::unique_ptr<Hosted>> hosted_;
  std::vector<DeviceReport> reports_;
  UniqueFd wake_fd_;
  std::mutex mu_;  // guards commands_
  std::vector<Command> commands_;
};

}  // namespace irqd
