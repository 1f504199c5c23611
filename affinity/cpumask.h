// SPDX-License-Identifier: GPL-2.0-only
//
// CpuMask: a fixed-width bitmap of CPU ids, with the operations the kernel's
// cpumask API offers under the same names (first, next, weight, and, or,
// andnot, test_and_clear). The planners are written against these so that
// they read like the kernel code they mirror.
//
// Width is nr_cpu_ids (the largest possible CPU id + 1); the "not found"
// answer of first()/next() is size(), like the kernel's nr_cpu_ids.

#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace irqd {

class CpuMask {
 public:
  CpuMask() = default;
  explicit CpuMask(unsigned nbits);

  unsigned size() const { return nbits_; }

  void set_cpu(unsigned cpu);
  void clear_cpu(unsigned cpu);
  bool test_cpu(unsigned cpu) const;
  // Clears the bit and says whether it was set (cpumask_test_and_clear_cpu).
  bool test_and_clear_cpu(unsigned cpu);
  void set_all();  // every bit below size()
  void clear_all();

  // Lowest set bit, or size() when empty (cpumask_first).
  unsigned first() const;
  // Lowest set bit above n, or size() (cpumask_next(n)); n == -1 means first.
  unsigned next(int n) const;
  unsigned weight() const;
  bool empty() const;
  bool intersects(const CpuMask& other) const;
  bool is_subset_of(const CpuMask& other) const;

  // this = a & b, this |= o, this = a & ~b (cpumask_and/or/andnot).
  void assign_and(const CpuMask& a, const CpuMask& b);
  void or_with(const CpuMask& other);
  void assign_andnot(const CpuMask& a, const CpuMask& b);

  std::vector<unsigned> to_vector() const;
  // "0-3,8-11", the kernel's cpulist format ("" when empty).
  std::string to_list() const;

  friend bool operator==(const CpuMask& a, const CpuMask& b) = default;

  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (unsigned cpu = first(); cpu < nbits_; cpu = next(static_cast<int>(cpu))) fn(cpu);
  }

 private:
  static constexpr unsigned kBitsPerWord = 64;
  unsigned nbits_ = 0;
  std::vector<std::uint64_t> words_;
};

// Builds a mask of width nbits from CPU ids (each must be < nbits).
CpuMask cpumask_of(unsigned nbits, const std::vector<unsigned>& cpus);

}  // namespace irqd
