// SPDX-License-Identifier: GPL-2.0-only
//
// Result<T>: the value or the reason there is none. Used at every boundary
// (parsing, loading a topology, planning) instead of exceptions, so that an
// error never has to cross a thread or unwind through C callbacks.

#pragma once

#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace irqd {

// A human-readable, one-line reason. Callers prefix their own context; the
// message names the offending value and, where there is one, the accepted
// form or range.
struct Error {
  std::string message;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : state_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<Error>(state_); }

 private:
  std::variant<T, Error> state_;
};

// Result<void> has nothing to carry on success.
struct Ok {};
using Status = Result<Ok>;

inline Status ok_status() { return Ok{}; }

// strerror() without its shared buffer (safe from any thread).
inline std::string errno_string(int err) { return std::error_code(err, std::generic_category()).message(); }

}  // namespace irqd
