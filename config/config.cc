// SPDX-License-Identifier: GPL-2.0-only

#include "config/config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <utility>

#include "affinity/cpulist.h"
#include "affinity/irq_affinity.h"
#include "affinity/kernel_version.h"
#include "base/pci.h"
#include "base/unique_fd.h"

namespace irqd {
namespace {

using Keys = std::span<const std::string_view>;
using PosMap = std::map<std::string, SourcePos, std::less<>>;

constexpr std::array<std::string_view, 7> kTopKeys{"log_level", "report",  "cpus",  "reactor",
                                                   "metrics",   "control", "device"};
constexpr std::array<std::string_view, 6> kReactorKeys{"kind",           "handoff",      "when_full",
                                                       "queue_capacity", "busy_poll_us", "calibration_cache"};
constexpr std::array<std::string_view, 5> kMetricsKeys{"enabled", "address", "port", "path", "per_vector"};
constexpr std::array<std::string_view, 3> kControlKeys{"socket", "group", "admin_group"};
constexpr std::array<std::string_view, 13> kDeviceKeys{"name",         "type",    "vectors", "pattern", "choice",
                                                       "fire_cpu",     "address", "planner", "kernel",  "pre_vectors",
                                                       "post_vectors", "sets",    "driver"};
constexpr std::array<std::string_view, 4> kDriverKeys{"name", "plugin", "max_vectors", "options"};
constexpr std::array<std::string_view, 4> kSoftwareOnlyKeys{"vectors", "pattern", "choice", "fire_cpu"};

constexpr std::array<std::string_view, 5> kLogLevels{"trace", "debug", "info", "warn", "error"};
// dispatch/'s reactors, as dispatch/reactor_names.h names them; config/ does not
// link dispatch/, so the names are repeated here and the daemon maps them.
constexpr std::array<std::string_view, 6> kReactorKinds{"io_uring",      "io_uring-read", "io_uring-poll",
                                                        "io_uring-busy", "epoll",         "thread"};
constexpr std::array<std::string_view, 3> kHandoffs{"queue", "inline", "adaptive"};
constexpr std::array<std::string_view, 2> kWhenFull{"backoff", "drop"};
constexpr std::array<std::string_view, 2> kDeviceTypes{"software", "vfio"};
// daemon/drivers.h's built-ins (the daemon links config/, not the reverse).
constexpr std::array<std::string_view, 2> kBuiltinDrivers{"count", "leaky"};

constexpr std::int64_t kMaxCpu = 65535;
constexpr std::size_t kMaxNameLength = 32;
constexpr std::size_t kMaxFileSize = 4U << 20;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Optimal string alignment distance: Levenshtein plus transposition of two
// neighbours, the commonest typo ("vectros").
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

// The closest choice, when close enough to be the one meant: at most one
// edit per three letters of it (one for short words), or one word the
// start of the other ("warning" for warn), case ignored.
std::optional<std::string_view> closest(std::string_view word, Keys choices) {
  const std::string w = lower(word);
  std::optional<std::string_view> best;
  std::size_t best_distance = 0;
  for (std::string_view c : choices) {
    const std::size_t dist = edit_distance(w, c);
    const bool near = dist <= std::max<std::size_t>(1, c.size() / 3) && dist < c.size();
    const bool prefix = std::min(w.size(), c.size()) >= 3 && (w.starts_with(c) || c.starts_with(w));
    if (!near && !prefix) continue;
    if (!best || dist < best_distance) {
      best = c;
      best_distance = dist;
    }
  }
  return best;
}

std::string join(Keys words) {
  std::string out;
  for (std::string_view w : words) out += (out.empty() ? "" : ", ") + std::string(w);
  return out;
}

bool contains(Keys words, std::string_view w) { return std::find(words.begin(), words.end(), w) != words.end(); }

// One error, one line: a value quoted back, or toml++'s own "saw '...'",
// may hold a newline or another control character; those are written as
// \n, \r and \xNN (a tab stays).
std::string one_line(std::string_view s) {
  std::string out;
  for (char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\r') {
      out += "\\r";
    } else if ((u < 0x20 && ch != '\t') || u == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += ch;
    }
  }
  return out;
}

std::string_view a_type(toml::node_type t) {
  switch (t) {
    case toml::node_type::none: return "nothing";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
  }
  return "a value";
}

// a_type() without the article.
std::string_view type_word(toml::node_type t) {
  std::string_view s = a_type(t);
  const std::size_t space = s.find(' ');
  return space == std::string_view::npos ? s : s.substr(space + 1);
}

// Every key, with its meaning and default; a test checks that it passes
// parse_config() and that no key of the schema is missing from it.
constexpr std::string_view kExample = R"toml(# irqd run --config FILE: the devices irqd hosts and how it serves them.
# Check a file with `irqd config check FILE`: it checks syntax and ranges,
# not this machine (a plugin or PCI address that is not here still passes).
# Every value shown is the default unless the comment says "example".
# Lines like `#key = value` are examples left out, so that this file runs
# as it is on any machine: remove the '#' to use one.

# Log level: trace, debug, info, warn or error.
log_level = "info"

# Where the final JSON report goes when irqd stops (SIGTERM, SIGINT); an
# absolute path in a directory that exists (irqd run refuses to start
# otherwise). Example; default: no report.
#report = "/var/lib/irqd/report.json"

# CPUs irqd may serve vectors on, as a cpulist (e.g. "0-3,8,10-11"), every
# one present on the machine. Example; default: every CPU.
#cpus = "0-3"

[reactor]
# How each serving CPU waits for interrupts: io_uring (read SQEs or
# multishot poll, whichever measures faster here), io_uring-read (read
# SQEs), io_uring-poll (multishot poll), io_uring-busy (read SQEs, spinning on the
# completion ring before sleeping), epoll, or thread (a blocking thread per
# vector).
kind = "io_uring"
# adaptive: the reactor runs the driver's handler itself while its worker
# has nothing to do (no wake-up to pay) and hands interrupts to the worker
# under backlog, so it can keep reading; queue: every interrupt goes to a
# worker pinned on the reactor's CPU through a lock-free queue; inline: the
# reactor runs every handler itself.
handoff = "adaptive"
# When a worker's queue is full: backoff (wait for room) or drop (count the
# interrupt as dropped, reason queue_full).
when_full = "backoff"
# Entries per reactor-to-worker queue, 2..1048576.
queue_capacity = 4096
# io_uring-busy only: microseconds to spin before sleeping, 1..1000000.
busy_poll_us = 50
# io_uring only: a file that keeps which method measured faster on this
# machine, kernel and hand-off, so that the measurement (about 0.15 s) runs
# once and every start uses the same method; delete it to measure again.
# An absolute path in a directory that exists. Example; default: measure
# at every start.
#calibration_cache = "/var/lib/irqd/uring-choice.json"

[metrics]
# Prometheus text exposition over HTTP.
enabled = true
# Address to listen on: an IPv4 or IPv6 address.
address = "127.0.0.1"
# TCP port, 1..65535.
port = 9477
# URL path of the metrics page.
path = "/metrics"
# Label irqd_interrupts_total by {device,vector}; false: by {device} only,
# for devices with thousands of vectors.
per_vector = true

[control]
# The control socket of `irqd ctl`, mode 0660, owner root: an absolute path
# of at most 107 bytes.
socket = "/run/irqd/irqd.sock"
# Group that may read (status, stats, plan) besides root; "": root only.
group = ""
# Group that may also change state (move, unbind, bind, reload); "": root
# only.
admin_group = ""

# One [[device]] table per device, at least one.

# A software device: N vectors, each an eventfd, fired by a firing engine.
[[device]]
# Required: unique, 1 to 32 of a-z, 0-9, '_' and '-'; names the device to
# irqd ctl and in metrics.
name = "nic0"
# Required: software or vfio.
type = "software"
# Software only: vectors (MSI-X table size), 1..2048.
vectors = 64
# Software only: how the device fires: saturate, rate:R, poisson:R or
# burst:B@R (R per second, e.g. 250000, 250k or 1.5M; B fires per burst).
pattern = "rate:10000"
# Software only: the vector of each fire: uniform, or zipf:S (S > 0,
# vector 0 the most frequent).
choice = "uniform"
# Software only: CPU of the firing engine, -1..65535; -1: not pinned.
fire_cpu = -1
# How the vectors are spread over the CPUs: kernel (as Linux spreads
# managed interrupts), compact, per-core, single or round-robin.
planner = "kernel"
# The Linux line whose spreading the kernel planner reproduces: a version
# (6.1, 6.12.117, 6.18, 6.19) or live. Default: the running kernel (6.18
# where it is older than any line irqd reproduces).
kernel = "live"
# Leading and trailing vectors kept out of the spreading (struct
# irq_affinity's pre_vectors and post_vectors), 0..2048 each.
pre_vectors = 0
post_vectors = 0
# Sizes of 1 to 4 vector sets spread one after the other, summing to the
# vectors the driver gets less pre_vectors and post_vectors.
# Example; default: one set.
sets = [32, 32]

# The driver bound to the device above. Default: the built-in count.
[device.driver]
# A built-in driver: count (managed, spread vectors; counts every
# interrupt) or leaky (explicit vectors it never frees, so unbind reports
# the leak). Exactly one of name and plugin.
name = "count"
# Vectors the driver asks for at most, 0..2048; 0: every vector.
max_vectors = 0

# Example: a VFIO device (a PCI function bound to vfio-pci) with a plugin
# driver. To use it, remove the '#' before each key and table below and
# give the address of a function `irqd devices` lists (`irqd bind BDF`
# hands it to vfio-pci). A device that cannot be bound at start is logged
# and shown as failed; the others run.
#[[device]]
#name = "nvme0"
#type = "vfio"
# VFIO only, required: the PCI address, DDDD:BB:DD.F.
#address = "0000:03:00.0"
#planner = "kernel"
# Example: one admin vector first, out of the spreading.
#pre_vectors = 1
#post_vectors = 0

#[device.driver]
# A driver plugin: the absolute path of a shared object that exports the
# irqd driver ABI. Example; loaded when the device is bound.
#plugin = "/usr/local/lib/irqd/nvme_example.so"
# Example: the admin vector and 16 spread ones.
#max_vectors = 17
# Strings handed to the driver as they are; what they mean is up to the
# driver. Example; default: none.
#options = { queue_depth = "128", mode = "poll" }
)toml";

