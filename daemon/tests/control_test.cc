// SPDX-License-Identifier: GPL-2.0-only
//
// The control socket against a real ControlServer in a temporary directory,
// with a fake handler that echoes the typed request back: every command's
// request shape, bad input of every kind (each answered, the connection
// kept), over-long and byte-by-byte lines, pipelining, many clients, peers
// that leave early, stale sockets, a second server on the same path, and a
// peer with another uid (a child that drops to 65534) refused.

#include "daemon/control.h"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "base/tests/temp_dir.h"
#include "base/unique_fd.h"
#include "daemon/control_client.h"
#include "daemon/service.h"
#include "host/host.h"

namespace irqd {
namespace {

using irqd::test::TempDir;

using json = nlohmann::ordered_json;
using namespace std::string_literals;  // NOLINT(google-build-using-namespace): ""s only

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

[[noreturn]] void fail_errno(const std::string& what) { throw std::runtime_error(what + ": " + errno_string(errno)); }

// A directory under /tmp that everyone may traverse (the other-uid child
// has to reach the socket), removed with everything in it.
sockaddr_un address_of(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(static_cast<char*>(addr.sun_path), sizeof addr.sun_path - 1);
  return addr;
}

// A blocking client with a receive timeout, so that a server that never
// answers fails the test instead of hanging it.
class Client {
 public:
  explicit Client(const std::string& path) : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (!fd_.valid()) fail_errno("socket");
    timeval tv{20, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_un addr = address_of(path);
    if (::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) fail_errno("connect");
  }

