// SPDX-License-Identifier: GPL-2.0-only
//
// The config schema of `irqd run`: defaults, a full file read back value by
// value, every error class with its exact message and file:line:column, the
// did-you-mean suggestions, the example and the reload diff.

#include "config/config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/tests/temp_dir.h"
#include "device/software_device.h"

namespace irqd {
namespace {

using irqd::test::TempDir;

// The parsers the daemon hands in (daemon/service.h), from device/, so the
// messages checked below are the firing engine's own.
ValueSyntax device_syntax() {
  auto check = [](auto parse) {
    return [parse](std::string_view text) -> Status {
      auto parsed = parse(text);
      if (!parsed) return parsed.error();
      return ok_status();
    };
  };
  return {check(parse_fire_pattern), check(parse_vector_choice)};
}

// The error text of a file that must fail.
std::string errors(const std::string& text) {
  auto r = parse_config(text, "c.toml", device_syntax());
  if (r) return "(no error)";
  return r.error().message;
}

Config parse_ok(const std::string& text) {
  auto r = parse_config(text, "c.toml", device_syntax());
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r ? *r : Config{};
}

// The smallest valid file: one software device, every value defaulted.
std::string soft() { return "[[device]]\nname = \"nic0\"\ntype = \"software\"\n"; }

TEST(Config, DefaultsFillEveryValueNotGiven) {
  Config c = parse_ok(soft());
  EXPECT_EQ(c.source, "c.toml");
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.report, "");
  EXPECT_EQ(c.cpus_text, "");
  EXPECT_TRUE(c.cpus.empty());
  EXPECT_EQ(c.reactor, ReactorConfig{});
  EXPECT_EQ(c.reactor.kind, "io_uring");
  EXPECT_EQ(c.reactor.handoff, "adaptive");
  EXPECT_EQ(c.reactor.when_full, "backoff");
  EXPECT_EQ(c.reactor.queue_capacity, 4096U);
  EXPECT_EQ(c.reactor.busy_poll_us, 50U);
  EXPECT_TRUE(c.metrics.enabled);
  EXPECT_EQ(c.metrics.address, "127.0.0.1");
  EXPECT_EQ(c.metrics.port, 9477U);
  EXPECT_EQ(c.metrics.path, "/metrics");
  EXPECT_TRUE(c.metrics.per_vector);
  EXPECT_EQ(c.control.socket, "/run/irqd/irqd.sock");
  EXPECT_EQ(c.control.group, "");
  EXPECT_EQ(c.control.admin_group, "");

  ASSERT_EQ(c.devices.size(), 1U);
  const DeviceConfig& d = c.devices[0];
  EXPECT_EQ(d.name, "nic0");
  EXPECT_EQ(d.type, DeviceType::kSoftware);
  EXPECT_EQ(d.vectors, 64U);
  EXPECT_EQ(d.pattern, "rate:10000");
  EXPECT_EQ(d.choice, "uniform");
  EXPECT_EQ(d.fire_cpu, -1);
  EXPECT_EQ(d.address, "");
  EXPECT_EQ(d.planner, PlannerKind::kKernel);
  EXPECT_EQ(d.pre_vectors, 0U);
  EXPECT_EQ(d.post_vectors, 0U);
  EXPECT_TRUE(d.sets.empty());
  EXPECT_EQ(d.driver.name, "count");
  EXPECT_EQ(d.driver.plugin, "");
  EXPECT_FALSE(d.driver.is_plugin());
  EXPECT_EQ(d.driver.max_vectors, 0U);
  EXPECT_TRUE(d.driver.options.empty());

  EXPECT_EQ(d.pos, (SourcePos{"c.toml", 1, 1}));
  EXPECT_EQ(d.at("name"), (SourcePos{"c.toml", 2, 8}));
  EXPECT_EQ(d.at("type"), (SourcePos{"c.toml", 3, 8}));
  EXPECT_EQ(d.at("vectors"), d.pos);  // not given: the [[device]] header
  EXPECT_EQ(d.at("vectors").str(), "c.toml:1:1");
  EXPECT_EQ(c.at("metrics.port").str(), "c.toml");  // a default
  EXPECT_EQ(c.find_device("nic0"), c.devices.data());
  EXPECT_EQ(c.find_device("nic1"), nullptr);
}

constexpr const char* kFull = R"(log_level = "debug"
report = "/tmp/irqd-report.json"
cpus = "0-2,5"

[reactor]
kind = "io_uring-busy"
handoff = "inline"
when_full = "drop"
queue_capacity = 256
busy_poll_us = 20

[metrics]
enabled = false
address = "::1"
port = 9100
path = "/m"
per_vector = false

[control]
socket = "/tmp/irqd.sock"
group = "irqd-users"

[[device]]
name = "soft_1"
type = "software"
vectors = 16
pattern = "burst:4@1k"
choice = "zipf:1.2"
fire_cpu = 3
planner = "round-robin"
pre_vectors = 1
post_vectors = 2
sets = [8, 4]
driver = { name = "leaky", max_vectors = 15 }

[[device]]
name = "dev-2"
type = "vfio"
address = "0000:3A:1f.7"
planner = "compact"
kernel = "6.12.117+deb12-amd64"
  [device.driver]
  plugin = "/opt/irqd/x.so"
  options = { depth = "8", "quoted key" = "" }
)";

