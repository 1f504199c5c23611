// SPDX-License-Identifier: GPL-2.0-only

#include "cli/ctl_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <limits>
#include <ostream>

namespace irqd {
namespace {

using json = nlohmann::ordered_json;

std::string accepted() { return fmt::format(" (accepted: {})", kCtlUsage); }

Result<unsigned> parse_unsigned_arg(const std::string& text, std::string_view what, std::string_view form) {
  unsigned value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end)
    return Error{fmt::format("{} '{}' is not an integer 0..{} (accepted: {})", what, text,
                             std::numeric_limits<unsigned>::max(), form)};
  return value;
}

// The arguments each command takes, for messages.
std::string_view form_of(ControlCommand cmd) {
  switch (cmd) {
    case ControlCommand::kStatus: return "irqd ctl status";
    case ControlCommand::kStats: return "irqd ctl stats [DEVICE]";
    case ControlCommand::kPlan: return "irqd ctl plan [DEVICE]";
    case ControlCommand::kMove: return "irqd ctl move DEVICE VECTOR CPU";
    case ControlCommand::kUnbind: return "irqd ctl unbind DEVICE";
    case ControlCommand::kBind: return "irqd ctl bind DEVICE";
    case ControlCommand::kReload: return "irqd ctl reload";
  }
  return kCtlUsage;
}

// How many arguments after the command name: [min, max].
std::pair<std::size_t, std::size_t> arity(ControlCommand cmd) {
  switch (cmd) {
    case ControlCommand::kStatus:
    case ControlCommand::kReload: return {0, 0};
    case ControlCommand::kStats:
    case ControlCommand::kPlan: return {0, 1};
    case ControlCommand::kMove: return {3, 3};
    case ControlCommand::kUnbind:
    case ControlCommand::kBind: return {1, 1};
  }
  return {0, 0};
}

// ---------------------------------------------------------------------------
// The readable form.

bool is_scalar(const json& v) { return !v.is_object() && !v.is_array(); }

bool all_scalars(const json& v) { return std::all_of(v.begin(), v.end(), is_scalar); }

bool is_table(const json& v) {
  return v.is_array() && !v.empty() && std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_object(); });
}

std::string scalar_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "-";
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (!std::isfinite(d)) return fmt::format("{}", d);
    if (d == std::trunc(d) && std::fabs(d) < 1e15) return fmt::format("{:.0f}", d);
    std::string s = fmt::format("{:.2f}", d);
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s;
  }
  return v.dump();
}

