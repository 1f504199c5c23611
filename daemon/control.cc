// SPDX-License-Identifier: GPL-2.0-only

#include "daemon/control.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <limits>
#include <system_error>
#include <utility>

#include "base/unique_fd.h"

namespace irqd {
namespace {

using json = nlohmann::ordered_json;

// A request is one flat object; a value that is itself an array or object
// is refused with the value shown, up to this many levels in all.
constexpr int kMaxRequestLevels = 16;

// How a command takes its "device".
enum class DeviceArg { kNone, kOptional, kRequired };

struct CommandSpec {
  ControlCommand cmd;
  std::string_view name;
  DeviceArg device;
  bool vector_cpu;        // move: "vector" and "cpu"
  std::string_view form;  // the accepted request, for messages
};

constexpr std::array<CommandSpec, 7> kCommands{{
    {ControlCommand::kStatus, "status", DeviceArg::kNone, false, R"({"cmd":"status"})"},
    {ControlCommand::kStats, "stats", DeviceArg::kOptional, false,
     R"({"cmd":"stats"} or {"cmd":"stats","device":"NAME"})"},
    {ControlCommand::kPlan, "plan", DeviceArg::kOptional, false, R"({"cmd":"plan"} or {"cmd":"plan","device":"NAME"})"},
    {ControlCommand::kMove, "move", DeviceArg::kRequired, true, R"({"cmd":"move","device":"NAME","vector":N,"cpu":N})"},
    {ControlCommand::kUnbind, "unbind", DeviceArg::kRequired, false, R"({"cmd":"unbind","device":"NAME"})"},
    {ControlCommand::kBind, "bind", DeviceArg::kRequired, false, R"({"cmd":"bind","device":"NAME"})"},
    {ControlCommand::kReload, "reload", DeviceArg::kNone, false, R"({"cmd":"reload"})"},
}};

const CommandSpec& spec_of(ControlCommand cmd) {
  for (const CommandSpec& s : kCommands)
    if (s.cmd == cmd) return s;
  return kCommands.front();
}

// A value as it appeared in the request, for messages; invalid UTF-8 is
// replaced rather than thrown about.
std::string shown(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

// nlohmann's what() starts with "[json.exception.parse_error.101] ", which
// says nothing to a user.
std::string parse_error_text(const json::exception& e) {
  std::string_view what = e.what();
  if (std::size_t end = what.find("] "); what.starts_with("[json.exception.") && end != std::string_view::npos)
    what.remove_prefix(end + 2);
  return std::string(what);
}

Status check_keys(const json& request, const CommandSpec& spec) {
  std::string accepted = "cmd";
  if (spec.device != DeviceArg::kNone) accepted += ", device";
  if (spec.vector_cpu) accepted += ", vector, cpu";
  for (const auto& [key, value] : request.items()) {
    bool known = key == "cmd" || (key == "device" && spec.device != DeviceArg::kNone) ||
                 ((key == "vector" || key == "cpu") && spec.vector_cpu);
    if (!known)
      return Error{fmt::format("unknown key \"{}\" in a {} request (accepted keys: {}; e.g. {})", key, spec.name,
                               accepted, spec.form)};
  }
  return ok_status();
}

Result<std::string> device_arg(const json& request, const CommandSpec& spec) {
  auto it = request.find("device");
  if (it == request.end()) {
    if (spec.device == DeviceArg::kRequired)
      return Error{fmt::format("{} needs \"device\" (accepted: {})", spec.name, spec.form)};
    return std::string();
  }
  if (!it->is_string() || it->get_ref<const std::string&>().empty())
    return Error{fmt::format("\"device\" must be a non-empty string, got {} (accepted: {})", shown(*it), spec.form)};
  return it->get<std::string>();
}

Result<unsigned> unsigned_arg(const json& request, const char* key, const CommandSpec& spec) {
  auto it = request.find(key);
  if (it == request.end()) return Error{fmt::format("{} needs \"{}\" (accepted: {})", spec.name, key, spec.form)};
  // nlohmann keeps non-negative integers as unsigned, negative ones as
  // signed and anything with a fraction or exponent as a float.
  if (!it->is_number_unsigned() || it->get<std::uint64_t>() > std::numeric_limits<unsigned>::max())
    return Error{fmt::format("\"{}\" must be an integer 0..{}, got {} (accepted: {})", key,
                             std::numeric_limits<unsigned>::max(), shown(*it), spec.form)};
  return static_cast<unsigned>(it->get<std::uint64_t>());
}

}  // namespace

std::string_view control_command_name(ControlCommand cmd) { return spec_of(cmd).name; }

std::optional<ControlCommand> control_command_from_name(std::string_view name) {
  for (const CommandSpec& s : kCommands)
    if (s.name == name) return s.cmd;
  return std::nullopt;
}

std::string control_command_names() {
  std::string names;
  for (const CommandSpec& s : kCommands) names += fmt::format("{}{}", names.empty() ? "" : ", ", s.name);
  return names;
}

bool control_command_changes_state(ControlCommand cmd) {
  switch (cmd) {
    case ControlCommand::kStatus:
    case ControlCommand::kStats:
    case ControlCommand::kPlan: return false;
    case ControlCommand::kMove:
    case ControlCommand::kUnbind:
    case ControlCommand::kBind:
    case ControlCommand::kReload: return true;
  }
  return true;
}

Result<ControlRequest> parse_control_request(std::string_view line) {
  json request;
  int levels = 0;  // of nested objects and arrays
  auto nesting = [&levels](int depth, json::parse_event_t event, json&) {
    if (event == json::parse_event_t::object_start || event == json::parse_event_t::array_start)
      levels = std::max(levels, depth + 1);
    return true;
  };
  try {
    request = json::parse(line, nesting);
  } catch (const json::exception& e) {
    // parse_error, and out_of_range for a number past a double's range
    // ("1e400"): either one escaping would end the daemon.
    return Error{"malformed JSON: " + parse_error_text(e) +
                 R"( (accepted: one JSON object per line, e.g. {"cmd":"status"}))"};
  }
  // nlohmann parses any depth without recursion, but dump() (shown(), the
  // values quoted in messages) recurses once per level, and a 64 KiB line
  // holds 32000 of them: far more than a thread's stack takes.
  if (levels > kMaxRequestLevels)
    return Error{fmt::format(
        R"(request nests {} levels deep (accepted: one flat JSON object per line, e.g. {{"cmd":"status"}}))", levels)};
  if (!request.is_object())
    return Error{fmt::format(R"(request must be a JSON object, got {} (accepted: e.g. {{"cmd":"status"}}))",
                             request.type_name())};
  auto cmd = request.find("cmd");
  if (cmd == request.end())
    return Error{fmt::format(R"(request has no "cmd" (accepted commands: {}; e.g. {{"cmd":"status"}}))",
                             control_command_names())};
  if (!cmd->is_string())
    return Error{
        fmt::format(R"("cmd" must be a string, got {} (accepted commands: {}))", shown(*cmd), control_command_names())};
  auto known = control_command_from_name(cmd->get_ref<const std::string&>());
  if (!known)
    return Error{fmt::format("unknown command {} (accepted commands: {})", shown(*cmd), control_command_names())};
  const CommandSpec& spec = spec_of(*known);
  if (Status s = check_keys(request, spec); !s) return s.error();

  ControlRequest out;
  out.cmd = *known;
  auto device = device_arg(request, spec);
  if (!device) return device.error();
  out.device = std::move(*device);
  if (spec.vector_cpu) {
    auto vector = unsigned_arg(request, "vector", spec);
    if (!vector) return vector.error();
    auto cpu = unsigned_arg(request, "cpu", spec);
    if (!cpu) return cpu.error();
    out.vector = *vector;
    out.cpu = *cpu;
  }
  return out;
}

std::string control_request_line(const ControlRequest& request) {
  const CommandSpec& spec = spec_of(request.cmd);
  json line{{"cmd", spec.name}};
  if (spec.device != DeviceArg::kNone && !request.device.empty()) line["device"] = request.device;
  if (spec.vector_cpu) {
    line["vector"] = request.vector;
    line["cpu"] = request.cpu;
  }
  return shown(line);
}

std::string control_ok_line(const json& result) { return shown(json{{"ok", true}, {"result", result}}); }

std::string control_error_line(std::string_view message) {
  return shown(json{{"ok", false}, {"error", std::string(message)}});
}

Status check_control_peer(const ControlPeer& peer, const std::vector<gid_t>& peer_groups, uid_t daemon_euid,
                          std::optional<gid_t> group, std::string_view group_name) {
  if (peer.uid == 0 || peer.uid == daemon_euid) return ok_status();
  if (group && (peer.gid == *group || std::find(peer_groups.begin(), peer_groups.end(), *group) != peer_groups.end()))
    return ok_status();
  if (group)
    return Error{
        fmt::format("permission denied: uid {} is not root, the daemon's user or in group {}", peer.uid, group_name)};
  return Error{fmt::format("permission denied: uid {} is not root or the daemon's user", peer.uid)};
}

Status check_control_limits(const ControlPeer& peer, std::size_t open, std::size_t open_by_uid,
                            const ControlOptions& options) {
  if (open >= options.max_connections)
    return Error{fmt::format("too many control connections ({} open); try again later", open)};
  if (peer.uid == 0) return ok_status();
  const std::size_t for_users = options.max_connections - std::min(options.reserved_for_root, options.max_connections);
  if (open >= for_users)
    return Error{fmt::format("too many control connections ({} open, the last {} kept for root); try again later", open,
                             options.max_connections - for_users)};
  if (open_by_uid >= options.max_per_uid)
    return Error{fmt::format("uid {} already has {} control connections (at most {} per user); close one", peer.uid,
                             open_by_uid, options.max_per_uid)};
  return ok_status();
}

// ---------------------------------------------------------------------------
// The server.

namespace {

// A connection whose unread responses pass this is not read from until the
// peer catches up (a client that writes requests but never reads).
constexpr std::size_t kOutputHighWater = std::size_t{1} << 20;
constexpr std::size_t kReadChunk = 65536;
// After EMFILE and the like the listening socket stays readable: leave it
// out of the poll set this long instead of spinning on it.
constexpr int kAcceptPauseMs = 100;

struct Connection {
  UniqueFd fd;
  ControlPeer peer;
  std::uint64_t last_active_ns = 0;  // CLOCK_MONOTONIC: admitted, read from or written to
  std::string in;                    // the request line read so far
  std::string out;                   // response bytes from out_pos on are not yet written
  std::size_t out_pos = 0;
  bool skipping = false;     // inside an over-long line: drop bytes up to its newline
  bool read_closed = false;  // the peer shut its side down: answer what it sent, then close
  bool dead = false;         // close at the end of this round

