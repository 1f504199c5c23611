// SPDX-License-Identifier: GPL-2.0-only
//
// DispatchEngine: one per host. Per serving CPU one reactor (and, with the
// queue hand-off, one worker), pinned there and shared by every device
// whose vectors that CPU serves: the SPDK/Seastar shape, O(CPUs) threads
// whatever the number of devices (the thread reactor, the naive baseline,
// still runs one reader per vector).
//
// Devices come and go while the others keep being served: add_device()
// arms a device's vectors on the reactors of their CPUs (starting a CPU's
// lane the first time it is used), stop_arming() + remove_device() take
// them out (stop arming, read each eventfd once, handle what it held, then
// hand the device's totals back), and move() hands one vector from one
// reactor to another. A vector's handler never runs on two threads at
// once: a move arms it on the new CPU only after the old CPU's worker has
// handled everything read from it there.
//
// Every call is made by one thread, the owner's (the host's control
// thread); the engine's own threads are the reactors and workers.

#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "dispatch/dispatcher.h"
#include "dispatch/lane.h"

namespace irqd {

class Reactor;

// What one move cost: how long the vector was armed on neither CPU
// (the old reactor's stop of arming to the new reactor's arming, as seen
// from the control thread, so an upper bound), and how much of it was
// waiting for the old worker to finish what it had read.
struct MoveTiming {
  std::uint64_t unarmed_ns = 0;
  std::uint64_t fence_ns = 0;
};

// What kAuto's measurement depends on, as the cache key: the running
// kernel, the CPU model, the CPUs this process may use, the hand-off and
// the busy-poll time.
std::string uring_choice_key(const DispatchOptions& options);

class DispatchEngine {
 public:
  using DeviceId = std::uint64_t;

  // No thread yet: lanes start as CPUs get vectors. options' handler,
  // consume_stamp and on_drop are not used (each device brings its own).
  // Fails on a kernel older than dispatch needs (check_kernel_release).
  static Result<std::unique_ptr<DispatchEngine>> create(DispatchOptions options);
  // Removes every device still added (drained), then stops every lane.
  ~DispatchEngine();
  DispatchEngine(const DispatchEngine&) = delete;
  DispatchEngine& operator=(const DispatchEngine&) = delete;

  // Serves a device's vectors, each on the reactor of its cpu. Fails if a
  // vector has no eventfd or comes twice, or a CPU's lane cannot start or
  // arm it; then none of the device's vectors stays in service, and what
  // the ones already armed read is in *partial (when given): an error
  // never throws counted interrupts away.
  Result<DeviceId> add_device(const std::vector<VectorBinding>& vectors, DeviceSink sink,
                              DispatchStats* partial = nullptr);
  // Step 1 of the unbind sequence: every reactor serving the device stops
  // arming its vectors, reads each once and fences it. Returns at once.
  void stop_arming(DeviceId id);
  // stop_arming() if not done, then waits until every interrupt read from
  // the device was handled (or dropped) and returns its totals, per CPU it
  // was served on; the device is gone from the engine. CPU time is the
  // lanes', shared by every device: it is in lane_stats(), not here.
  DispatchStats remove_device(DeviceId id);
  // Hands one of the device's vectors to the reactor of `cpu` (starting
  // that CPU's lane if needed). On failure the vector is served where it
  // was, unless re-arming it there failed too: then the error says so and
  // the vector is out of service (the caller unbinds the device).
  Result<MoveTiming> move(DeviceId id, unsigned vector, unsigned cpu);

  // Threads running now (reactors, workers, thread-reactor readers). A
  // CPU's lane starts with its first vector and stops with its last.
  unsigned threads() const;
  // Lanes started so far, by CPU: where their threads ran and their CPU
  // time so far is filled once the lanes stop (stop_lanes()).
  std::vector<unsigned> lane_cpus() const;
  // Stops every lane (every device must be removed first) and returns
  // each one's CpuStats with only the lane's fields set (ran_on, worker
  // CPU, CPU time). Idempotent.
  std::vector<CpuStats> stop_lanes();
  ReactorKind reactor() const { return options_.reactor; }
  // UringMethod::kAuto: the method chosen and why, once the first lane
  // started ("" before, and for every other method).
  const std::string& uring_choice() const { return uring_choice_; }

 private:
  struct Lane;
  struct Device;
  explicit DispatchEngine(DispatchOptions options);
  Result<Lane*> lane_for(unsigned cpu);
  void choose_uring(unsigned cpu);
  // What it measured; nullopt when the calibration could not run (the
  // default stays).
  std::optional<std::string> calibrate_uring(unsigned cpu);
  HandlerCounts* counts_for(Device& d, unsigned cpu);
  Status arm(Device& d, Source& source);
  void fold(Device& d, Source& source);
  void retire_idle_lanes();
  void keep_lane_stats(const CpuStats& c);
  static CpuStats stop_lane(Lane& lane);
  DispatchStats totals(Device& d);

  DispatchOptions options_;  // lanes hold references: never moves
  std::map<unsigned, std::unique_ptr<Lane>> lanes_;
  std::map<DeviceId, std::unique_ptr<Device>> devices_;
  DeviceId next_id_ = 1;
  std::string uring_choice_;
  bool lanes_stopped_ = false;
  std::map<unsigned, CpuStats> lane_stats_;  // of the lanes stopped so far, by CPU
};

}  // namespace irqd