// One cell or one value after "key: ": scalars as text, lists of scalars
// comma-separated, flat objects as k=v pairs, anything deeper as JSON.
std::string inline_text(const json& v) {
  if (is_scalar(v)) return scalar_text(v);
  if (v.is_array() && all_scalars(v)) {
    std::string s;
    for (const json& e : v) s += (s.empty() ? "" : ",") + scalar_text(e);
    return v.empty() ? "-" : s;
  }
  if (v.is_object() && all_scalars(v)) {
    std::string s;
    for (const auto& [k, e] : v.items()) s += (s.empty() ? "" : " ") + k + "=" + scalar_text(e);
    return v.empty() ? "-" : s;
  }
  if (v.is_array()) return fmt::format("({} entries)", v.size());  // a table of its own would not fit in a cell
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

void write_table(std::string& out, const json& rows, std::size_t indent) {
  std::vector<std::string> columns;
  for (const json& row : rows)
    for (const auto& [k, v] : row.items())
      if (std::find(columns.begin(), columns.end(), k) == columns.end()) columns.push_back(k);
  std::vector<std::vector<std::string>> cells(rows.size(), std::vector<std::string>(columns.size()));
  std::vector<std::size_t> width(columns.size());
  std::vector<bool> numeric(columns.size(), true);
  for (std::size_t c = 0; c < columns.size(); ++c) {
    width[c] = columns[c].size();
    for (std::size_t r = 0; r < rows.size(); ++r) {
      auto it = rows[r].find(columns[c]);
      cells[r][c] = it == rows[r].end() ? "-" : inline_text(*it);
      numeric[c] = numeric[c] && (it == rows[r].end() || it->is_number() || it->is_null());
      width[c] = std::max(width[c], cells[r][c].size());
    }
  }
  auto write_row = [&](const std::vector<std::string>& row) {
    std::string line(indent, ' ');
    for (std::size_t c = 0; c < columns.size(); ++c) {
      if (c > 0) line += "  ";
      line += numeric[c] ? fmt::format("{:>{}}", row[c], width[c]) : fmt::format("{:<{}}", row[c], width[c]);
    }
    while (line.ends_with(' ')) line.pop_back();
    out += line + "\n";
  };
  std::vector<std::string> header;
  header.reserve(columns.size());
  for (const std::string& c : columns) header.push_back(upper(c));
  write_row(header);
  for (const auto& row : cells) write_row(row);
}

void write_value(std::string& out, const json& v, std::size_t indent);

// Scalars, lists of scalars and small flat objects stay on their key's
// line; anything else gets a section of its own below the key.
bool fits_on_key_line(const json& v) {
  return is_scalar(v) || (v.is_array() && all_scalars(v)) || (v.is_object() && all_scalars(v) && v.size() <= 4);
}

void write_object(std::string& out, const json& obj, std::size_t indent) {
  std::size_t key_width = 0;
  for (const auto& [k, v] : obj.items()) key_width = std::max(key_width, k.size() + 1);
  std::string pad(indent, ' ');
  for (const auto& [k, v] : obj.items()) {
    if (fits_on_key_line(v)) {
      out +=
          fmt::format("{}{:<{}} {}\n", pad, k + ":", key_width, v.is_array() && v.empty() ? "(none)" : inline_text(v));
    } else {
      out += pad + k + ":\n";
      write_value(out, v, indent + 2);
    }
  }
}

void write_value(std::string& out, const json& v, std::size_t indent) {
  if (is_table(v)) return write_table(out, v, indent);
  if (v.is_object()) return write_object(out, v, indent);
  if (v.is_array() && !all_scalars(v)) {
    for (const json& e : v) write_value(out, e, indent);
    return;
  }
  out += std::string(indent, ' ') + inline_text(v) + "\n";
}

std::string confirmation(const ControlRequest& r) {
  switch (r.cmd) {
    case ControlCommand::kMove: return fmt::format("moved {} vector {} to CPU {}\n", r.device, r.vector, r.cpu);
    case ControlCommand::kUnbind: return fmt::format("unbound {}\n", r.device);
    case ControlCommand::kBind: return fmt::format("bound {}\n", r.device);
    case ControlCommand::kReload: return "reloaded the config\n";
    default: return {};
  }
}

}  // namespace

Result<CtlOptions> parse_ctl_options(const CtlFlags& flags) {
  if (flags.args.empty()) return Error{"no command" + accepted()};
  auto cmd = control_command_from_name(flags.args.front());
  if (!cmd) return Error{fmt::format("unknown command '{}'{}", flags.args.front(), accepted())};
  std::string_view form = form_of(*cmd);
  auto [min, max] = arity(*cmd);
  std::size_t given = flags.args.size() - 1;
  if (given < min || given > max)
    return Error{fmt::format("{} takes {} argument{}, got {} (accepted: {})", control_command_name(*cmd),
                             min == max ? fmt::format("{}", min) : fmt::format("{} to {}", min, max),
                             max == 1 ? "" : "s", given, form)};
  CtlOptions options;
  options.socket = flags.socket;
  options.json = flags.json;
  options.request.cmd = *cmd;
  if (given > 0) {
    options.request.device = flags.args[1];
    if (options.request.device.empty()) return Error{fmt::format("DEVICE is empty (accepted: {})", form)};
  }
  if (*cmd == ControlCommand::kMove) {
    auto vector = parse_unsigned_arg(flags.args[2], "VECTOR", form);
    if (!vector) return vector.error();
    auto cpu = parse_unsigned_arg(flags.args[3], "CPU", form);
    if (!cpu) return cpu.error();
    options.request.vector = *vector;
    options.request.cpu = *cpu;
  }
  return options;
}

int run_ctl(const CtlOptions& options, std::ostream& out, std::ostream& err) {
  auto result = control_call(options.socket, options.request, options.timeout_ms);
  if (!result) {
    std::string message = result.error().message;
    std::replace_if(
        message.begin(), message.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
    err << "irqd: error: irqd ctl: " << message << "\n";
    return 1;
  }
  if (options.json)
    out << result->dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  else
    out << format_ctl_result(options.request, *result);
  return out.flush() ? 0 : 1;
}

std::string format_ctl_result(const ControlRequest& request, const json& result) {
  std::string out = confirmation(request);
  bool empty = result.is_null() || ((result.is_object() || result.is_array()) && result.empty());
  if (empty) return out.empty() ? "(nothing)\n" : out;
  write_value(out, result, 0);
  return out;
}

}  // namespace irqd
