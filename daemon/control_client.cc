// SPDX-License-Identifier: GPL-2.0-only

#include "daemon/control_client.h"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/unique_fd.h"

namespace irqd {
namespace {

using json = nlohmann::ordered_json;

// A response bigger than this is not from irqd (stats of every vector of
// every device is a few MiB at most).
constexpr std::size_t kMaxResponse = std::size_t{64} << 20;

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

Result<std::string> read_line(int fd, const std::string& path, int timeout_ms) {
  std::string line;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN)
      return Error{fmt::format("irqd did not answer within {} s on {}", timeout_ms / 1000, path)};
    if (n < 0) return Error{fmt::format("cannot read irqd's answer on {}: {}", path, errno_string(errno))};
    if (n == 0) return Error{fmt::format("irqd closed the connection on {} without answering", path)};
    std::string_view got(buf, static_cast<std::size_t>(n));
    if (std::size_t nl = got.find('\n'); nl != std::string_view::npos) {
      line.append(got.substr(0, nl));
      return line;
    }
    line.append(got);
    if (line.size() > kMaxResponse)
      return Error{fmt::format("irqd's answer on {} is over {} bytes without a newline", path, kMaxResponse)};
  }
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
  bool sent = send_all(fd->get(), control_request_line(request) + "\n");
  int send_errno = errno;
  auto line = read_line(fd->get(), socket, timeout_ms);
  if (!line) {
    // A refused peer reads its reason; without one, the failed send is the
    // better message.
    if (!sent) return Error{fmt::format("cannot send the request to {}: {}", socket, errno_string(send_errno))};
    return line.error();
  }
  return parse_response(*line, socket);
}

}  // namespace irqd
