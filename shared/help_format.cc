#include "shared/help_format.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <sstream>

namespace drover {
namespace {

class Wrapping : public CLI::Formatter {
 public:
  // Descriptions start at the column width (format_help indents each line
  // after a '\n' to it).
  std::string make_option_desc(const CLI::Option* opt) const override {
    return WrapText(CLI::Formatter::make_option_desc(opt), DescriptionWidth());
  }
  std::string make_subcommand(const CLI::App* sub) const override {
    std::stringstream out;
    CLI::detail::format_help(out, sub->get_display_name(true),
                             WrapText(sub->get_description(), DescriptionWidth()),
                             get_column_width());
    return out.str();
  }
  std::string make_description(const CLI::App* app) const override {
    return WrapText(CLI::Formatter::make_description(app), kHelpColumns);
  }
  std::string make_footer(const CLI::App* app) const override {
    return WrapText(CLI::Formatter::make_footer(app), kHelpColumns);
  }

 private:
  size_t DescriptionWidth() const {
    return kHelpColumns > get_column_width() + 20 ? kHelpColumns - get_column_width() : 20;
  }
};

}  // namespace

std::string WrapText(std::string_view text, size_t width) {
  std::string out;
  for (size_t start = 0; start <= text.size();) {
    const size_t newline = std::min(text.find('\n', start), text.size());
    std::string_view line = text.substr(start, newline - start);
    // A line's own indent is kept, and repeated on the lines it wraps to.
    const size_t indent = std::min(line.find_first_not_of(' '), line.size());
    line.remove_prefix(indent);
    size_t column = 0;
    for (size_t i = 0; i < line.size();) {
      if (line[i] == ' ') {
        ++i;
        continue;
      }
      const size_t end = std::min(line.find(' ', i), line.size());
      const std::string_view word = line.substr(i, end - i);
      if (column > indent && column + 1 + word.size() > width) {
        out += '\n';
        column = 0;
      }
      if (column == 0) {
        out.append(indent, ' ');
        column = indent;
      } else {
        out += ' ';
        ++column;
      }
      out += word;
      column += word.size();
      i = end;
    }
    if (newline == text.size()) break;
    out += '\n';
    start = newline + 1;
  }
  return out;
}

std::shared_ptr<CLI::FormatterBase> WrappingFormatter() { return std::make_shared<Wrapping>(); }

}  // namespace drover
