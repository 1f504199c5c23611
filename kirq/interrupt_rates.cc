// SPDX-License-Identifier: GPL-2.0-only

#include "kirq/interrupt_rates.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <limits>
#include <map>
#include <tuple>

namespace irqd {
namespace {

// The CPU that took the most of deltas (the lowest on a tie); -1 when none
// took any.
int busiest_cpu(const std::vector<std::pair<int, std::uint64_t>>& deltas) {
  int cpu = -1;
  std::uint64_t most = 0;
  for (const auto& [c, d] : deltas)
    if (d > most) std::tie(cpu, most) = std::tie(c, d);
  return cpu;
}

bool same_columns(const TopEntry& a, const TopEntry& b) {
  return std::equal(a.per_cpu.begin(), a.per_cpu.end(), b.per_cpu.begin(), b.per_cpu.end(),
                    [](const auto& x, const auto& y) { return x.first == y.first; });
}

std::uint64_t counter_delta(std::uint64_t before, std::uint64_t after) {
  return after >= before ? after - before : after;
}

// The interval's interrupts per CPU: per column when both samples have the
// same columns, else all of them on the CPU the counter is on now.
std::vector<std::pair<int, std::uint64_t>> cpu_deltas(const TopEntry& before, const TopEntry& after) {
  std::vector<std::pair<int, std::uint64_t>> deltas;
  if (same_columns(before, after)) {
    for (std::size_t i = 0; i < after.per_cpu.size(); ++i)
      deltas.emplace_back(after.per_cpu[i].first, counter_delta(before.per_cpu[i].second, after.per_cpu[i].second));
    return deltas;
  }
  int cpu = after.per_cpu.size() == 1 ? after.per_cpu[0].first : busiest_cpu(after.per_cpu);
  deltas.emplace_back(cpu, counter_delta(before.total(), after.total()));
  return deltas;
}

TopCpu& cpu_slot(std::vector<TopCpu>& cpus, int cpu) {
  auto it = std::lower_bound(cpus.begin(), cpus.end(), cpu, [](const TopCpu& c, int id) { return c.cpu < id; });
  if (it == cpus.end() || it->cpu != cpu) it = cpus.insert(it, TopCpu{cpu, 0, 0});
  return *it;
}

// name order: source, device, vector.
bool by_name(const TopRow& a, const TopRow& b) {
  return std::tie(a.source, a.device, a.vector) < std::tie(b.source, b.device, b.vector);
}

double rate_or_lowest(const TopRow& r) { return r.rate.value_or(-1.0); }

}  // namespace

std::uint64_t monotonic_now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000U + static_cast<std::uint64_t>(ts.tv_nsec);
}

std::uint64_t TopEntry::total() const {
  std::uint64_t sum = 0;
  for (const auto& [cpu, count] : per_cpu) sum += count;
  return sum;
}

TopSample top_sample_from_proc(const kirq::ProcInterrupts& proc, std::uint64_t time_ns) {
  TopSample sample;
  sample.time_ns = time_ns;
  for (const kirq::InterruptLine& line : proc.lines) {
    TopEntry e;
    e.source = "kernel";
    e.device = line.chip.empty() ? "-" : line.chip;
    e.vector = line.irq;
    e.name = line.name;
    for (std::size_t i = 0; i < line.counts.size() && i < proc.cpus.size(); ++i)
      e.per_cpu.emplace_back(static_cast<int>(proc.cpus[i]), line.counts[i]);
    sample.entries.push_back(std::move(e));
  }
  return sample;
}

void add_top_rates(TopView& view, const TopSample& before, const TopSample& after) {
  const std::uint64_t dt = after.time_ns > before.time_ns ? after.time_ns - before.time_ns : 0;
  const double seconds = static_cast<double>(dt) / 1e9;
  view.interval_s = std::max(view.interval_s, seconds);
  std::map<std::tuple<std::string, std::string, unsigned>, const TopEntry*> earlier;
  for (const TopEntry& e : before.entries) earlier[{e.source, e.device, e.vector}] = &e;
  for (const TopEntry& e : after.entries) {
    TopRow row{e.source, e.device, e.vector, e.name, -1, std::nullopt, e.total()};
    for (const auto& [cpu, count] : e.per_cpu)
      if (cpu >= 0) cpu_slot(view.cpus, cpu).total += count;
    if (e.per_cpu.size() == 1) row.cpu = e.per_cpu[0].first;
    auto it = earlier.find({e.source, e.device, e.vector});
    if (it != earlier.end()) {
      std::vector<std::pair<int, std::uint64_t>> deltas = cpu_deltas(*it->second, e);
      std::uint64_t sum = 0;
      for (const auto& [cpu, d] : deltas) {
        sum += d;
        if (cpu >= 0 && dt > 0) cpu_slot(view.cpus, cpu).rate += static_cast<double>(d) / seconds;
      }
      row.rate = dt > 0 ? static_cast<double>(sum) / seconds : 0.0;
      if (e.per_cpu.size() != 1) row.cpu = busiest_cpu(deltas);
    }
    view.rows.push_back(std::move(row));
  }
}

void sort_top_rows(std::vector<TopRow>& rows, TopSort sort) {
  auto cmp = [sort](const TopRow& a, const TopRow& b) {
    switch (sort) {
      case TopSort::kRate:
        if (rate_or_lowest(a) != rate_or_lowest(b)) return rate_or_lowest(a) > rate_or_lowest(b);
        break;
      case TopSort::kTotal:
        if (a.total != b.total) return a.total > b.total;
        break;
      case TopSort::kCpu: {
        // No CPU after every CPU, then the busiest first.
        auto key = [](const TopRow& r) { return r.cpu < 0 ? std::numeric_limits<long>::max() : long{r.cpu}; };
        if (key(a) != key(b)) return key(a) < key(b);
        if (rate_or_lowest(a) != rate_or_lowest(b)) return rate_or_lowest(a) > rate_or_lowest(b);
        break;
      }
      case TopSort::kName: break;
    }
    return by_name(a, b);
  };
  std::stable_sort(rows.begin(), rows.end(), cmp);
}

std::string_view top_sort_name(TopSort sort) {
  switch (sort) {
    case TopSort::kRate: return "rate";
    case TopSort::kTotal: return "total";
    case TopSort::kName: return "name";
    case TopSort::kCpu: return "cpu";
  }
  return "rate";
}

Result<TopSample> sample_proc_interrupts(const kirq::KernelRoots& roots) {
  auto text = kirq::read_text_file(roots.proc + "/interrupts");
  std::uint64_t now = monotonic_now_ns();
  if (!text) return text.error();
  auto proc = kirq::parse_proc_interrupts(*text);
  if (!proc) return Error{fmt::format("{}/interrupts: {}", roots.proc, proc.error().message)};
  return top_sample_from_proc(*proc, now);
}

}  // namespace irqd