struct Issue {
  SourcePos pos;
  std::string message;
};

// Collects every error of a file with its position.
class Checker {
 public:
  Checker(std::string file, const ValueSyntax& syntax) : file_(std::move(file)), syntax_(syntax) {}

  SourcePos pos(const toml::source_region& r) const { return {file_, r.begin.line, r.begin.column}; }
  SourcePos pos(const toml::node& n) const { return pos(n.source()); }
  SourcePos file_start() const { return {file_, 1, 1}; }
  const std::string& file() const { return file_; }
  const ValueSyntax& syntax() const { return syntax_; }

  void error(SourcePos p, const std::string& message) { issues_.push_back({std::move(p), one_line(message)}); }
  void error(const toml::node& n, std::string message) { error(pos(n), std::move(message)); }
  bool failed() const { return !issues_.empty(); }

  // One per line, by position; errors at one position keep their order.
  std::string report() {
    std::stable_sort(issues_.begin(), issues_.end(), [](const Issue& a, const Issue& b) {
      return std::pair(a.pos.line, a.pos.column) < std::pair(b.pos.line, b.pos.column);
    });
    std::string out;
    for (const Issue& i : issues_) out += (out.empty() ? "" : "\n") + i.pos.str() + ": " + i.message;
    return out;
  }

 private:
  std::string file_;
  const ValueSyntax& syntax_;
  std::vector<Issue> issues_;
};

