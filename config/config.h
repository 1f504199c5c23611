// SPDX-License-Identifier: GPL-2.0-only
//
// The configuration of `irqd run`: a TOML file (toml++) read into a typed
// Config with every value defaulted. Validation checks syntax and ranges,
// not the machine: a plugin .so or a PCI address that does not exist here
// still passes; the daemon reports those when it binds, at the position
// this file kept for the value (DeviceConfig::at, Config::at).
//
//   log_level = "info"             report = "/var/lib/irqd/report.json"
//   cpus = "0-3"
//   [reactor]  kind, handoff, when_full, queue_capacity, busy_poll_us, calibration_cache
//   [metrics]  enabled, address, port, path, per_vector
//   [control]  socket, group
//   [[device]] name, type, vectors, pattern, choice, fire_cpu, address,
//              planner, kernel, pre_vectors, post_vectors, sets
//     [device.driver] name | plugin, max_vectors, options = { k = "v" }
//
// Every error is one line "FILE:LINE:COLUMN: message"; all of a file's
// errors are collected and sorted by position.

#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "affinity/plan.h"
#include "base/result.h"

namespace irqd {

// Where a value came from. line 0: not from the file (a default).
struct SourcePos {
  std::string file;
  unsigned line = 0;  // 1-based
  unsigned column = 0;

  bool known() const { return line != 0; }
  // "FILE:LINE:COLUMN", or "FILE" for a default.
  std::string str() const;
  bool operator==(const SourcePos&) const = default;
};

inline constexpr std::string_view kDefaultConfigPath = "/etc/irqd/irqd.toml";

struct ReactorConfig {
  std::string kind = "io_uring";      // io_uring | io_uring-read | io_uring-poll | io_uring-busy | epoll | thread
  std::string handoff = "adaptive";   // queue | inline | adaptive
  std::string when_full = "backoff";  // backoff | drop
  unsigned queue_capacity = 4096;     // 2..1048576
  unsigned busy_poll_us = 50;         // 1..1000000 (io_uring-busy)
  // io_uring: where the measured choice of read SQEs or multishot poll is
  // kept (daemon/uring_cache.h); "" measures at every start.
  std::string calibration_cache;
  bool operator==(const ReactorConfig&) const = default;
};

struct MetricsConfig {
  bool enabled = true;
  std::string address = "127.0.0.1";  // an IPv4 or IPv6 address literal
  unsigned port = 9477;               // 1..65535
  std::string path = "/metrics";
  bool per_vector = true;  // irqd_interrupts_total{device,vector} or {device} only
  bool operator==(const MetricsConfig&) const = default;
};

struct ControlConfig {
  std::string socket = "/run/irqd/irqd.sock";  // absolute, fits sun_path
  std::string group;                           // may read (status, stats, plan); "": root/owner only
  std::string admin_group;                     // may also move, unbind, bind, reload; "": root/owner only
  bool operator==(const ControlConfig&) const = default;
};

// Exactly one of name (a built-in) and plugin (an absolute .so path).
struct DriverConfig {
  std::string name = "count";  // count | leaky; "" when plugin is set
  std::string plugin;
  unsigned max_vectors = 0;                    // 0: every vector the device has
  std::map<std::string, std::string> options;  // handed to the driver as is
  bool is_plugin() const { return !plugin.empty(); }
  bool operator==(const DriverConfig&) const = default;
};

enum class DeviceType { kSoftware, kVfio };
std::string_view device_type_name(DeviceType type);

// What a device is, without where it was written: two devices with equal
// settings are the same device (a reload keeps it running).
struct DeviceSettings {
  std::string name;  // [a-z0-9_-]{1,32}, unique
  DeviceType type = DeviceType::kSoftware;
  // Software devices.
  unsigned vectors = 64;               // 1..2048
  std::string pattern = "rate:10000";  // parse_fire_pattern() accepts it
  std::string choice = "uniform";      // parse_vector_choice() accepts it
  int fire_cpu = -1;                   // -1: the firing engine is not pinned
  // VFIO devices: DDDD:BB:DD.F, lower case (as in /sys/bus/pci/devices).
  std::string address;
  PlannerKind planner = PlannerKind::kKernel;
  // The kernel line the kernel planner follows, as written ("6.12", "live");
  // "": the running kernel. parse_kernel_version() accepts it.
  std::string kernel;
  unsigned pre_vectors = 0;
  unsigned post_vectors = 0;
  std::vector<unsigned> sets;  // empty: one set
  DriverConfig driver;
  bool operator==(const DeviceSettings&) const = default;
};

struct DeviceConfig : DeviceSettings {
  SourcePos pos;  // the [[device]] header
  // Of each value given, by dotted key relative to the device: "name",
  // "vectors", "sets", "driver", "driver.plugin", "driver.options.depth".
  std::map<std::string, SourcePos, std::less<>> positions;
  // The value's position, else the [[device]] header's.
  SourcePos at(std::string_view key) const;
};

struct Config {
  std::string source;              // the file name errors and positions carry
  std::string log_level = "info";  // trace | debug | info | warn | error
  std::string report;              // final JSON report; "": none
  std::string cpus_text;           // as written; "": every CPU
  std::vector<unsigned> cpus;      // parsed; empty: every CPU
  ReactorConfig reactor;
  MetricsConfig metrics;
  ControlConfig control;
  std::vector<DeviceConfig> devices;
  // Of each value given outside [[device]], by dotted key: "cpus",
  // "reactor.kind", "metrics.port", and the tables: "reactor".
  std::map<std::string, SourcePos, std::less<>> positions;

  // The value's position, else the file's (line 0).
  SourcePos at(std::string_view key) const;
  const DeviceConfig* find_device(std::string_view name) const;
};

// Checks one value's syntax: ok, or why not (the accepted forms).
using ValueParser = std::function<Status(std::string_view)>;

// Values whose syntax another library owns: a software device's firing
// pattern and vector choice (parse_fire_pattern(), parse_vector_choice() in
// device/software_device.h). config/ knows no devices; the wiring hands
// their parsers in, and errors still come at the value's FILE:LINE:COLUMN.
// A parser left empty refuses every value of its key.
struct ValueSyntax {
  ValueParser fire_pattern;
  ValueParser vector_choice;
};

// Reads and checks a file. The error holds every problem found, one per
// line ("FILE:LINE:COLUMN: message"), sorted by position.
Result<Config> load_config(const std::string& path, const ValueSyntax& syntax);
// The same for text already read; name_for_errors is the FILE of errors.
Result<Config> parse_config(std::string_view text, const std::string& name_for_errors, const ValueSyntax& syntax);

// A commented example with every key, what it means and its default; it
// passes parse_config().
std::string example_config();

// What a reload changes. Device lists are by name: added and changed in
// the new file's order, removed in the old one's. A device is changed when
// any of its settings differ (where it is written in the file does not
// count). settings_changed names the top-level keys and sections outside
// [[device]] that differ ("cpus", "reactor", ...), in file-schema order.
struct ConfigDiff {
  std::vector<std::string> added;
  std::vector<std::string> removed;
  std::vector<std::string> changed;
  std::vector<std::string> unchanged;
  std::vector<std::string> settings_changed;
};
ConfigDiff diff_devices(const Config& before, const Config& after);

}  // namespace irqd
