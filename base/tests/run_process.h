// SPDX-License-Identifier: GPL-2.0-only
//
// Runs a program as a child process and collects its exit status, stdout and
// stderr, for the tests that check the real irqd binary (and the scripts it
// runs) from the outside. Every descriptor and the child itself are owned:
// whatever a test throws or asserts, nothing is leaked and no child is left
// running.

#pragma once

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "base/unique_fd.h"

namespace irqd::test {

[[noreturn]] inline void throw_errno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::error_code(errno, std::generic_category()).message());
}

// An owned file descriptor, closed on destruction.
using Fd = irqd::UniqueFd;

struct Pipe {
  Fd read;
  Fd write;

  // Both ends close-on-exec; posix_spawn's dup2 onto 1 and 2 clears the
  // flag on the child's copies only.
  static Pipe make() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
    return Pipe{Fd(fds[0]), Fd(fds[1])};
  }
};

// posix_spawn file actions, destroyed whatever happens.
class FileActions {
 public:
  FileActions() {
    if (int rc = ::posix_spawn_file_actions_init(&actions_); rc != 0) {
      errno = rc;
      throw_errno("posix_spawn_file_actions_init");
    }
  }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
  ~FileActions() { ::posix_spawn_file_actions_destroy(&actions_); }

  void dup2(int fd, int target) { check(::posix_spawn_file_actions_adddup2(&actions_, fd, target)); }
  void open(int target, const char* path, int flags) {
    check(::posix_spawn_file_actions_addopen(&actions_, target, path, flags, 0));
  }
  const posix_spawn_file_actions_t* get() const { return &actions_; }

 private:
  static void check(int rc) {
    if (rc != 0) {
      errno = rc;
      throw_errno("posix_spawn_file_actions");
    }
  }
  posix_spawn_file_actions_t actions_;
};

// A spawned child: one not yet waited for is killed and reaped on
// destruction.
class Child {
 public:
  // program is looked up in PATH when it has no '/' (posix_spawnp); argv[0]
  // is what the child sees as its name.
  Child(const std::string& program, const std::vector<std::string>& argv, const FileActions& actions) {
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    if (int rc = ::posix_spawnp(&pid_, program.c_str(), actions.get(), nullptr, args.data(), environ); rc != 0) {
      pid_ = -1;
      errno = rc;
      throw_errno("posix_spawn " + program);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }

  // The exit status, or 128 + the signal that ended it.
  int wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0)
      if (errno != EINTR) throw_errno("waitpid");
    pid_ = -1;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
};

struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs program with argv (argv[0] included) and stdin from /dev/null, and
// collects both outputs, reading them together so that neither pipe fills
// up and stalls the child.
inline ProcessResult run_process(const std::string& program, const std::vector<std::string>& argv) {
  Pipe out = Pipe::make();
  Pipe err = Pipe::make();
  FileActions actions;
  actions.open(STDIN_FILENO, "/dev/null", O_RDONLY);
  actions.dup2(out.write.get(), STDOUT_FILENO);
  actions.dup2(err.write.get(), STDERR_FILENO);
  Child child(program, argv, actions);
  out.write.reset();
  err.write.reset();

  ProcessResult result;
  struct Stream {
    Fd* fd;
    std::string* text;
  };
  std::vector<Stream> open_streams{{&out.read, &result.out}, {&err.read, &result.err}};
  while (!open_streams.empty()) {
    std::vector<pollfd> fds;
    fds.reserve(open_streams.size());
    for (const Stream& s : open_streams) fds.push_back({s.fd->get(), POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll");
    }
    for (std::size_t i = fds.size(); i-- > 0;) {
      if (fds[i].revents == 0) continue;
      char buf[65536];
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno("read");
      if (n == 0) {
        open_streams[i].fd->reset();
        open_streams.erase(open_streams.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        open_streams[i].text->append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  result.exit_code = child.wait();
  return result;
}

// Runs `irqd ARGS...` (IRQD_BINARY, from the test's compile definitions).
#ifdef IRQD_BINARY
inline ProcessResult run_irqd(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"irqd"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(IRQD_BINARY, argv);
}
#endif

// The command line, quoted, for failure messages.
inline std::string describe(const std::vector<std::string>& args) {
  std::string out = "irqd";
  for (const std::string& a : args) out += " '" + a + "'";
  return out;
}

}  // namespace irqd::test