  void send(std::string_view data) const {
    while (!data.empty()) {
      ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) fail_errno("send");
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // One response line without its newline; "<eof>" when the server closed.
  std::string read_line() {
    for (;;) {
      if (std::size_t nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      std::array<char, 65536> buf{};
      ssize_t n = ::read(fd_.get(), buf.data(), buf.size());
      if (n < 0) fail_errno("read");
      if (n == 0) return "<eof>";
      buffer_.append(buf.data(), static_cast<std::size_t>(n));
    }
  }

  json request(const std::string& line) {
    send(line + "\n");
    return json::parse(read_line());
  }

  void shutdown_write() const { ::shutdown(fd_.get(), SHUT_WR); }
  void close() { fd_.reset(); }
  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
  std::string buffer_;
};

// Echoes the typed request back; "missing" is an unknown device, "throw"
// makes the handler throw, "big" answers with a large result.
class FakeDaemon {
 public:
  static constexpr std::size_t kPad = 4096;
  ControlHandler handler() {
    return [this](const ControlRequest& r) -> Result<json> {
      {
        std::lock_guard lock(mu_);
        seen_.push_back(r);
      }
      if (r.device == "missing") return Error{"no device 'missing' (accepted: nic0)"};
      if (r.device == "throw") throw std::runtime_error("handler blew up");
      if (r.device == "big") return json{{"blob", std::string(std::size_t{4} << 20, 'x')}};
      if (r.device == "pad") return json{{"vector", r.vector}, {"pad", std::string(kPad, 'p')}};
      return json{{"cmd", control_command_name(r.cmd)},
                  {"device", r.device},
                  {"vector", r.vector},
                  {"cpu", r.cpu},
                  {"uid", r.peer.uid}};
    };
  }
  std::vector<ControlRequest> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  std::mutex mu_;
  std::vector<ControlRequest> seen_;
};

class ControlTest : public ::testing::Test {
 protected:
  std::string socket_path() const { return dir_.path() + "/run/irqd.sock"; }

  ControlOptions options() {
    ControlOptions o;
    o.path = socket_path();
    o.log = [this](const std::string& line) {
      std::lock_guard lock(log_mu_);
      log_.push_back(line);
    };
    return o;
  }

  std::unique_ptr<ControlServer> start(ControlOptions o) {
    auto server = ControlServer::start(std::move(o), daemon_.handler());
    if (!server) throw std::runtime_error("start: " + server.error().message);
    return std::move(*server);
  }

  std::vector<std::string> log() {
    std::lock_guard lock(log_mu_);
    return log_;
  }

  static json echo(const std::string& cmd, const std::string& device = "", unsigned vector = 0, unsigned cpu = 0) {
    return {{"ok", true},
            {"result", {{"cmd", cmd}, {"device", device}, {"vector", vector}, {"cpu", cpu}, {"uid", ::geteuid()}}}};
  }
  static json error(const std::string& message) { return {{"ok", false}, {"error", message}}; }

  TempDir dir_;
  FakeDaemon daemon_;
  std::mutex log_mu_;
  std::vector<std::string> log_;
};

TEST_F(ControlTest, EveryCommandReachesTheHandlerTyped) {
  auto server = start(options());
  Client c(socket_path());
  EXPECT_EQ(c.request(R"({"cmd":"status"})"), echo("status"));
  EXPECT_EQ(c.request(R"({"cmd":"stats"})"), echo("stats"));
  EXPECT_EQ(c.request(R"({"cmd":"stats","device":"nic0"})"), echo("stats", "nic0"));
  EXPECT_EQ(c.request(R"({"cmd":"plan"})"), echo("plan"));
  EXPECT_EQ(c.request(R"({"cmd":"plan","device":"nic0"})"), echo("plan", "nic0"));
  EXPECT_EQ(c.request(R"({"device":"nic0","cpu":1,"cmd":"move","vector":3})"), echo("move", "nic0", 3, 1));
  EXPECT_EQ(c.request(R"({"cmd":"move","device":"nic0","vector":4294967295,"cpu":0})"),
            echo("move", "nic0", 4294967295U, 0));
  EXPECT_EQ(c.request(R"({"cmd":"unbind","device":"nic0"})"), echo("unbind", "nic0"));
  EXPECT_EQ(c.request(R"({"cmd":"bind","device":"nic0"})"), echo("bind", "nic0"));
  EXPECT_EQ(c.request(R"({"cmd":"reload"})"), echo("reload"));

  std::vector<ControlRequest> seen = daemon_.seen();
  ASSERT_EQ(seen.size(), 10U);
  EXPECT_EQ(seen[5].cmd, ControlCommand::kMove);
  EXPECT_EQ(seen[5].vector, 3U);
  EXPECT_EQ(seen[5].cpu, 1U);
  EXPECT_EQ(seen[5].peer.uid, ::geteuid());
  EXPECT_EQ(seen[5].peer.pid, ::getpid());
}

TEST_F(ControlTest, ResponsesAreOneCompactLineEach) {
  auto server = start(options());
  Client c(socket_path());
  c.send("{\"cmd\":\"unbind\",\"device\":\"nic0\"}\n");
  EXPECT_EQ(c.read_line(), R"({"ok":true,"result":{"cmd":"unbind","device":"nic0","vector":0,"cpu":0,"uid":)" +
                               std::to_string(::geteuid()) + "}}");
  c.send("{\"cmd\":\"nope\"}\n");
  EXPECT_EQ(
      c.read_line(),
      R"x({"ok":false,"error":"unknown command \"nope\" (accepted commands: status, stats, plan, move, unbind, bind, reload)"})x");
}

TEST_F(ControlTest, MalformedJsonIsAnsweredAndTheConnectionKeepsServing) {
  auto server = start(options());
  Client c(socket_path());
  for (const char* bad : {R"({"cmd":)", "status", R"({"cmd":"status"} trailing)", "{'cmd':'status'}"}) {
    json r = c.request(bad);
    EXPECT_EQ(r["ok"], false) << bad;
    std::string message = r["error"];
    EXPECT_TRUE(message.starts_with("malformed JSON: parse error at line 1, column ")) << message;
    EXPECT_TRUE(message.ends_with(R"( (accepted: one JSON object per line, e.g. {"cmd":"status"}))")) << message;
    EXPECT_EQ(c.request(R"({"cmd":"status"})"), echo("status")) << "after " << bad;
  }
  EXPECT_EQ(daemon_.seen().size(), 4U);
}

TEST_F(ControlTest, InvalidUtf8IsReportedAsValidJson) {
  auto server = start(options());
  Client c(socket_path());
  json r = c.request("{\"cmd\":\"stats\",\"device\":\"\xff\"}");
  EXPECT_EQ(r["ok"], false);
  EXPECT_TRUE(r["error"].get<std::string>().starts_with("malformed JSON: ")) << r.dump();
  EXPECT_EQ(c.request(R"({"cmd":"status"})"), echo("status"));
}

// Found by daemon/tests/fuzz/control_fuzz: a number past a double's range
// makes nlohmann throw out_of_range, not parse_error, and it escaped
// parse_control_request(); the server's catch-all answered "internal error:
// [json.exception.out_of_range.406] ..." and logged an internal error for a
// malformed request.
TEST_F(ControlTest, NumberBeyondADoubleIsMalformedAndTheServerKeepsServing) {
  auto server = start(options());
  Client c(socket_path());
  for (const char* bad : {"1e4002", R"({"cmd":"move","device":"nic0","vector":1e400,"cpu":0})", "[-1e999]"}) {
    json r = c.request(bad);
    EXPECT_EQ(r["ok"], false) << bad;
    std::string message = r["error"];
    EXPECT_TRUE(message.starts_with("malformed JSON: number overflow parsing '")) << message;
    EXPECT_TRUE(message.ends_with(R"( (accepted: one JSON object per line, e.g. {"cmd":"status"}))")) << message;
    EXPECT_EQ(c.request(R"({"cmd":"status"})"), echo("status")) << "after " << bad;
  }
  EXPECT_EQ(daemon_.seen().size(), 3U);
  EXPECT_TRUE(log().empty()) << log().front();
}

// Found by daemon/tests/fuzz/control_fuzz: nlohmann parses any depth, but
// the value quoted in the error (dump()) recursed once per level; the
// 32000 levels a 64 KiB line holds overflowed the control thread's stack.
TEST_F(ControlTest, DeeplyNestedRequestIsRefusedAndTheServerKeepsServing) {
  auto server = start(options());
  Client c(socket_path());
  const std::size_t depth = 32000;
  for (const std::string& deep :
       {R"({"cmd":)" + std::string(depth, '[') + std::string(depth, ']') + "}",
        R"({"cmd":"stats","device":)" + std::string(depth, '[') + std::string(depth, ']') + "}"}) {
    ASSERT_LE(deep.size(), kControlMaxRequest);
    EXPECT_EQ(c.request(deep), error(R"(request nests 32001 levels deep (accepted: one flat JSON object per line, )"
                                     R"(e.g. {"cmd":"status"}))"));
    EXPECT_EQ(c.request(R"({"cmd":"status"})"), echo("status"));
  }
  auto shallow = parse_control_request(R"({"cmd":"stats","device":[[1]]})");
  ASSERT_FALSE(shallow);
  EXPECT_EQ(shallow.error().message, R"("device" must be a non-empty string, got [[1]] (accepted: {"cmd":"stats"} or )"
                                     R"({"cmd":"stats","device":"NAME"}))");
}

TEST_F(ControlTest, BadShapesNameTheValueAndTheAcceptedForm) {
  auto server = start(options());
  Client c(socket_path());
  const std::string commands = "status, stats, plan, move, unbind, bind, reload";
  const std::string move_form = R"({"cmd":"move","device":"NAME","vector":N,"cpu":N})";
  struct Case {
    const char* request;
    std::string error;
  };
  const std::vector<Case> cases{
      {"[1,2]", R"(request must be a JSON object, got array (accepted: e.g. {"cmd":"status"}))"},
      {"42", R"(request must be a JSON object, got number (accepted: e.g. {"cmd":"status"}))"},
      {R"({"device":"nic0"})",
       R"(request has no "cmd" (accepted commands: )" + commands + R"(; e.g. {"cmd":"status"}))"},
      {R"({"cmd":5})", R"("cmd" must be a string, got 5 (accepted commands: )" + commands + ")"},
      {R"({"cmd":"STATUS"})", R"(unknown command "STATUS" (accepted commands: )" + commands + ")"},
      {R"({"cmd":"status","device":"nic0"})",
       R"(unknown key "device" in a status request (accepted keys: cmd, start_within_ms; e.g. {"cmd":"status"}))"},
      {R"({"cmd":"reload","force":true})",
       R"(unknown key "force" in a reload request (accepted keys: cmd, start_within_ms; e.g. {"cmd":"reload"}))"},
      {R"({"cmd":"move","device":"nic0","vectr":3,"cpu":1})",
       R"(unknown key "vectr" in a move request (accepted keys: cmd, device, vector, cpu, start_within_ms; e.g. )" +
           move_form + ")"},
      {R"({"cmd":"stats","device":"nic0","vector":1})",
       R"(unknown key "vector" in a stats request (accepted keys: cmd, device, start_within_ms; e.g. {"cmd":"stats"} or {"cmd":"stats","device":"NAME"}))"},
      {R"({"cmd":"unbind"})", R"(unbind needs "device" (accepted: {"cmd":"unbind","device":"NAME"}))"},
      {R"({"cmd":"bind","device":""})",
       R"("device" must be a non-empty string, got "" (accepted: {"cmd":"bind","device":"NAME"}))"},
      {R"({"cmd":"plan","device":7})",
       R"("device" must be a non-empty string, got 7 (accepted: {"cmd":"plan"} or {"cmd":"plan","device":"NAME"}))"},
      {R"({"cmd":"move","vector":3,"cpu":1})", R"(move needs "device" (accepted: )" + move_form + ")"},
      {R"({"cmd":"move","device":"nic0","cpu":1})", R"(move needs "vector" (accepted: )" + move_form + ")"},
      {R"({"cmd":"move","device":"nic0","vector":1})", R"(move needs "cpu" (accepted: )" + move_form + ")"},
      {R"({"cmd":"move","device":"nic0","vector":-1,"cpu":1})",
       R"("vector" must be an integer 0..4294967295, got -1 (accepted: )" + move_form + ")"},
      {R"({"cmd":"move","device":"nic0","vector":1.5,"cpu":1})",
       R"("vector" must be an integer 0..4294967295, got 1.5 (accepted: )" + move_form + ")"},
      {R"({"cmd":"move","device":"nic0","vector":"3","cpu":1})",
       R"("vector" must be an integer 0..4294967295, got "3" (accepted: )" + move_form + ")"},
      {R"({"cmd":"move","device":"nic0","vector":3,"cpu":4294967296})",
       R"("cpu" must be an integer 0..4294967295, got 4294967296 (accepted: )" + move_form + ")"},
      {R"({"cmd":"move","device":"nic0","vector":3,"cpu":null})",
       R"("cpu" must be an integer 0..4294967295, got null (accepted: )" + move_form + ")"},
  };
  for (const Case& k : cases) {
    EXPECT_EQ(c.request(k.request), error(k.error)) << k.request;
  }
  EXPECT_TRUE(daemon_.seen().empty()) << "an invalid request reached the handler";
  EXPECT_EQ(c.request(R"({"cmd":"status"})"), echo("status"));
}

TEST_F(ControlTest, HandlerErrorsAndExceptionsAreAnswered) {
  auto server = start(options());
  Client c(socket_path());
  EXPECT_EQ(c.request(R"({"cmd":"stats","device":"missing"})"), error("no device 'missing' (accepted: nic0)"));
  EXPECT_EQ(c.request(R"({"cmd":"stats","device":"throw"})"), error("internal error: handler blew up"));
  EXPECT_EQ(c.request(R"({"cmd":"status"})"), echo("status"));
  std::vector<std::string> lines = log();
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_EQ(lines[0], "control: internal error answering pid " + std::to_string(::getpid()) + " uid " +
                          std::to_string(::geteuid()) + ": handler blew up");
}

TEST_F(ControlTest, OverLongLineGetsAnErrorThenTheNextRequestIsServed) {
  auto server = start(options());
  Client c(socket_path());
  std::string line(std::size_t{70} * 1024, 'a');
  c.send(line + "\n" + R"({"cmd":"stats","device":"nic0"})" + "\n");
  EXPECT_EQ(json::parse(c.read_line()), error("request over 65536 bytes"));
  EXPECT_EQ(json::parse(c.read_line()), echo("stats", "nic0"));
  EXPECT_EQ(daemon_.seen().size(), 1U);
}

TEST_F(ControlTest, OverLongLineIsAnsweredBeforeItsNewlineAndTheRestIsSkipped) {
  auto server = start(options());
  Client c(socket_path());
  // A line that would be a valid request if it were not too long: nothing
  // of it may reach the handler.
  c.send(R"({"cmd":"status","pad":")" + std::string(std::size_t{100} * 1024, 'p'));
  EXPECT_EQ(json::parse(c.read_line()), error("request over 65536 bytes"));
  c.send(std::string(std::size_t{100} * 1024, 'q') + "\"}\n" + R"({"cmd":"reload"})" + "\n");
  EXPECT_EQ(json::parse(c.read_line()), echo("reload"));
  std::vector<ControlRequest> seen = daemon_.seen();
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].cmd, ControlCommand::kReload);
}

TEST_F(ControlTest, ALineOfExactly64KiBIsServed) {
  auto server = start(options());
  Client c(socket_path());
  std::string request = R"({"cmd":"status"})";
  std::string at_limit = request + std::string(kControlMaxRequest - request.size(), ' ');
  ASSERT_EQ(at_limit.size(), 65536U);
  EXPECT_EQ(c.request(at_limit), echo("status"));
  EXPECT_EQ(c.request(at_limit + " "), error("request over 65536 bytes"));
  EXPECT_EQ(c.request(request), echo("status"));
}

TEST_F(ControlTest, RequestSentByteByByte) {
  auto server = start(options());
  Client c(socket_path());
  std::string request = R"({"cmd":"move","device":"nic0","vector":12,"cpu":3})"s + "\n";
  for (char ch : request) {
    c.send(std::string_view(&ch, 1));
    // Pacing only, so that the server sees many short reads; nothing
    // is measured.
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  EXPECT_EQ(json::parse(c.read_line()), echo("move", "nic0", 12, 3));
}

TEST_F(ControlTest, CrlfAndBlankLinesAreAccepted) {
  auto server = start(options());
  Client c(socket_path());
  c.send("\n   \n\r\n{\"cmd\":\"status\"}\r\n");
  EXPECT_EQ(json::parse(c.read_line()), echo("status"));
  EXPECT_EQ(daemon_.seen().size(), 1U);
}

TEST_F(ControlTest, PipelinedRequestsAreAnsweredInOrder) {
  auto server = start(options());
  Client c(socket_path());
  std::string batch;
  for (unsigned i = 0; i < 500; ++i)
    batch += R"({"cmd":"move","device":"nic0","vector":)" + std::to_string(i) + R"(,"cpu":1})" + "\n";
  c.send(batch);
  for (unsigned i = 0; i < 500; ++i) ASSERT_EQ(json::parse(c.read_line()), echo("move", "nic0", i, 1)) << i;
}

TEST_F(ControlTest, LargeResponsesAreWrittenWhole) {
  auto server = start(options());
  Client c(socket_path());
  // Several 4 MiB answers queued at once: far more than a socket buffer,
  // so the server writes them in pieces as the client reads.
  for (int i = 0; i < 3; ++i) c.send(R"({"cmd":"stats","device":"big"})"s + "\n");
  for (int i = 0; i < 3; ++i) {
    json r = json::parse(c.read_line());
    ASSERT_EQ(r["ok"], true);
    EXPECT_EQ(r["result"]["blob"].get<std::string>().size(), std::size_t{4} << 20);
  }
  EXPECT_EQ(c.request(R"({"cmd":"status"})"), echo("status"));
}

TEST_F(ControlTest, ManyClientsAtOnce) {
  auto server = start(options());
  constexpr int kClients = 64;
  std::vector<std::unique_ptr<Client>> clients;
  clients.reserve(kClients);
  for (int i = 0; i < kClients; ++i) clients.push_back(std::make_unique<Client>(socket_path()));
  // Every request in flight before any answer is read.
  for (int i = 0; i < kClients; ++i)
    clients[i]->send(R"({"cmd":"stats","device":"dev)" + std::to_string(i) + R"("})" + "\n");
  for (int i = 0; i < kClients; ++i)
    EXPECT_EQ(json::parse(clients[i]->read_line()), echo("stats", "dev" + std::to_string(i)));
  EXPECT_EQ(daemon_.seen().size(), static_cast<std::size_t>(kClients));

  // And from threads, each with its own connection.
  std::vector<std::thread> threads;
  threads.reserve(kClients);
  std::vector<int> good(kClients, 0);
  for (int i = 0; i < kClients; ++i)
    threads.emplace_back([&, i] {
      try {
        Client c(socket_path());
        for (int k = 0; k < 10; ++k)
          good[i] += c.request(R"({"cmd":"plan","device":"t)" + std::to_string(i) + R"("})") ==
                     echo("plan", "t" + std::to_string(i));
      } catch (const std::exception&) {
        good[i] = -1;
      }
    });
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kClients; ++i) EXPECT_EQ(good[i], 10) << "client " << i;
}

TEST_F(ControlTest, ConnectionsBeyondTheLimitAreToldToRetry) {
  auto server = start(options());
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 128; ++i) {
    clients.push_back(std::make_unique<Client>(socket_path()));
    // Answered means admitted: the next connection is accepted after it.
    ASSERT_EQ(clients.back()->request(R"({"cmd":"status"})"), echo("status")) << i;
  }
  Client extra(socket_path());
  EXPECT_EQ(json::parse(extra.read_line()), error("too many control connections (128 open); try again later"));
  EXPECT_EQ(extra.read_line(), "<eof>");
  clients.pop_back();
  // The freed slot is usable once the server has seen the close; a request
  // on a live connection orders the two.
  EXPECT_EQ(clients.front()->request(R"({"cmd":"status"})"), echo("status"));
  Client again(socket_path());
  EXPECT_EQ(again.request(R"({"cmd":"status"})"), echo("status"));
}