// Reads the keys of one table, checking each value's type and range and
// recording where it was written. name() is the key as messages and the
// position maps spell it: dotted from the device or from the top level.
class Reader {
 public:
  Reader(Checker& checker, const toml::table& table, std::string prefix, PosMap& positions)
      : c_(checker), t_(table), prefix_(std::move(prefix)), positions_(positions) {}

  std::string name(std::string_view key) const { return prefix_ + std::string(key); }
  const toml::table& table() const { return t_; }

  // Reports every key not in `allowed`; `where` names the table.
  void allow(Keys allowed, std::string_view where) {
    for (auto&& [key, value] : t_) {
      if (contains(allowed, key.str())) continue;
      std::string message = "unknown key '" + std::string(key.str()) + "' " + std::string(where);
      if (auto near = closest(key.str(), allowed))
        message += " (did you mean '" + std::string(*near) + "'?)";
      else
        message += " (accepted: " + join(allowed) + ")";
      c_.error(c_.pos(key.source()), std::move(message));
    }
  }

  const toml::node* find(std::string_view key) {
    const toml::node* n = t_.get(key);
    if (n != nullptr) positions_[name(key)] = c_.pos(*n);
    return n;
  }

  // The node when it has type t, else an error.
  const toml::node* typed(std::string_view key, toml::node_type t) {
    const toml::node* n = find(key);
    if (n == nullptr || n->type() == t) return n;
    c_.error(*n,
             "'" + name(key) + "' must be " + std::string(a_type(t)) + ", got " + std::string(type_word(n->type())));
    return nullptr;
  }