TEST(Config, TheCalibrationCacheIsAnAbsolutePath) {
  Config c = parse_ok("[reactor]\ncalibration_cache = \"/var/lib/irqd/uring-choice.json\"\n" + soft());
  EXPECT_EQ(c.reactor.calibration_cache, "/var/lib/irqd/uring-choice.json");
  EXPECT_EQ(c.at("reactor.calibration_cache").str(), "c.toml:2:21");
  EXPECT_EQ(parse_ok(soft()).reactor.calibration_cache, "");
}

TEST(Config, FullFileReadsEveryValue) {
  Config c = parse_ok(kFull);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.report, "/tmp/irqd-report.json");
  EXPECT_EQ(c.cpus_text, "0-2,5");
  EXPECT_EQ(c.cpus, (std::vector<unsigned>{0, 1, 2, 5}));
  EXPECT_EQ(c.reactor, (ReactorConfig{"io_uring-busy", "inline", "drop", 256, 20, ""}));
  EXPECT_EQ(c.metrics, (MetricsConfig{false, "::1", 9100, "/m", false}));
  EXPECT_EQ(c.control, (ControlConfig{"/tmp/irqd.sock", "irqd-users", ""}));
  EXPECT_EQ(c.at("reactor.busy_poll_us").str(), "c.toml:10:16");
  EXPECT_EQ(c.at("reactor").str(), "c.toml:5:1");

  ASSERT_EQ(c.devices.size(), 2U);
  const DeviceConfig& s = c.devices[0];
  EXPECT_EQ(s.name, "soft_1");
  EXPECT_EQ(s.type, DeviceType::kSoftware);
  EXPECT_EQ(s.vectors, 16U);
  EXPECT_EQ(s.pattern, "burst:4@1k");
  EXPECT_EQ(s.choice, "zipf:1.2");
  EXPECT_EQ(s.fire_cpu, 3);
  EXPECT_EQ(s.planner, PlannerKind::kRoundRobin);
  EXPECT_EQ(s.pre_vectors, 1U);
  EXPECT_EQ(s.post_vectors, 2U);
  EXPECT_EQ(s.sets, (std::vector<unsigned>{8, 4}));
  EXPECT_EQ(s.driver, (DriverConfig{"leaky", "", 15, {}}));
  EXPECT_EQ(s.pos.str(), "c.toml:23:1");
  EXPECT_EQ(s.at("driver.max_vectors").str(), "c.toml:34:42");

  const DeviceConfig& v = c.devices[1];
  EXPECT_EQ(v.name, "dev-2");
  EXPECT_EQ(v.type, DeviceType::kVfio);
  EXPECT_EQ(v.address, "0000:3a:1f.7");  // as sysfs spells it
  EXPECT_EQ(v.planner, PlannerKind::kCompact);
  EXPECT_EQ(v.vectors, 64U);  // unused for vfio; the default stays
  EXPECT_TRUE(v.driver.is_plugin());
  EXPECT_EQ(v.driver.name, "");
  EXPECT_EQ(v.driver.plugin, "/opt/irqd/x.so");
  EXPECT_EQ(v.driver.options, (std::map<std::string, std::string>{{"depth", "8"}, {"quoted key", ""}}));
  EXPECT_EQ(v.kernel, "6.12.117+deb12-amd64");
  EXPECT_EQ(s.kernel, "");  // the running kernel's line
  EXPECT_EQ(v.pos.str(), "c.toml:36:1");
  EXPECT_EQ(v.at("address").str(), "c.toml:39:11");
  EXPECT_EQ(v.at("driver.options.depth").str(), "c.toml:44:23");
  EXPECT_EQ(device_type_name(v.type), "vfio");
  EXPECT_EQ(device_type_name(s.type), "software");
}

// The example as it is: what runs on any machine (one software device, no
// CPU list, no report); every key shown, the ones left out as `#key =`.
TEST(Config, ControlHasAReadGroupAndAnAdminGroup) {
  const Config c = parse_ok("[control]\ngroup = \"irqd-users\"\nadmin_group = \"irqd-admins\"\n" + soft());
  EXPECT_EQ(c.control, (ControlConfig{"/run/irqd/irqd.sock", "irqd-users", "irqd-admins"}));
}

