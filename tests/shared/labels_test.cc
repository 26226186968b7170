// shared/labels.h: the grammar of labels, for workers and job files alike.

#include "shared/labels.h"

#include <doctest/doctest.h>

namespace drover {
namespace {

TEST_CASE("a label is letters, digits and _ . : = + -") {
  for (const char* good : {"gpu", "x86_64", "zone=a", "cuda:12.2", "c++", "-", "A.b-C"}) {
    CAPTURE(good);
    CHECK(IsLabel(good));
  }
  for (const char* bad : {"", "two words", "a,b", "tab\there", "$HOME", "a;b", "é", "x/y", "`"}) {
    CAPTURE(bad);
    CHECK_FALSE(IsLabel(bad));
  }
}

}  // namespace
}  // namespace drover
