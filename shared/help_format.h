// CLI11's help, wrapped to fit a terminal: CLI11 prints each description on
// one line however long it is. This formatter word-wraps descriptions (of
// the command, its options and its subcommands) and the footer to
// kHelpColumns, continuation lines indented under the description column.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace CLI {
class FormatterBase;
}

namespace drover {

// The width help is written for: the terminal every user has.
inline constexpr size_t kHelpColumns = 80;

// `text` word-wrapped to lines of at most `width` columns (a longer word
// gets a line of its own); its own line breaks are kept.
std::string WrapText(std::string_view text, size_t width);

// For CLI::App::formatter(). Subcommands added after it is set inherit it.
std::shared_ptr<CLI::FormatterBase> WrappingFormatter();

}  // namespace drover