TEST(Config, ExamplePassesAndShowsEveryKey) {
  const std::string text = example_config();
  Config c = parse_ok(text);
  ASSERT_EQ(c.devices.size(), 1U);
  EXPECT_EQ(c.devices[0].name, "nic0");
  EXPECT_EQ(c.devices[0].type, DeviceType::kSoftware);
  EXPECT_EQ(c.devices[0].driver.name, "count");
  EXPECT_TRUE(c.cpus.empty());
  EXPECT_EQ(c.report, "");
  // The defaults it states are the real ones.
  EXPECT_EQ(c.reactor, ReactorConfig{});
  EXPECT_EQ(c.metrics, MetricsConfig{});
  EXPECT_EQ(c.control, ControlConfig{});
  for (const char* key :
       {"log_level =", "report =",         "cpus =",         "[reactor]",      "kind =",    "handoff =",
        "when_full =", "queue_capacity =", "busy_poll_us =", "[metrics]",      "enabled =", "address =",
        "port =",      "path =",           "per_vector =",   "[control]",      "socket =",  "group =",
        "[[device]]",  "name =",           "type =",         "vectors =",      "pattern =", "choice =",
        "fire_cpu =",  "planner =",        "pre_vectors =",  "post_vectors =", "sets =",    "[device.driver]",
        "plugin =",    "max_vectors =",    "options ="})
    EXPECT_TRUE(text.find(std::string("\n") + key) != std::string::npos ||
                text.find(std::string("\n#") + key) != std::string::npos)
        << key;
}

// The examples left out (`#key = value`, `#[table]`) are valid too: with
// their '#' removed the file passes, with the VFIO device and its plugin.
TEST(Config, ExampleWithItsCommentedKeysPasses) {
  std::istringstream in(example_config());
  std::string text;
  for (std::string line; std::getline(in, line);)
    text += (line.size() > 1 && line[0] == '#' && line[1] != ' ' ? line.substr(1) : line) + "\n";
  Config c = parse_ok(text);
  EXPECT_EQ(c.report, "/var/lib/irqd/report.json");
  EXPECT_FALSE(c.cpus.empty());
  ASSERT_EQ(c.devices.size(), 2U);
  EXPECT_EQ(c.devices[1].name, "nvme0");
  EXPECT_EQ(c.devices[1].type, DeviceType::kVfio);
  EXPECT_TRUE(c.devices[1].driver.is_plugin());
  EXPECT_FALSE(std::filesystem::exists(c.devices[1].driver.plugin));  // syntax, not the machine
}

struct Broken {
  const char* what;
  std::string text;
  std::string error;
};