// The last reserved_for_root connections are root's (this test runs as
// root); the policy for other users is checked without forking below.
TEST_F(ControlTest, RootStillGetsInWhenUsersHoldEveryOtherSlot) {
  ControlOptions o = options();
  o.max_connections = 6;
  o.reserved_for_root = 2;
  auto server = start(o);
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 6; ++i) {
    clients.push_back(std::make_unique<Client>(socket_path()));
    ASSERT_EQ(clients.back()->request(R"({"cmd":"status"})"), echo("status")) << i;
  }
  Client extra(socket_path());
  EXPECT_EQ(json::parse(extra.read_line()), error("too many control connections (6 open); try again later"));
}

TEST(ControlLimits, UsersShareAllButRootsSlotsAndEachHasACap) {
  ControlOptions o;
  o.max_connections = 10;
  o.reserved_for_root = 3;
  o.max_per_uid = 4;
  const ControlPeer user{1, 1000, 1000};
  const ControlPeer root{1, 0, 0};
  EXPECT_TRUE(check_control_limits(user, 6, 3, o));
  EXPECT_EQ(check_control_limits(user, 7, 0, o).error().message,
            "too many control connections (7 open, the last 3 kept for root); try again later");
  EXPECT_EQ(check_control_limits(user, 5, 4, o).error().message,
            "uid 1000 already has 4 control connections (at most 4 per user); close one");
  EXPECT_TRUE(check_control_limits(root, 9, 9, o));
  EXPECT_EQ(check_control_limits(root, 10, 0, o).error().message,
            "too many control connections (10 open); try again later");
}

