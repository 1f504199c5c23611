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
#include <mutex>
#include <system_error>
#include <utility>

#include "base/thread_name.h"
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
  accepted += ", start_within_ms";
  for (const auto& [key, value] : request.items()) {
    bool known = key == "cmd" || key == "start_within_ms" || (key == "device" && spec.device != DeviceArg::kNone) ||
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
  if (auto it = request.find("start_within_ms"); it != request.end()) {
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() < 1 ||
        it->get<std::uint64_t>() > kControlMaxStartWithinMs)
      return Error{fmt::format(
          R"("start_within_ms" must be an integer 1..{}, got {} (e.g. {{"cmd":"status","start_within_ms":5000}}))",
          kControlMaxStartWithinMs, shown(*it))};
    out.start_within_ms = static_cast<unsigned>(it->get<std::uint64_t>());
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
  if (request.start_within_ms != 0) line["start_within_ms"] = request.start_within_ms;
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
// A request handed over: the server and the thread that runs it share it.

struct ControlJob::Shared {
  enum class Phase { kQueued, kStarted, kFinished, kCancelled };

  ControlRequest request;
  std::shared_ptr<const UniqueFd> wake;  // the server's eventfd: the phase changed
  std::mutex mu;                         // guards what follows
  Phase phase = Phase::kQueued;
  std::string response;        // finished or cancelled: the answer line, no newline
  std::string internal_error;  // what the handler threw, for the server's log

  void notify() const {
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake->get(), &one, sizeof one);
  }
};

namespace {

std::string cancelled_line(std::string_view why) {
  return shown(json{{"ok", false}, {"cancelled", true}, {"error", fmt::format("cancelled: {} (it did not run)", why)}});
}

// Queued -> cancelled, from whichever side gets there first; false once the
// request started (it then runs to completion).
bool cancel_job(ControlJob::Shared& s, std::string_view why) {
  {
    std::lock_guard lock(s.mu);
    if (s.phase != ControlJob::Shared::Phase::kQueued) return false;
    s.phase = ControlJob::Shared::Phase::kCancelled;
    s.response = cancelled_line(why);
  }
  s.notify();
  return true;
}

}  // namespace

