// SPDX-License-Identifier: GPL-2.0-only

#include "daemon/service.h"

#include <fmt/format.h>
#include <pthread.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>
#include <tuple>

#include "config/config.h"
#include "daemon/control.h"
#include "daemon/metrics.h"
#include "daemon/systemd.h"
#include "daemon/uring_cache.h"
#include "device/vfio_device.h"
#include "dispatch/reactor_names.h"
#include "dispatch/sys.h"
#include "host/host.h"
#include "host/plugin.h"
#include "host/report.h"

namespace irqd {
namespace {

using ordered_json = nlohmann::ordered_json;

// A control or metrics request waits this long for the control thread,
// which answers between two events; more means it is wedged.
constexpr auto kAnswerTimeout = std::chrono::seconds(5);

Result<DispatchOptions> dispatch_options(const ReactorConfig& r, const std::shared_ptr<spdlog::logger>& log) {
  DispatchOptions d;
  if (!r.calibration_cache.empty())
    d.uring_cache = file_uring_cache(r.calibration_cache, [log](const std::string& line) { log->warn("{}", line); });
  auto reactor = parse_reactor("reactor.kind", r.kind, std::uint64_t{r.busy_poll_us} * 1000);
  if (!reactor) return reactor.error();
  d.reactor = reactor->kind;
  d.uring_method = reactor->method;
  d.busy_poll_ns = reactor->busy_poll_ns;
  auto handoff = parse_handoff("reactor.handoff", r.handoff);
  if (!handoff) return handoff.error();
  d.handoff = *handoff;
  auto full = parse_when_full("reactor.when_full", r.when_full);
  if (!full) return full.error();
  d.when_full = *full;
  d.queue_capacity = r.queue_capacity;
  return d;
}

// The config's device, as the host takes it. The file was checked, so the
// patterns parse; an error here still names the device's position.
Result<DeviceSpec> device_spec(const DeviceConfig& c) {
  DeviceSpec s;
  s.name = c.name;
  s.kind = c.type == DeviceType::kVfio ? DeviceSpec::Kind::kVfio : DeviceSpec::Kind::kSoftware;
  s.address = c.address;
  s.vectors = c.vectors;
  s.driver = c.driver.name;
  s.plugin = c.driver.plugin;
  s.driver_params = c.driver.options;
  s.driver_options.max_vectors = c.driver.max_vectors;
  s.driver_options.affinity.pre_vectors = c.pre_vectors;
  s.driver_options.affinity.post_vectors = c.post_vectors;
  s.driver_options.affinity.sets = c.sets;
  s.planner = c.planner;
  if (!c.kernel.empty() && c.kernel != "live") {
    auto kernel = parse_kernel_version(c.kernel);
    if (!kernel) return Error{c.at("kernel").str() + ": " + kernel.error().message};
    s.kernel = *kernel;
  }
  if (s.kind == DeviceSpec::Kind::kSoftware) {
    auto pattern = parse_fire_pattern(c.pattern);
    if (!pattern) return Error{c.at("pattern").str() + ": " + pattern.error().message};
    auto choice = parse_vector_choice(c.choice);
    if (!choice) return Error{c.at("choice").str() + ": " + choice.error().message};
    s.firing.pattern = *pattern;
    s.firing.choice = *choice;
    s.firing.cpu = c.fire_cpu;
  }
  return s;
}

ordered_json latency_json(const LiveLatency& l) {
  ordered_json j;
  j["count"] = l.count();
  j["mean_ns"] = l.count() == 0 ? 0 : l.sum_ns() / l.count();
  // The bucket bound at or above each percentile: what the metrics'
  // buckets can tell, no finer.
  const auto counts = l.counts();
  for (double p : {50.0, 99.0, 99.9}) {
    const auto want = static_cast<std::uint64_t>(static_cast<double>(l.count()) * p / 100.0 + 0.5);
    std::uint64_t seen = 0;
    std::uint64_t bound = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
      seen += counts[i];
      bound = i < LiveLatency::kBoundsNs.size() ? LiveLatency::kBoundsNs[i] : LatencyHistogram::kMaxValue;
      if (seen >= want) break;
    }
    const std::string key = p == 50.0 ? "p50_le_ns" : p == 99.0 ? "p99_le_ns" : "p999_le_ns";
    j[key] = l.count() == 0 ? 0 : bound;
  }
  j["max_ns"] = l.max_ns();
  return j;
}

// The report is written when irqd stops, maybe weeks later, and the
// calibration cache at the first start: a directory that cannot take them
// is refused at once, with the reason.
Status check_report(const Config& c) {
  for (auto [key, name, path] :
       {std::tuple{"report", "report", &c.report},
        std::tuple{"reactor.calibration_cache", "calibration_cache", &c.reactor.calibration_cache}}) {
    if (path->empty()) continue;
    if (Status s = check_output_directory(directory_of(*path)); !s)
      return Error{c.at(key).str() + ": " + name + " '" + *path + "': " + s.error().message};
  }
  return ok_status();
}

class Daemon {
 public:
  Daemon(Config config, std::shared_ptr<spdlog::logger> log) : config_(std::move(config)), log_(std::move(log)) {}
  // The host first: its last unbinds (reason "shutdown") report through
  // on_report into the members below, which must still be there.
  ~Daemon() { host_.reset(); }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  // A start that fails is one line on err ("irqd: error: irqd run: ...")
  // and exit 2; after that, errors go to the log.
  int run(int signal_fd, std::ostream& err);