// A connection that sends nothing holds a slot for nothing: closed after
// idle_timeout_ms with the reason; one that keeps asking stays.
TEST_F(ControlTest, AnIdleConnectionIsToldAndClosed) {
  ControlOptions o = options();
  o.idle_timeout_ms = 300;
  auto server = start(o);
  Client idle(socket_path());
  Client busy(socket_path());
  EXPECT_EQ(busy.request(R"({"cmd":"status"})"), echo("status"));
  EXPECT_EQ(json::parse(idle.read_line()), error("idle for 300 ms: closed (connect again to send more)"));
  EXPECT_EQ(idle.read_line(), "<eof>");
  std::vector<std::string> lines = log();
  ASSERT_FALSE(lines.empty());
  EXPECT_TRUE(lines.front().ends_with(" idle for 300 ms")) << lines.front();
}

TEST_F(ControlTest, ClientsThatLeaveEarlyDoNotDisturbTheServer) {
  auto server = start(options());
  {
    Client c(socket_path());
    c.send(R"({"cmd":"sta)");  // mid-request
  }
  {
    Client c(socket_path());
    c.send(R"({"cmd":"stats","device":"big"})"s + "\n");  // leaves before its 4 MiB answer
  }
  {
    Client c(socket_path());
    c.send(std::string(std::size_t{80} * 1024, 'z'));  // mid over-long line
  }
  {
    Client c(socket_path());  // says nothing at all
  }
  Client c(socket_path());
  EXPECT_EQ(c.request(R"({"cmd":"status"})"), echo("status"));
}

TEST_F(ControlTest, ARequestWithoutItsNewlineIsNeverRun) {
  auto server = start(options());
  Client c(socket_path());
  c.send(R"({"cmd":"reload"})");
  c.shutdown_write();
  EXPECT_EQ(
      json::parse(c.read_line()),
      error(R"(request without a newline at end of input (accepted: one JSON object per line, each ended by \n))"));
  EXPECT_EQ(c.read_line(), "<eof>");
  {
    Client gone(socket_path());
    gone.send(R"({"cmd":"reload"})");
  }
  Client after(socket_path());
  EXPECT_EQ(after.request(R"({"cmd":"status"})"), echo("status"));
  std::vector<ControlRequest> seen = daemon_.seen();
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].cmd, ControlCommand::kStatus);
}

TEST_F(ControlTest, AnAnsweredClientThatShutsDownItsSideGetsEof) {
  auto server = start(options());
  Client c(socket_path());
  c.send(R"({"cmd":"status"})"s + "\n");
  c.shutdown_write();
  EXPECT_EQ(json::parse(c.read_line()), echo("status"));
  EXPECT_EQ(c.read_line(), "<eof>");
}