  std::optional<std::string> string(std::string_view key) {
    const toml::node* n = typed(key, toml::node_type::string);
    if (n == nullptr) return std::nullopt;
    return n->as_string()->get();
  }

  std::optional<bool> boolean(std::string_view key) {
    const toml::node* n = typed(key, toml::node_type::boolean);
    if (n == nullptr) return std::nullopt;
    return n->as_boolean()->get();
  }

  std::optional<std::int64_t> integer(std::string_view key, std::int64_t lo, std::int64_t hi,
                                      std::string_view note = {}) {
    const toml::node* n = typed(key, toml::node_type::integer);
    if (n == nullptr) return std::nullopt;
    const std::int64_t v = n->as_integer()->get();
    if (v < lo || v > hi) {
      c_.error(*n, "'" + name(key) + "' is " + std::to_string(v) + " (accepted: " + std::to_string(lo) + ".." +
                       std::to_string(hi) + std::string(note) + ")");
      return std::nullopt;
    }
    return v;
  }

  // One of `accepted`.
  std::optional<std::string> choice(std::string_view key, Keys accepted) {
    std::optional<std::string> v = string(key);
    if (!v || contains(accepted, *v)) return v;
    std::string hint;
    if (auto near = closest(*v, accepted)) hint = "did you mean '" + std::string(*near) + "'? ";
    c_.error(*find(key), "'" + name(key) + "' is '" + *v + "' (" + hint + "accepted: " + join(accepted) + ")");
    return std::nullopt;
  }

  // An absolute path of at most max_length bytes.
  std::optional<std::string> path(std::string_view key, std::string_view example, std::size_t max_length = 4095) {
    std::optional<std::string> v = string(key);
    if (!v) return v;
    if (!v->starts_with('/')) {
      c_.error(*find(key), "'" + name(key) + "' must be an absolute path, got '" + *v + "' (accepted: e.g. " +
                               std::string(example) + ")");
      return std::nullopt;
    }
    if (v->size() > max_length) {
      c_.error(*find(key), "'" + name(key) + "' is " + std::to_string(v->size()) + " bytes long (accepted: at most " +
                               std::to_string(max_length) + ")");
      return std::nullopt;
    }
    return v;
  }

  // A sub-table; hint says how to write it.
  const toml::table* subtable(std::string_view key, std::string_view hint) {
    const toml::node* n = find(key);
    if (n == nullptr || n->is_table()) return n == nullptr ? nullptr : n->as_table();
    c_.error(*n, "'" + name(key) + "' must be a table, got " + std::string(type_word(n->type())) +
                     " (accepted: " + std::string(hint) + ")");
    return nullptr;
  }

 private:
  Checker& c_;
  const toml::table& t_;
  std::string prefix_;
  PosMap& positions_;
};

// Assigns an optional value when it is there.
template <typename T, typename U>
void set(T& field, const std::optional<U>& v) {
  if (v) field = static_cast<T>(*v);
}

void read_reactor(Checker& c, const toml::table& t, Config& cfg) {
  Reader r(c, t, "reactor.", cfg.positions);
  r.allow(kReactorKeys, "in [reactor]");
  ReactorConfig& o = cfg.reactor;
  set(o.kind, r.choice("kind", kReactorKinds));
  set(o.handoff, r.choice("handoff", kHandoffs));
  set(o.when_full, r.choice("when_full", kWhenFull));
  set(o.queue_capacity, r.integer("queue_capacity", 2, 1 << 20));
  set(o.busy_poll_us, r.integer("busy_poll_us", 1, 1'000'000));
  set(o.calibration_cache, r.path("calibration_cache", "/var/lib/irqd/uring-choice.json"));
}

bool ip_literal(const std::string& s) {
  in6_addr buf{};
  return ::inet_pton(AF_INET, s.c_str(), &buf) == 1 || ::inet_pton(AF_INET6, s.c_str(), &buf) == 1;
}

