// SPDX-License-Identifier: GPL-2.0-only
//
// `irqd ctl` as a real process against an in-process ControlServer with a
// fake handler: the request each command sends, the readable output and
// --json, and the exit codes (0 answered, 1 daemon unreachable or error,
// 2 usage) with one line on stderr and nothing on stdout for errors.

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "base/tests/run_process.h"
#include "base/tests/temp_dir.h"
#include "daemon/control.h"

namespace irqd {
namespace {

using irqd::test::TempDir;

using json = nlohmann::ordered_json;
using test::describe;
using test::ProcessResult;
using test::run_irqd;

// What a daemon might answer; the real fields are irqd run's to choose, the
// client formats whatever comes.
json status_result() {
  return {{"version", "0.1.0"},
          {"uptime_s", 12.5},
          {"reactor", "io_uring"},
          {"devices",
           {{{"name", "nic0"}, {"state", "running"}, {"vectors", 64}, {"interrupts_per_s", 10000.25}},
            {{"name", "disk1"}, {"state", "unbound"}, {"vectors", 8}, {"interrupts_per_s", 0}}}}};
}

// stats and plan in the shape irqd run answers them (daemon/service.cc).
json stats_result() {
  json latency = {{"count", 1200000},   {"mean_ns", 1500},     {"p50_le_ns", 1000},
                  {"p99_le_ns", 10000}, {"p999_le_ns", 25000}, {"max_ns", 18250}};
  json idle = {{"count", 0}, {"mean_ns", 0}, {"p50_le_ns", 0}, {"p99_le_ns", 0}, {"p999_le_ns", 0}, {"max_ns", 0}};
  return {{"time_ns", 123456789},
          {"devices",
           {{{"name", "nic0"},
             {"handled", 1234567},
             {"invocations", 1200000},
             {"dropped", {{"queue_full", 3}}},
             {"fired", 1234570},
             {"latency", latency},
             {"vectors",
              {{{"index", 0}, {"cpu", 1}, {"ownership", "managed"}, {"handled", 1000}},
               {{"index", 1}, {"cpu", 3}, {"ownership", "managed"}, {"handled", 1233567}}}}},
            {{"name", "vfio1"},
             {"handled", 0},
             {"invocations", 0},
             {"dropped", {{"queue_full", 0}}},
             {"fired", nullptr},
             {"latency", idle},
             {"vectors", {{{"index", 0}, {"cpu", 0}, {"ownership", "explicit"}, {"handled", 0}}}}}}}};
}

json plan_result() {
  return {{"devices",
           {{{"name", "nic0"},
             {"planner", "kernel"},
             {"kernel_version", "6.18"},
             {"vectors",
              {{{"index", 0}, {"cpus", {0, 1, 2, 3}}, {"managed", true}, {"serving_cpu", 0}},
               {{"index", 1}, {"cpus", {4, 5, 7}}, {"managed", true}, {"serving_cpu", 4}}}}}}}};
}

// A shape the client does not know: printed generically; a row that holds
// a table of its own becomes a block.
json generic_result() {
  return {{"devices",
           {{{"name", "a"}, {"mode", "x"}, {"parts", {{{"id", 1}, {"size", 10}}, {{"id", 2}, {"size", 200}}}}},
            {{"name", "b"}, {"mode", "y"}, {"parts", {{{"id", 3}, {"size", 5}}}}}}}};
}

class CtlCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ControlOptions o;
    o.path = socket_path();
    auto server = ControlServer::start(o, [this](const ControlRequest& r) -> Result<json> {
      {
        std::lock_guard lock(mu_);
        seen_.push_back(r);
      }
      if (r.device == "nope") return Error{"no device 'nope' (accepted: nic0, disk1)"};
      switch (r.cmd) {
        case ControlCommand::kStatus: return status_result();
        case ControlCommand::kStats: return r.device == "generic" ? generic_result() : stats_result();
        case ControlCommand::kPlan: return r.device == "generic" ? generic_result() : plan_result();
        case ControlCommand::kReload: return json{{"changed", {"nic0"}}, {"unchanged", json::array()}};
        default: return json::object();
      }
    });
    ASSERT_TRUE(server) << server.error().message;
    server_ = std::move(*server);
  }

  std::string socket_path() const { return dir_.path() + "/irqd.sock"; }

  ProcessResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"ctl", "--socket", socket_path()});
    return run_irqd(args);
  }

  std::vector<ControlRequest> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

  TempDir dir_;
  std::mutex mu_;
  std::vector<ControlRequest> seen_;
  std::unique_ptr<ControlServer> server_;
};

void expect_success(const ProcessResult& r, const std::string& what) {
  EXPECT_EQ(r.exit_code, 0) << what << "\nstderr: " << r.err;
  EXPECT_EQ(r.err, "") << what;
}

void expect_failure(const ProcessResult& r, int code, const std::string& err, const std::string& what) {
  EXPECT_EQ(r.exit_code, code) << what;
  EXPECT_EQ(r.err, err) << what;
  EXPECT_EQ(r.out, "") << what;
}

TEST_F(CtlCliTest, StatusIsReadable) {
  ProcessResult r = ctl({"status"});
  expect_success(r, "status");
  EXPECT_EQ(r.out,
            "version:  0.1.0\n"
            "uptime_s: 12.5\n"
            "reactor:  io_uring\n"
            "devices:\n"
            "  NAME   STATE    VECTORS  INTERRUPTS_PER_S\n"
            "  nic0   running       64          10000.25\n"
            "  disk1  unbound        8                 0\n");
  ASSERT_EQ(seen().size(), 1U);
  EXPECT_EQ(seen()[0].cmd, ControlCommand::kStatus);
}

TEST_F(CtlCliTest, JsonPrintsTheResultAsSent) {
  ProcessResult r = ctl({"status", "--json"});
  expect_success(r, "status --json");
  EXPECT_EQ(r.out, status_result().dump(2) + "\n");
  r = ctl({"--json", "stats", "nic0"});
  expect_success(r, "--json stats nic0");
  EXPECT_EQ(json::parse(r.out), stats_result());
}

// A row per device with latency as P50/P99/MAX columns (the bucket bounds
// for the percentiles, the exact maximum), then each device's vectors as
// a table: never "(2 entries)", never a JSON blob in a cell.
TEST_F(CtlCliTest, StatsShowsDevicesThenTheirVectors) {
  ProcessResult r = ctl({"stats", "nic0"});
  expect_success(r, "stats nic0");
  EXPECT_EQ(r.out,
            "DEVICE    FIRED  HANDLED    CALLS  DROPPED  P50    P99     MAX\n"
            "nic0    1234570  1234567  1200000        3  <=1us  <=10us  18.25us\n"
            "vfio1         -        0        0        0  -      -       -\n"
            "\n"
            "nic0 vectors:\n"
            "  VECTOR  CPU  OWNERSHIP  HANDLED\n"
            "       0    1  managed       1000\n"
            "       1    3  managed    1233567\n"
            "\n"
            "vfio1 vectors:\n"
            "  VECTOR  CPU  OWNERSHIP  HANDLED\n"
            "       0    0  explicit         0\n");
  ASSERT_EQ(seen().size(), 1U);
  EXPECT_EQ(seen()[0].cmd, ControlCommand::kStats);
  EXPECT_EQ(seen()[0].device, "nic0");
}

TEST_F(CtlCliTest, PlanWithoutDeviceAsksForEveryDevice) {
  ProcessResult r = ctl({"plan"});
  expect_success(r, "plan");
  EXPECT_EQ(r.out,
            "nic0: planner kernel, kernel 6.18\n"
            "  VECTOR  MANAGED  SERVING  CPUS\n"
            "       0  true           0  0-3\n"
            "       1  true           4  4-5,7\n");
  ASSERT_EQ(seen().size(), 1U);
  EXPECT_EQ(seen()[0].cmd, ControlCommand::kPlan);
  EXPECT_EQ(seen()[0].device, "");
}

TEST_F(CtlCliTest, AnUnknownShapeIsPrintedGenericallyWithNestedTablesAsBlocks) {
  ProcessResult r = ctl({"stats", "generic"});
  expect_success(r, "stats generic");
  EXPECT_EQ(r.out,
            "devices:\n"
            "  name:  a\n"
            "  mode:  x\n"
            "  parts:\n"
            "    ID  SIZE\n"
            "     1    10\n"
            "     2   200\n"
            "\n"
            "  name:  b\n"
            "  mode:  y\n"
            "  parts:\n"
            "    ID  SIZE\n"
            "     3     5\n");
}