// One error class per row, each with its exact message and position.
std::vector<Broken> broken_inputs() {
  return {
      {"toml syntax", "a = \n", "c.toml:1:5: Error while parsing key-value pair: expected value, saw '\\n'"},
      {"toml duplicate key", soft() + "name = \"x\"\n",
       "c.toml:4:8: Error while parsing key-value pair: cannot redefine existing string 'name'"},
      {"no device", "log_level = \"info\"\n", "c.toml:1:1: no [[device]] table (accepted: at least one device)"},
      {"empty file", "", "c.toml:1:1: no [[device]] table (accepted: at least one device)"},
      {"device list empty", "device = []\n", "c.toml:1:10: 'device' is empty (accepted: at least one device)"},
      {"device as a table", "[device]\nname = \"x\"\n",
       "c.toml:1:1: 'device' must be an array of tables ([[device]]), got table"},
      {"device element not a table", "device = [1]\n", "c.toml:1:11: 'device[0]' must be a table, got integer"},
      {"unknown top-level key, close", "reactr = 1\n" + soft(),
       "c.toml:1:1: unknown key 'reactr' at the top level (did you mean 'reactor'?)"},
      {"unknown top-level key, far", "frobnicate = 1\n" + soft(),
       "c.toml:1:1: unknown key 'frobnicate' at the top level (accepted: log_level, report, cpus, reactor, metrics, "
       "control, device)"},
      {"unknown device key", soft() + "vectros = 8\n",
       "c.toml:4:1: unknown key 'vectros' in [[device]] (did you mean 'vectors'?)"},
      {"unknown reactor key", "[reactor]\nhandof = \"queue\"\n" + soft(),
       "c.toml:2:1: unknown key 'handof' in [reactor] (did you mean 'handoff'?)"},
      {"unknown metrics key", "[metrics]\nprot = 1\n" + soft(),
       "c.toml:2:1: unknown key 'prot' in [metrics] (did you mean 'port'?)"},
      {"unknown control key", "[control]\nsock = \"/x\"\n" + soft(),
       "c.toml:2:1: unknown key 'sock' in [control] (did you mean 'socket'?)"},
      {"unknown driver key", soft() + "[device.driver]\nname = \"count\"\nmax_vector = 1\n",
       "c.toml:6:1: unknown key 'max_vector' in [device.driver] (did you mean 'max_vectors'?)"},
      {"section not a table", "reactor = \"epoll\"\n" + soft(),
       "c.toml:1:11: 'reactor' must be a table, got string (accepted: a [section] table)"},
      {"string for integer", soft() + "vectors = \"64\"\n", "c.toml:4:11: 'vectors' must be an integer, got string"},
      {"float for integer", soft() + "vectors = 64.0\n", "c.toml:4:11: 'vectors' must be an integer, got float"},
      {"integer for string", soft() + "pattern = 5\n", "c.toml:4:11: 'pattern' must be a string, got integer"},
      {"string for boolean", "[metrics]\nenabled = \"yes\"\n" + soft(),
       "c.toml:2:11: 'metrics.enabled' must be a boolean, got string"},
      {"log level", "log_level = \"verbose\"\n" + soft(),
       "c.toml:1:13: 'log_level' is 'verbose' (accepted: trace, debug, info, warn, error)"},
      {"log level, close", "log_level = \"warning\"\n" + soft(),
       "c.toml:1:13: 'log_level' is 'warning' (did you mean 'warn'? accepted: trace, debug, info, warn, error)"},
      {"reactor kind", "[reactor]\nkind = \"io-uring\"\n" + soft(),
       "c.toml:2:8: 'reactor.kind' is 'io-uring' (did you mean 'io_uring'? accepted: io_uring, io_uring-read, "
       "io_uring-poll, io_uring-busy, epoll, thread)"},
      {"handoff", "[reactor]\nhandoff = \"spsc\"\n" + soft(),
       "c.toml:2:11: 'reactor.handoff' is 'spsc' (accepted: queue, inline, adaptive)"},
      {"when_full", "[reactor]\nwhen_full = \"block\"\n" + soft(),
       "c.toml:2:13: 'reactor.when_full' is 'block' (accepted: backoff, drop)"},
      {"queue capacity low", "[reactor]\nqueue_capacity = 1\n" + soft(),
       "c.toml:2:18: 'reactor.queue_capacity' is 1 (accepted: 2..1048576)"},
      {"queue capacity high", "[reactor]\nqueue_capacity = 1048577\n" + soft(),
       "c.toml:2:18: 'reactor.queue_capacity' is 1048577 (accepted: 2..1048576)"},
      {"busy poll", "[reactor]\nbusy_poll_us = 0\n" + soft(),
       "c.toml:2:16: 'reactor.busy_poll_us' is 0 (accepted: 1..1000000)"},
      {"port 0", "[metrics]\nport = 0\n" + soft(), "c.toml:2:8: 'metrics.port' is 0 (accepted: 1..65535)"},
      {"port 65536", "[metrics]\nport = 65536\n" + soft(), "c.toml:2:8: 'metrics.port' is 65536 (accepted: 1..65535)"},
      {"metrics address", "[metrics]\naddress = \"localhost\"\n" + soft(),
       "c.toml:2:11: 'metrics.address' is 'localhost' (accepted: an IPv4 or IPv6 address, e.g. 127.0.0.1, 0.0.0.0 or "
       "::1)"},
      {"metrics path", "[metrics]\npath = \"metrics\"\n" + soft(),
       "c.toml:2:8: 'metrics.path' is 'metrics' (accepted: a URL path starting with '/', e.g. /metrics)"},
      {"relative socket", "[control]\nsocket = \"irqd.sock\"\n" + soft(),
       "c.toml:2:10: 'control.socket' must be an absolute path, got 'irqd.sock' (accepted: e.g. /run/irqd/irqd.sock)"},
      {"socket too long", "[control]\nsocket = \"/" + std::string(107, 's') + "\"\n" + soft(),
       "c.toml:2:10: 'control.socket' is 108 bytes long (accepted: at most 107)"},
      {"group", "[control]\ngroup = \"wheel users\"\n" + soft(),
       "c.toml:2:9: 'control.group' is 'wheel users' (accepted: a group name of 1 to 32 letters, digits, '_', '-' and "
       "'.', or \"\" for root only)"},
      {"admin group", "[control]\nadmin_group = \"-x!\"\n" + soft(),
       "c.toml:2:15: 'control.admin_group' is '-x!' (accepted: a group name of 1 to 32 letters, digits, '_', '-' and "
       "'.', or \"\" for root only)"},
      {"relative calibration cache", "[reactor]\ncalibration_cache = \"c.json\"\n" + soft(),
       "c.toml:2:21: 'reactor.calibration_cache' must be an absolute path, got 'c.json' (accepted: e.g. "
       "/var/lib/irqd/uring-choice.json)"},
      {"relative report", "report = \"report.json\"\n" + soft(),
       "c.toml:1:10: 'report' must be an absolute path, got 'report.json' (accepted: e.g. /var/lib/irqd/report.json)"},
      {"cpus", "cpus = \"0-3,x\"\n" + soft(),
       "c.toml:1:8: 'cpus': malformed CPU list '0-3,x': 'x' is not a CPU id (accepted form: comma-separated CPU ids "
       "and ranges, e.g. 0-3,8,10-11)"},
      {"device without name", "[[device]]\ntype = \"software\"\n",
       "c.toml:1:1: [[device]] has no 'name' (required: 1 to 32 of a-z, 0-9, '_' and '-', unique)"},
      {"bad device name", "[[device]]\nname = \"Nic 0\"\ntype = \"software\"\n",
       "c.toml:2:8: 'name' is 'Nic 0' (accepted: 1 to 32 of a-z, 0-9, '_' and '-')"},
      {"device name too long", "[[device]]\nname = \"" + std::string(33, 'n') + "\"\ntype = \"software\"\n",
       "c.toml:2:8: 'name' is '" + std::string(33, 'n') + "' (accepted: 1 to 32 of a-z, 0-9, '_' and '-')"},
      {"device without type", "[[device]]\nname = \"nic0\"\n",
       "c.toml:1:1: device 'nic0' has no 'type' (required: software, vfio)"},
      {"device type", "[[device]]\nname = \"nic0\"\ntype = \"sofware\"\n",
       "c.toml:3:8: 'type' is 'sofware' (did you mean 'software'? accepted: software, vfio)"},
      {"duplicate names", soft() + soft(),
       "c.toml:5:8: device name 'nic0' is already used at c.toml:2:8 (accepted: a unique name per device)"},
      {"vectors 0", soft() + "vectors = 0\n", "c.toml:4:11: 'vectors' is 0 (accepted: 1..2048)"},
      {"vectors 2049", soft() + "vectors = 2049\n", "c.toml:4:11: 'vectors' is 2049 (accepted: 1..2048)"},
      {"pattern", soft() + "pattern = \"rate:0\"\n",
       "c.toml:4:11: 'pattern': pattern 'rate:0' is not valid (accepted: saturate, rate:R, poisson:R, burst:B@R with R "
       "> 0, e.g. 250000, 250k or 1.5M, and B >= 1)"},
      {"choice", soft() + "choice = \"zipf\"\n",
       "c.toml:4:10: 'choice': vector choice 'zipf' is not valid (accepted: uniform, zipf:S with S > 0)"},
      {"fire_cpu", soft() + "fire_cpu = -2\n", "c.toml:4:12: 'fire_cpu' is -2 (accepted: -1..65535, -1 = not pinned)"},
      {"planner", soft() + "planner = \"kernal\"\n",
       "c.toml:4:11: 'planner': unknown planner 'kernal' (accepted: kernel, compact, per-core, single, round-robin)"},
      {"pre_vectors range", soft() + "pre_vectors = 4096\n", "c.toml:4:15: 'pre_vectors' is 4096 (accepted: 0..2048)"},
      {"kernel older than any line", soft() + "kernel = \"5.15\"\n",
       "c.toml:4:10: 'kernel': kernel version '5.15' is older than 6.1, the oldest line irqd reproduces (accepted: "
       "MAJOR.MINOR[.PATCH][suffix] from 6.1 on, e.g. 6.1, 6.12.117, 6.12.117+deb12-amd64, 6.19-rc3, or live)"},
      {"vfio without address", "[[device]]\nname = \"ssd0\"\ntype = \"vfio\"\n",
       "c.toml:1:1: vfio device 'ssd0' has no 'address' (required: its PCI address DDDD:BB:DD.F, e.g. 0000:03:00.0)"},
      {"vfio address short", "[[device]]\nname = \"ssd0\"\ntype = \"vfio\"\naddress = \"03:00.0\"\n",
       "c.toml:4:11: 'address' is '03:00.0' (accepted: a PCI address DDDD:BB:DD.F in hex, device 00-1f, function 0-7, "
       "e.g. 0000:03:00.0)"},
      {"vfio address function 8", "[[device]]\nname = \"ssd0\"\ntype = \"vfio\"\naddress = \"0000:03:00.8\"\n",
       "c.toml:4:11: 'address' is '0000:03:00.8' (accepted: a PCI address DDDD:BB:DD.F in hex, device 00-1f, function "
       "0-7, e.g. 0000:03:00.0)"},
      {"vfio address device 20", "[[device]]\nname = \"ssd0\"\ntype = \"vfio\"\naddress = \"0000:03:20.0\"\n",
       "c.toml:4:11: 'address' is '0000:03:20.0' (accepted: a PCI address DDDD:BB:DD.F in hex, device 00-1f, function "
       "0-7, e.g. 0000:03:00.0)"},
      {"duplicate address",
       "[[device]]\nname = \"a\"\ntype = \"vfio\"\naddress = \"0000:03:00.0\"\n"
       "[[device]]\nname = \"b\"\ntype = \"vfio\"\naddress = \"0000:03:00.0\"\n",
       "c.toml:8:11: PCI address '0000:03:00.0' is already used by device 'a' at c.toml:4:11 (accepted: one device per "
       "PCI function)"},
      {"software key on vfio",
       "[[device]]\nname = \"ssd0\"\ntype = \"vfio\"\naddress = \"0000:03:00.0\"\npattern = \"saturate\"\n",
       "c.toml:5:11: 'pattern' applies to software devices only, and device 'ssd0' is vfio"},
      {"vectors on vfio", "[[device]]\nname = \"ssd0\"\ntype = \"vfio\"\naddress = \"0000:03:00.0\"\nvectors = 8\n",
       "c.toml:5:11: 'vectors' applies to software devices only, and device 'ssd0' is vfio (its vectors are its MSI-X "
       "table; limit the driver with driver.max_vectors)"},
      {"vfio key on software", soft() + "address = \"0000:03:00.0\"\n",
       "c.toml:4:11: 'address' applies to vfio devices only, and device 'nic0' is software"},
      {"driver not a table", soft() + "driver = \"count\"\n",
       "c.toml:4:10: 'driver' must be a table, got string (accepted: driver = { name = \"count\" } or a "
       "[device.driver] "
       "table)"},
      {"driver with both", soft() + "[device.driver]\nname = \"count\"\nplugin = \"/x.so\"\n",
       "c.toml:4:1: 'driver' of device 'nic0' has both 'name' and 'plugin' (accepted: exactly one: name = one of "
       "count, "
       "leaky, or plugin = the absolute path of a driver .so)"},
      {"driver with neither", soft() + "driver = { max_vectors = 4 }\n",
       "c.toml:4:10: 'driver' of device 'nic0' has neither 'name' nor 'plugin' (accepted: exactly one: name = one of "
       "count, leaky, or plugin = the absolute path of a driver .so)"},
      {"driver name", soft() + "driver.name = \"counter\"\n",
       "c.toml:4:15: 'driver.name' is 'counter' (did you mean 'count'? accepted: count, leaky)"},
      {"relative plugin", soft() + "driver.plugin = \"drv.so\"\n",
       "c.toml:4:17: 'driver.plugin' must be an absolute path, got 'drv.so' (accepted: e.g. "
       "/usr/local/lib/irqd/mydriver.so)"},
      {"driver option not a string", soft() + "driver = { name = \"count\", options = { depth = 8 } }\n",
       "c.toml:4:48: 'driver.options.depth' must be a string, got integer (driver options are handed over as strings: "
       "quote the value)"},
      {"max_vectors range", soft() + "driver = { name = \"count\", max_vectors = 4096 }\n",
       "c.toml:4:42: 'driver.max_vectors' is 4096 (accepted: 0..2048, 0 = every vector of the device)"},
      {"max_vectors above vectors", soft() + "vectors = 8\ndriver = { name = \"count\", max_vectors = 9 }\n",
       "c.toml:5:42: 'driver.max_vectors' is 9 but device 'nic0' has 8 vectors (accepted: 0..8, 0 = every vector)"},
      {"pre + post above vectors", soft() + "vectors = 8\npre_vectors = 5\npost_vectors = 4\n",
       "c.toml:5:15: 'pre_vectors' + 'post_vectors' = 9 exceeds 'vectors' = 8 (accepted: a sum of at most 8)"},
      {"pre + post above the default 64", soft() + "post_vectors = 65\n",
       "c.toml:4:16: 'pre_vectors' + 'post_vectors' = 65 exceeds 'vectors' = 64 (accepted: a sum of at most 64)"},
      {"pre + post above max_vectors",
       "[[device]]\nname = \"ssd0\"\ntype = \"vfio\"\naddress = \"0000:03:00.0\"\npre_vectors = 3\n"
       "driver = { plugin = \"/d.so\", max_vectors = 2 }\n",
       "c.toml:5:15: 'pre_vectors' + 'post_vectors' = 3 exceeds 'driver.max_vectors' = 2 (accepted: a sum of at most "
       "2)"},
      {"sets that do not sum", soft() + "vectors = 8\npre_vectors = 1\nsets = [3, 3]\n",
       "c.toml:6:8: 'sets' sum to 6 but 'vectors' = 8 less pre_vectors and post_vectors leaves 7 (accepted: sets "
       "summing to 7)"},
      {"sets against max_vectors", soft() + "sets = [16, 16]\ndriver = { name = \"count\", max_vectors = 16 }\n",
       "c.toml:4:8: 'sets' sum to 32 but 'driver.max_vectors' = 16 less pre_vectors and post_vectors leaves 16 "
       "(accepted: sets summing to 16)"},
      {"too many sets", soft() + "sets = [1, 1, 1, 1, 60]\n",
       "c.toml:4:8: 'sets' has 5 sets (accepted: 1..4 set sizes; leave 'sets' out for one set)"},
      {"no sets", soft() + "sets = []\n",
       "c.toml:4:8: 'sets' has 0 sets (accepted: 1..4 set sizes; leave 'sets' out for one set)"},
      {"empty set", soft() + "sets = [64, 0]\n", "c.toml:4:13: 'sets[1]' is 0 (accepted: 1..2048)"},
      {"set not an integer", soft() + "sets = [\"64\"]\n", "c.toml:4:9: 'sets[0]' must be an integer, got string"},
      {"sets not an array", soft() + "sets = 64\n", "c.toml:4:8: 'sets' must be an array, got integer"},
  };
}

