// "Did you mean ...?" hints: the known word closest to a misspelt one.
// Modelled on ninja's SpellcheckString: a hint is offered only when the two
// are close enough that a typo is the likely explanation.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace drover {

// The Levenshtein distance between `a` and `b` (insertions, deletions and
// replacements each cost 1), or `max_distance + 1` as soon as it is known to
// be larger than `max_distance` (at most 15). O(|a| * max_distance).
int EditDistance(std::string_view a, std::string_view b, int max_distance);

// The closest word in `words` to `text`, if it is at most 3 edits away and
// fewer edits than `text` is long (so "a" never suggests "b"). Ties go to the
// earliest word.
// REQUIRES: `text` is not itself one of `words`.
std::optional<std::string_view> SpellcheckString(std::string_view text,
                                                 const std::vector<std::string_view>& words);

}  // namespace drover