  std::size_t pending_out() const { return out.size() - out_pos; }
};

Result<std::optional<gid_t>> resolve_group(const std::string& name) {
  if (name.empty()) return std::optional<gid_t>();
  long hint = ::sysconf(_SC_GETGR_R_SIZE_MAX);
  std::vector<char> buf(hint > 0 ? static_cast<std::size_t>(hint) : 1024);
  for (;;) {
    group gr{};
    group* found = nullptr;
    int rc = ::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found);
    if (rc == ERANGE) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (rc != 0) return Error{fmt::format("cannot look up control group '{}': {}", name, errno_string(rc))};
    if (found == nullptr)
      return Error{fmt::format(
          "control group '{}' does not exist (accepted: a group in /etc/group, or \"\" for root and the daemon's user "
          "only)",
          name)};
    return std::optional<gid_t>(gr.gr_gid);
  }
}

Result<sockaddr_un> socket_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty()) return Error{"control socket path is empty (accepted: a file path, e.g. /run/irqd/irqd.sock)"};
  if (path.find('\0') != std::string::npos) return Error{"control socket path contains a NUL byte"};
  if (path.size() >= sizeof addr.sun_path)
    return Error{fmt::format("control socket path '{}' is {} bytes long (accepted: at most {} bytes)", path,
                             path.size(), sizeof addr.sun_path - 1)};
  std::copy(path.begin(), path.end(), static_cast<char*>(addr.sun_path));
  return addr;
}