TEST(Config, EveryErrorClassHasItsMessageAndPosition) {
  for (const Broken& b : broken_inputs()) EXPECT_EQ(errors(b.text), b.error) << b.what << ":\n" << b.text;
}

TEST(Config, CollectsEveryErrorSortedByPosition) {
  const std::string text =
      "[[device]]\n"           // 1
      "name = \"nic0\"\n"      // 2
      "type = \"software\"\n"  // 3
      "vectors = 0\n"          // 4
      "[reactor]\n"            // 5
      "kind = \"uring\"\n"     // 6
      "[[device]]\n"           // 7
      "name = \"nic0\"\n"      // 8
      "type = \"vfio\"\n"      // 9
      "[metrics]\n"            // 10
      "port = 0\n";            // 11
  EXPECT_EQ(errors(text),
            "c.toml:4:11: 'vectors' is 0 (accepted: 1..2048)\n"
            "c.toml:6:8: 'reactor.kind' is 'uring' (accepted: io_uring, io_uring-read, io_uring-poll, io_uring-busy, "
            "epoll, thread)\n"
            "c.toml:7:1: vfio device 'nic0' has no 'address' (required: its PCI address DDDD:BB:DD.F, e.g. "
            "0000:03:00.0)\n"
            "c.toml:8:8: device name 'nic0' is already used at c.toml:2:8 (accepted: a unique name per device)\n"
            "c.toml:11:8: 'metrics.port' is 0 (accepted: 1..65535)");
}

