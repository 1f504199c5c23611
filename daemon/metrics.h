// SPDX-License-Identifier: GPL-2.0-only
//
// Metrics of `irqd run` in the Prometheus text exposition format 0.0.4,
// served over HTTP (cpp-httplib).
//
// The daemon fills a MetricsSnapshot from its live state on every scrape;
// format_prometheus() turns it into the exposition text; MetricsServer
// serves it. The snapshot is plain data so the text can be tested without
// a host, and the server without a daemon.
//
// Counters must never go backwards or vanish while irqd runs, or rate()
// and increase() see a reset: the daemon keeps the totals of a device that
// was unbound (or rebound by a reload) and keeps handing them in the
// snapshot; nothing here remembers anything between scrapes.

#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "dispatch/histogram.h"
#include "host/live_latency.h"

namespace irqd {

// A Prometheus histogram as data. Default-constructed: empty, at
// kLatencyBoundsNs.
struct HistogramData {
  // Upper bounds, ascending, without +Inf.
  std::vector<std::uint64_t> bounds_ns{kLatencyBoundsNs.begin(), kLatencyBoundsNs.end()};
  // Samples per bucket, NOT cumulative: counts[i] are the samples in
  // (bounds_ns[i-1], bounds_ns[i]], the last (index bounds_ns.size()) those
  // above every bound. _count is their sum, so the +Inf bucket always
  // equals _count even when the counts were read from racing atomics.
  std::vector<std::uint64_t> counts = std::vector<std::uint64_t>(kLatencyBoundsNs.size() + 1);
  double sum_seconds = 0;

  std::uint64_t count() const;
  // Adds other's samples. Both must have the same bounds: an error names
  // the two bucket layouts and leaves *this unchanged.
  Status merge(const HistogramData& other);
};

// From the dispatch path's histogram: each of its buckets is counted
// under the first bound >= the highest value the bucket can hold (capped at
// the histogram's exact max), so a sample within its bucket's 0.79% of a
// bound may count under the next bound: buckets err late, never early, as
// LatencyHistogram's percentiles do. The sum is exact up to double
// rounding: the histogram keeps an exact sum, which mean() * count()
// gives back.
HistogramData latency_histogram(const LatencyHistogram& h, std::span<const std::uint64_t> bounds_ns = kLatencyBoundsNs);

// From per-bound counts kept elsewhere (e.g. live atomics at
// kLatencyBoundsNs): `counts` has bounds_ns.size() + 1 entries, not
// cumulative, the last above every bound. Missing entries count 0, extra
// ones are added to the last bucket.
HistogramData latency_histogram(std::span<const std::uint64_t> bounds_ns, std::span<const std::uint64_t> counts,
                                std::uint64_t sum_ns);

struct MetricsBuildInfo {
  std::string version;
  std::string build_type;
};
// This binary's version and CMake build type.
MetricsBuildInfo this_build();

struct DeviceMetrics {
  std::string name;  // unique within a snapshot
  // MSI-X entry index -> interrupts handled (eventfd counts that reached
  // the driver's handler), since irqd started.
  std::map<unsigned, std::uint64_t> interrupts;
  // reason -> interrupts dropped. queue_full and after_drain are always
  // exposed (0 when absent here) so the series exist before the first drop.
  std::map<std::string, std::uint64_t> dropped;
  // Vectors the device holds now, by who frees them (DESIGN.md's
  // ownership rule): a gauge, 0 for an unbound device.
  std::uint64_t managed_vectors = 0;
  std::uint64_t explicit_vectors = 0;
};

struct MetricsSnapshot {
  MetricsBuildInfo build;
  std::vector<DeviceMetrics> devices;  // bound ones and the totals of unbound ones
  // Linux CPU id -> interrupts handled by the reactor/worker on that CPU.
  std::map<unsigned, std::uint64_t> cpu_interrupts;
  // Trigger-to-handler latency of every device, merged.
  HistogramData dispatch_latency;
  std::uint64_t unbinds = 0;  // unbind sequences completed, whatever triggered them
  // driver -> vectors found still allocated (explicit, not freed) at unbind.
  std::map<std::string, std::uint64_t> leaked_vectors;
};

// The exposition text, format 0.0.4: # HELP and # TYPE for every metric
// (also those without samples), label values escaped, metrics in a fixed
// order, devices by name, vectors and CPUs by number, reasons and drivers
// by name. per_vector = false sums irqd_interrupts_total over each
// device's vectors and drops the vector label (a device with thousands of
// vectors would otherwise make thousands of series).
std::string format_prometheus(const MetricsSnapshot& snapshot, bool per_vector);

// Serves the exposition at http://address:port/path from a thread of its
// own (and a small pool for connections). GET and HEAD on path: 200 with
// the text; other methods on path: 405; anything else: 404. Connections
// are not kept alive, so stop() never waits on an idle client.
//
// The snapshot function runs on the server's threads, one call at a time
// (the server serializes scrapes). stop() waits for a scrape in progress:
// a snapshot function that waits on the thread calling stop() deadlocks,
// so stop the server before the thread that feeds it stops serving.
//
// Its threads block every asynchronous signal (SIGTERM/SIGINT/SIGHUP stay
// with the daemon's signalfd; SIGPIPE from a vanished client becomes
// EPIPE). The caller's own mask is left as it was.
class MetricsServer {
 public:
  using SnapshotFn = std::function<MetricsSnapshot()>;

  // Binds and starts serving. address is an IP address (127.0.0.1,
  // 0.0.0.0, ::1), never looked up. port 0 picks a free port (see port()). A
  // bad address, a port in use, a path not starting with '/': one line
  // naming address:port (or the path).
  static Result<std::unique_ptr<MetricsServer>> start(const std::string& address, unsigned port,
                                                      const std::string& path, SnapshotFn snapshot,
                                                      bool per_vector = true);
  ~MetricsServer();  // stop()
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  unsigned port() const { return port_; }
  // host:port as bound ("[::1]:9477" for IPv6), for logs.
  const std::string& endpoint() const { return endpoint_; }
  // Stops accepting, finishes the request in progress, joins. Idempotent.
  void stop();

 private:
  struct Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl, unsigned port, std::string endpoint);

  std::unique_ptr<Impl> impl_;
  unsigned port_ = 0;
  std::string endpoint_;
};

}  // namespace irqd
