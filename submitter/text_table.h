// Columns of text lined up for a terminal, as the query commands print
// them: every column as wide as its widest cell, two spaces between, and
// when that is wider than the terminal, the columns allowed to give way
// (names, owners) cut to fit, each cut cell ending in "..".
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace drover::submit {

class TextTable {
 public:
  // `headers`: one per column. `shrinkable`: which columns may be cut (by
  // index), tried in that order, none below `min_width`.
  TextTable(std::vector<std::string> headers, std::vector<size_t> shrinkable = {},
            size_t min_width = 6);
  // REQUIRES: as many cells as headers.
  void Add(std::vector<std::string> row);
  size_t rows() const { return rows_.size() - 1; }
  // The header and rows, at most `columns` wide where cutting allows.
  std::vector<std::string> Lines(size_t columns = 80) const;

 private:
  std::vector<std::vector<std::string>> rows_;  // the header first
  std::vector<size_t> shrinkable_;
  size_t min_width_;
};

}  // namespace drover::submit