TEST_F(CtlCliTest, CommandsThatChangeSomethingConfirm) {
  ProcessResult r = ctl({"move", "nic0", "3", "1"});
  expect_success(r, "move");
  EXPECT_EQ(r.out, "moved nic0 vector 3 to CPU 1\n");
  r = ctl({"unbind", "nic0"});
  expect_success(r, "unbind");
  EXPECT_EQ(r.out, "unbound nic0\n");
  r = ctl({"bind", "nic0"});
  expect_success(r, "bind");
  EXPECT_EQ(r.out, "bound nic0\n");
  r = ctl({"reload"});
  expect_success(r, "reload");
  EXPECT_EQ(r.out,
            "reloaded the config\n"
            "changed:   nic0\n"
            "unchanged: (none)\n");
  r = ctl({"move", "nic0", "3", "1", "--json"});
  expect_success(r, "move --json");
  EXPECT_EQ(r.out, "{}\n");

  std::vector<ControlRequest> s = seen();
  ASSERT_EQ(s.size(), 5U);
  EXPECT_EQ(s[0].cmd, ControlCommand::kMove);
  EXPECT_EQ(s[0].device, "nic0");
  EXPECT_EQ(s[0].vector, 3U);
  EXPECT_EQ(s[0].cpu, 1U);
  EXPECT_EQ(s[1].cmd, ControlCommand::kUnbind);
  EXPECT_EQ(s[2].cmd, ControlCommand::kBind);
  EXPECT_EQ(s[3].cmd, ControlCommand::kReload);
}

TEST_F(CtlCliTest, DaemonErrorExitsOne) {
  ProcessResult r = ctl({"stats", "nope"});
  expect_failure(r, 1, "irqd: error: irqd ctl: no device 'nope' (accepted: nic0, disk1)\n", "stats nope");
  r = ctl({"unbind", "nope", "--json"});
  expect_failure(r, 1, "irqd: error: irqd ctl: no device 'nope' (accepted: nic0, disk1)\n", "unbind nope --json");
}

