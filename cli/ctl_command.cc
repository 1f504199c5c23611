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

// A table one of whose rows holds a table of its own (a device and its
// vectors): a cell cannot show it, so each row is a block of its own.
bool has_nested_table(const json& rows) {
  return std::any_of(rows.begin(), rows.end(), [](const json& row) {
    return std::any_of(row.begin(), row.end(), [](const json& v) { return is_table(v); });
  });
}

void write_value(std::string& out, const json& v, std::size_t indent) {
  if (is_table(v) && has_nested_table(v)) {
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i > 0) out += "\n";
      write_object(out, v[i], indent);
    }
    return;
  }
  if (is_table(v)) return write_table(out, v, indent);
  if (v.is_object()) return write_object(out, v, indent);
  if (v.is_array() && !all_scalars(v)) {
    for (const json& e : v) write_value(out, e, indent);
    return;
  }
  out += std::string(indent, ' ') + inline_text(v) + "\n";
}

// ---------------------------------------------------------------------------
// stats and plan: a row per device, then each device's vectors as a table.

// 850ns, 12.5us, 100us, 1.25ms, 2s: at most two decimals, none trailing.
std::string duration_text(std::uint64_t ns) {
  auto scaled = [](double v, const char* unit) {
    std::string s = fmt::format("{:.2f}", v);
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s + unit;
  };
  if (ns >= 1'000'000'000) return scaled(static_cast<double>(ns) / 1e9, "s");
  if (ns >= 1'000'000) return scaled(static_cast<double>(ns) / 1e6, "ms");
  if (ns >= 1'000) return scaled(static_cast<double>(ns) / 1e3, "us");
  return fmt::format("{}ns", ns);
}

// [0,1,2,3,8] -> "0-3,8".
std::string cpu_list_text(const json& cpus) {
  std::vector<std::uint64_t> v;
  for (const json& c : cpus)
    if (c.is_number_unsigned() || c.is_number_integer()) v.push_back(c.get<std::uint64_t>());
  std::sort(v.begin(), v.end());
  std::string out;
  for (std::size_t i = 0; i < v.size();) {
    std::size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    out += (out.empty() ? "" : ",") + (j == i ? fmt::format("{}", v[i]) : fmt::format("{}-{}", v[i], v[j]));
    i = j + 1;
  }
  return out.empty() ? "-" : out;
}

std::uint64_t count_of(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}

// The devices of a stats or plan result when it has their shape (each an
// object with a name and a list of vector objects); else nullptr and the
// generic form prints it.
const json* device_rows(const json& result) {
  if (!result.is_object()) return nullptr;
  auto it = result.find("devices");
  if (it == result.end() || !it->is_array()) return nullptr;
  for (const json& d : *it) {
    if (!d.is_object() || !d.contains("name") || !d["name"].is_string()) return nullptr;
    auto v = d.find("vectors");
    if (v == d.end() || !v->is_array() ||
        !std::all_of(v->begin(), v->end(), [](const json& e) { return e.is_object(); }))
      return nullptr;
  }
  return &*it;
}

// Latency cells: p50 and p99 are bucket bounds ("<=" the bound), max is exact.
std::string latency_cell(const json& latency, const char* key, bool bound) {
  if (!latency.is_object() || count_of(latency, "count") == 0) return "-";
  auto it = latency.find(key);
  if (it == latency.end() || !it->is_number_unsigned()) return "-";
  return (bound ? "<=" : "") + duration_text(it->get<std::uint64_t>());
}

std::string format_stats(const json& devices) {
  if (devices.empty()) return "no device is bound\n";
  json rows = json::array();
  for (const json& d : devices) {
    const json latency = d.value("latency", json::object());
    std::uint64_t dropped = 0;
    if (auto it = d.find("dropped"); it != d.end() && it->is_object())
      for (const auto& [reason, n] : it->items()) dropped += n.is_number_unsigned() ? n.get<std::uint64_t>() : 0;
    json row;
    row["device"] = d["name"];
    row["fired"] = d.value("fired", json(nullptr));
    row["handled"] = d.value("handled", json(nullptr));
    row["calls"] = d.value("invocations", json(nullptr));
    row["dropped"] = dropped;
    row["p50"] = latency_cell(latency, "p50_le_ns", true);
    row["p99"] = latency_cell(latency, "p99_le_ns", true);
    row["max"] = latency_cell(latency, "max_ns", false);
    rows.push_back(row);
  }
  std::string out;
  write_table(out, rows, 0);
  for (const json& d : devices) {
    json vectors = json::array();
    for (const json& v : d["vectors"])
      vectors.push_back({{"vector", v.value("index", json(nullptr))},
                         {"cpu", v.value("cpu", json(nullptr))},
                         {"ownership", v.value("ownership", json(nullptr))},
                         {"handled", v.value("handled", json(nullptr))}});
    out += "\n" + d["name"].get<std::string>() + " vectors:\n";
    if (vectors.empty())
      out += "  (none)\n";
    else
      write_table(out, vectors, 2);
  }
  return out;
}

std::string format_plan(const json& devices) {
  if (devices.empty()) return "no device is bound\n";
  std::string out;
  for (const json& d : devices) {
    if (&d != &devices.front()) out += "\n";
    out += d["name"].get<std::string>() + ": planner " + inline_text(d.value("planner", json(nullptr))) + ", kernel " +
           inline_text(d.value("kernel_version", json(nullptr))) + "\n";
    json vectors = json::array();
    for (const json& v : d["vectors"])
      vectors.push_back({{"vector", v.value("index", json(nullptr))},
                         {"managed", v.value("managed", json(nullptr))},
                         {"serving", v.value("serving_cpu", json(nullptr))},
                         {"cpus", cpu_list_text(v.value("cpus", json::array()))}});
    if (vectors.empty())
      out += "  (no vectors)\n";
    else
      write_table(out, vectors, 2);
  }
  return out;
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
  if (request.cmd == ControlCommand::kStats || request.cmd == ControlCommand::kPlan) {
    if (const json* devices = device_rows(result))
      return request.cmd == ControlCommand::kStats ? format_stats(*devices) : format_plan(*devices);
  }
  std::string out = confirmation(request);
  bool empty = result.is_null() || ((result.is_object() || result.is_array()) && result.empty());
  if (empty) return out.empty() ? "(nothing)\n" : out;
  write_value(out, result, 0);
  return out;
}

}  // namespace irqd