 private:
  Status start();
  void bind_configured(const std::vector<std::string>& names);
  Status bind(const std::string& name);
  // Re-reads the file; an error (the file's, every one) keeps the running
  // configuration.
  Status reload(const std::string& why);
  void handle(ControlJob job);
  Result<ordered_json> answer(const ControlRequest& req);
  ordered_json status_json();
  // Every bound device for "", else that one if it is bound.
  Result<std::vector<std::string>> devices_named(const std::string& device);
  Result<ordered_json> stats_json(const std::string& device);
  Result<ordered_json> plan_json(const std::string& device);
  MetricsSnapshot snapshot();
  void retire(const DeviceReport& r);
  void on_tick();
  std::string status_line();
  Status start_control();
  Status start_metrics();

  // Runs fn on the control thread and waits for its answer.
  template <typename T>
  Result<T> on_control_thread(std::function<Result<T>()> fn);

  Config config_;
  std::shared_ptr<spdlog::logger> log_;
  Notifier notify_;
  std::unique_ptr<Topology> topo_;
  std::unique_ptr<Host> host_;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<MetricsServer> metrics_;
  std::map<std::string, std::string> failed_;  // device -> why it is not bound
  std::map<std::string, DeviceMetrics> retired_;
  std::map<unsigned, std::uint64_t> retired_cpu_;
  HistogramData retired_latency_;
  std::map<std::string, std::uint64_t> leaked_;
  std::uint64_t started_ns_ = monotonic_ns();
  std::uint64_t last_tick_ns_ = 0;
  std::uint64_t last_handled_ = 0;
  std::uint64_t last_watchdog_ns_ = 0;
};

template <typename T>
Result<T> Daemon::on_control_thread(std::function<Result<T>()> fn) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto answer = promise->get_future();
  host_->post([promise, fn = std::move(fn)] { promise->set_value(fn()); });
  if (answer.wait_for(kAnswerTimeout) != std::future_status::ready)
    return Error{"the control thread did not answer within 5 s"};
  return answer.get();
}

Status Daemon::start_control() {
  ControlOptions o;
  o.path = config_.control.socket;
  o.group = config_.control.group;
  o.admin_group = config_.control.admin_group;
  o.log = [log = log_](const std::string& line) { log->warn("control: {}", line); };
  auto server = ControlServer::start(o, ControlAsyncHandler([this](ControlJob job) { handle(std::move(job)); }));
  if (!server) return Error{config_.at("control.socket").str() + ": " + server.error().message};
  control_ = std::move(*server);
  log_->info("control socket {}", config_.control.socket);
  return ok_status();
}

Status Daemon::start_metrics() {
  if (!config_.metrics.enabled) return ok_status();
  auto server = MetricsServer::start(
      config_.metrics.address, config_.metrics.port, config_.metrics.path,
      [this] {
        auto s = on_control_thread<MetricsSnapshot>([this]() -> Result<MetricsSnapshot> { return snapshot(); });
        if (s) return std::move(*s);
        MetricsSnapshot empty;  // the control thread is wedged: build info only
        empty.build = this_build();
        return empty;
      },
      config_.metrics.per_vector);
  if (!server) return Error{config_.at("metrics.port").str() + ": " + server.error().message};
  metrics_ = std::move(*server);
  log_->info("metrics http://{}{}", metrics_->endpoint(), config_.metrics.path);
  return ok_status();
}

