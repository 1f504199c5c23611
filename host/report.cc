// SPDX-License-Identifier: GPL-2.0-only

#include "host/report.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/unique_fd.h"

namespace irqd {
namespace {

using json = nlohmann::ordered_json;

const char* kind_name(OwnershipProblem::Kind k) {
  switch (k) {
    case OwnershipProblem::Kind::kFreedManaged: return "freed_managed";
    case OwnershipProblem::Kind::kDoubleFree: return "double_free";
    case OwnershipProblem::Kind::kLeak: return "leak";
  }
  return "?";
}

json problem_json(const OwnershipProblem& p) {
  return {{"kind", kind_name(p.kind)}, {"driver", p.driver}, {"vectors", p.indices}, {"message", p.message}};
}

json device_json(const DeviceReport& r) {
  json j;
  j["name"] = r.name;
  j["backend"] = r.backend;
  j["driver"] = r.driver;
  j["reason"] = r.unbind.reason;
  j["fired"] = r.fired_known ? json(r.fired) : json(nullptr);
  j["handled"] = r.dispatch.handled();
  j["invocations"] = r.dispatch.invocations();
  j["dropped"] = {{"queue_full", r.dispatch.dropped_queue_full()},
                  {"after_drain", r.unbind.dropped_after_drain_total()}};
  j["accounted"] = r.accounted();
  j["refused_msix_off"] = r.unarmed;
  const LatencyHistogram& h = r.dispatch.latency;
  j["latency_ns"] = {
      {"p50", h.percentile(50)}, {"p99", h.percentile(99)}, {"p999", h.percentile(99.9)}, {"max", h.max()}};
  json vectors = json::array();
  for (const Vector& v : r.vectors) {
    std::uint64_t handled = v.index < r.dispatch.handled_per_vector.size() ? r.dispatch.handled_per_vector[v.index] : 0;
    vectors.push_back({{"index", v.index},
                       {"cpus", v.cpus.to_list()},
                       {"managed", v.affinity_managed},
                       {"cpu", v.serving_cpu},
                       {"handled", handled}});
  }
  j["vectors"] = vectors;
  json steps = json::array();
  for (const UnbindTraceEntry& s : r.unbind.steps)
    steps.push_back({{"step", unbind_step_name(s.step)}, {"detail", s.detail}});
  j["unbind"] = steps;
  json leaks = json::array();
  for (const OwnershipProblem& p : r.unbind.leaks) leaks.push_back(problem_json(p));
  j["leaks"] = leaks;
  // The binding's problem list holds the leaks too; each is listed once,
  // under "leaks".
  json problems = json::array();
  for (const OwnershipProblem& p : r.unbind.problems)
    if (p.kind != OwnershipProblem::Kind::kLeak) problems.push_back(problem_json(p));
  j["problems"] = problems;
  // The unbind steps that failed, then what took vectors out of service
  // while the device ran (a reactor's persistent read error).
  json errors = r.unbind.errors;
  for (const std::string& e : r.dispatch.errors) errors.push_back("dispatch: " + e);
  j["errors"] = errors;
  return j;
}

}  // namespace

std::string format_host_report(const std::deque<DeviceReport>& reports, const ReportTotals& totals) {
  json j;
  json devices = json::array();
  for (const DeviceReport& r : reports) devices.push_back(device_json(r));
  j["devices"] = devices;
  j["totals"] = {{"unbinds", totals.unbinds},   {"listed", reports.size()},  {"not_accounted", totals.not_accounted},
                 {"handled", totals.handled},   {"dropped", totals.dropped}, {"leaked_vectors", totals.leaked_vectors},
                 {"problems", totals.problems}, {"errors", totals.errors}};
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string format_device_report(const DeviceReport& report) {
  return device_json(report).dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

Status write_host_report(const std::string& path, const std::deque<DeviceReport>& reports, const ReportTotals& totals) {
  if (Status s = replace_file(path, format_host_report(reports, totals)); !s)
    return Error{"cannot write the report to " + path + ": " + s.error().message};
  return ok_status();
}

std::string directory_of(const std::string& path) {
  const std::string::size_type slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Status check_output_directory(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return Error{"directory " + dir + ": " + errno_string(errno)};
  if (!S_ISDIR(st.st_mode)) return Error{dir + " is not a directory"};
  std::string probe = (dir.ends_with('/') ? dir : dir + "/") + ".irqd-probe-XXXXXX";
  UniqueFd fd(::mkostemp(probe.data(), O_CLOEXEC));
  if (!fd.valid()) return Error{"cannot create a file in " + dir + ": " + errno_string(errno)};
  (void)::unlink(probe.c_str());
  return ok_status();
}

}  // namespace irqd