void read_metrics(Checker& c, const toml::table& t, Config& cfg) {
  Reader r(c, t, "metrics.", cfg.positions);
  r.allow(kMetricsKeys, "in [metrics]");
  MetricsConfig& o = cfg.metrics;
  set(o.enabled, r.boolean("enabled"));
  if (auto a = r.string("address")) {
    if (ip_literal(*a))
      o.address = *a;
    else
      c.error(*r.find("address"),
              "'metrics.address' is '" + *a + "' (accepted: an IPv4 or IPv6 address, e.g. 127.0.0.1, 0.0.0.0 or ::1)");
  }
  set(o.port, r.integer("port", 1, 65535));
  if (auto p = r.string("path")) {
    const bool blank =
        std::any_of(p->begin(), p->end(), [](char ch) { return std::isspace(static_cast<unsigned char>(ch)); });
    if (!p->starts_with('/') || blank || p->find_first_of("?#") != std::string::npos)
      c.error(*r.find("path"),
              "'metrics.path' is '" + *p + "' (accepted: a URL path starting with '/', e.g. /metrics)");
    else
      o.path = *p;
  }
  set(o.per_vector, r.boolean("per_vector"));
}

bool valid_group(std::string_view g) {
  if (g.empty() || g.size() > kMaxNameLength || g.front() == '-') return false;
  return std::all_of(g.begin(), g.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '_' || ch == '-' || ch == '.';
  });
}

void read_control(Checker& c, const toml::table& t, Config& cfg) {
  Reader r(c, t, "control.", cfg.positions);
  r.allow(kControlKeys, "in [control]");
  ControlConfig& o = cfg.control;
  // sun_path holds the path and its terminating NUL.
  set(o.socket, r.path("socket", "/run/irqd/irqd.sock", sizeof(sockaddr_un::sun_path) - 1));
  for (auto [key, into] : {std::pair<const char*, std::string*>{"group", &o.group}, {"admin_group", &o.admin_group}}) {
    if (auto g = r.string(key)) {
      if (g->empty() || valid_group(*g))
        *into = *g;
      else
        c.error(*r.find(key), std::string("'control.") + key + "' is '" + *g +
                                  "' (accepted: a group name of 1 to 32 letters, digits, '_', '-' and '.', or \"\" "
                                  "for root only)");
    }
  }
}

bool valid_device_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxNameLength) return false;
  return std::all_of(s.begin(), s.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
  });
}

// DDDD:BB:DD.F in hex with the device below 0x20 and the function below 8,
// lower-cased as sysfs spells it; nullopt when malformed.
std::optional<std::string> pci_address(std::string_view s) {
  if (s.size() != 12 || s[4] != ':' || s[7] != ':' || s[10] != '.') return std::nullopt;
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11})
    if (std::isxdigit(static_cast<unsigned char>(s[i])) == 0) return std::nullopt;
  const std::string out = lower(s);
  const unsigned dev = std::stoul(out.substr(8, 2), nullptr, 16);
  const unsigned fn = std::stoul(out.substr(11, 1), nullptr, 16);
  if (dev > 0x1f || fn > 7) return std::nullopt;
  return out;
}

std::string who(const DeviceConfig& d) { return d.name.empty() ? "this device" : "device '" + d.name + "'"; }

struct DriverRead {
  std::optional<std::int64_t> max_vectors;
  bool max_vectors_bad = false;  // given, but not an accepted value
};

DriverRead read_driver(Checker& c, const toml::table& t, DeviceConfig& d) {
  Reader r(c, t, "driver.", d.positions);
  r.allow(kDriverKeys, "in [device.driver]");
  DriverRead out;
  DriverConfig& o = d.driver;
  const bool has_name = t.contains("name");
  const bool has_plugin = t.contains("plugin");
  if (has_name == has_plugin)
    c.error(t, "'driver' of " + who(d) + " has " +
                   (has_name ? "both 'name' and 'plugin'" : "neither 'name' nor 'plugin'") +
                   " (accepted: exactly one: name = one of " + join(kBuiltinDrivers) +
                   ", or plugin = the absolute path of a driver .so)");
  o.name.clear();
  set(o.name, r.choice("name", kBuiltinDrivers));
  set(o.plugin, r.path("plugin", "/usr/local/lib/irqd/mydriver.so"));
  out.max_vectors = r.integer("max_vectors", 0, kMaxMsixVectors, ", 0 = every vector of the device");
  out.max_vectors_bad = !out.max_vectors && t.contains("max_vectors");
  set(o.max_vectors, out.max_vectors);
  if (const toml::table* opts = r.subtable("options", "options = { key = \"value\", ... }")) {
    Reader ro(c, *opts, "driver.options.", d.positions);
    for (auto&& [key, value] : *opts) {
      const std::string k(key.str());
      if (const toml::node* v = ro.find(k); v->is_string())
        o.options[k] = v->as_string()->get();
      else
        c.error(*v, "'" + ro.name(k) + "' must be a string, got " + std::string(type_word(v->type())) +
                        " (driver options are handed over as strings: quote the value)");
    }
  }
  return out;
}