Status make_parent_directory(const std::string& path) {
  std::size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return ok_status();
  std::string parent = path.substr(0, slash);
  if (::mkdir(parent.c_str(), 0755) == 0 || errno == EEXIST) return ok_status();
  return Error{fmt::format("cannot create the control socket's directory {}: {}", parent, errno_string(errno))};
}

// A socket file left by a daemon that died is removed; one that something
// still answers on is not ours to take.
Status clear_stale_socket(const std::string& path, const sockaddr_un& addr,
                          const std::function<void(const std::string&)>& log) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return ok_status();
    return Error{fmt::format("cannot check control socket path {}: {}", path, errno_string(errno))};
  }
  if (!S_ISSOCK(st.st_mode))
    return Error{
        fmt::format("{} exists and is not a socket (remove it, or set [control] socket to another path)", path)};
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!probe.valid()) return Error{fmt::format("cannot create a socket: {}", errno_string(errno))};
  // Non-blocking: a listener with a full backlog answers EAGAIN instead of
  // making us wait, and is just as much alive.
  if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 || errno == EAGAIN ||
      errno == EINPROGRESS)
    return Error{fmt::format("another irqd is serving {} (stop it, or set [control] socket to another path)", path)};
  if (errno != ECONNREFUSED)
    return Error{fmt::format("cannot check the existing socket {}: {}", path, errno_string(errno))};
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return Error{fmt::format("cannot remove the stale socket {}: {}", path, errno_string(errno))};
  if (log) log(fmt::format("control: removed stale socket {}", path));
  return ok_status();
}

