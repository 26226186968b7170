#include "shared/spellcheck.h"

#include <doctest/doctest.h>

namespace drover {

TEST_CASE("EditDistance counts insertions, deletions and replacements") {
  CHECK(EditDistance("build", "build", 3) == 0);
  CHECK(EditDistance("biuld", "build", 3) == 2);
  CHECK(EditDistance("cmdd", "cmd", 3) == 1);
  CHECK(EditDistance("", "abc", 3) == 3);
  CHECK(EditDistance("kitten", "sitting", 3) == 3);
  // Past the bound the answer is just "too far": max_distance + 1.
  CHECK(EditDistance("kitten", "sitting", 2) == 3);
  CHECK(EditDistance("a", "abcdefgh", 3) == 4);
}

TEST_CASE("SpellcheckString suggests only likely typos") {
  const std::vector<std::string_view> words = {"steps", "name", "defaults", "max_parallel"};
  CHECK(SpellcheckString("stpes", words) == "steps");
  CHECK(SpellcheckString("nmae", words) == "name");
  CHECK(SpellcheckString("max-parallel", words) == "max_parallel");
  CHECK_FALSE(SpellcheckString("priority", words).has_value());
  // Not fewer edits than the word is long: no evidence of a typo.
  CHECK_FALSE(SpellcheckString("b", {"a"}).has_value());
  CHECK_FALSE(SpellcheckString("ab", {"cd"}).has_value());
  CHECK(SpellcheckString("ab", {"cd", "ac"}) == "ac");
  // Ties go to the earliest word.
  CHECK(SpellcheckString("bat", {"cat", "hat"}) == "cat");
}

}  // namespace drover