// A string key handed to the parser its owner passed in (ValueSyntax), so
// that a pattern is accepted here exactly when the firing engine accepts it.
void read_parsed(Checker& c, Reader& r, std::string_view key, std::string& field, const ValueParser& parse) {
  std::optional<std::string> v = r.string(key);
  if (!v) return;
  if (!parse) {
    c.error(*r.find(key), "'" + r.name(key) + "': no parser for this value was given to the config reader");
    return;
  }
  Status parsed = parse(*v);
  if (parsed)
    field = *v;
  else
    c.error(*r.find(key), "'" + r.name(key) + "': " + parsed.error().message);
}

// One [[device]]; cross-field checks run only on values that were read.
void read_device(Checker& c, const toml::table& t, DeviceConfig& d) {
  d.pos = c.pos(t);
  Reader r(c, t, "", d.positions);
  r.allow(kDeviceKeys, "in [[device]]");

  if (auto name = r.string("name")) {
    if (valid_device_name(*name))
      d.name = *name;
    else
      c.error(*r.find("name"), "'name' is '" + *name + "' (accepted: 1 to 32 of a-z, 0-9, '_' and '-')");
  } else if (!t.contains("name")) {
    c.error(t, "[[device]] has no 'name' (required: 1 to 32 of a-z, 0-9, '_' and '-', unique)");
  }

  std::optional<std::string> type = r.choice("type", kDeviceTypes);
  if (!t.contains("type")) c.error(t, who(d) + " has no 'type' (required: " + join(kDeviceTypes) + ")");
  if (type) d.type = *type == "vfio" ? DeviceType::kVfio : DeviceType::kSoftware;
  const bool software = type && d.type == DeviceType::kSoftware;
  const bool vfio = type && d.type == DeviceType::kVfio;

  std::optional<std::int64_t> vectors;
  if (vfio) {
    for (std::string_view key : kSoftwareOnlyKeys) {
      if (const toml::node* n = r.find(key))
        c.error(*n, "'" + std::string(key) + "' applies to software devices only, and " + who(d) + " is vfio" +
                        (key == "vectors" ? " (its vectors are its MSI-X table; limit the driver with "
                                            "driver.max_vectors)"
                                          : ""));
    }
  } else {
    vectors = r.integer("vectors", 1, kMaxMsixVectors);
    set(d.vectors, vectors);
    read_parsed(c, r, "pattern", d.pattern, c.syntax().fire_pattern);
    read_parsed(c, r, "choice", d.choice, c.syntax().vector_choice);
    set(d.fire_cpu, r.integer("fire_cpu", -1, kMaxCpu, ", -1 = not pinned"));
  }

  if (software) {
    if (const toml::node* n = r.find("address"))
      c.error(*n, "'address' applies to vfio devices only, and " + who(d) + " is software");
  } else if (auto a = r.string("address")) {
    if (auto bdf = pci_address(*a))
      d.address = *bdf;
    else
      c.error(*r.find("address"), "'address' is '" + *a +
                                      "' (accepted: a PCI address DDDD:BB:DD.F in hex, device 00-1f, function 0-7, "
                                      "e.g. 0000:03:00.0)");
  } else if (vfio && !t.contains("address")) {
    c.error(t, (d.name.empty() ? "this vfio device" : "vfio device '" + d.name + "'") +
                   " has no 'address' (required: its PCI address DDDD:BB:DD.F, e.g. 0000:03:00.0)");
  }

  if (auto p = r.string("planner")) {
    auto kind = planner_from_name(*p);
    if (kind)
      d.planner = *kind;
    else
      c.error(*r.find("planner"), "'planner': " + kind.error().message);
  }
  // "live" is resolved when the device is bound, on the machine it runs on.
  if (auto k = r.string("kernel")) {
    auto version = *k == "live" ? Result<KernelVersion>(default_kernel_version()) : parse_kernel_version(*k);
    if (version)
      d.kernel = *k;
    else
      c.error(*r.find("kernel"), "'kernel': " + version.error().message);
  }
  const auto pre = r.integer("pre_vectors", 0, kMaxMsixVectors);
  const auto post = r.integer("post_vectors", 0, kMaxMsixVectors);
  set(d.pre_vectors, pre);
  set(d.post_vectors, post);

  bool sets_ok = false;
  if (const toml::node* n = r.typed("sets", toml::node_type::array)) {
    const toml::array& a = *n->as_array();
    sets_ok = true;
    if (a.empty() || a.size() > kIrqAffinityMaxSets) {
      c.error(*n, "'sets' has " + std::to_string(a.size()) + " sets (accepted: 1.." +
                      std::to_string(kIrqAffinityMaxSets) + " set sizes; leave 'sets' out for one set)");
      sets_ok = false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
      const std::string item = "sets[" + std::to_string(i) + "]";
      const toml::node& e = a[i];
      if (!e.is_integer()) {
        c.error(e, "'" + item + "' must be an integer, got " + std::string(type_word(e.type())));
        sets_ok = false;
      } else if (const std::int64_t v = e.as_integer()->get(); v < 1 || v > kMaxMsixVectors) {
        c.error(e,
                "'" + item + "' is " + std::to_string(v) + " (accepted: 1.." + std::to_string(kMaxMsixVectors) + ")");
        sets_ok = false;
      } else {
        d.sets.push_back(static_cast<unsigned>(v));
      }
    }
    if (!sets_ok) d.sets.clear();
  }

  DriverRead drv;
  if (const toml::table* dt = r.subtable("driver", "driver = { name = \"count\" } or a [device.driver] table"))
    drv = read_driver(c, *dt, d);

  // The vectors the driver asks for: known for a software device, and for
  // any device whose driver has a maximum.
  const bool max_known = drv.max_vectors && *drv.max_vectors > 0;
  std::optional<unsigned> total;
  std::string total_what;
  if (software && vectors.has_value() == t.contains("vectors")) {
    if (max_known && d.driver.max_vectors > d.vectors) {
      c.error(d.at("driver.max_vectors"), "'driver.max_vectors' is " + std::to_string(d.driver.max_vectors) + " but " +
                                              who(d) + " has " + std::to_string(d.vectors) + " vectors (accepted: 0.." +
                                              std::to_string(d.vectors) + ", 0 = every vector)");
      return;
    }
    total = max_known ? d.driver.max_vectors : d.vectors;
    total_what = max_known ? "'driver.max_vectors' = " : "'vectors' = ";
  } else if (type && max_known) {
    total = d.driver.max_vectors;
    total_what = "'driver.max_vectors' = ";
  }
  if (!total || drv.max_vectors_bad || pre.has_value() != t.contains("pre_vectors") ||
      post.has_value() != t.contains("post_vectors"))
    return;
  const unsigned reserved = d.pre_vectors + d.post_vectors;
  if (reserved > *total) {
    c.error(d.at(t.contains("pre_vectors") ? "pre_vectors" : "post_vectors"),
            "'pre_vectors' + 'post_vectors' = " + std::to_string(reserved) + " exceeds " + total_what +
                std::to_string(*total) + " (accepted: a sum of at most " + std::to_string(*total) + ")");
    return;
  }
  if (sets_ok) {
    unsigned sum = 0;
    for (unsigned s : d.sets) sum += s;
    const unsigned spread = *total - reserved;
    if (sum != spread)
      c.error(d.at("sets"), "'sets' sum to " + std::to_string(sum) + " but " + total_what + std::to_string(*total) +
                                " less pre_vectors and post_vectors leaves " + std::to_string(spread) +
                                " (accepted: sets summing to " + std::to_string(spread) + ")");
  }
}