// Found by config/tests/fuzz/config_fuzz: a newline or carriage return in a
// value quoted back, or in toml++'s own "saw '...'", split an error over two
// lines, breaking "one line per error" (`irqd config check`, and the reload
// log, which logs each line as an error of its own).
TEST(Config, EveryErrorStaysOneLineWhateverTheValueHolds) {
  EXPECT_EQ(errors("[metrics]\nenabled = fal\n" + soft()),
            "c.toml:2:14: Error while parsing boolean: expected 'false', saw 'fal\\n'");
  EXPECT_EQ(errors("log_level = \"warn\\nx\"\n" + soft()),
            "c.toml:1:13: 'log_level' is 'warn\\nx' (did you mean 'warn'? accepted: trace, debug, info, warn, error)");
  EXPECT_EQ(errors("[[device]]\nname = \"a\\rb\\u0001\"\ntype = \"software\"\n"),
            "c.toml:2:8: 'name' is 'a\\rb\\x01' (accepted: 1 to 32 of a-z, 0-9, '_' and '-')");
}

TEST(Config, DidYouMeanSuggestsOnlyCloseKeys) {
  auto unknown = [](const std::string& line) { return errors(soft() + line + " = 1\n"); };
  EXPECT_EQ(unknown("vectros"), "c.toml:4:1: unknown key 'vectros' in [[device]] (did you mean 'vectors'?)");
  EXPECT_EQ(unknown("Vectors"), "c.toml:4:1: unknown key 'Vectors' in [[device]] (did you mean 'vectors'?)");
  EXPECT_EQ(unknown("pre-vectors"),
            "c.toml:4:1: unknown key 'pre-vectors' in [[device]] (did you mean 'pre_vectors'?)");
  EXPECT_EQ(unknown("postvectors"),
            "c.toml:4:1: unknown key 'postvectors' in [[device]] (did you mean 'post_vectors'?)");
  EXPECT_EQ(unknown("adress"), "c.toml:4:1: unknown key 'adress' in [[device]] (did you mean 'address'?)");
  EXPECT_EQ(unknown("tpye"), "c.toml:4:1: unknown key 'tpye' in [[device]] (did you mean 'type'?)");
  // Too far from any key: the accepted keys instead.
  const std::string accepted =
      " in [[device]] (accepted: name, type, vectors, pattern, choice, fire_cpu, address, planner, kernel, "
      "pre_vectors, "
      "post_vectors, sets, driver)";
  EXPECT_EQ(unknown("queues"), "c.toml:4:1: unknown key 'queues'" + accepted);
  EXPECT_EQ(unknown("nm"), "c.toml:4:1: unknown key 'nm'" + accepted);
  EXPECT_EQ(unknown("v"), "c.toml:4:1: unknown key 'v'" + accepted);
  // Sections too.
  EXPECT_EQ(errors("[[devices]]\nname = \"x\"\n"),
            "c.toml:1:1: no [[device]] table (accepted: at least one device)\n"
            "c.toml:1:3: unknown key 'devices' at the top level (did you mean 'device'?)");
}