// The supplementary groups the peer had when it connected. SO_PEERGROUPS
// (Linux 4.13) reads them from the same credentials SO_PEERCRED does;
// /proc/PID/status would race with the peer exiting and its pid being
// reused by someone else. On error: none, so only the primary gid counts.
std::vector<gid_t> peer_groups(int fd) {
  std::vector<gid_t> groups(32);
  for (int tries = 0; tries < 4; ++tries) {
    auto len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) == 0) {
      groups.resize(len / sizeof(gid_t));
      return groups;
    }
    if (errno != ERANGE) break;
    groups.resize(len / sizeof(gid_t) + 1);  // the kernel says how much it needs
  }
  return {};
}

std::uint64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

// Best effort, for a connection about to be closed: the line fits in an
// empty socket buffer, and a peer that is already gone does not matter.
void send_and_forget(int fd, const std::string& line) {
  std::string data = line + "\n";
  [[maybe_unused]] ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

}  // namespace

struct ControlServer::State {
  ControlOptions options;
  ControlHandler handler;
  std::optional<gid_t> group;
  std::optional<gid_t> admin_group;
  uid_t euid = 0;
  UniqueFd listen_fd;
  UniqueFd wake_fd;
  dev_t socket_dev = 0;  // the socket file this server created, so that
  ino_t socket_ino = 0;  // stop() removes that one and no other
  std::vector<Connection> conns;

  void log(const std::string& line) const {
    if (options.log) options.log(line);
  }

  void run();
  int poll_timeout_ms(bool accept_paused) const;
  void close_idle();
  bool accept_all();
  void admit(UniqueFd fd);
  void service(Connection& c, short revents) const;
  void read_some(Connection& c) const;
  void feed(Connection& c, std::string_view data) const;
  void answer(Connection& c, std::string_view line) const;
  static void flush(Connection& c);
  void remove_socket_file() const;
};

void ControlServer::State::run() {
  bool accept_paused = false;
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    fds.push_back({wake_fd.get(), POLLIN, 0});
    fds.push_back({accept_paused ? -1 : listen_fd.get(), POLLIN, 0});
    for (const Connection& c : conns) {
      short events = 0;
      if (!c.read_closed && c.pending_out() < kOutputHighWater) events |= POLLIN;
      if (c.pending_out() > 0) events |= POLLOUT;
      fds.push_back({c.fd.get(), events, 0});
    }
    int n = ::poll(fds.data(), fds.size(), poll_timeout_ms(accept_paused));
    if (n < 0) {
      if (errno == EINTR) continue;
      log(fmt::format("control: poll failed, the control socket stops serving: {}", errno_string(errno)));
      return;
    }
    if (fds[0].revents != 0) return;  // stop()
    accept_paused = false;
    // Connections first: admit() appends to conns, which fds[2..] mirror.
    for (std::size_t i = 0; i < conns.size(); ++i)
      if (n > 0 && fds[i + 2].revents != 0) service(conns[i], fds[i + 2].revents);
    if (n > 0 && fds[1].revents != 0) accept_paused = !accept_all();
    close_idle();
    std::erase_if(conns, [](const Connection& c) { return c.dead; });
  }
}

