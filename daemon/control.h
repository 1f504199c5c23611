// SPDX-License-Identifier: GPL-2.0-only
//
// The control socket of `irqd run`: a Unix stream socket speaking
// newline-delimited JSON, one request object per line in, one response
// object per line out:
//
//   {"cmd":"status"}                              {"ok":true,"result":{...}}
//   {"cmd":"stats","device":"nic0"}               {"ok":false,"error":"one line"}
//   {"cmd":"plan","device":"nic0"}
//   {"cmd":"move","device":"nic0","vector":3,"cpu":1}
//   {"cmd":"unbind","device":"nic0"}  {"cmd":"bind","device":"nic0"}  {"cmd":"reload"}
//
// The server validates the shape of every request, so the daemon's handler
// only ever sees a typed ControlRequest. A line over 64 KiB, malformed JSON,
// an unknown command or a bad argument gets an error response; the
// connection and the server keep going. Every peer is checked with
// SO_PEERCRED when it connects.

#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/result.h"

namespace irqd {

inline constexpr std::string_view kDefaultControlSocket = "/run/irqd/irqd.sock";
// The longest request line, newline not counted.
inline constexpr std::size_t kControlMaxRequest = 65536;

enum class ControlCommand { kStatus, kStats, kPlan, kMove, kUnbind, kBind, kReload };

std::string_view control_command_name(ControlCommand cmd);
std::optional<ControlCommand> control_command_from_name(std::string_view name);
// "status, stats, plan, move, unbind, bind, reload", for messages.
std::string control_command_names();
// move, unbind, bind, reload: they change what the daemon serves, so they
// need more than the read-only status, stats and plan.
bool control_command_changes_state(ControlCommand cmd);

// Who sent a request, from SO_PEERCRED at connect time.
struct ControlPeer {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  // Root, the daemon's user, or a member of ControlOptions::admin_group:
  // may send the commands that change state.
  bool may_change = false;
};

struct ControlRequest {
  ControlCommand cmd = ControlCommand::kStatus;
  // stats, plan: optional (empty = every device); move, unbind, bind:
  // required and non-empty; status, reload: always empty.
  std::string device;
  unsigned vector = 0;  // move only
  unsigned cpu = 0;     // move only
  ControlPeer peer;     // filled by the server; not part of the wire form
};

// Checks one request line (without its newline) and types it. The error
// names the offending value and the accepted form.
Result<ControlRequest> parse_control_request(std::string_view line);
// The wire form of a request (what `irqd ctl` sends), without a newline.
std::string control_request_line(const ControlRequest& request);

// Response lines, without their newline. Strings that are not valid UTF-8
// are written with U+FFFD in place of the bad bytes, never dropped.
std::string control_ok_line(const nlohmann::ordered_json& result);
std::string control_error_line(std::string_view message);

// The result object of one request, or the one-line reason there is none.
using ControlHandler = std::function<Result<nlohmann::ordered_json>(const ControlRequest&)>;

struct ControlOptions {
  std::string path{kDefaultControlSocket};
  // Group allowed to use the socket besides root and the daemon's own user;
  // "" = nobody else. The socket file is chgrp'ed to it.
  std::string group;
  // Group whose members may also change state (move, unbind, bind,
  // reload); "" = only root and the daemon's user. Members of `group`
  // alone may read (status, stats, plan). Either group lets a peer in.
  std::string admin_group;
  mode_t mode = 0660;
  // Connections served at once; the last reserved_for_root of them only
  // to root, so that idle or runaway users never lock root's `irqd ctl`
  // out; and at most max_per_uid for any one other user.
  std::size_t max_connections = 128;
  std::size_t reserved_for_root = 8;
  std::size_t max_per_uid = 16;
  // A connection with no request and nothing to send for this long is told
  // so and closed (0: never).
  unsigned idle_timeout_ms = 60'000;
  // One line per event worth a log line (refused peers, accept errors).
  std::function<void(const std::string&)> log;
};

// The peer policy: root, the daemon's effective uid, or a member (primary
// or supplementary group) of the configured group. The error is the
// permission-denied text sent to the peer.
Status check_control_peer(const ControlPeer& peer, const std::vector<gid_t>& peer_groups, uid_t daemon_euid,
                          std::optional<gid_t> group, std::string_view group_name);

// Whether a peer gets a connection while `open` are open, `open_by_uid`
// of them its user's; the error is the line sent before closing.
Status check_control_limits(const ControlPeer& peer, std::size_t open, std::size_t open_by_uid,
                            const ControlOptions& options);

// Serves the control socket on one thread of its own: a poll loop over the
// listening socket and every connection, no thread per client.
//
// The handler runs on that thread, one request at a time, while every other
// client waits: it must be quick, or hand the request to the thread that
// owns the state and wait for the answer (irqd run posts to the host's
// control thread). It must not call stop() on its own server, and it must
// return once the daemon is stopping: stop() joins the thread. The thread
// inherits the signal mask of the thread that calls start().
class ControlServer {
 public:
  // Creates the parent directory (0755) if missing, removes a stale socket
  // file (one nothing listens on), refuses to start when another process
  // answers on the path, binds, sets the mode and group, listens, and
  // starts the thread.
  static Result<std::unique_ptr<ControlServer>> start(ControlOptions options, ControlHandler handler);

  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;
  ControlServer(ControlServer&&) = delete;
  ControlServer& operator=(ControlServer&&) = delete;
  ~ControlServer();

  // Closes every connection, joins the thread and removes the socket file
  // (if it is still the one this server created). Idempotent.
  void stop();

  const std::string& path() const;

 private:
  struct State;  // the loop's state, defined in control.cc

  explicit ControlServer(std::unique_ptr<State> state);

  std::unique_ptr<State> state_;
  std::thread thread_;
};

}  // namespace irqd
