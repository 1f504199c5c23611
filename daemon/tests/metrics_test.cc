// SPDX-License-Identifier: GPL-2.0-only
//
// The Prometheus exposition of `irqd run`: the exact text for a small
// snapshot, escaping, per-vector aggregation, the latency histogram's
// buckets, and a real server on 127.0.0.1 scraped with httplib::Client.

#include "daemon/metrics.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/unique_fd.h"

namespace irqd {
namespace {

using ::testing::HasSubstr;

MetricsSnapshot small_snapshot() {
  MetricsSnapshot s;
  s.build = {"0.1.0", "Debug"};
  // Out of name order on purpose: the text sorts devices by name.
  DeviceMetrics nic1;
  nic1.name = "nic1";
  nic1.interrupts = {{0, 5}};
  nic1.managed_vectors = 1;
  DeviceMetrics nic0;
  nic0.name = "nic0";
  nic0.interrupts = {{0, 10}, {2, 7}, {10, 1}};
  nic0.dropped = {{"queue_full", 3}};
  nic0.managed_vectors = 2;
  nic0.explicit_vectors = 1;
  s.devices = {nic1, nic0};
  s.cpu_interrupts = {{0, 11}, {1, 12}};
  const std::vector<std::uint64_t> bounds = {1'000, 10'000};
  const std::vector<std::uint64_t> counts = {1, 2, 3};
  s.dispatch_latency = latency_histogram(bounds, counts, 1'500'000);
  s.unbinds = 2;
  s.leaked_vectors = {{"leaky", 4}};
  return s;
}

constexpr const char* kSmallText =
    R"(# HELP irqd_interrupts_total Interrupts handled (eventfd counts that reached the driver's handler), by device and MSI-X vector (vector label only with per-vector metrics on).
# TYPE irqd_interrupts_total counter
irqd_interrupts_total{device="nic0",vector="0"} 10
irqd_interrupts_total{device="nic0",vector="2"} 7
irqd_interrupts_total{device="nic0",vector="10"} 1
irqd_interrupts_total{device="nic1",vector="0"} 5
# HELP irqd_cpu_interrupts_total Interrupts handled, by the CPU that served them.
# TYPE irqd_cpu_interrupts_total counter
irqd_cpu_interrupts_total{cpu="0"} 11
irqd_cpu_interrupts_total{cpu="1"} 12
# HELP irqd_dispatch_latency_seconds Time from the device firing a vector to the driver's handler starting, all devices.
# TYPE irqd_dispatch_latency_seconds histogram
irqd_dispatch_latency_seconds_bucket{le="1e-06"} 1
irqd_dispatch_latency_seconds_bucket{le="1e-05"} 3
irqd_dispatch_latency_seconds_bucket{le="+Inf"} 6
irqd_dispatch_latency_seconds_sum 0.0015
irqd_dispatch_latency_seconds_count 6
# HELP irqd_dropped_total Interrupts dropped, by device and reason (queue_full: hand-off queue full with when_full=drop; after_drain: signalled after the unbind drain).
# TYPE irqd_dropped_total counter
irqd_dropped_total{device="nic0",reason="after_drain"} 0
irqd_dropped_total{device="nic0",reason="queue_full"} 3
irqd_dropped_total{device="nic1",reason="after_drain"} 0
irqd_dropped_total{device="nic1",reason="queue_full"} 0
# HELP irqd_vectors MSI-X vectors a device holds now, by ownership (managed: freed by unbind; explicit: freed by the driver).
# TYPE irqd_vectors gauge
irqd_vectors{device="nic0",ownership="explicit"} 1
irqd_vectors{device="nic0",ownership="managed"} 2
irqd_vectors{device="nic1",ownership="explicit"} 0
irqd_vectors{device="nic1",ownership="managed"} 1
# HELP irqd_unbinds_total Device unbind sequences completed, whatever triggered them.
# TYPE irqd_unbinds_total counter
irqd_unbinds_total 2
# HELP irqd_leaked_vectors_total Explicit vectors a driver still held when its device was released (freed then by irqd), by driver.
# TYPE irqd_leaked_vectors_total counter
irqd_leaked_vectors_total{driver="leaky"} 4
# HELP irqd_build_info irqd's version and build type; always 1.
# TYPE irqd_build_info gauge
irqd_build_info{version="0.1.0",build_type="Debug"} 1
)";

TEST(MetricsFormat, SmallSnapshotExactText) { EXPECT_EQ(format_prometheus(small_snapshot(), true), kSmallText); }

TEST(MetricsFormat, EmptySnapshotStillDescribesEveryMetric) {
  MetricsSnapshot s;
  s.build = {"0.1.0", "Release"};
  const std::string text = format_prometheus(s, true);
  for (const char* name :
       {"irqd_interrupts_total", "irqd_cpu_interrupts_total", "irqd_dispatch_latency_seconds", "irqd_dropped_total",
        "irqd_vectors", "irqd_unbinds_total", "irqd_leaked_vectors_total", "irqd_build_info"}) {
    EXPECT_THAT(text, HasSubstr(std::string("# HELP ") + name + " ")) << name;
    EXPECT_THAT(text, HasSubstr(std::string("# TYPE ") + name + " ")) << name;
  }
  // The default histogram: every bound of kLatencyBoundsNs at 0.
  EXPECT_THAT(text, HasSubstr("irqd_dispatch_latency_seconds_bucket{le=\"2.5e-06\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("irqd_dispatch_latency_seconds_bucket{le=\"0.001\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("irqd_dispatch_latency_seconds_bucket{le=\"0.25\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("irqd_dispatch_latency_seconds_bucket{le=\"1\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("irqd_dispatch_latency_seconds_bucket{le=\"+Inf\"} 0\n"
                              "irqd_dispatch_latency_seconds_sum 0\n"
                              "irqd_dispatch_latency_seconds_count 0\n"));
  EXPECT_THAT(text, HasSubstr("irqd_unbinds_total 0\n"));
}

TEST(MetricsFormat, EscapesLabelValuesAndHelp) {
  MetricsSnapshot s;
  s.build = {"1.0\"rc\"", "a\\b"};
  DeviceMetrics d;
  d.name = "we\"ird\\na\nme";
  d.interrupts = {{3, 1}};
  s.devices = {d};
  s.leaked_vectors = {{"/opt/x\\y\"z\n.so", 2}};
  const std::string text = format_prometheus(s, true);
  EXPECT_THAT(text, HasSubstr("irqd_interrupts_total{device=\"we\\\"ird\\\\na\\nme\",vector=\"3\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("irqd_leaked_vectors_total{driver=\"/opt/x\\\\y\\\"z\\n.so\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("irqd_build_info{version=\"1.0\\\"rc\\\"\",build_type=\"a\\\\b\"} 1\n"));
  // No raw newline inside any sample line: every line is a comment or
  // name{labels} value.
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("#")) continue;
    EXPECT_TRUE(line.starts_with("irqd_")) << line;
  }
}

TEST(MetricsFormat, PerVectorOffSumsEachDevice) {
  MetricsSnapshot s = small_snapshot();
  DeviceMetrics gone;  // an unbound device with nothing counted yet
  gone.name = "gone";
  s.devices.push_back(gone);
  const std::string text = format_prometheus(s, false);
  EXPECT_THAT(text, HasSubstr("# TYPE irqd_interrupts_total counter\n"
                              "irqd_interrupts_total{device=\"gone\"} 0\n"
                              "irqd_interrupts_total{device=\"nic0\"} 18\n"
                              "irqd_interrupts_total{device=\"nic1\"} 5\n"
                              "# HELP irqd_cpu_interrupts_total"));
  EXPECT_EQ(text.find("vector=\""), std::string::npos);
  // Everything else is the same as with per-vector labels.
  std::string with = format_prometheus(s, true);
  EXPECT_EQ(text.substr(text.find("# HELP irqd_cpu_interrupts_total")),
            with.substr(with.find("# HELP irqd_cpu_interrupts_total")));
}

TEST(MetricsFormat, DropReasonsBeyondTheKnownOnesAreKept) {
  MetricsSnapshot s;
  DeviceMetrics d;
  d.name = "d";
  d.dropped = {{"zzz_new", 5}, {"after_drain", 1}};
  s.devices = {d};
  EXPECT_THAT(format_prometheus(s, true), HasSubstr("irqd_dropped_total{device=\"d\",reason=\"after_drain\"} 1\n"
                                                    "irqd_dropped_total{device=\"d\",reason=\"queue_full\"} 0\n"
                                                    "irqd_dropped_total{device=\"d\",reason=\"zzz_new\"} 5\n"));
}

TEST(MetricsFormat, FloatsInGoNotation) {
  // Prometheus' own clients write floats as Go's FormatFloat(v, 'g', -1):
  // scientific below 1e-4 and from 1e6 on, shortest digits either way.
  const std::vector<std::pair<double, std::string>> cases = {
      {0, "0"}, {0.0015, "0.0015"},     {0.0001, "0.0001"}, {0.00001, "1e-05"}, {2.5e-06, "2.5e-06"},
      {1, "1"}, {123456.5, "123456.5"}, {1.5e6, "1.5e+06"}, {1e21, "1e+21"},    {0.1 + 0.2, "0.30000000000000004"}};
  for (const auto& [v, want] : cases) {
    MetricsSnapshot s;
    s.dispatch_latency.sum_seconds = v;
    EXPECT_THAT(format_prometheus(s, true), HasSubstr("\nirqd_dispatch_latency_seconds_sum " + want + "\n")) << want;
  }
}

// ---------------------------------------------------------------------------
// Histogram

// The samples of one histogram in the text: le -> cumulative count, plus
// _sum and _count.
struct ParsedHistogram {
  std::vector<std::pair<std::string, std::uint64_t>> buckets;
  std::string sum;
  std::uint64_t count = 0;
};

ParsedHistogram parse_latency(const std::string& text) {
  ParsedHistogram h;
  std::istringstream lines(text);
  const std::string bucket = "irqd_dispatch_latency_seconds_bucket{le=\"";
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(bucket)) {
      const std::size_t quote = line.find('"', bucket.size());
      h.buckets.emplace_back(line.substr(bucket.size(), quote - bucket.size()),
                             std::stoull(line.substr(line.rfind(' ') + 1)));
    } else if (line.starts_with("irqd_dispatch_latency_seconds_sum ")) {
      h.sum = line.substr(line.rfind(' ') + 1);
    } else if (line.starts_with("irqd_dispatch_latency_seconds_count ")) {
      h.count = std::stoull(line.substr(line.rfind(' ') + 1));
    }
  }
  return h;
}

TEST(MetricsHistogram, FromLatencyHistogramExactBuckets) {
  LatencyHistogram lh;
  lh.record(200);             // exact range: le 1us
  lh.record(1'000);           // bucket [1000, 1003]: counted under the next bound, 2.5us
  lh.record(3'000);           // bucket [2992, 3007]: 5us
  lh.record(20'000'000'000);  // clamped to 10 s: above every bound
  MetricsSnapshot s;
  s.dispatch_latency = latency_histogram(lh);
  const ParsedHistogram h = parse_latency(format_prometheus(s, true));
  ASSERT_EQ(h.buckets.size(), kLatencyBoundsNs.size() + 1);
  const std::vector<std::pair<std::string, std::uint64_t>> want = {
      {"1e-06", 1},   {"2.5e-06", 2}, {"5e-06", 3}, {"1e-05", 3},  {"2.5e-05", 3}, {"5e-05", 3}, {"0.0001", 3},
      {"0.00025", 3}, {"0.0005", 3},  {"0.001", 3}, {"0.0025", 3}, {"0.005", 3},   {"0.01", 3},  {"0.025", 3},
      {"0.05", 3},    {"0.1", 3},     {"0.25", 3},  {"0.5", 3},    {"1", 3},       {"+Inf", 4}};
  EXPECT_EQ(h.buckets, want);
  EXPECT_EQ(h.count, 4U);
  // The histogram's exact sum (the clamped sample counts as 10 s).
  EXPECT_EQ(h.sum, "10.0000042");
}

TEST(MetricsHistogram, BucketHighestValueIsCappedAtTheExactMax) {
  LatencyHistogram lh;
  lh.record(1'000);  // its bucket reaches 1003, but the max is 1000: le 1us
  const HistogramData d = latency_histogram(lh);
  EXPECT_EQ(d.counts[0], 1U);
  EXPECT_EQ(d.count(), 1U);
}

TEST(MetricsHistogram, CumulativeBucketsBracketTheTrueCounts) {
  LatencyHistogram lh;
  std::vector<std::uint64_t> values;
  for (std::uint64_t v = 0; v < 3'000'000; v = v * 21 / 20 + 7) values.push_back(v);
  for (std::uint64_t v : values) lh.record(v);
  MetricsSnapshot s;
  s.dispatch_latency = latency_histogram(lh);
  const ParsedHistogram h = parse_latency(format_prometheus(s, true));
  ASSERT_EQ(h.buckets.size(), kLatencyBoundsNs.size() + 1);
  EXPECT_EQ(h.buckets.back().first, "+Inf");
  EXPECT_EQ(h.buckets.back().second, h.count);
  EXPECT_EQ(h.count, values.size());
  for (std::size_t i = 0; i < kLatencyBoundsNs.size(); ++i) {
    const std::uint64_t bound = kLatencyBoundsNs[i];
    // Buckets err late by under 1/128: everything at or below
    // bound * 128/129 is in, nothing above the bound is.
    std::uint64_t surely_in = 0;
    std::uint64_t at_most = 0;
    for (std::uint64_t v : values) {
      surely_in += v * 129 <= bound * 128 ? 1 : 0;
      at_most += v <= bound ? 1 : 0;
    }
    EXPECT_GE(h.buckets[i].second, surely_in) << bound;
    EXPECT_LE(h.buckets[i].second, at_most) << bound;
    if (i > 0) {
      EXPECT_GE(h.buckets[i].second, h.buckets[i - 1].second) << bound;
    }
  }
}

TEST(MetricsHistogram, FromCountsFoldsExtrasIntoInf) {
  const std::vector<std::uint64_t> bounds = {10, 20};
  const std::vector<std::uint64_t> counts = {1, 2, 3, 4};  // one more than bounds + 1
  const HistogramData d = latency_histogram(bounds, counts, 0);
  EXPECT_EQ(d.counts, (std::vector<std::uint64_t>{1, 2, 7}));
  const std::vector<std::uint64_t> few = {5};
  EXPECT_EQ(latency_histogram(bounds, few, 0).counts, (std::vector<std::uint64_t>{5, 0, 0}));
}

TEST(MetricsHistogram, MergeAddsSameBucketsAndRefusesOthers) {
  HistogramData a;
  a.counts[0] = 1;
  a.counts.back() = 2;
  a.sum_seconds = 0.5;
  HistogramData b;
  b.counts[0] = 10;
  b.sum_seconds = 0.25;
  ASSERT_TRUE(a.merge(b).ok());
  EXPECT_EQ(a.counts[0], 11U);
  EXPECT_EQ(a.counts.back(), 2U);
  EXPECT_EQ(a.count(), 13U);
  EXPECT_EQ(a.sum_seconds, 0.75);

  const std::vector<std::uint64_t> bounds = {10};
  const std::vector<std::uint64_t> counts = {1, 1};
  const Status bad = a.merge(latency_histogram(bounds, counts, 0));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("[10] ns"));
  EXPECT_EQ(a.count(), 13U);
}

TEST(MetricsBuild, ThisBuildIsTheDaemons) {
  const MetricsBuildInfo b = this_build();
  EXPECT_EQ(b.version, IRQD_VERSION);
  EXPECT_EQ(b.build_type, IRQD_BUILD_TYPE);
}

// ---------------------------------------------------------------------------
// The server, scraped with a real HTTP client

MetricsSnapshot counting_snapshot(std::uint64_t n) {
  MetricsSnapshot s;
  s.build = {"0.1.0", "Debug"};
  DeviceMetrics d;
  d.name = "soft0";
  d.interrupts = {{0, n}, {1, 2 * n}};
  s.devices = {d};
  s.cpu_interrupts = {{0, 3 * n}};
  return s;
}

TEST(MetricsServer, ServesTheTextAndSeesUpdatedCounters) {
  std::atomic<std::uint64_t> n{5};
  std::atomic<int> calls{0};
  auto server = MetricsServer::start("127.0.0.1", 0, "/metrics", [&] {
    ++calls;
    return counting_snapshot(n.load());
  });
  ASSERT_TRUE(server.ok()) << server.error().message;
  const unsigned port = (*server)->port();
  ASSERT_NE(port, 0U);
  EXPECT_EQ((*server)->endpoint(), "127.0.0.1:" + std::to_string(port));

  httplib::Client cli("127.0.0.1", static_cast<int>(port));
  auto first = cli.Get("/metrics");
  ASSERT_TRUE(first) << httplib::to_string(first.error());
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(first->body, format_prometheus(counting_snapshot(5), true));
  EXPECT_THAT(first->body, HasSubstr("irqd_interrupts_total{device=\"soft0\",vector=\"1\"} 10\n"));

  n = 7;
  auto second = cli.Get("/metrics");
  ASSERT_TRUE(second) << httplib::to_string(second.error());
  EXPECT_EQ(second->status, 200);
  EXPECT_THAT(second->body, HasSubstr("irqd_interrupts_total{device=\"soft0\",vector=\"1\"} 14\n"));
  EXPECT_THAT(second->body, HasSubstr("irqd_cpu_interrupts_total{cpu=\"0\"} 21\n"));
  EXPECT_EQ(calls.load(), 2);

  // A query string (Prometheus may add one) is the same path.
  auto query = cli.Get("/metrics?name[]=irqd_vectors");
  ASSERT_TRUE(query);
  EXPECT_EQ(query->status, 200);

  auto head = cli.Head("/metrics");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->body, "");

  (*server)->stop();
  (*server)->stop();  // idempotent
  httplib::Client late("127.0.0.1", static_cast<int>(port));
  EXPECT_FALSE(late.Get("/metrics"));
}

TEST(MetricsServer, PerVectorOffIsServedAggregated) {
  auto server = MetricsServer::start(
      "127.0.0.1", 0, "/m", [] { return counting_snapshot(4); }, false);
  ASSERT_TRUE(server.ok()) << server.error().message;
  httplib::Client cli("127.0.0.1", static_cast<int>((*server)->port()));
  auto res = cli.Get("/m");
  ASSERT_TRUE(res);
  EXPECT_THAT(res->body, HasSubstr("irqd_interrupts_total{device=\"soft0\"} 12\n"));
}

TEST(MetricsServer, OtherPathsAre404OtherMethods405) {
  int calls = 0;
  auto server = MetricsServer::start("127.0.0.1", 0, "/metrics", [&] {
    ++calls;
    return MetricsSnapshot{};
  });
  ASSERT_TRUE(server.ok()) << server.error().message;
  httplib::Client cli("127.0.0.1", static_cast<int>((*server)->port()));
  for (const char* path : {"/", "/metricsx", "/metrics/", "/METRICS", "/other"}) {
    auto res = cli.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 404) << path;
  }
  auto post = cli.Post("/metrics", "x=1", "application/x-www-form-urlencoded");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(post->get_header_value("Allow"), "GET, HEAD");
  auto del = cli.Delete("/metrics");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 405);
  auto post_elsewhere = cli.Post("/nope", "", "text/plain");
  ASSERT_TRUE(post_elsewhere);
  EXPECT_EQ(post_elsewhere->status, 404);
  EXPECT_EQ(calls, 0);  // no snapshot for a request that is refused
}

TEST(MetricsServer, PortInUseIsOneLineNamingAddressAndPort) {
  auto first = MetricsServer::start("127.0.0.1", 0, "/metrics", [] { return MetricsSnapshot{}; });
  ASSERT_TRUE(first.ok()) << first.error().message;
  const unsigned port = (*first)->port();
  auto second = MetricsServer::start("127.0.0.1", port, "/metrics", [] { return MetricsSnapshot{}; });
  ASSERT_FALSE(second.ok());
  const std::string& msg = second.error().message;
  EXPECT_THAT(msg, HasSubstr("127.0.0.1:" + std::to_string(port)));
  EXPECT_THAT(msg, HasSubstr("Address already in use"));
  EXPECT_EQ(msg.find('\n'), std::string::npos);
  // The first one still serves.
  httplib::Client cli("127.0.0.1", static_cast<int>(port));
  auto res = cli.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST(MetricsServer, PortHeldByAnotherListenerFails) {
  UniqueFd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(sock.valid());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(sock.get(), 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const unsigned port = ntohs(addr.sin_port);
  auto server = MetricsServer::start("127.0.0.1", port, "/metrics", [] { return MetricsSnapshot{}; });
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(server.error().message, HasSubstr("127.0.0.1:" + std::to_string(port) + ": Address already in use"));
}

TEST(MetricsServer, BadInputIsOneLineNamingIt) {
  auto snap = [] { return MetricsSnapshot{}; };
  auto bad_address = MetricsServer::start("999.1.1.1", 9477, "/metrics", snap);
  ASSERT_FALSE(bad_address.ok());
  EXPECT_THAT(bad_address.error().message, HasSubstr("999.1.1.1:9477"));
  EXPECT_THAT(bad_address.error().message, HasSubstr("bad address"));

  auto name = MetricsServer::start("localhost", 9477, "/metrics", snap);  // IP addresses only: no lookup at start
  ASSERT_FALSE(name.ok());
  EXPECT_THAT(name.error().message, HasSubstr("localhost:9477: bad address"));

  auto not_local = MetricsServer::start("192.0.2.1", 0, "/metrics", snap);  // TEST-NET-1: on no interface here
  ASSERT_FALSE(not_local.ok());
  EXPECT_THAT(not_local.error().message, HasSubstr("192.0.2.1:0: Cannot assign requested address"));

  auto big_port = MetricsServer::start("127.0.0.1", 70000, "/metrics", snap);
  ASSERT_FALSE(big_port.ok());
  EXPECT_THAT(big_port.error().message, HasSubstr("127.0.0.1:70000"));
  EXPECT_THAT(big_port.error().message, HasSubstr("0..65535"));

  auto bad_path = MetricsServer::start("127.0.0.1", 0, "metrics", snap);
  ASSERT_FALSE(bad_path.ok());
  EXPECT_THAT(bad_path.error().message, HasSubstr("\"metrics\" must start with '/'"));

  for (const auto* r : {&bad_address, &name, &not_local, &big_port, &bad_path})
    EXPECT_EQ(r->error().message.find('\n'), std::string::npos);
}

TEST(MetricsServer, ServesOnIpv6Loopback) {
  auto server = MetricsServer::start("::1", 0, "/metrics", [] { return counting_snapshot(1); });
  if (!server.ok()) GTEST_SKIP() << "no IPv6 loopback here: " << server.error().message;
  EXPECT_EQ((*server)->endpoint(), "[::1]:" + std::to_string((*server)->port()));
  httplib::Client cli("::1", static_cast<int>((*server)->port()));
  auto res = cli.Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
}

std::set<std::string> task_ids() {
  std::set<std::string> ids;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task", ec)) ids.insert(e.path().filename());
  return ids;
}

// SigBlk of one thread, from /proc.
std::uint64_t blocked_mask(const std::string& tid) {
  std::ifstream status("/proc/self/task/" + tid + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("SigBlk:")) return std::stoull(line.substr(7), nullptr, 16);
  }
  return 0;
}

bool has(std::uint64_t mask, int sig) { return ((mask >> (sig - 1)) & 1U) != 0; }

TEST(MetricsServer, ThreadsBlockAsyncSignalsAndTheCallersMaskIsKept) {
  sigset_t before;
  ASSERT_EQ(pthread_sigmask(SIG_SETMASK, nullptr, &before), 0);
  const std::set<std::string> old_tasks = task_ids();

  auto server = MetricsServer::start("127.0.0.1", 0, "/metrics", [] { return MetricsSnapshot{}; });
  ASSERT_TRUE(server.ok()) << server.error().message;
  httplib::Client cli("127.0.0.1", static_cast<int>((*server)->port()));
  ASSERT_TRUE(cli.Get("/metrics"));  // the connection pool exists by now

  unsigned checked = 0;
  for (const std::string& tid : task_ids()) {
    if (old_tasks.contains(tid)) continue;
    // glibc blocks every signal while a thread starts and while it exits:
    // wait out that moment (a thread gone meanwhile reads as an empty mask).
    std::uint64_t mask = blocked_mask(tid);
    for (int i = 0; i < 2000 && has(mask, SIGSEGV); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      mask = blocked_mask(tid);
    }
    if (mask == 0 && !task_ids().contains(tid)) continue;
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGUSR1}) EXPECT_TRUE(has(mask, sig)) << tid << " " << sig;
    EXPECT_FALSE(has(mask, SIGSEGV)) << tid;
    ++checked;
  }
  EXPECT_GE(checked, 2U);  // the listener and at least one connection thread

  sigset_t after;
  ASSERT_EQ(pthread_sigmask(SIG_SETMASK, nullptr, &after), 0);
  for (int sig = 1; sig < NSIG; ++sig) EXPECT_EQ(sigismember(&before, sig), sigismember(&after, sig)) << sig;
}

}  // namespace
}  // namespace irqd