void read_devices(Checker& c, const toml::table& root, Config& cfg) {
  const toml::node* n = root.get("device");
  if (n == nullptr) {
    c.error(c.file_start(), "no [[device]] table (accepted: at least one device)");
    return;
  }
  const toml::array* a = n->as_array();
  if (a == nullptr) {
    c.error(*n, "'device' must be an array of tables ([[device]]), got " + std::string(type_word(n->type())));
    return;
  }
  if (a->empty()) c.error(*n, "'device' is empty (accepted: at least one device)");
  for (std::size_t i = 0; i < a->size(); ++i) {
    const toml::node& e = (*a)[i];
    if (!e.is_table()) {
      c.error(e, "'device[" + std::to_string(i) + "]' must be a table, got " + std::string(type_word(e.type())));
      continue;
    }
    DeviceConfig d;
    read_device(c, *e.as_table(), d);
    cfg.devices.push_back(std::move(d));
  }
  // Names identify devices to the control socket and across reloads; one
  // PCI function can be opened by one owner.
  for (std::size_t i = 0; i < cfg.devices.size(); ++i) {
    const DeviceConfig& d = cfg.devices[i];
    for (std::size_t j = 0; j < i; ++j) {
      const DeviceConfig& first = cfg.devices[j];
      if (!d.name.empty() && d.name == first.name) {
        c.error(d.at("name"), "device name '" + d.name + "' is already used at " + first.at("name").str() +
                                  " (accepted: a unique name per device)");
        break;
      }
    }
    for (std::size_t j = 0; j < i; ++j) {
      const DeviceConfig& first = cfg.devices[j];
      if (!d.address.empty() && d.address == first.address) {
        c.error(d.at("address"), "PCI address '" + d.address + "' is already used by " + who(first) + " at " +
                                     first.at("address").str() + " (accepted: one device per PCI function)");
        break;
      }
    }
  }
}