TEST_F(CtlCliTest, NoDaemonExitsOne) {
  std::string missing = dir_.path() + "/missing.sock";
  ProcessResult r = run_irqd({"ctl", "--socket", missing, "status"});
  expect_failure(r, 1, "irqd: error: irqd ctl: is irqd run running? no socket at " + missing + "\n", "missing");

  // A socket file nothing listens on (a daemon killed with SIGKILL).
  std::string stale = dir_.path() + "/stale.sock";
  {
    test::Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    stale.copy(static_cast<char*>(addr.sun_path), sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  }
  r = run_irqd({"ctl", "--socket", stale, "status"});
  expect_failure(
      r, 1, "irqd: error: irqd ctl: is irqd run running? nothing listens on " + stale + " (a stale socket)\n", "stale");
}

TEST_F(CtlCliTest, UsageErrorsAreOneLineAndExitTwo) {
  const std::string usage =
      "(accepted: irqd ctl [--socket PATH] [--json] status|stats [DEVICE]|plan [DEVICE]|move DEVICE VECTOR CPU|unbind "
      "DEVICE|bind DEVICE|reload)";
  struct Case {
    std::vector<std::string> args;
    std::string err;
  };
  const std::vector<Case> cases{
      {{}, "irqd: error: irqd ctl: no command " + usage},
      {{"frob"}, "irqd: error: irqd ctl: unknown command 'frob' " + usage},
      {{"status", "nic0"}, "irqd: error: irqd ctl: status takes 0 arguments, got 1 (accepted: irqd ctl status)"},
      {{"stats", "a", "b"},
       "irqd: error: irqd ctl: stats takes 0 to 1 argument, got 2 (accepted: irqd ctl stats [DEVICE])"},
      {{"move", "nic0", "3"},
       "irqd: error: irqd ctl: move takes 3 arguments, got 2 (accepted: irqd ctl move DEVICE VECTOR CPU)"},
      {{"move", "nic0", "x", "1"},
       "irqd: error: irqd ctl: VECTOR 'x' is not an integer 0..4294967295 (accepted: irqd ctl move DEVICE VECTOR CPU)"},
      {{"move", "nic0", "3", "1.5"},
       "irqd: error: irqd ctl: CPU '1.5' is not an integer 0..4294967295 (accepted: irqd ctl move DEVICE VECTOR CPU)"},
      {{"move", "nic0", "3", "4294967296"},
       "irqd: error: irqd ctl: CPU '4294967296' is not an integer 0..4294967295 (accepted: irqd ctl move DEVICE "
       "VECTOR CPU)"},
      {{"unbind"}, "irqd: error: irqd ctl: unbind takes 1 argument, got 0 (accepted: irqd ctl unbind DEVICE)"},
      {{"bind", ""}, "irqd: error: irqd ctl: DEVICE is empty (accepted: irqd ctl bind DEVICE)"},
  };
  for (const Case& k : cases) {
    std::vector<std::string> args{"ctl", "--socket", socket_path()};
    args.insert(args.end(), k.args.begin(), k.args.end());
    expect_failure(run_irqd(args), 2, k.err + "\n", describe(args));
  }
  // CLI11's own errors, with the accepted form.
  ProcessResult r = run_irqd({"ctl", "--frob", "status"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(r.err.starts_with("irqd: error: irqd ctl: ")) << r.err;
  EXPECT_TRUE(r.err.ends_with(" " + usage.substr(0, usage.size() - 1) + "; see irqd ctl --help)\n")) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  r = run_irqd({"ctl", "--socket", "", "status"});
  expect_failure(r, 2, "irqd: error: irqd ctl: --socket '' is empty (accepted: see irqd ctl --help)\n", "--socket ''");
  EXPECT_TRUE(seen().empty()) << "a usage error reached the daemon";
}

// `irqd ctl` run as nobody (65534): refused by the daemon (SO_PEERCRED) or
// by the socket file's mode. Forks, drops privileges and execs the binary.
// binary: a copy nobody can reach (the build folder may sit under a 0700
// directory, e.g. a clone in mktemp -d).
ProcessResult ctl_as_nobody(const std::string& binary, const std::vector<std::string>& args) {
  test::Pipe out = test::Pipe::make();
  test::Pipe err = test::Pipe::make();
  std::vector<std::string> argv{"irqd", "ctl"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) test::throw_errno("fork");
  if (pid == 0) {
    if (::dup2(out.write.get(), STDOUT_FILENO) < 0 || ::dup2(err.write.get(), STDERR_FILENO) < 0) ::_exit(126);
    if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(125);
    ::execv(binary.c_str(), cargv.data());
    ::_exit(127);
  }
  out.write.reset();
  err.write.reset();
  int status = 0;
  ::waitpid(pid, &status, 0);
  ProcessResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  // One line each at most: the pipes never fill up before the child exits.
  for (auto [fd, text] : {std::pair{out.read.get(), &r.out}, std::pair{err.read.get(), &r.err}}) {
    std::array<char, 4096> buf{};
    for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0;)
      text->append(buf.data(), static_cast<std::size_t>(n));
  }
  return r;
}

TEST(CtlCliPeer, AnotherUserIsToldPermissionDenied) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: the test runs irqd ctl as uid 65534 (run the test as root)";
  TempDir dir;  // 0755
  const std::string binary = dir.path() + "/irqd";
  std::filesystem::copy_file(IRQD_BINARY, binary);
  std::filesystem::permissions(binary, std::filesystem::perms(0755));
  auto handler = [](const ControlRequest&) -> Result<json> { return json::object(); };
  // Mode 0666: the daemon's SO_PEERCRED check refuses.
  ControlOptions open;
  open.path = dir.path() + "/open.sock";
  open.mode = 0666;
  auto server = ControlServer::start(open, handler);
  ASSERT_TRUE(server) << server.error().message;
  ProcessResult r = ctl_as_nobody(binary, {"--socket", open.path, "status"});
  expect_failure(r, 1, "irqd: error: irqd ctl: permission denied: uid 65534 is not root or the daemon's user\n",
                 "as nobody, mode 0666");

  // Mode 0660 (the default): the file itself refuses.
  ControlOptions closed;
  closed.path = dir.path() + "/closed.sock";
  auto closed_server = ControlServer::start(closed, handler);
  ASSERT_TRUE(closed_server) << closed_server.error().message;
  r = ctl_as_nobody(binary, {"--socket", closed.path, "status"});
  expect_failure(r, 1,
                 "irqd: error: irqd ctl: permission denied on " + closed.path +
                     ": run as root, or as a member of the group named by [control] group in irqd's config\n",
                 "as nobody, mode 0660");
}

}  // namespace
}  // namespace irqd