TEST_F(ControlTest, SocketFileModeDirectoryAndRemovalOnStop) {
  auto server = start(options());
  struct stat st {};
  ASSERT_EQ(::stat(socket_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660U);
  EXPECT_EQ(st.st_uid, ::geteuid());
  ASSERT_EQ(::stat((dir_.path() + "/run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755U);

  Client idle(socket_path());
  EXPECT_EQ(idle.request(R"({"cmd":"status"})"), echo("status"));
  server->stop();
  EXPECT_EQ(idle.read_line(), "<eof>");
  EXPECT_NE(::stat(socket_path().c_str(), &st), 0) << "the socket file outlived stop()";
  server->stop();  // idempotent
}

TEST_F(ControlTest, StaleSocketIsRemoved) {
  std::filesystem::create_directory(dir_.path() + "/run");
  {
    // A socket file nothing listens on, as a daemon killed with SIGKILL
    // leaves it.
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr = address_of(socket_path());
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(fd.get(), 1), 0);
  }
  ASSERT_TRUE(std::filesystem::exists(socket_path()));
  auto server = start(options());
  Client c(socket_path());
  EXPECT_EQ(c.request(R"({"cmd":"status"})"), echo("status"));
  std::vector<std::string> lines = log();
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_EQ(lines[0], "control: removed stale socket " + socket_path());
}

TEST_F(ControlTest, SecondServerOnTheSamePathIsRefused) {
  auto first = start(options());
  auto second = ControlServer::start(options(), daemon_.handler());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().message,
            "another irqd is serving " + socket_path() + " (stop it, or set [control] socket to another path)");
  Client c(socket_path());
  EXPECT_EQ(c.request(R"({"cmd":"status"})"), echo("status"));
}

TEST_F(ControlTest, StopLeavesAnotherServersSocketAlone) {
  auto first = start(options());
  // The file is replaced behind the first server's back (by hand, or by a
  // second daemon after the first was wedged): stop() must not remove it.
  ASSERT_EQ(::unlink(socket_path().c_str()), 0);
  auto second = start(options());
  first->stop();
  Client c(socket_path());
  EXPECT_EQ(c.request(R"({"cmd":"status"})"), echo("status"));
}

TEST_F(ControlTest, BadPathsAndGroupsAreRefused) {
  ControlOptions o = options();
  std::filesystem::create_directory(dir_.path() + "/run");
  { std::ofstream(socket_path()) << "not a socket"; }
  auto r = ControlServer::start(o, daemon_.handler());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            socket_path() + " exists and is not a socket (remove it, or set [control] socket to another path)");

  o.path = "/" + std::string(120, 'x');
  r = ControlServer::start(o, daemon_.handler());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "control socket path '" + o.path + "' is 121 bytes long (accepted: at most 107 bytes)");

  o.path = dir_.path() + "/missing/deeper/irqd.sock";
  r = ControlServer::start(o, daemon_.handler());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "cannot create the control socket's directory " + dir_.path() +
                                   "/missing/deeper: No such file or directory");

  o.path = dir_.path() + "/g.sock";
  o.group = "no-such-group-irqd";
  r = ControlServer::start(o, daemon_.handler());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "control group 'no-such-group-irqd' does not exist (accepted: a group in /etc/group, or \"\" for root and "
            "the daemon's user only)");
  EXPECT_FALSE(std::filesystem::exists(o.path));
}

TEST_F(ControlTest, ConfiguredGroupOwnsTheSocket) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the socket to group nogroup (run as root)";
  ControlOptions o = options();
  o.group = "nogroup";
  auto server = start(o);
  struct stat st {};
  ASSERT_EQ(::stat(socket_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, kNogroup);
  EXPECT_EQ(st.st_mode & 07777, 0660U);
}

// ---------------------------------------------------------------------------
// Peers with another uid: a forked child drops to nobody (65534) and
// reports what it read from the socket. The child uses raw system calls
// only (the parent has threads).

struct PeerOutcome {
  int exit_code = -1;  // 0: read to EOF; 20: connect failed (output holds errno)
  std::string output;
};

PeerOutcome connect_as_nobody(const std::string& path, const std::vector<gid_t>& groups, const std::string& request) {
  std::array<int, 2> pipe_fds{};
  if (::pipe2(pipe_fds.data(), O_CLOEXEC) != 0) fail_errno("pipe2");
  UniqueFd rd(pipe_fds[0]);
  UniqueFd wr(pipe_fds[1]);
  sockaddr_un addr = address_of(path);
  pid_t pid = ::fork();
  if (pid < 0) fail_errno("fork");
  if (pid == 0) {
    ::alarm(20);  // never outlive a wedged server
    if (::setgroups(groups.size(), groups.data()) != 0 || ::setgid(kNogroup) != 0 || ::setuid(kNobody) != 0)
      ::_exit(10);
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      int err = errno;
      char text[16];
      int len = 0;
      do text[len++] = static_cast<char>('0' + err % 10);
      while ((err /= 10) != 0 && len < 15);
      for (int i = len - 1; i >= 0; --i) ::write(wr.get(), &text[i], 1);
      ::_exit(20);
    }
    if (!request.empty()) {
      // The server may have closed already (a refused peer): EPIPE, not
      // SIGPIPE, and the reason is still there to read.
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
      ::shutdown(fd, SHUT_WR);
    }
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0) ::_exit(12);
      if (n == 0) ::_exit(0);
      ::write(wr.get(), buf, static_cast<std::size_t>(n));
    }
  }
  wr.reset();
  PeerOutcome out;
  char buf[4096];
  for (ssize_t n; (n = ::read(rd.get(), buf, sizeof buf)) > 0;) out.output.append(buf, static_cast<std::size_t>(n));
  int status = 0;
  ::waitpid(pid, &status, 0);
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return out;
}

class ControlPeerTest : public ControlTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0)
      GTEST_SKIP() << "needs root: the test forks a child that drops to uid 65534 (run the test as root)";
  }
};

TEST_F(ControlPeerTest, PeerWithAnotherUidIsRefusedBySoPeercred) {
  ControlOptions o = options();
  o.mode = 0666;  // the file lets anyone connect: SO_PEERCRED is what refuses
  auto server = start(o);
  PeerOutcome out = connect_as_nobody(socket_path(), {}, "");
  EXPECT_EQ(out.exit_code, 0) << "the child did not read to EOF (10: could not drop privileges)";
  EXPECT_EQ(out.output,
            R"({"ok":false,"error":"permission denied: uid 65534 is not root or the daemon's user"})"s + "\n");
  std::vector<std::string> lines = log();
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_TRUE(lines[0].starts_with("control: refused pid ")) << lines[0];
  EXPECT_TRUE(lines[0].ends_with(" uid 65534 gid 65534: permission denied: uid 65534 is not root or the daemon's user"))
      << lines[0];
  EXPECT_TRUE(daemon_.seen().empty());

  // The server goes on serving the rest.
  Client c(socket_path());
  EXPECT_EQ(c.request(R"({"cmd":"status"})"), echo("status"));
}

TEST_F(ControlPeerTest, RefusedPeerThatSentARequestStillReadsTheReason) {
  ControlOptions o = options();
  o.mode = 0666;
  o.group = "daemon";
  auto server = start(o);
  PeerOutcome out = connect_as_nobody(socket_path(), {}, R"({"cmd":"reload"})"s + "\n");
  EXPECT_TRUE(out.exit_code == 0 || out.exit_code == 12) << out.exit_code;  // EOF, or ECONNRESET after the line
  EXPECT_EQ(
      out.output,
      R"({"ok":false,"error":"permission denied: uid 65534 is not root, the daemon's user or in group daemon"})"s +
          "\n");
  EXPECT_TRUE(daemon_.seen().empty()) << "a refused peer's request reached the handler";
}

TEST_F(ControlPeerTest, DefaultModeKeepsOtherUsersOutAtTheFile) {
  auto server = start(options());  // 0660, root's group: nobody cannot even connect
  PeerOutcome out = connect_as_nobody(socket_path(), {}, "");
  EXPECT_EQ(out.exit_code, 20);
  EXPECT_EQ(out.output, std::to_string(EACCES));
}

TEST_F(ControlPeerTest, MembersOfTheGroupAreServed) {
  // Primary group: nogroup itself.
  {
    ControlOptions o = options();
    o.group = "nogroup";
    auto server = start(o);
    PeerOutcome out = connect_as_nobody(socket_path(), {}, R"({"cmd":"status"})"s + "\n");
    EXPECT_EQ(out.exit_code, 0);
    EXPECT_EQ(json::parse(out.output),
              (json{{"ok", true},
                    {"result", {{"cmd", "status"}, {"device", ""}, {"vector", 0}, {"cpu", 0}, {"uid", kNobody}}}}));
  }
  // Supplementary group: daemon (gid 1), read with SO_PEERGROUPS.
  {
    ControlOptions o = options();
    o.group = "daemon";
    auto server = start(o);
    PeerOutcome out = connect_as_nobody(socket_path(), {1}, R"({"cmd":"status"})"s + "\n");
    EXPECT_EQ(out.exit_code, 0);
    EXPECT_EQ(json::parse(out.output)["ok"], true) << out.output;
  }
}

// The read group may ask (status, stats, plan); changing state (move,
// unbind, bind, reload) needs root, the daemon's user or the admin group.
TEST_F(ControlPeerTest, TheReadGroupMayAskButNotChangeState) {
  ControlOptions o = options();
  o.group = "nogroup";  // nobody's primary group
  auto server = start(o);
  PeerOutcome out = connect_as_nobody(
      socket_path(), {},
      R"({"cmd":"stats"})"s + "\n" + R"({"cmd":"unbind","device":"nic0"})" + "\n" + R"({"cmd":"reload"})" + "\n");
  EXPECT_EQ(out.exit_code, 0) << out.output;
  std::vector<std::string> lines;
  std::istringstream in(out.output);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3U) << out.output;
  EXPECT_EQ(json::parse(lines[0])["ok"], true) << lines[0];
  EXPECT_EQ(json::parse(lines[1]),
            (json{{"ok", false},
                  {"error",
                   "permission denied: unbind changes state and uid 65534 may only read (status, stats, plan): that "
                   "needs root, the daemon's user (or a group set as [control] admin_group)"}}));
  EXPECT_EQ(json::parse(lines[2])["error"],
            "permission denied: reload changes state and uid 65534 may only read (status, stats, plan): that needs "
            "root, the daemon's user (or a group set as [control] admin_group)");
  const auto seen = daemon_.seen();
  ASSERT_EQ(seen.size(), 1U) << "a refused change reached the handler";
  EXPECT_EQ(seen[0].cmd, ControlCommand::kStats);
}

