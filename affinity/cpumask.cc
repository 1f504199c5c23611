// SPDX-License-Identifier: GPL-2.0-only

#include "affinity/cpumask.h"

#include <algorithm>
#include <bit>
#include <cassert>

namespace irqd {

CpuMask::CpuMask(unsigned nbits) : nbits_(nbits), words_((nbits + kBitsPerWord - 1) / kBitsPerWord, 0) {}

void CpuMask::set_cpu(unsigned cpu) {
  assert(cpu < nbits_);
  words_[cpu / kBitsPerWord] |= std::uint64_t{1} << (cpu % kBitsPerWord);
}

void CpuMask::clear_cpu(unsigned cpu) {
  assert(cpu < nbits_);
  words_[cpu / kBitsPerWord] &= ~(std::uint64_t{1} << (cpu % kBitsPerWord));
}

bool CpuMask::test_cpu(unsigned cpu) const {
  if (cpu >= nbits_) return false;
  return (words_[cpu / kBitsPerWord] >> (cpu % kBitsPerWord)) & 1U;
}

bool CpuMask::test_and_clear_cpu(unsigned cpu) {
  if (!test_cpu(cpu)) return false;
  clear_cpu(cpu);
  return true;
}

void CpuMask::set_all() {
  for (auto& w : words_) w = ~std::uint64_t{0};
  // Keep the bits past nbits_ clear so weight() and == stay exact.
  if (unsigned tail = nbits_ % kBitsPerWord; tail != 0) words_.back() &= (std::uint64_t{1} << tail) - 1;
}

void CpuMask::clear_all() {
  for (auto& w : words_) w = 0;
}

unsigned CpuMask::first() const { return next(-1); }

unsigned CpuMask::next(int n) const {
  auto start = static_cast<unsigned>(n + 1);
  if (start >= nbits_) return nbits_;
  std::size_t word = start / kBitsPerWord;
  std::uint64_t bits = words_[word] & (~std::uint64_t{0} << (start % kBitsPerWord));
  while (true) {
    if (bits != 0) {
      unsigned cpu = static_cast<unsigned>(word * kBitsPerWord) + static_cast<unsigned>(std::countr_zero(bits));
      return cpu < nbits_ ? cpu : nbits_;
    }
    if (++word == words_.size()) return nbits_;
    bits = words_[word];
  }
}

unsigned CpuMask::weight() const {
  unsigned n = 0;
  for (auto w : words_) n += static_cast<unsigned>(std::popcount(w));
  return n;
}

bool CpuMask::empty() const {
  return std::all_of(words_.begin(), words_.end(), [](std::uint64_t w) { return w == 0; });
}

bool CpuMask::intersects(const CpuMask& other) const {
  assert(nbits_ == other.nbits_);
  for (std::size_t i = 0; i < words_.size(); ++i)
    if ((words_[i] & other.words_[i]) != 0) return true;
  return false;
}

bool CpuMask::is_subset_of(const CpuMask& other) const {
  assert(nbits_ == other.nbits_);
  for (std::size_t i = 0; i < words_.size(); ++i)
    if ((words_[i] & ~other.words_[i]) != 0) return false;
  return true;
}

void CpuMask::assign_and(const CpuMask& a, const CpuMask& b) {
  assert(a.nbits_ == b.nbits_);
  nbits_ = a.nbits_;
  words_.resize(a.words_.size());
  for (std::size_t i = 0; i < words_.size(); ++i) words_[i] = a.words_[i] & b.words_[i];
}

void CpuMask::or_with(const CpuMask& other) {
  assert(nbits_ == other.nbits_);
  for (std::size_t i = 0; i < words_.size(); ++i) words_[i] |= other.words_[i];
}

void CpuMask::assign_andnot(const CpuMask& a, const CpuMask& b) {
  assert(a.nbits_ == b.nbits_);
  nbits_ = a.nbits_;
  words_.resize(a.words_.size());
  for (std::size_t i = 0; i < words_.size(); ++i) words_[i] = a.words_[i] & ~b.words_[i];
}

std::vector<unsigned> CpuMask::to_vector() const {
  std::vector<unsigned> cpus;
  for_each([&](unsigned cpu) { cpus.push_back(cpu); });
  return cpus;
}

std::string CpuMask::to_list() const {
  std::string out;
  unsigned cpu = first();
  while (cpu < nbits_) {
    unsigned last = cpu;
    while (last + 1 < nbits_ && test_cpu(last + 1)) ++last;
    if (!out.empty()) out += ',';
    out += std::to_string(cpu);
    if (last != cpu) out += '-' + std::to_string(last);
    cpu = next(static_cast<int>(last));
  }
  return out;
}

CpuMask cpumask_of(unsigned nbits, const std::vector<unsigned>& cpus) {
  CpuMask mask(nbits);
  for (unsigned cpu : cpus) mask.set_cpu(cpu);
  return mask;
}

}  // namespace irqd