void read_root(Checker& c, const toml::table& root, Config& cfg) {
  Reader r(c, root, "", cfg.positions);
  r.allow(kTopKeys, "at the top level");
  set(cfg.log_level, r.choice("log_level", kLogLevels));
  set(cfg.report, r.path("report", "/var/lib/irqd/report.json"));
  if (auto cpus = r.string("cpus")) {
    auto parsed = parse_cpulist(*cpus);
    if (parsed) {
      cfg.cpus_text = *cpus;
      cfg.cpus = std::move(*parsed);
    } else {
      c.error(*r.find("cpus"), "'cpus': " + parsed.error().message);
    }
  }
  const std::string_view hint = "a [section] table";
  if (const toml::table* t = r.subtable("reactor", hint)) read_reactor(c, *t, cfg);
  if (const toml::table* t = r.subtable("metrics", hint)) read_metrics(c, *t, cfg);
  if (const toml::table* t = r.subtable("control", hint)) read_control(c, *t, cfg);
  read_devices(c, root, cfg);
}

}  // namespace

std::string SourcePos::str() const {
  if (!known()) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string_view device_type_name(DeviceType type) { return type == DeviceType::kVfio ? "vfio" : "software"; }

SourcePos DeviceConfig::at(std::string_view key) const {
  auto it = positions.find(key);
  return it != positions.end() ? it->second : pos;
}

SourcePos Config::at(std::string_view key) const {
  auto it = positions.find(key);
  return it != positions.end() ? it->second : SourcePos{source, 0, 0};
}

const DeviceConfig* Config::find_device(std::string_view name) const {
  for (const DeviceConfig& d : devices)
    if (d.name == name) return &d;
  return nullptr;
}

Result<Config> parse_config(std::string_view text, const std::string& name_for_errors, const ValueSyntax& syntax) {
  Checker c(name_for_errors, syntax);
  toml::table root;
  try {
    root = toml::parse(text, std::string_view(name_for_errors));
  } catch (const toml::parse_error& e) {
    return Error{c.pos(e.source()).str() + ": " + one_line(e.description())};
  }
  Config cfg;
  cfg.source = name_for_errors;
  read_root(c, root, cfg);
  if (c.failed()) return Error{c.report()};
  return cfg;
}

Result<Config> load_config(const std::string& path, const ValueSyntax& syntax) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Error{path + ": cannot open: " + errno_string(errno)};
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error{path + ": cannot read: " + errno_string(errno)};
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > kMaxFileSize)
      return Error{path + ": larger than " + std::to_string(kMaxFileSize >> 20) + " MiB (accepted: a config file)"};
  }
  return parse_config(text, path, syntax);
}

std::string example_config() { return std::string(kExample); }

ConfigDiff diff_devices(const Config& before, const Config& after) {
  ConfigDiff diff;
  for (const DeviceConfig& d : after.devices) {
    const DeviceConfig* old = before.find_device(d.name);
    if (old == nullptr)
      diff.added.push_back(d.name);
    else if (static_cast<const DeviceSettings&>(*old) == static_cast<const DeviceSettings&>(d))
      diff.unchanged.push_back(d.name);
    else
      diff.changed.push_back(d.name);
  }
  for (const DeviceConfig& d : before.devices)
    if (after.find_device(d.name) == nullptr) diff.removed.push_back(d.name);
  auto note = [&](bool same, const char* key) {
    if (!same) diff.settings_changed.emplace_back(key);
  };
  note(before.log_level == after.log_level, "log_level");
  note(before.report == after.report, "report");
  note(before.cpus == after.cpus, "cpus");
  note(before.reactor == after.reactor, "reactor");
  note(before.metrics == after.metrics, "metrics");
  note(before.control == after.control, "control");
  return diff;
}

}  // namespace irqd