Status Daemon::start() {
  auto live = Topology::load("live");
  if (!live) return live.error();
  topo_ = std::make_unique<Topology>(std::move(*live));
  if (!config_.cpus.empty()) {
    auto restricted = topo_->restrict_to(config_.cpus);
    if (!restricted) return Error{config_.at("cpus").str() + ": " + restricted.error().message};
    topo_ = std::make_unique<Topology>(std::move(*restricted));
  }
  auto dispatch = dispatch_options(config_.reactor, log_);
  if (!dispatch) return Error{config_.at("reactor").str() + ": " + dispatch.error().message};

  HostOptions ho;
  ho.dispatch = *dispatch;
  ho.log = [log = log_](const std::string& line) { log->info("{}", line); };
  // Folded into the metrics' running totals as each unbind ends: the host
  // keeps only the latest reports.
  ho.on_report = [this](const DeviceReport& r) {
    retire(r);
    if (!r.accounted())
      log_->error("device {} lost interrupts: fired {} handled {} dropped {}", r.name, r.fired, r.dispatch.handled(),
                  r.dropped());
  };
  // One vfio::GroupSet for every device the host opens: two functions of
  // one IOMMU group share its group fd (the kernel allows one opener).
  ho.open_vfio =
      [groups = std::make_shared<vfio::GroupSet>()](const std::string& bdf) -> Result<std::unique_ptr<MsixDevice>> {
    auto dev = VfioDevice::open(bdf, {}, {}, groups.get());
    if (!dev) return dev.error();
    return std::unique_ptr<MsixDevice>(std::move(*dev));
  };
  ho.make_driver = [log = log_](const DeviceSpec& spec) -> Result<std::unique_ptr<Driver>> {
    if (!spec.plugin.empty()) {
      // The plugin reads the vector counts from its options, as the
      // example drivers do; the file's own options win.
      std::map<std::string, std::string> options = spec.driver_params;
      const AffinitySpec& a = spec.driver_options.affinity;
      options.try_emplace("max_vectors", std::to_string(spec.driver_options.max_vectors));
      options.try_emplace("pre_vectors", std::to_string(a.pre_vectors));
      options.try_emplace("post_vectors", std::to_string(a.post_vectors));
      // syslog levels (LOG_ERR 3 .. LOG_DEBUG 7) onto the daemon's log.
      PluginLog plugin_log = [log, name = spec.name](int level, const std::string& message) {
        const auto lvl = level <= 3   ? spdlog::level::err
                         : level == 4 ? spdlog::level::warn
                         : level <= 6 ? spdlog::level::info
                                      : spdlog::level::debug;
        log->log(lvl, "driver {}: {}", name, message);
      };
      return load_plugin(spec.plugin, std::move(options), std::move(plugin_log));
    }
    return make_driver(spec.driver, spec.driver_options);
  };
  host_ = std::make_unique<Host>(*topo_, std::move(ho));
  if (Status s = start_control(); !s) return s;
  if (Status s = start_metrics(); !s) return s;
  std::vector<std::string> names;
  for (const DeviceConfig& d : config_.devices) names.push_back(d.name);
  bind_configured(names);
  return ok_status();
}

Status Daemon::bind(const std::string& name) {
  const DeviceConfig* d = config_.find_device(name);
  if (d == nullptr) return Error{"no device named " + name + " in " + config_.source};
  auto spec = device_spec(*d);
  if (!spec) return spec.error();
  if (Status s = host_->add(*spec); !s) return Error{d->pos.str() + ": device " + name + ": " + s.error().message};
  failed_.erase(name);
  return ok_status();
}

void Daemon::bind_configured(const std::vector<std::string>& names) {
  // A device that cannot be bound (unplugged, taken by another driver) is
  // reported and left out; the others run. `bind` retries it.
  for (const std::string& name : names) {
    if (Status s = bind(name); !s) {
      failed_[name] = s.error().message;
      log_->error("{}", s.error().message);
    }
  }
}

