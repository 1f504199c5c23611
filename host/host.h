// SPDX-License-Identifier: GPL-2.0-only
//
// Host: the lifecycle of DESIGN.md for a set of devices, on one control
// thread: bind -> probe -> dispatch -> unbind -> release -> report.
//
// Each hosted device gets a Binding (device/), the driver's vectors go to
// the host's one DispatchEngine (dispatch/: a reactor and a worker per
// serving CPU, shared by every device), and a software device also gets
// the firing engine that plays its hardware. Unbind is one sequence
// whatever triggered it: the device's request (VFIO REQ IRQ, or a
// software hot-unplug), a command (request_unbind(), the control socket),
// a signal, a reload, or the end of the run. For every device the report
// checks fired == handled + dropped, dropped carrying its reason.
//
// Everything but request_unbind(), request_stop(), post() and the live
// counters runs on the control thread (the one that calls run()).

#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "affinity/plan.h"
#include "affinity/topology.h"
#include "base/fault.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "device/binding.h"
#include "device/software_device.h"
#include "dispatch/dispatcher.h"
#include "dispatch/engine.h"
#include "dispatch/histogram.h"
#include "host/drivers.h"
#include "host/live_latency.h"

namespace irqd {

struct DeviceSpec {
  enum class Kind { kSoftware, kVfio };
  Kind kind = Kind::kSoftware;
  std::string name;      // software: soft0, soft1, ...; vfio: the PCI address
  std::string address;   // vfio: the PCI address (defaults to name)
  unsigned vectors = 0;  // software: MSI-X table size
  // The driver: a built-in by name, or a plugin (.so path) with its options.
  std::string driver = "count";
  std::string plugin;
  std::map<std::string, std::string> driver_params;
  DriverOptions driver_options;
  PlannerKind planner = PlannerKind::kKernel;
  // The kernel line the kernel planner follows; empty: this machine's
  // (host_kernel_version()).
  std::optional<KernelVersion> kernel;
  // Software devices: how the firing engine fires them; none when !fire.
  bool fire = true;
  FiringEngine::Options firing;
};
// "soft:N" (N in 1..2048; named soft<ordinal>) or "vfio:DDDD:BB:DD.F".
Result<DeviceSpec> parse_device_spec(std::string_view text, unsigned software_ordinal);

struct DeviceReport;

struct HostOptions {
  // Reactor, hand-off and queue settings; the handler, the stamp source
  // and the drop hook are set per device.
  DispatchOptions dispatch;
  // Opens a VFIO device by PCI address (the daemon passes VfioDevice::open;
  // tests may pass their own). Unset: vfio devices are refused.
  std::function<Result<std::unique_ptr<MsixDevice>>(const std::string& address)> open_vfio;
  // Makes a device's driver. Unset: the built-in drivers (spec.driver).
  std::function<Result<std::unique_ptr<Driver>>(const DeviceSpec& spec)> make_driver;
  // Extra hooks every unbind runs as well (tests, the VFIO lab's firer).
  UnbindHooks unbind_hooks;
  // One line per event (bind, each unbind step, report), without newline.
  std::function<void(const std::string&)> log;
  // How many of the latest unbind reports reports() keeps whole (at least
  // one): a report holds its latency histograms, some 90 KiB, and a daemon
  // that rebinds for weeks must not keep every one. report_totals() counts
  // them all; on_report sees each before it can be dropped.
  std::size_t report_history = 32;
  // Every report as its unbind ends, on the control thread (the daemon
  // folds it into its metrics).
  std::function<void(const DeviceReport&)> on_report;
  // Tests only (base/fault.h): fails the system calls of add(), move() and
  // unbind(): a software device's eventfds and SET_IRQS, every vector's
  // eventfd, the dispatcher's threads, pins, rings and epoll sets, and the
  // firing engine's thread and pin. Handed to each; empty in production.
  // (A VFIO device gets its hook from open_vfio, a plugin's dlopen() from
  // make_driver.)
  FaultHook fault;
};

struct DeviceReport {
  std::string name;
  std::string backend;
  std::string driver;
  std::vector<Vector> vectors;  // as dispatched last
  bool fired_known = false;     // software devices count their fires
  std::uint64_t fired = 0;
  std::uint64_t unarmed = 0;  // fires the device refused with MSI-X off (never happened)
  DispatchStats dispatch;     // every dispatcher the device had (moves restart it), merged
  UnbindReport unbind;
  std::uint64_t dropped() const { return dispatch.dropped_queue_full() + unbind.dropped_after_drain_total(); }
  // fired == handled + dropped; true when the device cannot count fires.
  bool accounted() const { return !fired_known || fired == dispatch.handled() + dropped(); }
};

// Running totals over every unbind since the host started, kept while
// reports() drops the oldest reports.
struct ReportTotals {
  std::uint64_t unbinds = 0;
  std::uint64_t not_accounted = 0;  // reports where fired != handled + dropped
  std::uint64_t handled = 0;
  std::uint64_t dropped = 0;
  std::uint64_t leaked_vectors = 0;  // vectors a driver never freed
  std::uint64_t problems = 0;        // ownership problems other than leaks
  std::uint64_t errors = 0;          // unbind steps that failed
  void add(const DeviceReport& r);
};

// What a bound device is doing now (control thread).
struct DeviceStatus {
  std::string name;
  std::string backend;
  std::string driver;
  unsigned msix_count = 0;
  std::vector<Vector> vectors;
  std::vector<std::uint64_t> handled_per_vector;  // by index into `vectors`
  std::uint64_t handled = 0;
  std::uint64_t invocations = 0;
  std::uint64_t dropped_queue_full = 0;
  bool fired_known = false;
  std::uint64_t fired = 0;
  std::uint64_t moves = 0;
  // How long a moved vector was armed on no CPU, over its moves (0: none).
  std::uint64_t move_unarmed_p50_ns = 0;
  std::uint64_t move_unarmed_p99_ns = 0;
  std::uint64_t move_unarmed_max_ns = 0;
  const LiveLatency* latency = nullptr;  // valid while the device is bound
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
  // Reactor settings for devices added from now on (a reload rebinds the
  // devices it wants on the new ones).
  // The devices bound already stay on the engine they were added to.
  void set_dispatch_options(const DispatchOptions& dispatch) {
    options_.dispatch = dispatch;
    dispatch_.reset();
  }
  // Threads of the dispatch engine devices are added to now: reactors and
  // workers, one each per serving CPU whatever the number of devices.
  unsigned dispatch_threads() const { return dispatch_ ? dispatch_->threads() : 0; }
  std::vector<std::string> bound() const;
  // The spec a device was last added with (bound or not); null if never.
  const DeviceSpec* spec(const std::string& name) const;
  // The device, e.g. to map a VFIO BAR in the lab; null when not bound.
  MsixDevice* device(const std::string& name);
  // Interrupts handled so far for one MSI-X entry of a bound device, from
  // any thread; 0 when not bound.
  std::uint64_t handled(const std::string& name, unsigned index) const;
  Result<DeviceStatus> status(const std::string& name) const;

