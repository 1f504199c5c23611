// SPDX-License-Identifier: GPL-2.0-only
//
// Runs the real irqd binary (IRQD_BINARY) for `irqd config check FILE` and
// `irqd config example`: the example passes the check (through a file and
// through a pipe into /dev/stdin), a good file gets one summary line on
// stdout, a bad one every error on stderr with its FILE:LINE:COLUMN, exit 2
// and nothing on stdout, and misuse of the command one line and exit 2.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "base/tests/run_process.h"
#include "base/tests/temp_dir.h"
#include "config/config.h"

namespace {

using irqd::test::TempDir;

using irqd::test::describe;
using irqd::test::ProcessResult;
using irqd::test::run_irqd;

unsigned free_port() {
  irqd::test::Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

std::string write_file(const TempDir& dir, const std::string& name, const std::string& text) {
  std::string path = dir / name;
  std::ofstream(path) << text;
  return path;
}

// What check says of the example's one device (the VFIO one is commented
// out: it runs on any machine as it is).
constexpr const char* kExampleSummary = "1 device: nic0 (software, 64 vectors, driver count)";

TEST(ConfigCli, ExamplePassesCheck) {
  ProcessResult example = run_irqd({"config", "example"});
  ASSERT_EQ(example.exit_code, 0) << example.err;
  EXPECT_EQ(example.err, "");
  EXPECT_EQ(example.out, irqd::example_config());
  EXPECT_TRUE(example.out.starts_with("# ")) << example.out;  // commented

  TempDir dir;
  const std::string path = write_file(dir, "irqd.toml", example.out);
  ProcessResult check = run_irqd({"config", "check", path});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_EQ(check.err, "");
  EXPECT_EQ(check.out, path + ": ok (" + std::string(kExampleSummary) + ")\n");
}

TEST(ConfigCli, ExamplePipedIntoCheckThroughStdin) {
  const std::string cmd =
      std::string("'") + IRQD_BINARY + "' config example | '" + IRQD_BINARY + "' config check /dev/stdin";
  ProcessResult r = irqd::test::run_process("/bin/sh", {"sh", "-c", cmd});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, std::string("/dev/stdin: ok (") + kExampleSummary + ")\n");
}

TEST(ConfigCli, DashReadsStandardInput) {
  const std::string cmd = std::string("'") + IRQD_BINARY + "' config example | '" + IRQD_BINARY + "' config check -";
  ProcessResult r = irqd::test::run_process("/bin/sh", {"sh", "-c", cmd});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, std::string("<stdin>: ok (") + kExampleSummary + ")\n");

  const std::string bad = std::string("printf '[[device]]\\nname = \"x\"\\ntype = \"software\"\\nvectros = 8\\n' | '") +
                          IRQD_BINARY + "' config check -";
  r = irqd::test::run_process("/bin/sh", {"sh", "-c", bad});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "irqd: error: <stdin>:4:1: unknown key 'vectros' in [[device]] (did you mean 'vectors'?)\n");
}

