// SPDX-License-Identifier: GPL-2.0-only
//
// `irqd run` end to end, as a real process on software devices: the control
// socket (status, stats, move under load, unbind, bind), /metrics scraped
// with a real HTTP client and checked against the final report, SIGHUP
// with an invalid and with a valid configuration, and SIGTERM: every
// device through the unbind sequence, a report that accounts for every
// fire, the socket removed, no eventfd leaked across unbind and bind.

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "base/tests/rss.h"
#include "base/tests/run_process.h"
#include "base/tests/sanitizers.h"
#include "base/tests/temp_dir.h"

namespace irqd {
namespace {

using irqd::test::slurp;

namespace fs = std::filesystem;
using nlohmann::json;

unsigned free_port() {
  test::Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

// One request over the control socket, one response line back.
json call(const std::string& socket, const json& request) {
  test::Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", socket.c_str());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    return json{{"ok", false}, {"error", "connect"}};
  const std::string line = request.dump() + "\n";
  if (::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) return json{{"ok", false}};
  std::string in;
  char c = 0;
  while (::read(fd.get(), &c, 1) == 1 && c != '\n') in += c;
  return json::parse(in, nullptr, false);
}

std::uint64_t device_handled(const json& status, const std::string& name) {
  if (!status.is_object() || !status.contains("result")) return 0;  // not up yet
  for (const json& d : status["result"]["devices"])
    if (d["name"] == name && d.contains("handled")) return d["handled"];
  return 0;
}

std::string device_state(const json& status, const std::string& name) {
  if (!status.is_object() || !status.contains("result")) return "no answer: " + status.dump();
  for (const json& d : status["result"]["devices"])
    if (d["name"] == name) return d["state"];
  return "";
}

unsigned eventfds_of(pid_t pid) {
  unsigned n = 0;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    std::error_code ec;
    if (fs::read_symlink(e.path(), ec).string() == "anon_inode:[eventfd]") ++n;
  }
  return n;
}

// Sum of irqd_interrupts_total for a device in a scrape.
std::uint64_t scraped_interrupts(const std::string& body, const std::string& device) {
  std::uint64_t n = 0;
  std::regex line("irqd_interrupts_total\\{device=\"" + device + "\",vector=\"[0-9]+\"\\} ([0-9]+)");
  for (auto it = std::sregex_iterator(body.begin(), body.end(), line); it != std::sregex_iterator(); ++it)
    n += std::stoull((*it)[1]);
  return n;
}

template <typename Pred>
bool eventually(Pred pred) {  // a guard against hangs, not a timing assertion
  for (int i = 0; i < 1000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

class RunCli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "irqd-run-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
    socket_ = dir_ + "/irqd.sock";
    port_ = free_port();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string config(const std::string& nic1_pattern) const {
    return "report = \"" + dir_ +
           "/report.json\"\n"
           "[metrics]\nport = " +
           std::to_string(port_) +
           "\n"
           "[control]\nsocket = \"" +
           socket_ +
           "\"\n"
           "[[device]]\nname = \"nic0\"\ntype = \"software\"\nvectors = 8\npattern = \"rate:20000\"\n"
           "[[device]]\nname = \"nic1\"\ntype = \"software\"\nvectors = 4\npattern = \"" +
           nic1_pattern +
           "\"\n"
           "[device.driver]\nname = \"leaky\"\n";
  }
  void write_config(const std::string& text) const { std::ofstream(dir_ + "/irqd.toml") << text; }

  std::string dir_;
  std::string socket_;
  unsigned port_ = 0;
};

TEST_F(RunCli, ServesControlsReloadsAndStopsAccountingForEveryInterrupt) {
  write_config(config("rate:1000"));
  test::FileActions actions;
  actions.open(STDIN_FILENO, "/dev/null", O_RDONLY);
  actions.open(STDOUT_FILENO, (dir_ + "/out").c_str(), O_WRONLY | O_CREAT | O_TRUNC);
  actions.open(STDERR_FILENO, (dir_ + "/err").c_str(), O_WRONLY | O_CREAT | O_TRUNC);
  test::Child child(IRQD_BINARY, {"irqd", "run", "--config", dir_ + "/irqd.toml"}, actions);
  const auto err = [&] { return slurp(dir_ + "/err"); };

  // Serving: both devices bound and handling.
  ASSERT_TRUE(eventually([&] { return device_handled(call(socket_, {{"cmd", "status"}}), "nic0") > 0; })) << err();
  json status = call(socket_, {{"cmd", "status"}});
  EXPECT_EQ(device_state(status, "nic0"), "bound");
  EXPECT_EQ(device_state(status, "nic1"), "bound");
  json stats = call(socket_, {{"cmd", "stats"}, {"device", "nic0"}});
  ASSERT_TRUE(stats["ok"].get<bool>()) << stats.dump();
  const json& nic0 = stats["result"]["devices"][0];
  ASSERT_FALSE(nic0["vectors"].empty());

  // Bad requests get an error; the daemon keeps serving.
  EXPECT_FALSE(call(socket_, {{"cmd", "frobnicate"}})["ok"].get<bool>());
  EXPECT_FALSE(call(socket_, {{"cmd", "move"}, {"device", "nic0"}, {"vector", 999}, {"cpu", 0}})["ok"].get<bool>());

  // Move a vector under load, there and back: one of nic1's, which its
  // (leaky) driver allocated unmanaged; nic0's are managed, each served
  // inside its own mask only, as the kernel does.
  json stats1 = call(socket_, {{"cmd", "stats"}, {"device", "nic1"}});
  ASSERT_TRUE(stats1["ok"].get<bool>()) << stats1.dump();
  const json& nic1 = stats1["result"]["devices"][0];
  ASSERT_EQ(nic1["vectors"][0]["ownership"], "explicit") << nic1.dump();
  const unsigned vector = nic1["vectors"][0]["index"];
  const int home = nic1["vectors"][0]["cpu"];
  const unsigned other = home == 0 ? 1 : 0;
  if (std::thread::hardware_concurrency() > 1) {
    json moved = call(socket_, {{"cmd", "move"}, {"device", "nic1"}, {"vector", vector}, {"cpu", other}});
    EXPECT_TRUE(moved["ok"].get<bool>()) << moved.dump();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    moved = call(socket_, {{"cmd", "move"}, {"device", "nic1"}, {"vector", vector}, {"cpu", home}});
    EXPECT_TRUE(moved["ok"].get<bool>()) << moved.dump();
  }

  // Metrics, scraped for real; counters only grow.
  httplib::Client http("127.0.0.1", static_cast<int>(port_));
  auto first = http.Get("/metrics");
  ASSERT_TRUE(first) << "no answer on /metrics";
  ASSERT_EQ(first->status, 200);
  const std::uint64_t scraped = scraped_interrupts(first->body, "nic0");
  EXPECT_GT(scraped, 0u);
  EXPECT_NE(first->body.find("irqd_build_info{"), std::string::npos);

  // Unbind and bind nic1: no eventfd left behind.
  const unsigned fds_before = eventfds_of(child.pid());
  json unbound = call(socket_, {{"cmd", "unbind"}, {"device", "nic1"}});
  ASSERT_TRUE(unbound["ok"].get<bool>()) << unbound.dump();
  EXPECT_EQ(unbound["result"]["leaks"].size(), 1u);
  EXPECT_EQ(device_state(call(socket_, {{"cmd", "status"}}), "nic1"), "unbound");
  ASSERT_TRUE(call(socket_, {{"cmd", "bind"}, {"device", "nic1"}})["ok"].get<bool>());
  EXPECT_EQ(eventfds_of(child.pid()), fds_before);

  // SIGHUP with a broken file: logged, the running configuration stays.
  const std::uint64_t before_bad = device_handled(call(socket_, {{"cmd", "status"}}), "nic0");
  write_config(config("rate:1000") + "bogus = 1\n");
  ::kill(child.pid(), SIGHUP);
  ASSERT_TRUE(eventually([&] { return err().find("keeping the running configuration") != std::string::npos; }))
      << err();
  status = call(socket_, {{"cmd", "status"}});
  EXPECT_EQ(device_state(status, "nic0"), "bound");
  EXPECT_GE(device_handled(status, "nic0"), before_bad);  // not reset: nic0 kept running

  // SIGHUP with a valid change to nic1 only: nic1 is rebound, nic0 is not.
  write_config(config("rate:2000"));
  ::kill(child.pid(), SIGHUP);
  ASSERT_TRUE(eventually([&] { return err().find("1 rebound, 1 unchanged") != std::string::npos; })) << err();
  EXPECT_GE(device_handled(call(socket_, {{"cmd", "status"}}), "nic0"), before_bad);

  ::kill(child.pid(), SIGTERM);
  ASSERT_EQ(child.wait(), 0) << err();
  EXPECT_FALSE(fs::exists(socket_)) << "the control socket was left behind";

  json report = json::parse(slurp(dir_ + "/report.json"));
  std::vector<std::string> reasons;
  for (const json& d : report["devices"]) {
    reasons.push_back(d["name"].get<std::string>() + ":" + d["reason"].get<std::string>());
    EXPECT_TRUE(d["accounted"].get<bool>()) << d.dump();
    const std::uint64_t fired = d["fired"];
    EXPECT_EQ(fired, d["handled"].get<std::uint64_t>() + d["dropped"]["queue_full"].get<std::uint64_t>() +
                         d["dropped"]["after_drain"].get<std::uint64_t>());
    if (d["name"] == "nic0") {
      EXPECT_GE(d["handled"].get<std::uint64_t>(), scraped);
    }
  }
  EXPECT_EQ(reasons, (std::vector<std::string>{"nic1:command", "nic1:reload", "nic0:SIGTERM", "nic1:SIGTERM"}));
  EXPECT_EQ(report["totals"]["unbinds"], 4);
  EXPECT_EQ(report["totals"]["listed"], 4);
  EXPECT_EQ(report["totals"]["not_accounted"], 0);
  std::uint64_t leaked = 0;
  for (const json& d : report["devices"])
    for (const json& l : d["leaks"]) leaked += l["vectors"].size();
  EXPECT_GE(leaked, 3U) << "nic1's leaky driver leaks in each of its 3 bindings";
  EXPECT_EQ(report["totals"]["leaked_vectors"], leaked);
}

// `irqd ctl reload` of a file the daemon refuses: the daemon's reasons and
// exit 1, the running configuration kept; of a good file: exit 0. stats and
// plan through the real daemon: tables, cpus as a list in --json; the
// read-only requests are logged at debug, so not at the default info.
TEST_F(RunCli, CtlReloadReportsARejectedFileAndReadOnlyRequestsLogAtDebug) {
  const std::string good = config("rate:1000");
  write_config(good);
  test::FileActions actions;
  actions.open(STDIN_FILENO, "/dev/null", O_RDONLY);
  actions.open(STDOUT_FILENO, (dir_ + "/out").c_str(), O_WRONLY | O_CREAT | O_TRUNC);
  actions.open(STDERR_FILENO, (dir_ + "/err").c_str(), O_WRONLY | O_CREAT | O_TRUNC);
  test::Child child(IRQD_BINARY, {"irqd", "run", "--config", dir_ + "/irqd.toml"}, actions);
  const auto err = [&] { return slurp(dir_ + "/err"); };
  ASSERT_TRUE(eventually([&] { return device_handled(call(socket_, {{"cmd", "status"}}), "nic1") > 0; })) << err();

  write_config(good + "bogus = 1\n");
  const auto bad_line = std::to_string(std::count(good.begin(), good.end(), '\n') + 1);
  test::ProcessResult r = test::run_irqd({"ctl", "--socket", socket_, "reload"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "irqd: error: irqd ctl: reload refused, the running configuration stays: " + dir_ +
                       "/irqd.toml:" + bad_line +
                       ":1: unknown key 'bogus' in [device.driver] (accepted: name, plugin, max_vectors, options)\n");
  EXPECT_EQ(device_state(call(socket_, {{"cmd", "status"}}), "nic0"), "bound");

  write_config(good);
  r = test::run_irqd({"ctl", "--socket", socket_, "reload"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("reloaded the config\n")) << r.out;

  r = test::run_irqd({"ctl", "--socket", socket_, "stats", "nic0"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("DEVICE  FIRED  HANDLED  CALLS  DROPPED  P50")) << r.out;
  EXPECT_NE(r.out.find("\nnic0 vectors:\n  VECTOR  CPU  OWNERSHIP  HANDLED\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("entries)"), std::string::npos) << r.out;
  r = test::run_irqd({"ctl", "--socket", socket_, "--json", "stats", "nic0"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const json latency = json::parse(r.out)["devices"][0]["latency"];
  EXPECT_GT(latency["count"].get<std::uint64_t>(), 0u) << latency.dump();
  EXPECT_GT(latency["max_ns"].get<std::uint64_t>(), 0u) << latency.dump();  // exact, not a bucket bound
  r = test::run_irqd({"ctl", "--socket", socket_, "plan", "nic0"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("nic0: planner kernel, kernel ")) << r.out;
  EXPECT_NE(r.out.find("\n  VECTOR  MANAGED  SERVING  CPUS\n"), std::string::npos) << r.out;
  r = test::run_irqd({"ctl", "--socket", socket_, "--json", "plan", "nic0"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const json plan = json::parse(r.out);
  ASSERT_FALSE(plan["devices"][0]["vectors"].empty()) << r.out;
  for (const json& v : plan["devices"][0]["vectors"]) {
    EXPECT_TRUE(v["cpus"].is_array()) << v.dump();  // as `irqd plan --format json` gives it
    EXPECT_TRUE(v["serving_cpu"].is_number()) << v.dump();
  }

  ::kill(child.pid(), SIGTERM);
  ASSERT_EQ(child.wait(), 0) << err();
  const std::string log = err();
  EXPECT_NE(log.find("info control: reload from uid"), std::string::npos) << log;
  for (const char* read_only : {"control: status", "control: stats", "control: plan"})
    EXPECT_EQ(log.find(read_only), std::string::npos) << read_only << " logged at info:\n" << log;
}

// Type=notify: READY, STATUS with live rates, WATCHDOG, RELOADING on SIGHUP
// and STOPPING on SIGTERM, received on a NOTIFY_SOCKET of the test's own.
TEST_F(RunCli, TalksToSystemdThroughNotifySocket) {
  write_config(config("rate:1000"));
  const std::string notify_path = dir_ + "/notify.sock";
  test::Fd notify(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", notify_path.c_str());
  ASSERT_EQ(::bind(notify.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ::setenv("NOTIFY_SOCKET", notify_path.c_str(), 1);  // NOLINT(concurrency-mt-unsafe): one thread
  // 200 ms: pings every 100 ms at most.
  ::setenv("WATCHDOG_USEC", "200000", 1);  // NOLINT(concurrency-mt-unsafe): one thread
  test::FileActions actions;
  actions.open(STDIN_FILENO, "/dev/null", O_RDONLY);
  actions.open(STDERR_FILENO, (dir_ + "/err").c_str(), O_WRONLY | O_CREAT | O_TRUNC);
  test::Child child(IRQD_BINARY, {"irqd", "run", "--config", dir_ + "/irqd.toml"}, actions);
  ::unsetenv("NOTIFY_SOCKET");  // NOLINT(concurrency-mt-unsafe): one thread
  ::unsetenv("WATCHDOG_USEC");  // NOLINT(concurrency-mt-unsafe): one thread
  std::string seen;
  const auto receive = [&] {
    char buf[4096];
    for (ssize_t n; (n = ::recv(notify.get(), buf, sizeof buf, 0)) > 0;)
      seen.append(buf, static_cast<std::size_t>(n)) += '\n';
    return seen;
  };
  ASSERT_TRUE(eventually([&] { return receive().find("READY=1") != std::string::npos; })) << seen;
  ASSERT_TRUE(eventually([&] { return receive().find("WATCHDOG=1") != std::string::npos; })) << seen;
  ASSERT_TRUE(eventually([&] {
    return std::regex_search(receive(), std::regex("STATUS=2 devices bound, [0-9]+ irq/s"));
  })) << seen;
  ::kill(child.pid(), SIGHUP);
  ASSERT_TRUE(eventually([&] { return receive().find("RELOADING=1\nMONOTONIC_USEC=") != std::string::npos; })) << seen;
  ::kill(child.pid(), SIGTERM);
  EXPECT_EQ(child.wait(), 0) << slurp(dir_ + "/err");
  EXPECT_NE(receive().find("STOPPING=1"), std::string::npos) << seen;
}

TEST_F(RunCli, AnInvalidConfigurationIsRefusedWithItsPosition) {
  write_config("[[device]]\nname = \"nic0\"\ntype = \"software\"\nvectros = 8\nvectorz = 2\n");
  auto r = test::run_irqd({"run", "--config", dir_ + "/irqd.toml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  // Every error on its line, each with the prefix every irqd error has.
  EXPECT_EQ(r.err, "irqd: error: " + dir_ + "/irqd.toml:4:1: unknown key 'vectros' in [[device]] (did you mean " +
                       "'vectors'?)\nirqd: error: " + dir_ +
                       "/irqd.toml:5:1: unknown key 'vectorz' in [[device]] (did you mean 'vectors'?)\n");
}

// What stops irqd run from starting is one line with the prefix, exit 2:
// a report directory that is not there (with the reason, before anything
// is bound), a control socket that cannot be created.
TEST_F(RunCli, StartupErrorsAreOneLineWithThePrefix) {
  const std::string device = "[[device]]\nname = \"nic0\"\ntype = \"software\"\nvectors = 2\n";
  write_config("report = \"" + dir_ + "/missing/report.json\"\n[control]\nsocket = \"" + socket_ +
               "\"\n[metrics]\nenabled = false\n" + device);
  auto r = test::run_irqd({"run", "--config", dir_ + "/irqd.toml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "irqd: error: irqd run: " + dir_ + "/irqd.toml:1:10: report '" + dir_ +
                       "/missing/report.json': directory " + dir_ + "/missing: No such file or directory\n");
  EXPECT_FALSE(fs::exists(dir_ + "/missing")) << "irqd created the directory";

  write_config("[control]\nsocket = \"" + dir_ + "/a/b/irqd.sock\"\n[metrics]\nenabled = false\n" + device);
  r = test::run_irqd({"run", "--config", dir_ + "/irqd.toml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  // The log's "starting" line, then the error.
  std::vector<std::string> lines;
  std::istringstream in(r.err);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back(), "irqd: error: irqd run: " + dir_ + "/irqd.toml:2:10: cannot create the control socket's " +
                              "directory " + dir_ + "/a/b: No such file or directory");
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) EXPECT_NE(lines[i].find(" info "), std::string::npos) << r.err;
}

// What a new user tried: `irqd ctl unbind` / `bind` of a device firing at
// full rate, over and over. Each unbind report holds ~90 KiB of histograms;
// the daemon keeps the latest 32 and running totals, so after the history
// has filled its RSS stays put (keeping every report grew it by ~27 MiB
// over these 300 cycles), and the counters still count every cycle.
TEST_F(RunCli, RebindingOverAndOverKeepsTheDaemonsMemoryBounded) {
  write_config("[control]\nsocket = \"" + socket_ + "\"\n[metrics]\nport = " + std::to_string(port_) +
               "\n[[device]]\nname = \"nic0\"\ntype = \"software\"\nvectors = 4\npattern = \"saturate\"\n");
  test::FileActions actions;
  actions.open(STDIN_FILENO, "/dev/null", O_RDONLY);
  actions.open(STDOUT_FILENO, (dir_ + "/out").c_str(), O_WRONLY | O_CREAT | O_TRUNC);
  actions.open(STDERR_FILENO, "/dev/null", O_WRONLY);
  test::Child child(IRQD_BINARY, {"irqd", "run", "--config", dir_ + "/irqd.toml"}, actions);
  ASSERT_TRUE(eventually([&] { return device_handled(call(socket_, {{"cmd", "status"}}), "nic0") > 0; }));
  const auto cycle = [&](unsigned i) {
    json unbound = call(socket_, {{"cmd", "unbind"}, {"device", "nic0"}});
    ASSERT_TRUE(unbound["ok"].get<bool>()) << "cycle " << i << ": " << unbound.dump();
    ASSERT_TRUE(unbound["result"]["accounted"].get<bool>()) << "cycle " << i << ": " << unbound.dump();
    json bound = call(socket_, {{"cmd", "bind"}, {"device", "nic0"}});
    ASSERT_TRUE(bound["ok"].get<bool>()) << "cycle " << i << ": " << bound.dump();
  };
  constexpr unsigned kWarmup = 40;
  constexpr unsigned kCycles = 300;
  for (unsigned i = 0; i < kWarmup; ++i) ASSERT_NO_FATAL_FAILURE(cycle(i));
  const std::uint64_t rss = test::rss_kib(child.pid());
  const unsigned eventfds = eventfds_of(child.pid());
  for (unsigned i = kWarmup; i < kWarmup + kCycles; ++i) ASSERT_NO_FATAL_FAILURE(cycle(i));
  const std::uint64_t rss_end = test::rss_kib(child.pid());
  EXPECT_GT(rss, 0U);
  if (!test::kUnderSanitizer) {
    EXPECT_LE(rss_end, rss + 8 * 1024) << "daemon RSS " << rss << " KiB after " << kWarmup << " cycles, " << rss_end
                                       << " KiB after " << kWarmup + kCycles;
  }
  EXPECT_EQ(eventfds_of(child.pid()), eventfds);
  json status = call(socket_, {{"cmd", "status"}});
  EXPECT_EQ(status["result"]["unbinds"], kWarmup + kCycles);
  ::kill(child.pid(), SIGTERM);
  EXPECT_EQ(child.wait(), 0);
}

}  // namespace
}  // namespace irqd

namespace irqd {
namespace {

// Issue 14 item 11, as reported: a 252-vector software device, 8
// connections each sending one 64 KiB burst of {"cmd":"plan"} and reading
// nothing. The daemon answers each connection up to its 1 MiB output limit
// and then reads no more of it, so its memory grows by a few MiB, not by
// every answer of every burst; and SIGTERM still stops it, with no plan run
// after the signal.
TEST_F(RunCli, PlanBurstsFromClientsThatDoNotReadStayBoundedAndSigtermStillStops) {
  write_config("log_level = \"debug\"\n[control]\nsocket = \"" + socket_ +
               "\"\n[metrics]\nport = " + std::to_string(port_) +
               "\n[[device]]\nname = \"nic0\"\ntype = \"software\"\nvectors = 252\npattern = \"rate:1000\"\n"
               // leaky takes every vector the device has (count takes one per CPU).
               "[device.driver]\nname = \"leaky\"\n");
  test::FileActions actions;
  actions.open(STDIN_FILENO, "/dev/null", O_RDONLY);
  actions.open(STDOUT_FILENO, (dir_ + "/out").c_str(), O_WRONLY | O_CREAT | O_TRUNC);
  actions.open(STDERR_FILENO, (dir_ + "/err").c_str(), O_WRONLY | O_CREAT | O_TRUNC);
  test::Child child(IRQD_BINARY, {"irqd", "run", "--config", dir_ + "/irqd.toml"}, actions);
  const auto err = [&] { return slurp(dir_ + "/err"); };
  const auto plans_run = [&] {
    const std::string log = err();
    std::size_t n = 0;
    for (std::size_t at = log.find("control: plan from"); at != std::string::npos;
         at = log.find("control: plan from", at + 1))
      ++n;
    return n;
  };
  ASSERT_TRUE(eventually([&] { return device_handled(call(socket_, {{"cmd", "status"}}), "nic0") > 0; })) << err();
  const json one = call(socket_, {{"cmd", "plan"}});
  ASSERT_TRUE(one["ok"].get<bool>()) << one.dump();
  const std::size_t answer = one.dump().size() + 1;
  const std::uint64_t rss_before = test::rss_kib(child.pid());

  constexpr int kClients = 8;
  const std::string line = "{\"cmd\":\"plan\"}\n";
  std::string burst;
  while (burst.size() + line.size() <= 65536) burst += line;
  const std::size_t per_burst = burst.size() / line.size();
  std::vector<test::Fd> clients;
  for (int i = 0; i < kClients; ++i) {
    test::Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", socket_.c_str());
    ASSERT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::send(fd.get(), burst.data(), burst.size(), MSG_NOSIGNAL), static_cast<ssize_t>(burst.size()));
    clients.push_back(std::move(fd));
  }
  // Each connection gets at least its 1 MiB of answers (the one that
  // reaches the limit included), then at most what its socket buffer takes
  // (the kernel's wmem_default) and one more answer.
  const std::size_t limit = std::size_t{1} << 20;
  const std::size_t at_least = 1 + kClients * ((limit + answer - 1) / answer);
  std::size_t socket_buffer = 212992;
  std::ifstream("/proc/sys/net/core/wmem_default") >> socket_buffer;
  const std::size_t at_most = 1 + kClients * ((limit + socket_buffer) / answer + 2);
  // Stalled: every flooding connection's answers at the limit, so the
  // daemon reads no more of it.
  json control;
  ASSERT_TRUE(eventually([&] {
    control = call(socket_, {{"cmd", "status"}})["result"]["control"];
    return control.is_object() && control["stalled"] == kClients;
  })) << control.dump();
  const std::uint64_t rss_after = test::rss_kib(child.pid());
  const std::size_t ran = plans_run();
  EXPECT_GE(ran, at_least);
  EXPECT_LE(ran, at_most) << "answered past the output limit";
  EXPECT_LT(control["max_pending_output"].get<std::size_t>(), limit + answer);
  std::printf("daemon RSS %llu KiB before, %llu KiB with %d stalled bursts; %zu of %zu plans answered (%zu B each)\n",
              static_cast<unsigned long long>(rss_before), static_cast<unsigned long long>(rss_after), kClients, ran,
              1 + kClients * per_burst, answer);
  if (!test::kUnderSanitizer) {
    // Per connection: the limit plus one answer of output, a 64 KiB read,
    // and the allocator's slack; the unbounded daemon grew by 200 MB.
    EXPECT_LE(rss_after, rss_before + kClients * 2 * 1024 + 16 * 1024);
  }

  ::kill(child.pid(), SIGTERM);
  // Exited, not yet reaped (Child reaps it).
  ASSERT_TRUE(eventually([&] {
    siginfo_t si{};
    return ::waitid(P_PID, static_cast<id_t>(child.pid()), &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0;
  })) << "irqd run did not stop within 10 s of SIGTERM with stalled clients";
  EXPECT_EQ(child.wait(), 0) << err();
  const std::string log = err();
  const std::size_t stop = log.find("reason=SIGTERM");
  ASSERT_NE(stop, std::string::npos) << log;
  EXPECT_EQ(log.find("control: plan from", stop), std::string::npos) << "a plan ran after SIGTERM";
}

}  // namespace
}  // namespace irqd