  // Moves a vector to another serving CPU at runtime: its old reactor stops
  // arming it and reads it once, its old worker finishes what was read, and
  // the new CPU's reactor arms it and reads what arrived meanwhile. Not one
  // interrupt is lost or counted twice, and every other vector, of this
  // device or another, is served throughout. A managed vector moves inside
  // its mask only, as the kernel allows.
  Status move(const std::string& name, unsigned index, unsigned cpu);

  // The unbind sequence for one device, on the control thread.
  // HostOptions::unbind_hooks see each step too.
  Result<const DeviceReport*> unbind(const std::string& name, const std::string& reason);

  // From any thread: ask run() to unbind a device, or everything, or to run
  // fn on the control thread.
  void request_unbind(std::string name, std::string reason);
  void request_stop(std::string reason);
  void post(std::function<void()> fn);

  struct RunOptions {
    int signal_fd = -1;         // a signalfd (SIGTERM, SIGINT, and whatever on_signal takes)
    double duration_s = 0;      // > 0: unbind everything after this long ("duration")
    double unplug_after_s = 0;  // > 0: hot-unplug every software device after this long
    bool keep_running = false;  // stay up with no device left (a daemon); else return
    // Signals other than SIGTERM/SIGINT (e.g. SIGHUP), on the control thread.
    std::function<void(int signo)> on_signal;
    // Called every tick_ms on the control thread (status, watchdog).
    unsigned tick_ms = 0;
    std::function<void()> on_tick;
  };
  // Serves until stopped: each device's request unbinds it (reason "device
  // request" / "hot-unplug"), SIGTERM/SIGINT or request_stop() unbinds all
  // and returns; without keep_running it also returns once no device is
  // left.
  void run(const RunOptions& options);

  // The latest HostOptions::report_history reports, in unbind order.
  const std::deque<DeviceReport>& reports() const { return reports_; }
  // Every unbind so far, the ones reports() no longer holds included.
  const ReportTotals& report_totals() const { return totals_; }

 private:
  struct Hosted;
  struct Command {
    std::string name;  // empty: every device
    std::string reason;
    std::function<void()> fn;  // set: run it instead
  };
  void log(const std::string& line) const;
  Hosted* find(const std::string& name);
  const Hosted* find(const std::string& name) const;
  Status start_dispatch(Hosted& h);
  void unbind_all(const std::string& reason);
  std::vector<Command> take_commands();

  const Topology& topo_;
  HostOptions options_;
  // Made with the first device; every device added with the same options
  // shares it. Declared before hosted_, so it outlives them.
  std::shared_ptr<DispatchEngine> dispatch_;
  std::string logged_uring_choice_;  // said once per engine (kAuto's measurement or cache)
  std::vector<std::unique_ptr<Hosted>> hosted_;
  std::map<std::string, DeviceSpec> specs_;
  std::deque<DeviceReport> reports_;
  ReportTotals totals_;
  UniqueFd wake_fd_;
  mutable std::mutex mu_;  // guards commands_ and, for handled(), hosted_ membership
  std::vector<Command> commands_;
};

// poll()'s timeout until deadline_ns (CLOCK_MONOTONIC), rounded up to
// whole milliseconds: 0 once it has passed, and at most INT_MAX ms (24.8
// days; the loop polls again, nearer the deadline) so a long --duration
// never wraps to a negative timeout, which poll() takes as "for ever".
int poll_timeout_ms(std::uint64_t now_ns, std::uint64_t deadline_ns);

// The kernel line a hosted device follows when its spec names none: the
// running kernel's, or v6.18 (default_kernel_version()) where the running
// kernel is older than every line irqd reproduces.
KernelVersion host_kernel_version();

// One eventfd per vector: a device with a thousand vectors outgrows the
// usual soft limit of 1024 open files. Raises it to the hard limit, as
// long-running servers do; the domain's error names the limit if even
// that is not enough.
void raise_nofile_limit();

// Sums `part` into `total` (a device's dispatchers across moves).
void merge_dispatch_stats(DispatchStats& total, const DispatchStats& part);

}  // namespace irqd
