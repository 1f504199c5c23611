// SPDX-License-Identifier: GPL-2.0-only
//
// Plain-text tables for the subcommands' readable output.

#pragma once

#include <algorithm>
#include <string>
#include <vector>

namespace irqd {

// Rows of cells, every column but the last padded to its widest cell plus
// two blanks; no trailing blanks where a row's last cells are empty.
inline std::string align(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()), 0);
    for (std::size_t c = 0; c < row.size(); c++) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); c++) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(width[c] - row[c].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

}  // namespace irqd
