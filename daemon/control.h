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
//
// One request at a time per connection, answered in order: the server
// reads a connection only while it has no request in flight and less than
// kControlOutputLimit of answers waiting to be written; the rest stays in
// the kernel's socket buffer (backpressure, not buffering). So a client
// that sends a burst of requests and reads nothing holds at most one
// request, one read chunk and the limit plus one answer of the daemon's
// memory, and the daemon's control thread never has more than one request
// per connection queued.
//
// Run or cancel, never "maybe later": a request handed to the daemon
// (ControlJob) either starts on the daemon's control thread and then runs
// to completion, its answer delivered if the client is still there; or it
// is cancelled before it starts and never runs: when its client closes the
// connection, when it has not started within its start deadline (5 s, or
// the request's "start_within_ms"), when the daemon is stopping (SIGTERM)
// or the server stops. A cancelled request is answered
//
//   {"ok":false,"cancelled":true,"error":"cancelled: ... (it did not run)"}
//
// A request may carry "start_within_ms":N (1..600000), as `irqd ctl` does:
// its start deadline, and the server then also sends {"started":true} on a
// line of its own the moment the control thread starts it, before the
// answer. A client that gives up waiting therefore knows which happened:
// "started" seen means it runs to completion; the cancel answer means it
// never ran; neither within N ms means the daemon is stuck and only then is
// it not known.

#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
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
// A connection with this many answer bytes not yet written is not read from
// until its client reads them (one answer may take it past the limit).
inline constexpr std::size_t kControlOutputLimit = std::size_t{1} << 20;
// The most bytes one read() takes from a connection.
inline constexpr std::size_t kControlReadChunk = 65536;
// A request the daemon's control thread has not started this long after the
// server read it is cancelled (ControlOptions::start_timeout_ms).
inline constexpr unsigned kControlStartTimeoutMs = 5000;
// The largest "start_within_ms" a request may ask for.
inline constexpr unsigned kControlMaxStartWithinMs = 600'000;

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
  // Any command, optional: 0 = the server's start deadline and no
  // {"started":true} line; else this deadline and the started line.
  unsigned start_within_ms = 0;
  ControlPeer peer;  // filled by the server; not part of the wire form
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

// One request the server handed over, to be run on the thread that owns the
// state (or cancelled). Move-only; shared with the server, which it may
// outlive. Dropped without running: cancelled ("irqd dropped it"); dropped
// after it started but before it finished: answered with an internal error.
class ControlJob {
 public:
  struct Shared;  // the request, its phase and its answer; in control.cc

  explicit ControlJob(std::shared_ptr<Shared> shared);
  ControlJob(ControlJob&& other) noexcept;
  ControlJob& operator=(ControlJob&& other) noexcept;
  ControlJob(const ControlJob&) = delete;
  ControlJob& operator=(const ControlJob&) = delete;
  ~ControlJob();

  const ControlRequest& request() const;
  // On the thread that runs requests: starts the request and answers it
  // with fn's result (an exception fn throws is answered as an internal
  // error, never rethrown), unless it was cancelled first. True when fn ran.
  bool run(const ControlHandler& fn);
  // Cancels the request unless it has started; the client is told why
  // ("cancelled: WHY (it did not run)"). True when it was cancelled here.
  bool cancel(std::string_view why);

 private:
  std::shared_ptr<Shared> shared_;
};

// Takes each request the server hands over; runs job.run() on the thread
// that owns the state, or lets it go (cancelled). It is called on the
// server's thread and must not block there.
using ControlAsyncHandler = std::function<void(ControlJob job)>;

// What the server holds now and the most it ever held, for tests and logs.
struct ControlServerStats {
  std::size_t connections = 0;
  std::size_t in_flight = 0;      // requests handed over and not yet answered or cancelled
  std::size_t max_in_flight = 0;  // the most at once
  std::size_t max_in_flight_per_connection = 0;
  std::size_t stalled = 0;             // connections not read because their answers pass the limit
  std::size_t max_pending_output = 0;  // the most answer bytes waiting for one connection
  std::size_t max_buffered_input = 0;  // the most request bytes read and not yet parsed, one connection
  std::uint64_t handed_over = 0;       // requests given to the handler
  std::uint64_t cancelled = 0;         // of those, cancelled before they started
};

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
  // A request that has not started this long after it was read is cancelled
  // (a request's own "start_within_ms" wins).
  unsigned start_timeout_ms = kControlStartTimeoutMs;
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
// A ControlHandler runs on that thread, one request at a time, while every
// other client waits: it must be quick (tests, tools). irqd run gives a
// ControlAsyncHandler instead, which posts each job to the host's control
// thread and returns at once: the server keeps serving, notices clients
// that leave, cancels what waited past its deadline, and stop() returns at
// once. Neither may call stop() on its own server. The thread inherits the
// signal mask of the thread that calls start().
class ControlServer {
 public:
  // Creates the parent directory (0755) if missing, removes a stale socket
  // file (one nothing listens on), refuses to start when another process
  // answers on the path, binds, sets the mode and group, listens, and
  // starts the thread.
  static Result<std::unique_ptr<ControlServer>> start(ControlOptions options, ControlHandler handler);
  static Result<std::unique_ptr<ControlServer>> start(ControlOptions options, ControlAsyncHandler handler);

  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;
  ControlServer(ControlServer&&) = delete;
  ControlServer& operator=(ControlServer&&) = delete;
  ~ControlServer();

  // Cancels every request not yet started, closes every connection, joins
  // the thread and removes the socket file (if it is still the one this
  // server created). Idempotent.
  void stop();

  const std::string& path() const;
  // From any thread.
  ControlServerStats stats() const;

 private:
  struct State;  // the loop's state, defined in control.cc

  explicit ControlServer(std::unique_ptr<State> state);

  std::unique_ptr<State> state_;
  std::thread thread_;
};

}  // namespace irqd