// Until the first idle deadline, or the accept pause, whichever is first;
// -1 (for ever) when neither applies.
int ControlServer::State::poll_timeout_ms(bool accept_paused) const {
  int timeout = accept_paused ? kAcceptPauseMs : -1;
  if (options.idle_timeout_ms == 0 || conns.empty()) return timeout;
  std::uint64_t oldest = conns.front().last_active_ns;
  for (const Connection& c : conns) oldest = std::min(oldest, c.last_active_ns);
  const std::uint64_t deadline = oldest + std::uint64_t{options.idle_timeout_ms} * 1'000'000;
  const std::uint64_t now = now_ns();
  const std::uint64_t left_ms = now >= deadline ? 0 : (deadline - now + 999'999) / 1'000'000;
  const int until = static_cast<int>(std::min<std::uint64_t>(left_ms, std::numeric_limits<int>::max()));
  return timeout < 0 ? until : std::min(timeout, until);
}

// A connection that neither sent nor read anything for idle_timeout_ms
// holds a slot for nothing: told why, and closed.
void ControlServer::State::close_idle() {
  if (options.idle_timeout_ms == 0) return;
  const std::uint64_t now = now_ns();
  const std::uint64_t limit = std::uint64_t{options.idle_timeout_ms} * 1'000'000;
  for (Connection& c : conns) {
    if (c.dead || now - c.last_active_ns < limit) continue;
    send_and_forget(c.fd.get(), control_error_line(fmt::format("idle for {} ms: closed (connect again to send more)",
                                                               options.idle_timeout_ms)));
    log(fmt::format("control: closed pid {} uid {}: idle for {} ms", c.peer.pid, c.peer.uid, options.idle_timeout_ms));
    c.dead = true;
  }
}

// False when accepting has to pause (out of descriptors or memory).
bool ControlServer::State::accept_all() {
  for (;;) {
    UniqueFd fd(::accept4(listen_fd.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (fd.valid()) {
      admit(std::move(fd));
      continue;
    }
    switch (errno) {
      case EAGAIN: return true;
      case EINTR:
      case ECONNABORTED: continue;
      case EMFILE:
      case ENFILE:
      case ENOBUFS:
      case ENOMEM:
        log(fmt::format("control: cannot accept a connection, pausing {} ms: {}", kAcceptPauseMs, errno_string(errno)));
        return false;
      default: log(fmt::format("control: accept failed: {}", errno_string(errno))); return true;
    }
  }
}

void ControlServer::State::admit(UniqueFd fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    log(fmt::format("control: refused a connection: SO_PEERCRED failed: {}", errno_string(errno)));
    return;
  }
  ControlPeer peer{cred.pid, cred.uid, cred.gid};
  const std::vector<gid_t> groups = peer_groups(fd.get());
  const Status may_change = check_control_peer(peer, groups, euid, admin_group, options.admin_group);
  peer.may_change = may_change.ok();
  // In by the read group, or by the admin group alone.
  Status allowed = check_control_peer(peer, groups, euid, group, options.group);
  if (!allowed && admin_group && may_change) allowed = ok_status();
  if (!allowed) {
    log(fmt::format("control: refused pid {} uid {} gid {}: {}", peer.pid, peer.uid, peer.gid,
                    allowed.error().message));
    send_and_forget(fd.get(), control_error_line(allowed.error().message));
    return;
  }
  const auto by_uid = static_cast<std::size_t>(
      std::count_if(conns.begin(), conns.end(), [&](const Connection& c) { return c.peer.uid == peer.uid; }));
  if (Status room = check_control_limits(peer, conns.size(), by_uid, options); !room) {
    log(fmt::format("control: refused pid {} uid {}: {}", peer.pid, peer.uid, room.error().message));
    send_and_forget(fd.get(), control_error_line(room.error().message));
    return;
  }
  Connection c;
  c.fd = std::move(fd);
  c.peer = peer;
  c.last_active_ns = now_ns();
  conns.push_back(std::move(c));
}

void ControlServer::State::service(Connection& c, short revents) const {
  if ((revents & POLLNVAL) != 0) {
    c.dead = true;
    return;
  }
  if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0 && !c.read_closed) read_some(c);
  if (!c.dead && c.pending_out() > 0) flush(c);
  if (c.read_closed && c.pending_out() == 0) c.dead = true;
}

void ControlServer::State::read_some(Connection& c) const {
  // A few chunks per round, so that one busy client does not starve the
  // others; poll() says again that the rest is there.
  for (int round = 0; round < 4 && c.pending_out() < kOutputHighWater; ++round) {
    std::array<char, kReadChunk> buf{};
    ssize_t n = ::read(c.fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) c.dead = true;  // ECONNRESET: the peer went away mid-request
      return;
    }
    if (n == 0) {
      // A request counts when its newline arrives: a client that died
      // half-way through `{"cmd":"reload"}` must not reload. One that
      // only shut down its side may still read why nothing happened.
      c.read_closed = true;
      if (!c.skipping && c.in.find_first_not_of(" \t\r") != std::string::npos)
        c.out +=
            control_error_line(
                R"(request without a newline at end of input (accepted: one JSON object per line, each ended by \n))") +
            "\n";
      c.in.clear();
      return;
    }
    c.last_active_ns = now_ns();
    feed(c, std::string_view(buf.data(), static_cast<std::size_t>(n)));
  }
}