TEST_F(ControlPeerTest, TheAdminGroupMayChangeState) {
  // Admin group alone: the socket file is its, and its members are in.
  ControlOptions o = options();
  o.admin_group = "nogroup";
  auto server = start(o);
  PeerOutcome out = connect_as_nobody(socket_path(), {}, R"({"cmd":"unbind","device":"nic0"})"s + "\n");
  EXPECT_EQ(out.exit_code, 0) << out.output;
  EXPECT_EQ(json::parse(out.output)["ok"], true) << out.output;
  const auto seen = daemon_.seen();
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].cmd, ControlCommand::kUnbind);
  EXPECT_TRUE(seen[0].peer.may_change);
}

TEST(ControlCommands, OnlyStatusStatsAndPlanLeaveStateAlone) {
  std::string changing;
  for (const std::string_view name : {"status", "stats", "plan", "move", "unbind", "bind", "reload"})
    if (control_command_changes_state(*control_command_from_name(name))) changing += std::string(name) + " ";
  EXPECT_EQ(changing, "move unbind bind reload ");
}

TEST(ControlPeerPolicy, RootTheDaemonsUserAndTheGroup) {
  const std::vector<gid_t> none;
  EXPECT_TRUE(check_control_peer({1, 0, 0}, none, 1000, std::nullopt, ""));
  EXPECT_TRUE(check_control_peer({1, 1000, 1000}, none, 1000, std::nullopt, ""));
  EXPECT_TRUE(check_control_peer({1, 1001, 50}, none, 1000, 50, "irqd"));
  EXPECT_TRUE(check_control_peer({1, 1001, 100}, {7, 50}, 1000, 50, "irqd"));
  Status s = check_control_peer({1, 1001, 100}, {7}, 1000, 50, "irqd");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "permission denied: uid 1001 is not root, the daemon's user or in group irqd");
  s = check_control_peer({1, 1001, 50}, {50}, 1000, std::nullopt, "");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "permission denied: uid 1001 is not root or the daemon's user");
}

TEST(ControlRequestLine, RoundTripsEveryCommand) {
  ControlRequest move;
  move.cmd = ControlCommand::kMove;
  move.device = "nic0";
  move.vector = 7;
  move.cpu = 2;
  EXPECT_EQ(control_request_line(move), R"({"cmd":"move","device":"nic0","vector":7,"cpu":2})");
  ControlRequest stats;
  stats.cmd = ControlCommand::kStats;
  EXPECT_EQ(control_request_line(stats), R"({"cmd":"stats"})");
  for (const char* name : {"status", "stats", "plan", "move", "unbind", "bind", "reload"}) {
    ControlRequest r;
    r.cmd = *control_command_from_name(name);
    if (r.cmd == ControlCommand::kMove || r.cmd == ControlCommand::kUnbind || r.cmd == ControlCommand::kBind)
      r.device = "d";
    auto back = parse_control_request(control_request_line(r));
    ASSERT_TRUE(back) << name << ": " << back.error().message;
    EXPECT_EQ(back->cmd, r.cmd);
    EXPECT_EQ(back->device, r.device);
  }
  EXPECT_EQ(control_command_names(), "status, stats, plan, move, unbind, bind, reload");
  EXPECT_FALSE(control_command_from_name("Status"));
}

}  // namespace
}  // namespace irqd

