// SPDX-License-Identifier: GPL-2.0-only

#include "daemon/metrics.h"

#include <httplib.h>
#include <netdb.h>
#include <pthread.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <mutex>
#include <numeric>
#include <set>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include "base/thread_name.h"

namespace irqd {

// ---------------------------------------------------------------------------
// Histogram data

std::uint64_t HistogramData::count() const { return std::accumulate(counts.begin(), counts.end(), std::uint64_t{0}); }

namespace {

std::string bounds_text(const std::vector<std::uint64_t>& bounds_ns) {
  std::string out = "[";
  for (std::size_t i = 0; i < bounds_ns.size(); ++i) out += (i == 0 ? "" : ",") + std::to_string(bounds_ns[i]);
  return out + "] ns";
}

// The bucket (index into HistogramData::counts) that a value belongs to:
// the first bound >= value, or the last bucket (+Inf).
std::size_t bucket_of(std::span<const std::uint64_t> bounds_ns, std::uint64_t value) {
  return static_cast<std::size_t>(std::lower_bound(bounds_ns.begin(), bounds_ns.end(), value) - bounds_ns.begin());
}

}  // namespace

Status HistogramData::merge(const HistogramData& other) {
  if (other.bounds_ns != bounds_ns || other.counts.size() != counts.size()) {
    return Error{"cannot merge latency histograms with different buckets: " + bounds_text(bounds_ns) + " and " +
                 bounds_text(other.bounds_ns)};
  }
  for (std::size_t i = 0; i < counts.size(); ++i) counts[i] += other.counts[i];
  sum_seconds += other.sum_seconds;
  return ok_status();
}

HistogramData latency_histogram(const LatencyHistogram& h, std::span<const std::uint64_t> bounds_ns) {
  HistogramData out;
  out.bounds_ns.assign(bounds_ns.begin(), bounds_ns.end());
  out.counts.assign(bounds_ns.size() + 1, 0);
  // Every sample of a bucket is <= its highest value and <= the exact max.
  for (const auto& [highest, n] : h.nonempty_buckets())
    out.counts[bucket_of(bounds_ns, std::min(highest, h.max()))] += n;
  out.sum_seconds = h.mean() * static_cast<double>(h.count()) / 1e9;
  return out;
}

HistogramData latency_histogram(std::span<const std::uint64_t> bounds_ns, std::span<const std::uint64_t> counts,
                                std::uint64_t sum_ns) {
  HistogramData out;
  out.bounds_ns.assign(bounds_ns.begin(), bounds_ns.end());
  out.counts.assign(bounds_ns.size() + 1, 0);
  for (std::size_t i = 0; i < counts.size(); ++i) out.counts[std::min(i, bounds_ns.size())] += counts[i];
  out.sum_seconds = static_cast<double>(sum_ns) / 1e9;
  return out;
}

MetricsBuildInfo this_build() {
#if defined(IRQD_VERSION) && defined(IRQD_BUILD_TYPE)
  return {IRQD_VERSION, IRQD_BUILD_TYPE};
#else
  return {"unknown", "unknown"};
#endif
}

// ---------------------------------------------------------------------------
// Exposition text

namespace {

// Label values escape backslash, double quote and newline; HELP text
// backslash and newline (text format 0.0.4).
std::string escape(std::string_view s, bool quote) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

// Shortest text that reads back as the same double, in the notation Go's
// strconv.FormatFloat(v, 'g', -1, 64) picks (what Prometheus' own client
// writes): scientific when the decimal exponent is < -4 or >= 6, so
// "1e-06", "0.0001", "0.25", "1", "1.5e+06". Bucket bounds then read the
// same as other exporters' and as the ones this binary wrote before.
std::string float_text(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == 0) return "0";
  std::array<char, 64> buf{};
  char* const first = buf.data();
  char* const last = buf.data() + buf.size();
  const auto sci = std::to_chars(first, last, v, std::chars_format::scientific);
  const std::string_view text(first, static_cast<std::size_t>(sci.ptr - first));
  // "d.ddde+XX" / "de-XX": the exponent's sign and digits follow the 'e'.
  const std::size_t e = text.find('e');
  int exp = 0;
  std::from_chars(text.data() + e + 2, text.data() + text.size(), exp);
  if (text[e + 1] == '-') exp = -exp;
  if (exp < -4 || exp >= 6) return std::string(text);
  const auto fixed = std::to_chars(first, last, v, std::chars_format::fixed);
  return {first, fixed.ptr};
}

using Labels = std::vector<std::pair<std::string_view, std::string>>;

class Writer {
 public:
  void header(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += escape(help, false);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  void sample(std::string_view name, const Labels& labels, std::string_view value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      for (std::size_t i = 0; i < labels.size(); ++i) {
        if (i != 0) out_ += ',';
        out_ += labels[i].first;
        out_ += "=\"";
        out_ += escape(labels[i].second, true);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }
  void sample(std::string_view name, const Labels& labels, std::uint64_t value) {
    sample(name, labels, std::to_string(value));
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// Drop reasons every device exposes from the start (Host's two kinds).
constexpr std::array<std::string_view, 2> kDropReasons = {"after_drain", "queue_full"};

void write_interrupts(Writer& w, const std::vector<const DeviceMetrics*>& devices, bool per_vector) {
  constexpr std::string_view kName = "irqd_interrupts_total";
  w.header(kName, "counter",
           "Interrupts handled (eventfd counts that reached the driver's handler), by device and MSI-X vector "
           "(vector label only with per-vector metrics on).");
  for (const DeviceMetrics* d : devices) {
    if (!per_vector) {
      std::uint64_t total = 0;
      for (const auto& [index, n] : d->interrupts) total += n;
      w.sample(kName, {{"device", d->name}}, total);
      continue;
    }
    for (const auto& [index, n] : d->interrupts)
      w.sample(kName, {{"device", d->name}, {"vector", std::to_string(index)}}, n);
  }
}

void write_histogram(Writer& w, std::string_view name, const HistogramData& h, std::string_view help) {
  w.header(name, "histogram", help);
  const std::string bucket = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < h.bounds_ns.size(); ++i) {
    cumulative += i < h.counts.size() ? h.counts[i] : 0;
    w.sample(bucket, {{"le", float_text(static_cast<double>(h.bounds_ns[i]) / 1e9)}}, cumulative);
  }
  // +Inf holds everything, including counts past the bounds a caller left
  // unmatched, so it equals _count by construction.
  const std::uint64_t count = h.count();
  w.sample(bucket, {{"le", "+Inf"}}, count);
  w.sample(std::string(name) + "_sum", {}, float_text(h.sum_seconds));
  w.sample(std::string(name) + "_count", {}, count);
}

void write_dropped(Writer& w, const std::vector<const DeviceMetrics*>& devices) {
  constexpr std::string_view kName = "irqd_dropped_total";
  w.header(kName, "counter",
           "Interrupts dropped, by device and reason (queue_full: hand-off queue full with when_full=drop; "
           "after_drain: signalled after the unbind drain).");
  for (const DeviceMetrics* d : devices) {
    std::set<std::string, std::less<>> reasons(kDropReasons.begin(), kDropReasons.end());
    for (const auto& [reason, n] : d->dropped) reasons.insert(reason);
    for (const std::string& reason : reasons) {
      const auto it = d->dropped.find(reason);
      w.sample(kName, {{"device", d->name}, {"reason", reason}}, it == d->dropped.end() ? 0 : it->second);
    }
  }
}

}  // namespace

std::string format_prometheus(const MetricsSnapshot& s, bool per_vector) {
  std::vector<const DeviceMetrics*> devices;
  devices.reserve(s.devices.size());
  for (const DeviceMetrics& d : s.devices) devices.push_back(&d);
  std::stable_sort(devices.begin(), devices.end(),
                   [](const DeviceMetrics* a, const DeviceMetrics* b) { return a->name < b->name; });

  Writer w;
  write_interrupts(w, devices, per_vector);

  w.header("irqd_cpu_interrupts_total", "counter", "Interrupts handled, by the CPU that served them.");
  for (const auto& [cpu, n] : s.cpu_interrupts)
    w.sample("irqd_cpu_interrupts_total", {{"cpu", std::to_string(cpu)}}, n);

  write_histogram(w, "irqd_dispatch_latency_seconds", s.dispatch_latency,
                  "Time from the device firing a vector to the driver's handler starting, all devices.");
  write_dropped(w, devices);

  w.header("irqd_vectors", "gauge",
           "MSI-X vectors a device holds now, by ownership (managed: freed by unbind; "
           "explicit: freed by the driver).");
  for (const DeviceMetrics* d : devices) {
    w.sample("irqd_vectors", {{"device", d->name}, {"ownership", "explicit"}}, d->explicit_vectors);
    w.sample("irqd_vectors", {{"device", d->name}, {"ownership", "managed"}}, d->managed_vectors);
  }

  w.header("irqd_unbinds_total", "counter", "Device unbind sequences completed, whatever triggered them.");
  w.sample("irqd_unbinds_total", {}, s.unbinds);

  w.header("irqd_leaked_vectors_total", "counter",
           "Explicit vectors a driver still held when its device was released (freed then by irqd), by driver.");
  for (const auto& [driver, n] : s.leaked_vectors) w.sample("irqd_leaked_vectors_total", {{"driver", driver}}, n);

  w.header("irqd_build_info", "gauge", "irqd's version and build type; always 1.");
  w.sample("irqd_build_info", {{"version", s.build.version}, {"build_type", s.build.build_type}}, 1);
  return w.take();
}

// ---------------------------------------------------------------------------
// HTTP server

namespace {

constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string endpoint_text(const std::string& address, unsigned port) {
  const bool v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

// The server's threads take no asynchronous signal: blocked around the
// thread's creation, so there is no window where it could take one; the
// caller's mask is restored exactly (nothing it blocked gets unblocked).
// Faults stay deliverable.
class SignalsBlockedHere {
 public:
  SignalsBlockedHere() {
    sigset_t all;
    sigfillset(&all);
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT}) sigdelset(&all, sig);
    pthread_sigmask(SIG_BLOCK, &all, &saved_);
  }
  ~SignalsBlockedHere() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  SignalsBlockedHere(const SignalsBlockedHere&) = delete;
  SignalsBlockedHere& operator=(const SignalsBlockedHere&) = delete;

 private:
  sigset_t saved_{};
};

// SO_REUSEADDR lets a restarted daemon bind over its old connections in
// TIME_WAIT; no SO_REUSEPORT, which would let two daemons share the port
// silently instead of the second one failing.
void listener_socket_options(socket_t sock) {
  int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

}  // namespace

struct MetricsServer::Impl {
  httplib::Server http;
  std::string path;
  SnapshotFn snapshot;
  bool per_vector = true;
  std::mutex scrape_mu;  // one snapshot at a time
  std::thread thread;
  std::atomic<bool> listen_returned{false};

  void route() {
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      serve(req, res);
      return httplib::Server::HandlerResponse::Handled;
    });
  }