void Daemon::retire(const DeviceReport& r) {
  DeviceMetrics& m = retired_[r.name];
  m.name = r.name;
  for (std::size_t i = 0; i < r.dispatch.handled_per_vector.size(); ++i)
    if (r.dispatch.handled_per_vector[i] != 0)
      m.interrupts[static_cast<unsigned>(i)] += r.dispatch.handled_per_vector[i];
  m.dropped["queue_full"] += r.dispatch.dropped_queue_full();
  m.dropped["after_drain"] += r.unbind.dropped_after_drain_total();
  for (const CpuStats& c : r.dispatch.cpus) retired_cpu_[c.cpu] += c.handled;
  (void)retired_latency_.merge(latency_histogram(r.dispatch.latency));
  for (const OwnershipProblem& p : r.unbind.leaks) leaked_[p.driver] += p.indices.size();
}

MetricsSnapshot Daemon::snapshot() {
  MetricsSnapshot s;
  s.build = this_build();
  std::map<std::string, DeviceMetrics> devices = retired_;
  for (auto& [name, m] : devices) {
    m.managed_vectors = 0;
    m.explicit_vectors = 0;
  }
  s.cpu_interrupts = retired_cpu_;
  s.dispatch_latency = retired_latency_;
  for (const std::string& name : host_->bound()) {
    auto st = host_->status(name);
    if (!st) continue;
    DeviceMetrics& m = devices[name];
    m.name = name;
    // The live counters restart with each binding; the retired totals of
    // earlier bindings are added so the counters only ever grow.
    for (std::size_t i = 0; i < st->vectors.size(); ++i) {
      const Vector& v = st->vectors[i];
      m.interrupts[v.index] += st->handled_per_vector[i];
      s.cpu_interrupts[static_cast<unsigned>(std::max(v.serving_cpu, 0))] += st->handled_per_vector[i];
      (v.ownership == Ownership::kManaged ? m.managed_vectors : m.explicit_vectors)++;
    }
    m.dropped["queue_full"] += st->dropped_queue_full;
    const auto counts = st->latency->counts();
    (void)s.dispatch_latency.merge(latency_histogram(LiveLatency::kBoundsNs, counts, st->latency->sum_ns()));
  }
  for (auto& [name, m] : devices) s.devices.push_back(m);
  s.unbinds = host_->report_totals().unbinds;
  s.leaked_vectors = leaked_;
  return s;
}

ordered_json Daemon::status_json() {
  ordered_json j;
  j["version"] = this_build().version;
  j["config"] = config_.source;
  j["uptime_s"] = static_cast<double>(monotonic_ns() - started_ns_) / 1e9;
  j["reactor"] = config_.reactor.kind;
  ordered_json devices = ordered_json::array();
  for (const DeviceConfig& d : config_.devices) {
    ordered_json dev;
    dev["name"] = d.name;
    dev["type"] = std::string(device_type_name(d.type));
    if (auto st = host_->status(d.name); st) {
      dev["state"] = "bound";
      dev["backend"] = st->backend;
      dev["driver"] = st->driver;
      dev["vectors"] = st->vectors.size();
      dev["handled"] = st->handled;
      dev["dropped"] = st->dropped_queue_full;
      dev["fired"] = st->fired_known ? ordered_json(st->fired) : ordered_json(nullptr);
      dev["moves"] = st->moves;
    } else if (auto f = failed_.find(d.name); f != failed_.end()) {
      dev["state"] = "failed";
      dev["error"] = f->second;
    } else {
      dev["state"] = "unbound";
    }
    devices.push_back(dev);
  }
  j["devices"] = devices;
  j["unbinds"] = host_->report_totals().unbinds;
  if (control_) {
    // The control socket's own load: a client that floods it shows here.
    const ControlServerStats c = control_->stats();
    j["control"] = {{"connections", c.connections}, {"in_flight", c.in_flight},
                    {"stalled", c.stalled},         {"handed_over", c.handed_over},
                    {"cancelled", c.cancelled},     {"max_pending_output", c.max_pending_output}};
  }
  return j;
}

Result<std::vector<std::string>> Daemon::devices_named(const std::string& device) {
  if (device.empty()) return host_->bound();
  if (!host_->status(device)) return Error{"device " + device + " is not bound"};
  return std::vector<std::string>{device};
}