void ControlServer::State::feed(Connection& c, std::string_view data) const {
  while (!data.empty()) {
    std::size_t nl = data.find('\n');
    std::string_view piece = data.substr(0, nl);
    data.remove_prefix(nl == std::string_view::npos ? data.size() : nl + 1);
    if (c.skipping) {
      c.skipping = nl == std::string_view::npos;
      continue;
    }
    if (c.in.size() + piece.size() > kControlMaxRequest) {
      // Answered as soon as the line is known to be too long; the rest of
      // it, up to its newline, is dropped unread.
      c.in.clear();
      c.out += control_error_line(fmt::format("request over {} bytes", kControlMaxRequest)) + "\n";
      c.skipping = nl == std::string_view::npos;
      continue;
    }
    c.in += piece;
    if (nl == std::string_view::npos) return;
    std::string line = std::exchange(c.in, {});
    answer(c, line);
  }
}

void ControlServer::State::answer(Connection& c, std::string_view line) const {
  if (line.ends_with('\r')) line.remove_suffix(1);                      // CRLF from nc -C and the like
  if (line.find_first_not_of(" \t") == std::string_view::npos) return;  // blank lines are not requests
  std::string response;
  try {
    auto request = parse_control_request(line);
    if (!request) {
      response = control_error_line(request.error().message);
    } else {
      request->peer = c.peer;
      if (control_command_changes_state(request->cmd) && !c.peer.may_change) {
        response = control_error_line(fmt::format(
            "permission denied: {} changes state and uid {} may only read (status, stats, plan): that needs root, "
            "the daemon's user{}",
            control_command_name(request->cmd), c.peer.uid,
            options.admin_group.empty() ? " (or a group set as [control] admin_group)"
                                        : " or group " + options.admin_group));
        log(fmt::format("control: refused {} from pid {} uid {}: read-only peer", control_command_name(request->cmd),
                        c.peer.pid, c.peer.uid));
      } else {
        auto result = handler(*request);
        response = result ? control_ok_line(*result) : control_error_line(result.error().message);
      }
    }
  } catch (const std::exception& e) {
    // The handler builds JSON, which throws on misuse: the client gets an
    // answer and the server keeps going.
    log(fmt::format("control: internal error answering pid {} uid {}: {}", c.peer.pid, c.peer.uid, e.what()));
    response = control_error_line(std::string("internal error: ") + e.what());
  }
  c.out += response;
  c.out += '\n';
}

