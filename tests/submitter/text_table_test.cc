// submitter/text_table.h: columns lined up, and cut to fit a terminal.

#include "submitter/text_table.h"

#include <doctest/doctest.h>

namespace drover::submit {
namespace {

TEST_CASE("columns are as wide as their widest cell, two spaces apart") {
  TextTable t({"ID", "NAME", "STATE"});
  t.Add({"7", "diamond", "running"});
  t.Add({"12", "x", "failed"});
  CHECK(t.Lines() == std::vector<std::string>{"ID  NAME     STATE", "7   diamond  running",
                                              "12  x        failed"});
}

TEST_CASE("a table wider than the terminal cuts the columns that may give way, in order") {
  TextTable t({"ID", "NAME", "OWNER", "STATE"}, {1, 2}, 6);
  t.Add({"1", std::string(70, 'n'), "a-rather-long-owner-name", "succeeded"});
  const std::vector<std::string> lines = t.Lines(80);
  for (const std::string& line : lines) CHECK(line.size() <= 80);
  CHECK(lines[1].find("nnnn..") != std::string::npos);
  // NAME was cut first and was enough: OWNER stays whole.
  CHECK(lines[1].find("a-rather-long-owner-name") != std::string::npos);
  // Not below their floor: the rest is left wider than asked.
  TextTable narrow({"ID", "NAME"}, {1}, 6);
  narrow.Add({"1", "abcdefghij"});
  CHECK(narrow.Lines(5)[1] == "1   abcd..");
}

}  // namespace
}  // namespace drover::submit