Result<ordered_json> Daemon::stats_json(const std::string& device) {
  ordered_json out = ordered_json::array();
  auto names = devices_named(device);
  if (!names) return names.error();
  for (const std::string& name : *names) {
    auto st = host_->status(name);
    if (!st) continue;
    ordered_json d;
    d["name"] = name;
    d["handled"] = st->handled;
    d["invocations"] = st->invocations;
    d["dropped"] = {{"queue_full", st->dropped_queue_full}};
    d["fired"] = st->fired_known ? ordered_json(st->fired) : ordered_json(nullptr);
    d["latency"] = latency_json(*st->latency);
    ordered_json vectors = ordered_json::array();
    for (std::size_t i = 0; i < st->vectors.size(); ++i) {
      const Vector& v = st->vectors[i];
      vectors.push_back({{"index", v.index},
                         {"cpu", v.serving_cpu},
                         {"ownership", ownership_name(v.ownership)},
                         {"handled", st->handled_per_vector[i]}});
    }
    d["vectors"] = vectors;
    out.push_back(d);
  }
  return ordered_json{{"time_ns", monotonic_ns()}, {"devices", out}};
}

Result<ordered_json> Daemon::plan_json(const std::string& device) {
  ordered_json out = ordered_json::array();
  auto names = devices_named(device);
  if (!names) return names.error();
  for (const std::string& name : *names) {
    auto st = host_->status(name);
    const DeviceSpec* spec = host_->spec(name);
    ordered_json d;
    d["name"] = name;
    d["planner"] = std::string(planner_name(spec->planner));
    d["kernel_version"] = (spec->kernel ? *spec->kernel : host_kernel_version()).text;
    ordered_json vectors = ordered_json::array();
    // The shape of `irqd plan --format json`'s vectors: cpus a list of
    // CPU numbers, the serving CPU by the same name.
    for (const Vector& v : st->vectors)
      vectors.push_back({{"index", v.index},
                         {"cpus", v.cpus.to_vector()},
                         {"managed", v.affinity_managed},
                         {"serving_cpu", v.serving_cpu}});
    d["vectors"] = vectors;
    out.push_back(d);
  }
  return ordered_json{{"devices", out}};
}

// On the control thread.
Result<ordered_json> Daemon::answer(const ControlRequest& req) {
  switch (req.cmd) {
    case ControlCommand::kStatus: return status_json();
    case ControlCommand::kStats: return stats_json(req.device);
    case ControlCommand::kPlan: return plan_json(req.device);
    case ControlCommand::kMove: {
      if (Status s = host_->move(req.device, req.vector, req.cpu); !s) return s.error();
      return ordered_json{{"device", req.device}, {"vector", req.vector}, {"cpu", req.cpu}};
    }
    case ControlCommand::kUnbind: {
      auto r = host_->unbind(req.device, "command");
      if (!r) return r.error();
      return ordered_json::parse(format_device_report(**r));
    }
    case ControlCommand::kBind: {
      if (host_->status(req.device)) return Error{"device " + req.device + " is already bound"};
      if (Status s = bind(req.device); !s) {
        failed_[req.device] = s.error().message;
        return s.error();
      }
      return status_json();
    }
    case ControlCommand::kReload: {
      if (Status s = reload("reload command"); !s) return s.error();
      return status_json();
    }
  }
  return Error{"unknown command"};
}

// On the control socket's thread: hands the request over and returns, so
// the socket keeps serving (and cancelling) while the control thread works.
void Daemon::handle(ControlJob job) {
  post_control_job(
      *host_, std::move(job),
      [this](const ControlRequest& req) -> Result<ordered_json> {
        // Logged as it starts, on the control thread. What only reads
        // (status, stats, plan: `irqd top` asks twice a second) at debug;
        // what changes something at info.
        log_->log(control_command_changes_state(req.cmd) ? spdlog::level::info : spdlog::level::debug,
                  "control: {} from uid {} pid {}", control_command_name(req.cmd), req.peer.uid, req.peer.pid);
        return answer(req);
      },
      [log = log_](const std::string& line) { log->info("{}", line); });
}