  void serve(const httplib::Request& req, httplib::Response& res) {
    if (req.path != path) {
      res.status = 404;
      res.set_content("not found: " + req.path + " (metrics are at " + path + ")\n", "text/plain; charset=utf-8");
      return;
    }
    if (req.method != "GET" && req.method != "HEAD") {
      res.status = 405;
      res.set_header("Allow", "GET, HEAD");
      res.set_content("method " + req.method + " not allowed on " + path + " (use GET)\n", "text/plain; charset=utf-8");
      return;
    }
    std::string body;
    {
      const std::lock_guard lock(scrape_mu);
      body = format_prometheus(snapshot(), per_vector);
    }
    res.status = 200;
    res.set_content(body, std::string(kContentType));
  }
};

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl, unsigned port, std::string endpoint)
    : impl_(std::move(impl)), port_(port), endpoint_(std::move(endpoint)) {}

MetricsServer::~MetricsServer() { stop(); }

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& address, unsigned port,
                                                            const std::string& path, SnapshotFn snapshot,
                                                            bool per_vector) {
  const std::string where = endpoint_text(address, port);
  if (port > 65535) return Error{"metrics: cannot listen on " + where + ": port must be 0..65535 (0: any free port)"};
  if (path.empty() || path[0] != '/')
    return Error{"metrics: path \"" + path + "\" must start with '/' (e.g. /metrics)"};
  if (!snapshot) return Error{"metrics: no snapshot function for " + where};

  // httplib reports a failed bind as false without the reason: resolve the
  // address first for a precise message, then take errno from the bind.
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;  // an IP address: no name lookup at start
  addrinfo* found = nullptr;
  if (int e = getaddrinfo(address.c_str(), std::to_string(port).c_str(), &hints, &found); e != 0) {
    return Error{"metrics: cannot listen on " + where + ": bad address \"" + address + "\" (" + gai_strerror(e) +
                 "); give an IP address such as 127.0.0.1 or ::1"};
  }
  freeaddrinfo(found);

  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->snapshot = std::move(snapshot);
  impl->per_vector = per_vector;
  impl->route();
  // A scrape is one request: no keep-alive, so stop() never waits out an
  // idle connection, and a client that connects and says nothing is cut
  // off after two seconds.
  impl->http.set_keep_alive_max_count(1);
  impl->http.set_keep_alive_timeout(2);
  impl->http.set_read_timeout(5);
  impl->http.set_write_timeout(5);
  impl->http.set_socket_options(listener_socket_options);
  impl->http.new_task_queue = [] { return new httplib::ThreadPool(2); };

  errno = 0;
  int bound = 0;
  if (port == 0) {
    bound = impl->http.bind_to_any_port(address);
  } else {
    bound = impl->http.bind_to_port(address, static_cast<int>(port)) ? static_cast<int>(port) : -1;
  }
  if (bound < 0) {
    const int err = errno;
    return Error{"metrics: cannot listen on " + where + ": " +
                 (err != 0 ? errno_string(err) : std::string("bind or listen failed")) +
                 (err == EADDRINUSE ? " (another process has it; pick another [metrics] port)" : "")};
  }

  Impl* raw = impl.get();
  {
    const SignalsBlockedHere blocked;
    raw->thread = std::thread([raw] {
      set_thread_name("irqd-metrics");
      raw->http.listen_after_bind();
      raw->listen_returned = true;
    });
  }
  // httplib's stop() does nothing until the loop has started: wait for it
  // so a stop() right after start() cannot be lost (nor wait forever on a
  // loop that already gave up).
  while (!raw->http.is_running() && !raw->listen_returned) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  return std::unique_ptr<MetricsServer>(
      new MetricsServer(std::move(impl), static_cast<unsigned>(bound), endpoint_text(address, bound)));
}

void MetricsServer::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->http.stop();
  impl_->thread.join();
}

}  // namespace irqd
