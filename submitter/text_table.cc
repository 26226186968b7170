#include "submitter/text_table.h"

#include <algorithm>

namespace drover::submit {

TextTable::TextTable(std::vector<std::string> headers, std::vector<size_t> shrinkable,
                     size_t min_width)
    : shrinkable_(std::move(shrinkable)), min_width_(min_width) {
  rows_.push_back(std::move(headers));
}

void TextTable::Add(std::vector<std::string> row) {
  row.resize(rows_[0].size());
  rows_.push_back(std::move(row));
}

std::vector<std::string> TextTable::Lines(size_t columns) const {
  const size_t n = rows_[0].size();
  std::vector<size_t> width(n, 0);
  for (const auto& row : rows_) {
    for (size_t c = 0; c < n; ++c) width[c] = std::max(width[c], row[c].size());
  }
  size_t total = 0;
  for (size_t c = 0; c < n; ++c) total += width[c] + (c + 1 < n ? 2 : 0);
  for (size_t c : shrinkable_) {
    if (total <= columns || c >= n) break;
    const size_t floor = std::max(min_width_, rows_[0][c].size());
    if (width[c] <= floor) continue;
    const size_t cut = std::min(width[c] - floor, total - columns);
    width[c] -= cut;
    total -= cut;
  }
  std::vector<std::string> lines;
  for (const auto& row : rows_) {
    std::string line;
    for (size_t c = 0; c < n; ++c) {
      std::string cell = row[c];
      if (cell.size() > width[c]) cell = cell.substr(0, width[c] - 2) + "..";
      line += cell;
      if (c + 1 < n) line += std::string(width[c] - cell.size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    lines.push_back(std::move(line));
  }
  return lines;
}

}  // namespace drover::submit