Status Daemon::reload(const std::string& why) {
  notify_.reloading();
  log_->info("reload ({}): reading {}", why, config_.source);
  auto next = load_config(config_.source, config_value_syntax());
  if (!next) {
    // The running configuration stays; every error is logged, greppable,
    // and the caller (`irqd ctl reload`) gets them all on one line.
    std::istringstream errors(next.error().message);
    std::string joined;
    for (std::string line; std::getline(errors, line);) {
      if (line.empty()) continue;
      log_->error("reload: {}; keeping the running configuration", line);
      joined += (joined.empty() ? "" : "; ") + line;
    }
    notify_.ready(status_line());
    return Error{"reload refused, the running configuration stays: " + joined};
  }
  if (Status s = check_report(*next); !s) {
    log_->error("reload: {}; keeping the running configuration", s.error().message);
    notify_.ready(status_line());
    return Error{"reload refused, the running configuration stays: " + s.error().message};
  }
  ConfigDiff diff = diff_devices(config_, *next);
  std::vector<std::string> rebind = diff.changed;
  if (!(next->reactor == config_.reactor)) {
    // New reactor settings apply to every device: rebind them all.
    auto dispatch = dispatch_options(next->reactor, log_);
    if (dispatch) host_->set_dispatch_options(*dispatch);
    rebind.insert(rebind.end(), diff.unchanged.begin(), diff.unchanged.end());
    diff.unchanged.clear();
  }
  if (next->cpus != config_.cpus) log_->warn("reload: 'cpus' changed; it takes effect at the next start");
  if (!(next->control == config_.control)) log_->warn("reload: [control] changed; it takes effect at the next start");
  if (!(next->metrics == config_.metrics)) log_->warn("reload: [metrics] changed; it takes effect at the next start");
  if (next->log_level != config_.log_level) log_->set_level(spdlog::level::from_str(next->log_level));
  for (const std::string& name : diff.removed) {
    if (host_->status(name)) (void)host_->unbind(name, "reload");
    failed_.erase(name);
  }
  for (const std::string& name : rebind)
    if (host_->status(name)) (void)host_->unbind(name, "reload");
  const Config previous = std::move(config_);
  config_ = std::move(*next);
  config_.cpus = previous.cpus;  // see above: not applied until restart
  config_.control = previous.control;
  config_.metrics = previous.metrics;
  std::vector<std::string> to_bind = diff.added;
  to_bind.insert(to_bind.end(), rebind.begin(), rebind.end());
  bind_configured(to_bind);
  log_->info("reload: {} added, {} removed, {} rebound, {} unchanged", diff.added.size(), diff.removed.size(),
             rebind.size(), diff.unchanged.size());
  notify_.ready(status_line());
  return ok_status();
}

std::string Daemon::status_line() {
  std::uint64_t handled = 0;
  std::uint64_t dropped = 0;
  for (const std::string& name : host_->bound()) {
    if (auto st = host_->status(name); st) {
      handled += st->handled;
      dropped += st->dropped_queue_full;
    }
  }
  const std::uint64_t now = monotonic_ns();
  double rate = 0;
  if (last_tick_ns_ != 0 && now > last_tick_ns_)
    rate = static_cast<double>(handled >= last_handled_ ? handled - last_handled_ : 0) * 1e9 /
           static_cast<double>(now - last_tick_ns_);
  last_tick_ns_ = now;
  last_handled_ = handled;
  return std::to_string(host_->bound().size()) + " devices bound, " + std::to_string(static_cast<std::uint64_t>(rate)) +
         " irq/s, " + std::to_string(dropped) + " dropped, " + std::to_string(failed_.size()) + " failed";
}

void Daemon::on_tick() {
  notify_.status(status_line());
  const std::uint64_t now = monotonic_ns();
  if (notify_.watchdog_usec() != 0 && now - last_watchdog_ns_ >= notify_.watchdog_usec() * 1000 / 2) {
    notify_.watchdog();
    last_watchdog_ns_ = now;
  }
}

int Daemon::run(int signal_fd, std::ostream& err) {
  if (Status s = start(); !s) {
    host_.reset();
    std::string message = s.error().message;
    std::replace(message.begin(), message.end(), '\n', ' ');
    err << "irqd: error: irqd run: " << message << "\n" << std::flush;
    return 2;
  }
  notify_.ready(status_line());
  log_->info("serving {} of {} devices; SIGTERM stops, SIGHUP reloads", host_->bound().size(), config_.devices.size());

  Host::RunOptions run;
  run.signal_fd = signal_fd;
  run.keep_running = true;
  run.on_signal = [this](int signo) {
    if (signo == SIGHUP) (void)reload("SIGHUP");  // logged; nobody to answer
  };
  // Status once a second; the watchdog at half its interval, at most.
  run.tick_ms = 1000;
  if (notify_.watchdog_usec() != 0)
    run.tick_ms = static_cast<unsigned>(std::clamp<std::uint64_t>(notify_.watchdog_usec() / 2000, 10, 1000));
  run.on_tick = [this] { on_tick(); };
  host_->run(run);  // returns after SIGTERM/SIGINT unbound every device
  notify_.stopping();

  control_.reset();
  metrics_.reset();
  // Each unbind that lost interrupts was logged as it happened (on_report).
  int status = host_->report_totals().not_accounted == 0 ? 0 : 1;
  if (!config_.report.empty()) {
    if (Status s = write_host_report(config_.report, host_->reports(), host_->report_totals()); !s) {
      log_->error("{}", s.error().message);
      status = 1;
    } else {
      log_->info("report written to {}", config_.report);
    }
  }
  host_.reset();
  log_->info("stopped");
  return status;
}