ControlJob::ControlJob(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
ControlJob::ControlJob(ControlJob&& other) noexcept = default;
ControlJob& ControlJob::operator=(ControlJob&& other) noexcept {
  if (this != &other) {
    if (shared_) cancel_job(*shared_, "irqd dropped it before it started");
    shared_ = std::move(other.shared_);
  }
  return *this;
}
// run() always finishes what it started, so only a queued request is left
// to settle here.
ControlJob::~ControlJob() {
  if (shared_) cancel_job(*shared_, "irqd dropped it before it started");
}

const ControlRequest& ControlJob::request() const { return shared_->request; }

bool ControlJob::cancel(std::string_view why) { return shared_ && cancel_job(*shared_, why); }

bool ControlJob::run(const ControlHandler& fn) {
  if (!shared_) return false;
  {
    std::lock_guard lock(shared_->mu);
    if (shared_->phase != Shared::Phase::kQueued) return false;
    shared_->phase = Shared::Phase::kStarted;
  }
  shared_->notify();  // the client may be waiting for {"started":true}
  std::string response;
  std::string internal_error;
  try {
    auto result = fn(shared_->request);
    response = result ? control_ok_line(*result) : control_error_line(result.error().message);
  } catch (const std::exception& e) {
    // The handler builds JSON, which throws on misuse: the client gets an
    // answer and the thread that runs requests keeps going.
    internal_error = e.what();
    response = control_error_line(std::string("internal error: ") + e.what());
  }
  {
    std::lock_guard lock(shared_->mu);
    shared_->response = std::move(response);
    shared_->internal_error = std::move(internal_error);
    shared_->phase = Shared::Phase::kFinished;
  }
  shared_->notify();
  return true;
}

// ---------------------------------------------------------------------------
// The server.

namespace {

// After EMFILE and the like the listening socket stays readable: leave it
// out of the poll set this long instead of spinning on it.
constexpr int kAcceptPauseMs = 100;

struct Connection {
  UniqueFd fd;
  ControlPeer peer;
  std::uint64_t last_active_ns = 0;  // CLOCK_MONOTONIC: admitted, read from, written to, or answered
  std::string in;                    // bytes read; from in_pos on not yet parsed
  std::size_t in_pos = 0;
  std::string out;  // response bytes from out_pos on are not yet written
  std::size_t out_pos = 0;
  // The one request in flight: handed over, not yet answered or cancelled.
  std::shared_ptr<ControlJob::Shared> job;
  std::uint64_t job_deadline_ns = 0;  // cancelled if not started by then
  bool job_started = false;           // seen started: the deadline no longer applies
  bool notify_start = false;          // the request asked for {"started":true}
  std::size_t jobs_in_flight = 0;     // for the stats: never more than 1
  bool skipping = false;              // inside an over-long line: drop bytes up to its newline
  bool read_closed = false;           // the peer shut its side down: answer what it sent, then close
  bool dead = false;                  // close at the end of this round

  std::size_t pending_out() const { return out.size() - out_pos; }
  std::size_t buffered_in() const { return in.size() - in_pos; }
  bool has_line() const { return !skipping && in.find('\n', in_pos) != std::string::npos; }
  // Read more only when everything read so far has been answered and the
  // answers are not piling up: the rest waits in the kernel's buffer.
  // A complete request buffered and nothing holding it back.
  bool runnable() const { return !dead && !job && pending_out() < kControlOutputLimit && has_line(); }
  bool wants_input() const {
    return !read_closed && !dead && !job && pending_out() < kControlOutputLimit && !has_line();
  }
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
  ControlAsyncHandler handler;
  std::optional<gid_t> group;
  std::optional<gid_t> admin_group;
  uid_t euid = 0;
  UniqueFd listen_fd;
  UniqueFd wake_fd;                         // stop()
  std::shared_ptr<const UniqueFd> done_fd;  // a job changed phase
  dev_t socket_dev = 0;                     // the socket file this server created, so that
  ino_t socket_ino = 0;                     // stop() removes that one and no other
  std::vector<Connection> conns;
  ControlServerStats counts;  // the loop's own copy
  mutable std::mutex stats_mu;
  ControlServerStats published;  // guarded by stats_mu

  void log(const std::string& line) const {
    if (options.log) options.log(line);
  }

  void run();
  int poll_timeout_ms(bool accept_paused) const;
  void close_idle();
  bool accept_all();
  void admit(UniqueFd fd);
  void service(Connection& c, short revents);
  void hang_up(Connection& c);
  void read_some(Connection& c);
  void expire(Connection& c);
  void pump(Connection& c);
  bool collect(Connection& c);
  std::optional<std::string> next_line(Connection& c);
  void answer(Connection& c, std::string_view line);
  void append(Connection& c, std::string_view line);
  void drop_job(Connection& c);
  void cancel_all(std::string_view why);
  void publish();
  static void flush(Connection& c);
  void remove_socket_file() const;
};

void ControlServer::State::run() {
  bool accept_paused = false;
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    fds.push_back({wake_fd.get(), POLLIN, 0});
    fds.push_back({done_fd->get(), POLLIN, 0});
    fds.push_back({accept_paused ? -1 : listen_fd.get(), POLLIN, 0});
    for (const Connection& c : conns) {
      short events = 0;
      if (c.wants_input()) events |= POLLIN;
      if (c.pending_out() > 0) events |= POLLOUT;
      // With no events asked, poll() still reports POLLHUP: a client that
      // leaves while its request waits cancels it.
      fds.push_back({c.fd.get(), events, 0});
    }
    publish();
    int n = ::poll(fds.data(), fds.size(), poll_timeout_ms(accept_paused));
    if (n < 0) {
      if (errno == EINTR) continue;
      log(fmt::format("control: poll failed, the control socket stops serving: {}", errno_string(errno)));
      return;
    }
    if (fds[0].revents != 0) return;  // stop()
    if (fds[1].revents != 0) {
      std::uint64_t count = 0;
      [[maybe_unused]] ssize_t r = ::read(done_fd->get(), &count, sizeof count);
    }
    accept_paused = false;
    // Connections first: admit() appends to conns, which fds[3..] mirror.
    // Every connection is pumped each round: a job may have finished.
    for (std::size_t i = 0; i < conns.size(); ++i) {
      Connection& c = conns[i];
      if (fds[i + 3].revents != 0) service(c, fds[i + 3].revents);
      if (c.dead) continue;
      expire(c);
      // Writing may bring the answers under the limit again with requests
      // still buffered: go on with them, a few rounds' worth, so that one
      // long pipeline does not starve the other connections (poll() does
      // not wait while one is runnable).
      for (int turn = 0; turn < 4 && !c.dead; ++turn) {
        pump(c);
        if (c.pending_out() > 0) flush(c);
        if (!c.runnable()) break;
      }
      if (!c.dead && c.read_closed && !c.job && c.pending_out() == 0 && !c.has_line()) c.dead = true;
    }
    if (n > 0 && fds[2].revents != 0) accept_paused = !accept_all();
    close_idle();
    for (Connection& c : conns)
      if (c.dead) drop_job(c);
    std::erase_if(conns, [](const Connection& c) { return c.dead; });
  }
}

// Until the first idle deadline, start deadline or the accept pause,
// whichever is first; -1 (for ever) when none applies.
int ControlServer::State::poll_timeout_ms(bool accept_paused) const {
  int timeout = accept_paused ? kAcceptPauseMs : -1;
  std::uint64_t deadline = 0;
  auto consider = [&deadline](std::uint64_t t) {
    if (deadline == 0 || t < deadline) deadline = t;
  };
  for (const Connection& c : conns) {
    if (c.runnable()) return 0;
    if (options.idle_timeout_ms != 0 && !c.job)
      consider(c.last_active_ns + std::uint64_t{options.idle_timeout_ms} * 1'000'000);
    if (c.job && !c.job_started) consider(c.job_deadline_ns);
  }
  if (deadline == 0) return timeout;
  const std::uint64_t now = now_ns();
  const std::uint64_t left_ms = now >= deadline ? 0 : (deadline - now + 999'999) / 1'000'000;
  const int until = static_cast<int>(std::min<std::uint64_t>(left_ms, std::numeric_limits<int>::max()));
  return timeout < 0 ? until : std::min(timeout, until);
}

// A connection that neither sent nor read anything for idle_timeout_ms
// holds a slot for nothing: told why, and closed. One whose request is in
// flight is waiting for the daemon, not idle.
void ControlServer::State::close_idle() {
  if (options.idle_timeout_ms == 0) return;
  const std::uint64_t now = now_ns();
  const std::uint64_t limit = std::uint64_t{options.idle_timeout_ms} * 1'000'000;
  for (Connection& c : conns) {
    if (c.dead || c.job || now - c.last_active_ns < limit) continue;
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

void ControlServer::State::service(Connection& c, short revents) {
  if ((revents & POLLNVAL) != 0) {
    c.dead = true;
    return;
  }
  // POLLHUP: the peer closed (both directions; a peer that only shut down
  // its writing side is POLLIN and a read of 0). Nobody is left to answer,
  // so nothing more of this connection starts.
  if ((revents & (POLLHUP | POLLERR)) != 0) {
    hang_up(c);
    return;
  }
  if ((revents & POLLIN) != 0 && c.wants_input()) read_some(c);
}

void ControlServer::State::hang_up(Connection& c) {
  if (c.job && cancel_job(*c.job, "its client closed the connection before it started")) {
    ++counts.cancelled;
    log(fmt::format("control: cancelled {} from pid {} uid {}: the client closed the connection before it started",
                    control_command_name(c.job->request.cmd), c.peer.pid, c.peer.uid));
  }
  c.dead = true;
}

// One chunk, and only when everything read before is answered: a burst of
// requests stays in the socket buffer, not in the daemon.
void ControlServer::State::read_some(Connection& c) {
  c.in.erase(0, c.in_pos);
  c.in_pos = 0;
  const std::size_t had = c.in.size();
  c.in.resize(had + kControlReadChunk);
  ssize_t n = 0;
  do {
    n = ::read(c.fd.get(), c.in.data() + had, kControlReadChunk);
  } while (n < 0 && errno == EINTR);
  c.in.resize(had + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
  if (n < 0) {
    if (errno != EAGAIN) c.dead = true;  // ECONNRESET: the peer went away mid-request
    return;
  }
  if (n == 0) {
    // A request counts when its newline arrives: a client that died
    // half-way through `{"cmd":"reload"}` must not reload. One that
    // only shut down its side may still read why nothing happened.
    c.read_closed = true;
    if (!c.skipping && !c.has_line() && c.in.find_first_not_of(" \t\r", c.in_pos) != std::string::npos) {
      append(
          c,
          control_error_line(
              R"(request without a newline at end of input (accepted: one JSON object per line, each ended by \n))"));
      c.in.clear();
      c.in_pos = 0;
    }
    return;
  }
  c.last_active_ns = now_ns();
  counts.max_buffered_input = std::max(counts.max_buffered_input, c.buffered_in());
}

// A request that waited past its start deadline is cancelled: the client
// learns it never ran instead of wondering whether it will.
void ControlServer::State::expire(Connection& c) {
  if (!c.job || c.job_started || now_ns() < c.job_deadline_ns) return;
  const unsigned ms = c.job->request.start_within_ms != 0 ? c.job->request.start_within_ms : options.start_timeout_ms;
  if (cancel_job(*c.job, fmt::format("irqd's control thread did not start it within {} ms", ms))) {
    ++counts.cancelled;
    log(fmt::format("control: cancelled {} from pid {} uid {}: not started within {} ms",
                    control_command_name(c.job->request.cmd), c.peer.pid, c.peer.uid, ms));
  }
}

// Answers what is ready, then hands over the next request, one at a time,
// until one is in flight, the answers pass the limit, or nothing complete
// is left to parse.
void ControlServer::State::pump(Connection& c) {
  for (;;) {
    if (c.job && !collect(c)) return;
    if (c.dead || c.pending_out() >= kControlOutputLimit) return;
    std::optional<std::string> line = next_line(c);
    if (!line) return;
    answer(c, *line);
  }
}

// The job's news: {"started":true} if asked for, and its answer once it has
// one. False while it is still queued or running.
bool ControlServer::State::collect(Connection& c) {
  ControlJob::Shared::Phase phase{};
  std::string response;
  std::string internal_error;
  {
    std::lock_guard lock(c.job->mu);
    phase = c.job->phase;
    if (phase == ControlJob::Shared::Phase::kFinished || phase == ControlJob::Shared::Phase::kCancelled) {
      response = std::move(c.job->response);
      internal_error = std::move(c.job->internal_error);
    }
  }
  using Phase = ControlJob::Shared::Phase;
  if (phase == Phase::kStarted || phase == Phase::kFinished) {
    if (c.notify_start && !c.job_started) append(c, R"({"started":true})");
    c.job_started = true;
  }
  if (phase == Phase::kQueued || phase == Phase::kStarted) return false;
  if (!internal_error.empty())
    log(fmt::format("control: internal error answering pid {} uid {}: {}", c.peer.pid, c.peer.uid, internal_error));
  append(c, response);
  c.job.reset();
  --c.jobs_in_flight;
  --counts.in_flight;
  c.last_active_ns = now_ns();
  return true;
}

// The next complete line, or nothing yet. A line over kControlMaxRequest is
// answered as soon as it is known to be too long; the rest of it, up to its
// newline, is dropped unparsed.
std::optional<std::string> ControlServer::State::next_line(Connection& c) {
  for (;;) {
    std::size_t nl = c.in.find('\n', c.in_pos);
    if (c.skipping) {
      c.in_pos = nl == std::string::npos ? c.in.size() : nl + 1;
      if (nl == std::string::npos) return std::nullopt;
      c.skipping = false;
      continue;
    }
    const std::size_t length = (nl == std::string::npos ? c.in.size() : nl) - c.in_pos;
    if (length > kControlMaxRequest) {
      append(c, control_error_line(fmt::format("request over {} bytes", kControlMaxRequest)));
      c.skipping = true;
      continue;
    }
    if (nl == std::string::npos) return std::nullopt;
    std::string line = c.in.substr(c.in_pos, length);
    c.in_pos = nl + 1;
    return line;
  }
}

void ControlServer::State::answer(Connection& c, std::string_view line) {
  if (line.ends_with('\r')) line.remove_suffix(1);                      // CRLF from nc -C and the like
  if (line.find_first_not_of(" \t") == std::string_view::npos) return;  // blank lines are not requests
  auto request = parse_control_request(line);
  if (!request) return append(c, control_error_line(request.error().message));
  request->peer = c.peer;
  if (control_command_changes_state(request->cmd) && !c.peer.may_change) {
    log(fmt::format("control: refused {} from pid {} uid {}: read-only peer", control_command_name(request->cmd),
                    c.peer.pid, c.peer.uid));
    return append(c, control_error_line(fmt::format(
                         "permission denied: {} changes state and uid {} may only read (status, stats, plan): that "
                         "needs root, the daemon's user{}",
                         control_command_name(request->cmd), c.peer.uid,
                         options.admin_group.empty() ? " (or a group set as [control] admin_group)"
                                                     : " or group " + options.admin_group)));
  }
  auto job = std::make_shared<ControlJob::Shared>();
  job->request = std::move(*request);
  job->wake = done_fd;
  const unsigned within = job->request.start_within_ms != 0 ? job->request.start_within_ms : options.start_timeout_ms;
  c.job = job;
  c.job_deadline_ns = now_ns() + std::uint64_t{within} * 1'000'000;
  c.job_started = false;
  c.notify_start = job->request.start_within_ms != 0;
  ++c.jobs_in_flight;
  ++counts.in_flight;
  ++counts.handed_over;
  counts.max_in_flight = std::max(counts.max_in_flight, counts.in_flight);
  counts.max_in_flight_per_connection = std::max(counts.max_in_flight_per_connection, c.jobs_in_flight);
  try {
    handler(ControlJob(std::move(job)));  // a handler that lets the job go has cancelled it
  } catch (const std::exception& e) {
    log(fmt::format("control: internal error handing over {} from pid {} uid {}: {}",
                    control_command_name(c.job->request.cmd), c.peer.pid, c.peer.uid, e.what()));
    cancel_job(*c.job, std::string("internal error: ") + e.what());
  }
}

void ControlServer::State::append(Connection& c, std::string_view line) {
  c.out += line;
  c.out += '\n';
  counts.max_pending_output = std::max(counts.max_pending_output, c.pending_out());
}

// A connection about to close: its request is cancelled if it has not
// started; one that started finishes on its own, its answer dropped.
void ControlServer::State::drop_job(Connection& c) {
  if (!c.job) return;
  if (cancel_job(*c.job, "its connection closed before it started")) ++counts.cancelled;
  c.job.reset();
  --counts.in_flight;
}

// stop(): each client with a request in flight is told, best effort,
// what became of it before its connection closes.
void ControlServer::State::cancel_all(std::string_view why) {
  for (Connection& c : conns) {
    if (!c.job) continue;
    if (cancel_job(*c.job, why)) {
      ++counts.cancelled;
      send_and_forget(c.fd.get(), cancelled_line(why));
    } else if (c.notify_start && !c.job_started) {
      send_and_forget(c.fd.get(), R"({"started":true})");  // it runs to completion
    }
    c.job.reset();
    --counts.in_flight;
  }
  publish();
}

void ControlServer::State::publish() {
  counts.connections = conns.size();
  counts.stalled = static_cast<std::size_t>(std::count_if(
      conns.begin(), conns.end(), [](const Connection& c) { return c.pending_out() >= kControlOutputLimit; }));
  std::lock_guard lock(stats_mu);
  published = counts;
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
  } else if (c.out_pos > kControlReadChunk && c.out_pos * 2 > c.out.size()) {
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
  // Run inline, on the server's thread: the job is started and answered
  // before the handler returns.
  return start(std::move(options), [handler = std::move(handler)](ControlJob job) { job.run(handler); });
}

Result<std::unique_ptr<ControlServer>> ControlServer::start(ControlOptions options, ControlAsyncHandler handler) {
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
  auto done = std::make_shared<UniqueFd>(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!done->valid()) return fail("cannot create the job eventfd of the control socket");
  state->done_fd = std::move(done);

  auto server = std::unique_ptr<ControlServer>(new ControlServer(std::move(state)));
  try {
    server->thread_ = std::thread([s = server->state_.get()] {
      set_thread_name("irqd-ctl");
      s->run();
    });
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
  state_->cancel_all("the control socket is stopping");
  state_->conns.clear();
  state_->listen_fd.reset();
  state_->remove_socket_file();
}

const std::string& ControlServer::path() const { return state_->options.path; }

ControlServerStats ControlServer::stats() const {
  std::lock_guard lock(state_->stats_mu);
  return state_->published;
}

}  // namespace irqd
