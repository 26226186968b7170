// shared/help_format.h: help text wrapped to a terminal's width.

#include "shared/help_format.h"

#include <doctest/doctest.h>

#include <CLI/CLI.hpp>
#include <sstream>
#include <string>

namespace drover {
namespace {

TEST_CASE("WrapText wraps at spaces, keeps line breaks and indents") {
  CHECK(WrapText("one two three four", 9) == "one two\nthree\nfour");
  CHECK(WrapText("a\n  b c d", 5) == "a\n  b c\n  d");
  CHECK(WrapText("averyveryverylongword x", 5) == "averyveryverylongword\nx");
  CHECK(WrapText("ends in a line break\n", 80) == "ends in a line break\n");
  CHECK(WrapText("", 10) == "");
}

TEST_CASE("WrappingFormatter: descriptions wrap under their column, within 80") {
  const std::string words =
      "Words enough to need more than one line of a terminal eighty columns wide, and then "
      "some more words so that they need three";
  CLI::App app{words};
  app.formatter(WrappingFormatter());
  std::string value;
  app.add_option("--long", value, words);
  app.add_subcommand("sub", words);
  app.footer(words);
  const std::string help = app.help();
  CAPTURE(help);
  std::istringstream lines(help);
  size_t continued = 0;  // lines that go on a description
  for (std::string line; std::getline(lines, line);) {
    CHECK(line.size() <= kHelpColumns);
    continued += line.starts_with(std::string(30, ' ')) && line[30] != ' ';
  }
  CHECK(continued >= 4);  // two more lines each for --long and sub
}

}  // namespace
}  // namespace drover