std::shared_ptr<spdlog::logger> make_logger(const std::string& level) {
  auto log = std::make_shared<spdlog::logger>("irqd", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  // Under systemd the journal stamps each line itself.
  const bool journal = std::getenv("JOURNAL_STREAM") != nullptr;  // NOLINT(concurrency-mt-unsafe): before threads
  log->set_pattern(journal ? "%l %v" : "%Y-%m-%dT%H:%M:%S.%e %l %v");
  log->set_level(spdlog::level::from_str(level));
  log->flush_on(spdlog::level::trace);
  return log;
}

}  // namespace

bool stop_signal_pending() {
  sigset_t pending;
  sigemptyset(&pending);
  if (::sigpending(&pending) != 0) return false;
  return sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1;
}

void post_control_job(Host& host, ControlJob job, ControlHandler answer, std::function<void(const std::string&)> log) {
  // std::function needs a copyable callable; the job itself is move-only.
  auto shared = std::make_shared<ControlJob>(std::move(job));
  host.post([shared, answer = std::move(answer), log = std::move(log)] {
    // Host::run takes every posted request at once and runs them in a row;
    // a SIGTERM that arrives meanwhile waits in the signalfd until the last
    // one returns. Checked here, before each request, it wins over every
    // request not yet started: those are cancelled, never run.
    if (stop_signal_pending()) {
      if (shared->cancel("irqd is stopping") && log) {
        const ControlRequest& r = shared->request();
        log(fmt::format("control: cancelled {} from uid {} pid {}: irqd is stopping", control_command_name(r.cmd),
                        r.peer.uid, r.peer.pid));
      }
      return;
    }
    shared->run(answer);
  });
}

ValueSyntax config_value_syntax() {
  auto check = [](auto parse) {
    return [parse](std::string_view text) -> Status {
      auto parsed = parse(text);
      if (!parsed) return parsed.error();
      return ok_status();
    };
  };
  return {check(parse_fire_pattern), check(parse_vector_choice)};
}

int run_daemon(const DaemonOptions& flags, std::ostream& err) {
  const std::string path = flags.config.empty() ? std::string(kDefaultConfigPath) : flags.config;
  auto config = load_config(path, config_value_syntax());
  if (!config) {
    // One error per line, each with the prefix every irqd error has.
    std::istringstream errors(config.error().message);
    for (std::string line; std::getline(errors, line);)
      if (!line.empty()) err << "irqd: error: " << line << "\n";
    return 2;
  }
  if (Status s = check_report(*config); !s) {
    err << "irqd: error: irqd run: " << s.error().message << "\n";
    return 2;
  }
  static const char* const kLevels[] = {"trace", "debug", "info", "warn", "error"};
  if (!flags.log_level.empty() &&
      std::find(std::begin(kLevels), std::end(kLevels), flags.log_level) == std::end(kLevels)) {
    err << "irqd: error: irqd run: --log-level '" << flags.log_level
        << "' is not valid (accepted: trace, debug, info, warn, error)\n";
    return 2;
  }
  if (!flags.log_level.empty()) config->log_level = flags.log_level;

  // SIGTERM, SIGINT and SIGHUP go to a signalfd the control loop polls;
  // blocked before any thread starts, so no reactor or worker takes them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  UniqueFd signals(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signals.valid()) {
    err << "irqd: error: irqd run: signalfd: " << errno_string(errno) << "\n";
    return 2;
  }
  raise_nofile_limit();
  auto log = make_logger(config->log_level);
  log->info("irqd {} starting with {}", this_build().version, path);
  Daemon daemon(std::move(*config), log);
  return daemon.run(signals.get(), err);
}

}  // namespace irqd