// `irqd config example > e.toml && irqd run --config e.toml` on this
// machine: it starts, serves, and stops cleanly on SIGTERM. The control
// socket and the metrics port are moved to the test's own (another irqd,
// or another run of this test, may hold the defaults); every other value is
// the example's.
TEST(ConfigCli, ExampleRunsOnThisMachine) {
  ProcessResult example = run_irqd({"config", "example"});
  ASSERT_EQ(example.exit_code, 0) << example.err;
  TempDir dir;
  std::string text = example.out;
  const auto swap = [&text](const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
  };
  swap("socket = \"/run/irqd/irqd.sock\"", "socket = \"" + dir.path() + "/irqd.sock\"");
  swap("port = 9477", "port = " + std::to_string(free_port()));
  const std::string path = write_file(dir, "e.toml", text);

  irqd::test::FileActions actions;
  actions.open(STDIN_FILENO, "/dev/null", O_RDONLY);
  actions.open(STDOUT_FILENO, (dir.path() + "/out").c_str(), O_WRONLY | O_CREAT | O_TRUNC);
  actions.open(STDERR_FILENO, (dir.path() + "/err").c_str(), O_WRONLY | O_CREAT | O_TRUNC);
  irqd::test::Child child(IRQD_BINARY, {"irqd", "run", "--config", path}, actions);
  const auto err = [&] { return irqd::test::slurp(dir.path() + "/err"); };
  bool serving = false;
  for (int i = 0; i < 1000 && !serving; ++i) {
    serving = err().find("serving 1 of 1 devices") != std::string::npos;
    if (!serving) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(serving) << err();
  ::kill(child.pid(), SIGTERM);
  EXPECT_EQ(child.wait(), 0) << err();
  EXPECT_EQ(err().find(" error "), std::string::npos) << err();
  EXPECT_NE(err().find(" info stopped"), std::string::npos) << err();
}

TEST(ConfigCli, OneDeviceSummary) {
  TempDir dir;
  const std::string path = write_file(dir, "one.toml",
                                      "[[device]]\nname = \"soft0\"\ntype = \"software\"\nvectors = 8\n"
                                      "driver.name = \"leaky\"\n");
  ProcessResult r = run_irqd({"config", "check", path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, path + ": ok (1 device: soft0 (software, 8 vectors, driver leaky))\n");
}

TEST(ConfigCli, CheckPrintsEveryErrorSortedAndExits2) {
  TempDir dir;
  const std::string path = write_file(dir, "bad.toml",
                                      "[metrics]\n"
                                      "port = 65536\n"
                                      "[[device]]\n"
                                      "name = \"nic0\"\n"
                                      "type = \"software\"\n"
                                      "vectros = 8\n"
                                      "[[device]]\n"
                                      "name = \"ssd0\"\n"
                                      "type = \"vfio\"\n"
                                      "address = \"0000:03:00.0\"\n"
                                      "pattern = \"saturate\"\n");
  ProcessResult r = run_irqd({"config", "check", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "irqd: error: " + path + ":2:8: 'metrics.port' is 65536 (accepted: 1..65535)\n" + "irqd: error: " + path +
                ":6:1: unknown key 'vectros' in [[device]] (did you mean 'vectors'?)\n" + "irqd: error: " + path +
                ":11:11: 'pattern' applies to software devices only, and device 'ssd0' is vfio\n");
}

TEST(ConfigCli, TomlSyntaxErrorHasItsPosition) {
  TempDir dir;
  const std::string path = write_file(dir, "syntax.toml", "[[device]]\nname = \"nic0\ntype = \"software\"\n");
  ProcessResult r = run_irqd({"config", "check", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "irqd: error: " + path +
                       ":2:13: Error while parsing string: unescaped control characters other than TAB (U+0009) are "
                       "explicitly prohibited\n");
}

TEST(ConfigCli, UnreadableFileIsOneLine) {
  TempDir dir;
  const std::string path = dir / "missing.toml";
  ProcessResult r = run_irqd({"config", "check", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "irqd: error: " + path + ": cannot open: No such file or directory\n");

  // Standard input is /dev/null here: an empty file.
  ProcessResult empty = run_irqd({"config", "check", "/dev/stdin"});
  EXPECT_EQ(empty.exit_code, 2);
  EXPECT_EQ(empty.out, "");
  EXPECT_EQ(empty.err, "irqd: error: /dev/stdin:1:1: no [[device]] table (accepted: at least one device)\n");
}

TEST(ConfigCli, MisuseIsOneLineAndExit2) {
  const std::string accepted = " (accepted: irqd config check FILE | irqd config example; see irqd config --help)\n";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"config"}, "irqd: error: irqd config: no subcommand" + accepted},
      {{"config", "verify"}, "irqd: error: irqd config: unknown subcommand 'verify'" + accepted},
      {{"config", "check"}, "irqd: error: irqd config check: no FILE" + accepted},
      {{"config", "check", ""}, "irqd: error: irqd config check: FILE '' is empty" + accepted},
      {{"config", "check", "a.toml", "b.toml"},
       "irqd: error: irqd config check: unexpected argument 'b.toml'" + accepted},
      {{"config", "check", "--strict", "a.toml"},
       "irqd: error: irqd config check: unexpected argument '--strict'" + accepted},
      {{"config", "example", "now"}, "irqd: error: irqd config example: unexpected argument 'now'" + accepted},
  };
  for (const auto& [args, err] : cases) {
    ProcessResult r = run_irqd(args);
    EXPECT_EQ(r.exit_code, 2) << describe(args);
    EXPECT_EQ(r.out, "") << describe(args);
    EXPECT_EQ(r.err, err) << describe(args);
  }
}

TEST(ConfigCli, HelpNamesBothSubcommands) {
  ProcessResult r = run_irqd({"config", "--help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("check"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("example"), std::string::npos) << r.out;
}

}  // namespace
