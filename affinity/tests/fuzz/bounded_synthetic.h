// SPDX-License-Identifier: GPL-2.0-only
//
// For the fuzz harnesses that load "synthetic:<hwloc synthetic string>"
// topologies: whether a string asks hwloc for a bounded number of objects.
// hwloc builds every object asked for, so "pack:99999 core:99999" only
// measures hwloc's patience. The product of the arities ("pack:2", or a
// bare "2": every number outside "(attributes)" not glued to a letter)
// must stay within max_objects, and no number (arity, index,
// memory size) may pass max_number. A CPU id taken from an index is not
// bounded beyond that: what irqd does with a large one is under test.

#pragma once

#include <cctype>
#include <cstddef>
#include <string_view>

namespace irqd::fuzz {

inline bool bounded_synthetic(std::string_view s, unsigned long long max_objects,
                              unsigned long long max_number = 1ULL << 30) {
  unsigned long long objects = 1;
  int depth = 0;  // inside "(attributes)"
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (c == '\0') return false;
    if (c == '(') ++depth;
    if (c == ')' && depth > 0) --depth;
    if (c < '0' || c > '9') {
      ++i;
      continue;
    }
    // An arity follows ':' or any separator hwloc skips (not only ' ');
    // a digit after a letter belongs to a type name (l3, L2).
    const bool arity = depth == 0 && (i == 0 || !std::isalpha(static_cast<unsigned char>(s[i - 1])));
    unsigned long long n = 0;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      n = n * 10 + static_cast<unsigned>(s[i] - '0');
      if (n > max_number) return false;
    }
    // hwloc reads numbers with strtoul(base 0): "0x10" is 16 (and "010",
    // read here as 10, is 8: bounded all the same).
    if (n == 0 && i + 1 < s.size() && (s[i] == 'x' || s[i] == 'X') &&
        std::isxdigit(static_cast<unsigned char>(s[i + 1]))) {
      for (++i; i < s.size() && std::isxdigit(static_cast<unsigned char>(s[i])); ++i) {
        const char h = static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
        n = n * 16 + static_cast<unsigned>(h <= '9' ? h - '0' : h - 'a' + 10);
        if (n > max_number) return false;
      }
    }
    if (arity && n > 0) {
      objects *= n;
      if (objects > max_objects) return false;
    }
  }
  return true;
}

}  // namespace irqd::fuzz