TEST(Config, LoadReadsAFileAndNamesItInErrors) {
  TempDir dir;
  const std::string good = dir / "good.toml";
  std::ofstream(good) << kFull;
  auto c = load_config(good, device_syntax());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->source, good);
  EXPECT_EQ(c->devices.at(1).at("address").str(), good + ":39:11");

  const std::string bad = dir / "bad.toml";
  std::ofstream(bad) << soft() << "vectors = 0\n";
  auto e = load_config(bad, device_syntax());
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().message, bad + ":4:11: 'vectors' is 0 (accepted: 1..2048)");

  auto missing = load_config(dir / "none.toml", device_syntax());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, (dir / "none.toml") + ": cannot open: No such file or directory");

  auto directory = load_config(dir / "", device_syntax());
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.error().message, (dir / "") + ": cannot read: Is a directory");
}

Config two_devices(const std::string& extra_a, const std::string& extra_b) {
  return parse_ok("[[device]]\nname = \"a\"\ntype = \"software\"\n" + extra_a +
                  "[[device]]\nname = \"b\"\ntype = \"software\"\n" + extra_b);
}

TEST(Config, DiffDevicesByName) {
  const Config before = parse_ok(
      "[[device]]\nname = \"keep\"\ntype = \"software\"\n"
      "[[device]]\nname = \"gone\"\ntype = \"software\"\n"
      "[[device]]\nname = \"edit\"\ntype = \"software\"\nvectors = 8\n");
  // keep moves to another line (not a change), edit gets a new vector
  // count, gone goes, new comes.
  const Config after = parse_ok(
      "log_level = \"debug\"\n"
      "[[device]]\nname = \"new\"\ntype = \"software\"\n"
      "[[device]]\nname = \"edit\"\ntype = \"software\"\nvectors = 16\n"
      "\n\n[[device]]\nname = \"keep\"\ntype = \"software\"\n");
  ConfigDiff d = diff_devices(before, after);
  EXPECT_EQ(d.added, std::vector<std::string>{"new"});
  EXPECT_EQ(d.removed, std::vector<std::string>{"gone"});
  EXPECT_EQ(d.changed, std::vector<std::string>{"edit"});
  EXPECT_EQ(d.unchanged, std::vector<std::string>{"keep"});
  EXPECT_EQ(d.settings_changed, std::vector<std::string>{"log_level"});

  ConfigDiff same = diff_devices(before, before);
  EXPECT_TRUE(same.added.empty() && same.removed.empty() && same.changed.empty() && same.settings_changed.empty());
  EXPECT_EQ(same.unchanged, (std::vector<std::string>{"keep", "gone", "edit"}));
}