namespace irqd {
namespace {

// Polls for an event the test waits for; false after 20 s (the test then
// fails on what it expected, instead of hanging).
template <typename Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 20'000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return pred();
}

json cancelled(const std::string& why) {
  return {{"ok", false}, {"cancelled", true}, {"error", "cancelled: " + why + " (it did not run)"}};
}

// Issue 14 item 11: 8 clients each send one 64 KiB burst of requests with
// 4 KiB answers and read nothing. The server takes one read chunk from
// each, answers one request at a time, and stops before a connection's
// unwritten answers pass kControlOutputLimit: the rest of each burst stays
// in the kernel. When the clients read, every request is answered, in order.
TEST_F(ControlTest, BurstsFromClientsThatDoNotReadStayBoundedThenAreAnsweredInOrder) {
  auto server = start(options());
  constexpr int kClients = 8;
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<unsigned> sent(kClients, 0);
  std::size_t longest_answer = 0;
  for (int i = 0; i < kClients; ++i) {
    std::string burst;
    for (unsigned v = 0;; ++v) {
      std::string line = R"({"cmd":"move","device":"pad","vector":)" + std::to_string(v) + R"(,"cpu":1})" + "\n";
      if (burst.size() + line.size() > kControlReadChunk) break;
      burst += line;
      sent[i] = v + 1;
      longest_answer = std::max(
          longest_answer,
          json{{"ok", true}, {"result", {{"vector", v}, {"pad", std::string(FakeDaemon::kPad, 'p')}}}}.dump().size() +
              1);
    }
    clients.push_back(std::make_unique<Client>(socket_path()));
    clients.back()->send(burst);
  }
  const std::uint64_t total = std::accumulate(sent.begin(), sent.end(), std::uint64_t{0});
  ASSERT_TRUE(eventually([&] { return server->stats().stalled == kClients; })) << server->stats().stalled;
  const ControlServerStats st = server->stats();
  // Answers stop the moment a connection's output reaches the limit: the
  // most it holds is just under the limit plus one answer.
  EXPECT_LT(st.max_pending_output, kControlOutputLimit + longest_answer);
  EXPECT_GE(st.max_pending_output, kControlOutputLimit);
  // Nothing is read while a complete request is waiting: one chunk at most.
  EXPECT_LE(st.max_buffered_input, kControlReadChunk);
  EXPECT_EQ(st.max_in_flight_per_connection, 1U);
  EXPECT_EQ(st.max_in_flight, 1U);  // an inline handler: one at a time in all
  EXPECT_EQ(st.handed_over, daemon_.seen().size());
  // Each connection was answered up to the limit (and what its socket
  // buffer took), no further.
  EXPECT_LT(st.handed_over, total);
  EXPECT_GE(st.handed_over, kClients * (kControlOutputLimit / longest_answer));

  for (int i = 0; i < kClients; ++i) {
    for (unsigned v = 0; v < sent[i]; ++v) {
      const std::string line = clients[i]->read_line();
      ASSERT_NE(line.find(R"("result":{"vector":)" + std::to_string(v) + ","), std::string::npos)
          << "client " << i << " answer " << v << ": " << line.substr(0, 80);
    }
    EXPECT_EQ(clients[i]->request(R"({"cmd":"status"})"), echo("status"));
  }
  EXPECT_EQ(daemon_.seen().size(), total + kClients);
  // Reading let the server go on; no connection ever held more.
  EXPECT_LT(server->stats().max_pending_output, kControlOutputLimit + longest_answer);
}

// Jobs the test runs (or not) by hand: a control thread under the test's control.
class HeldJobs {
 public:
  ControlAsyncHandler handler() {
    return [this](ControlJob job) {
      std::lock_guard lock(mu_);
      jobs_.push_back(std::move(job));
    };
  }
  ControlJob take(std::size_t i) {
    std::lock_guard lock(mu_);
    return std::move(jobs_.at(i));
  }

 private:
  std::mutex mu_;
  std::vector<ControlJob> jobs_;
};

class ControlJobTest : public ControlTest {
 protected:
  std::unique_ptr<ControlServer> start_held(ControlOptions o) {
    auto server = ControlServer::start(std::move(o), held_.handler());
    if (!server) throw std::runtime_error("start: " + server.error().message);
    return std::move(*server);
  }

  // Counts the runs of the requests it is given.
  ControlHandler counting() {
    return [this](const ControlRequest& r) -> Result<json> {
      ++runs_;
      return json{{"ran", control_command_name(r.cmd)}};
    };
  }

  HeldJobs held_;
  std::atomic<int> runs_{0};
};

// Issue 14 item 13: the client left before the request started: cancelled,
// and it never runs however late the control thread gets to it.
TEST_F(ControlJobTest, ARequestWhoseClientLeftBeforeItStartedNeverRuns) {
  auto server = start_held(options());
  auto c = std::make_unique<Client>(socket_path());
  c->send(R"({"cmd":"unbind","device":"nic0"})"s + "\n");
  ASSERT_TRUE(eventually([&] { return server->stats().handed_over == 1; }));
  c.reset();
  ASSERT_TRUE(eventually([&] { return server->stats().cancelled == 1; }));
  ControlJob job = held_.take(0);
  EXPECT_FALSE(job.run(counting()));
  EXPECT_EQ(runs_, 0);
  EXPECT_EQ(server->stats().in_flight, 0U);
  const std::vector<std::string> lines = log();
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_EQ(lines[0], "control: cancelled unbind from pid " + std::to_string(::getpid()) + " uid " +
                          std::to_string(::geteuid()) + ": the client closed the connection before it started");
}

// A request not started within its deadline is cancelled and the client
// told so; the control thread getting to it later does not run it.
TEST_F(ControlJobTest, ARequestNotStartedInTimeIsCancelledAndSaysSo) {
  ControlOptions o = options();
  o.start_timeout_ms = 50;
  auto server = start_held(o);
  Client c(socket_path());
  EXPECT_EQ(c.request(R"({"cmd":"unbind","device":"nic0"})"),
            cancelled("irqd's control thread did not start it within 50 ms"));
  // The request's own deadline wins over the server's.
  EXPECT_EQ(c.request(R"({"cmd":"reload","start_within_ms":30})"),
            cancelled("irqd's control thread did not start it within 30 ms"));
  for (std::size_t i = 0; i < 2; ++i) {
    ControlJob job = held_.take(i);
    EXPECT_FALSE(job.run(counting())) << i;
  }
  EXPECT_EQ(runs_, 0);
  EXPECT_TRUE(eventually([&] { return server->stats().cancelled == 2; })) << server->stats().cancelled;
}

// A request that started runs to completion though its client left; one
// that asked for it gets {"started":true} first.
TEST_F(ControlJobTest, AStartedRequestRunsToCompletionAfterItsClientLeft) {
  auto server = start_held(options());
  auto c = std::make_unique<Client>(socket_path());
  c->send(R"({"cmd":"unbind","device":"nic0","start_within_ms":60000})"s + "\n");
  ASSERT_TRUE(eventually([&] { return server->stats().handed_over == 1; }));
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  bool ran = false;
  std::thread control_thread([&, job = held_.take(0)]() mutable {
    ran = job.run([&](const ControlRequest&) -> Result<json> {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return release; });
      ++runs_;
      return json{{"unbound", true}};
    });
  });
  EXPECT_EQ(c->read_line(), R"({"started":true})");
  c.reset();
  ASSERT_TRUE(eventually([&] { return server->stats().connections == 0; }));
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  control_thread.join();
  EXPECT_TRUE(ran);
  EXPECT_EQ(runs_, 1);
  EXPECT_EQ(server->stats().cancelled, 0U);
}

TEST_F(ControlTest, AStartWithinRequestGetsTheStartedLineThenItsAnswer) {
  auto server = start(options());
  Client c(socket_path());
  c.send(R"({"cmd":"status","start_within_ms":1000})"s + "\n");
  EXPECT_EQ(c.read_line(), R"({"started":true})");
  EXPECT_EQ(json::parse(c.read_line()), echo("status"));
  EXPECT_EQ(c.request(R"({"cmd":"status","start_within_ms":0})")["error"],
            R"("start_within_ms" must be an integer 1..600000, got 0 (e.g. {"cmd":"status","start_within_ms":5000}))");
}