void ControlServer::State::flush(Connection& c) {
  while (c.pending_out() > 0) {
    ssize_t n = ::send(c.fd.get(), c.out.data() + c.out_pos, c.pending_out(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) c.dead = true;  // EPIPE: the peer left before reading its answer
      return;
    }
    c.out_pos += static_cast<std::size_t>(n);
    c.last_active_ns = now_ns();
  }
  if (c.pending_out() == 0) {
    c.out.clear();
    c.out_pos = 0;
  } else if (c.out_pos > kReadChunk && c.out_pos * 2 > c.out.size()) {
    // A client that reads slowly while it keeps asking would otherwise
    // grow the buffer by everything ever written to it.
    c.out.erase(0, c.out_pos);
    c.out_pos = 0;
  }
}

void ControlServer::State::remove_socket_file() const {
  struct stat st {};
  if (::lstat(options.path.c_str(), &st) == 0 && st.st_dev == socket_dev && st.st_ino == socket_ino)
    ::unlink(options.path.c_str());
}

Result<std::unique_ptr<ControlServer>> ControlServer::start(ControlOptions options, ControlHandler handler) {
  auto state = std::make_unique<State>();
  state->options = std::move(options);
  state->handler = std::move(handler);
  state->euid = ::geteuid();
  const std::string& path = state->options.path;

  auto addr = socket_address(path);
  if (!addr) return addr.error();
  auto group = resolve_group(state->options.group);
  if (!group) return group.error();
  state->group = *group;
  auto admin_group = resolve_group(state->options.admin_group);
  if (!admin_group) return admin_group.error();
  state->admin_group = *admin_group;
  if (Status s = make_parent_directory(path); !s) return s.error();
  if (Status s = clear_stale_socket(path, *addr, state->options.log); !s) return s.error();

  state->listen_fd = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!state->listen_fd.valid()) return Error{fmt::format("cannot create the control socket: {}", errno_string(errno))};
  if (::bind(state->listen_fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
    if (errno == EADDRINUSE)
      return Error{fmt::format("another irqd is serving {} (stop it, or set [control] socket to another path)", path)};
    return Error{fmt::format("cannot bind the control socket {}: {}", path, errno_string(errno))};
  }
  // From here on a failure removes the file it made. The mode and group are
  // set before listen(): until then a connect() is refused outright.
  auto fail = [&path](std::string what) -> Error {
    std::string message = fmt::format("{} {}: {}", what, path, errno_string(errno));
    ::unlink(path.c_str());
    return Error{std::move(message)};
  };
  if (::chmod(path.c_str(), state->options.mode) != 0) return fail("cannot set the mode of the control socket");
  // The owner stays the daemon's user (root for irqd run); only the group
  // changes, which a non-root daemon may do for a group it is in.
  // The file has one group: the read group, else the admin group (with
  // both set, an admin connects through the read group's file rights:
  // make admins members of both).
  const std::optional<gid_t> file_group = state->group ? state->group : state->admin_group;
  const std::string& file_group_name = state->group ? state->options.group : state->options.admin_group;
  if (file_group && ::chown(path.c_str(), static_cast<uid_t>(-1), *file_group) != 0)
    return fail(fmt::format("cannot give group {} the control socket", file_group_name));
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail("cannot stat the control socket");
  state->socket_dev = st.st_dev;
  state->socket_ino = st.st_ino;
  if (::listen(state->listen_fd.get(), SOMAXCONN) != 0) return fail("cannot listen on the control socket");
  state->wake_fd = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!state->wake_fd.valid()) return fail("cannot create the wake eventfd of the control socket");

  auto server = std::unique_ptr<ControlServer>(new ControlServer(std::move(state)));
  try {
    server->thread_ = std::thread([s = server->state_.get()] { s->run(); });
  } catch (const std::system_error& e) {
    ::unlink(path.c_str());
    return Error{fmt::format("cannot start the control socket's thread for {}: {}", path, e.what())};
  }
  return server;
}

ControlServer::ControlServer(std::unique_ptr<State> state) : state_(std::move(state)) {}

ControlServer::~ControlServer() { stop(); }

void ControlServer::stop() {
  if (!thread_.joinable()) return;
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(state_->wake_fd.get(), &one, sizeof one);
  thread_.join();
  state_->conns.clear();
  state_->listen_fd.reset();
  state_->remove_socket_file();
}

const std::string& ControlServer::path() const { return state_->options.path; }

}  // namespace irqd
