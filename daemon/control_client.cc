// SPDX-License-Identifier: GPL-2.0-only

#include "daemon/control_client.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <ctime>

#include "base/unique_fd.h"

namespace irqd {
namespace {

using json = nlohmann::ordered_json;

// A response bigger than this is not from irqd (stats of every vector of
// every device is a few MiB at most).
constexpr std::size_t kMaxResponse = std::size_t{64} << 20;
// How much longer than its start deadline the client waits for the daemon to
// say it started or cancelled a request.
constexpr std::uint64_t kVerdictGraceMs = 2000;

std::string connect_error(const std::string& path, int err) {
  switch (err) {
    case ENOENT: return fmt::format("is irqd run running? no socket at {}", path);
    case ECONNREFUSED: return fmt::format("is irqd run running? nothing listens on {} (a stale socket)", path);
    case EACCES:
    case EPERM:
      return fmt::format(
          "permission denied on {}: run as root, or as a member of the group named by [control] group in irqd's "
          "config",
          path);
    case EAGAIN: return fmt::format("irqd did not accept the connection on {} in time (is it stuck?)", path);
    default: return fmt::format("cannot connect to {}: {}", path, errno_string(err));
  }
}

Result<UniqueFd> connect_to(const std::string& path, int timeout_ms) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path)
    return Error{fmt::format("socket path '{}' is {} bytes long (accepted: 1..{} bytes)", path, path.size(),
                             sizeof addr.sun_path - 1)};
  std::copy(path.begin(), path.end(), static_cast<char*>(addr.sun_path));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Error{fmt::format("cannot create a socket: {}", errno_string(errno))};
  // The send timeout also bounds connect() on a Unix socket whose listener
  // has a full backlog.
  timeval tv{timeout_ms / 1000, static_cast<suseconds_t>(timeout_ms % 1000) * 1000};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  while (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    if (errno != EINTR) return Error{connect_error(path, errno)};
  return fd;
}

// False when the daemon stopped reading (it may still have answered: a
// refused peer gets its reason before the daemon closes).
bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::uint64_t now_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000 + static_cast<std::uint64_t>(ts.tv_nsec) / 1'000'000;
}

// "300 ms", "5 s", "2.5 s".
std::string duration_text(int ms) {
  if (ms < 1000) return fmt::format("{} ms", ms);
  if (ms % 1000 == 0) return fmt::format("{} s", ms / 1000);
  return fmt::format("{:.1f} s", ms / 1000.0);
}

// Reads whole lines; what follows the first one stays for the next call.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}

  enum class Got { kLine, kTimeout, kEof };
  // One line (without its newline) by deadline_ms (CLOCK_MONOTONIC), or why
  // there is none; an Error for a read error or an over-long answer.
  Result<Got> next(std::string& line, std::uint64_t deadline_ms, const std::string& path) {
    for (;;) {
      if (std::size_t nl = buffer_.find('\n'); nl != std::string::npos) {
        line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return Got::kLine;
      }
      if (buffer_.size() > kMaxResponse)
        return Error{fmt::format("irqd's answer on {} is over {} bytes without a newline", path, kMaxResponse)};
      const std::uint64_t now = now_ms();
      if (now >= deadline_ms) return Got::kTimeout;
      pollfd p{fd_, POLLIN, 0};
      const int n = ::poll(&p, 1, static_cast<int>(std::min<std::uint64_t>(deadline_ms - now, 1'000'000)));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Error{fmt::format("cannot wait for irqd's answer on {}: {}", path, errno_string(errno))};
      if (n == 0) continue;  // the deadline check above ends it
      char buf[65536];
      ssize_t got = ::read(fd_, buf, sizeof buf);
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got < 0) return Error{fmt::format("cannot read irqd's answer on {}: {}", path, errno_string(errno))};
      if (got == 0) return Got::kEof;
      buffer_.append(buf, static_cast<std::size_t>(got));
    }
  }

 private:
  int fd_;
  std::string buffer_;
};

bool is_started_line(const std::string& line) {
  json j = json::parse(line, nullptr, false);
  return j.is_object() && !j.contains("ok") && j.value("started", false);
}

Result<json> parse_response(const std::string& line, const std::string& path) {
  json response = json::parse(line, nullptr, false);
  if (response.is_discarded() || !response.is_object() || !response.contains("ok") || !response["ok"].is_boolean())
    return Error{fmt::format("malformed answer on {} (not an {{\"ok\":...}} object): {:.200}", path, line)};
  if (response["ok"].get<bool>()) return response.contains("result") ? response["result"] : json(nullptr);
  const json& error = response.contains("error") ? response["error"] : json();
  return Error{error.is_string() ? error.get<std::string>() : "irqd answered with an error and no message"};
}

}  // namespace

Result<json> control_call(const std::string& socket, const ControlRequest& request, int timeout_ms) {
  auto fd = connect_to(socket, timeout_ms);
  if (!fd) return fd.error();
  ControlRequest asked = request;
  if (asked.start_within_ms == 0)
    asked.start_within_ms =
        static_cast<unsigned>(std::clamp<int>(std::min<int>(timeout_ms, static_cast<int>(kControlStartTimeoutMs)), 1,
                                              static_cast<int>(kControlMaxStartWithinMs)));
  bool sent = send_all(fd->get(), control_request_line(asked) + "\n");
  int send_errno = errno;
  const std::string_view cmd = control_command_name(request.cmd);
  const std::uint64_t start = now_ms();
  // The daemon answers, or cancels what it has not started within
  // start_within_ms and says so: wait that long and a little more for its
  // word before calling it stuck.
  const std::uint64_t verdict_by = start + asked.start_within_ms + kVerdictGraceMs;
  const std::uint64_t answer_by = std::max<std::uint64_t>(start + static_cast<std::uint64_t>(timeout_ms), verdict_by);
  LineReader reader(fd->get());
  bool started = false;
  for (;;) {
    std::string line;
    auto got = reader.next(line, started ? answer_by : verdict_by, socket);
    if (!got) return got.error();
    if (*got == LineReader::Got::kLine) {
      if (!started && is_started_line(line)) {
        started = true;
        continue;
      }
      return parse_response(line, socket);
    }
    // A refused peer reads its reason; without one, the failed send is the
    // better message.
    if (!sent && !started)
      return Error{fmt::format("cannot send the request to {}: {}", socket, errno_string(send_errno))};
    const std::string waited = duration_text(static_cast<int>(now_ms() - start));
    if (started && *got == LineReader::Got::kTimeout)
      return Error{fmt::format(
          "irqd started the {} but did not finish it within {} on {}; it runs to completion: check with `irqd ctl "
          "status`",
          cmd, waited, socket)};
    if (started)
      return Error{fmt::format(
          "irqd closed the connection on {} after starting the {}; it runs to completion: check with `irqd ctl "
          "status`",
          socket, cmd)};
    if (*got == LineReader::Got::kTimeout)
      return Error{fmt::format(
          "irqd did not answer within {} on {}: not known whether the {} ran (it cancels what it has not started "
          "within {} and says so, and said nothing: is it stuck?); check with `irqd ctl status`",
          waited, socket, cmd, duration_text(static_cast<int>(asked.start_within_ms)))};
    return Error{fmt::format(
        "irqd closed the connection on {} without answering: not known whether the {} ran; check with `irqd ctl "
        "status`",
        socket, cmd)};
  }
}

}  // namespace irqd