// Stop cancels every request not started; each client is told.
TEST_F(ControlJobTest, StopCancelsWhatHasNotStartedAndReturns) {
  auto server = start_held(options());
  constexpr int kClients = 4;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<Client>(socket_path()));
    clients.back()->send(R"({"cmd":"unbind","device":"nic0"})"s + "\n");
  }
  ASSERT_TRUE(eventually([&] { return server->stats().handed_over == kClients; }));
  server->stop();
  EXPECT_EQ(server->stats().cancelled, static_cast<std::uint64_t>(kClients));
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(json::parse(clients[i]->read_line()), cancelled("the control socket is stopping")) << i;
    EXPECT_EQ(clients[i]->read_line(), "<eof>");
    ControlJob job = held_.take(static_cast<std::size_t>(i));
    EXPECT_FALSE(job.run(counting()));
  }
  EXPECT_EQ(runs_, 0);
}

// The daemon's path: jobs posted to a real Host's control thread. A SIGTERM
// that arrives while the first of 8 queued requests runs stops the other 7
// from running: the signal is checked between any two requests, and run()
// returns.
class ControlHostTest : public ControlJobTest {
 protected:
  void SetUp() override {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old_mask_);  // before the server's thread starts: it inherits the mask
    signal_fd_ = UniqueFd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    ASSERT_TRUE(signal_fd_.valid());
    auto topo = Topology::load("live");
    ASSERT_TRUE(topo) << topo.error().message;
    topo_ = std::make_unique<Topology>(std::move(*topo));
    host_ = std::make_unique<Host>(*topo_, HostOptions{});
  }
  void TearDown() override {
    signalfd_siginfo si{};
    while (signal_fd_.valid() && ::read(signal_fd_.get(), &si, sizeof si) == sizeof si) {
    }
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  }

  std::unique_ptr<ControlServer> start_posting(ControlHandler answer) {
    auto server = ControlServer::start(options(), ControlAsyncHandler([this, answer](ControlJob job) {
                                         post_control_job(*host_, std::move(job), answer, [this](const std::string& l) {
                                           std::lock_guard lock(cancel_mu_);
                                           cancel_log_.push_back(l);
                                         });
                                       }));
    if (!server) throw std::runtime_error("start: " + server.error().message);
    return std::move(*server);
  }

  void run_host() {
    Host::RunOptions run;
    run.signal_fd = signal_fd_.get();
    run.keep_running = true;
    host_->run(run);
  }

  sigset_t old_mask_{};
  UniqueFd signal_fd_;
  std::unique_ptr<Topology> topo_;
  std::unique_ptr<Host> host_;
  std::mutex cancel_mu_;
  std::vector<std::string> cancel_log_;
};

TEST_F(ControlHostTest, ASignalWinsOverEveryQueuedRequest) {
  auto server = start_posting([this](const ControlRequest&) -> Result<json> {
    if (runs_++ == 0) pthread_kill(pthread_self(), SIGTERM);  // arrives while the first one runs
    return json{{"ran", true}};
  });
  constexpr int kClients = 8;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<Client>(socket_path()));
    clients.back()->send(R"({"cmd":"unbind","device":"nic0"})"s + "\n");
  }
  ASSERT_TRUE(eventually([&] { return server->stats().handed_over == kClients; }));
  run_host();  // returns: SIGTERM
  EXPECT_EQ(runs_, 1);
  int ok = 0;
  int stopping = 0;
  for (auto& c : clients) {
    json r = json::parse(c->read_line());
    ok += r == json{{"ok", true}, {"result", {{"ran", true}}}};
    stopping += r == cancelled("irqd is stopping");
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(stopping, kClients - 1);
  std::lock_guard lock(cancel_mu_);
  ASSERT_EQ(cancel_log_.size(), static_cast<std::size_t>(kClients - 1));
  EXPECT_EQ(cancel_log_[0], "control: cancelled unbind from uid " + std::to_string(::geteuid()) + " pid " +
                                std::to_string(::getpid()) + ": irqd is stopping");
}

// A stop request queued behind 3 requests and ahead of 3 more: the 3 before
// it run, run() returns at it, and the 3 after it never run.
TEST_F(ControlHostTest, RequestsQueuedBehindAStopRequestNeverRun) {
  auto server = start_posting(counting());
  std::vector<std::unique_ptr<Client>> clients;
  auto send = [&](int n) {
    for (int i = 0; i < n; ++i) {
      clients.push_back(std::make_unique<Client>(socket_path()));
      clients.back()->send(R"({"cmd":"unbind","device":"nic0"})"s + "\n");
      const std::size_t want = clients.size();
      ASSERT_TRUE(eventually([&] { return server->stats().handed_over == want; }));
    }
  };
  send(3);
  host_->request_stop("test");
  send(3);
  run_host();
  EXPECT_EQ(runs_, 3);
  for (std::size_t i = 0; i < clients.size(); ++i) {
    const json r = json::parse(clients[i]->read_line());
    if (i < 3)
      EXPECT_EQ(r, (json{{"ok", true}, {"result", {{"ran", "unbind"}}}})) << i;
    else
      EXPECT_EQ(r, cancelled("irqd dropped it before it started")) << i;
  }
}

// The client: a cancelled request is reported as not run; a started one
// that does not finish in time as running to completion; only a daemon
// that said neither is "not known".
TEST_F(ControlJobTest, TheClientSaysWhetherATimedOutRequestRan) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::vector<std::thread> control_threads;
  ControlAsyncHandler handler = [&](ControlJob job) {
    if (job.request().device == "slow") {
      control_threads.emplace_back([&, job = std::move(job)]() mutable {
        job.run([&](const ControlRequest&) -> Result<json> {
          std::unique_lock lock(mu);
          cv.wait(lock, [&] { return release; });
          ++runs_;
          return json::object();
        });
      });
      return;
    }
    held_.handler()(std::move(job));  // never run: the server cancels it at its deadline
  };
  auto server = ControlServer::start(options(), handler);
  ASSERT_TRUE(server) << server.error().message;
  ControlRequest unbind;
  unbind.cmd = ControlCommand::kUnbind;
  unbind.device = "nic0";
  auto r = control_call(socket_path(), unbind, 200);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "cancelled: irqd's control thread did not start it within 200 ms (it did not run)");

  unbind.device = "slow";
  r = control_call(socket_path(), unbind, 200);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().message.starts_with("irqd started the unbind but did not finish it within "))
      << r.error().message;
  EXPECT_TRUE(r.error().message.ends_with("; it runs to completion: check with `irqd ctl status`"))
      << r.error().message;
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  for (std::thread& t : control_threads) t.join();
  EXPECT_EQ(runs_, 1);
  (*server)->stop();

  // Something that accepts the connection and never says a word.
  const std::string mute = dir_.path() + "/mute.sock";
  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr = address_of(mute);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener.get(), 4), 0);
  unbind.device = "nic0";
  r = control_call(mute, unbind, 100);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().message.find("not known whether the unbind ran") != std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace irqd