TEST(Config, DiffSeesEveryDeviceField) {
  const Config base = two_devices("", "");
  const std::vector<std::string> edits = {
      "vectors = 32\n",
      "pattern = \"saturate\"\n",
      "choice = \"zipf:1\"\n",
      "fire_cpu = 0\n",
      "planner = \"compact\"\n",
      "pre_vectors = 1\n",
      "post_vectors = 1\n",
      "sets = [32, 32]\n",
      "driver.name = \"leaky\"\n",
      "driver = { name = \"count\", max_vectors = 8 }\n",
      "driver = { name = \"count\", options = { a = \"b\" } }\n",
      "driver.plugin = \"/x.so\"\n",
  };
  for (const std::string& edit : edits) {
    ConfigDiff d = diff_devices(base, two_devices("", edit));
    EXPECT_EQ(d.changed, std::vector<std::string>{"b"}) << edit;
    EXPECT_EQ(d.unchanged, std::vector<std::string>{"a"}) << edit;
  }
  // Type and address: a vfio device in place of a software one, then at
  // another address.
  const std::string vfio = "[[device]]\nname = \"a\"\ntype = \"vfio\"\naddress = \"0000:03:00.0\"\n";
  EXPECT_EQ(diff_devices(base, parse_ok(vfio)).changed, std::vector<std::string>{"a"});
  EXPECT_EQ(diff_devices(parse_ok(vfio), parse_ok(vfio + "\n")).unchanged, std::vector<std::string>{"a"});
  Config moved = parse_ok("[[device]]\nname = \"a\"\ntype = \"vfio\"\naddress = \"0000:04:00.0\"\n");
  EXPECT_EQ(diff_devices(parse_ok(vfio), moved).changed, std::vector<std::string>{"a"});
  // Writing a default out is no change.
  EXPECT_EQ(diff_devices(base, two_devices("vectors = 64\ndriver.name = \"count\"\n", "")).changed,
            std::vector<std::string>{});
}

TEST(Config, DiffNamesChangedSettingsOutsideDevices) {
  const std::string dev = "[[device]]\nname = \"a\"\ntype = \"software\"\n";
  const Config base = parse_ok(dev);
  auto changed = [&](const std::string& head) { return diff_devices(base, parse_ok(head + dev)).settings_changed; };
  EXPECT_EQ(changed("report = \"/r.json\"\n"), std::vector<std::string>{"report"});
  EXPECT_EQ(changed("cpus = \"0\"\n"), std::vector<std::string>{"cpus"});
  EXPECT_EQ(changed("[reactor]\nkind = \"epoll\"\n"), std::vector<std::string>{"reactor"});
  EXPECT_EQ(changed("[metrics]\nport = 1\n"), std::vector<std::string>{"metrics"});
  EXPECT_EQ(changed("[control]\ngroup = \"adm\"\n[metrics]\nper_vector = false\n"),
            (std::vector<std::string>{"metrics", "control"}));
  EXPECT_EQ(changed("[reactor]\nkind = \"io_uring\"\n"), std::vector<std::string>{});  // the default, written out
  EXPECT_EQ(diff_devices(base, parse_ok(dev)).unchanged, std::vector<std::string>{"a"});
}

}  // namespace
}  // namespace irqd
